// Package safetensors reads and writes the safetensors checkpoint format:
// an 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and byte range, then the raw little-endian tensor data.
//
// A checkpoint may be one file or several shards tied together by a
// model.safetensors.index.json ({"metadata":{...},"weight_map":{name:file}}),
// as Hugging Face writes them; OpenDir reads both.
//
// Headers are validated before any data is read: known dtypes, byte ranges
// that match dtype x shape, lie inside the file, and neither overlap nor
// leave holes. Every error names the file and, where there is one, the
// tensor.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// DType is a safetensors element type name, as written in the header.
type DType string

// The element types this package knows. Float32 conversion is available for
// F64, F32, F16 and BF16; Int64 conversion for the integer types.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point dtype.
func (d DType) IsFloat() bool { return d == F64 || d == F32 || d == F16 || d == BF16 }

// MaxHeaderBytes bounds the JSON header, as the reference implementation
// does (100 MB); a larger length field marks a corrupt or hostile file.
const MaxHeaderBytes = 100_000_000

// TensorInfo describes one tensor in a header. Begin and End are byte
// offsets relative to the start of the data section.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	Begin int64
	End   int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// Tensors in data order (ascending Begin).
	Tensors []TensorInfo
	// Metadata is the optional "__metadata__" string map.
	Metadata map[string]string
	// DataBytes is the length of the data section the header describes.
	DataBytes int64
	byName    map[string]int
}

// Lookup returns the named tensor's info.
func (h *Header) Lookup(name string) (TensorInfo, bool) {
	i, ok := h.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// Names returns the tensor names, sorted.
func (h *Header) Names() []string {
	names := make([]string, 0, len(h.Tensors))
	for _, t := range h.Tensors {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// ParseHeader parses and validates the JSON header of a safetensors file
// (the bytes after the 8-byte length). file names the source in errors.
// The data section's size is not known here; Open checks it against the
// file's length.
func ParseHeader(file string, b []byte) (*Header, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: header: %s", file, fmt.Sprintf(format, args...))
	}
	b = bytes.TrimRight(b, " \x00") // writers pad the header to 8-byte alignment
	if len(b) == 0 || b[0] != '{' {
		return nil, fail("does not start with '{' (not a safetensors file?)")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fail("invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, fail("trailing data after the JSON object")
	}
	h := &Header{byName: make(map[string]int, len(raw))}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return nil, fail("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e rawEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fail("tensor %q: %v", name, err)
		}
		switch {
		case e.DType == nil:
			return nil, fail("tensor %q: missing dtype", name)
		case e.Shape == nil:
			return nil, fail("tensor %q: missing shape", name)
		case e.DataOffsets == nil:
			return nil, fail("tensor %q: missing data_offsets", name)
		}
		t := TensorInfo{Name: name, DType: DType(*e.DType), Shape: *e.Shape}
		if t.DType.Size() == 0 {
			return nil, fail("tensor %q: unknown dtype %q", name, *e.DType)
		}
		if len(*e.DataOffsets) != 2 {
			return nil, fail("tensor %q: data_offsets has %d entries, want 2", name, len(*e.DataOffsets))
		}
		t.Begin, t.End = (*e.DataOffsets)[0], (*e.DataOffsets)[1]
		if t.Begin < 0 || t.End < t.Begin {
			return nil, fail("tensor %q: bad data_offsets [%d, %d]", name, t.Begin, t.End)
		}
		n := int64(1)
		for i, s := range t.Shape {
			if s < 0 {
				return nil, fail("tensor %q: negative dimension %d at axis %d", name, s, i)
			}
			if s != 0 && n > math.MaxInt64/8/s {
				return nil, fail("tensor %q: shape %v overflows", name, t.Shape)
			}
			n *= s
		}
		if want := n * int64(t.DType.Size()); t.End-t.Begin != want {
			return nil, fail("tensor %q: %s%v needs %d bytes, data_offsets [%d, %d] hold %d",
				name, t.DType, t.Shape, want, t.Begin, t.End, t.End-t.Begin)
		}
		h.Tensors = append(h.Tensors, t)
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	// The data section must be covered exactly: no overlaps, no holes.
	var pos int64
	for i, t := range h.Tensors {
		if t.Begin != pos {
			if t.Begin < pos {
				return nil, fail("tensor %q: data_offsets [%d, %d] overlap tensor %q", t.Name, t.Begin, t.End, h.Tensors[i-1].Name)
			}
			return nil, fail("tensor %q: data_offsets start at %d, leaving a hole after byte %d", t.Name, t.Begin, pos)
		}
		pos = t.End
		h.byName[t.Name] = i
	}
	h.DataBytes = pos
	return h, nil
}

// ReadHeaderLength decodes the 8-byte little-endian header length prefix.
func ReadHeaderLength(file string, prefix []byte) (int64, error) {
	if len(prefix) < 8 {
		return 0, fmt.Errorf("safetensors %s: file is %d bytes, shorter than the 8-byte header length", file, len(prefix))
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeaderBytes {
		return 0, fmt.Errorf("safetensors %s: header length %d exceeds %d bytes (corrupt file?)", file, n, MaxHeaderBytes)
	}
	return int64(n), nil
}

// ErrNotFound is wrapped by errors for a tensor name a file or checkpoint
// does not hold.
var ErrNotFound = errors.New("tensor not found")
