"""The static-cache runtime: preallocated caches, one-token decode step in a CUDA graph.

Two styles share this code:

* ``paper`` -- mmMamba as its own code runs (HF ``modeling_mmMamba*.py`` with
  mamba_ssm's ``update_graph_cache``): caches preallocated to the maximum
  length, the hybrid's attention layers writing into a KV buffer of shape
  (B, max_len, 2, nkv, d), the decode step captured in a CUDA graph, sampling
  outside the graph. Layer ops are plain PyTorch (RMSNorm, SwiGLU, RoPE, conv
  update, gated norm) except the two that mmMamba runs as Triton/CUDA kernels:
  the SSM state update (mamba_ssm's selective_state_update; here ours,
  kernels.ssm_update) and the decode attention (flash_attn_with_kvcache; here
  our split-KV kernel reading the same interleaved buffer).
* ``matched`` -- our optimised runtime for all three variants: K and V caches
  of shape (B, nkv, max_len, d), fused Triton kernels (add+RMSNorm, SwiGLU,
  RoPE+KV write, split-KV GQA attention, fused Mamba-2 decode step), fused
  gate/up projection, sampling inside the graph, prefill processed in token
  segments (bounded activation memory).

Any Triton kernel that is unavailable (CPU, no Triton) or fails its check at
load falls back to the PyTorch op; info() says which ran.
"""

import torch
import torch.nn.functional as F

from . import config as cfgmod
from . import kernels as K
from . import ops


_WARMUP_STREAMS = {}


def warmup_stream(device):
    """One side stream per device for the pre-capture warm-up runs.

    cuBLAS keeps a workspace per (handle, stream); a fresh stream per capture
    would leak one workspace (tens of MiB) per cell and inflate the memory
    measured by later cells.
    """
    key = str(device)
    if key not in _WARMUP_STREAMS:
        _WARMUP_STREAMS[key] = torch.cuda.Stream(device=device)
    return _WARMUP_STREAMS[key]


class StaticRuntime(object):
    """Prefill and decode over preallocated caches for one model."""

    keeps_caches = True  # with cache_alloc=load the caches (and graph) outlive a cell

    def __init__(self, w, style, opts, kernels_ok, log):
        self.w, self.cfg, self.style, self.log = w, w.cfg, style, log
        self.device, self.dtype = w.device, w.dtype
        self.cuda = self.device.type == "cuda"
        self.use_graph = self.cuda and opts.get("cuda_graph", "on") == "on"
        self.kv_layout = "interleaved" if style == "paper" else "split"
        self.ssm_dtype = opts["ssm_state_torch_dtype"]
        self.segment = int(opts.get("prefill_segment", 0))
        self.ssd_segment = int(opts.get("ssd_segment", 16384))
        self.sync_each = opts.get("decode_sync", "on" if style == "paper" else "off") == "on"
        cfg = self.cfg
        self.inv_freq = {}
        for th in (cfg.rope_theta_emb, cfg.rope_theta_llm):
            self.inv_freq[th] = ops.rope_inv_freq(th, cfg.head_dim, self.device)
        self.layer_theta = [cfg.rope_theta_emb if l.part == "embedding" else cfg.rope_theta_llm for l in cfg.layers]
        ok = set(kernels_ok) if (self.cuda and K.AVAILABLE) else set()
        # Which ops run as Triton kernels.
        self.k_attn = "attn" in ok and (self.kv_layout == "split" or "attn_interleaved" in ok)
        self.k_state_passing = "state_passing" in ok
        if style == "matched":
            self.k_norm = "add_rmsnorm" in ok
            self.k_swiglu = "swiglu" in ok
            self.k_rope = "rope_kv" in ok
            self.k_mamba = "mamba_fused" in ok and cfg.conv_kernel == 2
            self.k_ssm = False
        else:
            self.k_norm = self.k_swiglu = self.k_rope = self.k_mamba = False
            self.k_ssm = "ssm_update" in ok
        self.scale = ops.attn_scale(cfg.head_dim)
        self.batch = self.capacity = 0
        self.graph = None
        self._reset_cell_state()

    # ---- description ----------------------------------------------------------
    def info(self):
        cfg = self.cfg
        has_attn = cfg.count_kind(cfgmod.ATTENTION) > 0
        has_mamba = cfg.count_kind(cfgmod.MAMBA2) > 0
        i = {
            "runtime": "static-%s" % self.style,
            "cuda_graph": "on" if self.use_graph else "off",
            "cache_layout": ("(B,max_len,2,nkv,d) interleaved" if self.kv_layout == "interleaved"
                             else "K,V (B,nkv,max_len,d)") if has_attn else "none",
            "attention_prefill": ("torch-sdpa" if ops.HAS_SDPA else "torch-manual") if has_attn else "none",
            "attention_decode": ("triton-split-kv-gqa" if self.k_attn else "torch-masked-full") if has_attn else "none",
            "mamba_decode": (("triton-fused-conv-ssm-norm" if self.k_mamba else "torch")
                             if self.style == "matched" else
                             ("torch-conv + triton-ssm-update + torch-gated-norm" if self.k_ssm else "torch"))
            if has_mamba else "none",
            "mamba_prefill": ("torch-chunked-ssd(chunk=%d)+%s-state-passing" % (cfg.chunk_size, "triton" if self.k_state_passing else "torch"))
            if has_mamba else "none",
            "ssm_state_dtype": str(self.ssm_dtype).replace("torch.", ""),
            "norm_kernel": "triton-fused-add-rmsnorm" if self.k_norm else "torch",
            "mlp_kernel": ("fused-w13 + triton-swiglu" if self.k_swiglu else "fused-w13 + torch-swiglu")
            if self.style == "matched" else "torch (w1, w3, w2 separate)",
            "rope_kernel": "triton-rope-kv-write" if self.k_rope else "torch (angles float64)",
            "sampling": "argmax inside graph" if self.style == "matched" else "argmax outside graph",
            "decode_sync": "per step" if self.sync_each else "none",
            "prefill_segment": str(self.segment) if self.segment else "whole sequence",
            "mamba_prefill_segment": (lambda n: str(n) if n else "whole sequence")(
                self.segment if self.style == "matched" else self.ssd_segment),
        }
        return i

    # ---- cell state -------------------------------------------------------------
    def _reset_cell_state(self):
        self.kv = {}          # layer index -> (buf or None, K view, V view)
        self.conv = {}        # layer index -> conv state [B, C, K-1]
        self.ssm = {}         # layer index -> ssm state [B, h, P, N]
        self.tok = self.pos = self.seqlen = None
        self.plan = None
        self.graph = None
        self.graph_out = None
        self.snap = None
        self.batch = self.capacity = 0

    def alloc(self, batch, capacity):
        """Allocate caches and decode buffers for batch sequences of up to capacity tokens."""
        self.free()
        cfg, dev, dt = self.cfg, self.device, self.dtype
        nkv, d = cfg.kv_heads, cfg.head_dim
        for li, l in enumerate(cfg.layers):
            if l.kind == cfgmod.ATTENTION:
                if self.kv_layout == "interleaved":
                    buf = torch.zeros(batch, capacity, 2, nkv, d, dtype=dt, device=dev)
                    self.kv[li] = (buf, buf[:, :, 0].permute(0, 2, 1, 3), buf[:, :, 1].permute(0, 2, 1, 3))
                else:
                    self.kv[li] = (None, torch.zeros(batch, nkv, capacity, d, dtype=dt, device=dev),
                                   torch.zeros(batch, nkv, capacity, d, dtype=dt, device=dev))
            else:
                self.conv[li] = torch.zeros(batch, cfg.conv_channels, cfg.conv_kernel - 1, dtype=dt, device=dev)
                self.ssm[li] = torch.zeros(batch, cfg.heads, cfg.head_dim, cfg.d_state, dtype=self.ssm_dtype, device=dev)
        self.tok = torch.zeros(batch, dtype=torch.int64, device=dev)
        self.pos = torch.zeros(1, dtype=torch.int64, device=dev)
        self.seqlen = torch.zeros(batch, dtype=torch.int32, device=dev)
        if self.k_attn and self.kv:
            self.plan = K.SplitPlan(batch, cfg.heads, nkv, d, capacity, dev)
        self.batch, self.capacity = batch, capacity

    def free(self):
        """Drop the cell's caches, graph and buffers."""
        self._reset_cell_state()

    def state_bytes(self):
        """Bytes of the allocated KV caches and Mamba states."""
        n = 0
        for buf, k, v in self.kv.values():
            n += buf.numel() * buf.element_size() if buf is not None else 2 * k.numel() * k.element_size()
        for t in list(self.conv.values()) + list(self.ssm.values()):
            n += t.numel() * t.element_size()
        return n

    # ---- prefill ----------------------------------------------------------------
    def prefill(self, tokens=None, embeds=None, all_logits=False):
        """Forward a prompt from position 0, filling the caches. Returns logits [B, T or 1, V]."""
        w, cfg = self.w, self.cfg
        x = embeds if embeds is not None else F.embedding(tokens, w.text_emb)
        B, T, _ = x.shape
        if T > self.capacity or B != self.batch:
            raise ValueError("prefill of %d x %d tokens exceeds the allocated %d x %d" % (B, T, self.batch, self.capacity))
        pos = torch.arange(T, device=self.device)
        cs = {th: ops.rope_cos_sin(pos, inv) for th, inv in self.inv_freq.items()}
        eps = cfg.norm_eps
        for li, lw in enumerate(w.layers):
            h = ops.rms_norm(x, lw.attn_norm, eps)
            if lw.kind == cfgmod.ATTENTION:
                x = x + self._attn_prefill(li, lw, h, cs[self.layer_theta[li]])
            else:
                x = x + self._mamba_prefill(li, lw, h)
            del h
            x = self._mlp_prefill(x, lw)
        xs = x if all_logits else x[:, -1:]
        return F.linear(ops.rms_norm(xs, w.final_norm, eps), w.out_w)

    def _attn_prefill(self, li, lw, h, cs):
        cfg = self.cfg
        B, T, _ = h.shape
        nh, nkv, d = cfg.heads, cfg.kv_heads, cfg.head_dim
        qkv = F.linear(h, lw.qkv)
        q = qkv[..., :nh * d].view(B, T, nh, d)
        k = qkv[..., nh * d:(nh + nkv) * d].view(B, T, nkv, d)
        v = qkv[..., (nh + nkv) * d:].view(B, T, nkv, d)
        cos, sin = cs[0].view(1, T, 1, d // 2), cs[1].view(1, T, 1, d // 2)
        q, k = ops.apply_rope(q, cos, sin), ops.apply_rope(k, cos, sin)
        buf, kc, vc = self.kv[li]
        if buf is not None:
            buf[:, :T, 0] = k
            buf[:, :T, 1] = v
        else:
            kc[:, :, :T] = k.transpose(1, 2)
            vc[:, :, :T] = v.transpose(1, 2)
        del qkv
        o = ops.attention_prefill(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), self.scale)
        return F.linear(o.transpose(1, 2).reshape(B, T, nh * d), lw.wo)

    def _mlp_prefill(self, x, lw):
        eps, I = self.cfg.norm_eps, self.cfg.intermediate
        if self.style == "paper":
            h = ops.rms_norm(x, lw.ffn_norm, eps)
            return x + F.linear(F.silu(F.linear(h, lw.w1)) * F.linear(h, lw.w3), lw.w2)
        T = x.shape[1]
        S = self.segment or T
        for s in range(0, T, S):
            xs = x[:, s:s + S]
            gu = F.linear(ops.rms_norm(xs, lw.ffn_norm, eps), lw.w13)
            xs += F.linear(F.silu(gu[..., :I]) * gu[..., I:], lw.w2)
            del gu
        return x

    def _mamba_prefill(self, li, lw, h):
        cfg = self.cfg
        B, T, _ = h.shape
        Cc, nh, nkv, P, N = cfg.conv_channels, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.d_state
        S = (self.segment or T) if self.style == "matched" else (self.ssd_segment or T)
        cstate = torch.zeros(B, Cc, cfg.conv_kernel - 1, dtype=self.dtype, device=self.device)
        init = None
        outs = []
        sp = K.state_passing if self.k_state_passing else None
        for s in range(0, T, S):
            hs = h[:, s:s + S]
            L = hs.shape[1]
            z = F.linear(hs, lw.wz)
            xbc, cstate = ops.causal_conv_prefill(z[..., :Cc], cstate, lw.conv_w, lw.conv_b)
            xbc = xbc.to(self.dtype)
            v = xbc[..., :nkv * P].view(B, L, nkv, P)
            k = xbc[..., nkv * P:2 * nkv * P].view(B, L, nkv, N)
            q = xbc[..., 2 * nkv * P:].view(B, L, nh, N)
            dt = ops.softplus(z[..., Cc + nh * P:].float() + lw.dt_bias.float())
            y, init = ops.ssd_chunked(v, k, q, dt, lw.A, init, cfg.chunk_size, mm_dtype=self.dtype, state_passing=sp)
            del xbc, v, k, q, dt
            y = ops.gated_rms_norm(y, z[..., Cc:Cc + nh * P].view(B, L, nh, P), lw.norm_w, cfg.norm_eps)
            outs.append(F.linear(y.reshape(B, L, nh * P).to(self.dtype), lw.o_proj))
            del y, z
        self.conv[li].copy_(cstate)
        self.ssm[li].copy_(init)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    # ---- decode -----------------------------------------------------------------
    def _norm(self, x, delta, w):
        eps = self.cfg.norm_eps
        if self.k_norm:
            out = torch.empty_like(x)
            return K.add_rmsnorm(x, delta, w, eps, out)
        if delta is not None:
            x.add_(delta)
        return ops.rms_norm(x, w, eps)

    def _step_impl(self):
        """One decode step at position pos for token tok (graph-capturable)."""
        w, cfg = self.w, self.cfg
        B = self.batch
        nh, nkv, d, eps = cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.norm_eps
        x = F.embedding(self.tok, w.text_emb)                          # [B, H]
        cs = {th: ops.rope_cos_sin(self.pos, inv) for th, inv in self.inv_freq.items()}  # [1, d/2]
        self.seqlen.copy_((self.pos + 1).to(torch.int32).expand(B))
        matched = self.style == "matched"
        delta = None
        for li, lw in enumerate(w.layers):
            if matched:
                h = self._norm(x, delta, lw.attn_norm)
            else:
                h = ops.rms_norm(x, lw.attn_norm, eps)
            if lw.kind == cfgmod.ATTENTION:
                cos, sin = cs[self.layer_theta[li]]
                buf, kc, vc = self.kv[li]
                qkv = F.linear(h, lw.qkv)
                if self.k_rope:
                    q = torch.empty(B, nh, d, dtype=self.dtype, device=self.device)
                    K.rope_kv_write(qkv, cos, sin, self.pos, q, kc, vc, nh, nkv, d)
                else:
                    q = ops.apply_rope(qkv[:, :nh * d].view(B, nh, d), cos, sin)
                    k = ops.apply_rope(qkv[:, nh * d:(nh + nkv) * d].view(B, nkv, d), cos, sin)
                    v = qkv[:, (nh + nkv) * d:].view(B, nkv, d)
                    if buf is not None:
                        buf.index_copy_(1, self.pos, torch.stack((k, v), dim=1).unsqueeze(1))
                    else:
                        kc.index_copy_(2, self.pos, k.unsqueeze(2))
                        vc.index_copy_(2, self.pos, v.unsqueeze(2))
                if self.k_attn:
                    o = torch.empty(B, nh, d, dtype=self.dtype, device=self.device)
                    K.attn_decode(q, kc, vc, self.seqlen, o, self.plan, self.scale)
                else:
                    o = ops.attention_decode(q, kc, vc, self.seqlen, self.scale)
                out = F.linear(o.reshape(B, nh * d), lw.wo)
            else:
                out = F.linear(self._mamba_step(li, lw, h), lw.o_proj)
            if matched:
                h = self._norm(x, out, lw.ffn_norm)
                gu = F.linear(h, lw.w13)
                if self.k_swiglu:
                    a = K.swiglu(gu, torch.empty(B, cfg.intermediate, dtype=self.dtype, device=self.device))
                else:
                    a = ops.swiglu(gu[:, :cfg.intermediate], gu[:, cfg.intermediate:])
                delta = F.linear(a, lw.w2)
            else:
                x = x + out
                h = ops.rms_norm(x, lw.ffn_norm, eps)
                x = x + F.linear(F.silu(F.linear(h, lw.w1)) * F.linear(h, lw.w3), lw.w2)
        h = self._norm(x, delta, w.final_norm) if matched else ops.rms_norm(x, w.final_norm, eps)
        logits = F.linear(h, w.out_w)
        if matched:
            self.tok.copy_(torch.argmax(logits, dim=-1))
            self.pos.add_(1)
        return logits

    def _mamba_step(self, li, lw, h):
        cfg = self.cfg
        B = self.batch
        z = F.linear(h, lw.wz)
        conv, ssm = self.conv[li], self.ssm[li]
        nh, nkv, P, N, Cc = cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.d_state, cfg.conv_channels
        if self.k_mamba:
            y = torch.empty(B, nh * P, dtype=self.dtype, device=self.device)
            return K.mamba_decode(z, conv, lw.conv_w, lw.conv_b, lw.dt_bias, lw.A, lw.norm_w, ssm, y,
                                  nkv, cfg.group, P, N, cfg.norm_eps)
        if self.k_ssm and cfg.conv_kernel == 2:
            # mmMamba's sequence: causal_conv1d_update, repeat_kv, selective_state_update, gated norm.
            raw = z[:, :Cc]
            xbc = F.silu(conv[:, :, 0].float() * lw.conv_w[:, 0].float() + raw.float() * lw.conv_w[:, 1].float()
                         + lw.conv_b.float()).to(self.dtype)
            conv[:, :, 0].copy_(raw)
            g = cfg.group
            xr = xbc[:, :nkv * P].view(B, nkv, P).repeat_interleave(g, dim=1)
            br = xbc[:, nkv * P:2 * nkv * P].view(B, nkv, N).repeat_interleave(g, dim=1)
            cr = xbc[:, 2 * nkv * P:].view(B, nh, N)
            y = torch.empty(B, nh, P, dtype=self.dtype, device=self.device)
            K.ssm_update(ssm, xr, z[:, Cc + nh * P:], lw.dt_bias, lw.A, br, cr, y)
            y = ops.gated_rms_norm(y, z[:, Cc:Cc + nh * P].view(B, nh, P), lw.norm_w, cfg.norm_eps)
            return y.reshape(B, nh * P).to(self.dtype)
        return ops.mamba_step(z, conv, ssm, lw, cfg)

    def set_next(self, tok, pos):
        """Set the next input token(s) [B] and its position."""
        self.tok.copy_(tok.view(-1).to(torch.int64))
        self.pos.fill_(int(pos))

    def snapshot(self):
        """Remember the Mamba states, token and position (in host memory) for rewind()."""
        keep = lambda t: t.detach().to("cpu", copy=True).pin_memory() if self.cuda else t.detach().clone()  # noqa: E731
        self.snap = ({li: keep(t) for li, t in self.conv.items()}, {li: keep(t) for li, t in self.ssm.items()},
                     keep(self.tok), keep(self.pos))

    def rewind(self):
        """Restore the snapshot: the next step runs at the same position, on the same state."""
        conv, ssm, tok, pos = self.snap
        for li, t in conv.items():
            self.conv[li].copy_(t, non_blocking=True)
        for li, t in ssm.items():
            self.ssm[li].copy_(t, non_blocking=True)
        self.tok.copy_(tok, non_blocking=True)
        self.pos.copy_(pos, non_blocking=True)

    def prepare_steps(self):
        """Capture the decode step in a CUDA graph (if enabled). Leaves pos = 0."""
        if not self.use_graph:
            return
        self.pos.zero_()
        s = warmup_stream(self.device)
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                self.pos.zero_()
                self._step_impl()
        torch.cuda.current_stream().wait_stream(s)
        self.pos.zero_()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = self._step_impl()
        self.graph, self.graph_out = g, out
        self.pos.zero_()
        self.log("info", "captured CUDA graph of the decode step (%s, capacity %d)" % (self.style, self.capacity))

    def step(self):
        """One decode step; returns the logits [B, V] (a buffer reused by the next step)."""
        if self.graph is not None:
            self.graph.replay()
            return self.graph_out
        return self._step_impl()

    def sample(self, logits):
        """Greedy next token after a step (matched: done inside the step already)."""
        if self.style != "matched":
            self.tok.copy_(torch.argmax(logits, dim=-1))
            self.pos.add_(1)
        if self.sync_each:
            int(self.tok[0])  # host sync per token, as an HF / mamba_ssm generate loop does

    def synth_fill(self, n, gen):
        """Synthetic caches of length n: random K/V in [0, n), random Mamba states."""
        for buf, kc, vc in self.kv.values():
            if buf is not None:
                buf[:, :n].normal_(0.0, 1.0, generator=gen)
            else:
                kc[:, :, :n].normal_(0.0, 1.0, generator=gen)
                vc[:, :, :n].normal_(0.0, 1.0, generator=gen)
        for t in self.conv.values():
            t.normal_(0.0, 1.0, generator=gen)
        for t in self.ssm.values():
            t.normal_(0.0, 0.1, generator=gen)
