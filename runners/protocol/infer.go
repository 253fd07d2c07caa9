package protocol

import (
	"fmt"
	"path/filepath"
)

// The infer request: one prompt in, one greedy answer out. It is an
// optional capability of protocol version 1 (Capabilities.Infer); see the
// "infer" section of PROTOCOL.md for the exact wire format.
const (
	TypeInfer  = "infer"  // engine -> runner: answer one prompt
	TypeOutput = "output" // runner -> engine: the answer
)

// Stop reasons of an Output.
const (
	StopString = "stop"   // a stop string (or a token whose text is one) ended generation
	StopLength = "length" // MaxNewTokens tokens were generated
)

// PixelTensor is the tensor name an image segment's safetensors file holds:
// F32 [tiles, 3, S, S], already tiled and ImageNet-normalised.
const PixelTensor = "pixel_values"

// Segment is one piece of a prompt: either text or an image, never both.
type Segment struct {
	// Text is prompt text, already formatted with the chat template. The
	// runner tokenizes the prompt as its tokenizer would tokenize the whole
	// string (every segment, with images expanded, joined).
	Text string `json:"text,omitempty"`
	// Image is an image placeholder the runner expands to
	// <img> + <IMG_CONTEXT> x (tokens_per_tile x tiles) + </img>.
	Image *ImageSegment `json:"image,omitempty"`
}

// ImageSegment names a safetensors file with the tiles of one image.
type ImageSegment struct {
	// Path is an absolute path, on the runner's host, of a safetensors
	// file holding PixelTensor as F32 [Tiles, 3, S, S] (S the model's tile
	// size). The engine deletes it after the reply.
	Path string `json:"path"`
	// Tiles is the tile count (the dynamic tiles plus the thumbnail).
	Tiles int `json:"tiles"`
}

// InferRequest asks for a greedy completion of one prompt.
type InferRequest struct {
	Segments []Segment `json:"segments"`
	// MaxNewTokens bounds the generated tokens (the stop token included).
	MaxNewTokens int `json:"max_new_tokens"`
	// Stop lists stop strings: a generated token whose text is one of them
	// (a special token such as "<|im_end|>") ends generation and is not
	// part of the text; so does decoded text that comes to contain one, cut
	// before it.
	Stop []string `json:"stop,omitempty"`
}

// Output is the reply to an InferRequest.
type Output struct {
	// Text is the generated text, special tokens skipped, cut before the
	// first stop string; not stripped of whitespace.
	Text string `json:"text"`
	// PromptTokens counts the prompt's tokens (BOS and image tokens
	// included); ImageTokens counts its <IMG_CONTEXT> tokens.
	PromptTokens int `json:"prompt_tokens"`
	ImageTokens  int `json:"image_tokens"`
	// GeneratedTokens counts the greedy steps taken, the stop token
	// included.
	GeneratedTokens int `json:"generated_tokens"`
	// StopReason is StopString or StopLength.
	StopReason string `json:"stop_reason"`
}

// Inferer is the optional side of a Handler that answers infer requests.
// Serve finds it by type assertion; a handler without it answers infer with
// an "unsupported" error. The metrics must include latency_ms (the whole
// request: image embedding, prefill and decode).
type Inferer interface {
	Infer(req *InferRequest) (out *Output, metrics map[string]float64, info map[string]string, err error)
}

// Validate checks an infer request: at least one segment, each exactly one
// of text or image, images with an absolute path and tiles >= 1, and
// max_new_tokens >= 1.
func (r *InferRequest) Validate() error {
	if len(r.Segments) == 0 {
		return fmt.Errorf("protocol: infer.segments is empty")
	}
	for i, s := range r.Segments {
		switch {
		case s.Image != nil && s.Text != "":
			return fmt.Errorf("protocol: infer.segments[%d] has both text and image", i)
		case s.Image == nil && s.Text == "":
			return fmt.Errorf("protocol: infer.segments[%d] has neither text nor image", i)
		case s.Image != nil:
			if s.Image.Path == "" || !filepath.IsAbs(s.Image.Path) {
				return fmt.Errorf("protocol: infer.segments[%d].image.path %q is not an absolute path", i, s.Image.Path)
			}
			if s.Image.Tiles < 1 {
				return fmt.Errorf("protocol: infer.segments[%d].image.tiles must be >= 1, got %d", i, s.Image.Tiles)
			}
		}
	}
	if r.MaxNewTokens < 1 {
		return fmt.Errorf("protocol: infer.max_new_tokens must be >= 1, got %d", r.MaxNewTokens)
	}
	for i, s := range r.Stop {
		if s == "" {
			return fmt.Errorf("protocol: infer.stop[%d] is empty", i)
		}
	}
	return nil
}

// Images returns the request's image segments in prompt order.
func (r *InferRequest) Images() []*ImageSegment {
	var out []*ImageSegment
	for _, s := range r.Segments {
		if s.Image != nil {
			out = append(out, s.Image)
		}
	}
	return out
}

// validateInfer checks the infer and output message types.
func (m *Message) validateInfer() error {
	if m.ID == "" {
		return fmt.Errorf("protocol: %q message lacks id", m.Type)
	}
	switch m.Type {
	case TypeInfer:
		if m.Infer == nil {
			return fmt.Errorf("protocol: \"infer\" message lacks infer")
		}
		return m.Infer.Validate()
	default: // TypeOutput
		if m.Output == nil {
			return fmt.Errorf("protocol: \"output\" message lacks output")
		}
		switch m.Output.StopReason {
		case StopString, StopLength:
		default:
			return fmt.Errorf("protocol: output.stop_reason %q is not %q or %q", m.Output.StopReason, StopString, StopLength)
		}
		if m.Output.PromptTokens < 0 || m.Output.GeneratedTokens < 0 || m.Output.ImageTokens < 0 {
			return fmt.Errorf("protocol: output token counts must be >= 0")
		}
		return nil
	}
}

// dispatchInfer answers an infer request with h's Inferer, if it has one.
func dispatchInfer(req *Message, h Handler) (*Message, error) {
	inf, ok := h.(Inferer)
	if !ok {
		return nil, &RunnerError{Status: StatusUnsupported, Message: "this runner does not answer infer requests"}
	}
	out, met, info, err := inf.Infer(req.Infer)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("runner returned no output")
	}
	return &Message{Type: TypeOutput, ID: req.ID, Output: out, Metrics: met, Info: info}, nil
}
