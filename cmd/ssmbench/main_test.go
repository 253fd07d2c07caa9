package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/runners/fake"
)

// The test binary doubles as the ssmbench command (SSMBENCH_TEST_MAIN) and
// as a scripted fake runner (SSMBENCH_FAKE_RUNNER), so tests can run the
// CLI as a real process and kill it.
func TestMain(m *testing.M) {
	fake.ServeIfRequested()
	if os.Getenv("SSMBENCH_TEST_MAIN") == "1" {
		os.Exit(Main(context.Background(), &Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), &Stdio{In: strings.NewReader(""), Out: &out, Err: &errb}, args)
	return code, out.String(), errb.String()
}

// fakeSpecFile writes a spec that runs this test binary as a fake runner.
func fakeSpecFile(t *testing.T, dir string, script string) string {
	t.Helper()
	exe, _ := os.Executable()
	src := fmt.Sprintf(`name: cli
runner:
  kind: command
  command: [%q]
  env: {SSMBENCH_FAKE_RUNNER: %q}
  max_live: 2
axes:
  variant: [hovle-tiny, mmmamba-linear-tiny]
  seq_len: [128, 256, 512, 1024]
  phase: [decode]
warmup: {min: 1, max: 4, window: 2, cv: 0.5}
repetitions: 6
output: %q
`, exe, script, filepath.Join(dir, "results"))
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadSpecsExit2NamingTheField(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, src, want string }{
		{"unknown variant", "name: x\nrunner: cpu\naxes:\n  variant: [gpt5]\n  seq_len: [8]\n  phase: [decode]\n", "bad.yaml:4: variant"},
		{"bad phase", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny]\n  seq_len: [8]\n  phase: [train]\n", "bad.yaml:6: axes.phase[0]"},
		{"typo field", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [8], phase: [decode]}\nrepetitons: 3\n", "bad.yaml:4: repetitons: unknown field"},
		{"negative length", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny]\n  seq_len: [-8]\n  phase: [decode]\n", "bad.yaml:5: axes.seq_len[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, "run", path)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	if code, _, stderr := runCLI(t, "run", filepath.Join(dir, "missing.yaml")); code != ExitUsage || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing spec: exit %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCLI(t, "run", "--no-such-flag"); code != ExitUsage {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestRunAndShow(t *testing.T) {
	dir := t.TempDir()
	spec := fakeSpecFile(t, dir, "oom=1000,variant=hovle-tiny")
	code, stdout, stderr := runCLI(t, "run", spec)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "OOM") || !strings.Contains(stdout, "hovle-tiny ms") || !strings.Contains(stderr, "[8/8]") {
		t.Errorf("summary:\n%s\nstderr:\n%s", stdout, stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "results", "cli-*"))
	if len(runs) != 1 {
		t.Fatalf("run dirs %v", runs)
	}
	code, stdout, _ = runCLI(t, "show", "--cells", runs[0])
	if code != ExitOK || strings.Count(stdout, "mmmamba-linear-tiny") != 4 || !strings.Contains(stdout, "oom") {
		t.Errorf("show --cells: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "show", "--json", runs[0])
	if code != ExitOK || !strings.Contains(stdout, `"decode_ms_p50"`) && !strings.Contains(stdout, `"DecodeMsP50"`) {
		t.Errorf("show --json: exit %d\n%.400s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "show", dir); code != ExitUsage || !strings.Contains(stderr, "not a run directory") {
		t.Errorf("show on a non-run: exit %d %s", code, stderr)
	}
}

// TestKilledSweepResumes kills the ssmbench process (SIGKILL, no chance to
// clean up) after its third cell and resumes the run.
func TestKilledSweepResumes(t *testing.T) {
	dir := t.TempDir()
	spec := fakeSpecFile(t, dir, "")
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "run", spec)
	cmd.Env = append(os.Environ(), "SSMBENCH_TEST_MAIN=1", "CI=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), "[3/8]") {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	_ = cmd.Wait()
	runs, _ := filepath.Glob(filepath.Join(dir, "results", "cli-*"))
	if len(runs) != 1 {
		t.Fatalf("run dirs %v; output %v", runs, seen)
	}
	before, err := results.ReadRun(runs[0])
	if err != nil {
		t.Fatalf("results after SIGKILL unreadable: %v", err)
	}
	if n := len(before.Cells); n < 3 || n > 4 || before.Manifest.EndedAt != nil {
		t.Fatalf("after kill: %d cells, ended %v", n, before.Manifest.EndedAt)
	}
	code, _, errOut := runCLI(t, "run", "--resume", runs[0])
	if code != ExitOK {
		t.Fatalf("resume exit %d: %s", code, errOut)
	}
	after, err := results.ReadRun(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, r := range after.Cells {
		ids[r.CellID]++
	}
	if len(after.Cells) != 8 || len(ids) != 8 {
		t.Errorf("after resume: %d rows, %d distinct cells", len(after.Cells), len(ids))
	}
	if !strings.Contains(errOut, fmt.Sprintf("resuming: %d of 8", len(before.Cells))) {
		t.Errorf("resume output: %s", errOut)
	}
	// Rows recorded before the kill are kept as they were.
	for i, r := range before.Cells {
		if after.Cells[i].CellID != r.CellID || !after.Cells[i].StartedAt.Equal(r.StartedAt) {
			t.Errorf("row %d changed by the resume", i)
		}
	}
}
