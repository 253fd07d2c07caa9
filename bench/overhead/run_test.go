package overhead

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/bench/telemetry"
	"github.com/ssmbench/ssmbench/bench/telemetry/nvmlfake"
	"github.com/ssmbench/ssmbench/runners/fake"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The test binary doubles as the fake runner: the runner command of
// fakeSpec is this binary with SSMBENCH_FAKE_RUNNER set.
func TestMain(m *testing.M) {
	fake.ServeIfRequested()
	os.Exit(m.Run())
}

func fakeSpec(t *testing.T, script string) *spec.Spec {
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
axes:
  variant: [mmmamba-linear-tiny, hovle-tiny]
  seq_len: [128]
  phase: [prefill, decode]
warmup: {min: 1, max: 8, window: 3, cv: 0.05}
repetitions: 6
timeouts: {start: 20s, load: 20s, cell: 20s, rep: 20s}
output: %q
`, exe, script, t.TempDir())
	s, err := spec.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPickCell(t *testing.T) {
	plan := engine.Plan(fakeSpec(t, ""))
	c, err := PickCell(plan, -1)
	if err != nil || c.Phase != "decode" {
		t.Fatalf("default cell %v (%v), want the first decode cell", c, err)
	}
	for i, p := range plan {
		if p.Phase == "decode" {
			if c.Index != i {
				t.Errorf("picked cell %d, the first decode cell is %d", c.Index, i)
			}
			break
		}
	}
	if c, err := PickCell(plan, 0); err != nil || c.Index != 0 {
		t.Errorf("--cell 0: %v, %v", c, err)
	}
	if _, err := PickCell(plan, len(plan)); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index past the plan: %v", err)
	}
	var prefill []engine.Cell
	for _, p := range plan {
		if p.Phase != "decode" {
			prefill = append(prefill, p)
		}
	}
	if _, err := PickCell(prefill, -1); err == nil || !strings.Contains(err.Error(), "no decode cell") {
		t.Errorf("no decode cell: %v", err)
	}
}

// An end-to-end experiment against the fake runner, with the fake NVML so
// that the sessions really run.
func TestRunFakeRunner(t *testing.T) {
	s := fakeSpec(t, "")
	c, err := PickCell(engine.Plan(s), -1)
	if err != nil {
		t.Fatal(err)
	}
	dev := 0
	var log, progress bytes.Buffer
	res, err := Run(context.Background(), s, engine.Options{}, c, Options{
		Reps: 6, Rounds: 3, Telemetry: telemetry.Options{Lib: nvmlfake.New(2)}, Device: &dev,
		Log: &log, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\nrunner log:\n%s", err, log.String())
	}
	if !res.Sampled || res.Device == nil || *res.Device != 0 || len(res.Warnings) != 0 {
		t.Errorf("sampled %v device %v warnings %q", res.Sampled, res.Device, res.Warnings)
	}
	if res.Runner.Hello == nil || res.Runner.Hello.Runner.Name != "fake" || res.Runner.Ready == nil || res.Runner.Result == nil || res.Runner.PID == 0 {
		t.Errorf("runner info incomplete: %+v", res.Runner)
	}
	if !res.GPU.Available || len(res.GPU.Devices) != 2 {
		t.Errorf("GPU environment %+v", res.GPU)
	}
	if res.WarmupReps < 3 || res.RepsPerRound != 2 || res.Cell.Phase != "decode" || res.Cell.ID != c.ID {
		t.Errorf("warm-up %d, per round %d, cell %+v", res.WarmupReps, res.RepsPerRound, res.Cell)
	}

	// The repetitions: 3 rounds x 3 arms x 2, each round led by the next arm.
	if len(res.Repetitions) != 18 {
		t.Fatalf("%d repetitions, want 18", len(res.Repetitions))
	}
	for i, r := range res.Repetitions {
		round, turn := i/6, (i%6)/2
		want := RoundOrder(res.Arms, round)[turn]
		if r.Arm != want.Name || r.Hz != want.Hz || int(r.Round) != round || int(r.Rep) != i%2 || int(r.Seq) != i ||
			r.Sampled != (want.Hz > 0) || r.LatencyMs <= 0 || r.At.IsZero() {
			t.Errorf("repetition %d: %+v, want arm %s round %d rep %d", i, r, want.Name, round, i%2)
		}
	}
	if n := strings.Count(progress.String(), "\n"); n != 3 || !strings.Contains(progress.String(), "round 3/3") {
		t.Errorf("progress:\n%s", progress.String())
	}

	// The sessions: one per rate and round, each with its boundary samples.
	if len(res.Sessions) != 6 {
		t.Fatalf("%d sessions, want 6", len(res.Sessions))
	}
	for _, ss := range res.Sessions {
		g := ss.Aggregate
		if g.TelemetrySamples == nil || *g.TelemetrySamples < 4 || g.TelemetryHzTarget == nil || ArmName(*g.TelemetryHzTarget) != ss.Arm ||
			g.TelemetryReadUsMean == nil || g.EnergyJ == nil || g.TelemetryWindowTokens == nil || *g.TelemetryWindowTokens != 2 || ss.DurationS <= 0 {
			t.Errorf("session %s round %d: %+v (%.3fs)", ss.Arm, ss.Round, g, ss.DurationS)
		}
	}
	if len(res.Telemetry) < 6*4 {
		t.Errorf("%d telemetry samples", len(res.Telemetry))
	}

	sum := res.Summary
	if len(sum.Arms) != 3 || len(sum.Comparisons) != 2 {
		t.Fatalf("summary: %d arms, %d comparisons", len(sum.Arms), len(sum.Comparisons))
	}
	for _, a := range sum.Arms {
		if a.N != 6 || a.MedianMs < 1 || a.MedianMs > 1.03 {
			t.Errorf("arm %s: n %d median %v", a.Arm, a.N, a.MedianMs)
		}
		if (a.Hz > 0) != (a.Sessions == 3) || (a.Hz > 0) != (a.ReadUsMean != nil) {
			t.Errorf("arm %s: %d sessions, read µs %v", a.Arm, a.Sessions, a.ReadUsMean)
		}
	}
	for _, cmp := range sum.Comparisons {
		if !cmp.Sampled || (cmp.Verdict != Pass && cmp.Verdict != Fail) || cmp.Reason == "" {
			t.Errorf("comparison %+v", cmp)
		}
	}

	// Files.
	dir := filepath.Join(t.TempDir(), "out")
	if err := res.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	rows, err := results.ReadParquet[Rep](filepath.Join(dir, RepsFile))
	if err != nil || len(rows) != 18 || rows[5].Arm != res.Repetitions[5].Arm || rows[5].LatencyMs != res.Repetitions[5].LatencyMs {
		t.Errorf("overhead.parquet: %d rows, %v", len(rows), err)
	}
	if ts, err := results.ReadParquet[telemetry.Sample](filepath.Join(dir, TelemetryFile)); err != nil || len(ts) != len(res.Telemetry) {
		t.Errorf("telemetry.parquet: %d samples, %v", len(ts), err)
	}
	var back Result
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary.Comparisons[0].PValue != sum.Comparisons[0].PValue || back.Cell.ID != c.ID || back.Runner.Hello.Runner.Name != "fake" || !back.GPU.Available {
		t.Errorf("overhead.json does not hold the result: %s", data)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1000 Hz", "runner fake test", "rule: PASS iff"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// Without NVML the arms still run, unsampled, and the result says so.
func TestRunWithoutNVML(t *testing.T) {
	s := fakeSpec(t, "")
	c, err := PickCell(engine.Plan(s), -1)
	if err != nil {
		t.Fatal(err)
	}
	lib := nvmlfake.New(1)
	lib.FailInit(nvml.ERROR_LIBRARY_NOT_FOUND)
	res, err := Run(context.Background(), s, engine.Options{}, c, Options{Reps: 4, Rounds: 2, Rates: []float64{100}, Telemetry: telemetry.Options{Lib: lib}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sampled || len(res.Sessions) != 0 || len(res.Telemetry) != 0 || len(res.Repetitions) != 8 || res.GPU.Available {
		t.Errorf("sampled %v, %d sessions, %d reps, GPU %+v", res.Sampled, len(res.Sessions), len(res.Repetitions), res.GPU)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "libnvidia-ml.so.1 not found") || !strings.Contains(res.Warnings[0], "sampler off") {
		t.Errorf("warnings %q", res.Warnings)
	}
	for _, r := range res.Repetitions {
		if r.Sampled {
			t.Errorf("repetition %+v marked sampled", r)
		}
	}
	if c := res.Summary.Comparisons[0]; c.Sampled {
		t.Errorf("comparison %+v marked sampled", c)
	}
	// An unsampled FAIL decides nothing.
	res.Summary.Comparisons[0].Verdict = Fail
	if f := res.Failed([]float64{100}); len(f) != 0 {
		t.Errorf("unsampled arm failed the gate: %+v", f)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "(not sampled)") || !strings.Contains(table.String(), "warning: no GPU telemetry") {
		t.Errorf("table:\n%s", table.String())
	}
}

// A device NVML cannot open leaves the arms unsampled, with the reason
// (after one try: later rounds do not begin sessions).
func TestRunNoSuchDevice(t *testing.T) {
	s := fakeSpec(t, "")
	c, _ := PickCell(engine.Plan(s), -1)
	dev := 5
	res, err := Run(context.Background(), s, engine.Options{}, c, Options{Reps: 2, Rounds: 2, Rates: []float64{100}, Device: &dev,
		Telemetry: telemetry.Options{Lib: nvmlfake.New(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sampled || res.Summary.Comparisons[0].Sampled || len(res.Sessions) != 1 || res.Repetitions[0].Sampled || res.Repetitions[3].Sampled {
		t.Errorf("sampled %v, comparison %+v, %d sessions", res.Sampled, res.Summary.Comparisons[0], len(res.Sessions))
	}
	if w := res.Summary.Arms[1].Warnings; len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "GPU 5") {
		t.Errorf("arm warnings %q", w)
	}
}

// A CPU runner (the fake's hello says kind "cpu") is not sampled even with NVML.
func TestRunCPUDevice(t *testing.T) {
	s := fakeSpec(t, "")
	c, _ := PickCell(engine.Plan(s), -1)
	res, err := Run(context.Background(), s, engine.Options{}, c, Options{Reps: 2, Rounds: 1, Rates: []float64{100}, Telemetry: telemetry.Options{Lib: nvmlfake.New(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sampled || len(res.Sessions) != 0 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `device kind "cpu"`) {
		t.Errorf("sampled %v, sessions %d, warnings %q", res.Sampled, len(res.Sessions), res.Warnings)
	}
}

// Runner failures end the experiment with an error that names the cell.
func TestRunRunnerFailures(t *testing.T) {
	cases := []struct{ name, script, want string }{
		{"oom at the cell", "oom=1", "oom"},
		{"crash", "crash=1", "exit status 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeSpec(t, tc.script)
			c, _ := PickCell(engine.Plan(s), -1)
			_, err := Run(context.Background(), s, engine.Options{}, c, Options{Reps: 2, Rounds: 1, Telemetry: telemetry.Options{Lib: nvmlfake.New(1)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cell ") {
				t.Errorf("err = %v, want one naming the cell and %q", err, tc.want)
			}
		})
	}
	t.Run("bad options", func(t *testing.T) {
		s := fakeSpec(t, "")
		c, _ := PickCell(engine.Plan(s), -1)
		for _, o := range []Options{{Reps: -1}, {Rounds: -2}, {Rates: []float64{0}}, {Telemetry: telemetry.Options{SlowEvery: -1}}} {
			if _, err := Run(context.Background(), s, engine.Options{}, c, o); err == nil {
				t.Errorf("options %+v accepted", o)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		s := fakeSpec(t, "")
		c, _ := PickCell(engine.Plan(s), -1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Run(ctx, s, engine.Options{}, c, Options{Reps: 2, Rounds: 1, Telemetry: telemetry.Options{Lib: nvmlfake.New(1)}}); err == nil {
			t.Error("a cancelled context ran")
		}
	})
}

// The table of a fixed result, against testdata/table.golden.
func TestWriteTableGolden(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	arms, _ := Arms([]float64{100, 1000})
	data := []ArmData{
		{Arm: arms[0], LatencyMs: synth(1, 20, 6.9, 0.001)},
		{Arm: arms[1], LatencyMs: synth(2, 20, 6.9*1.0005, 0.001), Sampled: true,
			Sessions: []SessionStat{{Aggregate: telemetry.Aggregate{TelemetrySamples: i(20), TelemetryHzAchieved: f(99.5), TelemetryReadUsMean: f(41.25)}, DurationS: 0.2}}},
		{Arm: arms[2], LatencyMs: synth(3, 20, 6.9*1.012, 0.001), Sampled: true,
			Sessions: []SessionStat{{Aggregate: telemetry.Aggregate{TelemetrySamples: i(200), TelemetryHzAchieved: f(970), TelemetryReadUsMean: f(44.5)}, DurationS: 0.2}}},
	}
	sum, err := Analyze(data, DefaultThresholdPct, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	dev := 0
	res := &Result{
		Cell: CellInfo{Index: 3, Phase: "decode", Variant: "mmmamba-hybrid", SeqLen: 105472, Batch: 1, Profile: "paper", DType: "bf16"},
		Runner: RunnerInfo{Hello: &protocol.Message{Runner: &protocol.RunnerInfo{Name: "torch", Version: "0.1.0"},
			Device: &protocol.DeviceInfo{Kind: "cuda", Name: "NVIDIA H200"}}},
		Device: &dev, Sampled: true, Arms: arms, Reps: 20, Rounds: 5, RepsPerRound: 4, WarmupReps: 7, WarmupStable: true,
		Summary: sum, StartedAt: time.Unix(0, 0).UTC(), EndedAt: time.Unix(30, 0).UTC(),
	}
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s (go test -update to rewrite):\n%s", golden, b.String())
	}
	if f := res.Failed([]float64{100}); len(f) != 0 {
		t.Errorf("100 Hz failed: %+v", f)
	}
	if f := res.Failed([]float64{100, 1000}); len(f) != 1 || f[0].Hz != 1000 {
		t.Errorf("gating 1000 Hz: %+v", f)
	}
}
