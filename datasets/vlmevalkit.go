package datasets

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/ssmbench/ssmbench/eval/pycompat"
)

// Data returns the image bytes: Bytes, or the decoded base64 cell of a
// VLMEvalKit TSV. It returns nil for a Path or Ref image.
func (im Image) Data() ([]byte, error) {
	if im.Bytes != nil {
		return im.Bytes, nil
	}
	if im.Base64 == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(im.Base64)
}

// LoadVLMEvalKitTSV loads a VLMEvalKit dataset TSV (MMBench_DEV_EN.tsv,
// SEEDBench_IMG.tsv, MME.tsv, POPE.tsv, TextVQA_VAL.tsv, ...) for bench.
func LoadVLMEvalKitTSV(path, bench string) (*Dataset, error) {
	t, err := ReadTable(path)
	if err != nil {
		return nil, err
	}
	items, err := ItemsFromTable(t, bench)
	if err != nil {
		return nil, err
	}
	return (&Dataset{Bench: bench, Format: FormatVLMEvalKit, Path: path, Items: items}).finish()
}

// ItemsFromTable turns the rows of a VLMEvalKit table (a dataset TSV or a
// result xlsx/tsv, which holds the same columns plus "prediction") into
// items. Options are the non-NaN columns A–Z in order, with pandas' str()
// of the value as text; index must be an integer.
func ItemsFromTable(t *Table, bench string) ([]Item, error) {
	if t.Col("index") < 0 {
		return nil, fmt.Errorf("%s:1: no index column", t.Path)
	}
	var letters []string
	for c := 'A'; c <= 'Z'; c++ {
		if i, ok := t.col[string(c)]; ok && i >= 0 {
			letters = append(letters, string(c))
		}
	}
	needAnswer := bench != MMVet || t.Col("answer") >= 0
	items := make([]Item, 0, len(t.Rows))
	for r := range t.Rows {
		where := t.Where(r)
		idxCell := t.Get(r, "index")
		idx, err := parseIndex(idxCell.Raw)
		if err != nil || idxCell.NaN {
			return nil, fmt.Errorf("%s: index %q is not an integer", where, idxCell.Raw)
		}
		it := Item{Bench: bench, ID: strconv.FormatInt(idx, 10), Index: idx, Where: where}
		if c := t.Get(r, "question"); !c.NaN {
			it.Question = c.Str
		}
		if c := t.Get(r, "hint"); !c.NaN {
			it.Hint = c.Str
		}
		if c := t.Get(r, "image"); !c.NaN {
			if isDigits(c.Raw) && len(c.Raw) < 32 {
				it.Images = []Image{{Ref: c.Raw}}
			} else {
				it.Images = []Image{{Base64: c.Raw}}
			}
		} else if c := t.Get(r, "image_path"); !c.NaN {
			it.Images = []Image{{Path: c.Raw}}
		}
		for _, l := range letters {
			if c := t.Get(r, l); !c.NaN {
				it.Options = append(it.Options, Option{Letter: l, Text: c.Str})
			}
		}
		ans := t.Get(r, "answer")
		if ans.NaN && needAnswer && bench != MMMU {
			return nil, fmt.Errorf("%s: empty answer", where)
		}
		if !ans.NaN {
			it.Answer = ans.Str
		}
		switch bench {
		case TextVQA, VQAv2:
			gts := []string{it.Answer}
			if strings.HasPrefix(strings.TrimSpace(it.Answer), "[") {
				gts, err = pycompat.ParseStrList(it.Answer)
				if err != nil {
					return nil, fmt.Errorf("%s: answer: %w", where, err)
				}
			}
			for i, g := range gts {
				it.Answers = append(it.Answers, VQAAnswer{Answer: g, ID: i + 1})
			}
		case MME:
			it.setField("subtask", t.Get(r, "category").Str)
			key := t.Get(r, "image_path")
			if key.NaN {
				return nil, fmt.Errorf("%s: MME row without image_path", where)
			}
			it.setField("image", key.Raw)
		}
		if c := t.Get(r, "category"); !c.NaN {
			it.Category = c.Str
		}
		if c := t.Get(r, "l2-category"); !c.NaN {
			it.L2Category = c.Str
		}
		if c := t.Get(r, "split"); !c.NaN {
			it.Split = c.Str
		}
		items = append(items, it)
	}
	return items, nil
}

// parseIndex parses an integer index, accepting pandas' "12.0".
func parseIndex(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return 0, fmt.Errorf("not an integer")
	}
	return int64(f), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
