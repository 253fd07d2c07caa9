// Package mcq implements multiple-choice answer extraction as the standard
// toolkits do it — VLMEvalKit's can_infer in its three versions, LLaVA's
// ScienceQA and SEED rules, lmms-eval's, InternVL's, and the official MMMU
// parsers made deterministic — together with vanilla and circular
// (MMBench) accuracy. Nothing here reads files.
package mcq

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssmbench/ssmbench/eval/pycompat"
)

// Option is one answer choice: its letter ("A".."Z") and text.
type Option struct {
	Letter string
	Text   string
}

// Version selects the VLMEvalKit can_infer rules.
type Version int

const (
	// V2502 is can_infer at 2d8e44e4 (2025-02-20), the seed's: a unique
	// option letter anywhere, else a unique option text.
	V2502 Version = iota
	// V2508 is c3371551 (2025-08): the letter must be among the last 4
	// tokens, and text matching is refused when the answer is longer than
	// twice the total option-text length.
	V2508
	// V2606 is a67ace50 (2026-06, HEAD): V2508 plus the fallback regex
	// (?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**.
	V2606
)

var refusals = []string{
	"Sorry, I can't help with images of people yet.",
	"I can't process this file.",
	"I'm sorry, but without the image provided",
	"Cannot determine the answer",
}

// pyS is Python's \s for str patterns (Unicode whitespace, including
// U+001C..U+001F), which Go's \s (ASCII) is not.
const pyS = `[\t\n\v\f\r \x{1c}-\x{1f}\x{85}\p{Z}]`

var verboseAnswer = regexp.MustCompile(`(?i)(?:correct` + pyS + `+)?answer` + pyS + `+is` + pyS + `+\**([ABCD])\**`)

var optionPunct = strings.NewReplacer(
	".", " ", "(", " ", ")", " ", "[", " ", "]", " ", ",", " ", ":", " ",
	";", " ", "!", " ", "*", " ", "#", " ", "{", " ", "}", " ")

// CanInferOption is VLMEvalKit's can_infer_option. It returns the option
// letter, "Z" for a refusal (or a lone "Z" token), or "" when it cannot
// tell. Letters are case-sensitive whole tokens after replacing each of
// .()[],:;!*#{} by a space.
func CanInferOption(answer string, choices []Option, v Version) string {
	if strings.Contains(answer, "Failed to obtain answer via API") {
		return ""
	}
	for _, r := range refusals {
		if strings.Contains(answer, r) {
			return "Z"
		}
	}
	splits := pycompat.Split(optionPunct.Replace(answer))
	first := map[string]int{}
	for i, s := range splits {
		if _, ok := first[s]; !ok {
			first[s] = i
		}
	}
	count := 0
	for _, c := range choices {
		if _, ok := first[c.Letter]; ok {
			count++
		}
	}
	if count == 1 {
		for _, c := range choices {
			i, ok := first[c.Letter]
			if !ok {
				continue
			}
			if v == V2502 || i > len(splits)-5 {
				return c.Letter
			}
		}
	} else if _, z := first["Z"]; count == 0 && z {
		return "Z"
	}
	if v >= V2606 {
		if m := verboseAnswer.FindStringSubmatch(answer); m != nil {
			l := strings.ToUpper(m[1])
			for _, c := range choices {
				if c.Letter == l {
					return l
				}
			}
		}
	}
	return ""
}

// CanInferText is VLMEvalKit's can_infer_text: the lowercased answer
// contains exactly one lowercased option text. From V2508 an answer longer
// than twice the total option-text length is refused.
func CanInferText(answer string, choices []Option, v Version) string {
	low := pycompat.Lower(answer)
	if v >= V2508 {
		total := 0
		for _, c := range choices {
			total += utf8.RuneCountInString(c.Text)
		}
		if utf8.RuneCountInString(low) > 2*total {
			return ""
		}
	}
	found := ""
	n := 0
	for _, c := range choices {
		if strings.Contains(low, pycompat.Lower(c.Text)) {
			found = c.Letter
			n++
		}
	}
	if n == 1 {
		return found
	}
	return ""
}

// CanInfer is VLMEvalKit's can_infer: the option rule, else the text rule.
// "" means unparseable (a judge's job; a miss without one).
func CanInfer(answer string, choices []Option, v Version) string {
	if l := CanInferOption(answer, choices, v); l != "" {
		return l
	}
	return CanInferText(answer, choices, v)
}

var sqaAnswerIs = regexp.MustCompile(`The answer is ([A-Z]).`)

// ScienceQALLaVA is LLaVA's eval_science_qa.py: the text is exactly one
// of A–E; or starts "X. "; or has exactly one match of "The answer is
// ([A-Z])." (the final "." is any character); else FAILED (""). A letter
// beyond the number of choices is returned as is and is wrong.
func ScienceQALLaVA(text string) string {
	const options = "ABCDE"
	if len(text) == 1 && strings.Contains(options, text) {
		return text
	}
	if len(text) >= 3 && strings.IndexByte(options, text[0]) >= 0 && text[1:3] == ". " {
		return text[:1]
	}
	m := sqaAnswerIs.FindAllStringSubmatch(text, -1)
	if len(m) == 1 {
		return m[0][1]
	}
	return ""
}

// ScienceQALmmsEval is lmms-eval's sqa_process_results: both sides are
// stripped and lowercased and compared; its second rule (an upper-case
// letter followed by ".") tests the already lowercased prediction, so it
// never fires — reproduced as is.
func ScienceQALmmsEval(pred, target string) bool {
	t := pycompat.Lower(pycompat.Strip(target))
	p := pycompat.Lower(pycompat.Strip(pred))
	if p == t {
		return true
	}
	r := []rune(p)
	if len(r) >= 2 && unicode.IsUpper(r[0]) && r[1] == '.' {
		return string(r[0]) == t
	}
	return false
}

// SEEDLmmsEval is lmms-eval's SEED-Bench rule: strip, keep the first
// character when longer than one, compare case-insensitively.
func SEEDLmmsEval(pred, answer string) bool {
	p := []rune(pycompat.Strip(pred))
	if len(p) > 1 {
		p = p[:1]
	}
	return pycompat.Lower(string(p)) == pycompat.Lower(answer)
}

var ai2dLetter = regexp.MustCompile(`^\s*([A-Z])\.`)

// AI2DLmmsEval is lmms-eval's AI2D rule: take the letter of "^\s*([A-Z])\."
// when present, else the raw text; then exact_match ignoring case and
// punctuation against the target letter.
func AI2DLmmsEval(pred, target string) bool {
	if m := ai2dLetter.FindStringSubmatch(pred); m != nil {
		pred = m[1]
	}
	norm := func(s string) string {
		s = pycompat.Lower(s)
		return strings.Map(func(r rune) rune {
			if r < 0x80 && strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r) {
				return -1
			}
			return r
		}, s)
	}
	return norm(pred) == norm(target)
}

// StripLowerEqual is InternVL's AI2D rule (and GQA's VLMEvalKit rule):
// a.strip().lower() == b.strip().lower().
func StripLowerEqual(a, b string) bool {
	return pycompat.Lower(pycompat.Strip(a)) == pycompat.Lower(pycompat.Strip(b))
}
