package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `name: demo
runner: cpu
models:
  small: {config: mmmamba-linear-tiny, seed: 7}
axes:
  variant: [hovle-tiny, small]
  seq_len: [256, 1K]
  phase: [decode]
grids:
  - {}
  - {phase: [generate], seq_len: [64]}
new_tokens: 8
warmup: {min: 1, max: 5, window: 3, cv: 0.1}
repetitions: 12
timeouts: {rep: 5s}
`

func TestParseGood(t *testing.T) {
	s, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "demo" || s.Runner.Kind != RunnerCPU || s.Repetitions != 12 || s.Timeouts.Rep != 5*time.Second ||
		s.Timeouts.Load != DefaultTimeouts.Load || s.Warmup.Window != 3 || s.NewTokens != 8 {
		t.Errorf("parsed %+v", s)
	}
	if len(s.Grids) != 2 || s.Grids[0].SeqLen[1] != 1024 || s.Grids[1].Phase[0] != "generate" || s.Grids[1].Variant[1] != "small" {
		t.Errorf("grids %+v", s.Grids)
	}
	if g := s.Grids[0]; g.Batch[0] != 1 || g.Profile[0] != "reference" || g.DType[0] != "fp32" || g.MemoryCap[0] != 0 {
		t.Errorf("defaults %+v", g)
	}
	if m := s.ModelFor("small"); m.Config != "mmmamba-linear-tiny" || m.Seed != 7 {
		t.Errorf("model %+v", m)
	}
	if m := s.ModelFor("hovle-tiny"); m.Config != "hovle-tiny" || m.Weights != "random" {
		t.Errorf("default model %+v", m)
	}
	if got := s.MaxSeqLen("small"); got != 1024 {
		t.Errorf("MaxSeqLen(small) = %d", got)
	}
}

// Each bad spec must fail naming the file, the line and the field.
func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the error, "file:line: field" first
	}{
		{"not yaml", "name: [", []string{"bad.yaml:1", "not valid YAML"}},
		{"empty", "", []string{"bad.yaml", "empty"}},
		{"unknown top field", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\nrepetition: 3\n",
			[]string{"bad.yaml:4: repetition: unknown field"}},
		{"unknown variant", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny, mamba-xl]\n  seq_len: [1]\n  phase: [decode]\n",
			[]string{"bad.yaml:4: variant: unknown variant \"mamba-xl\""}},
		{"bad phase", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny]\n  seq_len: [1]\n  phase: [decode, train]\n",
			[]string{"bad.yaml:6: axes.phase[1]: \"train\" is not one of"}},
		{"bad seq_len", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny]\n  seq_len: [1K, lots]\n  phase: [decode]\n",
			[]string{"bad.yaml:5: axes.seq_len[1]"}},
		{"zero batch", "name: x\nrunner: cpu\naxes:\n  variant: [hovle-tiny]\n  seq_len: [8]\n  batch: [0]\n  phase: [decode]\n",
			[]string{"bad.yaml:6: axes.batch[0]: must be >= 1"}},
		{"bad runner", "name: x\nrunner: gpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\n",
			[]string{"bad.yaml:2: runner.kind: \"gpu\" is not cpu, torch or command"}},
		{"command without argv", "name: x\nrunner: {kind: command}\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\n",
			[]string{"bad.yaml:2: runner.command: required"}},
		{"missing axes", "name: x\nrunner: cpu\n", []string{"bad.yaml:1: axes: required"}},
		{"missing phase", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1]}\n", []string{"axes.phase: required"}},
		{"bad duration", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\ntimeouts: {rep: soon}\n",
			[]string{"bad.yaml:4: timeouts.rep: must be a positive duration"}},
		{"warmup max below min", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\nwarmup: {min: 5, max: 2}\n",
			[]string{"warmup.max: 2 is below warmup.min 5"}},
		{"bad cap", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode], memory_cap: [24 gigs]}\n",
			[]string{"bad.yaml:3: axes.memory_cap[0]"}},
		{"bad model config", "name: x\nrunner: cpu\nmodels:\n  m: {config: no-such-model}\naxes: {variant: [m], seq_len: [1], phase: [decode]}\n",
			[]string{"bad.yaml:4: models.m.config"}},
		{"bad name", "name: my run\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\n",
			[]string{"bad.yaml:1: name"}},
		{"grid field", "name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1], phase: [decode]}\ngrids:\n  - {phases: [decode]}\n",
			[]string{"bad.yaml:5: grids[0].phases: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not spec.Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	src := "name: x\nrunner: cpu\naxes:\n  variant: [nope]\n  seq_len: [-1]\n  phase: [train]\nrepetitions: 0\n"
	_, err := Parse("m.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
}

func TestShippedSpecsParse(t *testing.T) {
	files, _ := filepath.Glob("../../specs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no shipped specs found")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseBytesAndCount(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "24GiB": 24 << 30, "512MiB": 512 << 20, "1.5GB": 1_500_000_000, "100": 100} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v", in, got, err)
		}
	}
	for in, want := range map[string]int64{"4096": 4096, "4K": 4096, "103K": 105472, "128k": 131072, "1M": 1 << 20} {
		if got, err := ParseCount(in); err != nil || got != want {
			t.Errorf("ParseCount(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseBytes("-1GiB"); err == nil {
		t.Error("negative size accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	files, _ := filepath.Glob("../../specs/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [1K], phase: [decode]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty spec.Errors: %v", err)
			}
			for _, e := range es {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error does not name the file: %v", e)
				}
			}
			return
		}
		if s.Name == "" || len(s.Grids) == 0 || s.Repetitions < 1 {
			t.Fatalf("accepted an incomplete spec: %+v", s)
		}
		for _, g := range s.Grids {
			if len(g.Variant) == 0 || len(g.SeqLen) == 0 || len(g.Phase) == 0 || len(g.Batch) == 0 {
				t.Fatalf("accepted a grid with an empty axis: %+v", g)
			}
		}
	})
}

func TestGridOverrides(t *testing.T) {
	src := "name: x\nrunner: cpu\nrepetitions: 10\naxes: {variant: [hovle-tiny], seq_len: [8], phase: [decode]}\ngrids:\n  - {}\n  - {phase: [generate], repetitions: 3, warmup: {min: 1, max: 1}}\n"
	s, err := Parse("g.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Grids[0].Repetitions != 0 || s.Grids[1].Repetitions != 3 || s.Grids[1].Warmup.Max != 1 || s.Grids[1].Warmup.Window != DefaultWarmup.Window {
		t.Errorf("grids %+v %+v", s.Grids[1], s.Grids[1].Warmup)
	}
	if _, err := Parse("g.yaml", []byte("name: x\nrunner: cpu\naxes: {variant: [hovle-tiny], seq_len: [8], phase: [decode], repetitions: 3}\n")); err == nil {
		t.Error("repetitions accepted in the base axes")
	}
}
