package protocol

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	msgs := []*Message{
		{Type: TypeHello, Protocol: Version, Runner: &RunnerInfo{Name: "r", Version: "1"}},
		{Type: TypeCell, ID: "c1", Cell: &CellRequest{Phase: PhaseDecode, SeqLen: 1024, Batch: 1, CacheFill: FillSynthetic}},
		{Type: TypeSample, ID: "c1", Index: 3, Metrics: map[string]float64{"latency_ms": 1.5}},
		{Type: TypeError, ID: "c1", Status: StatusOOM, Message: "out of memory"},
	}
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != len(msgs) {
		t.Fatalf("%d lines for %d messages", n, len(msgs))
	}
	dec := NewDecoder(&buf)
	for i, want := range msgs {
		got, err := dec.Decode()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.Type != want.Type || got.ID != want.ID {
			t.Errorf("message %d: got %+v", i, got)
		}
	}
	if _, err := dec.Decode(); !errors.Is(err, io.EOF) {
		t.Errorf("end: %v", err)
	}
}

func TestDecodeErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", `{"type":"hello","protocol":1,"runner":{"name":"x"}}` + "\n\nnot json\n", "protocol line 3"},
		{"no type", `{"id":"x"}` + "\n", "no type"},
		{"unknown type", `{"type":"teleport"}` + "\n", "unknown message type"},
		{"cell without phase", `{"type":"cell","id":"c","cell":{"seq_len":1,"batch":1}}` + "\n", "cell.phase"},
		{"cell bad len", `{"type":"cell","id":"c","cell":{"phase":"decode","seq_len":0,"batch":1}}` + "\n", "seq_len > 0"},
		{"error without status", `{"type":"error","message":"x"}` + "\n", "lacks status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := NewDecoder(strings.NewReader(tc.in))
			var err error
			for err == nil {
				_, err = dec.Decode()
			}
			var le *LineError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a LineError containing %q", err, tc.want)
			}
		})
	}
}

func TestLongLineIsRejected(t *testing.T) {
	long := `{"type":"log","message":"` + strings.Repeat("x", MaxLineBytes+10) + `"}` + "\n" + `{"type":"bye"}` + "\n"
	dec := NewDecoder(strings.NewReader(long))
	if _, err := dec.Decode(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v", err)
	}
	if m, err := dec.Decode(); err != nil || m.Type != TypeBye {
		t.Fatalf("decoder unusable after a long line: %v %v", m, err)
	}
}

// echoHandler answers every request trivially.
type echoHandler struct{ reps int }

func (h *echoHandler) Load(*LoadRequest) (map[string]float64, map[string]string, error) {
	return map[string]float64{"weight_bytes": 1}, nil, nil
}
func (h *echoHandler) Cell(c *CellRequest) (map[string]float64, map[string]string, error) {
	if c.SeqLen > 100 {
		return nil, nil, &RunnerError{Status: StatusOOM, Message: "too long"}
	}
	return nil, map[string]string{"cache_fill": "prefill"}, nil
}
func (h *echoHandler) Rep(i int, warm bool) (map[string]float64, error) {
	h.reps++
	if i == 99 {
		panic("boom")
	}
	return map[string]float64{"latency_ms": float64(i)}, nil
}
func (h *echoHandler) End() (map[string]float64, map[string]string, error) { return nil, nil, nil }

func TestServeConversation(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"load","id":"l","load":{"variant":"v","dtype":"fp32","profile":"reference"}}`,
		`{"type":"cell","id":"c","cell":{"phase":"decode","seq_len":10,"batch":1}}`,
		`{"type":"rep","id":"c","index":2}`,
		`{"type":"rep","id":"c","index":99}`,
		`{"type":"cell","id":"d","cell":{"phase":"decode","seq_len":1000,"batch":1}}`,
		`{"type":"end","id":"c"}`,
		`{"type":"shutdown"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	h := &echoHandler{}
	if err := Serve(strings.NewReader(in), &out, &Message{Runner: &RunnerInfo{Name: "echo"}}, h); err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(&out)
	var types []string
	var last *Message
	for {
		m, err := dec.Decode()
		if err != nil {
			break
		}
		types = append(types, m.Type+":"+m.Status)
		last = m
		if m.Type == TypeError && m.ID == "c" && !strings.Contains(m.Message, "panic") {
			t.Errorf("panic not reported: %+v", m)
		}
	}
	want := "hello: loaded: ready: sample: error:error error:oom result: bye:"
	if strings.Join(types, " ") != want {
		t.Errorf("conversation\n got %s\nwant %s", strings.Join(types, " "), want)
	}
	if last.Type != TypeBye {
		t.Errorf("last message %s", last.Type)
	}
}

// The client tests start this test binary as a runner.
func TestMain(m *testing.M) {
	switch os.Getenv("PROTOCOL_TEST_RUNNER") {
	case "echo":
		_ = Serve(os.Stdin, os.Stdout, &Message{Runner: &RunnerInfo{Name: "echo", Version: "t"}}, &echoHandler{})
		os.Exit(0)
	case "oldproto":
		os.Stdout.WriteString(`{"type":"hello","protocol":99,"runner":{"name":"old"}}` + "\n")
		os.Exit(0)
	case "garbage":
		os.Stdout.WriteString("this is not json\n")
		os.Stderr.WriteString("runner: something broke\n")
		os.Exit(4)
	case "silent":
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func start(t *testing.T, mode string, timeout time.Duration) (*Client, error) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Start(context.Background(), Command{Path: exe, Env: []string{"PROTOCOL_TEST_RUNNER=" + mode}}, timeout)
}

func TestClient(t *testing.T) {
	c, err := start(t, "echo", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hello().Runner.Name != "echo" || c.PID() <= 0 {
		t.Errorf("hello %+v", c.Hello())
	}
	ctx := context.Background()
	if _, err := c.Call(ctx, &Message{Type: TypeLoad, ID: "l", Load: &LoadRequest{Variant: "v"}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(ctx, &Message{Type: TypeCell, ID: "c", Cell: &CellRequest{Phase: PhaseDecode, SeqLen: 1000, Batch: 1}}, 5*time.Second)
	var re *RunnerError
	if !errors.As(err, &re) || re.Status != StatusOOM {
		t.Errorf("oom cell: %v", err)
	}
	m, err := c.Call(ctx, &Message{Type: TypeRep, ID: "c", Index: 7}, 5*time.Second)
	if err != nil || m.Metrics["latency_ms"] != 7 {
		t.Errorf("rep: %v %v", m, err)
	}
	if err := c.Close(5 * time.Second); err != nil {
		t.Error(err)
	}
}

func TestClientFailures(t *testing.T) {
	if _, err := start(t, "oldproto", 10*time.Second); err == nil || !strings.Contains(err.Error(), "protocol 99") {
		t.Errorf("old protocol: %v", err)
	}
	_, err := start(t, "garbage", 10*time.Second)
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "something broke") || !strings.Contains(err.Error(), "protocol line 1") {
		t.Errorf("garbage runner: %v", err)
	}
	t0 := time.Now()
	_, err = start(t, "silent", 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || time.Since(t0) > 10*time.Second {
		t.Errorf("silent runner: %v after %v", err, time.Since(t0))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"hello","protocol":1,"runner":{"name":"x","version":"1"}}` + "\n"))
	f.Add([]byte(`{"type":"cell","id":"c","cell":{"phase":"decode","seq_len":4096,"batch":1}}` + "\n"))
	f.Add([]byte(`{"type":"sample","id":"c","index":1,"metrics":{"latency_ms":1.5}}` + "\n\n"))
	f.Add([]byte(`{"type":"error","id":"c","status":"oom","message":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewDecoder(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			m, err := dec.Decode()
			if err != nil {
				var le *LineError
				if !errors.Is(err, io.EOF) && !errors.As(err, &le) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				return
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded an invalid message: %v", err)
			}
			// Whatever decodes must re-encode and decode to the same type.
			var buf bytes.Buffer
			if err := NewEncoder(&buf).Encode(m); err != nil {
				t.Fatal(err)
			}
			m2, err := NewDecoder(&buf).Decode()
			if err != nil || m2.Type != m.Type || m2.ID != m.ID {
				t.Fatalf("re-encoding changed the message: %v %+v", err, m2)
			}
		}
	})
}
