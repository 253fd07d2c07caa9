// Package protocol defines the versioned JSON-lines protocol that the
// ssmbench engine speaks with a runner process, and the codecs for it.
//
// A runner is a child process. It reads requests from its stdin and writes
// replies to its stdout, one JSON object per line. The first line a runner
// writes is a Hello. Every request carries an ID that its reply echoes. The
// full description, with examples, is in PROTOCOL.md in this directory; this
// package is its Go rendering, used by the engine (the client side) and by the
// pure-Go CPU runner (the server side).
package protocol

import (
	"encoding/json"
	"fmt"
)

// Version is the protocol version spoken by this package. A runner whose
// Hello names another version is refused.
const Version = 1

// Message types. Requests go from engine to runner, replies the other way.
const (
	TypeHello    = "hello"    // runner -> engine, first line
	TypeLoad     = "load"     // engine -> runner
	TypeLoaded   = "loaded"   // runner -> engine
	TypeCell     = "cell"     // engine -> runner: prepare one measurement cell
	TypeReady    = "ready"    // runner -> engine
	TypeRep      = "rep"      // engine -> runner: run one repetition
	TypeSample   = "sample"   // runner -> engine
	TypeEnd      = "end"      // engine -> runner: finish the cell
	TypeResult   = "result"   // runner -> engine
	TypeError    = "error"    // runner -> engine, in place of any reply
	TypeLog      = "log"      // runner -> engine, at any time, no ID
	TypeShutdown = "shutdown" // engine -> runner
	TypeBye      = "bye"      // runner -> engine, then exit 0
)

// Phases a cell can measure.
const (
	PhasePrefill  = "prefill"  // N tokens in one forward pass
	PhaseDecode   = "decode"   // one next-token step at context N
	PhaseGenerate = "generate" // prompt of N tokens, then NewTokens greedy steps
)

// Error statuses a runner may report.
const (
	StatusOOM         = "oom"         // out of memory (device or host)
	StatusError       = "error"       // any other failure
	StatusUnsupported = "unsupported" // the runner cannot do what was asked
)

// Cache fill modes for decode cells.
const (
	FillAuto      = "auto"      // the runner chooses
	FillPrefill   = "prefill"   // caches filled by a real prefill of N tokens
	FillSynthetic = "synthetic" // caches synthesised at length N (random values)
)

// Message is the envelope of every line. Fields not used by a type are
// omitted on the wire. Unknown fields are ignored by the decoder, so a newer
// runner may add fields without breaking an older engine.
type Message struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	// hello
	Protocol     int               `json:"protocol,omitempty"`
	Runner       *RunnerInfo       `json:"runner,omitempty"`
	Device       *DeviceInfo       `json:"device,omitempty"`
	Capabilities *Capabilities     `json:"capabilities,omitempty"`
	Env          map[string]string `json:"env,omitempty"`

	// load
	Load *LoadRequest `json:"load,omitempty"`

	// cell
	Cell *CellRequest `json:"cell,omitempty"`

	// infer and output (optional capability, see infer.go)
	Infer  *InferRequest `json:"infer,omitempty"`
	Output *Output       `json:"output,omitempty"`

	// rep and sample
	Index  int  `json:"index,omitempty"`
	Warmup bool `json:"warmup,omitempty"`

	// loaded, ready, sample, result
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Info    map[string]string  `json:"info,omitempty"`

	// error and log
	Status  string `json:"status,omitempty"`
	Level   string `json:"level,omitempty"`
	Message string `json:"message,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// RunnerInfo names a runner implementation.
type RunnerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// DeviceInfo describes the device the runner measures on.
type DeviceInfo struct {
	Kind        string `json:"kind"` // "cpu" or "cuda"
	Name        string `json:"name"`
	Index       int    `json:"index"`
	UUID        string `json:"uuid,omitempty"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	Cores       int    `json:"cores,omitempty"`
}

// Capabilities lists what a runner can do; the engine checks a spec against
// it before running a cell.
type Capabilities struct {
	Phases    []string `json:"phases"`
	Profiles  []string `json:"profiles"`
	DTypes    []string `json:"dtypes"`
	CacheFill []string `json:"cache_fill,omitempty"`
	MemoryCap bool     `json:"memory_cap,omitempty"`
	// Infer says the runner answers infer requests (see infer.go).
	Infer bool `json:"infer,omitempty"`
}

// Weights says where a model's weights come from.
type Weights struct {
	Kind string `json:"kind"`           // "random" or "safetensors"
	Seed int64  `json:"seed,omitempty"` // for random
	Path string `json:"path,omitempty"` // directory for safetensors
}

// LoadRequest asks the runner to build one model variant.
type LoadRequest struct {
	Variant string          `json:"variant"`
	Config  json.RawMessage `json:"config"` // Hugging Face-style config.json object
	Weights Weights         `json:"weights"`
	DType   string          `json:"dtype"`
	Profile string          `json:"profile"`
	// MemoryCapBytes, when > 0, caps the runner's device memory; exceeding
	// it must be reported as an "oom" error, not a crash.
	MemoryCapBytes int64 `json:"memory_cap_bytes,omitempty"`
	// MaxSeqLen is the longest context any cell of this load will use, so
	// that preallocating runtimes can size their caches once.
	MaxSeqLen int `json:"max_seq_len,omitempty"`
	// Options are runner-specific knobs, recorded with the results.
	Options map[string]string `json:"options,omitempty"`
}

// CellRequest prepares one measurement cell.
type CellRequest struct {
	Phase     string `json:"phase"`
	SeqLen    int    `json:"seq_len"`
	Batch     int    `json:"batch"`
	NewTokens int    `json:"new_tokens,omitempty"` // generate only
	CacheFill string `json:"cache_fill,omitempty"` // decode only
	Seed      int64  `json:"seed,omitempty"`
}

// Validate checks a message's required fields for its type.
func (m *Message) Validate() error {
	need := func(ok bool, field string) error {
		if !ok {
			return fmt.Errorf("protocol: %q message lacks %s", m.Type, field)
		}
		return nil
	}
	switch m.Type {
	case TypeHello:
		if err := need(m.Protocol != 0, "protocol"); err != nil {
			return err
		}
		return need(m.Runner != nil && m.Runner.Name != "", "runner.name")
	case TypeLoad:
		if err := need(m.ID != "", "id"); err != nil {
			return err
		}
		return need(m.Load != nil && m.Load.Variant != "", "load.variant")
	case TypeCell:
		if err := need(m.ID != "", "id"); err != nil {
			return err
		}
		if err := need(m.Cell != nil, "cell"); err != nil {
			return err
		}
		switch m.Cell.Phase {
		case PhasePrefill, PhaseDecode, PhaseGenerate:
		default:
			return fmt.Errorf("protocol: cell.phase %q is not prefill, decode or generate", m.Cell.Phase)
		}
		if m.Cell.SeqLen <= 0 || m.Cell.Batch <= 0 {
			return fmt.Errorf("protocol: cell needs seq_len > 0 and batch > 0, got %d and %d", m.Cell.SeqLen, m.Cell.Batch)
		}
		return nil
	case TypeInfer, TypeOutput:
		return m.validateInfer()
	case TypeLoaded, TypeReady, TypeRep, TypeSample, TypeEnd, TypeResult:
		return need(m.ID != "", "id")
	case TypeError:
		return need(m.Status != "", "status")
	case TypeLog, TypeShutdown, TypeBye:
		return nil
	case "":
		return fmt.Errorf("protocol: message has no type")
	default:
		return fmt.Errorf("protocol: unknown message type %q", m.Type)
	}
}
