// Package cpu is the pure-Go fp32 reference runner of ssmbench: the model
// of runners/MODEL.md (HoVLE, mmMamba-linear and mmMamba-hybrid, at any
// size runners/configs parses), the numerical reference the PyTorch worker
// is checked against, and the `ssmbench worker cpu` runner ("cpu-ref")
// speaking runners/protocol.
//
// # Model
//
// NewRandom builds deterministic random weights from a seed (one PCG
// stream per parameter name, values exact in fp16 and bf16); Load reads a
// safetensors checkpoint under the real parameter names (mmmamba.md §4.3)
// and Model.Save writes one. Model.Prefill runs a prompt with blocked
// causal attention and the chunked (SSD, chunk 128) Mamba-2 scan, filling
// a State's caches; Model.Step runs one token through the recurrent decode
// path (one KV column per attention layer, one conv and SSM update per
// Mamba-2 layer). Both agree with a literal float64 rendering of MODEL.md
// (reference_test.go) to about 1e-6. FillSynthetic puts a State at length
// N with caches of realistic scale, so that decode at long N does not pay
// an O(N²) CPU prefill. ImageTokens and SpliceImages implement the
// image-token path (patch embedding, pixel shuffle, projection).
//
// Numerics: weights and activations are fp32; norms, softmax sums, RoPE
// angles and the SSD decay factors are computed in float64 and rounded.
// Matrix products use an AVX2/FMA dot kernel on amd64 (a portable Go
// kernel elsewhere) and gonum's BLAS; every sum has a fixed order, so
// results do not depend on GOMAXPROCS.
//
// # Runner
//
// Runner implements protocol.Handler and Serve runs it on a pair of
// streams. Decode repetitions roll the caches back (Snapshot), so each
// measures the step at context seq_len. The timer is the monotonic wall
// clock. The Go heap is measured around each repetition with
// runtime/metrics after an untimed runtime.GC(): heap_peak_bytes is the
// live heap before plus the bytes allocated during the repetition, an
// upper bound on the peak that does not depend on when the GC ran. The
// analytic sizes come from configs (KVBytesPerToken, MambaStateBytes,
// DecodeStepBytes) with fp32 elements.
//
// # Parity fixtures
//
// testdata/parity/<variant>/ holds, for each tiny config, config.json,
// model.safetensors and expected.safetensors (see testdata/parity/README.md
// and WriteParityFixtures); `ssmbench parity-fixture --out DIR` writes
// them and the tests keep the committed copies in step with the code.
package cpu
