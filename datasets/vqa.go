package datasets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// readJSON decodes a whole JSON file into v; a syntax or type error is
// reported with its line.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decodeJSON(path, data, v)
}

func decodeJSON(path string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		off := int64(-1)
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			off = te.Offset
		}
		if off >= 0 {
			return fmt.Errorf("%s:%d: %w", path, 1+bytes.Count(data[:min(int(off), len(data))], []byte("\n")), err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// lineIndex finds the lines of successive occurrences of a key in a JSON
// file, to name the line of each array element in errors.
type lineIndex struct {
	data []byte
	pos  int
	line int
}

func (l *lineIndex) find(needle string) int {
	i := bytes.Index(l.data[l.pos:], []byte(needle))
	if i < 0 {
		return 0
	}
	l.line += bytes.Count(l.data[l.pos:l.pos+i], []byte("\n"))
	l.pos += i
	return l.line + 1
}

type textVQAFile struct {
	Data []struct {
		QuestionID jsonID   `json:"question_id"`
		ImageID    string   `json:"image_id"`
		Question   string   `json:"question"`
		Answers    []string `json:"answers"`
		OCRTokens  []string `json:"ocr_tokens"`
	} `json:"data"`
}

// LoadTextVQA loads TextVQA_0.5.1_val.json ({"data": [{question_id,
// image_id, question, answers[10], ocr_tokens, ...}]}). IDs are
// question_ids; Fields: image_id, ocr_tokens (space-joined). Images are
// <imageDir>/<image_id>.jpg.
func LoadTextVQA(path, imageDir string) (*Dataset, error) {
	var f textVQAFile
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(path, data, &f); err != nil {
		return nil, err
	}
	if f.Data == nil {
		return nil, fmt.Errorf("%s: no \"data\" array", path)
	}
	li := &lineIndex{data: data}
	d := &Dataset{Bench: TextVQA, Format: FormatTextVQA, Path: path}
	for i, q := range f.Data {
		where := fmt.Sprintf("%s:%d", path, li.find(`"question_id"`))
		li.pos++
		if q.QuestionID == "" {
			return nil, fmt.Errorf("%s: data[%d] has no question_id", where, i)
		}
		if len(q.Answers) == 0 {
			return nil, fmt.Errorf("%s: data[%d] (question_id %s) has no answers (test split?)", where, i, q.QuestionID)
		}
		it := Item{Bench: TextVQA, ID: string(q.QuestionID), Index: -1, Question: q.Question, Where: where}
		if imageDir != "" {
			it.Images = []Image{{Path: resolve(imageDir, q.ImageID+".jpg")}}
		}
		for k, a := range q.Answers {
			it.Answers = append(it.Answers, VQAAnswer{Answer: a, ID: k + 1})
		}
		it.setField("image_id", q.ImageID)
		it.setField("ocr_tokens", strings.Join(q.OCRTokens, " "))
		d.Items = append(d.Items, it)
	}
	return d.finish()
}

type gqaQuestion struct {
	ImageID    string `json:"imageId"`
	Question   string `json:"question"`
	Answer     string `json:"answer"`
	FullAnswer string `json:"fullAnswer"`
	IsBalanced *bool  `json:"isBalanced"`
	Types      struct {
		Structural string `json:"structural"`
		Semantic   string `json:"semantic"`
		Detailed   string `json:"detailed"`
	} `json:"types"`
}

// LoadGQA loads testdev_balanced_questions.json ({qid: {imageId, question,
// answer, isBalanced, types{structural,...}, ...}}). Only balanced
// questions are kept (the official eval.py scores those). Fields:
// structural (open = "query", else binary), image_id, full_answer.
// Images are <imageDir>/<imageId>.jpg.
func LoadGQA(path, imageDir string) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]gqaQuestion
	if err := decodeJSON(path, data, &m); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(m))
	for k := range m {
		ids = append(ids, k)
	}
	sortIDs(ids)
	d := &Dataset{Bench: GQA, Format: FormatGQA, Path: path}
	for _, id := range ids {
		q := m[id]
		where := fmt.Sprintf("%s: question %q", path, id)
		if q.Answer == "" {
			return nil, fmt.Errorf("%s: no answer (testdev has answers; submission split?)", where)
		}
		if q.IsBalanced != nil && !*q.IsBalanced {
			continue
		}
		it := Item{Bench: GQA, ID: id, Index: -1, Question: q.Question, Answer: q.Answer, Where: where}
		if imageDir != "" {
			it.Images = []Image{{Path: resolve(imageDir, q.ImageID+".jpg")}}
		}
		it.setField("image_id", q.ImageID)
		it.setField("structural", q.Types.Structural)
		it.setField("full_answer", q.FullAnswer)
		it.Category = "binary"
		if q.Types.Structural == "query" {
			it.Category = "open"
		}
		d.Items = append(d.Items, it)
	}
	return d.finish()
}

// sortIDs orders ids numerically when they are all numbers, else
// lexically.
func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if isDigits(a) && isDigits(b) && len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
}

type vqaQuestions struct {
	Questions []struct {
		ImageID    int64  `json:"image_id"`
		Question   string `json:"question"`
		QuestionID int64  `json:"question_id"`
	} `json:"questions"`
}

type vqaAnnotations struct {
	Annotations []struct {
		QuestionID   int64  `json:"question_id"`
		ImageID      int64  `json:"image_id"`
		QuestionType string `json:"question_type"`
		AnswerType   string `json:"answer_type"`
		MCAnswer     string `json:"multiple_choice_answer"`
		Answers      []struct {
			Answer     string `json:"answer"`
			Confidence string `json:"answer_confidence"`
			AnswerID   int    `json:"answer_id"`
		} `json:"answers"`
	} `json:"annotations"`
}

// LoadVQAv2 loads the VQAv2 val questions and annotations
// (v2_OpenEnded_mscoco_val2014_questions.json,
// v2_mscoco_val2014_annotations.json). test-dev has no public answers and
// cannot be scored locally. Fields: question_type, answer_type, image_id.
// Images are <imageDir>/COCO_val2014_<image_id %012d>.jpg.
func LoadVQAv2(questions, annotations, imageDir string) (*Dataset, error) {
	if annotations == "" {
		return nil, fmt.Errorf("%s: VQAv2 needs the annotations file too (registry key annotations)", questions)
	}
	var qs vqaQuestions
	if err := readJSON(questions, &qs); err != nil {
		return nil, err
	}
	var an vqaAnnotations
	if err := readJSON(annotations, &an); err != nil {
		return nil, err
	}
	ann := make(map[int64]int, len(an.Annotations))
	for i, a := range an.Annotations {
		ann[a.QuestionID] = i
	}
	d := &Dataset{Bench: VQAv2, Format: FormatVQAv2, Path: questions}
	for i, q := range qs.Questions {
		where := fmt.Sprintf("%s: questions[%d]", questions, i)
		ai, ok := ann[q.QuestionID]
		if !ok {
			return nil, fmt.Errorf("%s: question_id %d has no annotation in %s", where, q.QuestionID, annotations)
		}
		a := an.Annotations[ai]
		if len(a.Answers) == 0 {
			return nil, fmt.Errorf("%s: annotations[%d] (question_id %d) has no answers", annotations, ai, q.QuestionID)
		}
		it := Item{Bench: VQAv2, ID: fmt.Sprint(q.QuestionID), Index: -1, Question: q.Question, Answer: a.MCAnswer, Where: where}
		if imageDir != "" {
			it.Images = []Image{{Path: resolve(imageDir, fmt.Sprintf("COCO_val2014_%012d.jpg", q.ImageID))}}
		}
		for _, x := range a.Answers {
			it.Answers = append(it.Answers, VQAAnswer{Answer: x.Answer, Confidence: x.Confidence, ID: x.AnswerID})
		}
		it.setField("question_type", a.QuestionType)
		it.setField("answer_type", a.AnswerType)
		it.setField("image_id", fmt.Sprint(q.ImageID))
		it.Category = a.AnswerType
		d.Items = append(d.Items, it)
	}
	return d.finish()
}
