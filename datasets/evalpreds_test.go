package datasets

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEvalFile(t *testing.T) {
	good := `{"item_id":"1","bench":"pope","text":"Yes","prompt_tokens":10,"image_tokens":4,"generated_tokens":2,"stop_reason":"stop","latency_ms":1.5}` + "\n"
	two := `{"item_id":"2","bench":"pope","text":"No"}` + "\n"
	errRec := `{"item_id":"3","bench":"pope","text":"","error":"oom: out of memory"}` + "\n"
	for _, tc := range []struct {
		name     string
		data     string
		records  int
		answered int
		valid    int
		torn     int
		wantErr  string
	}{
		{"empty", "", 0, 0, 0, 0, ""},
		{"two lines", good + two, 2, 2, len(good + two), 0, ""},
		{"blank lines", good + "\n  \n" + two, 2, 2, len(good + "\n  \n" + two), 0, ""},
		{"torn tail", good + two + `{"item_id":"4","be`, 2, 2, len(good + two), 3, ""},
		{"complete but unterminated tail is torn too", good + strings.TrimSuffix(two, "\n"), 1, 1, len(good), 2, ""},
		{"error record, then its answer", errRec + good + `{"item_id":"3","bench":"pope","text":"No"}` + "\n", 3, 2, 0, 0, ""},
		{"error twice", errRec + errRec, 2, 0, 2 * len(errRec), 0, ""},
		{"malformed middle line", good + "{not json}\n" + two, 0, 0, 0, 0, "preds.jsonl:2"},
		{"missing item_id", good + `{"bench":"pope","text":"x"}` + "\n", 0, 0, 0, 0, "preds.jsonl:2: missing item_id"},
		{"duplicate answer", good + two + good, 0, 0, 0, 0, "preds.jsonl:3: second answer for item \"1\" (first at line 1)"},
		{"trailing data", `{"item_id":"1"} {"x":1}` + "\n", 0, 0, 0, 0, "preds.jsonl:1: trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseEvalFile("preds.jsonl", []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "error record, then its answer" {
				tc.valid = len(tc.data)
			}
			if len(f.Records) != tc.records || len(f.Answered()) != tc.answered || f.Valid != int64(tc.valid) || f.Torn != tc.torn {
				t.Errorf("records %d answered %d valid %d torn %d; want %d %d %d %d", len(f.Records), len(f.Answered()), f.Valid, f.Torn, tc.records, tc.answered, tc.valid, tc.torn)
			}
		})
	}
}

func TestReadPredictionsSSMBench(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "predictions.jsonl")
	data := `{"item_id":"a","bench":"mme","text":"Yes","prompt":"<image>\nq"}` + "\n" +
		`{"item_id":"b","bench":"mme","text":"","error":"oom"}` + "\n" +
		`{"item_id":"c","bench":"mme","text":"No"}` + "\n" + `{"item_id":"d"`
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := DetectPredFormat(p); err != nil || f != PredSSMBench {
		t.Fatalf("detected %q, %v", f, err)
	}
	preds, err := ReadPredictions(p, MME, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(preds.Preds) != 2 || preds.Preds[0].Key != "a" || preds.Preds[1].Text != "No" || preds.Preds[1].Where != p+":3" || preds.Preds[0].Prompt != "<image>\nq" {
		t.Errorf("preds %+v", preds.Preds)
	}
}

func FuzzParseEvalFile(f *testing.F) {
	f.Add([]byte(`{"item_id":"1","bench":"pope","text":"Yes","tiles":[7],"metrics":{"prefill_ms":3}}` + "\n" + `{"item_id":"2","text":"No","error":"x"}` + "\n" + `{"item_`))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"item_id":1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := ParseEvalFile("fuzz.jsonl", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		if ef.Valid < 0 || ef.Valid > int64(len(data)) || (ef.Valid > 0 && data[ef.Valid-1] != '\n') {
			t.Fatalf("valid prefix %d is not at a line boundary of %d bytes", ef.Valid, len(data))
		}
		// The valid prefix alone parses to the same records (what a
		// resumed run keeps).
		again, err := ParseEvalFile("fuzz.jsonl", data[:ef.Valid])
		if err != nil || len(again.Records) != len(ef.Records) || again.Torn != 0 {
			t.Fatalf("the valid prefix does not reparse: %v", err)
		}
		// Records survive a re-encode.
		var buf bytes.Buffer
		for _, r := range ef.Records {
			if r.ItemID == "" {
				t.Fatal("record without item_id")
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(append(b, '\n'))
		}
		back, err := ParseEvalFile("re.jsonl", buf.Bytes())
		if err != nil || len(back.Records) != len(ef.Records) {
			t.Fatalf("re-encoded records do not parse back: %v", err)
		}
	})
}
