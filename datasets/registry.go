package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// On-disk formats.
const (
	FormatVLMEvalKit = "vlmevalkit-tsv" // VLMEvalKit dataset TSV (any bench)
	FormatMME        = "mme"            // MME_Benchmark_release_version/<subtask>/...
	FormatPOPE       = "pope"           // coco_pope_<split>.json (+ LLaVA question jsonl)
	FormatTextVQA    = "textvqa"        // TextVQA_0.5.1_val.json
	FormatGQA        = "gqa"            // testdev_balanced_questions.json
	FormatVQAv2      = "vqav2"          // v2_OpenEnded_mscoco_val2014_questions.json + annotations
	FormatSEED       = "seed"           // SEED-Bench.json
	FormatScienceQA  = "scienceqa"      // problems.json + pid_splits.json
	FormatMMMU       = "mmmu"           // HF MMMU/MMMU parquet folders
	FormatMMVet      = "mmvet"          // mm-vet.json
)

// EnvRegistry names the environment variable that points at the registry
// file when no --registry flag is given.
const EnvRegistry = "SSMBENCH_DATASETS"

// Entry locates one benchmark's local copy. Relative paths are relative to
// the registry file.
type Entry struct {
	// Format is one of the Format constants; empty means: infer from Path.
	Format string `yaml:"format" json:"format"`
	// Path is the main file or folder (MME root, TSV, questions json, the
	// POPE label folder, the MMMU parquet root, ...).
	Path string `yaml:"path" json:"path"`
	// Questions is a second file some layouts need: LLaVA's
	// llava_pope_test.jsonl, VQAv2's questions json.
	Questions string `yaml:"questions,omitempty" json:"questions,omitempty"`
	// Annotations is VQAv2's annotations json.
	Annotations string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	// Images is the image folder for layouts that name images by file.
	Images string `yaml:"images,omitempty" json:"images,omitempty"`
	// Split selects a split where the layout holds several (ScienceQA
	// "test", MMMU "validation"); empty means the benchmark's default.
	Split string `yaml:"split,omitempty" json:"split,omitempty"`
}

// Registry maps benchmark names to local copies.
type Registry struct {
	Path     string           `yaml:"-"`
	Datasets map[string]Entry `yaml:"datasets"`
}

// LoadRegistry reads a YAML (or JSON) registry file:
//
//	datasets:
//	  mme: {path: MME_Benchmark_release_version}
//	  pope: {path: pope/coco, questions: pope/llava_pope_test.jsonl, images: coco/val2014}
//	  mmbench: {path: MMBench_DEV_EN.tsv}
func LoadRegistry(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRegistry(path, data)
}

// ParseRegistry parses registry text; name is used in errors and as the
// base of relative paths.
func ParseRegistry(name string, data []byte) (*Registry, error) {
	var r Registry
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.Path = name
	base := filepath.Dir(name)
	for bench, e := range r.Datasets {
		if !knownBench(bench) {
			return nil, fmt.Errorf("%s: datasets.%s: unknown benchmark (want one of %s)", name, bench, strings.Join(Benches, ", "))
		}
		if e.Path == "" {
			return nil, fmt.Errorf("%s: datasets.%s.path is empty", name, bench)
		}
		if e.Format != "" && !knownFormat(e.Format) {
			return nil, fmt.Errorf("%s: datasets.%s.format: unknown format %q", name, bench, e.Format)
		}
		e.Path = resolve(base, e.Path)
		e.Questions = resolve(base, e.Questions)
		e.Annotations = resolve(base, e.Annotations)
		e.Images = resolve(base, e.Images)
		r.Datasets[bench] = e
	}
	return &r, nil
}

// DefaultRegistryPath returns $SSMBENCH_DATASETS, else
// $XDG_CONFIG_HOME/ssmbench/datasets.yaml (or ~/.config/...), whether or
// not the file exists.
func DefaultRegistryPath() string {
	if p := os.Getenv(EnvRegistry); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ssmbench", "datasets.yaml")
}

// Entry returns the registry entry of bench.
func (r *Registry) Entry(bench string) (Entry, error) {
	e, ok := r.Datasets[bench]
	if !ok {
		var have []string
		for k := range r.Datasets {
			have = append(have, k)
		}
		sort.Strings(have)
		return Entry{}, fmt.Errorf("%s: no entry for %s (has: %s)", r.Path, bench, strings.Join(have, ", "))
	}
	return e, nil
}

func knownBench(b string) bool {
	for _, x := range Benches {
		if x == b {
			return true
		}
	}
	return false
}

func knownFormat(f string) bool {
	switch f {
	case FormatVLMEvalKit, FormatMME, FormatPOPE, FormatTextVQA, FormatGQA, FormatVQAv2, FormatSEED, FormatScienceQA, FormatMMMU, FormatMMVet:
		return true
	}
	return false
}

// InferFormat guesses the layout of path for bench: a .tsv is a VLMEvalKit
// TSV; anything else is the benchmark's official layout.
func InferFormat(bench, path string) string {
	if strings.HasSuffix(strings.ToLower(path), ".tsv") {
		return FormatVLMEvalKit
	}
	switch bench {
	case MME:
		return FormatMME
	case POPE:
		return FormatPOPE
	case TextVQA:
		return FormatTextVQA
	case GQA:
		return FormatGQA
	case VQAv2:
		return FormatVQAv2
	case SEED:
		return FormatSEED
	case ScienceQA:
		return FormatScienceQA
	case MMMU:
		return FormatMMMU
	case MMVet:
		return FormatMMVet
	}
	return FormatVLMEvalKit // MMBench and AI2D exist only as TSVs
}

// ErrUnknownBench is returned for a benchmark name that is not in Benches.
var ErrUnknownBench = errors.New("unknown benchmark")

// Load loads bench from a registry entry.
func Load(bench string, e Entry) (*Dataset, error) {
	if !knownBench(bench) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownBench, bench, strings.Join(Benches, ", "))
	}
	format := e.Format
	if format == "" {
		format = InferFormat(bench, e.Path)
	}
	if _, err := os.Stat(e.Path); err != nil {
		return nil, err
	}
	switch format {
	case FormatVLMEvalKit:
		return LoadVLMEvalKitTSV(e.Path, bench)
	case FormatMME:
		return LoadMME(e.Path)
	case FormatPOPE:
		q := e.Questions
		if q == "" {
			if st, err := os.Stat(e.Path); err == nil && st.IsDir() {
				if c := filepath.Join(e.Path, "llava_pope_test.jsonl"); fileExists(c) {
					q = c
				}
			}
		}
		return LoadPOPE(e.Path, q, e.Images)
	case FormatTextVQA:
		return LoadTextVQA(e.Path, e.Images)
	case FormatGQA:
		return LoadGQA(e.Path, e.Images)
	case FormatVQAv2:
		q, a := e.Path, e.Annotations
		if st, err := os.Stat(q); err == nil && st.IsDir() && a == "" {
			qs, _ := filepath.Glob(filepath.Join(q, "*questions*.json"))
			as, _ := filepath.Glob(filepath.Join(q, "*annotations*.json"))
			if len(qs) != 1 || len(as) != 1 {
				return nil, fmt.Errorf("%s: want exactly one *questions*.json and one *annotations*.json", q)
			}
			q, a = qs[0], as[0]
		}
		return LoadVQAv2(q, a, e.Images)
	case FormatSEED:
		return LoadSEED(e.Path, e.Images)
	case FormatScienceQA:
		return LoadScienceQA(e.Path, e.Split)
	case FormatMMMU:
		return LoadMMMU(e.Path, e.Split)
	case FormatMMVet:
		return LoadMMVet(e.Path, e.Images)
	}
	return nil, fmt.Errorf("format %q cannot hold %s", format, bench)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
