package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Command says how to start a runner process.
type Command struct {
	Path string   // executable
	Args []string // arguments, not including the executable
	Env  []string // extra KEY=VALUE entries appended to the parent's environment
	Dir  string   // working directory; empty means the parent's
	// Stderr, if set, receives a copy of everything the runner writes to
	// stderr (the client also keeps the last StderrTailBytes for errors).
	Stderr io.Writer
	// OnLog, if set, receives "log" messages the runner sends.
	OnLog func(*Message)
}

// StderrTailBytes is how much of a runner's stderr is kept for error reports.
const StderrTailBytes = 8 << 10

// ErrTimeout is returned (wrapped) when a runner does not answer in time. The
// client has killed the runner's process group by then.
var ErrTimeout = errors.New("runner did not answer in time")

// ExitError is returned when the runner process ended while a reply was
// awaited, or when its output stopped being valid protocol.
type ExitError struct {
	State  string // how the process ended, e.g. "exit status 1" or "signal: killed"
	Signal syscall.Signal
	Cause  error  // a decode error, if the output was malformed
	Stderr string // the last bytes of its stderr
}

func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("runner ended")
	if e.State != "" {
		b.WriteString(" (" + e.State + ")")
	}
	if e.Cause != nil && !errors.Is(e.Cause, io.EOF) {
		b.WriteString(": " + e.Cause.Error())
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString("; stderr ends: " + lastLines(s, 6))
	}
	return b.String()
}

func (e *ExitError) Unwrap() error { return e.Cause }

// RunnerError is an "error" reply from the runner.
type RunnerError struct {
	Status  string
	Message string
	Detail  string
}

func (e *RunnerError) Error() string { return e.Status + ": " + e.Message }

// Client is the engine's end of a runner process.
type Client struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	enc     *Encoder
	replies chan *Message
	done    chan struct{} // closed when the reader goroutine ends
	readErr error
	stderr  *tail
	waitErr error
	waited  chan struct{}
	hello   *Message
	once    sync.Once
}

// Start launches the runner in its own process group and waits up to
// helloTimeout for its Hello line, which it checks for the protocol version.
func Start(ctx context.Context, c Command, helloTimeout time.Duration) (*Client, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = sysProcAttr()
	cl := &Client{cmd: cmd, replies: make(chan *Message, 16), done: make(chan struct{}),
		stderr: &tail{max: StderrTailBytes}, waited: make(chan struct{})}
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(cl.stderr, c.Stderr)
	} else {
		cmd.Stderr = cl.stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start runner %s: %w", c.Path, err)
	}
	cl.stdin, cl.enc = stdin, NewEncoder(stdin)
	go func() {
		cl.waitErr = cmd.Wait()
		close(cl.waited)
	}()
	go cl.read(stdout, c.OnLog)

	m, err := cl.await(ctx, "", helloTimeout)
	if err != nil {
		cl.Kill()
		return nil, fmt.Errorf("waiting for hello: %w", err)
	}
	if m.Type != TypeHello {
		cl.Kill()
		return nil, fmt.Errorf("runner's first message is %q, want hello", m.Type)
	}
	if m.Protocol != Version {
		cl.Kill()
		return nil, fmt.Errorf("runner %s speaks protocol %d, this engine speaks %d", m.Runner.Name, m.Protocol, Version)
	}
	cl.hello = m
	return cl, nil
}

// Hello returns the runner's Hello message.
func (c *Client) Hello() *Message { return c.hello }

// PID returns the runner's process ID (also its process group ID).
func (c *Client) PID() int { return c.cmd.Process.Pid }

func (c *Client) read(r io.Reader, onLog func(*Message)) {
	defer close(c.done)
	dec := NewDecoder(r)
	for {
		m, err := dec.Decode()
		if err != nil {
			c.readErr = err
			return
		}
		if m.Type == TypeLog {
			if onLog != nil {
				onLog(m)
			}
			continue
		}
		select {
		case c.replies <- m:
		case <-c.waited:
			// Nobody will read any more; drop.
			c.readErr = io.EOF
			return
		}
	}
}

// Call sends req and waits up to timeout for the reply with the same ID. An
// "error" reply is returned as a *RunnerError. On timeout the runner's
// process group is killed and the error wraps ErrTimeout. If the runner dies,
// the error is an *ExitError.
func (c *Client) Call(ctx context.Context, req *Message, timeout time.Duration) (*Message, error) {
	if err := c.enc.Encode(req); err != nil {
		c.Kill()
		return nil, c.exitError(fmt.Errorf("write %s request: %w", req.Type, err))
	}
	m, err := c.await(ctx, req.ID, timeout)
	if err != nil {
		return nil, err
	}
	if m.Type == TypeError {
		return m, &RunnerError{Status: m.Status, Message: m.Message, Detail: m.Detail}
	}
	return m, nil
}

func (c *Client) await(ctx context.Context, id string, timeout time.Duration) (*Message, error) {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		select {
		case m := <-c.replies:
			if id != "" && m.ID != id && m.Type != TypeError {
				// A stale reply to an earlier request; skip it.
				continue
			}
			if id != "" && m.Type == TypeError && m.ID != "" && m.ID != id {
				continue
			}
			return m, nil
		case <-c.done:
			// Drain replies that arrived before the reader ended.
			select {
			case m := <-c.replies:
				if id == "" || m.ID == id || m.Type == TypeError {
					return m, nil
				}
			default:
			}
			return nil, c.exitError(c.readErr)
		case <-timer:
			c.Kill()
			return nil, fmt.Errorf("%w after %v", ErrTimeout, timeout)
		case <-ctx.Done():
			c.Kill()
			return nil, ctx.Err()
		}
	}
}

func (c *Client) exitError(cause error) error {
	// Give a runner that stopped talking a moment to exit by itself (and to
	// finish writing its stderr), then kill its group.
	select {
	case <-c.waited:
	case <-time.After(2 * time.Second):
	}
	c.Kill()
	e := &ExitError{Cause: cause, Stderr: c.stderr.String()}
	if c.cmd.ProcessState != nil {
		e.State = c.cmd.ProcessState.String()
		if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
	}
	return e
}

// Kill kills the runner's whole process group and reaps it. It is safe to call
// more than once.
func (c *Client) Kill() {
	c.once.Do(func() {
		killGroup(c.cmd.Process.Pid)
		_ = c.stdin.Close()
	})
	<-c.waited
}

// Close asks the runner to shut down and waits up to grace for it to exit;
// then it kills the process group.
func (c *Client) Close(grace time.Duration) error {
	_ = c.enc.Encode(&Message{Type: TypeShutdown})
	_ = c.stdin.Close()
	select {
	case <-c.waited:
	case <-time.After(grace):
	}
	c.Kill()
	return nil
}

// StderrTail returns the last bytes the runner wrote to stderr.
func (c *Client) StderrTail() string { return c.stderr.String() }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
