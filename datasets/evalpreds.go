package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// PredSSMBench is the predictions format `ssmbench eval` writes: JSON lines
// of EvalRecord, appended one line per answered item.
const PredSSMBench = "ssmbench-jsonl"

// EvalRecord is one line of an `ssmbench eval` predictions file.
type EvalRecord struct {
	// ItemID is the dataset item's ID (Item.ID).
	ItemID string `json:"item_id"`
	Bench  string `json:"bench"`
	// Text is the model's answer: the runner's text, whitespace-stripped
	// as the seed's chat() does.
	Text string `json:"text"`
	// Error, when set, means the runner failed on this item (e.g. out of
	// memory): Text is empty, the item is left out of scoring (counted as
	// missing) and `--resume` asks it again.
	Error string `json:"error,omitempty"`
	// Prompt is the user turn sent (image placeholders as <image>).
	Prompt string `json:"prompt,omitempty"`
	// Tiles is the tile count of each image, in prompt order.
	Tiles           []int   `json:"tiles,omitempty"`
	PromptTokens    int     `json:"prompt_tokens"`
	ImageTokens     int     `json:"image_tokens"`
	GeneratedTokens int     `json:"generated_tokens"`
	StopReason      string  `json:"stop_reason,omitempty"`
	LatencyMS       float64 `json:"latency_ms"`
	// Metrics holds the runner's other per-request metrics (prefill_ms, ...).
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// EvalFile is a parsed predictions file.
type EvalFile struct {
	Path    string
	Records []EvalRecord
	Lines   []int // 1-based line of each record
	// Valid is the length of the prefix made of complete lines; a final
	// line without its newline (torn by a crash or a kill) is not part of
	// it and is not among Records. Resuming truncates the file to Valid.
	Valid int64
	// Torn is the 1-based line number of a torn final line, 0 if none.
	Torn int
}

// Answered returns the records that carry an answer (no Error), by item.
func (f *EvalFile) Answered() map[string]*EvalRecord {
	out := make(map[string]*EvalRecord, len(f.Records))
	for i := range f.Records {
		if r := &f.Records[i]; r.Error == "" {
			out[r.ItemID] = r
		}
	}
	return out
}

// ParseEvalFile parses predictions data; name is used in errors. A
// malformed line other than a torn final one is an error naming its line,
// as is a line without item_id or a second answer for one item (error
// records may repeat: a resumed run asks those items again).
func ParseEvalFile(name string, data []byte) (*EvalFile, error) {
	f := &EvalFile{Path: name}
	answered := map[string]int{}
	pos, line := 0, 0
	for pos < len(data) {
		line++
		end := bytes.IndexByte(data[pos:], '\n')
		complete := end >= 0
		if !complete {
			end = len(data) - pos
		}
		raw := bytes.TrimSpace(data[pos : pos+end])
		next := pos + end
		if complete {
			next++
		}
		if !complete {
			// A final line without a newline was cut short: drop it.
			if len(raw) > 0 {
				f.Torn = line
			}
			break
		}
		pos = next
		f.Valid = int64(pos)
		if len(raw) == 0 {
			continue
		}
		var r EvalRecord
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: trailing data after the JSON object", name, line)
		}
		if r.ItemID == "" {
			return nil, fmt.Errorf("%s:%d: missing item_id", name, line)
		}
		if r.Error == "" {
			if prev, dup := answered[r.ItemID]; dup {
				return nil, fmt.Errorf("%s:%d: second answer for item %q (first at line %d)", name, line, r.ItemID, prev)
			}
			answered[r.ItemID] = line
		}
		f.Records = append(f.Records, r)
		f.Lines = append(f.Lines, line)
	}
	return f, nil
}

// ReadEvalFile reads and parses a predictions file.
func ReadEvalFile(path string) (*EvalFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseEvalFile(path, data)
}

// Predictions returns the answered records as Predictions (error records
// are left out: their items count as missing). It may be empty.
func (f *EvalFile) Predictions() *Predictions {
	p := &Predictions{Format: PredSSMBench, Path: f.Path}
	for i, r := range f.Records {
		if r.Error != "" {
			continue
		}
		p.Preds = append(p.Preds, Prediction{Key: r.ItemID, Pos: -1, Text: r.Text, Prompt: r.Prompt, Where: fmt.Sprintf("%s:%d", f.Path, f.Lines[i])})
	}
	return p
}

// readEvalPreds reads an `ssmbench eval` predictions file as Predictions
// (a torn final line is left out too).
func readEvalPreds(path string) ([]Prediction, error) {
	f, err := ReadEvalFile(path)
	if err != nil {
		return nil, err
	}
	return f.Predictions().Preds, nil
}
