// Package vqa implements the VQA answer normalisations of the standard
// toolkits, soft (10-annotator) accuracy and exact-match GQA accuracy.
//
// Three normalisation families exist (see the reference's §0.1): the
// official vqaEval.py (V1, applied only when the ground truths differ),
// mmf/m4c's EvalAIAnswerProcessor (V2, used by LLaVA, InternVL and
// lmms-eval's TextVQA) and VLMEvalKit's process_answer (V3), whose period
// rule changed in May 2025. Nothing here reads files.
package vqa

import (
	"strings"
	"unicode"

	"github.com/ssmbench/ssmbench/eval/pycompat"
)

// manualMap maps number words to digits (manualMap / NUMBER_MAP).
var manualMap = map[string]string{
	"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}

var articles = map[string]bool{"a": true, "an": true, "the": true}

// punct is the punctuation list, in the order the reference applies it.
var punct = []string{";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"}

// contractions is the 120-entry table shared by all toolkits. The keys
// "Id've", "I'dve", "Im" and "Ive" are capitalised and are looked up after
// lowercasing, so they never fire; they are kept for fidelity.
var contractions = map[string]string{
	"aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
	"couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
	"hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've",
	"he'dve": "he'd've", "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've",
	"Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
	"itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
	"mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
	"neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at",
	"'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
	"she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
	"shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
	"somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
	"someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
	"someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
	"something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
	"thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're",
	"theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
	"they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
	"twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
	"werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
	"whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
	"whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll",
	"whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
	"wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
	"wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
	"yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
	"youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}

// PeriodRule selects how ProcessPunctuation deletes periods.
type PeriodRule int

const (
	// PeriodOfficial is the official `(?!<=\d)(\.)(?!\d)` with count=32:
	// the first 32 periods not followed by a digit are deleted.
	PeriodOfficial PeriodRule = iota
	// PeriodLookbehind is VLMEvalKit's rule since 928a95b0 (2025-05-13),
	// `(?<!\d)\.(?!\d)` with no count: a period is deleted only when it
	// has no digit on either side.
	PeriodLookbehind
)

// ProcessPunctuation is processPunctuation of the reference (§0.1): each
// character of punct is deleted when it touches a space in the original
// text, or when the original holds a digit-comma-digit; otherwise it
// becomes a space. Periods are then removed by rule.
func ProcessPunctuation(in string, rule PeriodRule) string {
	out := in
	commaDigit := hasDigitCommaDigit(in)
	for _, p := range punct {
		if !strings.Contains(out, p) {
			continue
		}
		if commaDigit || strings.Contains(in, p+" ") || strings.Contains(in, " "+p) {
			out = strings.ReplaceAll(out, p, "")
		} else {
			out = strings.ReplaceAll(out, p, " ")
		}
	}
	return stripPeriods(out, rule)
}

func stripPeriods(s string, rule PeriodRule) string {
	if !strings.Contains(s, ".") {
		return s
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	deleted := 0
	for i, c := range rs {
		if c != '.' {
			b.WriteRune(c)
			continue
		}
		nextDigit := i+1 < len(rs) && unicode.IsDigit(rs[i+1])
		del := false
		switch rule {
		case PeriodOfficial:
			del = !nextDigit && deleted < 32
		case PeriodLookbehind:
			prevDigit := i > 0 && unicode.IsDigit(rs[i-1])
			del = !nextDigit && !prevDigit
		}
		if del {
			deleted++
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// hasDigitCommaDigit is the regex (\d)(\,)(\d) of the reference; Python's
// \d matches any Unicode decimal digit.
func hasDigitCommaDigit(s string) bool {
	rs := []rune(s)
	for i := 1; i+1 < len(rs); i++ {
		if rs[i] == ',' && unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1]) {
			return true
		}
	}
	return false
}

// ProcessDigitArticle is processDigitArticle: lowercase, split on
// whitespace, map number words, drop articles, expand contractions, join.
func ProcessDigitArticle(in string) string {
	words := pycompat.Split(pycompat.Lower(in))
	out := words[:0]
	for _, w := range words {
		if m, ok := manualMap[w]; ok {
			w = m
		}
		if articles[w] {
			continue
		}
		out = append(out, w)
	}
	for i, w := range out {
		if c, ok := contractions[w]; ok {
			out[i] = c
		}
	}
	return strings.Join(out, " ")
}

// spaceTabs replaces \n and \t by spaces and strips, as every variant does
// before punctuation processing.
func spaceTabs(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "\t", " ")
	return pycompat.Strip(s)
}

// EvalAI is mmf/m4c's EvalAIAnswerProcessor (V2): word_tokenize (lower,
// delete ',' and '?', "'s" -> " 's", strip), then \n/\t to space and strip,
// then ProcessPunctuation with the official period rule and
// ProcessDigitArticle. It is applied to predictions and ground truths alike.
func EvalAI(s string) string {
	s = pycompat.Lower(s)
	s = strings.ReplaceAll(s, ",", "")
	s = strings.ReplaceAll(s, "?", "")
	s = strings.ReplaceAll(s, "'s", " 's")
	s = pycompat.Strip(s)
	s = spaceTabs(s)
	s = ProcessPunctuation(s, PeriodOfficial)
	return ProcessDigitArticle(s)
}

// ProcessAnswer is VLMEvalKit's process_answer (V3): \n/\t to space, strip,
// ProcessPunctuation with the given period rule, ProcessDigitArticle. It is
// applied always, with no word_tokenize. lmms-eval's vqav2_process_results
// is the same with PeriodOfficial.
func ProcessAnswer(s string, rule PeriodRule) string {
	return ProcessDigitArticle(ProcessPunctuation(spaceTabs(s), rule))
}

// Official is the V1 normalisation of one string as vqaEval.py applies it
// when the ground truths are not all identical.
func Official(s string) string {
	return ProcessDigitArticle(ProcessPunctuation(s, PeriodOfficial))
}
