package datasets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/ssmbench/ssmbench/eval/pycompat"
)

type seedFile struct {
	Questions []struct {
		Answer         string `json:"answer"`
		ChoiceA        string `json:"choice_a"`
		ChoiceB        string `json:"choice_b"`
		ChoiceC        string `json:"choice_c"`
		ChoiceD        string `json:"choice_d"`
		DataID         string `json:"data_id"`
		DataType       string `json:"data_type"`
		Question       string `json:"question"`
		QuestionID     jsonID `json:"question_id"`
		QuestionTypeID int    `json:"question_type_id"`
	} `json:"questions"`
	QuestionType map[string]int `json:"question_type"`
}

// LoadSEED loads SEED-Bench.json ({"questions": [...], "question_type":
// {name: id}}), keeping data_type "image" questions. IDs are question_ids;
// Category is the question type's name. Images are <imageDir>/<data_id>
// (".jpg" added when data_id has no extension).
func LoadSEED(path, imageDir string) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f seedFile
	if err := decodeJSON(path, data, &f); err != nil {
		return nil, err
	}
	names := map[int]string{}
	for n, id := range f.QuestionType {
		names[id] = n
	}
	li := &lineIndex{data: data}
	d := &Dataset{Bench: SEED, Format: FormatSEED, Path: path}
	for i, q := range f.Questions {
		where := fmt.Sprintf("%s:%d", path, li.find(`"question_id"`))
		li.pos++
		if q.DataType != "image" {
			continue
		}
		if q.Answer == "" || !strings.Contains("ABCD", q.Answer) || len(q.Answer) != 1 {
			return nil, fmt.Errorf("%s: questions[%d]: answer %q is not A-D", where, i, q.Answer)
		}
		it := Item{Bench: SEED, ID: string(q.QuestionID), Index: -1, Question: q.Question, Answer: q.Answer, Where: where,
			Options: []Option{{"A", q.ChoiceA}, {"B", q.ChoiceB}, {"C", q.ChoiceC}, {"D", q.ChoiceD}}}
		it.Category = names[q.QuestionTypeID]
		if it.Category == "" {
			it.Category = strconv.Itoa(q.QuestionTypeID)
		}
		if imageDir != "" {
			name := q.DataID
			if filepath.Ext(name) == "" {
				name += ".jpg"
			}
			it.Images = []Image{{Path: resolve(imageDir, name)}}
		}
		it.setField("question_type_id", strconv.Itoa(q.QuestionTypeID))
		d.Items = append(d.Items, it)
	}
	return d.finish()
}

type sqaProblem struct {
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	Answer   *int     `json:"answer"`
	Hint     string   `json:"hint"`
	Image    *string  `json:"image"`
	Task     string   `json:"task"`
	Grade    string   `json:"grade"`
	Subject  string   `json:"subject"`
	Topic    string   `json:"topic"`
	Category string   `json:"category"`
	Skill    string   `json:"skill"`
	Lecture  string   `json:"lecture"`
	Solution string   `json:"solution"`
	Split    string   `json:"split"`
}

// LoadScienceQA loads ScienceQA's problems.json and pid_splits.json from
// root (a folder, or the problems.json in it) for split (default "test"),
// keeping the questions with an image (ScienceQA-IMG). IDs are pids;
// options are lettered A–E; Category is the subject; images are
// <root>/images/<split>/<pid>/<image>.
func LoadScienceQA(root, split string) (*Dataset, error) {
	if split == "" {
		split = "test"
	}
	dir := root
	if st, err := os.Stat(root); err == nil && !st.IsDir() {
		dir = filepath.Dir(root)
	}
	probPath := filepath.Join(dir, "problems.json")
	var probs map[string]sqaProblem
	if err := readJSON(probPath, &probs); err != nil {
		return nil, err
	}
	splitsPath := filepath.Join(dir, "pid_splits.json")
	var splits map[string][]string
	if err := readJSON(splitsPath, &splits); err != nil {
		return nil, err
	}
	pids, ok := splits[split]
	if !ok {
		return nil, fmt.Errorf("%s: no split %q", splitsPath, split)
	}
	d := &Dataset{Bench: ScienceQA, Format: FormatScienceQA, Path: dir}
	for _, pid := range pids {
		p, ok := probs[pid]
		where := fmt.Sprintf("%s: problem %q", probPath, pid)
		if !ok {
			return nil, fmt.Errorf("%s: listed in %s but missing", where, splitsPath)
		}
		if p.Image == nil || *p.Image == "" {
			continue
		}
		if p.Answer == nil || *p.Answer < 0 || *p.Answer >= len(p.Choices) || len(p.Choices) > 5 {
			return nil, fmt.Errorf("%s: answer index out of range of %d choices", where, len(p.Choices))
		}
		it := Item{Bench: ScienceQA, ID: pid, Index: -1, Question: p.Question, Hint: p.Hint,
			Answer: string(rune('A' + *p.Answer)), Category: p.Subject, Split: split, Where: where,
			Images: []Image{{Path: filepath.Join(dir, "images", split, pid, *p.Image)}}}
		for i, c := range p.Choices {
			it.Options = append(it.Options, Option{Letter: string(rune('A' + i)), Text: c})
		}
		for k, v := range map[string]string{"grade": p.Grade, "topic": p.Topic, "skill": p.Skill, "lecture": p.Lecture, "task": p.Task} {
			it.setField(k, v)
		}
		d.Items = append(d.Items, it)
	}
	return d.finish()
}

// MMMUImage is an HF datasets Image cell in parquet.
type MMMUImage struct {
	Bytes []byte  `parquet:"bytes,optional"`
	Path  *string `parquet:"path,optional"`
}

// MMMURow is one row of HF MMMU/MMMU's parquet files.
type MMMURow struct {
	ID              string     `parquet:"id"`
	Question        string     `parquet:"question"`
	Options         string     `parquet:"options"`
	Explanation     *string    `parquet:"explanation,optional"`
	Image1          *MMMUImage `parquet:"image_1,optional"`
	Image2          *MMMUImage `parquet:"image_2,optional"`
	Image3          *MMMUImage `parquet:"image_3,optional"`
	Image4          *MMMUImage `parquet:"image_4,optional"`
	Image5          *MMMUImage `parquet:"image_5,optional"`
	Image6          *MMMUImage `parquet:"image_6,optional"`
	Image7          *MMMUImage `parquet:"image_7,optional"`
	ImgType         *string    `parquet:"img_type,optional"`
	Answer          string     `parquet:"answer"`
	TopicDifficulty *string    `parquet:"topic_difficulty,optional"`
	QuestionType    string     `parquet:"question_type"`
	Subfield        *string    `parquet:"subfield,optional"`
}

// LoadMMMU loads HF MMMU/MMMU parquet files (<Subject>/<split>-*.parquet)
// under root for split (default "validation"). IDs are the rows' ids
// (validation_<Subject>_<n>); Category is the subject; options are lettered
// from the options list (a Python literal); an open question has none.
func LoadMMMU(root, split string) (*Dataset, error) {
	if split == "" {
		split = "validation"
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() && strings.HasSuffix(p, ".parquet") && strings.HasPrefix(de.Name(), split) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no %s-*.parquet files", root, split)
	}
	sort.Strings(files)
	d := &Dataset{Bench: MMMU, Format: FormatMMMU, Path: root}
	for _, f := range files {
		rows, err := readMMMUParquet(f)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			it, err := mmmuItem(r, fmt.Sprintf("%s:row %d", f, i+1))
			if err != nil {
				return nil, err
			}
			d.Items = append(d.Items, it)
		}
	}
	return d.finish()
}

func readMMMUParquet(path string) (rows []MMMURow, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, col := range []string{"id", "question", "options", "answer", "question_type"} {
		if _, ok := pf.Schema().Lookup(col); !ok {
			return nil, fmt.Errorf("%s: no column %q", path, col)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: unreadable MMMU parquet: %v", path, p)
		}
	}()
	r := parquet.NewGenericReader[MMMURow](pf)
	defer r.Close()
	rows = make([]MMMURow, pf.NumRows())
	n, err := r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows[:n], nil
}

func mmmuItem(r MMMURow, where string) (Item, error) {
	it := Item{Bench: MMMU, ID: r.ID, Index: -1, Question: r.Question, Answer: r.Answer, Where: where}
	parts := strings.SplitN(r.ID, "_", 2)
	if len(parts) != 2 || r.ID == "" {
		return it, fmt.Errorf("%s: id %q is not <split>_<Subject>_<n>", where, r.ID)
	}
	it.Split = parts[0]
	if k := strings.LastIndex(parts[1], "_"); k > 0 {
		it.Category = parts[1][:k]
	}
	opts, err := pycompat.ParseStrList(r.Options)
	if err != nil {
		return it, fmt.Errorf("%s: options: %w", where, err)
	}
	for i, o := range opts {
		if i >= 26 {
			return it, fmt.Errorf("%s: more than 26 options", where)
		}
		it.Options = append(it.Options, Option{Letter: string(rune('A' + i)), Text: o})
	}
	switch r.QuestionType {
	case "multiple-choice":
		if len(it.Options) == 0 {
			return it, fmt.Errorf("%s: multiple-choice question without options", where)
		}
	case "open":
		it.Options = nil
	default:
		return it, fmt.Errorf("%s: question_type %q (want multiple-choice or open)", where, r.QuestionType)
	}
	for _, im := range []*MMMUImage{r.Image1, r.Image2, r.Image3, r.Image4, r.Image5, r.Image6, r.Image7} {
		if im != nil && len(im.Bytes) > 0 {
			it.Images = append(it.Images, Image{Bytes: im.Bytes})
		}
	}
	it.setField("question_type", r.QuestionType)
	if r.Subfield != nil {
		it.setField("subfield", *r.Subfield)
	}
	return it, nil
}

type mmvetSample struct {
	ImageName  string   `json:"imagename"`
	Question   string   `json:"question"`
	Answer     string   `json:"answer"`
	Capability []string `json:"capability"`
}

// LoadMMVet loads mm-vet.json ({"v1_0": {imagename, question, answer,
// capability[]}, ...}). Category is the capability list joined by ",".
func LoadMMVet(path, imageDir string) (*Dataset, error) {
	var m map[string]mmvetSample
	if err := readJSON(path, &m); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(m))
	for k := range m {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool { return mmvetKey(ids[i]) < mmvetKey(ids[j]) })
	d := &Dataset{Bench: MMVet, Format: FormatMMVet, Path: path}
	for _, id := range ids {
		s := m[id]
		where := fmt.Sprintf("%s: %q", path, id)
		if s.Question == "" || len(s.Capability) == 0 {
			return nil, fmt.Errorf("%s: missing question or capability", where)
		}
		it := Item{Bench: MMVet, ID: id, Index: -1, Question: s.Question, Answer: s.Answer,
			Category: strings.Join(s.Capability, ","), Where: where}
		if imageDir != "" {
			it.Images = []Image{{Path: resolve(imageDir, s.ImageName)}}
		}
		d.Items = append(d.Items, it)
	}
	return d.finish()
}

func mmvetKey(id string) string {
	if i := strings.LastIndex(id, "_"); i >= 0 && isDigits(id[i+1:]) {
		return fmt.Sprintf("%s_%09s", id[:i], id[i+1:])
	}
	return id
}

func parseOptionsLiteral(s string) ([]string, error) { return pycompat.ParseStrList(s) }
