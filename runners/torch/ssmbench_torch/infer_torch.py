"""The model side of the infer request: pixels, image embeddings, prefill, greedy decoding.

PROTOCOL.md, section "infer", as model.chat() runs it with greedy decoding:
tokenize the prompt (the checkpoint's tokenizer, else the toy tokenizer of
infer.py), embed the tiles of every image segment with the vision path
(ops.vision_embed: patch embedding, class + position embeddings, class token
dropped, pixel shuffle v2, projection with exact GELU), put them over the
``<IMG_CONTEXT>`` positions' text embeddings, prefill the whole prompt in one
pass, then take the argmax of the last logits (first maximum on ties) and
feed it back one step at a time through the loaded runtime's decode step
(static caches with or without the CUDA graph, or transformers' layers with a
DynamicCache) until a stop rule or max_new_tokens.

Every request starts from fresh state: the prefill writes every cache
position and Mamba state that a later decode step reads. The caches of the
static runtime are kept between infer requests while they are large enough
(so the CUDA graph is captured once, not per item) and freed before a cell.
"""

import time

import torch
import torch.nn.functional as F

from . import infer as I
from . import ops
from . import safetensors as st
from .protocol import BadRequest, RunnerError, STATUS_ERROR, Unsupported

# Cache capacities grow in steps of this many tokens, so that prompts of
# similar length share one allocation and one captured graph.
CAPACITY_STEP = 1024


class HFTokenizer(object):
    """The checkpoint's own tokenizer through transformers (InternLM2's tokenization_internlm2.py)."""

    def __init__(self, directory, filename):
        try:
            from transformers import AutoTokenizer
        except Exception as e:  # noqa: BLE001
            raise Unsupported("infer: %s ships a tokenizer (%s) but transformers is not importable here (%s: %s)"
                              % (directory, filename, type(e).__name__, e))
        try:
            self.tk = AutoTokenizer.from_pretrained(directory, trust_remote_code=True, use_fast=False)
        except Exception as e:  # noqa: BLE001
            raise Unsupported("infer: cannot load the tokenizer of %s (%s: %s)" % (directory, type(e).__name__, e))
        self.name = "%s (%s, %s)" % (type(self.tk).__name__, filename, directory)
        self.img_context = self._special_id(I.IMG_CONTEXT)

    def _special_id(self, s):
        tid = self.tk.convert_tokens_to_ids(s)
        if tid is None or tid == getattr(self.tk, "unk_token_id", None):
            raise Unsupported("infer: the tokenizer has no %s token" % s)
        return int(tid)

    def prompt_ids(self, query):
        return [int(t) for t in self.tk(query).input_ids]

    def stop_piece(self, tid):
        return self.tk.convert_ids_to_tokens(int(tid))

    def decode(self, ids):
        return self.tk.decode(ids, skip_special_tokens=True)


def make_tokenizer(cfg, ckpt_dir):
    """The tokenizer for a loaded model: the checkpoint's (a directory with tokenizer files), else the toy one."""
    f = I.has_tokenizer(ckpt_dir)
    if f is not None:
        return HFTokenizer(ckpt_dir, f)
    try:
        return I.ToyTokenizer(cfg.vocab, cfg.text_vocab, cfg.img_context_tok)
    except ValueError as e:
        raise Unsupported("infer: %s" % e)


def read_pixels(path, tiles, size):
    """pixel_values of one image file as a CPU float32 tensor [tiles, 3, S, S] (the file is only read)."""
    try:
        infos, _ = st.read_header(path)
    except (OSError, st.SafetensorsError) as e:
        raise BadRequest("infer: image %s: %s" % (path, e))
    info = infos.get(I.PIXEL_TENSOR)
    if info is None:
        raise BadRequest("infer: image %s has no %r tensor" % (path, I.PIXEL_TENSOR))
    if info.dtype != "F32":
        raise BadRequest("infer: image %s: %s is %s, want F32" % (path, I.PIXEL_TENSOR, info.dtype))
    want = [tiles, 3, size, size]
    if list(info.shape) != want:
        raise BadRequest("infer: image %s: %s has shape %s, want %s (tiles from the request, tile size from the model config)"
                         % (path, I.PIXEL_TENSOR, list(info.shape), want))
    try:
        return st.load_tensor(info).clone()
    except (OSError, st.SafetensorsError) as e:
        raise BadRequest("infer: image %s: %s" % (path, e))


class Inferencer(object):
    """Answers infer requests for one loaded model (TorchBackend owns one per load)."""

    def __init__(self, be):
        self.be, self.w, self.rt, self.cfg = be, be.model, be.runtime, be.model.cfg
        self.device = self.w.device
        self.cuda = self.device.type == "cuda"
        self.ckpt_dir = be.load_req.get("ckpt_dir") or ""
        self.tok = None

    def tokenizer(self):
        if self.tok is None:
            self.tok = make_tokenizer(self.cfg, self.ckpt_dir)
        return self.tok

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def _prepare(self, need):
        """Caches for `need` tokens; the static runtime's allocation (and graph) is reused while large enough."""
        rt = self.rt
        if getattr(rt, "keeps_caches", False):  # StaticRuntime
            if not (rt.batch == 1 and rt.capacity >= need):
                rt.alloc(1, -(-need // CAPACITY_STEP) * CAPACITY_STEP)
            if rt.graph is None:
                rt.prepare_steps()  # captures the decode step when the CUDA graph is on, else nothing
            return rt.capacity
        rt.alloc(1, need)  # HFRuntime: a fresh DynamicCache at every prefill
        return need

    def embed_images(self, req):
        """Image embeddings [n_tiles * tokens_per_tile, H] of all image segments, in order (None without images)."""
        imgs = req.images()
        if not imgs:
            return None
        absent = [n for n in getattr(self.w, "absent", ()) if "vision_embeddings" in n or "pixel_shuffle_proj" in n]
        if absent:
            raise Unsupported("infer: the checkpoint lacks the vision path (%s ...): images cannot be embedded" % absent[0])
        S = self.cfg.image_size
        pix = torch.cat([read_pixels(p, t, S) for p, t in imgs], dim=0)
        pix = pix.to(device=self.device, dtype=self.w.dtype)
        return ops.vision_embed(pix, self.w.vision, self.cfg).reshape(-1, self.cfg.hidden)

    def infer(self, body):
        """(output, metrics, info) for one infer request body."""
        req = I.parse_request(body)
        tok = self.tokenizer()  # loaded once, before the clock starts
        t0 = time.perf_counter()
        cfg, w, rt = self.cfg, self.w, self.rt
        per = cfg.image_tokens_per_tile
        query = I.build_query(req, per)
        ids = tok.prompt_ids(query)
        T = len(ids)
        bad = [t for t in ids if not 0 <= t < cfg.text_vocab]
        if bad:
            raise RunnerError(STATUS_ERROR, "infer: the prompt has token id %d outside the text vocabulary [0, %d)"
                              % (bad[0], cfg.text_vocab))
        ctx = tok.img_context
        n_ctx = sum(1 for t in ids if t == ctx)
        want = per * req.total_tiles()
        if n_ctx != want:
            raise BadRequest("infer: the prompt has %d <IMG_CONTEXT> tokens (id %d) for %d image embeddings "
                             "(%d tiles x %d); does a text segment contain <IMG_CONTEXT>?"
                             % (n_ctx, ctx, want, req.total_tiles(), per))
        capacity = self._prepare(T + req.max_new_tokens)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

        tv = time.perf_counter()
        ids_t = torch.tensor([ids], dtype=torch.int64, device=self.device)
        x = F.embedding(ids_t, w.text_emb)
        img = self.embed_images(req)
        if img is not None:
            x[0, ids_t[0] == ctx] = img.to(x.dtype)
        del img
        self._sync()
        tp = time.perf_counter()

        logits = rt.prefill(None, embeds=x)
        del x
        nxt = int(torch.argmax(logits[0, -1].float()))
        del logits
        td = time.perf_counter()

        dec = I.Decoder(tok, req.stop, req.max_new_tokens)
        pos = T
        nxt_t = torch.zeros(1, dtype=torch.int64, device=self.device)
        while not dec.push(nxt):
            nxt_t.fill_(nxt)
            rt.set_next(nxt_t, pos)
            logits = rt.step()
            nxt = int(torch.argmax(logits.reshape(-1).float()))
            pos += 1
        logits = None
        t1 = time.perf_counter()
        if not getattr(rt, "keeps_caches", False):
            rt.free()  # drop the DynamicCache
        out = dec.output(T, n_ctx)
        dms = (t1 - td) * 1e3
        met = {"latency_ms": (t1 - t0) * 1e3, "vision_ms": (tp - tv) * 1e3, "prefill_ms": (td - tp) * 1e3,
               "decode_ms": dms, "tokens_per_s": dec.generated / max(t1 - td, 1e-9)}
        if self.cuda:
            met["alloc_peak_bytes"] = float(torch.cuda.max_memory_allocated(self.device))
        info = {"tokenizer": tok.name, "decoding": "greedy (first maximum)",
                "timer": "wall_perf_counter" + (" (host sync per token)" if self.cuda else ""),
                "img_context_token_id": str(ctx), "cache_capacity_tokens": str(capacity)}
        return out, met, info
