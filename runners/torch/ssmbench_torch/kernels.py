"""Triton kernels of the matched runtime (and the decode kernels of the paper runtime).

Each kernel has a plain-PyTorch counterpart in ops.py; tests/test_gpu.py
checks every kernel against it on fresh random inputs. Importing this module
never fails: AVAILABLE says whether Triton and a CUDA device are present.

Kernels
  add_rmsnorm      x += delta (optional); h = RMSNorm(x) * w          one row per program
  swiglu           silu(gate) * up                                      elementwise
  rope_kv_write    RoPE on q and k of a fused qkv row; k, v into the KV cache at pos
  attn_decode      split-KV (flash-decoding) GQA attention of one query token over a
                   cache; one program reads a KV head's keys once for its g query heads
  mamba_decode     fused Mamba-2 decode step: causal conv (kernel 2) + SiLU, dt softplus,
                   state update, y = S C, gated RMSNorm; one program per (batch, KV group)
  ssm_update       the state update alone (inputs already convolved and repeated to
                   heads), as mamba_ssm's selective_state_update
  state_passing    chunk-to-chunk recurrence of the chunked SSD scan (prefill)
"""

import torch

try:
    import triton
    import triton.language as tl
    _TRITON = True
except Exception:  # noqa: BLE001 - any import problem means "no Triton"
    triton, tl = None, None
    _TRITON = False

AVAILABLE = _TRITON and torch.cuda.is_available()
VERSION = getattr(triton, "__version__", "") if _TRITON else ""


def _next_pow2(n):
    return 1 << max(0, int(n - 1).bit_length())


if _TRITON:
    @triton.jit
    def _softplus(x):
        # log(1 + exp(x)) with an accurate log1p; linear above 20 like torch.
        u = tl.exp(tl.minimum(x, 20.0))
        w = 1.0 + u
        lp = tl.where(w == 1.0, u, tl.log(w) * (u / (w - 1.0)))
        return tl.where(x > 20.0, x, lp)

    @triton.jit
    def _add_rmsnorm_kernel(X, Dl, W, Y, stride_x, stride_d, stride_y, N, eps,
                            HAS_D: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        mask = offs < N
        x = tl.load(X + row * stride_x + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_D:
            dl = tl.load(Dl + row * stride_d + offs, mask=mask, other=0.0).to(tl.float32)
            xr = (x + dl).to(X.dtype.element_ty)
            tl.store(X + row * stride_x + offs, xr, mask=mask)
            x = xr.to(tl.float32)
        ms = tl.sum(x * x, axis=0) / N
        r = 1.0 / tl.sqrt(ms + eps)
        w = tl.load(W + offs, mask=mask, other=0.0).to(tl.float32)
        y = (x * r).to(Y.dtype.element_ty).to(tl.float32) * w
        tl.store(Y + row * stride_y + offs, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def _swiglu_kernel(GU, Y, stride_g, stride_y, I, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < I
        g = tl.load(GU + row * stride_g + offs, mask=mask, other=0.0).to(tl.float32)
        u = tl.load(GU + row * stride_g + I + offs, mask=mask, other=0.0).to(tl.float32)
        y = g * tl.sigmoid(g) * u
        tl.store(Y + row * stride_y + offs, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def _rope_kv_kernel(QKV, COS, SIN, POS, QO, KC, VC,
                        stride_qkv, stride_cs, stride_pos, stride_qob, stride_qoh,
                        stride_kb, stride_kh, stride_kt, stride_vb, stride_vh, stride_vt,
                        NH: tl.constexpr, NKV: tl.constexpr, D: tl.constexpr, HALF: tl.constexpr):
        b = tl.program_id(0)
        hh = tl.program_id(1)
        offs = tl.arange(0, HALF)
        base = QKV + b * stride_qkv + hh * D
        x1 = tl.load(base + offs).to(tl.float32)
        x2 = tl.load(base + HALF + offs).to(tl.float32)
        pos = tl.load(POS + b * stride_pos).to(tl.int64)
        if hh < NH + NKV:
            c = tl.load(COS + b * stride_cs + offs)
            s = tl.load(SIN + b * stride_cs + offs)
            o1 = x1 * c - x2 * s
            o2 = x2 * c + x1 * s
            if hh < NH:
                qp = QO + b * stride_qob + hh * stride_qoh
                tl.store(qp + offs, o1.to(QO.dtype.element_ty))
                tl.store(qp + HALF + offs, o2.to(QO.dtype.element_ty))
            else:
                kp = KC + b * stride_kb + (hh - NH) * stride_kh + pos * stride_kt
                tl.store(kp + offs, o1.to(KC.dtype.element_ty))
                tl.store(kp + HALF + offs, o2.to(KC.dtype.element_ty))
        else:
            vp = VC + b * stride_vb + (hh - NH - NKV) * stride_vh + pos * stride_vt
            tl.store(vp + offs, x1.to(VC.dtype.element_ty))
            tl.store(vp + HALF + offs, x2.to(VC.dtype.element_ty))

    @triton.jit
    def _attn_partial_kernel(Q, K, V, SEQ, OP, LP,
                             stride_qb, stride_qh,
                             stride_kb, stride_kh, stride_kt,
                             stride_vb, stride_vh, stride_vt,
                             stride_ob, stride_oh, stride_os,
                             stride_lb, stride_lh,
                             NKV, split_len, sm_scale,
                             G: tl.constexpr, G_PAD: tl.constexpr, D: tl.constexpr,
                             BLOCK_N: tl.constexpr, IEEE: tl.constexpr):
        pid = tl.program_id(0)
        sid = tl.program_id(1)
        b = pid // NKV
        kvh = pid % NKV
        seqlen = tl.load(SEQ + b)
        start = sid * split_len
        end = tl.minimum(start + split_len, seqlen)
        offs_g = tl.arange(0, G_PAD)
        offs_d = tl.arange(0, D)
        mask_g = offs_g < G
        heads = kvh * G + offs_g
        q = tl.load(Q + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :], mask=mask_g[:, None], other=0.0)
        m_i = tl.full([G_PAD], float("-inf"), tl.float32)
        l_i = tl.zeros([G_PAD], tl.float32)
        acc = tl.zeros([G_PAD, D], tl.float32)
        k_base = K + b.to(tl.int64) * stride_kb + kvh * stride_kh
        v_base = V + b.to(tl.int64) * stride_vb + kvh * stride_vh
        for n0 in range(start, end, BLOCK_N):
            offs_n = n0 + tl.arange(0, BLOCK_N)
            mask_n = offs_n < end
            k = tl.load(k_base + offs_n.to(tl.int64)[:, None] * stride_kt + offs_d[None, :], mask=mask_n[:, None], other=0.0)
            if IEEE:
                s = tl.dot(q, tl.trans(k), input_precision="ieee")
            else:
                s = tl.dot(q, tl.trans(k))
            s = s * sm_scale
            s = tl.where(mask_n[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            alpha = tl.exp(m_i - m_new)
            p = tl.exp(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(v_base + offs_n.to(tl.int64)[:, None] * stride_vt + offs_d[None, :], mask=mask_n[:, None], other=0.0)
            if IEEE:
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
            else:
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        valid = l_i > 0.0
        safe_l = tl.where(valid, l_i, 1.0)
        lse = tl.where(valid, m_i + tl.log(safe_l), float("-inf"))
        out = acc / safe_l[:, None]
        tl.store(OP + b * stride_ob + heads[:, None] * stride_oh + sid * stride_os + offs_d[None, :], out, mask=mask_g[:, None])
        tl.store(LP + b * stride_lb + heads * stride_lh + sid, lse, mask=mask_g)

    @triton.jit
    def _attn_combine_kernel(OP, LP, O, num_splits, NH,
                             stride_ob, stride_oh, stride_os, stride_lb, stride_lh, stride_fb, stride_fh,
                             D: tl.constexpr, BLOCK_S: tl.constexpr):
        pid = tl.program_id(0)
        b = pid // NH
        h = pid % NH
        offs_d = tl.arange(0, D)
        lbase = LP + b * stride_lb + h * stride_lh
        mv = tl.full([BLOCK_S], float("-inf"), tl.float32)
        for s0 in range(0, num_splits, BLOCK_S):
            offs_s = s0 + tl.arange(0, BLOCK_S)
            lv = tl.load(lbase + offs_s, mask=offs_s < num_splits, other=float("-inf"))
            mv = tl.maximum(mv, lv)
        mx = tl.max(mv, 0)
        acc = tl.zeros([D], tl.float32)
        den = tl.zeros([BLOCK_S], tl.float32)
        for s0 in range(0, num_splits, BLOCK_S):
            offs_s = s0 + tl.arange(0, BLOCK_S)
            ms = offs_s < num_splits
            lv = tl.load(lbase + offs_s, mask=ms, other=float("-inf"))
            w = tl.where(ms, tl.exp(lv - mx), 0.0)
            den += w
            o = tl.load(OP + b * stride_ob + h * stride_oh + offs_s[:, None] * stride_os + offs_d[None, :],
                        mask=ms[:, None], other=0.0)
            acc += tl.sum(o * w[:, None], 0)
        out = acc / tl.sum(den, 0)
        tl.store(O + b * stride_fb + h * stride_fh + offs_d, out.to(O.dtype.element_ty))

    @triton.jit
    def _mamba_fused_kernel(Z, CS, CW, CB, DTB, A, NW, S, Y,
                            stride_zb, stride_csb, stride_sb, stride_yb, eps,
                            NKV: tl.constexpr, G: tl.constexpr, P: tl.constexpr, N: tl.constexpr,
                            BLOCK_N: tl.constexpr):
        b = tl.program_id(0)
        grp = tl.program_id(1)
        NH = NKV * G
        K_OFF = NKV * P
        Q_OFF = NKV * P + NKV * N
        G_OFF = NKV * P + NKV * N + NH * N
        DT_OFF = G_OFF + NH * P
        zb = Z + b * stride_zb
        cs = CS + b * stride_csb
        offs_p = tl.arange(0, P)
        offs_n = tl.arange(0, BLOCK_N)
        xo = grp * P + offs_p
        raw_x = tl.load(zb + xo).to(tl.float32)
        xv = tl.load(cs + xo).to(tl.float32) * tl.load(CW + xo * 2).to(tl.float32) \
            + raw_x * tl.load(CW + xo * 2 + 1).to(tl.float32) + tl.load(CB + xo).to(tl.float32)
        xv = xv * tl.sigmoid(xv)
        tl.store(cs + xo, raw_x.to(CS.dtype.element_ty))
        nw = tl.load(NW + offs_p).to(tl.float32)
        for j in tl.static_range(G):
            h = grp * G + j
            dtr = tl.load(zb + DT_OFF + h).to(tl.float32) + tl.load(DTB + h).to(tl.float32)
            dt = _softplus(dtr)
            dA = tl.exp(dt * tl.load(A + h))
            xdt = xv * dt
            y = tl.zeros([P], tl.float32)
            sbase = S + b * stride_sb + h * (P * N)
            for n0 in tl.static_range(0, N, BLOCK_N):
                bo = K_OFF + grp * N + n0 + offs_n
                raw_b = tl.load(zb + bo).to(tl.float32)
                bv = tl.load(cs + bo).to(tl.float32) * tl.load(CW + bo * 2).to(tl.float32) \
                    + raw_b * tl.load(CW + bo * 2 + 1).to(tl.float32) + tl.load(CB + bo).to(tl.float32)
                bv = bv * tl.sigmoid(bv)
                co = Q_OFF + h * N + n0 + offs_n
                raw_c = tl.load(zb + co).to(tl.float32)
                cv = tl.load(cs + co).to(tl.float32) * tl.load(CW + co * 2).to(tl.float32) \
                    + raw_c * tl.load(CW + co * 2 + 1).to(tl.float32) + tl.load(CB + co).to(tl.float32)
                cv = cv * tl.sigmoid(cv)
                sp = sbase + offs_p[:, None] * N + (n0 + offs_n)[None, :]
                s = tl.load(sp).to(tl.float32)
                s = s * dA + xdt[:, None] * bv[None, :]
                tl.store(sp, s.to(S.dtype.element_ty))
                y += tl.sum(s * cv[None, :], 1)
                # C channels belong to this head alone and are not read again.
                tl.store(cs + co, raw_c.to(CS.dtype.element_ty))
                if j == G - 1:
                    # B channels are shared by the group's heads: write after the last read.
                    tl.store(cs + bo, raw_b.to(CS.dtype.element_ty))
            gt = tl.load(zb + G_OFF + h * P + offs_p).to(tl.float32)
            r = 1.0 / tl.sqrt(tl.sum(y * y, 0) / P + eps)
            yn = y * r * nw * (gt * tl.sigmoid(gt))
            tl.store(Y + b * stride_yb + h * P + offs_p, yn.to(Y.dtype.element_ty))

    @triton.jit
    def _ssm_update_kernel(S, X, DTR, DTB, A, Bm, C, Y,
                           stride_sb, stride_xb, stride_xh, stride_db, stride_bb, stride_bh,
                           stride_cb, stride_ch, stride_yb, stride_yh, NH,
                           P: tl.constexpr, N: tl.constexpr, BLOCK_N: tl.constexpr):
        b = tl.program_id(0)
        h = tl.program_id(1)
        offs_p = tl.arange(0, P)
        offs_n = tl.arange(0, BLOCK_N)
        dt = _softplus(tl.load(DTR + b * stride_db + h).to(tl.float32) + tl.load(DTB + h).to(tl.float32))
        dA = tl.exp(dt * tl.load(A + h))
        x = tl.load(X + b * stride_xb + h * stride_xh + offs_p).to(tl.float32)
        xdt = x * dt
        y = tl.zeros([P], tl.float32)
        sbase = S + b * stride_sb + h * (P * N)
        for n0 in tl.static_range(0, N, BLOCK_N):
            bv = tl.load(Bm + b * stride_bb + h * stride_bh + n0 + offs_n).to(tl.float32)
            cv = tl.load(C + b * stride_cb + h * stride_ch + n0 + offs_n).to(tl.float32)
            sp = sbase + offs_p[:, None] * N + (n0 + offs_n)[None, :]
            s = tl.load(sp).to(tl.float32)
            s = s * dA + xdt[:, None] * bv[None, :]
            tl.store(sp, s.to(S.dtype.element_ty))
            y += tl.sum(s * cv[None, :], 1)
        tl.store(Y + b * stride_yb + h * stride_yh + offs_p, y.to(Y.dtype.element_ty))

    @triton.jit
    def _state_passing_kernel(ST, AL, INIT, FIN, nchunks, PN,
                              stride_sb, stride_sc, stride_sh, stride_ab, stride_ac, stride_ah,
                              stride_ib, stride_ih, stride_fb, stride_fh,
                              HAS_INIT: tl.constexpr, BLOCK: tl.constexpr):
        b = tl.program_id(0)
        h = tl.program_id(1)
        offs = tl.program_id(2) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < PN
        if HAS_INIT:
            s = tl.load(INIT + b * stride_ib + h * stride_ih + offs, mask=mask, other=0.0).to(tl.float32)
        else:
            s = tl.zeros([BLOCK], tl.float32)
        for c in range(0, nchunks):
            p = ST + b * stride_sb + c.to(tl.int64) * stride_sc + h * stride_sh + offs
            x = tl.load(p, mask=mask, other=0.0)
            tl.store(p, s, mask=mask)
            a = tl.load(AL + b * stride_ab + c * stride_ac + h * stride_ah)
            s = s * tl.exp(a) + x
        tl.store(FIN + b * stride_fb + h * stride_fh + offs, s, mask=mask)


# ---- wrappers -------------------------------------------------------------------

def add_rmsnorm(x, delta, w, eps, out):
    """x += delta (if given) in place; out = RMSNorm(x) * w. x, delta, out [B, H] rows contiguous."""
    B, H = x.shape
    BLOCK = _next_pow2(H)
    _add_rmsnorm_kernel[(B,)](x, delta if delta is not None else x, w, out,
                              x.stride(0), delta.stride(0) if delta is not None else 0, out.stride(0), H, float(eps),
                              HAS_D=delta is not None, BLOCK=BLOCK, num_warps=8 if BLOCK >= 2048 else 4)
    return out


def swiglu(gu, out):
    """out = silu(gu[:, :I]) * gu[:, I:]."""
    B, I2 = gu.shape
    I = I2 // 2
    BLOCK = 1024
    _swiglu_kernel[(B, triton.cdiv(I, BLOCK))](gu, out, gu.stride(0), out.stride(0), I, BLOCK=BLOCK, num_warps=4)
    return out


def rope_kv_write(qkv, cos, sin, pos, q_out, kc, vc, nh, nkv, d):
    """Rotate q and k of qkv [B, (nh+2nkv)d] and write q_out [B, nh, d], kc/vc[b, :, pos[b]].

    cos/sin [B or 1, d/2] fp32; pos [B or 1] int64; kc/vc [B, nkv, cap, d] views (any strides, last 1).
    """
    B = qkv.shape[0]
    _rope_kv_kernel[(B, nh + 2 * nkv)](
        qkv, cos, sin, pos, q_out, kc, vc,
        qkv.stride(0), cos.stride(0) if cos.shape[0] > 1 else 0, pos.stride(0) if pos.shape[0] > 1 else 0,
        q_out.stride(0), q_out.stride(1),
        kc.stride(0), kc.stride(1), kc.stride(2), vc.stride(0), vc.stride(1), vc.stride(2),
        NH=nh, NKV=nkv, D=d, HALF=d // 2, num_warps=1)


class SplitPlan(object):
    """How attn_decode splits a cache of a given capacity (fixed for a CUDA graph)."""

    def __init__(self, batch, nh, nkv, d, capacity, device, block_n=64, target_programs=None):
        if target_programs is None:
            sms = torch.cuda.get_device_properties(device).multi_processor_count if torch.cuda.is_available() else 132
            target_programs = 4 * sms
        self.block_n = block_n
        splits = max(1, -(-target_programs // max(1, batch * nkv)))
        split_len = -(-capacity // splits)
        split_len = max(block_n, -(-split_len // block_n) * block_n)
        self.split_len = split_len
        self.num_splits = -(-capacity // split_len)
        self.op = torch.empty(batch, nh, self.num_splits, d, dtype=torch.float32, device=device)
        self.lp = torch.empty(batch, nh, self.num_splits, dtype=torch.float32, device=device)

    def describe(self):
        return "splits=%d x %d keys, block %d" % (self.num_splits, self.split_len, self.block_n)


def attn_decode(q, kc, vc, seqlen, out, plan, scale):
    """Split-KV GQA decode attention. q/out [B, nh, d]; kc/vc [B, nkv, cap, d]; seqlen int32 [B]."""
    B, nh, d = q.shape
    nkv = kc.shape[1]
    g = nh // nkv
    ieee = q.dtype == torch.float32
    _attn_partial_kernel[(B * nkv, plan.num_splits)](
        q, kc, vc, seqlen, plan.op, plan.lp,
        q.stride(0), q.stride(1),
        kc.stride(0), kc.stride(1), kc.stride(2),
        vc.stride(0), vc.stride(1), vc.stride(2),
        plan.op.stride(0), plan.op.stride(1), plan.op.stride(2),
        plan.lp.stride(0), plan.lp.stride(1),
        nkv, plan.split_len, float(scale),
        G=g, G_PAD=max(16, _next_pow2(g)), D=d, BLOCK_N=plan.block_n, IEEE=ieee,
        num_warps=4, num_stages=2)
    _attn_combine_kernel[(B * nh,)](
        plan.op, plan.lp, out, plan.num_splits, nh,
        plan.op.stride(0), plan.op.stride(1), plan.op.stride(2), plan.lp.stride(0), plan.lp.stride(1),
        out.stride(0), out.stride(1), D=d, BLOCK_S=16, num_warps=4)
    return out


def mamba_decode(z, conv_state, conv_w, conv_b, dt_bias, A, norm_w, ssm_state, y, nkv, g, P, N, eps):
    """Fused decode step (conv kernel 2). z [B, Wz]; conv_state [B, C, 1]; ssm_state [B, h, P, N]; y [B, h*P]."""
    B = z.shape[0]
    BLOCK_N = min(32, N)
    _mamba_fused_kernel[(B, nkv)](
        z, conv_state, conv_w, conv_b, dt_bias, A, norm_w, ssm_state, y,
        z.stride(0), conv_state.stride(0), ssm_state.stride(0), y.stride(0), float(eps),
        NKV=nkv, G=g, P=P, N=N, BLOCK_N=BLOCK_N, num_warps=4)
    return y


def ssm_update(state, x, dtr, dt_bias, A, Bm, C, y):
    """State update only: x/y [B, h, P], dtr [B, h] (before dt_bias), Bm/C [B, h, N]."""
    Bsz, h, P = x.shape
    N = Bm.shape[2]
    _ssm_update_kernel[(Bsz, h)](
        state, x, dtr, dt_bias, A, Bm, C, y,
        state.stride(0), x.stride(0), x.stride(1), dtr.stride(0), Bm.stride(0), Bm.stride(1),
        C.stride(0), C.stride(1), y.stride(0), y.stride(1), h,
        P=P, N=N, BLOCK_N=min(32, N), num_warps=4)
    return y


def state_passing(states, a_last, init):
    """In-place chunk recurrence; same contract as ops.state_passing_torch."""
    B, c, h, pn = states.shape
    assert states.is_contiguous() and states.dtype == torch.float32
    a_last = a_last.float().contiguous()
    fin = torch.empty(B, h, pn, dtype=torch.float32, device=states.device)
    BLOCK = 1024
    ini = init.float().contiguous() if init is not None else fin
    _state_passing_kernel[(B, h, triton.cdiv(pn, BLOCK))](
        states, a_last, ini, fin, c, pn,
        states.stride(0), states.stride(1), states.stride(2), a_last.stride(0), a_last.stride(1), a_last.stride(2),
        ini.stride(0), ini.stride(1), fin.stride(0), fin.stride(1),
        HAS_INIT=init is not None, BLOCK=BLOCK, num_warps=4)
    return states, fin


def describe():
    """A short description for the info map."""
    return "triton-%s" % VERSION if AVAILABLE else "none"
