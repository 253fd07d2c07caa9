// Package pycompat reproduces the few Python string and number behaviours
// that the reference scoring scripts rely on, so that the Go scorers give
// byte-identical intermediate strings: str.split() with no argument,
// str.strip(), str.lower(), float(), round(x, 2) and the literal lists that
// VLMEvalKit stores with str(list).
package pycompat

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// IsSpace reports whether r is whitespace for Python's str.isspace, which is
// what str.split() and str.strip() use. It differs from unicode.IsSpace in
// the ASCII separators U+001C..U+001F, which Python treats as whitespace.
func IsSpace(r rune) bool {
	if r >= 0x1c && r <= 0x1f {
		return true
	}
	return unicode.IsSpace(r)
}

// Split is Python's s.split(): runs of whitespace separate fields and no
// field is empty.
func Split(s string) []string { return strings.FieldsFunc(s, IsSpace) }

// Strip is Python's s.strip() with no argument.
func Strip(s string) string { return strings.TrimFunc(s, IsSpace) }

// StripChars is Python's s.strip(chars).
func StripChars(s, chars string) string { return strings.Trim(s, chars) }

// RStripChars is Python's s.rstrip(chars).
func RStripChars(s, chars string) string { return strings.TrimRight(s, chars) }

// Lower is Python's s.lower() for the characters that occur in answers.
// Go and Python agree except for a handful of special casings (for example
// U+0130, which Python lowers to two code points); those are mapped the
// Python way here.
func Lower(s string) string {
	if !strings.ContainsRune(s, 'İ') {
		return strings.ToLower(s)
	}
	return strings.ToLower(strings.ReplaceAll(s, "İ", "i\u0307"))
}

// Prefix returns the first n code points of s, as Python's s[:n] does.
func Prefix(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// ParseFloat is Python's float(s): surrounding whitespace is ignored,
// underscores may separate digits, "inf", "infinity" and "nan" (any case,
// optional sign) are accepted, and hexadecimal literals are rejected.
func ParseFloat(s string) (float64, bool) {
	s = Strip(s)
	if s == "" {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	lb := strings.ToLower(body)
	switch lb {
	case "inf", "infinity":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case "nan":
		return math.NaN(), true
	}
	for _, r := range lb {
		if !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == '+' || r == '-' || r == '_') {
			return 0, false
		}
	}
	if strings.Contains(s, "_") {
		b := []byte(s)
		for i, c := range b {
			if c != '_' {
				continue
			}
			if i == 0 || i == len(b)-1 || !isDigit(b[i-1]) || !isDigit(b[i+1]) {
				return 0, false
			}
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true // Python gives inf or 0.0 as Go does
		}
		return 0, false
	}
	return f, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Round2 is Python's round(x, 2) for a float: correctly rounded, ties to
// even on the exact binary value.
func Round2(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return f
}

// FormatFloat formats x as Python's repr(float) does (e.g. "3.0", "0.1",
// "1e+16"), the form pandas gives to a numeric cell turned into str.
func FormatFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	abs := math.Abs(x)
	if abs != 0 && (abs >= 1e16 || abs < 1e-4) {
		s := strconv.FormatFloat(x, 'e', -1, 64)
		// Go writes e+16 / e-05; Python writes e+16 / e-05 as well.
		return s
	}
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// ParseStrList parses a Python literal list of strings such as
// ['a', "it's", 'b\'c'] (what str(list) writes). Non-string elements (ints,
// floats) are returned in their source spelling.
func ParseStrList(s string) ([]string, error) {
	p := &litParser{s: s}
	p.ws()
	if !p.eat('[') {
		return nil, p.errf("want '['")
	}
	var out []string
	p.ws()
	if p.eat(']') {
		return out, p.end()
	}
	for {
		p.ws()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.ws()
		if p.eat(']') {
			return out, p.end()
		}
		if !p.eat(',') {
			return nil, p.errf("want ',' or ']'")
		}
		p.ws()
		if p.eat(']') { // trailing comma
			return out, p.end()
		}
	}
}

type litParser struct {
	s string
	i int
}

func (p *litParser) errf(format string, a ...any) error {
	return fmt.Errorf("python list literal at offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *litParser) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *litParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *litParser) end() error {
	p.ws()
	if p.i != len(p.s) {
		return p.errf("trailing text")
	}
	return nil
}

func (p *litParser) value() (string, error) {
	if p.i >= len(p.s) {
		return "", p.errf("unexpected end")
	}
	c := p.s[p.i]
	if c == '\'' || c == '"' {
		return p.str(c)
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",] \t\r\n", p.s[p.i]) < 0 {
		p.i++
	}
	tok := p.s[start:p.i]
	if _, ok := ParseFloat(tok); !ok && tok != "None" && tok != "True" && tok != "False" {
		p.i = start
		return "", p.errf("unsupported element %q", tok)
	}
	return tok, nil
}

func (p *litParser) str(q byte) (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.errf("dangling backslash")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if p.i+n > len(p.s) {
					return "", p.errf("short \\%c escape", e)
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil || v > unicode.MaxRune {
					return "", p.errf("bad \\%c escape", e)
				}
				b.WriteRune(rune(v))
				p.i += n
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		case c == '\n':
			return "", p.errf("newline in string")
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", p.errf("unterminated string")
}
