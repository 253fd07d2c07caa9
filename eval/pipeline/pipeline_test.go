package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/cpu"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// localRunner speaks the protocol with the CPU runner's Serve in this
// process, over pipes.
type localRunner struct {
	enc   *protocol.Encoder
	dec   *protocol.Decoder
	in    *io.PipeWriter
	hello *protocol.Message
	calls int
}

func startLocal(t *testing.T, variant string) *localRunner {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() {
		err := cpu.Serve(inR, outW)
		outW.CloseWithError(errors.Join(err, io.EOF))
	}()
	l := &localRunner{enc: protocol.NewEncoder(inW), dec: protocol.NewDecoder(outR), in: inW}
	t.Cleanup(func() { inW.Close() })
	var err error
	if l.hello, err = l.dec.Decode(); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Builtin(variant)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.enc.Encode(&protocol.Message{Type: protocol.TypeLoad, ID: "load", Load: &protocol.LoadRequest{
		Variant: variant, Config: cfg.Raw, Weights: protocol.Weights{Kind: "random", Seed: 1}, DType: "fp32", Profile: "reference"}}); err != nil {
		t.Fatal(err)
	}
	if m, err := l.dec.Decode(); err != nil || m.Type != protocol.TypeLoaded {
		t.Fatalf("load: %+v %v", m, err)
	}
	return l
}

func (l *localRunner) Infer(ctx context.Context, req *protocol.InferRequest) (*protocol.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.calls++
	if err := l.enc.Encode(&protocol.Message{Type: protocol.TypeInfer, ID: "i", Infer: req}); err != nil {
		return nil, err
	}
	m, err := l.dec.Decode()
	if err != nil {
		return nil, err
	}
	if m.Type == protocol.TypeError {
		return m, &protocol.RunnerError{Status: m.Status, Message: m.Message}
	}
	return m, nil
}

// interrupt cancels the run when the runner is asked the (after+1)th
// time, as Ctrl-C during a request would.
type interrupt struct {
	r      Runner
	after  int
	n      int
	cancel context.CancelFunc
}

func (i *interrupt) Infer(ctx context.Context, req *protocol.InferRequest) (*protocol.Message, error) {
	i.n++
	if i.n > i.after {
		i.cancel()
		return nil, ctx.Err()
	}
	return i.r.Infer(ctx, req)
}

func fixtures(t *testing.T) *datasets.Registry {
	t.Helper()
	reg, err := datasets.LoadRegistry(filepath.Join("..", "..", "datasets", "testdata", "registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func tinyOptions(t *testing.T, out string, benches ...string) (Options, *configs.Model) {
	cfg, err := configs.Builtin("mmmamba-linear-tiny")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Benches: benches, Variant: "mmmamba-linear-tiny", Model: spec.Model{Config: "mmmamba-linear-tiny", Weights: "random", Seed: 1},
		Registry: fixtures(t), Out: out, MaxNewTokens: 6, Limit: 8, Version: "test"}, cfg
}

func TestLimitKeepsGroups(t *testing.T) {
	reg := fixtures(t)
	for _, tc := range []struct {
		bench string
		n     int
		want  int
	}{
		{datasets.MMBench, 1, 4}, // question 0 and its three circular passes
		{datasets.MMBench, 5, 7}, // + question 1's three rows
		{datasets.MME, 1, 2},     // both questions of the first image
		{datasets.MME, 3, 4},
		{datasets.POPE, 5, 5},
		{datasets.POPE, 0, 12},
	} {
		e, _ := reg.Entry(tc.bench)
		ds, err := datasets.Load(tc.bench, e)
		if err != nil {
			t.Fatal(err)
		}
		if got := limit(ds, tc.n); len(got.Items) != tc.want {
			t.Errorf("%s limit %d: %d items, want %d", tc.bench, tc.n, len(got.Items), tc.want)
		}
	}
}

// TestInterruptResumeScore runs three benchmarks through the CPU runner,
// interrupts the run, tears the last line, resumes, and checks that every
// item was answered exactly once and scored.
func TestInterruptResumeScore(t *testing.T) {
	out := t.TempDir()
	o, cfg := tinyOptions(t, out, datasets.POPE, datasets.MME, datasets.MMBench)
	plan, err := NewPlan(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, j := range plan.Jobs {
		total += len(j.Data.Items)
	}
	if plan.Pending() != total || total != 8+8+9 {
		t.Fatalf("%d pending of %d items", plan.Pending(), total)
	}
	if n := plan.MaxSeqLen(); n < 7*TokensPerTile(cfg)+6 || n > 4096 {
		t.Errorf("max seq len %d", n)
	}
	local := startLocal(t, "mmmamba-linear-tiny")
	ctx, cancel := context.WithCancel(context.Background())
	err = plan.Execute(ctx, &interrupt{r: local, after: 5, cancel: cancel}, NewRunnerInfo(local.hello, nil, "reference", "fp32"), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	pope := filepath.Join(out, "pope", "predictions.jsonl")
	f, err := datasets.ReadEvalFile(pope)
	if err != nil || len(f.Records) != 5 || f.Torn != 0 {
		t.Fatalf("after the interrupt: %v, %+v", err, f)
	}
	// A write torn by a crash.
	fh, _ := os.OpenFile(pope, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"item_id":"6","bench":"po`)
	fh.Close()

	if _, err := NewPlan(o, cfg); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("a second run without --resume: %v", err)
	}
	o.Resume = true
	bad := o
	bad.MaxNewTokens = 7
	if _, err := NewPlan(bad, cfg); err == nil || !strings.Contains(err.Error(), "max_new_tokens: 6 then, 7 now") {
		t.Fatalf("resume with other settings: %v", err)
	}
	plan, err = NewPlan(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Pending() != total-5 {
		t.Fatalf("resume has %d pending, want %d", plan.Pending(), total-5)
	}
	var seen []string
	progress := func(b string, done, n int) { seen = append(seen, b) }
	calls := local.calls
	if err := plan.Execute(context.Background(), local, NewRunnerInfo(local.hello, nil, "reference", "fp32"), progress); err != nil {
		t.Fatal(err)
	}
	if local.calls-calls != total-5 || len(seen) != total-5+3 {
		t.Errorf("resume asked %d items (progress %d), want %d", local.calls-calls, len(seen), total-5)
	}
	for _, j := range plan.Jobs {
		f, err := datasets.ReadEvalFile(j.Predictions())
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Records) != len(j.Data.Items) || len(f.Answered()) != len(j.Data.Items) || f.Torn != 0 {
			t.Errorf("%s: %d records, %d answered, torn %d; want each of %d items once", j.Bench, len(f.Records), len(f.Answered()), f.Torn, len(j.Data.Items))
		}
		for _, r := range f.Records {
			if r.GeneratedTokens < 1 || r.GeneratedTokens > 6 || r.PromptTokens <= r.ImageTokens || r.ImageTokens != TokensPerTile(cfg)*sum(r.Tiles) || r.LatencyMS <= 0 {
				t.Errorf("%s record %+v", j.Bench, r)
			}
		}
	}
	results, err := plan.Score()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		h := r.Headline
		if r.Bench == datasets.MME {
			// 8 items cover 2 of MME's 14 subtasks: no perception total,
			// but each subtask has its score.
			h, _ = r.Find(eval.ScopeSubtask, "OCR", "score_pts")
		}
		if r.Items != 8+map[string]int{"mmbench": 1}[r.Bench] || r.Missing != 0 || math.IsNaN(h.Value) {
			t.Errorf("%s: items %d missing %d headline %v", r.Bench, r.Items, r.Missing, h)
		}
	}
	if results[0].Rules != "internvl" || results[1].Rules != "vlmevalkit-2502" {
		t.Errorf("rules %s %s", results[0].Rules, results[1].Rules)
	}
	rows, err := parquet.ReadFile[eval.ScoreRow](filepath.Join(out, "scores.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	benches := map[string]int{}
	for _, r := range rows {
		benches[r.Bench]++
		if r.Variant != "mmmamba-linear-tiny" {
			t.Fatalf("row %+v lacks the variant", r)
		}
	}
	if len(benches) != 3 {
		t.Errorf("combined parquet has benches %v", benches)
	}
	var m Manifest
	data, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	pr := m.Benches["pope"]
	if len(pr.Runs) != 2 || !pr.Runs[0].Interrupted || pr.Runs[0].Answered != 5 || pr.Runs[1].ResumedAfter != 5 || pr.Headline == nil || pr.MaxNum != 6 {
		t.Errorf("manifest pope entry %+v", pr)
	}
	if m.Runner == nil || m.Runner.Name != cpu.RunnerName || m.Settings.TokensPerTile != 4 || m.Settings.TileSize != 56 || !strings.HasPrefix(pr.Runs[1].Runner, "cpu-ref") {
		t.Errorf("manifest runner %+v settings %+v", m.Runner, m.Settings)
	}
	// Nothing left to ask: a resumed plan is empty, and scoring again
	// gives the same numbers.
	again, err := NewPlan(o, cfg)
	if err != nil || again.Pending() != 0 {
		t.Fatalf("third plan: %v, %d pending", err, again.Pending())
	}
	res2, err := again.Score()
	if err != nil || res2[0].Headline.Value != results[0].Headline.Value {
		t.Errorf("rescoring: %v", err)
	}
	var buf strings.Builder
	if err := eval.WriteComparison(&buf, o.Variant, results); err != nil || !strings.Contains(buf.String(), "Table 1 mmMamba-linear") || !strings.Contains(buf.String(), "85.2") {
		t.Errorf("comparison (%v):\n%s", err, buf.String())
	}
}

// scripted is a runner stub: it fails the items whose prompt contains
// failOn, and otherwise answers "Yes" with the image tokens it is told.
type scripted struct {
	failOn    string
	status    string
	perTile   int
	badTokens bool
}

func (s *scripted) Infer(ctx context.Context, req *protocol.InferRequest) (*protocol.Message, error) {
	tiles := 0
	text := ""
	for _, seg := range req.Segments {
		text += seg.Text
		if seg.Image != nil {
			tiles += seg.Image.Tiles
			if _, err := os.Stat(seg.Image.Path); err != nil {
				return nil, err
			}
		}
	}
	if s.failOn != "" && strings.Contains(text, s.failOn) {
		return nil, &protocol.RunnerError{Status: s.status, Message: "boom"}
	}
	n := s.perTile * tiles
	if s.badTokens {
		n++
	}
	return &protocol.Message{Type: protocol.TypeOutput, Output: &protocol.Output{Text: "  Yes\n", PromptTokens: 10 + n, ImageTokens: n, GeneratedTokens: 2, StopReason: protocol.StopString},
		Metrics: map[string]float64{"latency_ms": 2, "prefill_ms": 1}}, nil
}

func TestRunnerFailures(t *testing.T) {
	t.Run("error records are retried on resume", func(t *testing.T) {
		out := t.TempDir()
		o, cfg := tinyOptions(t, out, datasets.POPE)
		plan, _ := NewPlan(o, cfg)
		if err := plan.Execute(context.Background(), &scripted{failOn: "cat", status: protocol.StatusOOM, perTile: 4}, nil, nil); err != nil {
			t.Fatal(err)
		}
		res, err := plan.Score()
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Missing != 2 || !strings.Contains(strings.Join(res[0].Notes, "\n"), "2 items failed in the runner") {
			t.Errorf("missing %d, notes %q", res[0].Missing, res[0].Notes)
		}
		f, _ := datasets.ReadEvalFile(filepath.Join(out, "pope", "predictions.jsonl"))
		if f.Records[0].Text != "Yes" || f.Records[0].Metrics["prefill_ms"] != 1 || f.Records[1].Error != "oom: boom" {
			t.Errorf("records %+v %+v", f.Records[0], f.Records[1])
		}
		o.Resume = true
		plan, _ = NewPlan(o, cfg)
		if plan.Pending() != 2 {
			t.Fatalf("resume pending %d, want the 2 failed items", plan.Pending())
		}
		if err := plan.Execute(context.Background(), &scripted{perTile: 4}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if res, _ := plan.Score(); res[0].Missing != 0 {
			t.Errorf("after the retry: missing %d", res[0].Missing)
		}
	})
	for _, tc := range []struct {
		name string
		r    Runner
		want string
	}{
		{"unsupported stops the run", &scripted{failOn: "dog", status: protocol.StatusUnsupported, perTile: 4}, "unsupported: boom"},
		{"image token count is checked", &scripted{perTile: 4, badTokens: true}, "image tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, cfg := tinyOptions(t, t.TempDir(), datasets.POPE)
			plan, _ := NewPlan(o, cfg)
			if err := plan.Execute(context.Background(), tc.r, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if ents, _ := filepath.Glob(filepath.Join(o.Out, ".pixels-*", "*")); len(ents) != 0 {
				t.Errorf("pixel files left behind: %v", ents)
			}
		})
	}
}

func TestPlanInputErrors(t *testing.T) {
	cfg, _ := configs.Builtin("hovle-tiny")
	reg := fixtures(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no bench", Options{Out: "x", Registry: reg}, "no benchmark"},
		{"data for two", Options{Benches: []string{"pope", "mme"}, Data: "x", Out: "x"}, "one benchmark"},
		{"rules", Options{Benches: []string{"mmbench"}, Rules: "internvl", Out: t.TempDir(), Registry: reg}, "do not apply"},
		{"no data", Options{Benches: []string{"pope"}, Out: t.TempDir()}, "no data"},
		{"missing data", Options{Benches: []string{"pope"}, Data: "/nonexistent/pope", Out: t.TempDir()}, "nonexistent"},
		{"twice", Options{Benches: []string{"pope", "pope"}, Out: t.TempDir(), Registry: reg}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.o, cfg)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want an InputError with %q", err, tc.want)
			}
		})
	}
}

func TestMissingImagesBeforeTheRunner(t *testing.T) {
	dir := t.TempDir()
	pope, _ := filepath.Abs(filepath.Join("..", "..", "datasets", "testdata", "pope"))
	reg, err := datasets.ParseRegistry(filepath.Join(dir, "r.yaml"), []byte("datasets:\n  pope: {path: "+
		filepath.Join(pope, "coco")+", questions: "+filepath.Join(pope, "llava_pope_test.jsonl")+", images: "+dir+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := configs.Builtin("hovle-tiny")
	_, err = NewPlan(Options{Benches: []string{"pope"}, Variant: "hovle-tiny", Registry: reg, Out: t.TempDir()}, cfg)
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "12 images of the items to ask cannot be read") || !strings.Contains(err.Error(), "COCO_val2014_000000000100.jpg") {
		t.Fatalf("err = %v", err)
	}
}
