package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// File is an open safetensors file. Tensor data is read on demand.
type File struct {
	// Path names the file in errors.
	Path   string
	Header *Header
	r      io.ReaderAt
	closer io.Closer
	data   int64 // offset of the data section
}

// Open opens and validates a safetensors file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	sf, err := NewReader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// NewReader reads and validates the header of a safetensors file of size
// bytes held by r. name is used in errors.
func NewReader(name string, r io.ReaderAt, size int64) (*File, error) {
	var prefix [8]byte
	n, err := r.ReadAt(prefix[:], 0)
	if n < 8 {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("safetensors %s: file is %d bytes, shorter than the 8-byte header length", name, n)
		}
		return nil, fmt.Errorf("safetensors %s: %w", name, err)
	}
	hlen, err := ReadHeaderLength(name, prefix[:])
	if err != nil {
		return nil, err
	}
	if 8+hlen > size {
		return nil, fmt.Errorf("safetensors %s: truncated: header length %d runs past the end of the %d-byte file", name, hlen, size)
	}
	hb := make([]byte, hlen)
	if _, err := r.ReadAt(hb, 8); err != nil {
		return nil, fmt.Errorf("safetensors %s: reading header: %w", name, err)
	}
	h, err := ParseHeader(name, hb)
	if err != nil {
		return nil, err
	}
	if got := size - 8 - hlen; got != h.DataBytes {
		if got < h.DataBytes {
			last := h.Tensors[len(h.Tensors)-1]
			for _, t := range h.Tensors {
				if t.End > got {
					last = t
					break
				}
			}
			return nil, fmt.Errorf("safetensors %s: truncated: the header describes %d data bytes, the file holds %d (tensor %q ends at %d)",
				name, h.DataBytes, got, last.Name, last.End)
		}
		return nil, fmt.Errorf("safetensors %s: %d bytes after the last tensor (header describes %d data bytes, file holds %d)",
			name, got-h.DataBytes, h.DataBytes, got)
	}
	return &File{Path: name, Header: h, r: r, data: 8 + hlen}, nil
}

// Close closes the underlying file, if Open opened it.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Raw returns a tensor's raw bytes and info.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	t, ok := f.Header.Lookup(name)
	if !ok {
		return nil, t, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, ErrNotFound)
	}
	b := make([]byte, t.End-t.Begin)
	if _, err := f.r.ReadAt(b, f.data+t.Begin); err != nil && !(err == io.EOF && len(b) == 0) {
		return nil, t, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return b, t, nil
}

// Float32 reads a floating tensor, converted to float32, and its shape.
func (f *File) Float32(name string) ([]float32, []int64, error) {
	b, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := DecodeFloat32(t.DType, b)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return v, t.Shape, nil
}

// Int64 reads an integer tensor, converted to int64, and its shape.
func (f *File) Int64(name string) ([]int64, []int64, error) {
	b, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := DecodeInt64(t.DType, b)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return v, t.Shape, nil
}

// Tensor is a tensor to write: raw little-endian data of its dtype.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Float32Tensor encodes float32 values as a tensor of a floating dtype.
func Float32Tensor(name string, dt DType, shape []int64, v []float32) (Tensor, error) {
	b, err := EncodeFloat32(dt, v)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	return Tensor{Name: name, DType: dt, Shape: shape, Data: b}, nil
}

// Int64Tensor encodes int64 values as an I64 tensor.
func Int64Tensor(name string, shape []int64, v []int64) Tensor {
	return Tensor{Name: name, DType: I64, Shape: shape, Data: EncodeInt64(v)}
}

// Write writes tensors as one safetensors file. Data is laid out as the
// reference writer does (larger elements first, then by name), so the
// output is deterministic and every tensor is aligned to its element size.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	ts := append([]Tensor(nil), tensors...)
	seen := map[string]bool{}
	for _, t := range ts {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: write: bad tensor name %q", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("safetensors: write: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: write: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		n := int64(1)
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("safetensors: write: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= s
		}
		if int64(len(t.Data)) != n*int64(t.DType.Size()) {
			return fmt.Errorf("safetensors: write: tensor %q: %s%v needs %d bytes, have %d", t.Name, t.DType, t.Shape, n*int64(t.DType.Size()), len(t.Data))
		}
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if a, b := ts[i].DType.Size(), ts[j].DType.Size(); a != b {
			return a > b
		}
		return ts[i].Name < ts[j].Name
	})
	var hb bytes.Buffer
	hb.WriteByte('{')
	if len(metadata) > 0 {
		mb, err := json.Marshal(metadata)
		if err != nil {
			return fmt.Errorf("safetensors: write: metadata: %w", err)
		}
		hb.WriteString(`"__metadata__":`)
		hb.Write(mb)
	}
	var off int64
	for i, t := range ts {
		if i > 0 || len(metadata) > 0 {
			hb.WriteByte(',')
		}
		nb, _ := json.Marshal(t.Name)
		hb.Write(nb)
		hb.WriteString(`:{"dtype":"` + string(t.DType) + `","shape":[`)
		for k, s := range t.Shape {
			if k > 0 {
				hb.WriteByte(',')
			}
			hb.WriteString(strconv.FormatInt(s, 10))
		}
		end := off + int64(len(t.Data))
		hb.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + "," + strconv.FormatInt(end, 10) + "]}")
		off = end
	}
	hb.WriteByte('}')
	for hb.Len()%8 != 0 {
		hb.WriteByte(' ')
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(hb.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb.Bytes()); err != nil {
		return err
	}
	for _, t := range ts {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes tensors to path, through a temporary file renamed into
// place so that a reader never sees a partial file.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, tensors, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return nil
}
