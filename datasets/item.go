package datasets

import (
	"fmt"
	"sort"
)

// Benchmark names, as the CLI and the registry spell them.
const (
	MME       = "mme"
	POPE      = "pope"
	MMBench   = "mmbench"
	SEED      = "seed"
	ScienceQA = "scienceqa"
	AI2D      = "ai2d"
	MMMU      = "mmmu"
	TextVQA   = "textvqa"
	VQAv2     = "vqav2"
	GQA       = "gqa"
	MMVet     = "mmvet"
)

// Benches lists every benchmark name.
var Benches = []string{MME, MMBench, POPE, SEED, MMMU, MMVet, TextVQA, ScienceQA, GQA, AI2D, VQAv2}

// Image is an item's image: a file, the bytes themselves (a base64 TSV
// cell, a parquet struct), or VLMEvalKit's reference to the row that holds
// the image.
type Image struct {
	Path  string `json:"path,omitempty"`
	Bytes []byte `json:"-"`
	Ref   string `json:"ref,omitempty"`
	// Base64 is a VLMEvalKit TSV cell, decoded by Data on demand.
	Base64 string `json:"-"`
}

// Option is one multiple-choice option.
type Option struct {
	Letter string `json:"letter"`
	Text   string `json:"text"`
}

// VQAAnswer is one annotator answer; ID is the annotation's answer_id, or
// the answer's 1-based position when the data has none.
type VQAAnswer struct {
	Answer     string `json:"answer"`
	Confidence string `json:"confidence,omitempty"`
	ID         int    `json:"id"`
}

// Item is one benchmark question with what a model needs to answer it and
// what a scorer needs to score it.
type Item struct {
	Bench string `json:"bench"`
	// ID is the key predictions are joined on (question_id, VLMEvalKit
	// index, MMMU id, ...).
	ID string `json:"id"`
	// Index is VLMEvalKit's integer index (MMBench circular passes are
	// index + r·1e6); -1 when the source has none.
	Index    int64    `json:"index"`
	Images   []Image  `json:"images,omitempty"`
	Question string   `json:"question"`
	Hint     string   `json:"hint,omitempty"`
	Options  []Option `json:"options,omitempty"`
	// Answer is the GT: an option letter, "Yes"/"No", or answer text.
	Answer     string      `json:"answer,omitempty"`
	Answers    []VQAAnswer `json:"answers,omitempty"`
	Category   string      `json:"category,omitempty"`
	L2Category string      `json:"l2_category,omitempty"`
	Split      string      `json:"split,omitempty"`
	// Fields holds other prompt- or score-relevant fields (MME subtask,
	// image key, TextVQA ocr_tokens, VQA answer_type, GQA structural type,
	// MMMU question_type, MM-Vet capability, ...).
	Fields map[string]string `json:"fields,omitempty"`
	// Where is the file and line the item came from.
	Where string `json:"where"`
}

// Field returns Fields[k] ("" when absent).
func (it *Item) Field(k string) string { return it.Fields[k] }

func (it *Item) setField(k, v string) {
	if it.Fields == nil {
		it.Fields = map[string]string{}
	}
	it.Fields[k] = v
}

// Dataset is a loaded benchmark.
type Dataset struct {
	Bench  string
	Format string // the on-disk layout it came from
	Path   string
	Items  []Item
	byID   map[string]int
}

// Lookup returns the item with the given ID.
func (d *Dataset) Lookup(id string) (*Item, bool) {
	if d.byID == nil {
		d.byID = make(map[string]int, len(d.Items))
		for i := range d.Items {
			d.byID[d.Items[i].ID] = i
		}
	}
	i, ok := d.byID[id]
	if !ok {
		return nil, false
	}
	return &d.Items[i], true
}

func (d *Dataset) finish() (*Dataset, error) {
	seen := make(map[string]string, len(d.Items))
	for _, it := range d.Items {
		if prev, dup := seen[it.ID]; dup {
			return nil, fmt.Errorf("%s: duplicate id %q (first at %s)", it.Where, it.ID, prev)
		}
		seen[it.ID] = it.Where
	}
	return d, nil
}

// Categories returns the sorted distinct categories of the items.
func (d *Dataset) Categories() []string {
	m := map[string]bool{}
	for _, it := range d.Items {
		if it.Category != "" {
			m[it.Category] = true
		}
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LLaVAOptions returns the options as LLaVA's MMBench loader sees them: it
// stops at the first missing (NaN) option column, so a gap (A, B, -, D)
// hides every later option. VLMEvalKit's build_choices keeps them all.
func LLaVAOptions(opts []Option) []Option {
	for i, o := range opts {
		if o.Letter != string(rune('A'+i)) {
			return opts[:i]
		}
	}
	return opts
}

// ResolveImage follows a VLMEvalKit image reference (an image cell that
// holds the index of the row with the image, as MMBench's circular passes
// do) and returns the image that holds data.
func (d *Dataset) ResolveImage(im Image) (Image, error) {
	for hops := 0; im.Ref != "" && hops < 4; hops++ {
		it, ok := d.Lookup(im.Ref)
		if !ok || len(it.Images) == 0 {
			return Image{}, fmt.Errorf("%s: image refers to index %s, which has no image", d.Path, im.Ref)
		}
		im = it.Images[0]
	}
	if im.Ref != "" {
		return Image{}, fmt.Errorf("%s: image reference chain too long at %s", d.Path, im.Ref)
	}
	return im, nil
}
