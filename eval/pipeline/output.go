package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/score"
)

// Manifest is manifest.json of an output directory.
type Manifest struct {
	Tool     string                 `json:"tool"`
	Version  string                 `json:"version,omitempty"`
	Argv     []string               `json:"argv,omitempty"`
	Variant  string                 `json:"variant"`
	Model    spec.Model             `json:"model"`
	Settings Settings               `json:"settings"`
	Runner   *RunnerInfo            `json:"runner,omitempty"`
	Benches  map[string]*BenchState `json:"benches"`
	Created  time.Time              `json:"created"`
	Updated  time.Time              `json:"updated"`
}

// BenchState is one benchmark's entry in the manifest.
type BenchState struct {
	Data         string `json:"data"`
	Format       string `json:"format"`
	DatasetItems int    `json:"dataset_items"`
	Limit        int    `json:"limit,omitempty"`
	Items        int    `json:"items"`
	MaxNum       int    `json:"max_num"`
	Upscale      bool   `json:"upscale_first_image,omitempty"`
	Rules        string `json:"rules"`
	Predictions  string `json:"predictions"`
	// Runs lists each invocation that asked this benchmark's items.
	Runs []*RunSpan `json:"runs"`
	// Headline is the last score's headline metric.
	Headline *eval.Metric `json:"headline,omitempty"`
}

// RunSpan is one invocation's work on a benchmark.
type RunSpan struct {
	Started      time.Time  `json:"started"`
	Runner       string     `json:"runner,omitempty"` // name, version, device, profile/dtype
	Ended        *time.Time `json:"ended,omitempty"`
	ResumedAfter int        `json:"resumed_after,omitempty"` // answers already in the file
	Asked        int        `json:"asked"`
	Answered     int        `json:"answered"`
	Errors       int        `json:"errors,omitempty"`
	Interrupted  bool       `json:"interrupted,omitempty"`
}

func manifestPath(out string) string { return filepath.Join(out, "manifest.json") }

func readManifest(out string) (*Manifest, error) {
	data, err := os.ReadFile(manifestPath(out))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, inputErr("%s: %v", manifestPath(out), err)
	}
	if m.Benches == nil {
		m.Benches = map[string]*BenchState{}
	}
	return &m, nil
}

// bench returns (creating) the manifest entry of a job, updated to it.
func (m *Manifest) bench(j *Job, o Options) *BenchState {
	st, ok := m.Benches[j.Bench]
	if !ok {
		st = &BenchState{}
		m.Benches[j.Bench] = st
	}
	st.Data, st.Format, st.DatasetItems = j.Full.Path, j.Full.Format, len(j.Full.Items)
	st.Limit, st.Items, st.MaxNum, st.Upscale = o.Limit, len(j.Data.Items), j.Image.MaxNum, j.Image.Upscale
	st.Rules = j.Rules
	st.Predictions, _ = filepath.Rel(o.Out, j.Predictions())
	return st
}

// writeManifest writes manifest.json atomically.
func (p *Plan) writeManifest() error {
	p.manifest.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(p.manifest, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(manifestPath(p.Opts.Out), append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Score scores each job's predictions file against its (limited)
// dataset, writes <bench>/score.json and <bench>/scores.parquet, then the
// combined scores.parquet of every benchmark scored in Out so far, and
// returns this plan's results in job order. MM-Vet gets its judge input
// (mmvet/judge_input.json) and a result without a score.
func (p *Plan) Score() ([]*eval.Result, error) {
	var out []*eval.Result
	for _, j := range p.Jobs {
		res, err := p.scoreJob(j)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
		if p.manifest != nil {
			if st, ok := p.manifest.Benches[j.Bench]; ok {
				h := res.Headline
				st.Headline = &h
			}
		}
	}
	if p.manifest != nil {
		if err := p.writeManifest(); err != nil {
			return nil, err
		}
	}
	if err := p.writeCombined(); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Plan) scoreJob(j *Job) (*eval.Result, error) {
	f, err := datasets.ReadEvalFile(j.Predictions())
	if errors.Is(err, os.ErrNotExist) {
		f = &datasets.EvalFile{Path: j.Predictions()}
	} else if err != nil {
		return nil, &InputError{err}
	}
	preds := f.Predictions()
	var res *eval.Result
	if j.Bench == datasets.MMVet {
		var buf bytes.Buffer
		if res, err = score.MMVetJudgeInput(&buf, j.Data, preds); err != nil {
			return nil, err
		}
		path := filepath.Join(j.Dir, "judge_input.json")
		if err := writeAtomic(path, buf.Bytes()); err != nil {
			return nil, err
		}
		res.Notef("judge input written to %s", path)
	} else if res, err = score.Score(j.Bench, j.Data, preds, j.Rules); err != nil {
		return nil, err
	}
	errs := 0
	answered := f.Answered()
	failed := map[string]bool{}
	for _, r := range f.Records {
		if r.Error != "" && answered[r.ItemID] == nil && !failed[r.ItemID] {
			failed[r.ItemID] = true
			errs++
		}
	}
	if errs > 0 {
		res.Notef("%d items failed in the runner (error records in %s) and count as missing; --resume asks them again", errs, j.Predictions())
	}
	if f.Torn > 0 {
		res.Notef("%s:%d is a torn line (an interrupted write); --resume asks its item again", j.Predictions(), f.Torn)
	}
	res.Notef("model %s; predictions %s", p.Opts.Variant, j.Predictions())
	var js bytes.Buffer
	if err := eval.WriteJSON(&js, res); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(j.Dir, "score.json"), js.Bytes()); err != nil {
		return nil, err
	}
	if err := writeRows(filepath.Join(j.Dir, "scores.parquet"), p.rows(res)); err != nil {
		return nil, err
	}
	return res, nil
}

func (p *Plan) rows(res *eval.Result) []eval.ScoreRow {
	rows := res.Rows()
	for i := range rows {
		rows[i].Variant = p.Opts.Variant
	}
	return rows
}

func writeRows(path string, rows []eval.ScoreRow) error {
	var buf bytes.Buffer
	if err := eval.WriteParquet(&buf, rows); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// ReadResults reads every <bench>/score.json under out, in Table 1 order
// then by name.
func ReadResults(out string) ([]*eval.Result, error) {
	files, err := filepath.Glob(filepath.Join(out, "*", "score.json"))
	if err != nil {
		return nil, err
	}
	rank := map[string]int{}
	for i, c := range eval.Table1Columns {
		rank[c.Bench] = i + 1
	}
	var res []*eval.Result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r eval.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		res = append(res, &r)
	}
	sort.SliceStable(res, func(a, b int) bool {
		ra, rb := rank[res[a].Bench], rank[res[b].Bench]
		if ra == 0 {
			ra = len(rank) + 1
		}
		if rb == 0 {
			rb = len(rank) + 1
		}
		if ra != rb {
			return ra < rb
		}
		return res[a].Bench < res[b].Bench
	})
	return res, nil
}

// writeCombined writes Out/scores.parquet from every score.json in Out.
func (p *Plan) writeCombined() error {
	all, err := ReadResults(p.Opts.Out)
	if err != nil {
		return err
	}
	var rows []eval.ScoreRow
	for _, r := range all {
		rows = append(rows, p.rows(r)...)
	}
	return writeRows(filepath.Join(p.Opts.Out, "scores.parquet"), rows)
}
