package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ssmbench/ssmbench/runners/configs"
)

// Load reads and parses the spec file at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses and validates a spec. file names the source in errors. The
// error, if any, is an Errors listing every problem found.
func Parse(file string, data []byte) (*Spec, error) {
	p := &parser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "the spec is empty"}}
		}
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return nil, Errors{{File: file, Line: line, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: file, Msg: "the spec is empty"}}
	}
	s := p.spec(doc.Content[0])
	s.File, s.Source = file, data
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return s, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

type parser struct {
	file string
	errs Errors
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping with only the known keys and returns
// key -> value node.
func (p *parser) fields(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "must be a mapping, got %s", kindName(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := joinPath(path, k.Value)
		if known != nil && !slices.Contains(known, k.Value) {
			p.fail(k, name, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.fail(k, name, "given twice")
		}
		out[k.Value] = v
	}
	return out
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "must be a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (p *parser) integer(n *yaml.Node, field string, min int) int {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "must be an integer, got %s", kindName(n))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		p.fail(n, field, "must be an integer, got %q", n.Value)
		return 0
	}
	if v < min {
		p.fail(n, field, "must be >= %d, got %d", min, v)
	}
	return v
}

func (p *parser) float(n *yaml.Node, field string) float64 {
	v, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.fail(n, field, "must be a number, got %s", kindName(n))
		return 0
	}
	return v
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		p.fail(n, field, "must be a positive duration such as 90s or 10m, got %s", kindName(n))
		return 0
	}
	return d
}

// list returns the items of a sequence; a scalar counts as a one-item list.
func (p *parser) list(n *yaml.Node, field string) []*yaml.Node {
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.fail(n, field, "must not be empty")
		}
		return n.Content
	case yaml.ScalarNode:
		return []*yaml.Node{n}
	}
	p.fail(n, field, "must be a list, got %s", kindName(n))
	return nil
}

func (p *parser) stringMap(n *yaml.Node, field string) map[string]string {
	out := map[string]string{}
	for k, v := range p.fields(n, field) {
		out[k] = p.str(v, joinPath(field, k))
	}
	return out
}

func (p *parser) spec(root *yaml.Node) *Spec {
	s := &Spec{
		Warmup: DefaultWarmup, Repetitions: DefaultRepetitions, Timeouts: DefaultTimeouts,
		Output: DefaultOutput, NewTokens: DefaultNewTokens, CacheFill: "auto", Seed: 1,
		Models: map[string]Model{},
	}
	f := p.fields(root, "", "name", "runner", "models", "axes", "grids", "cache_fill", "new_tokens",
		"warmup", "repetitions", "timeouts", "output", "seed")
	if n, ok := f["name"]; ok {
		s.Name = p.str(n, "name")
		if s.Name == "" {
			p.fail(n, "name", "must not be empty")
		} else if !validName.MatchString(s.Name) {
			p.fail(n, "name", "%q may hold only letters, digits, '.', '_' and '-'", s.Name)
		}
	} else {
		p.fail(root, "name", "required")
	}
	if n, ok := f["seed"]; ok {
		s.Seed = int64(p.integer(n, "seed", 0))
	}
	if n, ok := f["runner"]; ok {
		s.Runner = p.runner(n)
	} else {
		p.fail(root, "runner", "required")
	}
	if n, ok := f["models"]; ok {
		for name, mn := range p.fields(n, "models") {
			s.Models[name] = p.model(mn, "models."+name, s.Seed)
		}
	}
	var base Axes
	if n, ok := f["axes"]; ok {
		base = p.axes(n, "axes", nil)
	} else {
		p.fail(root, "axes", "required")
	}
	if n, ok := f["grids"]; ok {
		for i, g := range p.list(n, "grids") {
			s.Grids = append(s.Grids, p.axes(g, fmt.Sprintf("grids[%d]", i), &base))
		}
	} else {
		s.Grids = []Axes{base}
		p.requireAxes(root, "axes", base)
	}
	if n, ok := f["cache_fill"]; ok {
		s.CacheFill = p.str(n, "cache_fill")
		if !slices.Contains(Fills, s.CacheFill) {
			p.fail(n, "cache_fill", "%q is not one of %s", s.CacheFill, strings.Join(Fills, ", "))
		}
	}
	if n, ok := f["new_tokens"]; ok {
		s.NewTokens = p.integer(n, "new_tokens", 1)
	}
	if n, ok := f["warmup"]; ok {
		s.Warmup = p.warmup(n, "warmup", s.Warmup)
	}
	if n, ok := f["repetitions"]; ok {
		s.Repetitions = p.integer(n, "repetitions", 1)
	}
	if n, ok := f["timeouts"]; ok {
		t := p.fields(n, "timeouts", "start", "load", "cell", "rep")
		for key, dst := range map[string]*time.Duration{"start": &s.Timeouts.Start, "load": &s.Timeouts.Load, "cell": &s.Timeouts.Cell, "rep": &s.Timeouts.Rep} {
			if v, ok := t[key]; ok {
				*dst = p.duration(v, "timeouts."+key)
			}
		}
	}
	if n, ok := f["output"]; ok {
		s.Output = p.str(n, "output")
	}
	if s.Runner.MaxLive == 0 {
		s.Runner.MaxLive = 1
		if s.Runner.Kind == RunnerCPU {
			s.Runner.MaxLive = 1 << 10
		}
	}
	p.checkVariants(root, f, s)
	for i := range s.Grids {
		g := &s.Grids[i]
		if g.Batch == nil {
			g.Batch = []int{1}
		}
		if g.MemoryCap == nil {
			g.MemoryCap = []int64{0}
		}
		if g.Profile == nil {
			g.Profile = []string{defaultProfile(s.Runner.Kind)}
		}
		if g.DType == nil {
			g.DType = []string{defaultDType(s.Runner.Kind)}
		}
	}
	return s
}

func defaultProfile(kind string) string {
	if kind == RunnerTorch {
		return "matched"
	}
	return "reference"
}

func defaultDType(kind string) string {
	if kind == RunnerTorch {
		return "bf16"
	}
	return "fp32"
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (p *parser) warmup(n *yaml.Node, path string, def Warmup) Warmup {
	out := def
	w := p.fields(n, path, "min", "max", "window", "cv")
	if v, ok := w["min"]; ok {
		out.Min = p.integer(v, path+".min", 0)
	}
	if v, ok := w["max"]; ok {
		out.Max = p.integer(v, path+".max", 0)
	}
	if v, ok := w["window"]; ok {
		out.Window = p.integer(v, path+".window", 2)
	}
	if v, ok := w["cv"]; ok {
		out.CV = p.float(v, path+".cv")
		if out.CV <= 0 {
			p.fail(v, path+".cv", "must be > 0 (a fraction, e.g. 0.05)")
		}
	}
	if out.Max < out.Min {
		p.fail(n, path+".max", "%d is below %s.min %d", out.Max, path, out.Min)
	}
	return out
}

func (p *parser) runner(n *yaml.Node) Runner {
	r := Runner{Python: "python3"}
	if n.Kind == yaml.ScalarNode { // short form: runner: cpu
		r.Kind = n.Value
	} else {
		f := p.fields(n, "runner", "kind", "python", "command", "env", "options", "max_live")
		if v, ok := f["kind"]; ok {
			r.Kind = p.str(v, "runner.kind")
		} else {
			p.fail(n, "runner.kind", "required (cpu, torch or command)")
		}
		if v, ok := f["python"]; ok {
			r.Python = p.str(v, "runner.python")
		}
		if v, ok := f["command"]; ok {
			for i, a := range p.list(v, "runner.command") {
				r.Command = append(r.Command, p.str(a, fmt.Sprintf("runner.command[%d]", i)))
			}
		}
		if v, ok := f["env"]; ok {
			r.Env = p.stringMap(v, "runner.env")
		}
		if v, ok := f["options"]; ok {
			r.Options = p.stringMap(v, "runner.options")
		}
		if v, ok := f["max_live"]; ok {
			r.MaxLive = p.integer(v, "runner.max_live", 1)
		}
	}
	switch r.Kind {
	case RunnerCPU, RunnerTorch:
	case RunnerCommand:
		if len(r.Command) == 0 {
			p.fail(n, "runner.command", "required when runner.kind is command")
		}
	case "":
		if n.Kind == yaml.ScalarNode {
			p.fail(n, "runner.kind", "required (cpu, torch or command)")
		}
	default:
		p.fail(n, "runner.kind", "%q is not cpu, torch or command", r.Kind)
	}
	return r
}

func (p *parser) model(n *yaml.Node, path string, seed int64) Model {
	m := Model{Weights: "random", Seed: seed}
	if n.Kind == yaml.ScalarNode { // short form: name: config-ref
		m.Config = n.Value
		return m
	}
	f := p.fields(n, path, "config", "weights", "seed")
	if v, ok := f["config"]; ok {
		m.Config = p.str(v, path+".config")
		if _, err := configs.Load(m.Config); err != nil {
			p.fail(v, path+".config", "%v", err)
		}
	} else {
		p.fail(n, path+".config", "required")
	}
	if v, ok := f["weights"]; ok {
		m.Weights = p.str(v, path+".weights")
		if m.Weights != "random" {
			if st, err := os.Stat(m.Weights); err != nil || !st.IsDir() {
				p.fail(v, path+".weights", "%q is neither \"random\" nor a checkpoint directory", m.Weights)
			}
		}
	}
	if v, ok := f["seed"]; ok {
		m.Seed = int64(p.integer(v, path+".seed", 0))
	}
	return m
}

func (p *parser) axes(n *yaml.Node, path string, base *Axes) Axes {
	var a Axes
	if base != nil {
		a = *base
	}
	known := []string{"variant", "seq_len", "batch", "phase", "profile", "dtype", "memory_cap"}
	if base != nil {
		known = append(known, "repetitions", "warmup")
	}
	f := p.fields(n, path, known...)
	if v, ok := f["repetitions"]; ok {
		a.Repetitions = p.integer(v, path+".repetitions", 1)
	}
	if v, ok := f["warmup"]; ok {
		w := p.warmup(v, path+".warmup", DefaultWarmup)
		a.Warmup = &w
	}
	if v, ok := f["variant"]; ok {
		a.Variant = nil
		for i, x := range p.list(v, path+".variant") {
			a.Variant = append(a.Variant, p.str(x, fmt.Sprintf("%s.variant[%d]", path, i)))
		}
	}
	if v, ok := f["seq_len"]; ok {
		a.SeqLen = nil
		for i, x := range p.list(v, path+".seq_len") {
			field := fmt.Sprintf("%s.seq_len[%d]", path, i)
			n, err := ParseCount(x.Value)
			if err != nil || n <= 0 {
				p.fail(x, field, "%q is not a positive token count (e.g. 4096, 4K, 103K)", x.Value)
			}
			a.SeqLen = append(a.SeqLen, int(n))
		}
	}
	if v, ok := f["batch"]; ok {
		a.Batch = nil
		for i, x := range p.list(v, path+".batch") {
			a.Batch = append(a.Batch, p.integer(x, fmt.Sprintf("%s.batch[%d]", path, i), 1))
		}
	}
	enum := func(key string, allowed []string, dst *[]string) {
		v, ok := f[key]
		if !ok {
			return
		}
		*dst = nil
		for i, x := range p.list(v, path+"."+key) {
			field := fmt.Sprintf("%s.%s[%d]", path, key, i)
			s := p.str(x, field)
			if !slices.Contains(allowed, s) {
				p.fail(x, field, "%q is not one of %s", s, strings.Join(allowed, ", "))
			}
			*dst = append(*dst, s)
		}
	}
	enum("phase", Phases, &a.Phase)
	enum("profile", Profiles, &a.Profile)
	enum("dtype", DTypes, &a.DType)
	if v, ok := f["memory_cap"]; ok {
		a.MemoryCap = nil
		for i, x := range p.list(v, path+".memory_cap") {
			b, err := ParseBytes(x.Value)
			if err != nil {
				p.fail(x, fmt.Sprintf("%s.memory_cap[%d]", path, i), "%v", err)
			}
			a.MemoryCap = append(a.MemoryCap, b)
		}
	}
	if base != nil {
		p.requireAxes(n, path, a)
	}
	return a
}

func (p *parser) requireAxes(n *yaml.Node, path string, a Axes) {
	if a.Variant == nil {
		p.fail(n, path+".variant", "required")
	}
	if a.SeqLen == nil {
		p.fail(n, path+".seq_len", "required")
	}
	if a.Phase == nil {
		p.fail(n, path+".phase", "required")
	}
}

// checkVariants resolves every variant in the axes to a config.
func (p *parser) checkVariants(root *yaml.Node, f map[string]*yaml.Node, s *Spec) {
	seen := map[string]bool{}
	for _, g := range s.Grids {
		for _, v := range g.Variant {
			if seen[v] {
				continue
			}
			seen[v] = true
			if _, ok := s.Models[v]; ok {
				continue
			}
			if _, err := configs.Builtin(v); err != nil {
				node := root
				for _, key := range []string{"axes", "grids"} {
					if n, ok := f[key]; ok {
						if found := findScalar(n, v); found != nil {
							node = found
							break
						}
					}
				}
				p.fail(node, "variant", "unknown variant %q: not defined under models and not a builtin config (%s)",
					v, strings.Join(configs.Builtins(), ", "))
			}
		}
	}
}

// findScalar returns the first scalar node under n with that value, or nil.
func findScalar(n *yaml.Node, value string) *yaml.Node {
	if n.Kind == yaml.ScalarNode {
		if n.Value == value {
			return n
		}
		return nil
	}
	for _, c := range n.Content {
		if f := findScalar(c, value); f != nil {
			return f
		}
	}
	return nil
}

// ParseCount parses a token count: a plain integer, or an integer with a K
// (x1024) or M (x1024^2) suffix, e.g. "4K", "103K".
func ParseCount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K") || strings.HasSuffix(s, "k"):
		mult, s = 1024, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}

// ParseBytes parses a byte size such as 0, 24GiB, 512MiB, 1.5GB or 1048576.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("%q is not a byte size (e.g. 24GiB)", s)
			}
			return int64(v * u.mult), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a byte size (e.g. 24GiB)", s)
	}
	return v, nil
}
