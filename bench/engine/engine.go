// Package engine runs a sweep: it expands a spec into cells, orders them,
// runs each in a runner process (warm-up until stable, then the measured
// repetitions), summarises the repetitions and writes the results directory
// after every cell, so an interrupted sweep resumes with at most the cell in
// flight redone.
//
// A cell that runs out of memory, times out or crashes becomes a row with
// that status and its error text, and the sweep goes on. After an OOM the
// larger cells of the same variant, profile, dtype, memory cap and phase are
// recorded as skipped.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// Options tune an Engine beyond its spec.
type Options struct {
	// CPUWorker is the argv that starts the CPU runner (normally the
	// ssmbench binary itself with "worker cpu").
	CPUWorker []string
	// TorchDir is the directory holding the ssmbench_torch package; default:
	// runners/torch found from the working directory or the executable.
	TorchDir string
	// Argv is recorded in the manifest.
	Argv []string
	// Progress receives progress events; nil means none.
	Progress Progress
	// Telemetry, if set, samples the device beside every cell.
	Telemetry Telemetry
	// RetryFailed, on resume, redoes cells whose status is timeout, crash or
	// error instead of keeping their rows.
	RetryFailed bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version is the harness version recorded in the manifest.
	Version string
}

// Engine runs one sweep.
type Engine struct {
	Spec *spec.Spec
	Opts Options
	Dir  string // the run directory

	cells    []Cell
	manifest results.Manifest
	rows     []results.CellRow
	samples  []results.SampleRow
	done     map[string]bool
	oomAt    map[oomKey][]oomPoint
}

type oomKey struct {
	LoadKey
	Phase string
}

type oomPoint struct{ seqLen, batch int }

// Summary is what a finished (or interrupted) sweep reports.
type Summary struct {
	Dir          string
	Planned      int
	Ran          int // cells run in this invocation
	Resumed      int // cells found done in the run directory
	StatusCounts map[string]int
}

// New prepares a fresh run of s under s.Output/<run-id>.
func New(s *spec.Spec, opts Options) (*Engine, error) {
	e := newEngine(s, opts)
	now := e.now()
	id := fmt.Sprintf("%s-%s-%s", s.Name, now.UTC().Format("20060102-150405"), randHex(2))
	e.Dir = filepath.Join(s.Output, id)
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(s.Source)
	e.manifest = results.Manifest{
		SchemaVersion: results.SchemaVersion, RunID: id, Argv: opts.Argv, SpecFile: s.File,
		SpecSHA256: hex.EncodeToString(sum[:]), Spec: string(s.Source), GoVersion: goVersion(),
		Harness: opts.Version, Host: hostInfo(), StartedAt: now.UTC(), Cells: len(e.cells),
	}
	e.manifest.GitCommit, e.manifest.GitDirty = gitState()
	if err := e.writeManifest(); err != nil {
		return nil, err
	}
	return e, nil
}

// Resume reopens the run directory dir: the spec is taken from its manifest
// and every cell already recorded is kept.
func Resume(dir string, opts Options) (*Engine, error) {
	run, err := results.ReadRun(dir)
	if err != nil {
		return nil, err
	}
	s, err := spec.Parse(run.Manifest.SpecFile+" (from "+filepath.Join(dir, results.ManifestFile)+")", []byte(run.Manifest.Spec))
	if err != nil {
		return nil, err
	}
	e := newEngine(s, opts)
	e.Dir = dir
	e.manifest = run.Manifest
	e.manifest.EndedAt = nil
	e.manifest.Resumes = append(e.manifest.Resumes, e.now().UTC())
	if len(opts.Argv) > 0 {
		e.manifest.Notes = setNote(e.manifest.Notes, "resume_argv_"+strconv.Itoa(len(e.manifest.Resumes)), fmt.Sprint(opts.Argv))
	}
	planned := map[string]bool{}
	for _, c := range e.cells {
		planned[c.ID] = true
	}
	kept := map[string]bool{}
	for _, r := range run.Cells {
		if !planned[r.CellID] {
			return nil, fmt.Errorf("%s: cell %s is not part of the spec in the manifest; refusing to mix runs", dir, r.CellID)
		}
		if opts.RetryFailed && (r.Status == results.StatusTimeout || r.Status == results.StatusCrash || r.Status == results.StatusError) {
			continue
		}
		e.rows = append(e.rows, r)
		e.done[r.CellID] = true
		kept[r.CellID] = true
		if r.Status == results.StatusOOM {
			e.noteOOM(e.cellByID(r.CellID))
		}
	}
	for _, sm := range run.Samples {
		if kept[sm.CellID] {
			e.samples = append(e.samples, sm)
		}
	}
	return e, nil
}

func setNote(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func newEngine(s *spec.Spec, opts Options) *Engine {
	return &Engine{Spec: s, Opts: opts, cells: Plan(s), done: map[string]bool{}, oomAt: map[oomKey][]oomPoint{}}
}

func (e *Engine) now() time.Time {
	if e.Opts.Now != nil {
		return e.Opts.Now()
	}
	return time.Now()
}

func (e *Engine) cellByID(id string) Cell {
	for _, c := range e.cells {
		if c.ID == id {
			return c
		}
	}
	return Cell{}
}

// Cells returns the planned cells in order.
func (e *Engine) Cells() []Cell { return e.cells }

// Run runs every cell not yet recorded. It returns when all are done or ctx
// is cancelled; in both cases the results directory holds every finished
// cell. On cancellation the error wraps ctx.Err().
func (e *Engine) Run(ctx context.Context) (*Summary, error) {
	logf, err := os.OpenFile(filepath.Join(e.Dir, results.RunnerLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p := newPool(e, e.Spec.Runner.MaxLive, logf)
	defer p.closeAll()

	sum := &Summary{Dir: e.Dir, Planned: len(e.cells), Resumed: len(e.done)}
	prog := e.Opts.Progress
	if prog == nil {
		prog = nopProgress{}
	}
	prog.Start(len(e.cells), len(e.done))
	var runErr error
	for _, c := range e.cells {
		if e.done[c.ID] {
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		prog.CellStart(c)
		var row results.CellRow
		var samples []results.SampleRow
		if reason := e.skipReason(c); reason != "" {
			row = e.baseRow(c, nil)
			row.Status = results.StatusSkipped
			row.Error = &reason
			row.StartedAt, row.EndedAt = e.now().UTC(), e.now().UTC()
		} else {
			row, samples = e.runCell(ctx, p, c)
			if ctx.Err() != nil {
				// Interrupted mid-cell: do not record a half-measured cell;
				// resume will redo it.
				runErr = ctx.Err()
				break
			}
		}
		if row.Status == results.StatusOOM {
			e.noteOOM(c)
		}
		e.rows = append(e.rows, row)
		e.samples = append(e.samples, samples...)
		e.done[c.ID] = true
		sum.Ran++
		if err := e.flush(); err != nil {
			return sum, err
		}
		prog.CellDone(c, row)
	}
	p.closeAll()
	sum.StatusCounts = e.statusCounts()
	if runErr == nil {
		t := e.now().UTC()
		e.manifest.EndedAt = &t
	}
	if err := e.writeManifest(); err != nil {
		return sum, err
	}
	prog.Finish(sum)
	if runErr != nil {
		return sum, fmt.Errorf("sweep interrupted; resume with `ssmbench run --resume %s`: %w", e.Dir, runErr)
	}
	return sum, nil
}

func (e *Engine) statusCounts() map[string]int {
	m := map[string]int{}
	for _, r := range e.rows {
		m[r.Status]++
	}
	return m
}

func (e *Engine) flush() error {
	if err := results.WriteParquet(filepath.Join(e.Dir, results.CellsFile), e.rows); err != nil {
		return err
	}
	if err := results.WriteParquet(filepath.Join(e.Dir, results.SamplesFile), e.samples); err != nil {
		return err
	}
	if e.Opts.Telemetry != nil {
		if err := e.Opts.Telemetry.Flush(filepath.Join(e.Dir, results.TelemetryFile)); err != nil {
			return err
		}
	}
	e.manifest.StatusCounts = e.statusCounts()
	return e.writeManifest()
}

func (e *Engine) writeManifest() error {
	return results.WriteJSON(filepath.Join(e.Dir, results.ManifestFile), e.manifest)
}

func (e *Engine) noteRunner(h *protocol.Message) {
	info := results.RunnerInfo{Name: h.Runner.Name, Version: h.Runner.Version, Env: h.Env}
	if h.Device != nil {
		info.Device = map[string]any{"kind": h.Device.Kind, "name": h.Device.Name, "index": h.Device.Index,
			"uuid": h.Device.UUID, "memory_bytes": h.Device.MemoryBytes, "cores": h.Device.Cores}
	}
	for _, r := range e.manifest.Runners {
		if r.Name == info.Name && r.Version == info.Version && fmt.Sprint(r.Device) == fmt.Sprint(info.Device) {
			return
		}
	}
	e.manifest.Runners = append(e.manifest.Runners, info)
}

// SetGPU records the NVML environment in the manifest.
func (e *Engine) SetGPU(env any) { e.manifest.GPU = env }

func (e *Engine) noteOOM(c Cell) {
	k := oomKey{c.Key(), c.Phase}
	e.oomAt[k] = append(e.oomAt[k], oomPoint{c.SeqLen, c.Batch})
}

func (e *Engine) skipReason(c Cell) string {
	for _, p := range e.oomAt[oomKey{c.Key(), c.Phase}] {
		if c.SeqLen >= p.seqLen && c.Batch >= p.batch {
			return fmt.Sprintf("skipped: %s ran out of memory at seq_len %d, batch %d", c.Key(), p.seqLen, p.batch)
		}
	}
	return ""
}

func randHex(n int) string {
	b := make([]byte, n)
	f, err := os.Open("/dev/urandom")
	if err == nil {
		_, _ = io.ReadFull(f, b)
		f.Close()
	}
	return hex.EncodeToString(b)
}

// IsInterrupted reports whether err came from a cancelled sweep.
func IsInterrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
