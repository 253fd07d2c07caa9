package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Prediction file formats.
const (
	PredLLaVA      = "llava-jsonl" // {question_id, prompt, text, ...} per line
	PredVLMEvalKit = "vlmevalkit"  // <model>_<dataset>.xlsx / .tsv with a prediction column
	PredLmmsEval   = "lmms-eval"   // samples_*.jsonl: {doc_id, doc, target, resps, filtered_resps}
	PredMMEResults = "mme-results" // Your_Results/<subtask>.txt: image\tquestion\tGT\tresponse
	PredGQAJSON    = "gqa-json"    // [{questionId, prediction}]
	PredVQAJSON    = "vqa-json"    // [{question_id, answer}]
	PredMMVetJSON  = "mmvet-json"  // {"v1_0": answer, ...}
)

// Prediction is one model answer.
type Prediction struct {
	// Key joins the prediction to a dataset item's ID; empty when the
	// file identifies items by position only (lmms-eval without doc).
	Key string
	// Pos is lmms-eval's doc_id (the item's position), or -1.
	Pos    int
	Text   string
	Prompt string // LLaVA's prompt, when present
	Where  string // file:line
	// Item is the ground truth the file itself carries (VLMEvalKit
	// results, MME Your_Results, lmms-eval docs); nil otherwise.
	Item *Item
	// Malformed marks an MME results line that did not split into 4
	// fields.
	Malformed bool
	// Round is LLaVA's MMBench round_id (0 when absent).
	Round int
}

// Predictions is a parsed predictions file.
type Predictions struct {
	Format string
	Path   string
	Preds  []Prediction
}

// SelfContained reports whether every prediction carries its ground truth.
func (p *Predictions) SelfContained() bool {
	if len(p.Preds) == 0 {
		return false
	}
	for _, x := range p.Preds {
		if x.Item == nil {
			return false
		}
	}
	return true
}

// DetectPredFormat guesses a predictions file's format from its name and,
// for JSON, its first value.
func DetectPredFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return PredMMEResults, nil
	}
	low := strings.ToLower(path)
	switch {
	case strings.HasSuffix(low, ".xlsx"), strings.HasSuffix(low, ".tsv"):
		return PredVLMEvalKit, nil
	case strings.HasSuffix(low, ".jsonl"), strings.HasSuffix(low, ".json"):
	default:
		return "", fmt.Errorf("%s: unknown predictions format (want .jsonl, .json, .xlsx, .tsv or an MME Your_Results folder)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return "", fmt.Errorf("%s:1: empty predictions file", path)
	case t[0] == '[':
		if bytes.Contains(t[:min(len(t), 4096)], []byte(`"questionId"`)) {
			return PredGQAJSON, nil
		}
		return PredVQAJSON, nil
	case t[0] == '{':
		lines, _ := jsonLines(data)
		var first map[string]json.RawMessage
		if err := json.Unmarshal(lines[0], &first); err != nil {
			if len(lines) > 0 && json.Valid(t) {
				return PredMMVetJSON, nil
			}
			return "", fmt.Errorf("%s:1: %w", path, err)
		}
		if _, ok := first["doc_id"]; ok {
			return PredLmmsEval, nil
		}
		if _, ok := first["item_id"]; ok {
			return PredSSMBench, nil
		}
		if _, ok := first["question_id"]; ok {
			return PredLLaVA, nil
		}
		if len(lines) == 1 || json.Valid(t) && !bytes.Contains(t, []byte("\n{")) {
			return PredMMVetJSON, nil
		}
		return "", fmt.Errorf("%s:1: JSON lines without question_id or doc_id", path)
	}
	return "", fmt.Errorf("%s:1: not JSON", path)
}

// ReadPredictions reads a predictions file for bench; format "" means
// detect.
func ReadPredictions(path, bench, format string) (*Predictions, error) {
	if format == "" {
		f, err := DetectPredFormat(path)
		if err != nil {
			return nil, err
		}
		format = f
	}
	var preds []Prediction
	var err error
	switch format {
	case PredLLaVA:
		preds, err = readLLaVA(path)
	case PredVLMEvalKit:
		preds, err = readVLMEvalKitPreds(path, bench)
	case PredLmmsEval:
		preds, err = readLmms(path, bench)
	case PredMMEResults:
		preds, err = ReadMMEResults(path)
	case PredGQAJSON:
		preds, err = readListJSON(path, "questionId", "prediction")
	case PredVQAJSON:
		preds, err = readListJSON(path, "question_id", "answer")
	case PredMMVetJSON:
		preds, err = readMMVetJSON(path)
	case PredSSMBench:
		preds, err = readEvalPreds(path)
	default:
		return nil, fmt.Errorf("%s: unknown predictions format %q", path, format)
	}
	if err != nil {
		return nil, err
	}
	if len(preds) == 0 {
		return nil, fmt.Errorf("%s: no predictions", path)
	}
	return &Predictions{Format: format, Path: path, Preds: preds}, nil
}

type llavaAnswer struct {
	QuestionID *jsonID `json:"question_id"`
	Prompt     string  `json:"prompt"`
	Text       *string `json:"text"`
	RoundID    int     `json:"round_id"`
}

func readLLaVA(path string) ([]Prediction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows, nums, err := decodeJSONLines(path, data, func(a *llavaAnswer) error {
		if a.QuestionID == nil {
			return fmt.Errorf("missing question_id")
		}
		if a.Text == nil {
			return fmt.Errorf("missing text")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(rows))
	for i, a := range rows {
		out[i] = Prediction{Key: string(*a.QuestionID), Pos: -1, Text: *a.Text, Prompt: a.Prompt, Round: a.RoundID,
			Where: fmt.Sprintf("%s:%d", path, nums[i])}
	}
	return out, nil
}

func readVLMEvalKitPreds(path, bench string) ([]Prediction, error) {
	t, err := ReadTable(path)
	if err != nil {
		return nil, err
	}
	if t.Col("prediction") < 0 {
		return nil, fmt.Errorf("%s:1: no prediction column", path)
	}
	items, err := ItemsFromTable(t, bench)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(items))
	for i := range items {
		it := items[i]
		// VLMEvalKit: data['prediction'] = [str(x) for x in ...], so an
		// empty cell is the string "nan".
		out[i] = Prediction{Key: it.ID, Pos: -1, Text: t.Get(i, "prediction").Str, Where: it.Where, Item: &it}
	}
	return out, nil
}

// ReadMMEResults reads an MME Your_Results folder: <subtask>.txt files of
// "image\tquestion\tGT\tresponse" lines, split as Python's readlines does.
// A line that does not split into exactly 4 fields is kept as Malformed
// (calculation.py crashes on it; InternVL's copy skips it).
func ReadMMEResults(dir string) ([]Prediction, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no <subtask>.txt result files", dir)
	}
	sort.Strings(files)
	var out []Prediction
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sub := strings.TrimSuffix(filepath.Base(f), ".txt")
		for n, line := range readLines(data) {
			where := fmt.Sprintf("%s:%d", f, n+1)
			parts := strings.Split(line, "\t")
			it := &Item{Bench: MME, Index: -1, Category: sub, Where: where}
			it.setField("subtask", sub)
			p := Prediction{Pos: -1, Where: where, Item: it}
			if len(parts) != 4 {
				p.Malformed = true
				it.setField("image", where)
			} else {
				it.setField("image", parts[0])
				it.Question, it.Answer, p.Text = parts[1], parts[2], parts[3]
			}
			it.ID = fmt.Sprintf("%s/%s/%d", sub, it.Field("image"), n)
			p.Key = it.ID
			out = append(out, p)
		}
	}
	return out, nil
}

func readListJSON(path, idKey, textKey string) ([]Prediction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []map[string]json.RawMessage
	if err := decodeJSON(path, data, &rows); err != nil {
		return nil, err
	}
	li := &lineIndex{data: data}
	out := make([]Prediction, len(rows))
	for i, r := range rows {
		where := fmt.Sprintf("%s:%d", path, li.find(`"`+idKey+`"`))
		li.pos++
		var id jsonID
		if raw, ok := r[idKey]; !ok || json.Unmarshal(raw, &id) != nil {
			return nil, fmt.Errorf("%s: element %d: missing or bad %s", where, i, idKey)
		}
		var text string
		if raw, ok := r[textKey]; !ok || json.Unmarshal(raw, &text) != nil {
			return nil, fmt.Errorf("%s: element %d: missing or non-string %s", where, i, textKey)
		}
		out[i] = Prediction{Key: string(id), Pos: -1, Text: text, Where: where}
	}
	return out, nil
}

func readMMVetJSON(path string) ([]Prediction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := decodeJSON(path, data, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return mmvetKey(keys[i]) < mmvetKey(keys[j]) })
	out := make([]Prediction, len(keys))
	for i, k := range keys {
		out[i] = Prediction{Key: k, Pos: -1, Text: m[k], Where: fmt.Sprintf("%s: %q", path, k)}
	}
	return out, nil
}

type lmmsSample struct {
	DocID         *int                       `json:"doc_id"`
	Doc           map[string]json.RawMessage `json:"doc"`
	Target        json.RawMessage            `json:"target"`
	Resps         json.RawMessage            `json:"resps"`
	FilteredResps json.RawMessage            `json:"filtered_resps"`
}

// firstString unwraps nested JSON lists down to their first string.
func firstString(raw json.RawMessage) (string, bool) {
	for depth := 0; depth < 8 && len(raw) > 0; depth++ {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil || len(l) == 0 {
			return "", false
		}
		raw = l[0]
	}
	return "", false
}

func readLmms(path, bench string) ([]Prediction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows, nums, err := decodeJSONLines(path, data, func(s *lmmsSample) error {
		if s.DocID == nil {
			return fmt.Errorf("missing doc_id")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(rows))
	for i, s := range rows {
		where := fmt.Sprintf("%s:%d", path, nums[i])
		text, ok := firstString(s.FilteredResps)
		if !ok {
			if text, ok = firstString(s.Resps); !ok {
				return nil, fmt.Errorf("%s: no string in filtered_resps or resps", where)
			}
		}
		p := Prediction{Pos: *s.DocID, Text: text, Where: where}
		if len(s.Doc) > 0 {
			it, err := lmmsDocItem(bench, s.Doc, s.Target, where)
			if err != nil {
				return nil, err
			}
			p.Item, p.Key = it, it.ID
		}
		out[i] = p
	}
	return out, nil
}

func rawString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var id jsonID
	if json.Unmarshal(raw, &id) == nil {
		return string(id), true
	}
	return "", false
}

// lmmsDocItem maps an lmms-eval doc (the HF row) to an Item.
func lmmsDocItem(bench string, doc map[string]json.RawMessage, target json.RawMessage, where string) (*Item, error) {
	get := func(k string) string { s, _ := rawString(doc[k]); return s }
	it := &Item{Bench: bench, Index: -1, Where: where, Question: get("question"), Hint: get("hint")}
	for _, k := range []string{"question_id", "id", "index", "pid", "questionId"} {
		if s, ok := rawString(doc[k]); ok {
			it.ID = s
			break
		}
	}
	if idx, err := strconv.ParseInt(get("index"), 10, 64); err == nil {
		it.Index = idx
	}
	it.Category, it.L2Category, it.Split = get("category"), get("l2-category"), get("split")
	it.Answer = get("answer")
	for c := 'A'; c <= 'Z'; c++ {
		if s, ok := rawString(doc[string(c)]); ok && s != "" && s != "nan" {
			it.Options = append(it.Options, Option{Letter: string(c), Text: s})
		}
	}
	for i, k := range []string{"choice_a", "choice_b", "choice_c", "choice_d"} {
		if s, ok := rawString(doc[k]); ok {
			it.Options = append(it.Options, Option{Letter: string(rune('A' + i)), Text: s})
		}
	}
	var list []string
	for _, k := range []string{"choices", "options"} {
		if json.Unmarshal(doc[k], &list) == nil && len(list) > 0 {
			for i, s := range list {
				it.Options = append(it.Options, Option{Letter: string(rune('A' + i)), Text: s})
			}
			break
		}
	}
	if s, ok := rawString(doc["options"]); ok && strings.HasPrefix(s, "[") && len(it.Options) == 0 {
		if l, err := parseOptionsLiteral(s); err == nil {
			for i, o := range l {
				it.Options = append(it.Options, Option{Letter: string(rune('A' + i)), Text: o})
			}
		}
	}
	switch bench {
	case ScienceQA, AI2D:
		// answer is an option index; target is the letter
		if n, err := strconv.Atoi(it.Answer); err == nil && n >= 0 && n < 26 {
			it.Answer = string(rune('A' + n))
		}
	case MME:
		it.setField("subtask", it.Category)
		it.setField("image", it.ID)
	case TextVQA, VQAv2:
		var strs []string
		var dicts []struct {
			Answer     string `json:"answer"`
			Confidence string `json:"answer_confidence"`
			AnswerID   int    `json:"answer_id"`
		}
		if json.Unmarshal(doc["answers"], &strs) == nil {
			for i, a := range strs {
				it.Answers = append(it.Answers, VQAAnswer{Answer: a, ID: i + 1})
			}
		} else if json.Unmarshal(doc["answers"], &dicts) == nil {
			for _, a := range dicts {
				it.Answers = append(it.Answers, VQAAnswer{Answer: a.Answer, Confidence: a.Confidence, ID: a.AnswerID})
			}
		}
		if at := get("answer_type"); at != "" {
			it.Category = at
			it.setField("answer_type", at)
		}
		if len(it.Answers) == 0 {
			return nil, fmt.Errorf("%s: doc has no answers list", where)
		}
	case MMMU:
		it.setField("question_type", get("question_type"))
		if get("question_type") == "open" {
			it.Options = nil
		}
		if parts := strings.SplitN(it.ID, "_", 2); len(parts) == 2 {
			it.Split = parts[0]
			if k := strings.LastIndex(parts[1], "_"); k > 0 {
				it.Category = parts[1][:k]
			}
		}
	}
	if it.Answer == "" {
		if t, ok := rawString(target); ok {
			it.Answer = t
		}
	}
	if it.ID == "" {
		return nil, fmt.Errorf("%s: doc has no id field (question_id, id, index, pid)", where)
	}
	return it, nil
}
