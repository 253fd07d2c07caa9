"""Plain-PyTorch operators of the model (runners/MODEL.md).

These run on CPU (torch 1.13) and GPU (torch 2.x). They are the reference
the Triton kernels are checked against, the fallback when Triton is absent,
and the ops of the "paper" runtime of mmMamba.
"""

import math

import torch
import torch.nn.functional as F

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def _sdpa_has_gqa():
    if not HAS_SDPA:
        return False
    try:
        import inspect
        return "enable_gqa" in inspect.signature(F.scaled_dot_product_attention).parameters
    except (TypeError, ValueError):
        # C builtin without a signature: enable_gqa arrived in torch 2.5.
        v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2] if x.isdigit())
        return v >= (2, 5)


SDPA_GQA = _sdpa_has_gqa()


def rms_norm(x, w, eps):
    """x / sqrt(mean(x^2) + eps) * w over the last axis, computed in fp32."""
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return y.to(x.dtype) * w


def rope_inv_freq(theta, d, device):
    """theta^(-2i/d) for i < d/2, in float64."""
    i = torch.arange(0, d // 2, dtype=torch.float64, device=device)
    return torch.pow(torch.tensor(float(theta), dtype=torch.float64, device=device), -2.0 * i / d)


def rope_cos_sin(pos, inv_freq):
    """cos and sin (fp32, [..., d/2]) of positions pos (int tensor), angles in float64."""
    ang = pos.to(torch.float64).unsqueeze(-1) * inv_freq
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """Rotate the last axis of x (non-interleaved, rotate_half); cos/sin broadcast to [..., d/2]."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h].float(), x[..., h:].float()
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


def attention_prefill(q, k, v, scale):
    """Causal GQA attention. q [B, nh, T, d], k/v [B, nkv, T, d] -> [B, nh, T, d]."""
    B, nh, T, d = q.shape
    nkv = k.shape[1]
    g = nh // nkv
    if HAS_SDPA and (q.is_cuda or q.dtype == torch.float32):
        if SDPA_GQA:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=True)
        kk = k.repeat_interleave(g, dim=1)
        vv = v.repeat_interleave(g, dim=1)
        try:
            return F.scaled_dot_product_attention(q, kk, vv, is_causal=True, scale=scale)
        except TypeError:  # torch 2.0 has no scale argument; d^-0.5 is its default
            return F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
    # Manual path (torch 1.13): grouped so K/V are not repeated; softmax in fp32.
    qg = q.reshape(B, nkv, g * T, d).float()
    s = torch.matmul(qg, k.float().transpose(-1, -2)).view(B, nkv, g, T, T) * scale
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    o = torch.matmul(p.view(B, nkv, g * T, T), v.float()).view(B, nh, T, d)
    return o.to(q.dtype)


def attention_decode(q, kc, vc, seqlen, scale):
    """One-token GQA attention over a cache, masked by device-side lengths.

    q [B, nh, d]; kc/vc [B, nkv, cap, d] (any strides); seqlen [B] ints (keys
    0..seqlen-1 are valid). No host synchronisation, so it can be captured in
    a CUDA graph; it reads the whole capacity. Returns [B, nh, d].
    """
    B, nh, d = q.shape
    nkv, cap = kc.shape[1], kc.shape[2]
    g = nh // nkv
    qg = q.view(B, nkv, g, d).float()
    s = torch.matmul(qg, kc.float().transpose(-1, -2)) * scale  # [B, nkv, g, cap]
    valid = torch.arange(cap, device=q.device).view(1, cap) < seqlen.view(B, 1).to(torch.int64)
    s = s.masked_fill(~valid.view(B, 1, 1, cap), float("-inf"))
    p = torch.softmax(s, dim=-1)
    o = torch.matmul(p, vc.float())  # [B, nkv, g, d]
    return o.reshape(B, nh, d).to(q.dtype)


def swiglu(gate, up):
    """silu(gate) * up."""
    return F.silu(gate) * up


def softplus(x):
    """log(1 + exp(x)), linear above 20 (PyTorch's default threshold)."""
    return F.softplus(x)


def gated_rms_norm(y, gate, w, eps):
    """Per-head RMSNorm of y [..., d] (weight w [d]) times silu(gate), in fp32."""
    yf = y.float()
    yn = yf * torch.rsqrt(yf.pow(2).mean(-1, keepdim=True) + eps) * w.float()
    return yn * F.silu(gate.float())


def causal_conv_prefill(raw, conv_state, w, b):
    """Depthwise causal conv over time with SiLU.

    raw [B, T, C] (pre-conv inputs); conv_state [B, C, K-1] the previous K-1
    inputs (zeros at the start of a sequence); w [C, K]; b [C]. Returns the
    activated output [B, T, C] (fp32) and the new conv state [B, C, K-1]
    (the last K-1 inputs of state ++ raw).
    """
    B, T, C = raw.shape
    K = w.shape[1]
    full = torch.cat((conv_state.transpose(1, 2).to(raw.dtype), raw), dim=1).float()  # [B, K-1+T, C]
    out = b.float().view(1, 1, C).expand(B, T, C).clone()
    wf = w.float()
    for j in range(K):
        out = out + full[:, j:j + T] * wf[:, j]
    new_state = full[:, T:].transpose(1, 2) if K > 1 else conv_state
    return F.silu(out), new_state


def state_passing_torch(states, a_last, init):
    """Chunk-to-chunk recurrence of the SSD scan.

    states [B, c, h, PN] (fp32), each chunk's own final state from zero;
    a_last [B, c, h] the log-decay over each chunk; init [B, h, PN] or None.
    Returns (S_in [B, c, h, PN]: the state entering each chunk, final [B, h, PN]).
    """
    B, c, h, pn = states.shape
    s = init.float().clone() if init is not None else states.new_zeros(B, h, pn)
    out = torch.empty_like(states)
    for i in range(c):
        out[:, i] = s
        s = s * torch.exp(a_last[:, i]).unsqueeze(-1) + states[:, i]
    return out, s


def ssd_chunked(x, Bm, C, dt, A, init=None, chunk=128, mm_dtype=None, state_passing=None):
    """The chunked (SSD) form of the Mamba-2 recurrence for a whole sequence.

    x [B, L, g, P] (values per KV group), Bm [B, L, g, N] (per group), C [B, L, h, N],
    dt [B, L, h] (fp32, after softplus), A [h] (fp32, negative), init [B, h, P, N]
    or None. Head j reads group j // (h/g). Returns y [B, L, h, P] (fp32) and the
    final state [B, h, P, N] (fp32). mm_dtype is the dtype of the big matrix
    products (default: x's dtype); state_passing(states, a_last, init) may be a
    faster implementation of state_passing_torch.
    """
    Bsz, L, g, P = x.shape
    h, N = C.shape[2], C.shape[3]
    G = h // g
    Q = chunk
    mm = mm_dtype or x.dtype
    pad = (-L) % Q
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        Bm = F.pad(Bm, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))  # dt = 0: no decay, no input
    c = (L + pad) // Q
    xg = x.reshape(Bsz, c, Q, g, P).permute(0, 1, 3, 2, 4)                    # [B,c,g,Q,P]
    Bg = Bm.reshape(Bsz, c, Q, g, N).permute(0, 1, 3, 2, 4)                   # [B,c,g,Q,N]
    Cg = C.reshape(Bsz, c, Q, g, G, N).permute(0, 1, 3, 4, 2, 5)              # [B,c,g,G,Q,N]
    dtg = dt.float().reshape(Bsz, c, Q, g, G).permute(0, 1, 3, 4, 2)          # [B,c,g,G,Q]
    Acs = torch.cumsum(dtg * A.float().view(1, 1, g, G, 1), dim=-1)           # [B,c,g,G,Q]

    # Within each chunk: y_l += sum_{s<=l} (C_l . B_s) exp(Acs_l - Acs_s) dt_s x_s
    CB = torch.matmul(Cg.reshape(Bsz, c, g, G * Q, N).to(mm), Bg.transpose(-1, -2).to(mm))
    CB = CB.float().view(Bsz, c, g, G, Q, Q)
    seg = Acs.unsqueeze(-1) - Acs.unsqueeze(-2)                               # [.., l, s]
    causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
    seg = seg.masked_fill(~causal, float("-inf")).exp_()
    M = CB.mul_(seg).mul_(dtg.unsqueeze(-2))
    del seg
    y = torch.matmul(M.view(Bsz, c, g, G * Q, Q).to(mm), xg.to(mm)).float().view(Bsz, c, g, G, Q, P)
    del M, CB

    # Each chunk's final state from zero: sum_s exp(Acs_last - Acs_s) dt_s x_s B_s^T
    w = torch.exp(Acs[..., -1:] - Acs) * dtg                                  # [B,c,g,G,Q]
    xw = (xg.unsqueeze(3).float() * w.unsqueeze(-1))                          # [B,c,g,G,Q,P]
    states = torch.matmul(xw.transpose(-1, -2).to(mm), Bg.unsqueeze(3).to(mm)).float()  # [B,c,g,G,P,N]
    del xw
    a_last = Acs[..., -1].reshape(Bsz, c, h)
    init_f = init.float().reshape(Bsz, h, P * N) if init is not None else None
    sp = state_passing or state_passing_torch
    s_in, final = sp(states.reshape(Bsz, c, h, P * N).contiguous(), a_last.contiguous(), init_f)
    del states
    s_in = s_in.view(Bsz, c, g, G, P, N)

    # Contribution of the state entering the chunk: exp(Acs_l) C_l . S_in
    y_off = torch.matmul(Cg.to(mm), s_in.transpose(-1, -2).to(mm)).float()   # [B,c,g,G,Q,P]
    y = y.add_(y_off.mul_(torch.exp(Acs).unsqueeze(-1)))
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(Bsz, c * Q, h, P)[:, :L]
    return y, final.view(Bsz, h, P, N)


def ssm_recurrent(x, Bm, C, dt, A, init=None):
    """The Mamba-2 recurrence one step at a time (reference for ssd_chunked). Same shapes."""
    Bsz, L, g, P = x.shape
    h, N = C.shape[2], C.shape[3]
    G = h // g
    s = init.float().clone() if init is not None else x.new_zeros(Bsz, h, P, N, dtype=torch.float32)
    ys = []
    for t in range(L):
        xt = x[:, t].float().repeat_interleave(G, dim=1)      # [B, h, P]
        bt = Bm[:, t].float().repeat_interleave(G, dim=1)     # [B, h, N]
        d = dt[:, t].float()                                  # [B, h]
        s = s * torch.exp(d * A.float()).view(Bsz, h, 1, 1) + (d.unsqueeze(-1) * xt).unsqueeze(-1) * bt.unsqueeze(-2)
        ys.append(torch.matmul(s, C[:, t].float().unsqueeze(-1)).squeeze(-1))
    return torch.stack(ys, dim=1), s


def mamba_step(z, conv_state, ssm_state, lw, cfg):
    """One decode step of a Mamba-2 mixer in plain PyTorch (fp32 math).

    z [B, Wz] = wvkqgdt(h); conv_state [B, C, K-1] and ssm_state [B, h, P, N]
    are updated in place. Returns the gated, normalised y [B, h*P] (z's dtype).
    """
    B = z.shape[0]
    Cc, h, P, N, g = cfg.conv_channels, cfg.heads, cfg.head_dim, cfg.d_state, cfg.kv_heads
    raw = z[:, :Cc]
    gate = z[:, Cc:Cc + h * P]
    dtr = z[:, Cc + h * P:]
    K = lw.conv_w.shape[1]
    wf = lw.conv_w.float()
    acc = lw.conv_b.float() + raw.float() * wf[:, K - 1]
    for j in range(K - 1):
        acc = acc + conv_state[:, :, j].float() * wf[:, j]
    if K > 1:
        if K > 2:
            conv_state[:, :, :-1] = conv_state[:, :, 1:].clone()
        conv_state[:, :, K - 2].copy_(raw)
    xbc = F.silu(acc)
    v = xbc[:, :g * P].view(B, g, P).repeat_interleave(h // g, dim=1)
    k = xbc[:, g * P:2 * g * P].view(B, g, N).repeat_interleave(h // g, dim=1)
    q = xbc[:, 2 * g * P:].view(B, h, N)
    dt = F.softplus(dtr.float() + lw.dt_bias.float())                   # [B, h]
    s = ssm_state.float() * torch.exp(dt * lw.A).view(B, h, 1, 1) + (dt.unsqueeze(-1) * v).unsqueeze(-1) * k.unsqueeze(-2)
    ssm_state.copy_(s)
    y = torch.matmul(s, q.unsqueeze(-1)).squeeze(-1)                    # [B, h, P]
    y = gated_rms_norm(y, gate.view(B, h, P), lw.norm_w, cfg.norm_eps)
    return y.reshape(B, h * P).to(z.dtype)


def pixel_shuffle(x, scale=0.5):
    """InternVL's pixel shuffle (ps_version v2): [n, w, h, c] -> [n, w*s, h*s, c/s^2]."""
    n, w, h, c = x.shape
    x = x.reshape(n, w, int(h * scale), int(c / scale))
    x = x.permute(0, 2, 1, 3).contiguous()
    x = x.view(n, int(h * scale), int(w * scale), int(c / (scale * scale)))
    return x.permute(0, 2, 1, 3).contiguous()


def vision_embed(pixels, vw, cfg):
    """Image tiles [n, 3, S, S] -> tokens [n, (G*ds)^2, H] (MODEL.md, image tokens)."""
    x = F.conv2d(pixels.to(vw["patch_w"].dtype), vw["patch_w"], vw["patch_b"], stride=cfg.patch_size)
    n, H, G, _ = x.shape
    x = x.flatten(2).transpose(1, 2)                                      # [n, G*G, H]
    cls = vw["cls"].expand(n, 1, H)
    x = torch.cat((cls, x), dim=1) + vw["pos"]
    x = x[:, 1:].reshape(n, G, G, H)
    x = pixel_shuffle(x, cfg.downsample).reshape(n, -1, int(round(H / (cfg.downsample ** 2))))
    x = F.linear(x, vw["proj0_w"], vw["proj0_b"])
    x = F.gelu(x)
    return F.linear(x, vw["proj2_w"], vw["proj2_b"])


def attn_scale(d):
    """1/sqrt(d)."""
    return 1.0 / math.sqrt(d)
