package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/ssmbench/ssmbench/bench/telemetry"
)

// File names inside a run directory.
const (
	CellsFile     = "cells.parquet"
	SamplesFile   = "samples.parquet"
	TelemetryFile = "telemetry.parquet"
	ManifestFile  = "manifest.json"
	RunnerLogFile = "runner.log"
)

// WriteAtomic writes a file by writing a temporary file in the same
// directory, syncing it and renaming it over path, so that a reader (or a
// crash) sees either the old file or the new one, never a partial one.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	// CreateTemp makes the file private (0600); results are for everyone
	// who can read the directory.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteParquet writes rows to path atomically, zstd-compressed, with the
// schema version in the footer metadata.
func WriteParquet[T any](path string, rows []T) error {
	return WriteAtomic(path, func(w io.Writer) error {
		pw := parquet.NewGenericWriter[T](w,
			parquet.Compression(&parquet.Zstd),
			parquet.KeyValueMetadata("ssmbench_schema_version", strconv.Itoa(SchemaVersion)),
		)
		if _, err := pw.Write(rows); err != nil {
			return err
		}
		return pw.Close()
	})
}

// ErrCorrupt is wrapped by read errors caused by a file that is not a valid
// results file.
var ErrCorrupt = errors.New("not a valid results file")

// ReadParquet reads all rows of a parquet file into T. A file that is not
// valid parquet, or whose rows do not fit T, gives an error that names the
// file and wraps ErrCorrupt.
func ReadParquet[T any](path string) (rows []T, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// parquet-go panics on some malformed inputs; report them as errors.
	defer func() {
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	// Read in batches rather than trusting the row count in the footer: a
	// corrupt footer must not make us allocate without bound.
	buf := make([]T, 1024)
	for {
		n, err := r.Read(buf)
		rows = append(rows, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: %w: reader made no progress", path, ErrCorrupt)
		}
		clear(buf)
	}
	if int64(len(rows)) != pf.NumRows() {
		return nil, fmt.Errorf("%s: %w: read %d of %d rows", path, ErrCorrupt, len(rows), pf.NumRows())
	}
	return rows, nil
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// Run is a loaded run directory.
type Run struct {
	Dir      string
	Manifest Manifest
	Cells    []CellRow
	Samples  []SampleRow
}

// ReadRun loads a run directory's manifest, cells and samples. Missing
// parquet files (a run interrupted before its first cell) read as empty.
func ReadRun(dir string) (*Run, error) {
	r := &Run{Dir: dir}
	mpath := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(mpath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a run directory: no %s", dir, ManifestFile)
		}
		return nil, err
	}
	if err := json.Unmarshal(data, &r.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", mpath, ErrCorrupt, err)
	}
	if r.Manifest.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s: schema version %d is newer than this ssmbench's %d", mpath, r.Manifest.SchemaVersion, SchemaVersion)
	}
	cells := filepath.Join(dir, CellsFile)
	if r.Cells, err = readOptional[CellRow](cells); err != nil {
		return nil, err
	}
	// parquet-go reads the nulls of an embedded struct's optional columns
	// back as zeros (parquet-go issue #163); read the telemetry columns on
	// their own, where nulls stay nil, and put them in place.
	if len(r.Cells) > 0 {
		agg, err := ReadParquet[telemetry.Aggregate](cells)
		if err != nil {
			return nil, err
		}
		for i := range r.Cells {
			r.Cells[i].Aggregate = agg[i]
		}
	}
	if r.Samples, err = readOptional[SampleRow](filepath.Join(dir, SamplesFile)); err != nil {
		return nil, err
	}
	return r, nil
}

func readOptional[T any](path string) ([]T, error) {
	rows, err := ReadParquet[T](path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return rows, err
}
