package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func reg(t *testing.T) *Registry {
	t.Helper()
	r, err := LoadRegistry("testdata/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadFixtures(t *testing.T) {
	r := reg(t)
	want := map[string]struct {
		items   int
		options int // options of the first item
		answers int // VQA answers of the first item
	}{
		MME: {56, 0, 0}, POPE: {12, 0, 0}, MMBench: {9, 4, 0}, SEED: {4, 4, 0}, ScienceQA: {4, 3, 0},
		AI2D: {3, 4, 0}, MMMU: {4, 3, 0}, TextVQA: {3, 0, 10}, VQAv2: {3, 0, 10}, GQA: {3, 0, 0}, MMVet: {2, 0, 0},
	}
	for _, b := range Benches {
		t.Run(b, func(t *testing.T) {
			e, err := r.Entry(b)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Load(b, e)
			if err != nil {
				t.Fatal(err)
			}
			w := want[b]
			if len(d.Items) != w.items || len(d.Items[0].Options) != w.options || len(d.Items[0].Answers) != w.answers {
				t.Errorf("%d items, first has %d options %d answers; want %+v", len(d.Items), len(d.Items[0].Options), len(d.Items[0].Answers), w)
			}
			for _, it := range d.Items {
				if it.ID == "" || it.Where == "" || it.Bench != b {
					t.Fatalf("item without id/where: %+v", it)
				}
			}
		})
	}
}

func TestLoaderDetails(t *testing.T) {
	r := reg(t)
	load := func(b string) *Dataset {
		e, _ := r.Entry(b)
		d, err := Load(b, e)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// MME: split layout (posters) and plain layout, images exist.
	mme := load(MME)
	it, ok := mme.Lookup("posters/posters_1.png/1")
	if !ok || it.Answer != "No" || !strings.Contains(it.Images[0].Path, filepath.Join("posters", "images")) {
		t.Errorf("MME posters item: %+v", it)
	}
	if _, err := os.Stat(it.Images[0].Path); err != nil {
		t.Error(err)
	}
	// POPE: labels zipped by order into LLaVA's global question ids.
	pope := load(POPE)
	if it, _ := pope.Lookup("5"); it.Split != "popular" || it.Answer != "Yes" {
		t.Errorf("POPE q5: %+v", it)
	}
	// MMBench: circular passes, base64 image on the main row, a reference on passes, "nan" hint is NaN.
	mmb := load(MMBench)
	main, _ := mmb.Lookup("1")
	pass, _ := mmb.Lookup("1000001")
	if main.Hint != "" || pass.Images[0].Ref != "1" || len(main.Options) != 3 {
		t.Errorf("MMBench rows: %+v / %+v", main, pass)
	}
	if data, err := mmb.Items[0].Images[0].Data(); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Errorf("base64 image: %v", err)
	}
	// AI2D: an all-numeric option column stays integer text ("3"), NaN options dropped.
	ai2d := load(AI2D)
	if ai2d.Items[0].Options[0].Text != "3" || len(ai2d.Items[1].Options) != 2 {
		t.Errorf("AI2D options: %+v / %+v", ai2d.Items[0].Options, ai2d.Items[1].Options)
	}
	// MMMU: open question has no options, image bytes from parquet, subject from id.
	mmmu := load(MMMU)
	art, _ := mmmu.Lookup("validation_Art_1")
	math, _ := mmmu.Lookup("validation_Math_1")
	if len(art.Images) != 1 || art.Category != "Art" || len(math.Options) != 0 || math.Split != "validation" {
		t.Errorf("MMMU: %+v / %+v", art, math)
	}
	// GQA: unbalanced question dropped; structural query = open.
	gqa := load(GQA)
	if _, ok := gqa.Lookup("204"); ok {
		t.Error("unbalanced GQA question kept")
	}
	if it, _ := gqa.Lookup("202"); it.Category != "open" {
		t.Errorf("GQA 202: %+v", it)
	}
	// ScienceQA: the problem without image is not in ScienceQA-IMG.
	if _, ok := load(ScienceQA).Lookup("14"); ok {
		t.Error("no-image ScienceQA problem kept")
	}
	// SEED: the video question is dropped.
	if len(load(SEED).Items) != 4 {
		t.Error("SEED video question kept")
	}
	// VQAv2 answers carry ids and types.
	v, _ := load(VQAv2).Lookup("9002")
	if v.Field("answer_type") != "number" || v.Answers[2].Answer != "two" || v.Answers[2].ID != 3 {
		t.Errorf("VQAv2: %+v", v)
	}
}

func TestPandasQuirks(t *testing.T) {
	in := "index\tA\tB\tprediction\tanswer\n0\t3\tx\t1\tA\n1\t4\tNA\t\tB\n2\t5\tN/A\t2\tA\n"
	tb, err := ParseTSV("q.tsv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Get(0, "A").Str; got != "3" {
		t.Errorf("int column: %q", got)
	}
	if c := tb.Get(1, "B"); !c.NaN || c.Str != "nan" {
		t.Errorf("NA is NaN: %+v", c)
	}
	// A numeric column with a NaN becomes float: "1" reads back as "1.0",
	// and the empty prediction is the string "nan".
	if a, b := tb.Get(0, "prediction").Str, tb.Get(1, "prediction").Str; a != "1.0" || b != "nan" {
		t.Errorf("prediction column: %q %q", a, b)
	}
	items, err := ItemsFromTable(tb, SEED)
	if err != nil {
		t.Fatal(err)
	}
	if len(items[1].Options) != 1 {
		t.Errorf("NaN option kept: %+v", items[1].Options)
	}
}

func TestLoaderErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		load func() error
		want string
	}{
		{"tsv bad index", func() error {
			_, err := LoadVLMEvalKitTSV(write("a.tsv", "index\tquestion\tanswer\n0\tq\tA\nx\tq\tB\n"), MMBench)
			return err
		}, "a.tsv:3: index \"x\""},
		{"tsv too many fields", func() error {
			_, err := LoadVLMEvalKitTSV(write("b.tsv", "index\tanswer\n0\tA\textra\n"), SEED)
			return err
		}, "b.tsv:2: 3 fields"},
		{"tsv duplicate index", func() error {
			_, err := LoadVLMEvalKitTSV(write("c.tsv", "index\tanswer\n0\tA\n0\tB\n"), SEED)
			return err
		}, "c.tsv:3: duplicate id"},
		{"pope bad label", func() error {
			write("pope/coco_pope_random.json", `{"question_id": 1, "image": "x.jpg", "text": "q", "label": "yes"}`+"\n"+`{"question_id": 2, "label": "maybe"}`+"\n")
			_, err := LoadPOPE(filepath.Join(dir, "pope"), "", "")
			return err
		}, "coco_pope_random.json:2: label \"maybe\""},
		{"pope broken json", func() error {
			write("pope2/coco_pope_random.json", `{"question_id": 1, "label": "yes"}`+"\n{oops\n")
			_, err := LoadPOPE(filepath.Join(dir, "pope2"), "", "")
			return err
		}, "coco_pope_random.json:2:"},
		{"mme bad answer", func() error {
			write("mme/count/a.png", "x")
			write("mme/count/a.txt", "q1\tYes\nq2\tMaybe\n")
			_, err := LoadMME(filepath.Join(dir, "mme"))
			return err
		}, "a.txt:2: answer \"Maybe\""},
		{"textvqa type error", func() error {
			_, err := LoadTextVQA(write("t.json", "{\"data\": [\n{\"question_id\": 1,\n \"answers\": 5}]}"), "")
			return err
		}, "t.json:3:"},
		{"registry unknown bench", func() error {
			_, err := ParseRegistry("r.yaml", []byte("datasets:\n  nope: {path: x}\n"))
			return err
		}, "r.yaml: datasets.nope: unknown benchmark"},
		{"registry unknown key", func() error {
			_, err := ParseRegistry("r.yaml", []byte("datasets:\n  mme: {path: x, bogus: 1}\n"))
			return err
		}, "r.yaml"},
		{"llava answers missing text", func() error {
			_, err := ReadPredictions(write("p.jsonl", `{"question_id": 1, "text": "A"}`+"\n"+`{"question_id": 2}`+"\n"), SEED, "")
			return err
		}, "p.jsonl:2: missing text"},
		{"unknown bench", func() error { _, err := Load("nope", Entry{Path: dir}); return err }, "unknown benchmark"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.load()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestPredictionFormats(t *testing.T) {
	cases := []struct{ path, format string }{
		{"mme/Your_Results", PredMMEResults},
		{"mmbench/fixture_MMBench_DEV_EN.xlsx", PredVLMEvalKit},
		{"ai2d/fixture_AI2D_TEST.tsv", PredVLMEvalKit},
		{"pope/answers.jsonl", PredLLaVA},
		{"mmmu/samples_mmmu_val.jsonl", PredLmmsEval},
		{"gqa/testdev_balanced_predictions.json", PredGQAJSON},
		{"vqav2/results.json", PredVQAJSON},
	}
	for _, c := range cases {
		f, err := DetectPredFormat(filepath.Join("testdata", c.path))
		if err != nil || f != c.format {
			t.Errorf("%s: %q %v want %q", c.path, f, err, c.format)
		}
	}
	p, err := ReadPredictions("testdata/mmbench/fixture_MMBench_DEV_EN.xlsx", MMBench, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.SelfContained() || len(p.Preds) != 9 || p.Preds[0].Item.Index != 0 || !strings.Contains(p.Preds[0].Where, "row 2") {
		t.Errorf("xlsx: %+v", p.Preds[0])
	}
	mme, err := ReadMMEResults("testdata/mme/Your_Results")
	if err != nil || len(mme) != 56 {
		t.Fatalf("%d %v", len(mme), err)
	}
}

func TestMMEResultsNewlines(t *testing.T) {
	dir := t.TempDir()
	// \r ends a line in Python's text mode; a tab in a response makes a
	// line malformed.
	body := "a.png\tq\tYes\tyes\r\na.png\tq2\tNo\tno\rb.png\tq\tYes\tyes\tmore\n"
	os.WriteFile(filepath.Join(dir, "count.txt"), []byte(body), 0o644)
	p, err := ReadMMEResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p[1].Text != "no" || !p[2].Malformed || p[0].Malformed {
		t.Errorf("%+v", p)
	}
}

func FuzzParseTSV(f *testing.F) {
	f.Add("index\tA\tanswer\n0\tx\tA\n")
	f.Add("index\tquestion\n\"1\t2\"\tq\n")
	f.Fuzz(func(t *testing.T, s string) {
		tb, err := ParseTSV("f.tsv", strings.NewReader(s))
		if err != nil {
			return
		}
		for _, b := range []string{MMBench, TextVQA, MME} {
			_, _ = ItemsFromTable(tb, b)
		}
	})
}

func FuzzRegistry(f *testing.F) {
	f.Add("datasets:\n  mme: {path: x}\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseRegistry("r.yaml", []byte(s)) })
}

// fuzzFile writes s to a temp file and runs fn on it.
func fuzzFile(t *testing.T, name, s string, fn func(path string)) {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	fn(p)
}

func FuzzPredictionReaders(f *testing.F) {
	f.Add(`{"question_id": 1, "text": "A"}`)
	f.Add(`{"doc_id": 0, "doc": {"id": "x", "answers": ["a"]}, "filtered_resps": [["a"]]}`)
	f.Add(`[{"questionId": "1", "prediction": "yes"}]`)
	f.Add(`{"v1_0": "x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"p.jsonl", "p.json"} {
			fuzzFile(t, name, s, func(p string) {
				for _, b := range []string{TextVQA, MME, MMMU, SEED} {
					_, _ = ReadPredictions(p, b, "")
				}
			})
		}
	})
}

func FuzzJSONLoaders(f *testing.F) {
	f.Add("q1\tYes\nq2\tNo\n")
	for _, p := range []string{"scienceqa/problems.json", "vqav2/v2_mscoco_val2014_annotations.json", "textvqa/TextVQA_0.5.1_val.json", "gqa/testdev_balanced_questions.json", "seed/SEED-Bench.json", "mmvet/mm-vet.json", "pope/coco/coco_pope_random.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", p))
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzFile(t, "x.json", s, func(p string) {
			_, _ = LoadTextVQA(p, "")
			_, _ = LoadGQA(p, "")
			_, _ = LoadSEED(p, "")
			_, _ = LoadMMVet(p, "")
			_, _ = LoadPOPE(p, "", "")
			_, _ = LoadVQAv2(p, p, "")
		})
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "problems.json"), []byte(s), 0o644)
		os.WriteFile(filepath.Join(dir, "pid_splits.json"), []byte(s), 0o644)
		_, _ = LoadScienceQA(dir, "")
		// MME question files: one subtask folder with one image.
		os.MkdirAll(filepath.Join(dir, "mme", "count"), 0o755)
		os.WriteFile(filepath.Join(dir, "mme", "count", "a.png"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "mme", "count", "a.txt"), []byte(s), 0o644)
		_, _ = LoadMME(filepath.Join(dir, "mme"))
	})
}

func FuzzMMEResults(f *testing.F) {
	f.Add("a.png\tq\tYes\tyes\na.png\tq\tNo\tno\n")
	f.Fuzz(func(t *testing.T, s string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "count.txt"), []byte(s), 0o644)
		_, _ = ReadMMEResults(dir)
	})
}

func FuzzMMMUParquet(f *testing.F) {
	b, _ := os.ReadFile("testdata/mmmu/MMMU/Art_Math/validation-00000-of-00001.parquet")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFile(t, "validation-0.parquet", string(data), func(p string) {
			_, _ = LoadMMMU(filepath.Dir(p), "validation")
		})
	})
}

func TestLLaVAOptionsAndRefs(t *testing.T) {
	opts := []Option{{"A", "x"}, {"B", "y"}, {"D", "z"}}
	if got := LLaVAOptions(opts); len(got) != 2 {
		t.Errorf("LLaVA stops at the first NaN option: %+v", got)
	}
	d, err := LoadVLMEvalKitTSV("testdata/mmbench/MMBench_DEV_EN_fixture.tsv", MMBench)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := d.Lookup("2000000")
	im, err := d.ResolveImage(pass.Images[0])
	if err != nil || im.Base64 == "" {
		t.Errorf("ref not resolved: %+v %v", im, err)
	}
}

func TestTextVQATSVAnswerList(t *testing.T) {
	in := "index\tquestion\tanswer\n0\twhat?\t['nokia', \"it's\", 'nokia']\n1\tq\tplain\n2\tq\t['broken\n"
	tb, err := ParseTSV("tv.tsv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	tb.Rows = tb.Rows[:2]
	items, err := ItemsFromTable(tb, TextVQA)
	if err != nil {
		t.Fatal(err)
	}
	if len(items[0].Answers) != 3 || items[0].Answers[1].Answer != "it's" || len(items[1].Answers) != 1 {
		t.Errorf("%+v", items)
	}
	tb2, _ := ParseTSV("tv.tsv", strings.NewReader(in))
	if _, err := ItemsFromTable(tb2, TextVQA); err == nil || !strings.Contains(err.Error(), "tv.tsv:4") {
		t.Errorf("broken list: %v", err)
	}
}
