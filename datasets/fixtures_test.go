package datasets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/xuri/excelize/v2"
)

var update = flag.Bool("update", false, "regenerate testdata fixtures")

// fixture is one generated file: text (compared with the committed copy)
// or binary (PNG, XLSX, parquet: regenerated only with -update).
type fixture struct {
	path   string
	data   []byte
	binary bool
}

// tinyPNG is a 4x4 one-colour PNG, distinct per seed.
func tinyPNG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	c := color.RGBA{uint8(seed * 37), uint8(seed * 91), uint8(seed * 53), 255}
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// tinyJPEG is a w x h JPEG with a colour gradient, distinct per seed.
func tinyJPEG(w, h, seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(seed*41 + 3*x), uint8(seed*17 + 2*y), uint8(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func jsonl(rows ...any) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func pretty(v any) []byte {
	j, _ := json.MarshalIndent(v, "", "  ")
	return append(j, '\n')
}

func tsv(header []string, rows [][]string) []byte {
	var b strings.Builder
	b.WriteString(strings.Join(header, "\t") + "\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r, "\t") + "\n")
	}
	return []byte(b.String())
}

func xlsx(header []string, rows [][]string) []byte {
	f := excelize.NewFile()
	defer f.Close()
	sh := f.GetSheetName(0)
	put := func(r int, vals []string) {
		cells := make([]any, len(vals))
		for i, v := range vals {
			cells[i] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, r)
		if err := f.SetSheetRow(sh, cell, &cells); err != nil {
			panic(err)
		}
	}
	put(1, header)
	for i, r := range rows {
		put(i+2, r)
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// mmeSubtasks: name -> split layout (images/ + questions_answers_YN/).
var mmeSubtasks = map[string]bool{
	"existence": false, "count": false, "position": false, "color": false, "posters": true,
	"celebrity": true, "scene": true, "landmark": true, "artwork": true, "OCR": false,
	"commonsense_reasoning": false, "numerical_calculation": false, "text_translation": false, "code_reasoning": false,
}

func fixtures() []fixture {
	var fx []fixture
	add := func(p string, d []byte) { fx = append(fx, fixture{path: p, data: d}) }
	bin := func(p string, d []byte) { fx = append(fx, fixture{path: p, data: d, binary: true}) }
	seed := 0

	// ---- MME: official folders, a Your_Results folder and LLaVA answers.
	var subs []string
	for s := range mmeSubtasks {
		subs = append(subs, s)
	}
	sort.Strings(subs)
	// Responses per subtask: a right pair, then a chatty pair.
	chatty := [][2]string{{"Yes, there is no doubt", "know"}, {"I think yes", "No"}, {"Y", "nope"}, {"The answer is yes", "No."}}
	var llavaMME []any
	for k, s := range subs {
		dir := filepath.Join("mme", "MME_Benchmark_release_version", s)
		imgDir, qaDir := dir, dir
		if mmeSubtasks[s] {
			imgDir, qaDir = filepath.Join(dir, "images"), filepath.Join(dir, "questions_answers_YN")
		}
		var res strings.Builder
		for i := 0; i < 2; i++ {
			seed++
			name := fmt.Sprintf("%s_%d", s, i)
			bin(filepath.Join(imgDir, name+".png"), tinyPNG(seed))
			q1 := fmt.Sprintf("Is there a thing %d in the image? Please answer yes or no.", i)
			q2 := fmt.Sprintf("Is there a other %d in the image? Please answer yes or no.", i)
			add(filepath.Join(qaDir, name+".txt"), []byte(q1+"\tYes\n"+q2+"\tNo\n"))
			r1, r2 := "Yes", "No"
			if i == 1 {
				c := chatty[k%len(chatty)]
				r1, r2 = c[0], c[1]
			}
			fmt.Fprintf(&res, "%s.png\t%s\tYes\t%s\n%s.png\t%s\tNo\t%s\n", name, q1, r1, name, q2, r2)
			for _, qa := range [][2]string{{q1, r1}, {q2, r2}} {
				prompt := strings.Replace(qa[0], " Please answer yes or no.", "", 1) + "\nAnswer the question using a single word or phrase."
				llavaMME = append(llavaMME, map[string]any{"question_id": s + "/" + name + ".png", "prompt": prompt, "text": qa[1], "model_id": "fixture"})
			}
		}
		add(filepath.Join("mme", "Your_Results", s+".txt"), []byte(res.String()))
	}
	add("mme/llava_answers.jsonl", jsonl(llavaMME...))

	// ---- POPE: label files, LLaVA question file and answers, VLMEvalKit tsv.
	objs := []string{"dog", "cat", "car", "tree"}
	var qs, answers []any
	popeAns := map[string][]string{
		"random":      {"Yes", "No", "Yes.", "no"},
		"popular":     {"Yes, there is a cat", "NO", "No!", "Not really"},
		"adversarial": {"Yes", "Yes, no doubt", "There is no car.", ""},
	}
	var popeRows [][]string
	qid := 0
	for _, split := range []string{"adversarial", "popular", "random"} {
		var lines []any
		for i, o := range objs {
			label := []string{"yes", "no"}[i%2]
			img := fmt.Sprintf("COCO_val2014_%012d.jpg", 100+i)
			lines = append(lines, map[string]any{"question_id": i + 1, "image": img, "text": "Is there a " + o + " in the image?", "label": label})
			qid++
			text := "Is there a " + o + " in the image?\nAnswer the question using a single word or phrase."
			qs = append(qs, map[string]any{"question_id": qid, "image": img, "text": text, "category": split})
			answers = append(answers, map[string]any{"question_id": qid, "prompt": text, "text": popeAns[split][i], "model_id": "fixture"})
			popeRows = append(popeRows, []string{fmt.Sprint(qid), "Is there a " + o + " in the image?", map[string]string{"yes": "Yes", "no": "No"}[label], split, popeAns[split][i]})
		}
		add("pope/coco/coco_pope_"+split+".json", jsonl(lines...))
	}
	add("pope/llava_pope_test.jsonl", jsonl(qs...))
	add("pope/answers.jsonl", jsonl(answers...))
	add("pope/POPE_fixture.tsv", tsv([]string{"index", "question", "answer", "category", "prediction"}, popeRows))
	// The COCO images the POPE questions name (registry: coco/val2014), of
	// differing aspect ratios so that dynamic tiling has work to do.
	for i, sz := range [][2]int{{160, 120}, {64, 64}, {180, 40}, {50, 100}} {
		bin(fmt.Sprintf("coco/val2014/COCO_val2014_%012d.jpg", 100+i), tinyJPEG(sz[0], sz[1], i))
	}

	// ---- MMBench: TSV with circular passes and base64 images; preds as xlsx and LLaVA jsonl.
	b64 := base64.StdEncoding.EncodeToString(tinyPNG(99))
	type mq struct {
		q, hint string
		opts    []string
		ans     int
		cat, l2 string
	}
	mqs := []mq{
		{"What colour is the sky?", "Look up.", []string{"blue", "green", "red", "black"}, 0, "scene", "coarse_perception"},
		{"How many legs has a dog?", "nan", []string{"2", "4", "6"}, 1, "object_localization", "finegrained_perception (instance-level)"},
		{"Which is bigger?", "", []string{"an ant", "an elephant"}, 1, "attribute_comparison", "finegrained_perception (cross-instance)"},
	}
	hdr := []string{"index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "l2-category", "split"}
	var mrows, mpreds [][]string
	var mllava []any
	// predictions per question per pass: q0 all right; q1 one pass wrong; q2 a chatty unparseable pass.
	letter := func(q mq, r int) string { n := len(q.opts); return string(rune('A' + (q.ans-r+n*4)%n)) }
	mp := [][]string{
		{letter(mqs[0], 0), "(" + letter(mqs[0], 1) + ")", letter(mqs[0], 2) + ".", "The answer is " + letter(mqs[0], 3)},
		{letter(mqs[1], 0), letter(mqs[1], 1), "A"},
		{"B", "the answer is an ant or an elephant"},
	}
	for g, q := range mqs {
		n := len(q.opts)
		for r := 0; r < n; r++ {
			row := make([]string, len(hdr))
			idx := g + r*1_000_000
			row[0] = fmt.Sprint(idx)
			row[1], row[2] = q.q, q.hint
			for k := 0; k < n; k++ {
				row[3+k] = q.opts[(k+r)%n]
			}
			row[7] = letter(q, r)
			row[8], row[10], row[11], row[12] = q.cat, "fixture", q.l2, "dev"
			if r == 0 {
				row[9] = b64
			} else {
				row[9] = fmt.Sprint(g)
			}
			mrows = append(mrows, row)
			pr := append(append([]string(nil), row...), mp[g][r])
			mpreds = append(mpreds, pr)
			mllava = append(mllava, map[string]any{"question_id": idx, "round_id": 0, "prompt": q.q, "text": mp[g][r], "model_id": "fixture"})
		}
	}
	add("mmbench/MMBench_DEV_EN_fixture.tsv", tsv(hdr, mrows))
	bin("mmbench/fixture_MMBench_DEV_EN.xlsx", xlsx(append(hdr, "prediction"), mpreds))
	add("mmbench/llava_answers.jsonl", jsonl(mllava...))

	// ---- SEED-Bench json + LLaVA answers.
	seedQs := []any{}
	var seedAns []any
	seedPred := []string{"A", "B.", "c", "The answer is D", "A"}
	for i := 0; i < 5; i++ {
		dt := "image"
		if i == 4 {
			dt = "video"
		}
		seedQs = append(seedQs, map[string]any{"question_id": fmt.Sprint(101 + i), "question": fmt.Sprintf("Question %d?", i),
			"choice_a": "alpha", "choice_b": "beta", "choice_c": "gamma", "choice_d": "delta",
			"answer": string(rune('A' + i%4)), "data_id": fmt.Sprintf("img_%d.jpg", i), "data_type": dt, "question_type_id": 1 + i%2})
		if dt == "image" {
			seedAns = append(seedAns, map[string]any{"question_id": fmt.Sprint(101 + i), "prompt": "", "text": seedPred[i]})
		}
	}
	add("seed/SEED-Bench.json", pretty(map[string]any{"questions": seedQs, "question_type": map[string]int{"Scene Understanding": 1, "Instance Identity": 2}}))
	add("seed/answers.jsonl", jsonl(seedAns...))
	for i := 0; i < 4; i++ {
		bin(fmt.Sprintf("seed/SEED-Bench-image/img_%d.jpg", i), tinyJPEG(64+16*i, 48, 10+i))
	}

	// ---- ScienceQA problems + splits + images + LLaVA answers.
	probs := map[string]any{}
	sqaPred := map[string]string{"10": "A", "11": "The answer is B.", "12": "C. because", "13": "The answer is A"}
	var sqaAns []any
	for i, pid := range []string{"10", "11", "12", "13", "14"} {
		var imgName any = "image.png"
		if pid == "14" {
			imgName = nil
		} else {
			seed++
			bin(filepath.Join("scienceqa", "images", "test", pid, "image.png"), tinyPNG(seed))
		}
		probs[pid] = map[string]any{"question": "Which is right " + pid + "?", "choices": []string{"one", "two", "three"}, "answer": i % 3,
			"hint": "", "image": imgName, "subject": []string{"natural science", "social science"}[i%2], "split": "test", "grade": "grade3"}
		if p, ok := sqaPred[pid]; ok {
			sqaAns = append(sqaAns, map[string]any{"question_id": pid, "prompt": "<image>\nWhich is right?", "text": p})
		}
	}
	add("scienceqa/problems.json", pretty(probs))
	add("scienceqa/pid_splits.json", pretty(map[string][]string{"test": {"10", "11", "12", "13", "14"}, "train": {}}))
	add("scienceqa/answers.jsonl", jsonl(sqaAns...))

	// ---- AI2D VLMEvalKit TSV + result tsv (numeric option columns, an empty prediction).
	ahdr := []string{"index", "question", "A", "B", "C", "D", "answer", "category", "image"}
	arows := [][]string{
		{"0", "How many stages?", "3", "4", "5", "6", "B", "lifeCycles", b64},
		{"1", "What eats grass?", "rabbit", "hawk", "", "", "A", "foodChainsWebs", b64},
		{"2", "Which is the sun?", "A", "B", "C", "D", "C", "astronomy", b64},
	}
	add("ai2d/AI2D_TEST_fixture.tsv", tsv(ahdr, arows))
	apreds := [][]string{append(append([]string(nil), arows[0]...), "4"), append(append([]string(nil), arows[1]...), ""), append(append([]string(nil), arows[2]...), "C")}
	add("ai2d/fixture_AI2D_TEST.tsv", tsv(append(ahdr, "prediction"), apreds))

	// ---- MMMU parquet (validation and dev), LLaVA-style and lmms-eval answers.
	mmmuRows := []MMMURow{
		{ID: "validation_Art_1", Question: "Which painter? <image 1>", Options: "['Monet', 'Manet', 'Degas']", Answer: "B", QuestionType: "multiple-choice", Image1: &MMMUImage{Bytes: tinyPNG(200)}},
		{ID: "validation_Art_2", Question: "Which year?", Options: "['1874', '1900']", Answer: "A", QuestionType: "multiple-choice"},
		{ID: "validation_Math_1", Question: "What is 6*7?", Options: "[]", Answer: "42", QuestionType: "open"},
		{ID: "validation_Math_2", Question: "What is 1/4?", Options: "[]", Answer: "0.25", QuestionType: "open"},
	}
	var pq bytes.Buffer
	w := parquet.NewGenericWriter[MMMURow](&pq)
	if _, err := w.Write(mmmuRows); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	bin("mmmu/MMMU/Art_Math/validation-00000-of-00001.parquet", pq.Bytes())
	mmmuPred := []string{"(B) Manet", "I cannot tell", "The answer is 42.", "so the result is 0.25"}
	var mmmuAns, mmmuLmms []any
	for i, r := range mmmuRows {
		mmmuAns = append(mmmuAns, map[string]any{"question_id": r.ID, "prompt": r.Question, "text": mmmuPred[i]})
		mmmuLmms = append(mmmuLmms, map[string]any{"doc_id": i, "doc": map[string]any{"id": r.ID, "question": r.Question, "options": r.Options, "answer": r.Answer, "question_type": r.QuestionType},
			"target": r.Answer, "resps": [][]string{{mmmuPred[i]}}, "filtered_resps": []string{mmmuPred[i]}})
	}
	add("mmmu/answers.jsonl", jsonl(mmmuAns...))
	add("mmmu/samples_mmmu_val.jsonl", jsonl(mmmuLmms...))

	// ---- TextVQA json + LLaVA answers (question_id = image_id, question in the prompt).
	tv := []map[string]any{
		{"question_id": 34602, "image_id": "img_a", "question": "what brand is this?", "answers": []string{"nokia", "nokia", "nokia", "nokia", "toshiba", "nokia", "nokia", "nokia", "nokia", "nokia"}, "ocr_tokens": []string{"NOKIA"}},
		{"question_id": 34603, "image_id": "img_b", "question": "what's the price?", "answers": []string{"$5", "5", "$5", "5 dollars", "$5", "5", "$5", "$5", "five", "$5"}, "ocr_tokens": []string{"$5"}},
		{"question_id": 34604, "image_id": "img_c", "question": "what year is it?", "answers": []string{"2016", "2016", "2016", "2016.", "2016", "2016", "2016", "2016", "2016", "2016"}, "ocr_tokens": []string{}},
	}
	add("textvqa/TextVQA_0.5.1_val.json", pretty(map[string]any{"dataset_name": "textvqa", "dataset_version": "0.5.1", "data": tv}))
	tvPred := []string{"Nokia.", "5", "2016."}
	var tvAns []any
	for i, q := range tv {
		prompt := q["question"].(string) + "\nReference OCR token: x\nAnswer the question using a single word or phrase."
		tvAns = append(tvAns, map[string]any{"question_id": q["image_id"], "prompt": prompt, "text": tvPred[i]})
	}
	add("textvqa/llava_textvqa_answers.jsonl", jsonl(tvAns...))
	for i, id := range []string{"img_a", "img_b", "img_c"} {
		bin("textvqa/train_images/"+id+".jpg", tinyJPEG(120, 90-20*i, 20+i))
	}

	// ---- VQAv2 val questions/annotations + results json.
	vq := []map[string]any{{"image_id": 9, "question": "Is it sunny?", "question_id": 9001}, {"image_id": 9, "question": "How many cats?", "question_id": 9002}, {"image_id": 10, "question": "What is it?", "question_id": 10001}}
	mk := func(answers ...string) []map[string]any {
		var out []map[string]any
		for i, a := range answers {
			out = append(out, map[string]any{"answer": a, "answer_confidence": "yes", "answer_id": i + 1})
		}
		return out
	}
	ten := func(a string) []string { return []string{a, a, a, a, a, a, a, a, a, a} }
	va := []map[string]any{
		{"question_id": 9001, "image_id": 9, "question_type": "is it", "answer_type": "yes/no", "multiple_choice_answer": "yes", "answers": mk(ten("yes")...)},
		{"question_id": 9002, "image_id": 9, "question_type": "how many", "answer_type": "number", "multiple_choice_answer": "2", "answers": mk("2", "2", "two", "2", "3", "2", "2", "2", "2", "2")},
		{"question_id": 10001, "image_id": 10, "question_type": "what is", "answer_type": "other", "multiple_choice_answer": "t-shirt", "answers": mk("t-shirt", "t-shirt", "shirt", "tshirt", "t-shirt", "t shirt", "shirt", "t-shirt", "t-shirt", "tee")},
	}
	add("vqav2/v2_OpenEnded_mscoco_val2014_questions.json", pretty(map[string]any{"questions": vq}))
	add("vqav2/v2_mscoco_val2014_annotations.json", pretty(map[string]any{"annotations": va}))
	bin("vqav2/val2014/COCO_val2014_000000000009.jpg", tinyJPEG(128, 96, 30))
	bin("vqav2/val2014/COCO_val2014_000000000010.jpg", tinyJPEG(96, 128, 31))
	add("vqav2/results.json", pretty([]map[string]any{{"question_id": 9001, "answer": "Yes"}, {"question_id": 9002, "answer": "two"}, {"question_id": 10001, "answer": "T-shirt"}}))

	// ---- GQA testdev balanced + predictions (GQA json and LLaVA jsonl).
	gq := map[string]any{
		"201": map[string]any{"imageId": "n1", "question": "Is the cat black?", "answer": "yes", "isBalanced": true, "types": map[string]string{"structural": "verify"}},
		"202": map[string]any{"imageId": "n1", "question": "What is on the table?", "answer": "cup", "isBalanced": true, "types": map[string]string{"structural": "query"}},
		"203": map[string]any{"imageId": "n2", "question": "Which side is the car on?", "answer": "left", "isBalanced": true, "types": map[string]string{"structural": "query"}},
		"204": map[string]any{"imageId": "n2", "question": "Unbalanced?", "answer": "no", "isBalanced": false, "types": map[string]string{"structural": "verify"}},
	}
	add("gqa/testdev_balanced_questions.json", pretty(gq))
	bin("gqa/images/n1.jpg", tinyJPEG(100, 75, 40))
	bin("gqa/images/n2.jpg", tinyJPEG(75, 100, 41))
	add("gqa/testdev_balanced_predictions.json", pretty([]map[string]any{{"questionId": "201", "prediction": "yes"}, {"questionId": "202", "prediction": "cup"}, {"questionId": "203", "prediction": "left. "}}))
	add("gqa/llava_answers.jsonl", jsonl(map[string]any{"question_id": "201", "text": "Yes."}, map[string]any{"question_id": "202", "text": "Cup"}, map[string]any{"question_id": "203", "text": "left. "}))

	// ---- MM-Vet json + answers.
	add("mmvet/mm-vet.json", pretty(map[string]any{
		"v1_0": map[string]any{"imagename": "v1_0.png", "question": "What is x?", "answer": "2", "capability": []string{"math", "ocr"}},
		"v1_1": map[string]any{"imagename": "v1_1.png", "question": "Describe it.", "answer": "a cat <OR> a kitten", "capability": []string{"rec"}},
	}))
	bin("mmvet/images/v1_0.png", tinyPNG(50))
	bin("mmvet/images/v1_1.png", tinyPNG(51))
	add("mmvet/answers.jsonl", jsonl(map[string]any{"question_id": "v1_0", "text": "x = 2"}))

	// ---- A registry pointing at all of the above.
	add("registry.yaml", []byte(`# ssmbench dataset registry for the fixtures (paths relative to this file)
datasets:
  mme: {path: mme/MME_Benchmark_release_version}
  pope: {path: pope/coco, questions: pope/llava_pope_test.jsonl, images: coco/val2014}
  mmbench: {path: mmbench/MMBench_DEV_EN_fixture.tsv}
  seed: {path: seed/SEED-Bench.json, images: seed/SEED-Bench-image}
  scienceqa: {path: scienceqa}
  ai2d: {path: ai2d/AI2D_TEST_fixture.tsv}
  mmmu: {path: mmmu/MMMU, split: validation}
  textvqa: {path: textvqa/TextVQA_0.5.1_val.json, images: textvqa/train_images}
  vqav2: {path: vqav2/v2_OpenEnded_mscoco_val2014_questions.json, annotations: vqav2/v2_mscoco_val2014_annotations.json, images: vqav2/val2014}
  gqa: {path: gqa/testdev_balanced_questions.json, images: gqa/images}
  mmvet: {path: mmvet/mm-vet.json, images: mmvet/images}
`))
	return fx
}

// TestFixtures keeps testdata in step with the generator: with -update it
// writes every file; otherwise text files must match and binary files exist.
func TestFixtures(t *testing.T) {
	for _, f := range fixtures() {
		p := filepath.Join("testdata", f.path)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v (run go test ./datasets -run TestFixtures -update)", err)
			continue
		}
		if !f.binary && !bytes.Equal(got, f.data) {
			t.Errorf("%s differs from the generator (run with -update)", p)
		}
	}
}
