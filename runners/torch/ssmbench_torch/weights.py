"""Model weights in the runtime layout: random from a seed, or from a checkpoint.

Every parameter of the checkpoint is held (vision path, text table,
tok_embeddings, output head), so the weight memory equals the real model's.
Layout changes relative to the checkpoint, each a permutation of the same
numbers (no extra memory):

* attention ``wqkv`` (InternLM2 packed, rows grouped by KV head) is stored as
  ``qkv`` with rows [all query heads | K heads | V heads]; q, k, v are views;
* ``feed_forward.w1`` and ``w3`` live in one ``w13`` [2I, H] (w1 then w3),
  w1 and w3 are views;
* ``conv1d.weight`` [C, 1, K] is stored as [C, K].
"""

import math

import torch

from . import config as cfgmod
from . import safetensors as st

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


class LayerWeights(object):
    """The parameters of one decoder layer (attributes depend on the kind)."""

    def __init__(self, layer):
        self.layer = layer
        self.kind = layer.kind


class Weights(object):
    """All parameters of one model in the runtime layout."""

    def __init__(self, cfg, dtype, device):
        self.cfg, self.dtype, self.device = cfg, dtype, torch.device(device)
        self.layers = []
        self.vision = {}
        self.source = ""
        self.absent = []  # checkpoint tensors that were absent and drawn at random

    def tensors(self):
        """Every stored checkpoint parameter (views resolved to their base), once."""
        seen, out = set(), []

        def add(t):
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                out.append(t)
        for t in (self.text_emb, self.tok_emb, self.final_norm, self.out_w):
            add(t)
        for t in self.vision.values():
            add(t)
        for lw in self.layers:
            for name in ("attn_norm", "ffn_norm", "w13", "w2", "qkv", "wo", "wz", "conv_w", "conv_b",
                         "dt_bias", "A_log", "norm_w", "o_proj"):
                add(getattr(lw, name, None))
        return out

    def param_count(self):
        """Number of checkpoint parameters held."""
        return sum(t.numel() for t in self.tensors())

    def nbytes(self):
        """Bytes of the checkpoint parameters held (the weight memory)."""
        return sum(t.numel() * t.element_size() for t in self.tensors())


def _alloc(w):
    """Allocate every tensor (uninitialised) in the runtime layout."""
    cfg, dt, dev = w.cfg, w.dtype, w.device
    H, I, d = cfg.hidden, cfg.intermediate, cfg.head_dim

    def e(*shape):
        return torch.empty(shape, dtype=dt, device=dev)
    w.text_emb = e(cfg.text_vocab, H)
    w.tok_emb = e(cfg.vocab, H)
    w.final_norm = e(H)
    w.out_w = e(cfg.vocab, H)
    p, g = cfg.patch_size, cfg.grid
    shuffle = int(round(1.0 / (cfg.downsample ** 2)))
    w.vision = {"patch_w": e(H, 3, p, p), "patch_b": e(H), "cls": e(1, 1, H), "pos": e(1, 1 + g * g, H),
                "proj0_w": e(H, shuffle * H), "proj0_b": e(H), "proj2_w": e(H, H), "proj2_b": e(H)}
    w.layers = []
    for layer in cfg.layers:
        lw = LayerWeights(layer)
        lw.attn_norm, lw.ffn_norm = e(H), e(H)
        lw.w13 = e(2 * I, H)
        lw.w1, lw.w3 = lw.w13[:I], lw.w13[I:]
        lw.w2 = e(H, I)
        if layer.kind == cfgmod.ATTENTION:
            nq, nk = cfg.heads * d, cfg.kv_heads * d
            lw.qkv = e(nq + 2 * nk, H)
            lw.q, lw.k, lw.v = lw.qkv[:nq], lw.qkv[nq:nq + nk], lw.qkv[nq + nk:]
            lw.wo = e(H, H)
        else:
            c = cfg.conv_channels
            lw.wz = e(sum(cfg.mamba_widths()), H)
            lw.conv_w = e(c, cfg.conv_kernel)
            lw.conv_b = e(c)
            lw.dt_bias, lw.A_log = e(cfg.heads), e(cfg.heads)
            lw.norm_w = e(d)
            lw.o_proj = e(H, H)
        w.layers.append(lw)


def _derive(w):
    """Derived per-layer constants (not checkpoint parameters): A = -exp(A_log) in fp32."""
    for lw in w.layers:
        if lw.kind == cfgmod.MAMBA2:
            lw.A = -torch.exp(lw.A_log.float())


def random_weights(cfg, dtype, device, seed):
    """All parameters drawn from a seeded generator, directly on the device in dtype."""
    w = Weights(cfg, TORCH_DTYPES[dtype], device)
    _alloc(w)
    gen = torch.Generator(device=w.device)
    gen.manual_seed(int(seed))
    H, I = cfg.hidden, cfg.intermediate

    def normal(t, std):
        t.normal_(0.0, std, generator=gen)

    def uniform(t, lo, hi):
        t.uniform_(lo, hi, generator=gen)
    normal(w.text_emb, 1.0)
    normal(w.tok_emb, 1.0)
    uniform(w.final_norm, 0.8, 1.2)
    normal(w.out_w, 1.0 / math.sqrt(H))
    for k, t in w.vision.items():
        fan_in = t[0].numel() if t.dim() > 1 and k.endswith("_w") else H
        normal(t, 1.0 / math.sqrt(max(fan_in, 1)) if k.endswith("_w") else 0.02)
    for lw in w.layers:
        uniform(lw.attn_norm, 0.8, 1.2)
        uniform(lw.ffn_norm, 0.8, 1.2)
        normal(lw.w13, 1.0 / math.sqrt(H))
        normal(lw.w2, 0.5 / math.sqrt(I))
        if lw.kind == cfgmod.ATTENTION:
            normal(lw.qkv, 1.0 / math.sqrt(H))
            normal(lw.wo, 0.5 / math.sqrt(H))
        else:
            normal(lw.wz, 1.0 / math.sqrt(H))
            normal(lw.conv_w, 0.5)
            normal(lw.conv_b, 0.1)
            # dt = softplus(dt_bias + w.h) around U(1e-3, 1e-1); A = -exp(A_log), A_log ~ U(0, log 16)
            dtv = torch.empty(cfg.heads, dtype=torch.float32, device=w.device).uniform_(
                math.log(1e-3), math.log(1e-1), generator=gen).exp_()
            lw.dt_bias.copy_(dtv + torch.log(-torch.expm1(-dtv)))
            uniform(lw.A_log, 0.0, math.log(16.0))
            uniform(lw.norm_w, 0.8, 1.2)
            normal(lw.o_proj, 0.5 / math.sqrt(H))
    _derive(w)
    w.source = "random(seed=%d)" % int(seed)
    return w


def _required_names(cfg):
    """Checkpoint names the text forward reads (the rest may be absent)."""
    optional_prefixes = ("embedding_model.vision_embeddings.", "embedding_model.pixel_shuffle_proj.",
                         "language_model.model.tok_embeddings.")
    return [n for n in cfg.param_shapes() if not n.startswith(optional_prefixes)]


def load_checkpoint(cfg, directory, dtype, device, log=None):
    """Read a Hugging Face-layout checkpoint (safetensors, optionally sharded).

    Names and shapes are those of mmmamba.md section 4.3. The vision path and
    tok_embeddings may be absent (they are not read for text tokens); they are
    then drawn at random so that the weight memory still matches, and a
    warning is logged. Unknown tensors are ignored with a warning.
    """
    index = st.checkpoint_index(directory)
    shapes = cfg.param_shapes()
    missing = [n for n in _required_names(cfg) if n not in index]
    if missing:
        raise st.SafetensorsError("%s: checkpoint lacks %d tensors, e.g. %s" % (directory, len(missing), ", ".join(missing[:4])))
    w = Weights(cfg, TORCH_DTYPES[dtype], device)
    _alloc(w)
    d, nkv, g, H = cfg.head_dim, cfg.kv_heads, cfg.group, cfg.hidden

    def get(name):
        info = index[name]
        want = tuple(shapes[name])
        if tuple(info.shape) != want:
            raise st.SafetensorsError("%s: tensor %r has shape %s, config wants %s" % (info.path, name, list(info.shape), list(want)))
        return st.load_tensor(info)

    def put(dst, name, fn=None):
        t = get(name)
        if fn is not None:
            t = fn(t)
        dst.copy_(t.to(dtype=dst.dtype).reshape(dst.shape))

    e = "embedding_model."
    put(w.text_emb, e + "llm_text_embeddings.weight")
    put(w.final_norm, "language_model.model.norm.weight")
    put(w.out_w, "language_model.output.weight")
    absent = []
    optional = [(w.tok_emb, "language_model.model.tok_embeddings.weight")]
    vmap = {"patch_w": "vision_embeddings.patch_embedding.weight", "patch_b": "vision_embeddings.patch_embedding.bias",
            "cls": "vision_embeddings.class_embedding", "pos": "vision_embeddings.position_embedding",
            "proj0_w": "pixel_shuffle_proj.0.weight", "proj0_b": "pixel_shuffle_proj.0.bias",
            "proj2_w": "pixel_shuffle_proj.2.weight", "proj2_b": "pixel_shuffle_proj.2.bias"}
    optional += [(w.vision[k], e + v) for k, v in vmap.items()]
    gen = torch.Generator(device=w.device)
    gen.manual_seed(0)
    for dst, name in optional:
        if name in index:
            put(dst, name)
        else:
            absent.append(name)
            dst.normal_(0.0, 0.02, generator=gen)

    def unpack_wqkv(t):
        W = t.reshape(nkv, g + 2, d, H)
        return torch.cat((W[:, :g].reshape(nkv * g * d, H), W[:, g].reshape(nkv * d, H), W[:, g + 1].reshape(nkv * d, H)))
    for lw in w.layers:
        pre = lw.layer.prefix + "."
        put(lw.attn_norm, pre + "attention_norm.weight")
        put(lw.ffn_norm, pre + "ffn_norm.weight")
        put(lw.w1, pre + "feed_forward.w1.weight")
        put(lw.w3, pre + "feed_forward.w3.weight")
        put(lw.w2, pre + "feed_forward.w2.weight")
        if lw.kind == cfgmod.ATTENTION:
            put(lw.qkv, pre + "attention.wqkv.weight", unpack_wqkv)
            put(lw.wo, pre + "attention.wo.weight")
        else:
            a = pre + "attention."
            put(lw.wz, a + "wvkqgdt.weight")
            put(lw.conv_w, a + "conv1d.weight")
            put(lw.conv_b, a + "conv1d.bias")
            put(lw.dt_bias, a + "dt_bias")
            put(lw.A_log, a + "A_log_bias")
            put(lw.norm_w, a + "g_norm_swish_gate.weight")
            put(lw.o_proj, a + "o_proj.weight")
    unknown = [n for n in index if n not in shapes and not n.endswith("special_text_embeddings.weight")]
    if log is not None:
        if absent:
            log("warn", "%s: %d optional tensors absent (random instead, not read for text): %s"
                % (directory, len(absent), ", ".join(absent[:3])))
        if unknown:
            log("warn", "%s: ignored %d unknown tensors, e.g. %s" % (directory, len(unknown), ", ".join(unknown[:3])))
    _derive(w)
    w.absent = absent  # optional tensors drawn at random (infer refuses images without the vision path)
    w.source = "safetensors(%s)" % directory
    return w


def export_checkpoint(w):
    """The weights as an OrderedDict in checkpoint names and layout (wqkv packed again)."""
    from collections import OrderedDict
    cfg = w.cfg
    d, nkv, g, H = cfg.head_dim, cfg.kv_heads, cfg.group, cfg.hidden
    out = OrderedDict()
    e = "embedding_model."
    vmap = {"patch_w": "vision_embeddings.patch_embedding.weight", "patch_b": "vision_embeddings.patch_embedding.bias",
            "cls": "vision_embeddings.class_embedding", "pos": "vision_embeddings.position_embedding",
            "proj0_w": "pixel_shuffle_proj.0.weight", "proj0_b": "pixel_shuffle_proj.0.bias",
            "proj2_w": "pixel_shuffle_proj.2.weight", "proj2_b": "pixel_shuffle_proj.2.bias"}
    for k, v in vmap.items():
        out[e + v] = w.vision[k]
    out[e + "llm_text_embeddings.weight"] = w.text_emb
    for lw in w.layers:
        pre = lw.layer.prefix + "."
        out[pre + "attention_norm.weight"] = lw.attn_norm
        out[pre + "ffn_norm.weight"] = lw.ffn_norm
        out[pre + "feed_forward.w1.weight"] = lw.w1
        out[pre + "feed_forward.w3.weight"] = lw.w3
        out[pre + "feed_forward.w2.weight"] = lw.w2
        if lw.kind == cfgmod.ATTENTION:
            q = lw.q.reshape(nkv, g, d, H)
            k = lw.k.reshape(nkv, 1, d, H)
            v = lw.v.reshape(nkv, 1, d, H)
            out[pre + "attention.wqkv.weight"] = torch.cat((q, k, v), dim=1).reshape(-1, H)
            out[pre + "attention.wo.weight"] = lw.wo
        else:
            a = pre + "attention."
            out[a + "wvkqgdt.weight"] = lw.wz
            out[a + "conv1d.weight"] = lw.conv_w.unsqueeze(1)
            out[a + "conv1d.bias"] = lw.conv_b
            out[a + "dt_bias"] = lw.dt_bias
            out[a + "A_log_bias"] = lw.A_log
            out[a + "g_norm_swish_gate.weight"] = lw.norm_w
            out[a + "o_proj.weight"] = lw.o_proj
    out["language_model.model.tok_embeddings.weight"] = w.tok_emb
    out["language_model.model.norm.weight"] = w.final_norm
    out["language_model.output.weight"] = w.out_w
    return out
