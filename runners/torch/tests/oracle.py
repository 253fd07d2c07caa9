"""An independent float64 NumPy implementation of runners/MODEL.md (test oracle).

Written from MODEL.md alone, with naive loops and the checkpoint's own
layout (packed wqkv, conv1d [C, 1, K]); it shares no code with the worker
except the config parser. forward() returns the logits at every position;
since the model is causal these are also the logits of token-by-token
decoding.
"""

import numpy as np


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _silu(z):
    return z / (1.0 + np.exp(-z))


def _softplus(z):
    return np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20))))


def forward(cfg, W, tokens):
    """Logits [T, V] of the token sequence. W maps checkpoint names to float64 arrays."""
    H, nh, nkv, d = cfg.hidden, cfg.heads, cfg.kv_heads, cfg.head_dim
    g = nh // nkv
    eps = cfg.norm_eps
    T = len(tokens)
    x = W["embedding_model.llm_text_embeddings.weight"][np.asarray(tokens)].astype(np.float64)
    for layer in cfg.layers:
        p = layer.prefix + "."
        h = _rms(x, W[p + "attention_norm.weight"], eps)
        if layer.kind == "attention":
            theta = cfg.rope_theta_emb if layer.part == "embedding" else cfg.rope_theta_llm
            Wp = W[p + "attention.wqkv.weight"].reshape(nkv, g + 2, d, H)
            Wq = Wp[:, :g].reshape(nh, d, H)
            Wk, Wv = Wp[:, g], Wp[:, g + 1]
            q = np.einsum("hdi,ti->thd", Wq, h)
            k = np.einsum("hdi,ti->thd", Wk, h)
            v = np.einsum("hdi,ti->thd", Wv, h)
            half = d // 2
            inv = theta ** (-2.0 * np.arange(half) / d)
            ang = np.arange(T)[:, None] * inv[None, :]
            cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

            def rope(a):
                a1, a2 = a[..., :half], a[..., half:]
                return np.concatenate((a1 * cos - a2 * sin, a2 * cos + a1 * sin), axis=-1)
            q, k = rope(q), rope(k)
            out = np.zeros((T, nh, d))
            for hq in range(nh):
                kv = hq // g
                for t in range(T):
                    s = k[:t + 1, kv] @ q[t, hq] / np.sqrt(d)
                    s = np.exp(s - s.max())
                    s /= s.sum()
                    out[t, hq] = s @ v[:t + 1, kv]
            o = out.reshape(T, nh * d) @ W[p + "attention.wo.weight"].T
        else:
            a = p + "attention."
            z = h @ W[a + "wvkqgdt.weight"].T
            C = 2 * nkv * d + nh * d
            raw, gate, dtr = z[:, :C], z[:, C:C + nh * d], z[:, C + nh * d:]
            cw = W[a + "conv1d.weight"][:, 0, :]  # [C, K]
            Kc = cw.shape[1]
            xbc = np.tile(W[a + "conv1d.bias"], (T, 1)).astype(np.float64)
            for j in range(Kc):
                shift = Kc - 1 - j  # tap j reads input t - shift
                src = np.zeros_like(raw)
                src[shift:] = raw[:T - shift]
                xbc += cw[:, j] * src
            xbc = _silu(xbc)
            vv = xbc[:, :nkv * d].reshape(T, nkv, d)
            kk = xbc[:, nkv * d:2 * nkv * d].reshape(T, nkv, d)
            qq = xbc[:, 2 * nkv * d:].reshape(T, nh, d)
            dt = _softplus(dtr + W[a + "dt_bias"])
            A = -np.exp(W[a + "A_log_bias"])
            y = np.zeros((T, nh, d))
            for hh in range(nh):
                S = np.zeros((d, d))
                grp = hh // g
                for t in range(T):
                    S = np.exp(dt[t, hh] * A[hh]) * S + dt[t, hh] * np.outer(vv[t, grp], kk[t, grp])
                    y[t, hh] = S @ qq[t, hh]
            y = _rms(y, W[a + "g_norm_swish_gate.weight"], eps) * _silu(gate.reshape(T, nh, d))
            o = y.reshape(T, nh * d) @ W[a + "o_proj.weight"].T
        x = x + o
        h = _rms(x, W[p + "ffn_norm.weight"], eps)
        x = x + (_silu(h @ W[p + "feed_forward.w1.weight"].T) * (h @ W[p + "feed_forward.w3.weight"].T)) \
            @ W[p + "feed_forward.w2.weight"].T
    x = _rms(x, W["language_model.model.norm.weight"], eps)
    return x @ W["language_model.output.weight"].T
