package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const scoreFixtures = "../../datasets/testdata"

func TestScoreCLI(t *testing.T) {
	fx := func(p string) string { return filepath.Join(scoreFixtures, p) }
	reg := fx("registry.yaml")
	broken := filepath.Join(t.TempDir(), "broken.jsonl")
	os.WriteFile(broken, []byte("{\"question_id\": \"101\", \"text\": \"A\"}\n{\"question_id\": \"102\", \"text\": \n"), 0o644)
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"table", []string{"score", "gqa", "--pred", fx("gqa/llava_answers.jsonl"), "--registry", reg}, 0, "headline accuracy_pct = 66.67"},
		{"data flag", []string{"score", "seed", "--pred", fx("seed/answers.jsonl"), "--data", fx("seed/SEED-Bench.json"), "--rules", "llava"}, 0, "rules=llava"},
		{"self-contained", []string{"score", "mme", "--pred", fx("mme/Your_Results"), "--rules", "official"}, 0, "score_pts[perception] = 1550.00"},
		{"unknown bench", []string{"score", "nope", "--pred", fx("gqa/llava_answers.jsonl")}, 2, "unknown benchmark"},
		{"bad rules", []string{"score", "gqa", "--pred", fx("gqa/llava_answers.jsonl"), "--rules", "m4c"}, 2, "do not apply to gqa"},
		{"broken row", []string{"score", "seed", "--pred", broken, "--registry", reg}, 2, "broken.jsonl:2"},
		{"no data", []string{"score", "seed", "--pred", fx("seed/answers.jsonl"), "--registry", filepath.Join(t.TempDir(), "none.yaml")}, 2, "--data"},
		{"missing pred", []string{"score", "seed"}, 2, "pred"},
		{"mmvet needs judge-out", []string{"score", "mmvet", "--pred", fx("mmvet/answers.jsonl"), "--registry", reg}, 2, "--judge-out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.contains) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, c.code, out, errOut, c.contains)
			}
		})
	}
}

func TestScoreCLIJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "score", "pope", "--pred", filepath.Join(scoreFixtures, "pope/answers.jsonl"),
		"--registry", filepath.Join(scoreFixtures, "registry.yaml"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Rules    string `json:"rules"`
		Headline struct {
			Name  string   `json:"name"`
			Value *float64 `json:"value"`
		} `json:"headline"`
		Metrics     []map[string]any `json:"metrics"`
		Unparseable int              `json:"unparseable"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Rules != "internvl" || res.Headline.Name != "f1_mean_pct" || res.Headline.Value == nil || len(res.Metrics) < 20 {
		t.Errorf("%+v", res)
	}
}
