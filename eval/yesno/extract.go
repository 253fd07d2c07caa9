// Package yesno implements the yes/no answer parsers of MME and POPE as the
// standard toolkits write them, and the MME and POPE metrics. Nothing here
// reads files.
package yesno

import (
	"regexp"
	"strings"

	"github.com/ssmbench/ssmbench/eval/pycompat"
	"github.com/ssmbench/ssmbench/eval/vqa"
)

// Label is a parsed yes/no answer.
type Label string

// Parsed labels. Other is an answer no rule maps to yes or no; it is always
// wrong.
const (
	Yes   Label = "yes"
	No    Label = "no"
	Other Label = "other"
)

// MMEOfficial is parse_pred_ans of MME's calculation.py. resp is the
// response as read from the results line, trailing "\n" included. It is
// lowercased; an exact "yes"/"no" is used as is; otherwise its first 4
// characters decide: containing "yes" → yes, else containing "no" → no,
// else other. So "know", "none", "nope" and "not sure" are no; "Y", "I
// think yes" and "" are other.
func MMEOfficial(resp string) Label {
	r := pycompat.Lower(resp)
	if r == "yes" || r == "no" {
		return Label(r)
	}
	p := pycompat.Prefix(r, 4)
	switch {
	case strings.Contains(p, "yes"):
		return Yes
	case strings.Contains(p, "no"):
		return No
	}
	return Other
}

var cjk = regexp.MustCompile(`[\x{4e00}-\x{9fa5}]`)

// InternVLPostProcess is InternVL's MME post_processing, applied before
// the results file is written: delete "\n", map 不是/是/否 to No/Yes/No,
// lowercase, true/false → yes/no, delete remaining CJK ideographs.
func InternVLPostProcess(resp string) string {
	r := strings.ReplaceAll(resp, "\n", "")
	r = strings.ReplaceAll(r, "不是", "No")
	r = strings.ReplaceAll(r, "是", "Yes")
	r = strings.ReplaceAll(r, "否", "No")
	r = pycompat.Lower(r)
	r = strings.ReplaceAll(r, "true", "yes")
	r = strings.ReplaceAll(r, "false", "no")
	return cjk.ReplaceAllString(r, "")
}

// MMELmmsEval is lmms-eval's parse_pred_ans: lower, strip, delete ".";
// exact yes/no; a single "y"/"n"; any other single character is other;
// otherwise the 4-character prefix rule.
func MMELmmsEval(resp string) Label {
	r := strings.ReplaceAll(pycompat.Strip(pycompat.Lower(resp)), ".", "")
	switch {
	case r == "yes" || r == "no":
		return Label(r)
	case len([]rune(r)) == 1:
		switch r {
		case "y":
			return Yes
		case "n":
			return No
		}
		return Other
	}
	p := pycompat.Prefix(r, 4)
	switch {
	case strings.Contains(p, "yes"):
		return Yes
	case strings.Contains(p, "no"):
		return No
	}
	return Other
}

// YOrN is VLMEvalKit's YOrN_Extraction: lowercase, process_punctuation,
// split on whitespace; Yes iff the word "yes" is present and "no" absent,
// No in the reverse case, else Other ("Unknown", which goes to a judge or
// is wrong). "Yes, there is no cat" is Other here but yes for MMEOfficial.
func YOrN(resp string, rule vqa.PeriodRule) Label {
	words := pycompat.Split(vqa.ProcessPunctuation(pycompat.Lower(resp), rule))
	hasYes, hasNo := false, false
	for _, w := range words {
		switch w {
		case "yes":
			hasYes = true
		case "no":
			hasNo = true
		}
	}
	switch {
	case hasYes && !hasNo:
		return Yes
	case hasNo && !hasYes:
		return No
	}
	return Other
}

// POPELLaVA is the parser of LLaVA's and InternVL's eval_pope.py: keep the
// text before the first ".", delete ",", split on single spaces; the answer
// is no iff a token is exactly "No", "not" or "no", otherwise yes. So "NO",
// "No!", "Nope", "isn't" and "" are yes, and "Yes, no doubt" is no. It
// never returns Other.
func POPELLaVA(text string) Label {
	if i := strings.IndexByte(text, '.'); i >= 0 {
		text = text[:i]
	}
	text = strings.ReplaceAll(text, ",", "")
	for _, w := range strings.Split(text, " ") {
		if w == "No" || w == "not" || w == "no" {
			return No
		}
	}
	return Yes
}

// POPELmmsEval is lmms-eval's POPE parsing: pred.lower().strip() must be
// exactly "yes" or "no" ("Yes." is Other).
func POPELmmsEval(text string) Label {
	r := pycompat.Strip(pycompat.Lower(text))
	if r == "yes" || r == "no" {
		return Label(r)
	}
	return Other
}
