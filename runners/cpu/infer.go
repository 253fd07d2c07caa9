package cpu

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/protocol"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// Token ids of the toy tokenizer that do not depend on the vocabulary size.
const (
	ToyUnk   = 0 // <unk>
	ToyBOS   = 1 // <s>, prepended to every prompt
	ToyEOS   = 2 // </s>
	ToyByte0 = 3 // byte b is token ToyByte0 + b (ids 3..258)
)

// Special token strings of the internlm2-chat template and the image
// placeholder (mmmamba.md §4.4).
const (
	TokImStart    = "<|im_start|>"
	TokImEnd      = "<|im_end|>"
	TokImgStart   = "<img>"
	TokImgEnd     = "</img>"
	TokImgContext = "<IMG_CONTEXT>"
)

// ToyTokenizer is the deterministic byte-level tokenizer the CPU runner
// uses for models without a tokenizer (random weights, test checkpoints).
// It mirrors the layout of InternLM2's SentencePiece vocabulary, so that
// the real configs' special ids come out right:
//
//	0 <unk>, 1 <s> (BOS), 2 </s>, 3+b for each byte b (byte fallback),
//	V-2 <|im_end|>, V-1 <|im_start|>          (V = llm_config.vocab_size)
//	V <img>, V+1 </img>, img_context_token_id <IMG_CONTEXT>
//
// Encode splits text on the special strings (each becomes its id) and
// writes every other byte as its byte token; it does not add BOS. Decode
// skips every id that is not a byte token (special tokens skipped, as
// skip_special_tokens=True does) and replaces invalid UTF-8 with U+FFFD.
// The ids 259..V-3 are unused: a random model may emit them; they decode to
// nothing.
type ToyTokenizer struct {
	special map[string]int
	pieces  map[int]string
	names   []string // special strings, longest first
}

// NewToyTokenizer builds the toy tokenizer for a model configuration. The
// vocabulary must hold the byte tokens and the chat tokens (V >= 261), and
// the text table the two image-boundary tokens after them.
func NewToyTokenizer(c *configs.Model) (*ToyTokenizer, error) {
	V := c.Vocab
	if V < ToyByte0+256+2 {
		return nil, fmt.Errorf("toy tokenizer: llm vocab_size %d is below the %d ids it needs (3 + 256 bytes + 2 chat tokens)", V, ToyByte0+256+2)
	}
	if c.TextVocab < V+2 {
		return nil, fmt.Errorf("toy tokenizer: llm_vocab_size %d leaves no room for <img> (%d) and </img> (%d)", c.TextVocab, V, V+1)
	}
	if c.ImgContextTok < 0 || c.ImgContextTok >= c.TextVocab || c.ImgContextTok == V || c.ImgContextTok == V+1 || (c.ImgContextTok >= ToyUnk && c.ImgContextTok < ToyByte0+256) || c.ImgContextTok >= V-2 && c.ImgContextTok < V {
		return nil, fmt.Errorf("toy tokenizer: img_context_token_id %d collides with another token or is outside the text vocabulary [0, %d)", c.ImgContextTok, c.TextVocab)
	}
	t := &ToyTokenizer{special: map[string]int{
		"<unk>": ToyUnk, "<s>": ToyBOS, "</s>": ToyEOS,
		TokImEnd: V - 2, TokImStart: V - 1, TokImgStart: V, TokImgEnd: V + 1, TokImgContext: c.ImgContextTok,
	}, pieces: map[int]string{}}
	for s, id := range t.special {
		t.pieces[id] = s
		t.names = append(t.names, s)
	}
	sort.Slice(t.names, func(i, j int) bool {
		if len(t.names[i]) != len(t.names[j]) {
			return len(t.names[i]) > len(t.names[j])
		}
		return t.names[i] < t.names[j]
	})
	return t, nil
}

// ID returns the id of a special token string.
func (t *ToyTokenizer) ID(special string) (int, bool) {
	id, ok := t.special[special]
	return id, ok
}

// Encode tokenizes text (no BOS).
func (t *ToyTokenizer) Encode(text string) []int {
	out := make([]int, 0, len(text))
	for i := 0; i < len(text); {
		matched := false
		if text[i] == '<' {
			for _, s := range t.names {
				if strings.HasPrefix(text[i:], s) {
					out = append(out, t.special[s])
					i += len(s)
					matched = true
					break
				}
			}
		}
		if !matched {
			out = append(out, ToyByte0+int(text[i]))
			i++
		}
	}
	return out
}

// Piece returns the text of one token: a special token's string, a byte
// token's byte, "" for an unused id.
func (t *ToyTokenizer) Piece(id int) string {
	if id >= ToyByte0 && id < ToyByte0+256 {
		return string([]byte{byte(id - ToyByte0)})
	}
	return t.pieces[id]
}

// Decode turns ids into text, skipping special and unused ids.
func (t *ToyTokenizer) Decode(ids []int) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= ToyByte0 && id < ToyByte0+256 {
			b = append(b, byte(id-ToyByte0))
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

var _ protocol.Inferer = (*Runner)(nil)

// tokenizer picks the tokenizer for the loaded model: a checkpoint that
// ships InternLM2's SentencePiece model is refused (no pure-Go SentencePiece
// implementation handles it; see PROTOCOL.md), anything else gets the toy
// tokenizer.
func (r *Runner) tokenizer() (*ToyTokenizer, string, error) {
	if r.ckptDir != "" {
		for _, f := range []string{"tokenizer.model", "tokenizer.json"} {
			if _, err := os.Stat(filepath.Join(r.ckptDir, f)); err == nil {
				return nil, "", unsupported("infer: %s ships a real tokenizer (%s); the CPU reference runner has no InternLM2 SentencePiece tokenizer "+
					"(the one pure-Go SentencePiece library, github.com/eliben/go-sentencepiece, implements only Gemma-style BPE models and "+
					"refuses add_dummy_prefix, which LLaMA-family models such as InternLM2 set). Run real checkpoints through the PyTorch worker", r.ckptDir, f)
			}
		}
	}
	tok, err := NewToyTokenizer(r.model.Config)
	if err != nil {
		return nil, "", unsupported("infer: %v", err)
	}
	return tok, "toy-bytes (runners/cpu/infer.go: BOS, byte tokens 3..258, chat and image specials)", nil
}

// Infer answers one prompt greedily: it tokenizes the text segments with
// the toy tokenizer, expands each image into <img> + <IMG_CONTEXT> x
// (tokens per tile x tiles) + </img>, embeds the tiles with the image path
// (vision.go), splices them over the <IMG_CONTEXT> embeddings, prefills the
// whole prompt in one pass and decodes greedily until a stop string or
// MaxNewTokens.
func (r *Runner) Infer(req *protocol.InferRequest) (*protocol.Output, map[string]float64, map[string]string, error) {
	start := time.Now()
	if r.model == nil {
		return nil, nil, nil, fmt.Errorf("infer: no model loaded")
	}
	if req == nil {
		return nil, nil, nil, fmt.Errorf("infer: no request")
	}
	if err := req.Validate(); err != nil {
		return nil, nil, nil, err
	}
	m := r.model
	c := m.Config
	tok, tokName, err := r.tokenizer()
	if err != nil {
		return nil, nil, nil, err
	}
	perTile := m.NumImageTokens()
	imgStart, _ := tok.ID(TokImgStart)
	imgEnd, _ := tok.ID(TokImgEnd)
	ids := []int{ToyBOS}
	// Adjacent text segments are tokenized as one string, as the protocol
	// says (the query is the joined segments), so a special token split
	// across two segments is still recognised.
	var pending strings.Builder
	flush := func() {
		ids = append(ids, tok.Encode(pending.String())...)
		pending.Reset()
	}
	for _, s := range req.Segments {
		if s.Image == nil {
			pending.WriteString(s.Text)
			continue
		}
		flush()
		ids = append(ids, imgStart)
		for i := 0; i < perTile*s.Image.Tiles; i++ {
			ids = append(ids, c.ImgContextTok)
		}
		ids = append(ids, imgEnd)
	}
	flush()
	T := len(ids)
	capacity := T + req.MaxNewTokens
	if err := r.checkMemory("infer", m.WeightBytes()+stateBytes(c, capacity)+prefillTempBytes(c, T)); err != nil {
		return nil, nil, nil, err
	}

	// Image embeddings, in prompt order.
	tVision := time.Now()
	var images []float32
	S := c.ImageSize
	tileLen := 3 * S * S
	for _, im := range req.Images() {
		pix, err := readPixels(im, S)
		if err != nil {
			return nil, nil, nil, err
		}
		for k := 0; k < im.Tiles; k++ {
			emb, err := m.ImageTokens(pix[k*tileLen : (k+1)*tileLen])
			if err != nil {
				return nil, nil, nil, fmt.Errorf("infer: %s tile %d: %w", im.Path, k, err)
			}
			images = append(images, emb...)
		}
	}
	x, err := m.Embed(ids)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("infer: %w", err)
	}
	if err := m.SpliceImages(ids, x, images); err != nil {
		return nil, nil, nil, fmt.Errorf("infer: %w", err)
	}
	visionDur := time.Since(tVision)

	tPrefill := time.Now()
	st := m.NewState(capacity)
	logits, err := m.PrefillEmbeds(st, x, false)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("infer: %w", err)
	}
	prefillDur := time.Since(tPrefill)

	tDecode := time.Now()
	out := &protocol.Output{PromptTokens: T, ImageTokens: len(images) / c.Hidden, StopReason: protocol.StopLength}
	var gen []int
	text := ""
	for {
		next := argmax(logits)
		out.GeneratedTokens++
		if piece := tok.Piece(next); piece != "" && isStop(piece, req.Stop) && (next < ToyByte0 || next >= ToyByte0+256) {
			out.StopReason = protocol.StopString
			break
		}
		gen = append(gen, next)
		text = tok.Decode(gen)
		if cut, ok := cutStop(text, req.Stop); ok {
			text = cut
			out.StopReason = protocol.StopString
			break
		}
		if out.GeneratedTokens >= req.MaxNewTokens {
			break
		}
		if logits, err = m.Step(st, next); err != nil {
			return nil, nil, nil, fmt.Errorf("infer: %w", err)
		}
	}
	out.Text = text
	decodeDur := time.Since(tDecode)
	met := map[string]float64{
		"latency_ms":   ms(time.Since(start)),
		"vision_ms":    ms(visionDur),
		"prefill_ms":   ms(prefillDur),
		"decode_ms":    ms(decodeDur),
		"tokens_per_s": float64(out.GeneratedTokens) / decodeDur.Seconds(),
	}
	return out, met, map[string]string{"tokenizer": tokName, "timer": "wall_monotonic", "decoding": "greedy (first maximum)"}, nil
}

// isStop reports whether piece is one of the stop strings.
func isStop(piece string, stop []string) bool {
	for _, s := range stop {
		if piece == s {
			return true
		}
	}
	return false
}

// cutStop cuts text before the earliest stop string it contains.
func cutStop(text string, stop []string) (string, bool) {
	best := -1
	for _, s := range stop {
		if i := strings.Index(text, s); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		return text, false
	}
	return text[:best], true
}

// readPixels reads an image segment's tiles: PixelTensor as F32
// [tiles, 3, S, S].
func readPixels(im *protocol.ImageSegment, S int) ([]float32, error) {
	f, err := safetensors.Open(im.Path)
	if err != nil {
		return nil, fmt.Errorf("infer: image %s: %w", im.Path, err)
	}
	defer f.Close()
	info, ok := f.Header.Lookup(protocol.PixelTensor)
	if !ok {
		return nil, fmt.Errorf("infer: image %s has no %q tensor", im.Path, protocol.PixelTensor)
	}
	if info.DType != safetensors.F32 {
		return nil, fmt.Errorf("infer: image %s: %s is %s, want F32", im.Path, protocol.PixelTensor, info.DType)
	}
	want := []int64{int64(im.Tiles), 3, int64(S), int64(S)}
	if len(info.Shape) != 4 || info.Shape[0] != want[0] || info.Shape[1] != 3 || info.Shape[2] != want[2] || info.Shape[3] != want[3] {
		return nil, fmt.Errorf("infer: image %s: %s has shape %v, want %v (tiles from the request, tile size from the model config)", im.Path, protocol.PixelTensor, info.Shape, want)
	}
	pix, _, err := f.Float32(protocol.PixelTensor)
	if err != nil {
		return nil, fmt.Errorf("infer: image %s: %w", im.Path, err)
	}
	return pix, nil
}
