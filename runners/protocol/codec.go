package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxLineBytes bounds one protocol line. A longer line is a protocol error:
// nothing a runner sends legitimately comes near it (configs are a few KiB).
const MaxLineBytes = 16 << 20

// Encoder writes messages as JSON lines. It is safe for concurrent use.
type Encoder struct {
	mu sync.Mutex
	w  io.Writer
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode writes m followed by a newline in a single Write call.
func (e *Encoder) Encode(m *Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("protocol: encode %q: %w", m.Type, err)
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.w.Write(b)
	return err
}

// Decoder reads JSON-lines messages.
type Decoder struct {
	r    *bufio.Reader
	line int
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 64<<10)} }

// LineError is a malformed line, with its 1-based line number.
type LineError struct {
	Line int
	Text string // the start of the offending line
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("protocol line %d: %v (line starts %q)", e.Line, e.Err, e.Text)
}

func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong is wrapped in a LineError when a line exceeds MaxLineBytes.
var ErrLineTooLong = errors.New("line longer than protocol.MaxLineBytes")

// Decode reads the next non-empty line and decodes it. It returns io.EOF at
// a clean end of input, and a *LineError for a line that is not a valid
// message. Blank lines are skipped.
func (d *Decoder) Decode() (*Message, error) {
	for {
		raw, err := d.readLine()
		if err != nil {
			return nil, err
		}
		d.line++
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, &LineError{Line: d.line, Text: head(raw), Err: err}
		}
		if err := m.Validate(); err != nil {
			return nil, &LineError{Line: d.line, Text: head(raw), Err: err}
		}
		return &m, nil
	}
}

func (d *Decoder) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := d.r.ReadLine()
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return buf, nil
			}
			return nil, err
		}
		buf = append(buf, chunk...)
		if len(buf) > MaxLineBytes {
			// Drain the rest of the line so that the decoder stays usable.
			for isPrefix {
				_, isPrefix, err = d.r.ReadLine()
				if err != nil {
					break
				}
			}
			d.line++
			return nil, &LineError{Line: d.line, Text: head(buf), Err: ErrLineTooLong}
		}
		if !isPrefix {
			return buf, nil
		}
	}
}

func head(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
