package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOverheadCommand(t *testing.T) {
	dir := t.TempDir()
	specFile := fakeSpecFile(t, dir, "")
	out := filepath.Join(dir, "ovh")
	code, stdout, stderr := runCLI(t, "overhead", specFile, "--reps", "6", "--rounds", "3", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"| off ", "| 100 Hz ", "| 1000 Hz ", "(not sampled)", "rule: PASS iff", "warning:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "round 3/3") {
		t.Errorf("stderr lacks the progress:\n%s", stderr)
	}
	for _, f := range []string{"overhead.parquet", "overhead.json", "runner.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}

	code, stdout, stderr = runCLI(t, "overhead", specFile, "--reps", "4", "--rounds", "2", "--hz", "250", "--gate", "250", "--json")
	if code != ExitOK {
		t.Fatalf("--json: exit %d\n%s", code, stderr)
	}
	var res struct {
		Arms    []struct{ Name string }
		Summary struct {
			Arms        []struct{ N int }
			Comparisons []struct {
				Hz      float64
				Verdict string
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if len(res.Arms) != 2 || res.Arms[1].Name != "250 Hz" || len(res.Summary.Comparisons) != 1 || res.Summary.Comparisons[0].Hz != 250 || res.Summary.Arms[0].N != 4 {
		t.Errorf("--json result %+v", res)
	}
}

func TestOverheadBadInputExit2(t *testing.T) {
	dir := t.TempDir()
	specFile := fakeSpecFile(t, dir, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero rate", []string{"--hz", "100,0"}, "--hz[1]"},
		{"gate not a rate", []string{"--gate", "50"}, "--gate: 50 Hz"},
		{"no rounds", []string{"--rounds", "0"}, "--rounds"},
		{"more rounds than reps", []string{"--reps", "3", "--rounds", "4"}, "--rounds"},
		{"no reps", []string{"--reps", "0"}, "--reps"},
		{"negative threshold", []string{"--threshold", "-1"}, "--threshold"},
		{"cell past the plan", []string{"--cell", "99"}, "index 99 out of range"},
		{"unknown flag", []string{"--spec-is-missing"}, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"overhead", specFile}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	code, _, stderr := runCLI(t, "overhead", filepath.Join(dir, "nope.yaml"))
	if code != ExitUsage || !strings.Contains(stderr, "nope.yaml") {
		t.Errorf("missing spec file: exit %d, %q", code, stderr)
	}
}
