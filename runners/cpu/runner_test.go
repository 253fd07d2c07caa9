package cpu

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// session drives Serve through io.Pipe with protocol messages.
type session struct {
	t    *testing.T
	enc  *protocol.Encoder
	dec  *protocol.Decoder
	in   *io.PipeWriter
	done chan error
}

func startSession(t *testing.T) (*session, *protocol.Message) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, enc: protocol.NewEncoder(inW), dec: protocol.NewDecoder(outR), in: inW, done: make(chan error, 1)}
	go func() {
		err := Serve(inR, outW)
		outW.CloseWithError(io.EOF)
		s.done <- err
	}()
	hello, err := s.dec.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return s, hello
}

func (s *session) call(m *protocol.Message) *protocol.Message {
	s.t.Helper()
	if err := s.enc.Encode(m); err != nil {
		s.t.Fatal(err)
	}
	reply, err := s.dec.Decode()
	if err != nil {
		s.t.Fatal(err)
	}
	return reply
}

func loadMsg(t *testing.T, variant, dtype, profile string) *protocol.Message {
	cfg, err := configs.Builtin(variant)
	if err != nil {
		t.Fatal(err)
	}
	return &protocol.Message{Type: protocol.TypeLoad, ID: "load-" + variant, Load: &protocol.LoadRequest{
		Variant: variant, Config: json.RawMessage(cfg.Raw), Weights: protocol.Weights{Kind: "random", Seed: 1},
		DType: dtype, Profile: profile, MaxSeqLen: 4096,
	}}
}

func TestServeEndToEnd(t *testing.T) {
	s, hello := startSession(t)
	if hello.Type != protocol.TypeHello || hello.Protocol != protocol.Version || hello.Runner.Name != RunnerName {
		t.Fatalf("hello = %+v", hello)
	}
	if hello.Device.Kind != "cpu" || hello.Device.Cores < 1 || hello.Device.Name == "" {
		t.Errorf("device = %+v", hello.Device)
	}
	caps := hello.Capabilities
	if strings.Join(caps.Phases, ",") != "prefill,decode,generate" || strings.Join(caps.Profiles, ",") != "reference" ||
		strings.Join(caps.DTypes, ",") != "fp32" || strings.Join(caps.CacheFill, ",") != "prefill,synthetic" {
		t.Errorf("capabilities = %+v", caps)
	}
	if !strings.HasPrefix(hello.Env["go"], "go") {
		t.Errorf("env = %v", hello.Env)
	}

	// Unsupported dtype and profile.
	for _, tc := range []struct{ dtype, profile, want string }{
		{"bf16", "reference", "dtype"},
		{"fp32", "paper", "profile"},
	} {
		r := s.call(loadMsg(t, "hovle-tiny", tc.dtype, tc.profile))
		if r.Type != protocol.TypeError || r.Status != protocol.StatusUnsupported || !strings.Contains(r.Message, tc.want) {
			t.Errorf("load %s/%s: %+v", tc.dtype, tc.profile, r)
		}
	}

	for _, variant := range tinyVariants {
		r := s.call(loadMsg(t, variant, "fp32", "reference"))
		if r.Type != protocol.TypeLoaded || r.ID != "load-"+variant || r.Metrics["weight_bytes"] <= 0 || r.Metrics["param_count"] <= 0 {
			t.Fatalf("load %s: %+v", variant, r)
		}
		cfg, _ := configs.Builtin(variant)
		for _, tc := range []struct {
			name     string
			cell     protocol.CellRequest
			fill     string
			ctx      int
			generate bool
		}{
			{"decode auto short", protocol.CellRequest{Phase: "decode", SeqLen: 200, Batch: 1, CacheFill: "auto", Seed: 1}, "prefill", 200, false},
			{"decode auto long", protocol.CellRequest{Phase: "decode", SeqLen: 1500, Batch: 2, CacheFill: "auto", Seed: 1}, "synthetic", 1500, false},
			{"decode forced prefill", protocol.CellRequest{Phase: "decode", SeqLen: 600, Batch: 1, CacheFill: "prefill", Seed: 2}, "prefill", 600, false},
			{"prefill", protocol.CellRequest{Phase: "prefill", SeqLen: 150, Batch: 1, Seed: 1}, "none", 150, false},
			{"generate", protocol.CellRequest{Phase: "generate", SeqLen: 40, Batch: 2, NewTokens: 3, Seed: 1}, "none", 43, true},
		} {
			t.Run(variant+"/"+tc.name, func(t *testing.T) {
				cell := tc.cell
				id := "c-" + tc.name
				r := s.call(&protocol.Message{Type: protocol.TypeCell, ID: id, Cell: &cell})
				if r.Type != protocol.TypeReady || r.Info["cache_fill"] != tc.fill || r.Info["timer"] != "wall_monotonic" {
					t.Fatalf("cell: %+v", r)
				}
				wantKV := float64(cfg.KVBytesPerToken("fp32") * int64(tc.ctx*cell.Batch))
				wantState := float64(cfg.MambaStateBytes("fp32", "fp32") * int64(cell.Batch))
				if r.Metrics["kv_cache_bytes_analytic"] != wantKV || r.Metrics["state_bytes_analytic"] != wantState {
					t.Errorf("analytic sizes %v, want kv %v state %v", r.Metrics, wantKV, wantState)
				}
				for i := 0; i < 3; i++ {
					r = s.call(&protocol.Message{Type: protocol.TypeRep, ID: id, Index: i, Warmup: i == 0})
					if r.Type != protocol.TypeSample || r.Index != i || !(r.Metrics["latency_ms"] > 0) || !(r.Metrics["heap_peak_bytes"] > 0) {
						t.Fatalf("rep %d: %+v", i, r)
					}
					if tc.generate && (r.Metrics["tokens"] != float64(cell.NewTokens*cell.Batch) || !(r.Metrics["tokens_per_s"] > 0) ||
						!(r.Metrics["prefill_ms"] > 0) || !(r.Metrics["decode_ms_mean"] > 0)) {
						t.Errorf("generate metrics: %v", r.Metrics)
					}
				}
				r = s.call(&protocol.Message{Type: protocol.TypeEnd, ID: id})
				if r.Type != protocol.TypeResult {
					t.Fatalf("end: %+v", r)
				}
				wantBytes := float64(cfg.DecodeStepBytes("fp32", "fp32", cell.SeqLen, cell.Batch))
				if r.Metrics["bytes_moved_per_step_analytic"] != wantBytes || r.Metrics["weight_bytes"] <= 0 || r.Metrics["kv_cache_bytes_analytic"] != wantKV {
					t.Errorf("result metrics: %v", r.Metrics)
				}
			})
		}
	}

	// A bad cell is an error, and the runner takes the next cell.
	r := s.call(&protocol.Message{Type: protocol.TypeCell, ID: "bad", Cell: &protocol.CellRequest{Phase: "decode", SeqLen: 10, Batch: 1, CacheFill: "magic"}})
	if r.Type != protocol.TypeError || r.Status != protocol.StatusUnsupported || r.ID != "bad" {
		t.Errorf("bad cache_fill: %+v", r)
	}
	r = s.call(&protocol.Message{Type: protocol.TypeRep, ID: "bad", Index: 0})
	if r.Type != protocol.TypeError || !strings.Contains(r.Message, "no cell") {
		t.Errorf("rep without a cell: %+v", r)
	}
	r = s.call(&protocol.Message{Type: protocol.TypeCell, ID: "ok", Cell: &protocol.CellRequest{Phase: "prefill", SeqLen: 10, Batch: 1}})
	if r.Type != protocol.TypeReady {
		t.Errorf("cell after an error: %+v", r)
	}
	if r := s.call(&protocol.Message{Type: protocol.TypeShutdown}); r.Type != protocol.TypeBye {
		t.Errorf("shutdown: %+v", r)
	}
	if err := <-s.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// Every decode repetition measures the step at context seq_len: the state
// is rolled back, so repeated steps see the same state and give the same
// logits.
func TestDecodeRepRollsBack(t *testing.T) {
	for _, fill := range []string{"prefill", "synthetic"} {
		t.Run(fill, func(t *testing.T) {
			r := NewRunner()
			if _, _, err := r.Load(loadMsg(t, "mmmamba-hybrid-tiny", "fp32", "reference").Load); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.Cell(&protocol.CellRequest{Phase: "decode", SeqLen: 300, Batch: 1, CacheFill: fill, Seed: 4}); err != nil {
				t.Fatal(err)
			}
			st := r.cell.states[0]
			var first []float32
			for i := 0; i < 3; i++ {
				if _, err := r.Rep(i, false); err != nil {
					t.Fatal(err)
				}
				if st.Pos != 301 {
					t.Fatalf("rep %d left the state at %d, want 301", i, st.Pos)
				}
				if first == nil {
					first = append([]float32(nil), st.logits...)
				} else if maxRelDiff(st.logits, first) != 0 {
					t.Fatalf("rep %d gave different logits: the state was not rolled back", i)
				}
			}
			met, _, err := r.End()
			if err != nil || !(met["heap_peak_bytes"] > 0) {
				t.Fatalf("end: %v %v", met, err)
			}
		})
	}
}

// The synthesised cache holds values of the scale a real prefill leaves.
func TestSyntheticFillScale(t *testing.T) {
	m := tinyModel(t, "mmmamba-hybrid-tiny", 1)
	real, synth := m.NewState(600), m.NewState(600)
	if _, err := m.Prefill(real, PromptTokens(m.Config, 600, 1), false); err != nil {
		t.Fatal(err)
	}
	if err := m.FillSynthetic(synth, 600, 1); err != nil {
		t.Fatal(err)
	}
	if synth.Pos != 600 {
		t.Fatalf("Pos = %d", synth.Pos)
	}
	for i := range real.layers {
		a, b := &real.layers[i], &synth.layers[i]
		pairs := [][2][]float32{{a.k, b.k}, {a.v, b.v}, {a.ssm, b.ssm}, {a.conv, b.conv}}
		for j, p := range pairs {
			if len(p[0]) == 0 {
				continue
			}
			ra, rb := rmsOf(p[0]), rmsOf(p[1])
			if math.Abs(math.Log(ra/rb)) > math.Log(3) {
				t.Errorf("layer %d tensor %d: real rms %.3g, synthetic %.3g", i, j, ra, rb)
			}
		}
	}
	logits, err := m.Step(synth, 5)
	if err != nil || math.IsNaN(float64(logits[0])) {
		t.Fatalf("step after synthetic fill: %v %v", logits[0], err)
	}
}

func TestMemoryCapIsOOM(t *testing.T) {
	r := NewRunner()
	req := loadMsg(t, "hovle-tiny", "fp32", "reference").Load
	req.MemoryCapBytes = 1 << 20 // below the weights
	_, _, err := r.Load(req)
	var re *protocol.RunnerError
	if err == nil || !errors.As(err, &re) || re.Status != protocol.StatusOOM {
		t.Fatalf("load over the cap: %v", err)
	}
	req.MemoryCapBytes = 64 << 20
	if _, _, err := r.Load(req); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Cell(&protocol.CellRequest{Phase: "decode", SeqLen: 1 << 20, Batch: 1, CacheFill: "synthetic"})
	if err == nil || !errors.As(err, &re) || re.Status != protocol.StatusOOM {
		t.Fatalf("cell over the cap: %v", err)
	}
}

func TestParseSysInfo(t *testing.T) {
	name, err := parseCPUInfo(strings.NewReader("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) @ 2.50GHz\n\nprocessor\t: 1\nmodel name\t: other\n"))
	if err != nil || name != "Intel(R) Xeon(R) @ 2.50GHz" {
		t.Errorf("cpuinfo: %q %v", name, err)
	}
	if _, err := parseCPUInfo(strings.NewReader("processor: 0\n")); err == nil {
		t.Error("cpuinfo without a model name accepted")
	}
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"MemTotal", 1024 * 1024, true},
		{"MemAvailable", 512 * 1024, true},
		{"HugePages_Total", 0, true},
		{"Nope", 0, false},
	} {
		got, err := parseMemInfo(strings.NewReader("MemTotal:        1024 kB\nMemAvailable:     512 kB\nHugePages_Total:       0\n"), tc.field)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %d %v", tc.field, got, err)
		}
	}
}

// Load reads weights from a safetensors checkpoint directory, with the
// config from the request or, when absent, from the checkpoint.
func TestLoadSafetensorsWeights(t *testing.T) {
	m := tinyModel(t, "mmmamba-linear-tiny", 9)
	dir := t.TempDir()
	if err := m.Save(dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, withConfig := range []bool{true, false} {
		req := loadMsg(t, "mmmamba-linear-tiny", "fp32", "reference").Load
		req.Weights = protocol.Weights{Kind: "safetensors", Path: dir}
		if !withConfig {
			req.Config = nil
		}
		r := NewRunner()
		met, info, err := r.Load(req)
		if err != nil {
			t.Fatal(err)
		}
		if met["param_count"] != float64(m.ParamCount()) || !strings.Contains(info["weights"], dir) {
			t.Errorf("loaded %v %v", met, info)
		}
		for _, p := range m.Params() {
			if maxRelDiff(r.model.Param(p.Name).Data, p.Data) != 0 {
				t.Fatalf("%s differs after loading", p.Name)
			}
		}
	}
	req := loadMsg(t, "mmmamba-linear-tiny", "fp32", "reference").Load
	req.Weights = protocol.Weights{Kind: "safetensors", Path: t.TempDir()}
	if _, _, err := NewRunner().Load(req); err == nil || !strings.Contains(err.Error(), "holds neither") {
		t.Errorf("empty checkpoint dir: %v", err)
	}
}
