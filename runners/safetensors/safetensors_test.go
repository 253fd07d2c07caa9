package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustF32(t *testing.T, name string, dt DType, shape []int64, v []float32) Tensor {
	t.Helper()
	ts, err := Float32Tensor(name, dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestRoundTrip(t *testing.T) {
	vals := []float32{0, 1, -2.5, 3.140625, 1e-3, -65504, 0.5, 7}
	for _, tc := range []struct {
		dt    DType
		exact bool // whether every value above is representable
	}{
		{F32, true}, {F64, true}, {BF16, false}, {F16, false},
	} {
		t.Run(string(tc.dt), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.safetensors")
			tensors := []Tensor{
				mustF32(t, "w", tc.dt, []int64{2, 4}, vals),
				Int64Tensor("tokens", []int64{3}, []int64{1, -2, 1 << 40}),
				mustF32(t, "scalar", tc.dt, []int64{}, []float32{4}),
				mustF32(t, "empty", tc.dt, []int64{0, 3}, nil),
			}
			meta := map[string]string{"format": "pt"}
			if err := WriteFile(path, tensors, meta); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !reflect.DeepEqual(f.Header.Metadata, meta) {
				t.Errorf("metadata = %v", f.Header.Metadata)
			}
			if got := f.Header.Names(); !reflect.DeepEqual(got, []string{"empty", "scalar", "tokens", "w"}) {
				t.Errorf("names = %v", got)
			}
			got, shape, err := f.Float32("w")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, []int64{2, 4}) {
				t.Errorf("shape = %v", shape)
			}
			for i := range vals {
				tol := float64(0)
				if !tc.exact {
					tol = math.Abs(float64(vals[i])) * 1e-2
				}
				if d := math.Abs(float64(got[i] - vals[i])); d > tol {
					t.Errorf("w[%d] = %v, want %v", i, got[i], vals[i])
				}
			}
			ints, _, err := f.Int64("tokens")
			if err != nil || !reflect.DeepEqual(ints, []int64{1, -2, 1 << 40}) {
				t.Errorf("tokens = %v, %v", ints, err)
			}
			if s, shape, err := f.Float32("scalar"); err != nil || len(shape) != 0 || s[0] != 4 {
				t.Errorf("scalar = %v %v %v", s, shape, err)
			}
			if e, _, err := f.Float32("empty"); err != nil || len(e) != 0 {
				t.Errorf("empty = %v %v", e, err)
			}
			if _, _, err := f.Float32("tokens"); err == nil || !strings.Contains(err.Error(), `"tokens"`) {
				t.Errorf("float32 of an I64 tensor: err = %v", err)
			}
			if _, _, err := f.Float32("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) {
				t.Errorf("missing tensor: err = %v", err)
			}
		})
	}
}

// The writer's output for a small file, byte for byte as the reference
// (Rust/Python) implementation lays it out: no spaces, 8-byte aligned
// header padded with spaces, larger dtypes first.
func TestWriteLayout(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []Tensor{
		{Name: "b", DType: BF16, Shape: []int64{1}, Data: []byte{0x80, 0x3f}},
		{Name: "a", DType: F32, Shape: []int64{2}, Data: make([]byte, 8)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	want := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	want = append(want, header...)
	want = append(want, make([]byte, 8)...)
	want = append(want, 0x80, 0x3f)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestDTypeConversion(t *testing.T) {
	for _, tc := range []struct {
		name string
		dt   DType
		raw  []byte
		want float32
	}{
		{"bf16 one", BF16, []byte{0x80, 0x3f}, 1},
		{"bf16 -2", BF16, []byte{0x00, 0xc0}, -2},
		{"bf16 pi", BF16, []byte{0x49, 0x40}, 3.140625},
		{"f16 one", F16, []byte{0x00, 0x3c}, 1},
		{"f16 max", F16, []byte{0xff, 0x7b}, 65504},
		{"f16 smallest subnormal", F16, []byte{0x01, 0x00}, float32(math.Ldexp(1, -24))},
		{"f16 largest subnormal", F16, []byte{0xff, 0x03}, float32(math.Ldexp(1023, -24))},
		{"f16 -0.5", F16, []byte{0x00, 0xb8}, -0.5},
		{"f16 inf", F16, []byte{0x00, 0x7c}, float32(math.Inf(1))},
		{"f32 1.5", F32, []byte{0x00, 0x00, 0xc0, 0x3f}, 1.5},
		{"f64 0.375", F64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.375)), 0.375},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFloat32(tc.dt, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != tc.want {
				t.Errorf("got %v, want %v", got[0], tc.want)
			}
			back, err := EncodeFloat32(tc.dt, got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, tc.raw) {
				t.Errorf("re-encoded %x, want %x", back, tc.raw)
			}
		})
	}
	if v, _ := DecodeFloat32(F16, []byte{0x01, 0x7e}); !math.IsNaN(float64(v[0])) {
		t.Errorf("f16 NaN decoded to %v", v[0])
	}
	if _, err := DecodeFloat32(I64, make([]byte, 8)); err == nil {
		t.Error("DecodeFloat32(I64) did not fail")
	}
}

// Rounding to the narrow types: ties go to even, overflow to infinity,
// and every half-precision value survives a float32 round trip.
func TestRounding(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   float32
		f16  uint16
		bf16 uint16
	}{
		{"one", 1, 0x3c00, 0x3f80},
		{"tie to even down", 1 + 1.0/2048, 0x3c00, 0x3f80},
		{"tie to even up", 1 + 3.0/2048, 0x3c02, 0x3f80},
		{"overflow", 70000, 0x7c00, 0x4789},
		{"tiny to zero", 1e-10, 0x0000, 0x2edc},
		{"negative", -3, 0xc200, 0xc040},
		{"subnormal half", float32(math.Ldexp(3, -24)), 0x0003, 0x3440},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Float32ToF16(tc.in); got != tc.f16 {
				t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", tc.in, got, tc.f16)
			}
			if got := Float32ToBF16(tc.in); got != tc.bf16 {
				t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.bf16)
			}
		})
	}
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToF16(f); back != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, back)
		}
		if back := Float32ToBF16(BF16ToFloat32(uint16(h))); back != uint16(h) {
			t.Fatalf("bf16 %#04x does not round-trip: %#04x", h, back)
		}
	}
}

// file builds a safetensors file from a literal header and data length.
func file(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

func TestCorruptHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
		want    string // substring of the error
	}{
		{"empty file", nil, "shorter than the 8-byte header length"},
		{"short prefix", []byte{1, 2, 3}, "shorter than the 8-byte header length"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "runs past the end"},
		{"not json", file("[1,2]   ", 0), "does not start with '{'"},
		{"bad json", file(`{"a":{"dtype":"F32",`, 0), "invalid JSON"},
		{"trailing garbage", file(`{} {}`, 0), "trailing data"},
		{"unknown dtype", file(`{"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}`, 1), `tensor "w": unknown dtype "F8"`},
		{"missing shape", file(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `tensor "w": missing shape`},
		{"missing dtype", file(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "w": missing dtype`},
		{"missing offsets", file(`{"w":{"dtype":"F32","shape":[1]}}`, 4), `tensor "w": missing data_offsets`},
		{"three offsets", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4), "has 3 entries"},
		{"size mismatch", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), `tensor "w": F32[2] needs 8 bytes`},
		{"negative dim", file(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "negative dimension"},
		{"reversed offsets", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 4), "bad data_offsets"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"hole", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "leaving a hole"},
		{"bad metadata", file(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"fractional shape", file(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), `tensor "w"`},
		{"shape overflow", file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "overflows"},
		{"trailing bytes", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 6), "2 bytes after the last tensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, tc.want)
			}
		})
	}
}

func TestTruncatedData(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []Tensor{
		mustF32(t, "first", F32, []int64{4}, []float32{1, 2, 3, 4}),
		mustF32(t, "second", F32, []int64{4}, []float32{5, 6, 7, 8}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for _, cut := range []int{1, 4, 16, 17, 31} {
		t.Run(fmt.Sprintf("cut%d", cut), func(t *testing.T) {
			b := full[:len(full)-cut]
			_, err := NewReader("t.safetensors", bytes.NewReader(b), int64(len(b)))
			if err == nil {
				t.Fatal("NewReader accepted a truncated file")
			}
			wantTensor := `"second"`
			if cut > 16 {
				wantTensor = `"first"`
			}
			if !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "t.safetensors") || !strings.Contains(err.Error(), wantTensor) {
				t.Errorf("error %q should say truncated and name the file and %s", err, wantTensor)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"duplicate", []Tensor{Int64Tensor("a", []int64{1}, []int64{1}), Int64Tensor("a", []int64{1}, []int64{1})}, "given twice"},
		{"short data", []Tensor{{Name: "a", DType: F32, Shape: []int64{2}, Data: make([]byte, 4)}}, `tensor "a": F32[2] needs 8 bytes`},
		{"bad dtype", []Tensor{{Name: "a", DType: "X", Shape: []int64{1}, Data: make([]byte, 4)}}, "unknown dtype"},
		{"empty name", []Tensor{{Name: "", DType: U8, Shape: []int64{1}, Data: make([]byte, 1)}}, "bad tensor name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, tc.ts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestShardedCheckpoint(t *testing.T) {
	var tensors []Tensor
	want := map[string][]float32{}
	for i := 0; i < 7; i++ {
		v := make([]float32, 10+i)
		for j := range v {
			v[j] = float32(i*100 + j)
		}
		name := fmt.Sprintf("layers.%d.weight", i)
		want[name] = v
		tensors = append(tensors, mustF32(t, name, F16, []int64{int64(len(v))}, v))
	}
	for _, tc := range []struct {
		name   string
		shard  int64
		shards int
	}{
		{"single", 0, 1},
		{"sharded", 64, 4}, // 20..32-byte tensors: [20 22] [24 26] [28 30] [32]
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteDir(dir, tensors, tc.shard, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
			if len(files) != tc.shards {
				t.Errorf("%d files, want %d: %v", len(files), tc.shards, files)
			}
			c, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Names()) != len(want) {
				t.Errorf("names = %v", c.Names())
			}
			for name, v := range want {
				got, _, err := c.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, v) { // small integers are exact in f16
					t.Errorf("%s = %v, want %v", name, got, v)
				}
			}
		})
	}
}

func TestIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index string
		want  string
	}{
		{"bad json", `{"weight_map":`, "invalid JSON"},
		{"no map", `{"metadata":{}}`, "weight_map: missing"},
		{"escape", `{"weight_map":{"a":"../x.safetensors"}}`, "plain file name"},
		{"missing shard", `{"weight_map":{"a":"model-1.safetensors"}}`, "model-1.safetensors"},
		{"tensor not in shard", `{"weight_map":{"a":"s.safetensors","zzz":"s.safetensors"}}`, `tensor "zzz" is mapped to s.safetensors`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteFile(filepath.Join(dir, "s.safetensors"), []Tensor{Int64Tensor("a", []int64{1}, []int64{1})}, nil); err != nil {
				t.Fatal(err)
			}
			ipath := filepath.Join(dir, IndexFile)
			if err := os.WriteFile(ipath, []byte(tc.index), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ipath) {
				t.Errorf("err = %v, want it to name %s and say %q", err, ipath, tc.want)
			}
		})
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds neither") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}`))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"t":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}   `))
	f.Add([]byte(`{"w":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]}}`))
	f.Add([]byte(`{"w":{"dtype":"F32","shape":[9223372036854775807,2],"data_offsets":[0,4]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader("fuzz", b)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// A header that parses must describe a consistent, gap-free layout.
		var pos int64
		for _, ti := range h.Tensors {
			if ti.Begin != pos || ti.End-ti.Begin != ti.NumElements()*int64(ti.DType.Size()) {
				t.Fatalf("inconsistent tensor %+v at %d", ti, pos)
			}
			pos = ti.End
			if got, ok := h.Lookup(ti.Name); !ok || got.Name != ti.Name {
				t.Fatalf("lookup %q failed", ti.Name)
			}
		}
		if pos != h.DataBytes {
			t.Fatalf("DataBytes %d, tensors end at %d", h.DataBytes, pos)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":10},"weight_map":{"a":"model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../../etc/passwd"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ParseIndex("idx", b)
		if err != nil {
			return
		}
		for name, shard := range ix.WeightMap {
			if name == "" || strings.ContainsAny(shard, `/\`) || strings.Contains(shard, "..") || shard == "" {
				t.Fatalf("accepted %q -> %q", name, shard)
			}
		}
	})
}

func ExampleWrite() {
	w, _ := Float32Tensor("weight", F32, []int64{2}, []float32{0.5, -1})
	var buf bytes.Buffer
	if err := Write(&buf, []Tensor{w, Int64Tensor("tokens", []int64{3}, []int64{7, 8, 9})}, nil); err != nil {
		panic(err)
	}
	f, err := NewReader("example.safetensors", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	v, shape, _ := f.Float32("weight")
	tok, _, _ := f.Int64("tokens")
	fmt.Println(f.Header.Names(), v, shape, tok)
	// Output: [tokens weight] [0.5 -1] [2] [7 8 9]
}
