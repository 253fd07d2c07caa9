package telemetry

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/ssmbench/ssmbench/bench/telemetry/nvmlfake"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fakeProc writes a process table under a temp dir: pid -> {ppid, comm}.
func fakeProc(t *testing.T, procs map[int]procEntry) string {
	t.Helper()
	root := t.TempDir()
	for pid, e := range procs {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n", pid, e.comm, e.ppid, pid, pid)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(e.comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Non-process entries a real /proc has.
	for _, name := range []string{"self", "meminfo"} {
		if err := os.WriteFile(filepath.Join(root, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type procEntry struct {
	ppid int
	comm string
}

// standardProcs: the runner 100 with child 101 and grandchild 102 (whose
// name has a space and a parenthesis), and an unrelated process 200.
var standardProcs = map[int]procEntry{
	1:   {0, "init"},
	100: {1, "ssmbench-worker"},
	101: {100, "python3"},
	102: {101, "pt worker)"},
	200: {1, "other-job"},
}

// harness drives a Session deterministically: ticks and the clock are in
// the test's hands.
type harness struct {
	t    *testing.T
	fake *nvmlfake.Fake
	tick chan time.Time
	t0   time.Time
	now  time.Time
	m    *Monitor
}

func newHarness(t *testing.T, procRoot string, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, fake: nvmlfake.New(2), tick: make(chan time.Time), t0: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	h.now = h.t0
	opts := Options{Lib: h.fake, Hz: 100, ProcRoot: procRoot, Tick: h.tick, Now: func() time.Time { return h.now }}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Available() {
		t.Fatalf("fake monitor not available: %s", m.Reason())
	}
	t.Cleanup(func() { m.Close() })
	h.m = m
	return h
}

// at sets the clock to t0 + ms.
func (h *harness) at(ms int) time.Time {
	h.now = h.t0.Add(time.Duration(ms) * time.Millisecond)
	return h.now
}

// tickAt sends one tick stamped t0 + ms; it returns when the sampler has
// received it (the previous sample is then complete).
func (h *harness) tickAt(ms int) { h.tick <- h.at(ms) }

// action is one step of a scenario, after Begin (at 0 ms).
type action struct {
	kind   string // "tick", "start", "stop", "end"
	ms     int
	tokens int
}

func (h *harness) run(s *Session, acts []action) (Aggregate, []Sample) {
	for _, a := range acts {
		switch a.kind {
		case "tick":
			h.tickAt(a.ms)
		case "start":
			h.at(a.ms)
			s.StartWindow()
		case "stop":
			h.at(a.ms)
			s.EndWindow(a.tokens)
		case "end":
			h.at(a.ms)
			return s.End()
		default:
			h.t.Fatalf("unknown action %q", a.kind)
		}
	}
	h.t.Fatal("scenario has no end action")
	return Aggregate{}, nil
}

// proc is a ProcessInfo shorthand.
func proc(pid uint32, mib uint64) nvml.ProcessInfo {
	return nvml.ProcessInfo{Pid: pid, UsedGpuMemory: mib << 20}
}

// stable zeroes the timing fields that depend on the machine.
func stable(a Aggregate, samples []Sample) (Aggregate, []Sample) {
	a.TelemetryReadUsMean, a.TelemetryReadUsMax = nil, nil
	out := append([]Sample(nil), samples...)
	for i := range out {
		out[i].ReadUs = 0
	}
	return a, out
}

// golden compares got (as indented JSON, or raw bytes) with
// testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var b []byte
	switch v := got.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.MarshalIndent(got, "", "  "); err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, b, want)
	}
}
