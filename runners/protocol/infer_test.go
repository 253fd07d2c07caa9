package protocol

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestInferValidation(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"ok", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a"},{"image":{"path":"/t/p.safetensors","tiles":7}},{"text":"b"}],"max_new_tokens":8,"stop":["<|im_end|>"]}}`, ""},
		{"text only", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a"}],"max_new_tokens":1}}`, ""},
		{"no id", `{"type":"infer","infer":{"segments":[{"text":"a"}],"max_new_tokens":1}}`, "lacks id"},
		{"no body", `{"type":"infer","id":"i1"}`, "lacks infer"},
		{"no segments", `{"type":"infer","id":"i1","infer":{"segments":[],"max_new_tokens":1}}`, "segments is empty"},
		{"both", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a","image":{"path":"/p","tiles":1}}],"max_new_tokens":1}}`, "segments[0] has both"},
		{"neither", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a"},{}],"max_new_tokens":1}}`, "segments[1] has neither"},
		{"relative path", `{"type":"infer","id":"i1","infer":{"segments":[{"image":{"path":"p.safetensors","tiles":1}}],"max_new_tokens":1}}`, "not an absolute path"},
		{"zero tiles", `{"type":"infer","id":"i1","infer":{"segments":[{"image":{"path":"/p","tiles":0}}],"max_new_tokens":1}}`, "tiles must be >= 1"},
		{"zero new tokens", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a"}],"max_new_tokens":0}}`, "max_new_tokens must be >= 1"},
		{"empty stop", `{"type":"infer","id":"i1","infer":{"segments":[{"text":"a"}],"max_new_tokens":1,"stop":[""]}}`, "stop[0] is empty"},
		{"output ok", `{"type":"output","id":"i1","output":{"text":"Yes","prompt_tokens":9,"image_tokens":0,"generated_tokens":2,"stop_reason":"stop"},"metrics":{"latency_ms":3}}`, ""},
		{"output no body", `{"type":"output","id":"i1"}`, "lacks output"},
		{"output bad reason", `{"type":"output","id":"i1","output":{"text":"","stop_reason":"eos"}}`, "stop_reason"},
		{"output negative", `{"type":"output","id":"i1","output":{"text":"","stop_reason":"length","generated_tokens":-1}}`, ">= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(strings.NewReader(tc.line + "\n")).Decode()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid message refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestInferImages(t *testing.T) {
	r := &InferRequest{Segments: []Segment{{Text: "a"}, {Image: &ImageSegment{Path: "/a", Tiles: 3}}, {Text: "b"}, {Image: &ImageSegment{Path: "/b", Tiles: 1}}}}
	im := r.Images()
	if len(im) != 2 || im[0].Path != "/a" || im[1].Tiles != 1 {
		t.Fatalf("images %+v", im)
	}
}

// inferHandler is echoHandler plus an Inferer that answers with the
// prompt's text segments joined, up to MaxNewTokens bytes.
type inferHandler struct{ echoHandler }

func (h *inferHandler) Infer(r *InferRequest) (*Output, map[string]float64, map[string]string, error) {
	if strings.Contains(r.Segments[0].Text, "fail") {
		return nil, nil, nil, &RunnerError{Status: StatusOOM, Message: "prompt too long"}
	}
	var b strings.Builder
	tiles := 0
	for _, s := range r.Segments {
		b.WriteString(s.Text)
		if s.Image != nil {
			tiles += s.Image.Tiles
		}
	}
	text, reason := b.String(), StopString
	if len(text) > r.MaxNewTokens {
		text, reason = text[:r.MaxNewTokens], StopLength
	}
	return &Output{Text: text, PromptTokens: b.Len() + 1, ImageTokens: 256 * tiles, GeneratedTokens: len(text), StopReason: reason},
		map[string]float64{"latency_ms": 1}, map[string]string{"tokenizer": "echo"}, nil
}

func TestServeInfer(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"load","id":"l","load":{"variant":"v"}}`,
		`{"type":"infer","id":"i1","infer":{"segments":[{"text":"Hello "},{"image":{"path":"/x.safetensors","tiles":2}},{"text":"world"}],"max_new_tokens":64,"stop":["<|im_end|>"]}}`,
		`{"type":"infer","id":"i2","infer":{"segments":[{"text":"abcdef"}],"max_new_tokens":3}}`,
		`{"type":"infer","id":"i3","infer":{"segments":[{"text":"fail"}],"max_new_tokens":3}}`,
		`{"type":"shutdown"}`,
	}, "\n") + "\n"
	run := func(h Handler) []*Message {
		var out bytes.Buffer
		if err := Serve(strings.NewReader(in), &out, &Message{Runner: &RunnerInfo{Name: "t"}}, h); err != nil {
			t.Fatal(err)
		}
		var msgs []*Message
		dec := NewDecoder(&out)
		for {
			m, err := dec.Decode()
			if errors.Is(err, io.EOF) {
				return msgs
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
	}
	t.Run("inferer", func(t *testing.T) {
		msgs := run(&inferHandler{})
		if len(msgs) != 6 {
			t.Fatalf("%d messages", len(msgs))
		}
		o := msgs[2]
		if o.Type != TypeOutput || o.ID != "i1" || o.Output.Text != "Hello world" || o.Output.ImageTokens != 512 || o.Output.StopReason != StopString || o.Metrics["latency_ms"] != 1 || o.Info["tokenizer"] != "echo" {
			t.Errorf("i1 reply %+v %+v", o, o.Output)
		}
		if o := msgs[3]; o.Output == nil || o.Output.Text != "abc" || o.Output.StopReason != StopLength {
			t.Errorf("i2 reply %+v", o)
		}
		if e := msgs[4]; e.Type != TypeError || e.ID != "i3" || e.Status != StatusOOM {
			t.Errorf("i3 reply %+v", e)
		}
	})
	t.Run("no inferer", func(t *testing.T) {
		msgs := run(&echoHandler{})
		for _, m := range msgs[2:5] {
			if m.Type != TypeError || m.Status != StatusUnsupported {
				t.Errorf("reply %+v, want an unsupported error", m)
			}
		}
	})
}

func TestHelloCapabilityInfer(t *testing.T) {
	var buf bytes.Buffer
	if err := NewEncoder(&buf).Encode(&Message{Type: TypeHello, Protocol: Version, Runner: &RunnerInfo{Name: "r"},
		Capabilities: &Capabilities{Phases: []string{PhaseDecode}, Infer: true}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"infer":true`) {
		t.Errorf("hello %s lacks the infer capability", buf.String())
	}
	m, err := NewDecoder(&buf).Decode()
	if err != nil || !m.Capabilities.Infer {
		t.Fatalf("decoded %+v, %v", m, err)
	}
	// An older runner's hello has no infer field: the capability is off.
	m, err = NewDecoder(strings.NewReader(`{"type":"hello","protocol":1,"runner":{"name":"x"},"capabilities":{"phases":["decode"],"profiles":[],"dtypes":[]}}`)).Decode()
	if err != nil || m.Capabilities.Infer {
		t.Fatalf("old hello %+v, %v", m, err)
	}
}

func FuzzDecodeInfer(f *testing.F) {
	f.Add([]byte(`{"type":"infer","id":"i","infer":{"segments":[{"text":"<|im_start|>user\n"},{"image":{"path":"/tmp/p.safetensors","tiles":7}}],"max_new_tokens":1024,"stop":["<|im_end|>"]}}`))
	f.Add([]byte(`{"type":"output","id":"i","output":{"text":"Yes","prompt_tokens":1800,"image_tokens":1792,"generated_tokens":2,"stop_reason":"stop"},"metrics":{"latency_ms":5}}`))
	f.Add([]byte(`{"type":"infer","id":"i","infer":{"segments":[{"image":{"path":"rel","tiles":-1}}],"max_new_tokens":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := NewDecoder(bytes.NewReader(data)).Decode()
		if err != nil {
			return
		}
		if m.Type == TypeInfer {
			if err := m.Infer.Validate(); err != nil {
				t.Fatalf("decoded an invalid infer request: %v", err)
			}
			for _, im := range m.Infer.Images() {
				if im.Tiles < 1 || im.Path == "" {
					t.Fatalf("bad image segment passed validation: %+v", im)
				}
			}
		}
		if m.Type == TypeOutput && m.Output == nil {
			t.Fatal("output without body passed validation")
		}
	})
}
