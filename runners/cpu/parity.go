package cpu

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// Parity fixtures: for each tiny variant, a directory holding config.json,
// model.safetensors (fp32 random weights under the real names) and
// expected.safetensors with the reference logits, for checking another
// runner (the PyTorch worker) against this one.
const (
	// ParitySeed seeds the fixture weights.
	ParitySeed = 20250219
	// ParityPromptLen is the prompt length: over one SSD chunk (128), so
	// the chunked scan crosses a chunk boundary.
	ParityPromptLen = 160
	// ParityDecodeLen is the number of decode steps after the prompt.
	ParityDecodeLen = 16
)

// ParityVariants are the builtin configs fixtures are written for.
var ParityVariants = []string{"hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"}

// Parity fixture file names, and the tensors of the expected file.
const (
	ParityConfigFile   = "config.json"
	ParityModelFile    = "model.safetensors"
	ParityExpectedFile = "expected.safetensors"
)

// ParityCase is the reference computation a fixture records.
type ParityCase struct {
	Tokens        []int64   // prompt [ParityPromptLen]
	PrefillLogits []float32 // [ParityPromptLen, V]: logits at every prompt position
	DecodeTokens  []int64   // [ParityDecodeLen]
	DecodeLogits  []float32 // [ParityDecodeLen, V]: after feeding each decode token, one at a time
}

// ComputeParity runs the fixture's computation on m: a prefill of the
// prompt (all-position logits, chunked scan), then one decode step per
// decode token (recurrent path).
func ComputeParity(m *Model, tokens, decode []int64) (*ParityCase, error) {
	pc := &ParityCase{Tokens: tokens, DecodeTokens: decode}
	st := m.NewState(len(tokens) + len(decode))
	var err error
	if pc.PrefillLogits, err = m.Prefill(st, toInts(tokens), true); err != nil {
		return nil, err
	}
	for _, tok := range decode {
		logits, err := m.Step(st, int(tok))
		if err != nil {
			return nil, err
		}
		pc.DecodeLogits = append(pc.DecodeLogits, logits...)
	}
	return pc, nil
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func toInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// ParityInputs returns the fixture's prompt and decode tokens for a
// config (deterministic).
func ParityInputs(c *configs.Model) (prompt, decode []int64) {
	all := PromptTokens(c, ParityPromptLen+ParityDecodeLen, ParitySeed)
	return toInt64s(all[:ParityPromptLen]), toInt64s(all[ParityPromptLen:])
}

// WriteParityFixtures writes one fixture directory per ParityVariants
// entry under dir (created if needed).
func WriteParityFixtures(dir string) error {
	for _, v := range ParityVariants {
		if err := WriteParityFixture(filepath.Join(dir, v), v); err != nil {
			return err
		}
	}
	return nil
}

// WriteParityFixture writes the fixture of one builtin config into dir.
func WriteParityFixture(dir, variant string) error {
	cfg, err := configs.Builtin(variant)
	if err != nil {
		return err
	}
	m, err := NewRandom(cfg, ParitySeed)
	if err != nil {
		return err
	}
	prompt, decode := ParityInputs(cfg)
	pc, err := ComputeParity(m, prompt, decode)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeConfig(dir, cfg); err != nil {
		return err
	}
	weights, err := m.Tensors()
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", "ssmbench_variant": variant, "ssmbench_seed": fmt.Sprint(ParitySeed)}
	if err := safetensors.WriteFile(filepath.Join(dir, ParityModelFile), weights, meta); err != nil {
		return err
	}
	V := int64(cfg.Vocab)
	pl, err := safetensors.Float32Tensor("prefill_logits", safetensors.F32, []int64{ParityPromptLen, V}, pc.PrefillLogits)
	if err != nil {
		return err
	}
	dl, err := safetensors.Float32Tensor("decode_logits", safetensors.F32, []int64{ParityDecodeLen, V}, pc.DecodeLogits)
	if err != nil {
		return err
	}
	expected := []safetensors.Tensor{
		safetensors.Int64Tensor("tokens", []int64{ParityPromptLen}, pc.Tokens),
		pl,
		safetensors.Int64Tensor("decode_tokens", []int64{ParityDecodeLen}, pc.DecodeTokens),
		dl,
	}
	meta = map[string]string{
		"ssmbench_variant": variant,
		"ssmbench_note":    "prefill_logits: logits at every prompt position of one prefill; decode_logits[i]: logits after feeding decode_tokens[i] at position len(tokens)+i, one token per step after the prefill",
	}
	return safetensors.WriteFile(filepath.Join(dir, ParityExpectedFile), expected, meta)
}

// ReadParityCase reads a fixture's expected.safetensors.
func ReadParityCase(dir string) (*ParityCase, error) {
	f, err := safetensors.Open(filepath.Join(dir, ParityExpectedFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc := &ParityCase{}
	if pc.Tokens, _, err = f.Int64("tokens"); err != nil {
		return nil, err
	}
	if pc.DecodeTokens, _, err = f.Int64("decode_tokens"); err != nil {
		return nil, err
	}
	if pc.PrefillLogits, _, err = f.Float32("prefill_logits"); err != nil {
		return nil, err
	}
	if pc.DecodeLogits, _, err = f.Float32("decode_logits"); err != nil {
		return nil, err
	}
	return pc, nil
}
