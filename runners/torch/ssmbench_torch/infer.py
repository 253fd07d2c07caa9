"""The infer request (standard library only): request checks, prompt, toy tokenizer, stop rules.

PROTOCOL.md, section "infer": one prompt in, one greedy answer out. This
module holds everything of it that needs no PyTorch, so that CI can test it
with a plain python3:

* parse_request() checks a request body as the Go side's
  InferRequest.Validate does (runners/protocol/infer.go), with the same
  messages;
* build_query() joins the segments, each image expanded to
  ``<img>`` + ``<IMG_CONTEXT>`` x (tokens per tile x tiles) + ``</img>``;
* ToyTokenizer is the byte-level tokenizer of models without one, bit for
  bit the Go runner's (runners/cpu/infer.go);
* Decoder applies the stop rules token by token and yields the output
  fields.

The model side (pixels, image embeddings, prefill, greedy decoding) is in
infer_torch.py.
"""

import os
import re

from .protocol import BadRequest

# Special strings of the internlm2-chat template and the image placeholder.
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
IMG_START = "<img>"
IMG_END = "</img>"
IMG_CONTEXT = "<IMG_CONTEXT>"

# Toy-tokenizer ids that do not depend on the vocabulary size.
TOY_UNK, TOY_BOS, TOY_EOS, TOY_BYTE0 = 0, 1, 2, 3

STOP_STRING = "stop"
STOP_LENGTH = "length"

PIXEL_TENSOR = "pixel_values"

# Files whose presence in a checkpoint directory means "this model has a real
# tokenizer" (the Go runner checks the same two).
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")

_SURROGATES = re.compile(u"[\ud800-\udfff]")


class Request(object):
    """A checked infer request."""

    __slots__ = ("segments", "max_new_tokens", "stop")

    def __init__(self, segments, max_new_tokens, stop):
        # segments: list of ("text", str) or ("image", path, tiles)
        self.segments, self.max_new_tokens, self.stop = segments, max_new_tokens, stop

    def images(self):
        """The image segments as (path, tiles), in prompt order."""
        return [(s[1], s[2]) for s in self.segments if s[0] == "image"]

    def total_tiles(self):
        """The tiles of all images."""
        return sum(t for _, t in self.images())


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_request(body):
    """Check an infer request body (the "infer" object of the message).

    Raises BadRequest naming the field, with the Go side's messages for the
    checks it makes (InferRequest.Validate).
    """
    if not isinstance(body, dict):
        raise BadRequest("protocol: infer must be an object")
    segs = body.get("segments")
    if segs is None or (isinstance(segs, list) and not segs):
        raise BadRequest("protocol: infer.segments is empty")
    if not isinstance(segs, list):
        raise BadRequest("protocol: infer.segments must be a list")
    out = []
    for i, s in enumerate(segs):
        if not isinstance(s, dict):
            raise BadRequest("protocol: infer.segments[%d] must be an object" % i)
        text, image = s.get("text"), s.get("image")
        if text is not None and not isinstance(text, str):
            raise BadRequest("protocol: infer.segments[%d].text must be a string" % i)
        if image is not None and not isinstance(image, dict):
            raise BadRequest("protocol: infer.segments[%d].image must be an object" % i)
        if image is not None and text:
            raise BadRequest("protocol: infer.segments[%d] has both text and image" % i)
        if image is None and not text:
            raise BadRequest("protocol: infer.segments[%d] has neither text nor image" % i)
        if image is None:
            out.append(("text", text))
            continue
        path = image.get("path")
        if not isinstance(path, str) or not path or not os.path.isabs(path):
            raise BadRequest("protocol: infer.segments[%d].image.path %s is not an absolute path"
                             % (i, _go_quote(path if isinstance(path, str) else "")))
        tiles = image.get("tiles")
        if not _is_int(tiles) or tiles < 1:
            raise BadRequest("protocol: infer.segments[%d].image.tiles must be >= 1, got %s" % (i, _fmt(tiles)))
        out.append(("image", path, tiles))
    mnt = body.get("max_new_tokens")
    if not _is_int(mnt) or mnt < 1:
        raise BadRequest("protocol: infer.max_new_tokens must be >= 1, got %s" % _fmt(mnt))
    stop = body.get("stop")
    if stop is None:
        stop = []
    if not isinstance(stop, list):
        raise BadRequest("protocol: infer.stop must be a list of strings")
    for i, s in enumerate(stop):
        if not isinstance(s, str):
            raise BadRequest("protocol: infer.stop[%d] must be a string" % i)
        if s == "":
            raise BadRequest("protocol: infer.stop[%d] is empty" % i)
    return Request(out, mnt, list(stop))


def _fmt(v):
    return "%d" % v if _is_int(v) else repr(v)


def _go_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(req, tokens_per_tile):
    """The prompt string: the segments joined, each image expanded (PROTOCOL.md, step 1)."""
    parts = []
    for s in req.segments:
        if s[0] == "text":
            parts.append(s[1])
        else:
            parts.append(IMG_START + IMG_CONTEXT * (tokens_per_tile * s[2]) + IMG_END)
    return "".join(parts)


def go_valid_utf8(b):
    """bytes -> str as Go's strings.ToValidUTF8(s, "\\uFFFD") does: one U+FFFD per run of invalid bytes.

    (Python's errors="replace" writes one per maximal invalid subsequence,
    so "\\xff\\xfe" would become two.)
    """
    b = bytes(b)
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out, i, n, invalid = [], 0, len(b), False
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            invalid = False
            continue
        w = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
        ch = None
        if w and i + w <= n:
            try:
                ch = b[i:i + w].decode("utf-8")  # strict: rejects overlong forms, surrogates, > U+10FFFF
            except UnicodeDecodeError:
                ch = None
        if ch is None:
            if not invalid:
                out.append(u"\ufffd")
                invalid = True
            i += 1
            continue
        out.append(ch)
        invalid = False
        i += w
    return "".join(out)


def _utf8(text):
    """The UTF-8 bytes of text; lone surrogates become U+FFFD (as Go's JSON decoder makes them)."""
    return _SURROGATES.sub(u"\ufffd", text).encode("utf-8")


class ToyTokenizer(object):
    """The byte-level tokenizer of models without one (PROTOCOL.md; runners/cpu/infer.go ToyTokenizer).

    0 <unk>, 1 <s> (BOS), 2 </s>, 3+b for each byte b, V-2 <|im_end|>,
    V-1 <|im_start|> (V = llm_config.vocab_size), V <img>, V+1 </img>,
    img_context_token_id <IMG_CONTEXT>. ids 259..V-3 are unused and decode
    to nothing.
    """

    name = "toy-bytes (runners/cpu/infer.go: BOS, byte tokens 3..258, chat and image specials)"

    def __init__(self, vocab, text_vocab, img_context):
        V = vocab
        if V < TOY_BYTE0 + 256 + 2:
            raise ValueError("toy tokenizer: llm vocab_size %d is below the %d ids it needs (3 + 256 bytes + 2 chat tokens)"
                             % (V, TOY_BYTE0 + 256 + 2))
        if text_vocab < V + 2:
            raise ValueError("toy tokenizer: llm_vocab_size %d leaves no room for <img> (%d) and </img> (%d)"
                             % (text_vocab, V, V + 1))
        c = img_context
        if (c < 0 or c >= text_vocab or c == V or c == V + 1 or TOY_UNK <= c < TOY_BYTE0 + 256
                or V - 2 <= c < V):
            raise ValueError("toy tokenizer: img_context_token_id %d collides with another token or is outside "
                             "the text vocabulary [0, %d)" % (c, text_vocab))
        self.special = {"<unk>": TOY_UNK, "<s>": TOY_BOS, "</s>": TOY_EOS, IM_END: V - 2, IM_START: V - 1,
                        IMG_START: V, IMG_END: V + 1, IMG_CONTEXT: c}
        self.pieces = {i: s for s, i in self.special.items()}
        # Longest first, then lexicographic (Go sorts byte strings; these are ASCII).
        names = sorted(self.special, key=lambda s: (-len(s), s))
        self._names = [(s.encode("ascii"), self.special[s]) for s in names]
        self.bos = TOY_BOS
        self.img_context = c

    def id(self, special):
        """The id of a special string, or None."""
        return self.special.get(special)

    def encode(self, text):
        """Token ids of text, without BOS."""
        b = _utf8(text)
        out, i, n = [], 0, len(b)
        lt = ord("<")
        while i < n:
            if b[i] == lt:
                for s, tid in self._names:
                    if b.startswith(s, i):
                        out.append(tid)
                        i += len(s)
                        break
                else:
                    out.append(TOY_BYTE0 + lt)
                    i += 1
                continue
            out.append(TOY_BYTE0 + b[i])
            i += 1
        return out

    def prompt_ids(self, query):
        """The prompt's ids: BOS, then encode(query)."""
        return [TOY_BOS] + self.encode(query)

    def piece(self, tid):
        """A token's text: a special string, a byte token's byte (latin-1), "" for an unused id."""
        if TOY_BYTE0 <= tid < TOY_BYTE0 + 256:
            return chr(tid - TOY_BYTE0)
        return self.pieces.get(tid, "")

    def stop_piece(self, tid):
        """The string compared with the stop strings: only special tokens (as the Go runner checks)."""
        if TOY_BYTE0 <= tid < TOY_BYTE0 + 256:
            return None
        return self.pieces.get(tid) or None

    def decode(self, ids):
        """Text of ids: byte tokens only (special and unused ids skipped), invalid UTF-8 as U+FFFD runs."""
        return go_valid_utf8(bytes(t - TOY_BYTE0 for t in ids if TOY_BYTE0 <= t < TOY_BYTE0 + 256))


def cut_stop(text, stop):
    """(text cut before the earliest stop string it contains, True), or (text, False)."""
    best = -1
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best < 0 or i < best):
            best = i
    if best < 0:
        return text, False
    return text[:best], True


class Decoder(object):
    """The stop rules of PROTOCOL.md step 5, fed one generated token at a time.

    tok needs stop_piece(id) (the token's string for the equality check, or
    None) and decode(ids) (skip_special_tokens). push() returns True once
    generation is over; then text, generated and stop_reason are final.
    """

    def __init__(self, tok, stop, max_new_tokens):
        self.tok, self.stop, self.max_new = tok, list(stop), max_new_tokens
        self.ids = []            # generated ids, the stop token excluded
        self.generated = 0       # greedy steps taken, the stop token included
        self.stop_reason = STOP_LENGTH
        self.text = ""
        self.done = False

    def push(self, tid):
        """Account for one generated token; True when generation must end."""
        if self.done:
            raise RuntimeError("Decoder.push after the end of generation")
        self.generated += 1
        piece = self.tok.stop_piece(tid) if self.stop else None
        if piece is not None and piece in self.stop:
            self.stop_reason, self.done = STOP_STRING, True
            self.text = self.tok.decode(self.ids)
            return True
        self.ids.append(tid)
        if self.stop:
            text = self.tok.decode(self.ids)
            cut, hit = cut_stop(text, self.stop)
            if hit:
                self.text, self.stop_reason, self.done = cut, STOP_STRING, True
                return True
        if self.generated >= self.max_new:
            self.done = True
            self.text = self.tok.decode(self.ids)
            return True
        return False

    def output(self, prompt_tokens, image_tokens):
        """The output object of the reply."""
        return {"text": self.text, "prompt_tokens": int(prompt_tokens), "image_tokens": int(image_tokens),
                "generated_tokens": self.generated, "stop_reason": self.stop_reason}


def has_tokenizer(directory):
    """The tokenizer file a checkpoint directory ships, or None."""
    if not directory:
        return None
    for f in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(directory, f)):
            return f
    return None
