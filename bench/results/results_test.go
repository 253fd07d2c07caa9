package results

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func sampleRun(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cells := []CellRow{{
		RunID: "r1", CellID: "abc", Variant: "hovle-tiny", Phase: "decode", SeqLen: 1024, Batch: 1, Status: StatusOK,
		StartedAt: time.Unix(1700000000, 123456000).UTC(), EndedAt: time.Unix(1700000001, 0).UTC(),
		DecodeMsP50: ptr(1.25), AllocPeakBytes: ptr(int64(1 << 30)), Knobs: map[string]string{"cuda_graph": "true"},
		Extra: map[string]float64{"x_ms": 2}, Warnings: []string{"w"},
	}, {RunID: "r1", CellID: "def", Variant: "hovle-tiny", Phase: "decode", SeqLen: 2048, Batch: 1, Status: StatusOOM, Error: ptr("out of memory")}}
	samples := []SampleRow{{RunID: "r1", CellID: "abc", Rep: 0, LatencyMs: 1.2, Warmup: true}, {RunID: "r1", CellID: "abc", Rep: 0, LatencyMs: 1.25}}
	if err := WriteParquet(filepath.Join(dir, CellsFile), cells); err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(filepath.Join(dir, SamplesFile), samples); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(filepath.Join(dir, ManifestFile), Manifest{SchemaVersion: SchemaVersion, RunID: "r1", Cells: 2}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRoundTrip(t *testing.T) {
	dir := sampleRun(t)
	run, err := ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Cells) != 2 || len(run.Samples) != 2 || run.Manifest.RunID != "r1" {
		t.Fatalf("read %d cells, %d samples, manifest %+v", len(run.Cells), len(run.Samples), run.Manifest)
	}
	c := run.Cells[0]
	if *c.DecodeMsP50 != 1.25 || *c.AllocPeakBytes != 1<<30 || c.Knobs["cuda_graph"] != "true" || c.Extra["x_ms"] != 2 ||
		c.Warnings[0] != "w" || !c.StartedAt.Equal(time.Unix(1700000000, 123456000)) {
		t.Errorf("cell 0 = %+v", c)
	}
	if o := run.Cells[1]; o.Status != StatusOOM || *o.Error != "out of memory" || o.DecodeMsP50 != nil {
		t.Errorf("cell 1 = %+v", o)
	}
}

func TestCorruptFilesAreErrorsNamingTheFile(t *testing.T) {
	dir := sampleRun(t)
	path := filepath.Join(dir, CellsFile)
	data, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", data[:len(data)/2]},
		{"garbage", []byte("definitely not parquet, just text that is long enough")},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadRun(dir)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v", err)
			}
		})
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRun(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("corrupt manifest: %v", err)
	}
	if _, err := ReadRun(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestWriteAtomicKeepsTheOldFileOnFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.json")
	if err := WriteJSON(path, map[string]int{"v": 1}); err != nil {
		t.Fatal(err)
	}
	err := WriteAtomic(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("no error")
	}
	got, _ := os.ReadFile(path)
	if !strings.Contains(string(got), `"v": 1`) {
		t.Errorf("old file damaged: %q", got)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := sampleRun(t)
	if err := WriteJSON(filepath.Join(dir, ManifestFile), Manifest{SchemaVersion: SchemaVersion + 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %v", err)
	}
}

func FuzzReadParquet(f *testing.F) {
	dir := f.TempDir()
	_ = WriteParquet(filepath.Join(dir, "c.parquet"), []CellRow{{RunID: "r", Status: "ok", DecodeMsP50: ptr(1.0)}})
	if data, err := os.ReadFile(filepath.Join(dir, "c.parquet")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "x.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadParquet[CellRow](path); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func TestTelemetryNullsSurviveARoundTrip(t *testing.T) {
	dir := sampleRun(t) // cells without telemetry
	run, err := ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Cells[0]; c.EnergyJ != nil || c.Isolated != nil || c.NVMLProcessMemPeakBytes != nil {
		t.Errorf("telemetry columns of a CPU cell read back non-null: %+v", c.Aggregate)
	}
	cells := run.Cells
	cells[1].EnergyJ, cells[1].Isolated = ptr(12.5), ptr(false)
	if err := WriteParquet(filepath.Join(dir, CellsFile), cells); err != nil {
		t.Fatal(err)
	}
	run, _ = ReadRun(dir)
	if c := run.Cells[1]; c.EnergyJ == nil || *c.EnergyJ != 12.5 || c.Isolated == nil || *c.Isolated || run.Cells[0].EnergyJ != nil {
		t.Errorf("telemetry after round trip: %+v / %+v", run.Cells[0].Aggregate, c.Aggregate)
	}
}

func TestWrittenFilesAreReadableByAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	if err := WriteJSON(path, 1); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
}
