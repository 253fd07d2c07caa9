package mcq

import (
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssmbench/ssmbench/eval/pycompat"
)

// MMMUParseChoice is the official MMMU parse_multi_choice_response (=
// lmms-eval), made deterministic: where the original calls
// random.choice because nothing matched, this returns "" (a documented
// miss). Steps: strip each of , . ! ? ; : ' from both ends in turn; pad
// with spaces; candidates are letters seen as "(X)", else "X ", else "X.",
// else (for responses of more than 5 words) options whose text occurs;
// of several candidates the last occurrence wins.
func MMMUParseChoice(response string, choices []Option) string {
	for _, c := range []string{",", ".", "!", "?", ";", ":", "'"} {
		response = strings.Trim(response, c)
	}
	response = " " + response + " "
	indexAns, withBrack := true, false
	var cands []string
	for _, c := range choices {
		if strings.Contains(response, "("+c.Letter+")") {
			cands = append(cands, c.Letter)
			withBrack = true
		}
	}
	if len(cands) == 0 {
		for _, c := range choices {
			if strings.Contains(response, c.Letter+" ") {
				cands = append(cands, c.Letter)
			}
		}
	}
	if len(cands) == 0 {
		for _, c := range choices {
			if strings.Contains(response, c.Letter+".") {
				cands = append(cands, c.Letter)
			}
		}
	}
	if len(cands) == 0 && len(pycompat.Split(response)) > 5 {
		low := pycompat.Lower(response)
		for _, c := range choices {
			if strings.Contains(low, pycompat.Lower(c.Text)) {
				cands = append(cands, c.Letter)
				indexAns = false
			}
		}
	}
	switch len(cands) {
	case 0:
		return ""
	case 1:
		return cands[0]
	}
	text := map[string]string{}
	for _, c := range choices {
		text[c.Letter] = c.Text
	}
	best, bestAt := cands[0], math.MinInt
	for _, c := range cands {
		var at int
		switch {
		case indexAns && withBrack:
			at = strings.LastIndex(response, "("+c+")")
		case indexAns:
			at = strings.LastIndex(response, " "+c+" ")
		default:
			at = strings.LastIndex(pycompat.Lower(response), pycompat.Lower(text[c]))
		}
		if at > bestAt { // np.argmax: the first maximum
			best, bestAt = c, at
		}
	}
	return best
}

// OpenPred is one normalised candidate answer of an open MMMU response: a
// number (rounded to 2 decimals) or a lowercased string.
type OpenPred struct {
	IsNum bool
	Num   float64
	Str   string
}

var (
	numScientific = regexp.MustCompile(`-?\d+(?:\.\d+)?[eE][+-]?\d+`)
	// numSimple is -?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?![,\d]); Go's
	// regexp has no look-ahead, so the look-aheads are checked by hand.
	numSimple = regexp.MustCompile(`^-?(?:\d+\.\d+|\.\d+|\d+)$`)
	sciTail   = regexp.MustCompile(`^[eE][+-]?\d`)
)

// extractNumbers is MMMU's extract_numbers: numbers with thousands commas,
// then scientific notation, then simple numbers.
func extractNumbers(s string) []string {
	out := findCommas(s)
	out = append(out, numScientific.FindAllString(s, -1)...)
	out = append(out, findSimple(s)...)
	return out
}

// findSimple emulates re.findall of the simple-number pattern, whose
// negative look-aheads make the regex engine backtrack into shorter
// matches (e.g. "123," yields "12"). At each start the candidates are
// tried longest first, which is the backtracking order of this pattern.
func findSimple(s string) []string {
	var out []string
	for start := 0; start < len(s); {
		end := start
		for end < len(s) && strings.IndexByte("-.0123456789", s[end]) >= 0 {
			end++
		}
		matched := false
		for e := end; e > start; e-- {
			if !numSimple.MatchString(s[start:e]) {
				continue
			}
			rest := s[e:]
			if sciTail.MatchString(rest) || rest != "" && (rest[0] == ',' || rest[0] >= '0' && rest[0] <= '9') {
				continue
			}
			out = append(out, s[start:e])
			start, matched = e, true
			break
		}
		if !matched {
			start++
		}
	}
	return out
}

func normalizeStr(s string) []OpenPred {
	s = pycompat.Strip(s)
	if f, ok := pycompat.ParseFloat(strings.ReplaceAll(s, ",", "")); ok {
		return []OpenPred{{IsNum: true, Num: pycompat.Round2(f)}}
	}
	s = pycompat.Lower(s)
	if len([]rune(s)) == 1 {
		return []OpenPred{{Str: " " + s}, {Str: s + " "}}
	}
	return []OpenPred{{Str: s}}
}

var indicators = []string{"could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "}

// MMMUParseOpen is the official parse_open_response: key sub-responses
// (the shortest tail after an indicator such as "is " or, in the last
// line, "="), the numbers found in them, all normalised. The original
// splits on `\.\s(?=[A-Z])|\n` after lowercasing, so only newlines split.
func MMMUParseOpen(response string) []OpenPred {
	r := pycompat.Lower(strings.Trim(pycompat.Strip(response), "."))
	subs := strings.Split(r, "\n")
	var keys []string
	for i, sub := range subs {
		inds := indicators
		if i == len(subs)-1 {
			inds = append(append([]string(nil), indicators...), "=")
		}
		shortest := "" // None and "" are both falsy in the original
		for _, ind := range inds {
			if !strings.Contains(sub, ind) {
				continue
			}
			parts := strings.Split(sub, ind)
			tail := pycompat.Strip(parts[len(parts)-1])
			if shortest == "" || utf8.RuneCountInString(tail) < utf8.RuneCountInString(shortest) {
				shortest = tail
			}
		}
		if shortest != "" {
			switch pycompat.Strip(shortest) {
			case ":", ",", ".", "!", "?", ";", "'":
			default:
				keys = append(keys, shortest)
			}
		}
	}
	if len(keys) == 0 {
		keys = []string{r}
	}
	all := append([]string(nil), keys...)
	for _, k := range keys {
		all = append(all, extractNumbers(k)...)
	}
	seen := map[OpenPred]bool{}
	var out []OpenPred
	for _, p := range all {
		for _, n := range normalizeStr(p) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// MMMUEvalOpen is the official eval_open: a string candidate is correct
// when a normalised string gold answer occurs in it; a number candidate
// when it equals a normalised numeric gold answer.
func MMMUEvalOpen(gold string, preds []OpenPred) bool {
	golds := normalizeStr(gold)
	for _, p := range preds {
		for _, g := range golds {
			if p.IsNum {
				if g.IsNum && g.Num == p.Num {
					return true
				}
			} else if !g.IsNum && strings.Contains(p.Str, g.Str) {
				return true
			}
		}
	}
	return false
}

// isWord is Python's \w for str patterns: letters, numbers and "_".
func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// findCommas is re.findall(r"-?\b\d{1,3}(?:,\d{3})+\b", s) with Python's
// Unicode-aware \b and \d, which Go's regexp (ASCII \b) cannot express.
func findCommas(s string) []string {
	rs := []rune(s)
	digit := func(i int) bool { return i >= 0 && i < len(rs) && unicode.IsDigit(rs[i]) }
	boundary := func(i int) bool {
		before := i > 0 && isWord(rs[i-1])
		after := i < len(rs) && isWord(rs[i])
		return before != after
	}
	// match tries the pattern at start and returns the end, or -1.
	match := func(start int) int {
		p := start
		if p < len(rs) && rs[p] == '-' {
			p++
		}
		if !boundary(p) {
			return -1
		}
		for n := 3; n >= 1; n-- { // \d{1,3}, greedy
			ok := true
			for k := 0; k < n; k++ {
				if !digit(p + k) {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			q := p + n
			var ends []int // (?:,\d{3})+, greedy
			for q < len(rs) && rs[q] == ',' && digit(q+1) && digit(q+2) && digit(q+3) {
				q += 4
				ends = append(ends, q)
			}
			for k := len(ends) - 1; k >= 0; k-- {
				if boundary(ends[k]) {
					return ends[k]
				}
			}
		}
		return -1
	}
	var out []string
	for i := 0; i < len(rs); {
		if e := match(i); e > 0 {
			out = append(out, string(rs[i:e]))
			i = e
			continue
		}
		i++
	}
	return out
}
