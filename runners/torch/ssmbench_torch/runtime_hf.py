"""HoVLE as the seed ran it: Hugging Face transformers layers, eager, growing cache.

The model is built from transformers' own Llama modules, shaped like HoVLE:
32 ``LlamaDecoderLayer`` (GQA 16/8, SwiGLU, RMSNorm) with SDPA attention,
driven token by token in an eager Python loop with the library's
``DynamicCache`` (grown by concatenation), no CUDA graph. HoVLE's two parts
use two RoPE bases (MODEL.md), so there are two ``LlamaRotaryEmbedding``
instances: one for the 8 embedding-module layers (embedding_config.rope_theta)
and one for the 24 LLM layers (llm_config.rope_theta); each layer gets the
(cos, sin) of its part. No dynamic-NTK scaling (MODEL.md).

The layers' parameters are views of the shared Weights (no copies), so the
weight memory is the checkpoint's.
"""

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from . import config as cfgmod
from . import ops


def _llama_config(cfg, theta, n_layers, dtype):
    from transformers import LlamaConfig
    common = dict(vocab_size=cfg.vocab, hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
                  num_hidden_layers=n_layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
                  hidden_act="silu", max_position_embeddings=1 << 20, rms_norm_eps=cfg.norm_eps,
                  tie_word_embeddings=False, attention_bias=False, head_dim=cfg.head_dim)
    hc = None
    errors = []
    for extra in ({"rope_parameters": {"rope_type": "default", "rope_theta": float(theta)}},
                  {"rope_theta": float(theta), "rope_scaling": None}):
        try:
            hc = LlamaConfig(**dict(common, **extra))
            break
        except (TypeError, ValueError) as e:
            errors.append(str(e))
    if hc is None:
        raise RuntimeError("cannot build a LlamaConfig: %s" % "; ".join(errors))
    for setter in (lambda: setattr(hc, "_attn_implementation", "sdpa"),
                   lambda: setattr(hc, "_attn_implementation_internal", "sdpa")):
        try:
            setter()
            if getattr(hc, "_attn_implementation", None) == "sdpa":
                break
        except Exception:  # noqa: BLE001 - try the next spelling
            pass
    if getattr(hc, "_attn_implementation", None) != "sdpa":
        raise RuntimeError("cannot select SDPA attention in transformers' LlamaConfig")
    return hc


def _set_param(module, name, tensor):
    try:
        setattr(module, name, nn.Parameter(tensor, requires_grad=False))
    except Exception:  # noqa: BLE001 - a plain tensor attribute works for Linear/RMSNorm
        delattr(module, name)
        setattr(module, name, tensor)


class HFRuntime(object):
    """Eager HoVLE through transformers' Llama layers with a DynamicCache."""

    def __init__(self, w, opts, log):
        import transformers
        from transformers.models.llama import modeling_llama as ml
        self.w, self.cfg, self.log = w, w.cfg, log
        self.device, self.dtype = w.device, w.dtype
        self.transformers_version = transformers.__version__
        cfg = self.cfg
        if cfg.count_kind(cfgmod.MAMBA2):
            raise ValueError("the transformers runtime is for all-attention models (HoVLE)")
        L = len(cfg.layers)
        self.hcfg = _llama_config(cfg, cfg.rope_theta_llm, L, self.dtype)
        hcfg_emb = _llama_config(cfg, cfg.rope_theta_emb, L, self.dtype)
        meta = torch.device("meta")
        with meta:
            layers = [ml.LlamaDecoderLayer(self.hcfg, layer_idx=i) for i in range(L)]
            norm = ml.LlamaRMSNorm(cfg.hidden, eps=cfg.norm_eps)
        for layer, lw in zip(layers, w.layers):
            a, m = layer.self_attn, layer.mlp
            _set_param(a.q_proj, "weight", lw.q)
            _set_param(a.k_proj, "weight", lw.k)
            _set_param(a.v_proj, "weight", lw.v)
            _set_param(a.o_proj, "weight", lw.wo)
            _set_param(m.gate_proj, "weight", lw.w1)
            _set_param(m.up_proj, "weight", lw.w3)
            _set_param(m.down_proj, "weight", lw.w2)
            _set_param(layer.input_layernorm, "weight", lw.attn_norm)
            _set_param(layer.post_attention_layernorm, "weight", lw.ffn_norm)
        _set_param(norm, "weight", w.final_norm)
        self.layers = nn.ModuleList(layers).eval()
        self.norm = norm.eval()
        for n, t in list(self.layers.named_parameters()) + list(self.layers.named_buffers()):
            if t.device.type == "meta":
                raise RuntimeError("transformers layer tensor %s was not replaced" % n)
        self.rot_emb = ml.LlamaRotaryEmbedding(config=hcfg_emb).to(self.device)
        self.rot_llm = ml.LlamaRotaryEmbedding(config=self.hcfg).to(self.device)
        for rot, th in ((self.rot_emb, cfg.rope_theta_emb), (self.rot_llm, cfg.rope_theta_llm)):
            want = ops.rope_inv_freq(th, cfg.head_dim, self.device).float()
            got = rot.inv_freq.float()
            if got.shape != want.shape or (got - want).abs().max().item() > 1e-6 * want.abs().max().item():
                raise RuntimeError("transformers' rotary embedding does not use theta %g" % th)
            if float(getattr(rot, "attention_scaling", 1.0)) != 1.0:
                raise RuntimeError("transformers' rotary embedding scales attention")
        self.n_emb = cfg.n_emb_layers
        params = inspect.signature(ml.LlamaDecoderLayer.forward).parameters
        self.cache_kw = "past_key_values" if "past_key_values" in params else "past_key_value"
        self.cache = None
        self.batch = 0
        self.sync_each = opts.get("decode_sync", "on") == "on"
        self.next_tok = None
        self.base_len = 0

    def info(self):
        return {
            "runtime": "hf-transformers-eager",
            "transformers": self.transformers_version,
            "cuda_graph": "off",
            "cache_layout": "DynamicCache (torch.cat per step)",
            "attention_prefill": "transformers sdpa (is_causal)",
            "attention_decode": "transformers sdpa",
            "rope": "2 x LlamaRotaryEmbedding (theta %g emb, %g llm)" % (self.cfg.rope_theta_emb, self.cfg.rope_theta_llm),
            "mlp_kernel": "transformers LlamaMLP",
            "norm_kernel": "transformers LlamaRMSNorm",
            "sampling": "argmax outside model",
            "decode_sync": "per step" if self.sync_each else "none",
        }

    def _new_cache(self):
        from transformers import DynamicCache
        try:
            return DynamicCache(config=self.hcfg)
        except TypeError:
            return DynamicCache()

    def _forward(self, x, start, all_logits=False):
        B, T, _ = x.shape
        pos = torch.arange(start, start + T, device=self.device)
        pos_ids = pos.unsqueeze(0).expand(B, T)
        pe_emb = self.rot_emb(x, pos_ids)
        pe_llm = self.rot_llm(x, pos_ids)
        for i, layer in enumerate(self.layers):
            kw = {self.cache_kw: self.cache}
            out = layer(x, attention_mask=None, position_ids=pos_ids, use_cache=True, cache_position=pos,
                        position_embeddings=pe_emb if i < self.n_emb else pe_llm, **kw)
            x = out[0] if isinstance(out, tuple) else out
        xs = x if all_logits else x[:, -1:]
        return F.linear(self.norm(xs), self.w.out_w)

    # ---- the runtime interface shared with StaticRuntime ------------------------
    def alloc(self, batch, capacity):
        self.free()
        self.batch = batch

    def free(self):
        self.cache = None
        self.next_tok = None

    def state_bytes(self):
        if self.cache is None:
            return 0
        n = 0
        for layer in getattr(self.cache, "layers", []):
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if t is not None:
                    n += t.numel() * t.element_size()
        return n

    def prefill(self, tokens=None, embeds=None, all_logits=False):
        """A fresh DynamicCache filled by a forward pass from position 0."""
        x = embeds if embeds is not None else F.embedding(tokens, self.w.text_emb)
        self.cache = None
        self.cache = self._new_cache()
        return self._forward(x, 0, all_logits)

    def synth_fill(self, n, gen):
        """A DynamicCache holding n random keys/values per layer."""
        self.cache = self._new_cache()
        cfg = self.cfg
        for i in range(len(self.layers)):
            k = torch.empty(self.batch, cfg.kv_heads, n, cfg.head_dim, dtype=self.dtype, device=self.device)
            v = torch.empty_like(k)
            k.normal_(0.0, 1.0, generator=gen)
            v.normal_(0.0, 1.0, generator=gen)
            self.cache.update(k, v, i)
            del k, v

    def set_next(self, tok, pos):
        self.next_tok = tok.view(-1, 1).to(torch.int64).clone()
        self.base_len = int(pos)
        self.pos = int(pos)

    def prepare_steps(self):
        pass

    def after_prefill_rep(self):
        """Drop the cache a prefill or generate repetition built."""
        self.cache = None

    def snapshot(self):
        self.snap = (self.next_tok.clone(), self.pos)

    def rewind(self):
        """Crop the cache back to the snapshot's length (the step re-runs at the same position)."""
        tok, pos = self.snap
        self.cache.crop(pos)
        self.next_tok = tok.clone()
        self.pos = pos

    def step(self):
        x = F.embedding(self.next_tok, self.w.text_emb)
        logits = self._forward(x, self.pos)
        return logits[:, -1]

    def sample(self, logits):
        self.next_tok = torch.argmax(logits.float(), dim=-1, keepdim=True)
        self.pos += 1
        if self.sync_each:
            int(self.next_tok[0, 0])  # host sync per token, as transformers' generate does
