package pycompat

import (
	"math"
	"reflect"
	"testing"
)

func TestSplitStrip(t *testing.T) {
	if got := Split("a\x1cb \u00a0c\t"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("Split = %q", got)
	}
	if got := Strip("\x1f yes \n"); got != "yes" {
		t.Errorf("Strip = %q", got)
	}
	if got := Prefix("héllo", 2); got != "hé" {
		t.Errorf("Prefix counts code points: %q", got)
	}
	if got := Lower("İ"); got != "i\u0307" {
		t.Errorf("Lower(İ) = %q", got)
	}
}

func TestParseFloat(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"3", 3, true}, {" 2.5 ", 2.5, true}, {"1_000", 1000, true}, {"1__0", 0, false},
		{"_1", 0, false}, {"0x10", 0, false}, {"-inf", math.Inf(-1), true}, {"Infinity", math.Inf(1), true},
		{"1e3", 1000, true}, {"", 0, false}, {"--1", 0, false}, {"1,000", 0, false},
	}
	for _, c := range cases {
		got, ok := ParseFloat(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ParseFloat(%q) = %v,%v want %v,%v", c.in, got, ok, c.want, c.ok)
		}
	}
	if v, ok := ParseFloat("nan"); !ok || !math.IsNaN(v) {
		t.Error("nan")
	}
	if Round2(2.675) != 2.67 || Round2(0.125) != 0.12 || Round2(2.499) != 2.5 {
		t.Errorf("Round2: %v %v %v", Round2(2.675), Round2(0.125), Round2(2.499))
	}
	for in, want := range map[float64]string{3: "3.0", 0.1: "0.1", 1e16: "1e+16", 1.5e-05: "1.5e-05", math.NaN(): "nan"} {
		if got := FormatFloat(in); got != want {
			t.Errorf("FormatFloat(%v) = %q want %q", in, got, want)
		}
	}
}

func TestParseStrList(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		bad  bool
	}{
		{`['a', "it's", 'b\'c']`, []string{"a", "it's", "b'c"}, false},
		{`[]`, nil, false},
		{`['x',]`, []string{"x"}, false},
		{`[1, 2.5]`, []string{"1", "2.5"}, false},
		{`['\u00e9\n']`, []string{"é\n"}, false},
		{`['a'`, nil, true},
		{`'a'`, nil, true},
		{`['a'] x`, nil, true},
		{`[foo]`, nil, true},
	}
	for _, c := range cases {
		got, err := ParseStrList(c.in)
		if (err != nil) != c.bad || !c.bad && !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseStrList(%q) = %q, %v", c.in, got, err)
		}
	}
}

func FuzzParseStrList(f *testing.F) {
	f.Add(`['a', "b"]`)
	f.Add(`[1, 'x\\y']`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseStrList(s)
		_, _ = ParseFloat(s)
	})
}
