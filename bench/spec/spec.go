// Package spec parses and validates ssmbench sweep specs.
//
// A spec is a YAML file that names the runner, the model variants and the
// axes of a measurement grid. It is validated completely before anything
// runs: every problem found is reported, each with the file, line and field
// it concerns. See Example in the package tests and specs/*.yaml in the
// repository for complete specs.
package spec

import (
	"fmt"
	"strings"
	"time"
)

// Runner kinds.
const (
	RunnerCPU     = "cpu"     // the pure-Go reference runner, `ssmbench worker cpu`
	RunnerTorch   = "torch"   // the PyTorch GPU worker under runners/torch
	RunnerCommand = "command" // any program speaking the runner protocol
)

// Spec is a validated sweep spec.
type Spec struct {
	File   string // path it was read from
	Name   string
	Runner Runner
	// Models maps each variant name used in the axes to its config and
	// weights. Variants not listed here are builtin config names with random
	// weights.
	Models      map[string]Model
	Grids       []Axes // the base axes, then each entry of grids: merged over them
	CacheFill   string
	NewTokens   int
	Warmup      Warmup
	Repetitions int
	Timeouts    Timeouts
	Output      string
	Seed        int64
	// Source is the raw YAML, stored in the run manifest.
	Source []byte
}

// Runner says which runner process executes the cells.
type Runner struct {
	Kind    string
	Python  string            // torch: the interpreter; default "python3"
	Command []string          // command: argv
	Env     map[string]string // extra environment
	Options map[string]string // passed to the runner in each load request
	// MaxLive is how many runner processes (one per variant, profile,
	// dtype and memory cap) may be alive at once. With several alive the
	// engine interleaves variants cell by cell; with one, it runs each
	// variant's cells together. Default: all of them for cpu, 1 otherwise.
	MaxLive int
}

// Model is one variant's configuration and weights.
type Model struct {
	Config  string // builtin config name, config.json path or checkpoint directory
	Weights string // "random" or a checkpoint directory
	Seed    int64
}

// Axes are the dimensions of one measurement grid.
type Axes struct {
	Variant   []string
	SeqLen    []int
	Batch     []int
	Phase     []string
	Profile   []string
	DType     []string
	MemoryCap []int64 // bytes; 0 = no cap
	// Repetitions and Warmup, when set in a grid, override the spec's for
	// that grid's cells (e.g. fewer repetitions of a long generate).
	Repetitions int
	Warmup      *Warmup
}

// Warmup is the warm-up policy: at least Min repetitions, then until the
// coefficient of variation of the last Window repetitions is below CV, at
// most Max repetitions.
type Warmup struct {
	Min    int
	Max    int
	Window int
	CV     float64
}

// Timeouts bound each step of talking to a runner.
type Timeouts struct {
	Start time.Duration // process start to hello
	Load  time.Duration // load request
	Cell  time.Duration // cell preparation (e.g. a prefill to fill caches)
	Rep   time.Duration // one repetition
}

// Defaults applied to fields a spec leaves out.
var (
	DefaultWarmup      = Warmup{Min: 2, Max: 20, Window: 5, CV: 0.05}
	DefaultRepetitions = 10
	DefaultTimeouts    = Timeouts{Start: time.Minute, Load: 10 * time.Minute, Cell: 10 * time.Minute, Rep: 2 * time.Minute}
	DefaultOutput      = "results"
	DefaultNewTokens   = 256
)

// Phases, profiles and dtypes a spec may name.
var (
	Phases   = []string{"prefill", "decode", "generate"}
	Profiles = []string{"reference", "paper", "matched"}
	DTypes   = []string{"fp32", "bf16", "fp16"}
	Fills    = []string{"auto", "prefill", "synthetic"}
)

// Error is one validation problem.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in a spec.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// MaxSeqLen returns the longest context any cell of the spec needs for the
// given variant (prompt plus generated tokens).
func (s *Spec) MaxSeqLen(variant string) int {
	n := 0
	for _, g := range s.Grids {
		if !contains(g.Variant, variant) {
			continue
		}
		extra := 0
		if contains(g.Phase, "generate") {
			extra = s.NewTokens
		}
		for _, l := range g.SeqLen {
			n = max(n, l+extra)
		}
	}
	return n
}

// ModelFor returns the model entry of a variant, defaulting to the builtin
// config of that name with random weights.
func (s *Spec) ModelFor(variant string) Model {
	if m, ok := s.Models[variant]; ok {
		return m
	}
	return Model{Config: variant, Weights: "random", Seed: s.Seed}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
