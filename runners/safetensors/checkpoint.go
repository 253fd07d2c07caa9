package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexFile is the name of a sharded checkpoint's index.
const IndexFile = "model.safetensors.index.json"

// SingleFile is the name of an unsharded checkpoint's weights.
const SingleFile = "model.safetensors"

// Index is a parsed model.safetensors.index.json.
type Index struct {
	Metadata  map[string]any    `json:"metadata,omitempty"`
	WeightMap map[string]string `json:"weight_map"`
}

// ParseIndex parses and validates an index file's contents. file names the
// source in errors.
func ParseIndex(file string, data []byte) (*Index, error) {
	var ix Index
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("safetensors index %s: invalid JSON: %w", file, err)
	}
	if ix.WeightMap == nil {
		return nil, fmt.Errorf("safetensors index %s: weight_map: missing", file)
	}
	for name, shard := range ix.WeightMap {
		if name == "" {
			return nil, fmt.Errorf("safetensors index %s: weight_map: empty tensor name", file)
		}
		if shard == "" || filepath.IsAbs(shard) || strings.Contains(shard, "..") || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("safetensors index %s: weight_map[%q]: shard %q must be a plain file name in the checkpoint directory", file, name, shard)
		}
	}
	return &ix, nil
}

// Checkpoint is a set of safetensors files read as one: a directory with a
// model.safetensors.index.json and its shards, or a single file.
type Checkpoint struct {
	// Dir is the checkpoint directory.
	Dir   string
	files map[string]*File // by file name
	where map[string]string
}

// OpenDir opens the checkpoint in dir: the shards named by
// model.safetensors.index.json if present, else model.safetensors, else
// the directory's only *.safetensors file. Every tensor the index maps must
// be in its shard.
func OpenDir(dir string) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, files: map[string]*File{}, where: map[string]string{}}
	ipath := filepath.Join(dir, IndexFile)
	data, err := os.ReadFile(ipath)
	switch {
	case err == nil:
		ix, err := ParseIndex(ipath, data)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(ix.WeightMap))
		for name := range ix.WeightMap {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			shard := ix.WeightMap[name]
			f, ok := c.files[shard]
			if !ok {
				if f, err = Open(filepath.Join(dir, shard)); err != nil {
					c.Close()
					return nil, fmt.Errorf("safetensors index %s: %w", ipath, err)
				}
				c.files[shard] = f
			}
			if _, ok := f.Header.Lookup(name); !ok {
				c.Close()
				return nil, fmt.Errorf("safetensors index %s: tensor %q is mapped to %s, which does not hold it", ipath, name, shard)
			}
			c.where[name] = shard
		}
		return c, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	file := SingleFile
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		if len(matches) != 1 {
			return nil, fmt.Errorf("safetensors: %s holds neither %s, %s nor exactly one *.safetensors file (found %d)", dir, IndexFile, SingleFile, len(matches))
		}
		file = filepath.Base(matches[0])
	}
	f, err := Open(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	c.files[file] = f
	for _, t := range f.Header.Tensors {
		c.where[t.Name] = file
	}
	return c, nil
}

// Close closes every shard.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// File returns the shard holding a tensor.
func (c *Checkpoint) File(name string) (*File, error) {
	shard, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("safetensors checkpoint %s: tensor %q: %w", c.Dir, name, ErrNotFound)
	}
	return c.files[shard], nil
}

// Lookup returns a tensor's info.
func (c *Checkpoint) Lookup(name string) (TensorInfo, bool) {
	f, err := c.File(name)
	if err != nil {
		return TensorInfo{}, false
	}
	return f.Header.Lookup(name)
}

// Float32 reads a floating tensor as float32, and its shape.
func (c *Checkpoint) Float32(name string) ([]float32, []int64, error) {
	f, err := c.File(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float32(name)
}

// Int64 reads an integer tensor as int64, and its shape.
func (c *Checkpoint) Int64(name string) ([]int64, []int64, error) {
	f, err := c.File(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Int64(name)
}

// WriteDir writes tensors as a checkpoint into dir (which must exist). With
// shardBytes <= 0 or when everything fits in one shard, it writes
// model.safetensors; otherwise shards model-0000i-of-0000n.safetensors of
// at most shardBytes of data each (a larger single tensor gets a shard of
// its own), in the order given, plus model.safetensors.index.json.
func WriteDir(dir string, tensors []Tensor, shardBytes int64, metadata map[string]string) error {
	var total int64
	for _, t := range tensors {
		total += int64(len(t.Data))
	}
	if shardBytes <= 0 || total <= shardBytes {
		return WriteFile(filepath.Join(dir, SingleFile), tensors, metadata)
	}
	var shards [][]Tensor
	var cur []Tensor
	var curBytes int64
	for _, t := range tensors {
		if len(cur) > 0 && curBytes+int64(len(t.Data)) > shardBytes {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, t)
		curBytes += int64(len(t.Data))
	}
	shards = append(shards, cur)
	ix := Index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	for i, sh := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := WriteFile(filepath.Join(dir, name), sh, metadata); err != nil {
			return err
		}
		for _, t := range sh {
			ix.WeightMap[t.Name] = name
		}
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return fmt.Errorf("safetensors: index: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, IndexFile), append(b, '\n'), 0o644)
}
