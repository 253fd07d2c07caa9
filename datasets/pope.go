package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// jsonID renders a JSON id (number or string) as a string key.
type jsonID string

// UnmarshalJSON accepts a JSON string or number.
func (j *jsonID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*j = jsonID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", b)
	}
	*j = jsonID(n.String())
	return nil
}

type popeLabel struct {
	QuestionID jsonID `json:"question_id"`
	Image      string `json:"image"`
	Text       string `json:"text"`
	Label      string `json:"label"`
}

type popeQuestion struct {
	QuestionID jsonID `json:"question_id"`
	Image      string `json:"image"`
	Text       string `json:"text"`
	Category   string `json:"category"`
}

// decodeJSONLines decodes each non-blank line of a JSON-lines file into a
// new T, with errors naming file and line.
func decodeJSONLines[T any](path string, data []byte, check func(*T) error) ([]T, []int, error) {
	lines, nums := jsonLines(data)
	out := make([]T, 0, len(lines))
	for i, l := range lines {
		var v T
		dec := json.NewDecoder(bytes.NewReader(l))
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, nums[i], err)
		}
		if dec.More() {
			return nil, nil, fmt.Errorf("%s:%d: trailing data after the JSON object", path, nums[i])
		}
		if check != nil {
			if err := check(&v); err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", path, nums[i], err)
			}
		}
		out = append(out, v)
	}
	return out, nums, nil
}

// POPE label files are coco_pope_<split>.json (JSON lines).
func popeLabelFiles(dir string) (map[string]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	if !st.IsDir() {
		files[popeSplitName(dir)] = dir
		return files, nil
	}
	for _, sub := range []string{"", "coco", filepath.Join("output", "coco")} {
		m, _ := filepath.Glob(filepath.Join(dir, sub, "coco_pope_*.json"))
		for _, f := range m {
			files[popeSplitName(f)] = f
		}
		if len(files) > 0 {
			return files, nil
		}
	}
	return nil, fmt.Errorf("%s: no coco_pope_<split>.json label files", dir)
}

func popeSplitName(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(strings.TrimPrefix(b, "coco_pope_"), ".json")
}

// LoadPOPE loads POPE's label files (AoiDragon/POPE
// output/coco/coco_pope_{random,popular,adversarial}.json, JSON lines of
// {question_id, image, text, label}) from labelDir. With LLaVA's question
// file (llava_pope_test.jsonl: {question_id, image, text, category}) the
// items are its questions, IDs are its global question_ids, and each
// question's label is the label at the same position within its category
// (eval_pope.py zips by order). Without it, IDs are "<split>/<question_id>".
// Images are COCO file names under imageDir.
func LoadPOPE(labelDir, questions, imageDir string) (*Dataset, error) {
	files, err := popeLabelFiles(labelDir)
	if err != nil {
		return nil, err
	}
	labels := map[string][]popeLabel{}
	lnums := map[string][]int{}
	var splits []string
	for split, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ls, nums, err := decodeJSONLines(f, data, func(l *popeLabel) error {
			if l.Label != "yes" && l.Label != "no" {
				return fmt.Errorf("label %q is not yes or no", l.Label)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		labels[split], lnums[split] = ls, nums
		splits = append(splits, split)
	}
	sort.Strings(splits)
	d := &Dataset{Bench: POPE, Format: FormatPOPE, Path: labelDir}
	img := func(name string) []Image {
		if name == "" {
			return nil
		}
		return []Image{{Path: resolve(imageDir, name)}}
	}
	if questions == "" {
		for _, s := range splits {
			for i, l := range labels[s] {
				it := Item{Bench: POPE, ID: s + "/" + string(l.QuestionID), Index: -1, Images: img(l.Image),
					Question: l.Text, Answer: yesNo(l.Label), Split: s, Category: s,
					Where: fmt.Sprintf("%s:%d", files[s], lnums[s][i])}
				d.Items = append(d.Items, it)
			}
		}
		return d.finish()
	}
	data, err := os.ReadFile(questions)
	if err != nil {
		return nil, err
	}
	qs, qnums, err := decodeJSONLines(questions, data, func(q *popeQuestion) error {
		if q.QuestionID == "" {
			return fmt.Errorf("missing question_id")
		}
		if _, ok := labels[q.Category]; !ok {
			return fmt.Errorf("category %q has no label file coco_pope_%s.json", q.Category, q.Category)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pos := map[string]int{}
	for i, q := range qs {
		k := pos[q.Category]
		pos[q.Category]++
		where := fmt.Sprintf("%s:%d", questions, qnums[i])
		if k >= len(labels[q.Category]) {
			return nil, fmt.Errorf("%s: more %s questions than labels in %s (%d)", where, q.Category, files[q.Category], len(labels[q.Category]))
		}
		l := labels[q.Category][k]
		it := Item{Bench: POPE, ID: string(q.QuestionID), Index: -1, Images: img(q.Image),
			Question: q.Text, Answer: yesNo(l.Label), Split: q.Category, Category: q.Category, Where: where}
		it.setField("label_at", fmt.Sprintf("%s:%d", files[q.Category], lnums[q.Category][k]))
		d.Items = append(d.Items, it)
	}
	for _, s := range splits {
		if pos[s] != len(labels[s]) {
			return nil, fmt.Errorf("%s: %d labels but %d %s questions in %s", files[s], len(labels[s]), pos[s], s, questions)
		}
	}
	return d.finish()
}

func yesNo(l string) string {
	if l == "yes" {
		return "Yes"
	}
	return "No"
}
