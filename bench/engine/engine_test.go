package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/runners/fake"
)

// The test binary doubles as the fake runner process: the engine starts it
// with SSMBENCH_FAKE_RUNNER set.
func TestMain(m *testing.M) {
	fake.ServeIfRequested()
	os.Exit(m.Run())
}

// fakeSpec returns a spec that runs the fake runner with a fault script.
func fakeSpec(t *testing.T, script string, extra string) *spec.Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`name: t
runner:
  kind: command
  command: [%q]
  env: {SSMBENCH_FAKE_RUNNER: %q}
  max_live: 4
axes:
  variant: [hovle-tiny, mmmamba-linear-tiny]
  seq_len: [128, 256, 512, 1024]
  phase: [decode]
warmup: {min: 1, max: 8, window: 3, cv: 0.05}
repetitions: 6
timeouts: {start: 20s, load: 20s, cell: 20s, rep: 20s}
output: %q
%s`, exe, script, t.TempDir(), extra)
	s, err := spec.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runAll(t *testing.T, s *spec.Spec, opts Options) (*Summary, *results.Run) {
	t.Helper()
	e, err := New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	run, err := results.ReadRun(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return sum, run
}

func byKey(run *results.Run) map[string]results.CellRow {
	m := map[string]results.CellRow{}
	for _, r := range run.Cells {
		m[r.Variant+"/"+strconv.FormatInt(r.SeqLen, 10)] = r
	}
	return m
}

func TestSweepWritesEveryCellAndSample(t *testing.T) {
	s := fakeSpec(t, "", "")
	sum, run := runAll(t, s, Options{Argv: []string{"ssmbench", "run", "test.yaml"}, Version: "test"})
	if sum.Ran != 8 || sum.StatusCounts["ok"] != 8 {
		t.Fatalf("summary %+v", sum)
	}
	if len(run.Cells) != 8 {
		t.Fatalf("%d cell rows, want 8", len(run.Cells))
	}
	m := run.Manifest
	if m.RunID == "" || m.SpecSHA256 == "" || !strings.Contains(m.Spec, "fake") && !strings.Contains(m.Spec, "SSMBENCH_FAKE_RUNNER") ||
		m.EndedAt == nil || len(m.Runners) == 0 || m.Runners[0].Name != "fake" || m.Host.CPUs == 0 || m.GoVersion == "" {
		t.Errorf("manifest incomplete: %+v", m)
	}
	per := map[string]int{}
	for _, sm := range run.Samples {
		if !sm.Warmup {
			per[sm.CellID]++
		}
	}
	for _, r := range run.Cells {
		if per[r.CellID] != 6 || r.Reps != 6 {
			t.Errorf("cell %s: %d measured samples, reps=%d, want 6", r.CellID, per[r.CellID], r.Reps)
		}
		if r.DecodeMsP50 == nil || r.DecodeMsCV == nil || r.DecodeMsCILo == nil || r.DecodeMsCIHi == nil {
			t.Errorf("cell %s lacks statistics", r.CellID)
		}
		if r.WarmupReps < 3 || !r.WarmupStable {
			t.Errorf("cell %s: warm-up %d reps, stable %v", r.CellID, r.WarmupReps, r.WarmupStable)
		}
		if r.Knobs["fake"] != "true" || r.CacheFill != "synthetic" || r.Extra["state_bytes_analytic"] != 0 && r.StateBytes == nil {
			t.Errorf("cell %s: knobs %v cache_fill %q", r.CellID, r.Knobs, r.CacheFill)
		}
	}
	k := byKey(run)
	if *k["hovle-tiny/1024"].DecodeMsP50 <= *k["hovle-tiny/128"].DecodeMsP50 {
		t.Errorf("attention latency does not grow with context")
	}
	if *k["mmmamba-linear-tiny/1024"].DecodeMsP50 != *k["mmmamba-linear-tiny/128"].DecodeMsP50 {
		t.Errorf("linear latency is not flat")
	}
	// Cheap first, variants interleaved (the CPU default of one runner per variant alive).
	if run.Cells[0].SeqLen != 128 || run.Cells[1].SeqLen != 128 || run.Cells[0].Variant == run.Cells[1].Variant {
		t.Errorf("order: %s/%d, %s/%d", run.Cells[0].Variant, run.Cells[0].SeqLen, run.Cells[1].Variant, run.Cells[1].SeqLen)
	}
}

func TestOOMSkipsLargerCellsOfTheVariant(t *testing.T) {
	s := fakeSpec(t, "oom=500,variant=hovle-tiny", "")
	_, run := runAll(t, s, Options{})
	k := byKey(run)
	for key, want := range map[string]string{
		"hovle-tiny/256": "ok", "hovle-tiny/512": "oom", "hovle-tiny/1024": "skipped", "mmmamba-linear-tiny/1024": "ok",
	} {
		if got := k[key].Status; got != want {
			t.Errorf("%s: status %q, want %q (error %v)", key, got, want, k[key].Error)
		}
	}
	if e := k["hovle-tiny/512"].Error; e == nil || !strings.Contains(*e, "out of memory") {
		t.Errorf("oom row error = %v", e)
	}
	if e := k["hovle-tiny/1024"].Error; e == nil || !strings.Contains(*e, "seq_len 512") {
		t.Errorf("skipped row error = %v", e)
	}
}

func TestHangingRunnerIsKilledWithItsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	s := fakeSpec(t, "hang=1000,variant=hovle-tiny,child="+pidFile, "")
	s.Timeouts.Rep = 1500 * time.Millisecond
	_, run := runAll(t, s, Options{})
	k := byKey(run)
	if got := k["hovle-tiny/1024"].Status; got != results.StatusTimeout {
		t.Fatalf("hung cell status %q", got)
	}
	if got := k["mmmamba-linear-tiny/1024"].Status; got != results.StatusOK {
		t.Errorf("other variant after the hang: %q", got)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the hanging runner did not start its child: %v", err)
	}
	pid, _ := strconv.Atoi(string(data))
	if alive(pid) {
		t.Errorf("child %d of the hung runner survived the timeout", pid)
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat))
	return len(f) > 2 && f[2] != "Z"
}

func TestCrashingRunnerBecomesARowAndTheSweepGoesOn(t *testing.T) {
	s := fakeSpec(t, "crash=512,variant=hovle-tiny", "")
	sum, run := runAll(t, s, Options{})
	k := byKey(run)
	for _, key := range []string{"hovle-tiny/512", "hovle-tiny/1024"} {
		r := k[key]
		if r.Status != results.StatusCrash || r.Error == nil || !strings.Contains(*r.Error, "crashing as scripted") {
			t.Errorf("%s: status %q error %v", key, r.Status, r.Error)
		}
	}
	if k["hovle-tiny/256"].Status != "ok" || sum.StatusCounts["ok"] != 6 {
		t.Errorf("counts %v", sum.StatusCounts)
	}
}

// cancelAfter cancels a context after n cells are done.
type cancelAfter struct {
	nopProgress
	n      int
	cancel func()
}

func (c *cancelAfter) CellDone(Cell, results.CellRow) {
	c.n--
	if c.n == 0 {
		c.cancel()
	}
}

func TestInterruptedSweepResumes(t *testing.T) {
	s := fakeSpec(t, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(s, Options{Progress: &cancelAfter{n: 3, cancel: cancel}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(ctx); !IsInterrupted(err) {
		t.Fatalf("interrupted run returned %v", err)
	}
	run, err := results.ReadRun(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Cells) != 3 || run.Manifest.EndedAt != nil {
		t.Fatalf("after interrupt: %d cells, ended %v", len(run.Cells), run.Manifest.EndedAt)
	}
	e2, err := Resume(e.Dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 5 || sum.Resumed != 3 {
		t.Errorf("resume ran %d, resumed %d; want 5 and 3", sum.Ran, sum.Resumed)
	}
	run, _ = results.ReadRun(e.Dir)
	seen := map[string]int{}
	for _, r := range run.Cells {
		seen[r.CellID]++
	}
	if len(run.Cells) != 8 || len(seen) != 8 {
		t.Errorf("after resume %d rows for %d cells", len(run.Cells), len(seen))
	}
	if len(run.Manifest.Resumes) != 1 || run.Manifest.EndedAt == nil {
		t.Errorf("manifest resumes %v ended %v", run.Manifest.Resumes, run.Manifest.EndedAt)
	}
}

func TestPlanOrderAndDedup(t *testing.T) {
	src := `name: p
runner: {kind: torch}
axes: {variant: [hovle, mmmamba-linear], seq_len: [4K, 1K], phase: [decode]}
grids:
  - {}
  - {phase: [decode], seq_len: [1K]}
  - {phase: [prefill], seq_len: [1K]}
`
	s, err := spec.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cells := Plan(s)
	var got []string
	for _, c := range cells {
		got = append(got, fmt.Sprintf("%s/%s/%d", c.Variant, c.Phase, c.SeqLen))
	}
	// torch default: one runner alive, so each variant's cells run together, cheap first.
	want := "hovle/decode/1024 hovle/prefill/1024 hovle/decode/4096 mmmamba-linear/decode/1024 mmmamba-linear/prefill/1024 mmmamba-linear/decode/4096"
	if strings.Join(got, " ") != want {
		t.Errorf("plan\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if cells[0].Profile != "matched" || cells[0].DType != "bf16" || cells[0].Batch != 1 {
		t.Errorf("defaults for torch: %+v", cells[0])
	}
	if cells[0].ID == cells[1].ID || Plan(s)[0].ID != cells[0].ID {
		t.Errorf("cell ids not distinct or not stable")
	}
}
