package protocol

import (
	"errors"
	"fmt"
	"io"
)

// Handler is the runner side of the protocol, as implemented by a Go
// runner. Serve calls its methods in protocol order: Load, then for each
// cell Cell, Rep (many times), End. A method returns a *RunnerError to pick
// the status of the error reply; any other error is reported as "error".
type Handler interface {
	Load(req *LoadRequest) (metrics map[string]float64, info map[string]string, err error)
	Cell(req *CellRequest) (metrics map[string]float64, info map[string]string, err error)
	Rep(index int, warmup bool) (metrics map[string]float64, err error)
	End() (metrics map[string]float64, info map[string]string, err error)
}

// Serve writes hello, then answers requests from in until a shutdown
// request or the end of in. It returns nil on a clean shutdown or end of
// input, and an error for malformed input.
func Serve(in io.Reader, out io.Writer, hello *Message, h Handler) error {
	enc := NewEncoder(out)
	hello.Type = TypeHello
	hello.Protocol = Version
	if err := enc.Encode(hello); err != nil {
		return err
	}
	dec := NewDecoder(in)
	for {
		req, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			_ = enc.Encode(&Message{Type: TypeError, Status: StatusError, Message: err.Error()})
			return err
		}
		reply, herr := dispatch(req, h)
		if herr != nil {
			reply = errorReply(req.ID, herr)
		}
		if reply == nil { // shutdown
			return enc.Encode(&Message{Type: TypeBye})
		}
		if err := enc.Encode(reply); err != nil {
			return err
		}
	}
}

func dispatch(req *Message, h Handler) (reply *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runner panic: %v", r)
		}
	}()
	switch req.Type {
	case TypeLoad:
		met, info, err := h.Load(req.Load)
		return &Message{Type: TypeLoaded, ID: req.ID, Metrics: met, Info: info}, err
	case TypeCell:
		met, info, err := h.Cell(req.Cell)
		return &Message{Type: TypeReady, ID: req.ID, Metrics: met, Info: info}, err
	case TypeRep:
		met, err := h.Rep(req.Index, req.Warmup)
		return &Message{Type: TypeSample, ID: req.ID, Index: req.Index, Warmup: req.Warmup, Metrics: met}, err
	case TypeEnd:
		met, info, err := h.End()
		return &Message{Type: TypeResult, ID: req.ID, Metrics: met, Info: info}, err
	case TypeInfer:
		return dispatchInfer(req, h)
	case TypeShutdown:
		return nil, nil
	default:
		return nil, &RunnerError{Status: StatusUnsupported, Message: fmt.Sprintf("request type %q is not handled by this runner", req.Type)}
	}
}

func errorReply(id string, err error) *Message {
	var re *RunnerError
	if errors.As(err, &re) {
		return &Message{Type: TypeError, ID: id, Status: re.Status, Message: re.Message, Detail: re.Detail}
	}
	return &Message{Type: TypeError, ID: id, Status: StatusError, Message: err.Error()}
}
