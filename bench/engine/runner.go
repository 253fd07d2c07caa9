package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// live is a started runner with its model loaded.
type live struct {
	key      LoadKey
	client   *protocol.Client
	hello    *protocol.Message
	loaded   *protocol.Message
	lastUsed int
}

// pool keeps at most max runners alive, one per LoadKey.
type pool struct {
	e     *Engine
	max   int
	live  map[LoadKey]*live
	clock int
	// loadErr remembers a load that failed, so the cells of that key fail
	// fast with the same error instead of restarting the runner each time.
	loadErr map[LoadKey]error
	log     io.Writer
	logMu   sync.Mutex
}

func newPool(e *Engine, max int, log io.Writer) *pool {
	return &pool{e: e, max: max, live: map[LoadKey]*live{}, loadErr: map[LoadKey]error{}, log: log}
}

// get returns the live runner for k, starting and loading one if needed.
func (p *pool) get(ctx context.Context, c Cell) (*live, error) {
	k := c.Key()
	p.clock++
	if l, ok := p.live[k]; ok {
		l.lastUsed = p.clock
		return l, nil
	}
	if err, ok := p.loadErr[k]; ok {
		return nil, err
	}
	for len(p.live) >= p.max {
		p.evictLRU()
	}
	l, err := p.start(ctx, c)
	if err != nil {
		var re *protocol.RunnerError
		if errors.As(err, &re) || errors.Is(err, errLoad) {
			p.loadErr[k] = err
		}
		return nil, err
	}
	l.lastUsed = p.clock
	p.live[k] = l
	return l, nil
}

var errLoad = errors.New("model load failed")

func (p *pool) evictLRU() {
	var victim *live
	for _, l := range p.live {
		if victim == nil || l.lastUsed < victim.lastUsed {
			victim = l
		}
	}
	p.close(victim.key)
}

// drop kills the runner of k (after a timeout or crash); the next cell of k
// starts a fresh one.
func (p *pool) drop(k LoadKey) {
	if l, ok := p.live[k]; ok {
		l.client.Kill()
		delete(p.live, k)
	}
}

func (p *pool) close(k LoadKey) {
	if l, ok := p.live[k]; ok {
		_ = l.client.Close(10 * time.Second)
		delete(p.live, k)
	}
}

func (p *pool) closeAll() {
	for k := range p.live {
		p.close(k)
	}
}

func (p *pool) command(k LoadKey) (protocol.Command, error) {
	s := p.e.Spec
	var c protocol.Command
	switch s.Runner.Kind {
	case spec.RunnerCPU:
		if len(p.e.Opts.CPUWorker) == 0 {
			return c, errors.New("no command for the CPU worker (Options.CPUWorker)")
		}
		c.Path, c.Args = p.e.Opts.CPUWorker[0], p.e.Opts.CPUWorker[1:]
	case spec.RunnerTorch:
		dir := p.e.Opts.TorchDir
		if dir == "" {
			dir = findTorchDir()
		}
		c.Path, c.Args = s.Runner.Python, []string{"-m", "ssmbench_torch"}
		c.Env = append(c.Env, "PYTHONPATH="+dir, "PYTHONUNBUFFERED=1")
	case spec.RunnerCommand:
		c.Path, c.Args = s.Runner.Command[0], s.Runner.Command[1:]
	default:
		return c, fmt.Errorf("unknown runner kind %q", s.Runner.Kind)
	}
	keys := make([]string, 0, len(s.Runner.Env))
	for key := range s.Runner.Env {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		c.Env = append(c.Env, key+"="+s.Runner.Env[key])
	}
	c.Stderr = &prefixWriter{mu: &p.logMu, w: p.log, prefix: "[" + k.String() + "] "}
	c.OnLog = func(m *protocol.Message) {
		p.logMu.Lock()
		fmt.Fprintf(p.log, "[%s] %s: %s\n", k, m.Level, m.Message)
		p.logMu.Unlock()
	}
	return c, nil
}

// findTorchDir locates runners/torch: under the working directory, or
// beside the executable's parent (bin/ssmbench in a checkout).
func findTorchDir() string {
	cands := []string{"runners/torch"}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "runners", "torch"))
	}
	for _, d := range cands {
		if st, err := os.Stat(filepath.Join(d, "ssmbench_torch")); err == nil && st.IsDir() {
			abs, _ := filepath.Abs(d)
			return abs
		}
	}
	return "runners/torch"
}

func (p *pool) start(ctx context.Context, c Cell) (*live, error) {
	k := c.Key()
	cmd, err := p.command(k)
	if err != nil {
		return nil, err
	}
	s := p.e.Spec
	p.logMu.Lock()
	fmt.Fprintf(p.log, "=== %s starting runner for %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), k, cmd.Path, strings.Join(cmd.Args, " "))
	p.logMu.Unlock()
	client, err := protocol.Start(ctx, cmd, s.Timeouts.Start)
	if err != nil {
		return nil, fmt.Errorf("start runner: %w", err)
	}
	hello := client.Hello()
	if err := checkCapabilities(hello, c); err != nil {
		client.Kill()
		return nil, &protocol.RunnerError{Status: protocol.StatusUnsupported, Message: err.Error()}
	}
	model, err := configs.Load(c.Model.Config)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%w: %v", errLoad, err)
	}
	w := protocol.Weights{Kind: "random", Seed: c.Model.Seed}
	if c.Model.Weights != "random" {
		w = protocol.Weights{Kind: "safetensors", Path: c.Model.Weights}
	}
	req := &protocol.Message{Type: protocol.TypeLoad, ID: "load-" + strconv.Itoa(p.clock), Load: &protocol.LoadRequest{
		Variant: c.Variant, Config: json.RawMessage(model.Raw), Weights: w, DType: c.DType, Profile: c.Profile,
		MemoryCapBytes: c.MemoryCap, MaxSeqLen: s.MaxSeqLen(c.Variant), Options: s.Runner.Options,
	}}
	loaded, err := client.Call(ctx, req, s.Timeouts.Load)
	if err != nil {
		client.Kill()
		var re *protocol.RunnerError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errLoad, err)
	}
	p.e.noteRunner(hello)
	return &live{key: k, client: client, hello: hello, loaded: loaded}, nil
}

func checkCapabilities(h *protocol.Message, c Cell) error {
	caps := h.Capabilities
	if caps == nil {
		return nil
	}
	check := func(what, v string, have []string) error {
		if len(have) > 0 && !slices.Contains(have, v) {
			return fmt.Errorf("runner %s does not support %s %q (it has %s)", h.Runner.Name, what, v, strings.Join(have, ", "))
		}
		return nil
	}
	if err := check("phase", c.Phase, caps.Phases); err != nil {
		return err
	}
	if err := check("profile", c.Profile, caps.Profiles); err != nil {
		return err
	}
	if err := check("dtype", c.DType, caps.DTypes); err != nil {
		return err
	}
	if c.MemoryCap > 0 && !caps.MemoryCap {
		return fmt.Errorf("runner %s cannot cap memory", h.Runner.Name)
	}
	return nil
}

// classify maps an error from talking to a runner to a cell status.
func classify(err error) string {
	var re *protocol.RunnerError
	var ee *protocol.ExitError
	switch {
	case errors.As(err, &re):
		switch re.Status {
		case protocol.StatusOOM:
			return results.StatusOOM
		case protocol.StatusUnsupported:
			return results.StatusUnsupported
		}
		return results.StatusError
	case errors.Is(err, protocol.ErrTimeout):
		return results.StatusTimeout
	case errors.As(err, &ee):
		return results.StatusCrash
	case errors.Is(err, errLoad):
		return results.StatusError
	}
	return results.StatusCrash
}

// prefixWriter prefixes each line written to w.
type prefixWriter struct {
	mu      *sync.Mutex
	w       io.Writer
	prefix  string
	partial bool
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		if !pw.partial {
			io.WriteString(pw.w, pw.prefix)
		}
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			pw.w.Write(b)
			pw.partial = true
			break
		}
		pw.w.Write(b[:i+1])
		pw.partial = false
		b = b[i+1:]
	}
	return n, nil
}

// Runner is a started runner process with its model loaded, for tools that
// drive a runner outside a sweep (e.g. the telemetry overhead experiment).
type Runner struct {
	Client *protocol.Client
	Hello  *protocol.Message
	Loaded *protocol.Message
}

// StartRunner starts the runner that cell c of spec s needs and loads its
// model, as the engine would; the runner's stderr goes to log.
func StartRunner(ctx context.Context, s *spec.Spec, opts Options, c Cell, log io.Writer) (*Runner, error) {
	e := &Engine{Spec: s, Opts: opts}
	p := newPool(e, 1, log)
	l, err := p.start(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Runner{Client: l.client, Hello: l.hello, Loaded: l.loaded}, nil
}
