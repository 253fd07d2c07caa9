package prompt

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/datasets"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestQuestionRules(t *testing.T) {
	opts := []datasets.Option{{Letter: "A", Text: "red"}, {Letter: "B", Text: "blue"}}
	for _, tc := range []struct {
		name, bench string
		it          datasets.Item
		want        string
	}{
		{"mme no separator", datasets.MME, datasets.Item{Question: "Is there a dog? Please answer yes or no."},
			"Is there a dog? Please answer yes or no.Answer the question using a single word or phrase."},
		{"pope vlmevalkit", datasets.POPE, datasets.Item{Question: "Is there a dog in the image? Please answer yes or no."},
			"Is there a dog in the image?\nAnswer the question using a single word or phrase."},
		{"pope llava file not doubled", datasets.POPE, datasets.Item{Question: "Is there a dog in the image?\nAnswer the question using a single word or phrase."},
			"Is there a dog in the image?\nAnswer the question using a single word or phrase."},
		{"mcq with hint", datasets.MMBench, datasets.Item{Question: "Colour?", Hint: "Look up.", Options: opts},
			"Look up.\nColour?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."},
		{"mcq chinese", datasets.MMBench, datasets.Item{Question: "天空是什么颜色？", Options: opts},
			"天空是什么颜色？\nA. red\nB. blue\n请直接回答选项字母。"},
		{"mmmu open", datasets.MMMU, datasets.Item{Question: "What is <image 1>?"}, "What is <image 1>?\nAnswer the question directly."},
		{"mmmu open chinese", datasets.MMMU, datasets.Item{Question: "这是什么？"}, "这是什么？\n请直接回答问题。"},
		{"vqa", datasets.GQA, datasets.Item{Question: "What is it?"}, "What is it?\nAnswer the question using a single word or phrase."},
		{"mmvet raw", datasets.MMVet, datasets.Item{Question: "Describe it."}, "Describe it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Question(tc.bench, &tc.it)
			if err != nil || got != tc.want {
				t.Errorf("got %q (%v)\nwant %q", got, err, tc.want)
			}
		})
	}
	if _, err := Question("nope", &datasets.Item{}); err == nil {
		t.Error("unknown benchmark accepted")
	}
}

func TestUserChatSplit(t *testing.T) {
	if got := User("q", 0); got != "q" {
		t.Errorf("no image: %q", got)
	}
	if got := User("q", 1); got != "<image>\nq" {
		t.Errorf("one image: %q", got)
	}
	if got := User("q", 2); got != "Image-1: <image>\nImage-2: <image>\nq" {
		t.Errorf("two images: %q", got)
	}
	chat := Chat("S", User("q <image> literal", 1))
	if chat != "<|im_start|>system\nS<|im_end|><|im_start|>user\n<image>\nq <image> literal<|im_end|><|im_start|>assistant\n" {
		t.Errorf("chat %q", chat)
	}
	parts, err := Split(chat, 1)
	if err != nil || len(parts) != 2 || parts[0] != "<|im_start|>system\nS<|im_end|><|im_start|>user\n" || !strings.HasPrefix(parts[1], "\nq <image> literal") {
		t.Errorf("split %q %v", parts, err)
	}
	if _, err := Split("no tags", 1); err == nil {
		t.Error("missing tag accepted")
	}
}

// TestGolden renders the full prompts of the fixtures' first items.
func TestGolden(t *testing.T) {
	reg, err := datasets.LoadRegistry(filepath.Join("..", "..", "datasets", "testdata", "registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bench := range datasets.Benches {
		t.Run(bench, func(t *testing.T) {
			e, err := reg.Entry(bench)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := datasets.Load(bench, e)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i := range ds.Items[:min(3, len(ds.Items))] {
				it := &ds.Items[i]
				q, err := Question(bench, it)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "### %s (%d images)\n%s\n", it.ID, len(it.Images), Chat(SystemMessage, User(q, len(it.Images))))
			}
			path := filepath.Join("testdata", bench+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("prompts differ from %s:\n%s", path, b.String())
			}
		})
	}
}
