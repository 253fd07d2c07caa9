// Package fake is a scripted runner for testing the engine and the CLI: it
// speaks the runner protocol but computes nothing; the latencies it reports
// are a deterministic function of the cell, and it can be told to hang,
// crash or run out of memory at a given context length. It is a test double,
// never used for measurements.
package fake

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ssmbench/ssmbench/runners/protocol"
)

// Script says when the fake runner misbehaves. Zero values disable a fault.
type Script struct {
	HangAtSeq  int    // never answer the first rep of a cell with seq_len >= this
	CrashAtSeq int    // exit(3) during the first rep of a cell with seq_len >= this
	OOMAtSeq   int    // answer the cell request with an "oom" error at seq_len >= this
	ChildPID   string // when hanging, start `sleep 3600` and write its PID to this file
	Variant    string // apply the faults to this variant only ("" = all)
}

// ParseScript parses "hang=N,crash=N,oom=N,child=PATH,variant=NAME".
func ParseScript(s string) (Script, error) {
	var sc Script
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "hang":
			sc.HangAtSeq, err = strconv.Atoi(v)
		case "crash":
			sc.CrashAtSeq, err = strconv.Atoi(v)
		case "oom":
			sc.OOMAtSeq, err = strconv.Atoi(v)
		case "child":
			sc.ChildPID = v
		case "variant":
			sc.Variant = v
		default:
			return sc, fmt.Errorf("fake runner script: unknown key %q", k)
		}
		if err != nil {
			return sc, fmt.Errorf("fake runner script: %s: %v", k, err)
		}
	}
	return sc, nil
}

type handler struct {
	sc      Script
	variant string
	attn    bool
	cell    *protocol.CellRequest
}

// Serve runs the fake runner on in/out.
func Serve(in io.Reader, out io.Writer, sc Script) error {
	hello := &protocol.Message{
		Runner: &protocol.RunnerInfo{Name: "fake", Version: "test"},
		Device: &protocol.DeviceInfo{Kind: "cpu", Name: "fake device"},
		Capabilities: &protocol.Capabilities{Phases: []string{"prefill", "decode", "generate"},
			Profiles: []string{"reference"}, DTypes: []string{"fp32"}},
	}
	return protocol.Serve(in, out, hello, &handler{sc: sc})
}

func (h *handler) Load(req *protocol.LoadRequest) (map[string]float64, map[string]string, error) {
	h.variant = req.Variant
	h.attn = strings.Contains(req.Variant, "hovle")
	return map[string]float64{"weight_bytes": 1000}, map[string]string{"fake": "true"}, nil
}

func (h *handler) faulty(seq, at int) bool {
	return at > 0 && seq >= at && (h.sc.Variant == "" || h.sc.Variant == h.variant)
}

func (h *handler) Cell(req *protocol.CellRequest) (map[string]float64, map[string]string, error) {
	if h.faulty(req.SeqLen, h.sc.OOMAtSeq) {
		return nil, nil, &protocol.RunnerError{Status: protocol.StatusOOM, Message: fmt.Sprintf("fake: out of memory at seq_len %d", req.SeqLen)}
	}
	h.cell = req
	return map[string]float64{"kv_cache_bytes_analytic": float64(req.SeqLen * 16)}, map[string]string{"cache_fill": "synthetic", "timer": "none"}, nil
}

func (h *handler) Rep(index int, warmup bool) (map[string]float64, error) {
	if h.cell == nil {
		return nil, fmt.Errorf("rep before cell")
	}
	first := index == 0 && warmup
	if first && h.faulty(h.cell.SeqLen, h.sc.HangAtSeq) {
		if h.sc.ChildPID != "" {
			c := exec.Command("sleep", "3600")
			if err := c.Start(); err == nil {
				_ = os.WriteFile(h.sc.ChildPID, []byte(strconv.Itoa(c.Process.Pid)), 0o644)
			}
		}
		for {
			time.Sleep(time.Hour) // hang
		}
	}
	if first && h.faulty(h.cell.SeqLen, h.sc.CrashAtSeq) {
		fmt.Fprintln(os.Stderr, "fake runner: crashing as scripted")
		os.Exit(3)
	}
	// Deterministic "latency": attention grows with context, Mamba is flat;
	// a small index-dependent jitter gives the statistics something to do.
	lat := 1.0 + 0.01*float64(index%3)
	if h.attn {
		lat += float64(h.cell.SeqLen) / 1000
	}
	return map[string]float64{"latency_ms": lat, "heap_peak_bytes": 4096, "fake_metric_count": 1}, nil
}

func (h *handler) End() (map[string]float64, map[string]string, error) {
	h.cell = nil
	return map[string]float64{"state_bytes_analytic": 64}, nil, nil
}

// EnvVar is the environment variable that turns a test binary into the fake
// runner; its value is the Script (see ParseScript).
const EnvVar = "SSMBENCH_FAKE_RUNNER"

// ServeIfRequested serves the fake runner on stdin/stdout and exits when
// EnvVar is set, and returns otherwise. Call it first in a TestMain so the
// test binary can start itself as a runner.
func ServeIfRequested() {
	script, ok := os.LookupEnv(EnvVar)
	if !ok {
		return
	}
	sc, err := ParseScript(script)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := Serve(os.Stdin, os.Stdout, sc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
