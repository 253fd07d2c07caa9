package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/datasets/imageproc"
	"github.com/ssmbench/ssmbench/eval/prompt"
	"github.com/ssmbench/ssmbench/eval/pycompat"
	"github.com/ssmbench/ssmbench/runners/protocol"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// Runner answers infer requests. The reply is the runner's "output"
// message; a *protocol.RunnerError is an "error" reply.
type Runner interface {
	Infer(ctx context.Context, req *protocol.InferRequest) (*protocol.Message, error)
}

// ClientRunner is a Runner over a started runner process.
type ClientRunner struct {
	Client *protocol.Client
	// Timeout bounds one request (0: none).
	Timeout time.Duration
	Hello   *protocol.Message
	Loaded  *protocol.Message
	n       int
}

// Infer sends one infer request and waits for its reply.
func (c *ClientRunner) Infer(ctx context.Context, req *protocol.InferRequest) (*protocol.Message, error) {
	c.n++
	return c.Client.Call(ctx, &protocol.Message{Type: protocol.TypeInfer, ID: "infer-" + strconv.Itoa(c.n), Infer: req}, c.Timeout)
}

// Close shuts the runner down.
func (c *ClientRunner) Close() error { return c.Client.Close(10 * time.Second) }

// StartRunner starts the runner spec s names for variant (its model as
// s.ModelFor gives it), loads the model with the given profile and dtype
// and a max_seq_len of maxSeq, and checks that it answers infer requests.
// The runner's stderr goes to log.
func StartRunner(ctx context.Context, s *spec.Spec, opts engine.Options, variant, profile, dtype string, maxSeq int, log io.Writer) (*ClientRunner, error) {
	es := *s
	// StartRunner sizes max_seq_len from the spec's grids: one generate
	// grid of the longest prompt plus MaxNewTokens says it.
	es.Grids = []spec.Axes{{Variant: []string{variant}, Phase: []string{protocol.PhaseGenerate}, SeqLen: []int{maxSeq}, Profile: []string{profile}, DType: []string{dtype}}}
	es.NewTokens = 0
	cell := engine.Cell{Variant: variant, Model: s.ModelFor(variant), Phase: protocol.PhaseGenerate, SeqLen: maxSeq, Batch: 1, Profile: profile, DType: dtype}
	r, err := engine.StartRunner(ctx, &es, opts, cell, log)
	if err != nil {
		return nil, err
	}
	if caps := r.Hello.Capabilities; caps == nil || !caps.Infer {
		r.Client.Kill()
		return nil, &protocol.RunnerError{Status: protocol.StatusUnsupported,
			Message: fmt.Sprintf("runner %s does not answer infer requests (no \"infer\" capability in its hello)", r.Hello.Runner.Name)}
	}
	return &ClientRunner{Client: r.Client, Hello: r.Hello, Loaded: r.Loaded}, nil
}

// prepared is one item ready to send.
type prepared struct {
	job   *Job
	item  *datasets.Item
	req   *protocol.InferRequest
	user  string
	tiles []int
	files []string
	err   error
}

// Progress receives the count of answered items of a benchmark.
type Progress func(bench string, done, total int)

// Execute asks every pending item of every job, appending each answer to
// the job's predictions file as it comes. It returns ctx's error when
// interrupted (what was answered stays written) and stops at the first
// failure of the runner itself; an item the runner refuses with an "oom"
// or "error" reply is recorded as an error record and the run goes on.
func (p *Plan) Execute(ctx context.Context, r Runner, info *RunnerInfo, progress Progress) error {
	if err := os.MkdirAll(p.Opts.Out, 0o755); err != nil {
		return err
	}
	m := p.manifest
	if m == nil {
		m = &Manifest{Tool: "ssmbench eval", Variant: p.Opts.Variant, Settings: p.Settings, Benches: map[string]*BenchState{}, Created: time.Now().UTC()}
		p.manifest = m
	}
	m.Version, m.Argv, m.Model = p.Opts.Version, p.Opts.Argv, p.Opts.Model
	if info != nil {
		m.Runner = info
	}
	tmp, err := os.MkdirTemp(p.Opts.Out, ".pixels-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, j := range p.Jobs {
		if err := p.runJob(ctx, r, j, tmp, progress); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plan) runJob(ctx context.Context, r Runner, j *Job, tmp string, progress Progress) (err error) {
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return err
	}
	st := p.manifest.bench(j, p.Opts)
	run := &RunSpan{Started: time.Now().UTC(), Asked: len(j.Pending), Runner: p.manifest.Runner.String()}
	st.Runs = append(st.Runs, run)
	f, err := os.OpenFile(j.Predictions(), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if j.Prev != nil {
		// Drop a torn final line, then append after the complete ones.
		if err := f.Truncate(j.Prev.Valid); err != nil {
			return err
		}
		run.ResumedAfter = len(j.Prev.Answered())
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	defer func() {
		now := time.Now().UTC()
		run.Ended = &now
		run.Interrupted = ctx.Err() != nil
		if werr := p.writeManifest(); err == nil {
			err = werr
		}
	}()
	if err := p.writeManifest(); err != nil {
		return err
	}

	total := len(j.Data.Items)
	done := total - len(j.Pending)
	if progress != nil {
		progress(j.Bench, done, total)
	}
	// Prepare (decode, tile, write pixel files) ahead of the runner.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *prepared, 2)
	go func() {
		defer close(queue)
		for n, i := range j.Pending {
			pr := p.prepare(j, &j.Data.Items[i], tmp, n)
			select {
			case queue <- pr:
			case <-pctx.Done():
				removeAll(pr.files)
				return
			}
			if pr.err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for pr := range queue {
			removeAll(pr.files)
		}
	}()
	for pr := range queue {
		if pr.err != nil {
			return pr.err
		}
		rec, err := p.ask(ctx, r, pr)
		removeAll(pr.files)
		if err != nil {
			return err
		}
		line, err := marshalLine(rec)
		if err != nil {
			return err
		}
		if _, err := f.Write(line); err != nil {
			return fmt.Errorf("%s: %w", j.Predictions(), err)
		}
		if rec.Error != "" {
			run.Errors++
		} else {
			run.Answered++
			done++
		}
		if progress != nil {
			progress(j.Bench, done, total)
		}
	}
	return ctx.Err()
}

// marshalLine renders a record as one JSON line (prompts keep their < >).
func marshalLine(rec *datasets.EvalRecord) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func removeAll(files []string) {
	for _, f := range files {
		_ = os.Remove(f)
	}
}

// prepare builds one item's request: prompt, image tiles written as
// pixel files under tmp.
func (p *Plan) prepare(j *Job, it *datasets.Item, tmp string, n int) *prepared {
	pr := &prepared{job: j, item: it}
	fail := func(err error) *prepared {
		removeAll(pr.files)
		pr.files = nil
		pr.err = err
		return pr
	}
	q, err := prompt.Question(j.Bench, it)
	if err != nil {
		return fail(err)
	}
	pr.user = prompt.User(q, len(it.Images))
	texts, err := prompt.Split(prompt.Chat(p.Opts.System, pr.user), len(it.Images))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", it.Where, err))
	}
	req := &protocol.InferRequest{MaxNewTokens: p.Opts.MaxNewTokens, Stop: prompt.Stop()}
	for k, im := range it.Images {
		if texts[k] != "" {
			req.Segments = append(req.Segments, protocol.Segment{Text: texts[k]})
		}
		data, err := imageBytes(j.Full, im)
		if err != nil {
			return fail(inputErr("%s: image %d: %v", it.Where, k+1, err))
		}
		o := j.Image
		o.Upscale = o.Upscale && k == 0 // VLMEvalKit upscales MMMU's first image only
		px, err := imageproc.Preprocess(data, o)
		if err != nil {
			return fail(inputErr("%s: image %d: %v", it.Where, k+1, err))
		}
		path := filepath.Join(tmp, fmt.Sprintf("%s-%d-%d.safetensors", j.Bench, n, k))
		if err := writePixels(path, px); err != nil {
			return fail(err)
		}
		pr.files = append(pr.files, path)
		pr.tiles = append(pr.tiles, px.Tiles)
		req.Segments = append(req.Segments, protocol.Segment{Image: &protocol.ImageSegment{Path: path, Tiles: px.Tiles}})
	}
	if last := texts[len(texts)-1]; last != "" {
		req.Segments = append(req.Segments, protocol.Segment{Text: last})
	}
	pr.req = req
	return pr
}

// imageBytes returns an item image's file bytes, following VLMEvalKit
// references through the full dataset.
func imageBytes(ds *datasets.Dataset, im datasets.Image) ([]byte, error) {
	im, err := ds.ResolveImage(im)
	if err != nil {
		return nil, err
	}
	if im.Path != "" {
		return os.ReadFile(im.Path)
	}
	data, err := im.Data()
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("no image data")
	}
	return data, nil
}

// writePixels writes the tiles as the infer request's pixel file.
func writePixels(path string, px *imageproc.Pixels) error {
	t, err := safetensors.Float32Tensor(protocol.PixelTensor, safetensors.F32, []int64{int64(px.Tiles), 3, int64(px.Size), int64(px.Size)}, px.Data)
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, []safetensors.Tensor{t}, map[string]string{
		"grid": fmt.Sprintf("%dx%d", px.Grid.Cols, px.Grid.Rows), "thumbnail": strconv.FormatBool(px.Thumbnail),
		"source_size": fmt.Sprintf("%dx%d", px.Width, px.Height),
	})
}

// ask sends one request and turns the reply into a record.
func (p *Plan) ask(ctx context.Context, r Runner, pr *prepared) (*datasets.EvalRecord, error) {
	rec := &datasets.EvalRecord{ItemID: pr.item.ID, Bench: pr.job.Bench, Prompt: pr.user, Tiles: pr.tiles}
	reply, err := r.Infer(ctx, pr.req)
	if err != nil {
		var re *protocol.RunnerError
		if errors.As(err, &re) && (re.Status == protocol.StatusOOM || re.Status == protocol.StatusError) && ctx.Err() == nil {
			rec.Error = re.Status + ": " + re.Message
			return rec, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s item %s: %w", pr.job.Bench, pr.item.ID, err)
	}
	if reply.Output == nil {
		return nil, fmt.Errorf("%s item %s: the runner's reply has no output", pr.job.Bench, pr.item.ID)
	}
	o := reply.Output
	// chat(): response.split(template.sep)[0].strip()
	rec.Text = pycompat.Strip(o.Text)
	rec.PromptTokens, rec.ImageTokens, rec.GeneratedTokens, rec.StopReason = o.PromptTokens, o.ImageTokens, o.GeneratedTokens, o.StopReason
	rec.LatencyMS = reply.Metrics["latency_ms"]
	for k, v := range reply.Metrics {
		if k == "latency_ms" {
			continue
		}
		if rec.Metrics == nil {
			rec.Metrics = map[string]float64{}
		}
		rec.Metrics[k] = v
	}
	if want := p.TokensPerTile * sum(pr.tiles); o.ImageTokens != want {
		return nil, fmt.Errorf("%s item %s: the runner placed %d image tokens; %d tiles of %d tokens need %d", pr.job.Bench, pr.item.ID, o.ImageTokens, sum(pr.tiles), p.TokensPerTile, want)
	}
	return rec, nil
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// RunnerInfo is what the manifest records about the runner.
type RunnerInfo struct {
	Name         string                 `json:"name"`
	Version      string                 `json:"version"`
	Device       *protocol.DeviceInfo   `json:"device,omitempty"`
	Capabilities *protocol.Capabilities `json:"capabilities,omitempty"`
	Env          map[string]string      `json:"env,omitempty"`
	Load         map[string]float64     `json:"load_metrics,omitempty"`
	Info         map[string]string      `json:"load_info,omitempty"`
	Profile      string                 `json:"profile,omitempty"`
	DType        string                 `json:"dtype,omitempty"`
}

// String summarises the runner for a run's record ("" when unknown).
func (ri *RunnerInfo) String() string {
	if ri == nil {
		return ""
	}
	s := ri.Name + " " + ri.Version
	if ri.Device != nil {
		s += " on " + ri.Device.Kind + " " + ri.Device.Name
	}
	return s + " (" + ri.Profile + "/" + ri.DType + ")"
}

// NewRunnerInfo collects a runner's hello and loaded replies.
func NewRunnerInfo(hello, loaded *protocol.Message, profile, dtype string) *RunnerInfo {
	ri := &RunnerInfo{Profile: profile, DType: dtype}
	if hello != nil {
		if hello.Runner != nil {
			ri.Name, ri.Version = hello.Runner.Name, hello.Runner.Version
		}
		ri.Device, ri.Capabilities, ri.Env = hello.Device, hello.Capabilities, hello.Env
	}
	if loaded != nil {
		ri.Load, ri.Info = loaded.Metrics, loaded.Info
	}
	return ri
}

// knownBench reports whether b is a benchmark name.
func knownBench(b string) bool { return slices.Contains(datasets.Benches, b) }

// CheckBenches validates benchmark names.
func CheckBenches(benches []string) error {
	for _, b := range benches {
		if !knownBench(b) {
			return inputErr("unknown benchmark %q (want one of %s)", b, strings.Join(datasets.Benches, ", "))
		}
	}
	return nil
}
