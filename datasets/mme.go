package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var imageExts = []string{".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG"}

// LoadMME loads MME_Benchmark_release_version: one folder per subtask,
// each holding images and per-image .txt files of two lines
// "question\tYes|No" (or, for artwork, celebrity, landmark, posters and
// scene, the split images/ and questions_answers_YN/ folders). Item IDs
// are "<subtask>/<image file>/<k>" with k the question's line (0 or 1);
// Fields: subtask, image (the image file name), txt (the .txt name).
func LoadMME(root string) (*Dataset, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Bench: MME, Format: FormatMME, Path: root}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := e.Name()
		dir := filepath.Join(root, sub)
		imgDir, qaDir := dir, dir
		if st, err := os.Stat(filepath.Join(dir, "images")); err == nil && st.IsDir() {
			imgDir, qaDir = filepath.Join(dir, "images"), filepath.Join(dir, "questions_answers_YN")
		}
		txts, err := filepath.Glob(filepath.Join(qaDir, "*.txt"))
		if err != nil {
			return nil, err
		}
		if len(txts) == 0 {
			return nil, fmt.Errorf("%s: no question .txt files in subtask folder", qaDir)
		}
		sort.Strings(txts)
		for _, txt := range txts {
			items, err := mmeTxt(sub, txt, imgDir)
			if err != nil {
				return nil, err
			}
			d.Items = append(d.Items, items...)
		}
	}
	if len(d.Items) == 0 {
		return nil, fmt.Errorf("%s: no MME subtask folders", root)
	}
	return d.finish()
}

func mmeTxt(sub, txt, imgDir string) ([]Item, error) {
	data, err := os.ReadFile(txt)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(filepath.Base(txt), ".txt")
	img := ""
	for _, ext := range imageExts {
		if _, err := os.Stat(filepath.Join(imgDir, base+ext)); err == nil {
			img = base + ext
			break
		}
	}
	if img == "" {
		return nil, fmt.Errorf("%s: no image %s.{png,jpg} in %s", txt, base, imgDir)
	}
	var items []Item
	for n, line := range readLines(data) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		where := fmt.Sprintf("%s:%d", txt, n+1)
		q, a, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || strings.Contains(a, "\t") {
			return nil, fmt.Errorf("%s: want question<TAB>Yes|No", where)
		}
		if a != "Yes" && a != "No" {
			return nil, fmt.Errorf("%s: answer %q is not Yes or No", where, a)
		}
		it := Item{
			Bench: MME, ID: fmt.Sprintf("%s/%s/%d", sub, img, len(items)), Index: -1,
			Images: []Image{{Path: filepath.Join(imgDir, img)}}, Question: q, Answer: a,
			Category: sub, Where: where,
		}
		it.setField("subtask", sub)
		it.setField("image", img)
		it.setField("txt", base+".txt")
		items = append(items, it)
	}
	if len(items) != 2 {
		return nil, fmt.Errorf("%s: %d questions, MME has exactly two per image", txt, len(items))
	}
	return items, nil
}
