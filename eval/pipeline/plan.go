// Package pipeline runs benchmarks through a runner: it loads the items
// (package datasets), builds the seed's prompts (eval/prompt), preprocesses
// the images as HoVLE does (datasets/imageproc), sends one infer request per
// item (runners/protocol), appends each answer to a predictions jsonl as it
// comes (so an interrupted run resumes), then scores the predictions
// (eval/score) and writes the scores as JSON and parquet with a manifest.
//
// Layout of an output directory:
//
//	manifest.json              settings, runner, per-benchmark state
//	runner.log                 the runner's stderr
//	scores.parquet             every benchmark's score rows (eval.ScoreRow)
//	<bench>/predictions.jsonl  one datasets.EvalRecord a line
//	<bench>/score.json         the eval.Result
//	<bench>/scores.parquet     its rows
//	mmvet/judge_input.json     MM-Vet: the GPT judge's input (no score)
package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/datasets/imageproc"
	"github.com/ssmbench/ssmbench/eval/prompt"
	"github.com/ssmbench/ssmbench/eval/score"
	"github.com/ssmbench/ssmbench/runners/configs"
)

// DefaultMaxNewTokens is the seed's generation budget (VLMEvalKit wrapper:
// do_sample=False, max_new_tokens=1024).
const DefaultMaxNewTokens = 1024

// DefaultMaxNum returns the seed's tile cap for a benchmark: 12 for MMMU,
// 6 otherwise (VLMEvalKit's InternVL wrapper; the InternVL eval kit's
// --max-num default for POPE and GQA is 6 too).
func DefaultMaxNum(bench string) int {
	if bench == datasets.MMMU {
		return 12
	}
	return 6
}

// Upscales reports whether the seed doubles a benchmark's first image
// before tiling (VLMEvalKit's InternVL wrapper: MMMU).
func Upscales(bench string) bool { return bench == datasets.MMMU }

// InputError is bad input (an unknown benchmark, a dataset that does not
// load, an output directory that does not match the run); the CLI exits 2.
type InputError struct{ Err error }

// Error returns the wrapped error's message.
func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, a ...any) error { return &InputError{fmt.Errorf(format, a...)} }

// Options configure an evaluation.
type Options struct {
	// Benches are the benchmarks to run, in order.
	Benches []string
	// Variant names the model (a builtin config name or the spec's model
	// name); Model is its config and weights as the runner loads them.
	Variant string
	Model   spec.Model
	// Data is the benchmark's data path (one benchmark only); otherwise
	// Registry locates each benchmark.
	Data     string
	Registry *datasets.Registry
	// Limit, when > 0, keeps the first Limit items (rounded up to whole
	// MME image pairs and MMBench circular groups).
	Limit int
	// MaxNum overrides every benchmark's tile cap (0: DefaultMaxNum).
	MaxNum int
	// MaxNewTokens bounds each answer (0: DefaultMaxNewTokens).
	MaxNewTokens int
	// Out is the output directory.
	Out string
	// Rules is the rules variant for every benchmark ("" = each one's
	// default, the seed's toolkit).
	Rules string
	// Resume continues the predictions already in Out; without it a
	// benchmark whose predictions file is not empty is refused.
	Resume bool
	// System is the chat template's system message ("" = prompt.SystemMessage).
	System string
	// Version and Argv are recorded in the manifest.
	Version string
	Argv    []string
}

// Job is one benchmark of a plan.
type Job struct {
	Bench string
	// Full is the dataset as loaded; Data its items after Limit.
	Full, Data *datasets.Dataset
	Source     datasets.Entry
	Dir        string // Out/<bench>
	Rules      string // resolved rules variant
	Image      imageproc.Options
	// Prev is the predictions file found on resume (nil if none).
	Prev *datasets.EvalFile
	// Pending are the indices in Data.Items still to ask.
	Pending []int
}

// Predictions returns the job's predictions file path.
func (j *Job) Predictions() string { return filepath.Join(j.Dir, "predictions.jsonl") }

// Plan is a prepared evaluation: data loaded, resume state read, nothing
// written yet.
type Plan struct {
	Opts          Options
	Model         *configs.Model
	TokensPerTile int
	Settings      Settings
	Jobs          []*Job
	manifest      *Manifest
}

// Settings are the choices every answer of an output directory shares; a
// resumed run must use the same.
type Settings struct {
	System        string   `json:"system"`
	Template      string   `json:"template"`
	Stop          []string `json:"stop"`
	Decoding      string   `json:"decoding"`
	MaxNewTokens  int      `json:"max_new_tokens"`
	TileSize      int      `json:"tile_size"`
	TokensPerTile int      `json:"tokens_per_tile"`
	MinTiles      int      `json:"min_tiles"`
	Thumbnail     bool     `json:"thumbnail"`
	Resample      string   `json:"resample"`
	Normalisation string   `json:"normalisation"`
}

// TokensPerTile is the number of image tokens one tile becomes:
// (image_size/patch_size)² · downsample_ratio².
func TokensPerTile(m *configs.Model) int {
	g := float64(m.ImageSize/m.PatchSize) * m.DownSample
	return int(g * g)
}

// NewPlan loads every benchmark's data, applies the limit and reads what
// an earlier run left in Out.
func NewPlan(o Options, model *configs.Model) (*Plan, error) {
	if len(o.Benches) == 0 {
		return nil, inputErr("no benchmark given")
	}
	if o.Data != "" && len(o.Benches) != 1 {
		return nil, inputErr("--data names one benchmark's data; %d benchmarks given", len(o.Benches))
	}
	if o.Out == "" {
		return nil, inputErr("no output directory")
	}
	if o.MaxNewTokens == 0 {
		o.MaxNewTokens = DefaultMaxNewTokens
	}
	if o.MaxNewTokens < 1 || o.MaxNum < 0 || o.Limit < 0 {
		return nil, inputErr("max-new-tokens must be >= 1, max-num and limit >= 0")
	}
	if o.System == "" {
		o.System = prompt.SystemMessage
	}
	abs, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	o.Out = abs
	p := &Plan{Opts: o, Model: model, TokensPerTile: TokensPerTile(model)}
	p.Settings = Settings{
		System: o.System, Template: "internlm2-chat", Stop: prompt.Stop(), Decoding: "greedy",
		MaxNewTokens: o.MaxNewTokens, TileSize: model.ImageSize, TokensPerTile: p.TokensPerTile,
		MinTiles: 1, Thumbnail: true, Resample: "Pillow-exact bicubic (datasets/imageproc)",
		Normalisation: "ImageNet mean/std, float32",
	}
	if p.manifest, err = readManifest(o.Out); err != nil {
		return nil, err
	}
	if m := p.manifest; m != nil {
		if m.Variant != o.Variant {
			return nil, inputErr("%s: holds results of variant %q, not %q; use another --out", manifestPath(o.Out), m.Variant, o.Variant)
		}
		if !reflect.DeepEqual(m.Settings, p.Settings) {
			return nil, inputErr("%s: settings differ from this run's (%s); use the same flags or another --out", manifestPath(o.Out), settingsDiff(m.Settings, p.Settings))
		}
	}
	seen := map[string]bool{}
	for _, b := range o.Benches {
		if seen[b] {
			return nil, inputErr("benchmark %s given twice", b)
		}
		seen[b] = true
		j, err := p.newJob(b)
		if err != nil {
			return nil, err
		}
		p.Jobs = append(p.Jobs, j)
	}
	return p, nil
}

func settingsDiff(a, b Settings) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var diffs []string
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: %v then, %v now", va.Type().Field(i).Tag.Get("json"), va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return strings.Join(diffs, "; ")
}

func (p *Plan) newJob(bench string) (*Job, error) {
	o := p.Opts
	rules, _, err := score.Resolve(bench, o.Rules)
	if err != nil {
		return nil, &InputError{err}
	}
	var e datasets.Entry
	switch {
	case o.Data != "":
		e = datasets.Entry{Path: o.Data}
	case o.Registry != nil:
		if e, err = o.Registry.Entry(bench); err != nil {
			return nil, &InputError{err}
		}
	default:
		return nil, inputErr("%s: no data: give --data PATH or a registry entry", bench)
	}
	full, err := datasets.Load(bench, e)
	if err != nil {
		return nil, &InputError{err}
	}
	maxNum := o.MaxNum
	if maxNum == 0 {
		maxNum = DefaultMaxNum(bench)
	}
	j := &Job{Bench: bench, Full: full, Data: limit(full, o.Limit), Source: e, Dir: filepath.Join(o.Out, bench), Rules: rules,
		Image: imageproc.Options{Size: p.Model.ImageSize, MinNum: 1, MaxNum: maxNum, Thumbnail: true, Upscale: Upscales(bench)}}
	if p.manifest != nil {
		if st, ok := p.manifest.Benches[bench]; ok && st.MaxNum != maxNum {
			return nil, inputErr("%s: %s was run with max-num %d, not %d; use the same --max-num or another --out", manifestPath(o.Out), bench, st.MaxNum, maxNum)
		}
	}
	prev, err := datasets.ReadEvalFile(j.Predictions())
	switch {
	case errors.Is(err, os.ErrNotExist):
		prev = nil
	case err != nil:
		return nil, &InputError{err}
	}
	if prev != nil && (len(prev.Records) > 0 || prev.Torn > 0) && !o.Resume {
		return nil, inputErr("%s already holds %d predictions; pass --resume to continue it, or use another --out", j.Predictions(), len(prev.Records))
	}
	j.Prev = prev
	answered := map[string]bool{}
	if prev != nil {
		for id := range prev.Answered() {
			answered[id] = true
		}
	}
	for i := range j.Data.Items {
		if !answered[j.Data.Items[i].ID] {
			j.Pending = append(j.Pending, i)
		}
	}
	if err := j.checkImages(); err != nil {
		return nil, err
	}
	return j, nil
}

// checkImages makes sure every pending item's images can be found before
// a runner is started: references resolve, files exist, cells hold data.
func (j *Job) checkImages() error {
	missing, first := 0, ""
	for _, i := range j.Pending {
		it := &j.Data.Items[i]
		for k, im := range it.Images {
			im, err := j.Full.ResolveImage(im)
			switch {
			case err != nil:
			case im.Path != "":
				_, err = os.Stat(im.Path)
			case im.Bytes == nil && im.Base64 == "":
				err = errors.New("no image data")
			}
			if err != nil {
				if missing == 0 {
					first = fmt.Sprintf("%s: image %d: %v", it.Where, k+1, err)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		return inputErr("%s: %d images of the items to ask cannot be read, the first: %s (give the image folder in the registry entry's images field)", j.Bench, missing, first)
	}
	return nil
}

// groupKey keeps what scoring needs together when limiting: an MMBench
// question's circular passes, an MME image's two questions.
func groupKey(bench string, it *datasets.Item) string {
	switch {
	case bench == datasets.MMBench && it.Index >= 0:
		return fmt.Sprint(it.Index % 1_000_000)
	case bench == datasets.MME:
		return it.Field("subtask") + "/" + it.Field("image")
	}
	return it.ID
}

// limit keeps the first n items of ds (all of them when n is 0), rounded
// up to whole groups.
func limit(ds *datasets.Dataset, n int) *datasets.Dataset {
	if n <= 0 || n >= len(ds.Items) {
		return ds
	}
	size := map[string]int{}
	for i := range ds.Items {
		size[groupKey(ds.Bench, &ds.Items[i])]++
	}
	chosen := map[string]bool{}
	count := 0
	for i := range ds.Items {
		if count >= n {
			break
		}
		if k := groupKey(ds.Bench, &ds.Items[i]); !chosen[k] {
			chosen[k] = true
			count += size[k]
		}
	}
	out := &datasets.Dataset{Bench: ds.Bench, Format: ds.Format, Path: ds.Path}
	for i := range ds.Items {
		if chosen[groupKey(ds.Bench, &ds.Items[i])] {
			out.Items = append(out.Items, ds.Items[i])
		}
	}
	return out
}

// Pending returns how many items the plan still has to ask.
func (p *Plan) Pending() int {
	n := 0
	for _, j := range p.Jobs {
		n += len(j.Pending)
	}
	return n
}

// MaxSeqLen bounds the context any request of the plan needs: per item,
// (MaxNum + 1 thumbnail) tiles of TokensPerTile tokens and two boundary
// tokens per image, a token per byte of text (a byte-fallback tokenizer's
// worst case) plus BOS, then MaxNewTokens.
func (p *Plan) MaxSeqLen() int {
	longest := 0
	for _, j := range p.Jobs {
		for _, i := range j.Pending {
			it := &j.Data.Items[i]
			q, err := prompt.Question(j.Bench, it)
			if err != nil {
				continue
			}
			n := len(prompt.Chat(p.Opts.System, prompt.User(q, len(it.Images)))) + 1
			n += len(it.Images) * ((j.Image.MaxNum+1)*p.TokensPerTile + 2 - len(prompt.ImageTag))
			longest = max(longest, n)
		}
	}
	return longest + p.Opts.MaxNewTokens
}
