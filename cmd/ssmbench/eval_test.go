package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
)

var fixtureRegistry = filepath.Join("..", "..", "datasets", "testdata", "registry.yaml")

func TestEvalBadInputExit2(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown bench", []string{"eval", "chartqa", "--variant", "hovle-tiny", "--registry", fixtureRegistry}, "unknown benchmark \"chartqa\""},
		{"unknown variant", []string{"eval", "pope", "--variant", "gpt5", "--registry", fixtureRegistry}, "variant gpt5"},
		{"data for two", []string{"eval", "pope", "mme", "--variant", "hovle-tiny", "--data", dir}, "one benchmark"},
		{"bad runner", []string{"eval", "pope", "--variant", "hovle-tiny", "--runner", "tpu", "--registry", fixtureRegistry}, "--runner \"tpu\""},
		{"no registry", []string{"eval", "pope", "--variant", "hovle-tiny", "--registry", filepath.Join(dir, "none.yaml")}, "no dataset registry"},
		{"rules", []string{"eval", "mmbench", "--variant", "hovle-tiny", "--registry", fixtureRegistry, "--rules", "internvl", "--out", dir}, "do not apply to mmbench"},
		{"no variant", []string{"eval", "pope", "--registry", fixtureRegistry}, "variant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestEvalEndToEnd runs the real CPU runner (this test binary re-executed
// as `ssmbench worker cpu`) on a tiny config over the fixtures of POPE,
// MME and MMBench.
func TestEvalEndToEnd(t *testing.T) {
	t.Setenv("SSMBENCH_TEST_MAIN", "1") // the runner child runs Main
	t.Setenv("CI", "1")
	out := filepath.Join(t.TempDir(), "eval")
	args := []string{"eval", "pope", "mme", "mmbench", "--runner", "cpu", "--variant", "mmmamba-hybrid-tiny", "--registry", fixtureRegistry,
		"--limit", "4", "--max-new-tokens", "4", "--out", out}
	code, stdout, stderr := runCLI(t, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, want := range []string{"mmmamba-hybrid-tiny (ours) beside Table 1 mmMamba-hybrid", "| pope    | POPE", "86.7", "| mmbench | MMB", "results: " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "pope 4/4 items answered") {
		t.Errorf("stderr lacks progress:\n%s", stderr)
	}
	for _, b := range []string{"pope", "mme", "mmbench"} {
		f, err := datasets.ReadEvalFile(filepath.Join(out, b, "predictions.jsonl"))
		if err != nil || len(f.Records) == 0 || len(f.Answered()) != len(f.Records) {
			t.Fatalf("%s predictions: %v", b, err)
		}
		for _, p := range []string{"score.json", "scores.parquet"} {
			if _, err := os.Stat(filepath.Join(out, b, p)); err != nil {
				t.Error(err)
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(out, "runner.log"))
	if !strings.Contains(string(log), "starting runner") {
		t.Errorf("runner.log: %q", log)
	}

	// Again without --resume: refused. With it: nothing to ask, same scores.
	code, _, stderr = runCLI(t, args...)
	if code != ExitUsage || !strings.Contains(stderr, "--resume") {
		t.Fatalf("rerun without --resume: exit %d %s", code, stderr)
	}
	code, stdout2, stderr := runCLI(t, append(args, "--resume", "--json")...)
	if code != ExitOK || !strings.Contains(stderr, "every item") {
		t.Fatalf("resume: exit %d %s", code, stderr)
	}
	var res []*eval.Result
	if err := json.Unmarshal([]byte(stdout2), &res); err != nil || len(res) != 3 || res[0].Bench != "pope" || res[0].Items != 4 {
		t.Fatalf("json results (%v): %s", err, stdout2)
	}
	// A larger --limit on resume asks only the new items.
	code, _, stderr = runCLI(t, "eval", "pope", "--runner", "cpu", "--variant", "mmmamba-hybrid-tiny", "--registry", fixtureRegistry,
		"--limit", "6", "--max-new-tokens", "4", "--out", out, "--resume")
	if code != ExitOK || !strings.Contains(stderr, "2 items to ask") {
		t.Fatalf("extend: exit %d %s", code, stderr)
	}
}
