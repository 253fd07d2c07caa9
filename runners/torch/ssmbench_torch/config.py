"""Model configurations (standard library only).

This is the Python rendering of ``runners/configs`` (Go): it parses the same
config.json documents (a chat config with ``embedding_config`` and
``llm_config``) with the same defaults and validation, and computes the same
analytic sizes (``runners/configs/sizes.go``). Keep the two in step.
"""

import json
import os
from collections import OrderedDict

ATTENTION = "attention"
MAMBA2 = "mamba2"

# Directory of the builtin JSON configs shared with the Go side.
CONFIG_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "configs"))


class ConfigError(ValueError):
    """A config document is malformed; the message names the field."""


def dtype_bytes(dtype):
    """Bytes of one element of a dtype name, 0 for an unknown name."""
    return {"bf16": 2, "fp16": 2, "bfloat16": 2, "float16": 2, "fp32": 4, "float32": 4}.get(dtype, 0)


class Layer(object):
    """One decoder layer: global index, part ("embedding"/"llm"), index in part, kind."""

    __slots__ = ("global_idx", "part", "index", "kind")

    def __init__(self, global_idx, part, index, kind):
        self.global_idx, self.part, self.index, self.kind = global_idx, part, index, kind

    @property
    def prefix(self):
        """Safetensors name prefix, e.g. ``embedding_model.encoder.3``."""
        if self.part == "embedding":
            return "embedding_model.encoder.%d" % self.index
        return "language_model.model.layers.%d" % self.index

    def __repr__(self):
        return "Layer(%d, %s, %d, %s)" % (self.global_idx, self.part, self.index, self.kind)


class ModelConfig(object):
    """A parsed, validated model configuration (see runners/MODEL.md)."""

    def __init__(self):
        self.name = ""
        self.hidden = self.heads = self.kv_heads = self.head_dim = self.intermediate = 0
        self.norm_eps = 1e-5
        self.text_vocab = self.vocab = 0
        self.rope_theta_emb, self.rope_theta_llm = 10000.0, 1000000.0
        self.image_size, self.patch_size, self.downsample, self.img_context_tok = 448, 14, 0.5, 92546
        self.layers = []
        self.conv_kernel, self.chunk_size = 2, 128
        self.raw = {}

    # ---- shape helpers -------------------------------------------------
    @property
    def group(self):
        """GQA group size: query heads per KV head."""
        return self.heads // self.kv_heads

    @property
    def n_emb_layers(self):
        """Number of embedding-module layers (they come first)."""
        return sum(1 for l in self.layers if l.part == "embedding")

    def count_kind(self, kind):
        """How many layers are of the given kind."""
        return sum(1 for l in self.layers if l.kind == kind)

    def mamba_widths(self):
        """Row widths of wvkqgdt: V, K, Q, G, dt."""
        return (self.kv_heads * self.head_dim, self.kv_heads * self.head_dim,
                self.heads * self.head_dim, self.heads * self.head_dim, self.heads)

    @property
    def conv_channels(self):
        """Width of the depthwise conv over V|K|Q."""
        v, k, q, _, _ = self.mamba_widths()
        return v + k + q

    @property
    def d_state(self):
        """SSM state size N (= head_dim, since B = K)."""
        return self.head_dim

    @property
    def grid(self):
        """Patch grid side of one image tile."""
        return self.image_size // self.patch_size

    @property
    def image_tokens_per_tile(self):
        """Tokens one tile becomes after the pixel shuffle."""
        return int(round(self.grid * self.grid * self.downsample * self.downsample))

    # ---- parameter counts (sizes.go) -------------------------------------
    def mixer_params(self, kind):
        h = self.hidden
        if kind == ATTENTION:
            return (self.heads + 2 * self.kv_heads) * self.head_dim * h + h * h
        v, k, q, g, dt = self.mamba_widths()
        c = self.conv_channels
        return (v + k + q + g + dt) * h + h * h + c * self.conv_kernel + c + self.head_dim + 2 * self.heads

    def layer_params(self, kind):
        return self.mixer_params(kind) + 3 * self.hidden * self.intermediate + 2 * self.hidden

    def vision_params(self):
        h, p, g = self.hidden, self.patch_size, self.grid
        shuffle = int(round(1.0 / (self.downsample * self.downsample)))
        patch = h * 3 * p * p + h
        pos = (1 + g * g) * h
        proj = shuffle * h * h + h + h * h + h
        return patch + h + pos + proj

    def param_count(self):
        """Total parameters as stored in a checkpoint (tok_embeddings included)."""
        h = self.hidden
        n = sum(self.layer_params(l.kind) for l in self.layers)
        return n + self.text_vocab * h + self.vision_params() + self.vocab * h + h + self.vocab * h

    def kv_bytes_per_token(self, dtype):
        """KV-cache bytes one token adds per sequence over all attention layers."""
        return self.count_kind(ATTENTION) * 2 * self.kv_heads * self.head_dim * dtype_bytes(dtype)

    def mamba_state_bytes(self, dtype, ssm_dtype):
        """Constant decode state per sequence: conv state (dtype) + SSM state (ssm_dtype)."""
        conv = self.conv_channels * (self.conv_kernel - 1) * dtype_bytes(dtype)
        ssm = self.heads * self.head_dim * self.d_state * dtype_bytes(ssm_dtype)
        return self.count_kind(MAMBA2) * (conv + ssm)

    def decode_weight_bytes(self, dtype):
        """Weight bytes one decode step reads (no tok_embeddings, no vision; one text row)."""
        h = self.hidden
        n = sum(self.layer_params(l.kind) for l in self.layers)
        return (n + h + h + self.vocab * h) * dtype_bytes(dtype)

    def decode_step_bytes(self, dtype, ssm_dtype, ctx, batch):
        """Fewest bytes a decode step at context ctx moves: weights, KV read (+1 written), state r/w."""
        kv = self.kv_bytes_per_token(dtype) * (ctx + 1) * batch
        state = 2 * self.mamba_state_bytes(dtype, ssm_dtype) * batch
        return self.decode_weight_bytes(dtype) + kv + state

    # ---- checkpoint layout ------------------------------------------------
    def param_shapes(self):
        """Checkpoint parameter names (mmmamba.md section 4.3) and shapes, in order."""
        h, i, d = self.hidden, self.intermediate, self.head_dim
        out = OrderedDict()
        e = "embedding_model."
        p = self.patch_size
        out[e + "vision_embeddings.patch_embedding.weight"] = (h, 3, p, p)
        out[e + "vision_embeddings.patch_embedding.bias"] = (h,)
        out[e + "vision_embeddings.class_embedding"] = (1, 1, h)
        out[e + "vision_embeddings.position_embedding"] = (1, 1 + self.grid * self.grid, h)
        out[e + "llm_text_embeddings.weight"] = (self.text_vocab, h)
        shuffle = int(round(1.0 / (self.downsample * self.downsample)))
        out[e + "pixel_shuffle_proj.0.weight"] = (h, shuffle * h)
        out[e + "pixel_shuffle_proj.0.bias"] = (h,)
        out[e + "pixel_shuffle_proj.2.weight"] = (h, h)
        out[e + "pixel_shuffle_proj.2.bias"] = (h,)
        for l in self.layers:
            pre = l.prefix + "."
            out[pre + "attention_norm.weight"] = (h,)
            out[pre + "ffn_norm.weight"] = (h,)
            out[pre + "feed_forward.w1.weight"] = (i, h)
            out[pre + "feed_forward.w3.weight"] = (i, h)
            out[pre + "feed_forward.w2.weight"] = (h, i)
            if l.kind == ATTENTION:
                out[pre + "attention.wqkv.weight"] = ((self.heads + 2 * self.kv_heads) * d, h)
                out[pre + "attention.wo.weight"] = (h, h)
            else:
                c = self.conv_channels
                out[pre + "attention.wvkqgdt.weight"] = (sum(self.mamba_widths()), h)
                out[pre + "attention.conv1d.weight"] = (c, 1, self.conv_kernel)
                out[pre + "attention.conv1d.bias"] = (c,)
                out[pre + "attention.dt_bias"] = (self.heads,)
                out[pre + "attention.A_log_bias"] = (self.heads,)
                out[pre + "attention.g_norm_swish_gate.weight"] = (d,)
                out[pre + "attention.o_proj.weight"] = (h, h)
        out["language_model.model.tok_embeddings.weight"] = (self.vocab, h)
        out["language_model.model.norm.weight"] = (h,)
        out["language_model.output.weight"] = (self.vocab, h)
        return out


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def parse(doc, name="config"):
    """Parse and validate a config.json document (dict, str or bytes).

    Raises ConfigError naming the file and field on bad input.
    """
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode("utf-8")
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError as e:
            raise ConfigError("%s: %s" % (name, e))
    if not isinstance(doc, dict):
        raise ConfigError("%s: config must be a JSON object" % name)

    def fail(field, msg):
        return ConfigError("%s: %s: %s" % (name, field, msg))

    e, l = doc.get("embedding_config"), doc.get("llm_config")
    if not isinstance(e, dict):
        raise fail("embedding_config", "missing")
    if not isinstance(l, dict):
        raise fail("llm_config", "missing")

    def req_int(part, obj, field):
        v = obj.get(field)
        if v is None:
            raise fail(part + "." + field, "missing")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise fail(part + "." + field, "must be an integer, got %r" % (v,))
        if v <= 0:
            raise fail(part + "." + field, "must be > 0, got %d" % v)
        return int(v)

    def opt_num(part, obj, field, default, kind=float):
        v = obj.get(field)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise fail(part + "." + field, "must be a number, got %r" % (v,))
        return kind(v)

    m = ModelConfig()
    m.name, m.raw = name, doc
    m.hidden = req_int("llm_config", l, "hidden_size")
    m.heads = req_int("llm_config", l, "num_attention_heads")
    m.kv_heads = req_int("llm_config", l, "num_key_value_heads")
    m.intermediate = req_int("llm_config", l, "intermediate_size")
    m.vocab = req_int("llm_config", l, "vocab_size")
    m.text_vocab = req_int("embedding_config", e, "llm_vocab_size")
    n_emb = req_int("embedding_config", e, "num_hidden_layers")
    n_llm = req_int("llm_config", l, "num_hidden_layers")
    for field, want in (("hidden_size", m.hidden), ("num_attention_heads", m.heads),
                        ("num_key_value_heads", m.kv_heads), ("intermediate_size", m.intermediate)):
        v = e.get(field)
        if v is not None and v != want:
            raise fail("embedding_config." + field,
                       "%s differs from llm_config's %d; both parts must share one layer shape" % (v, want))
    if m.hidden % m.heads:
        raise fail("llm_config.num_attention_heads", "%d does not divide hidden_size %d" % (m.heads, m.hidden))
    if m.heads % m.kv_heads:
        raise fail("llm_config.num_key_value_heads",
                   "%d does not divide num_attention_heads %d" % (m.kv_heads, m.heads))
    m.head_dim = m.hidden // m.heads
    for part, obj in (("embedding_config", e), ("llm_config", l)):
        act = obj.get("hidden_act") or ""
        if act not in ("", "silu"):
            raise fail(part + ".hidden_act", "%r is not supported (only silu)" % act)
    m.norm_eps = opt_num("llm_config", l, "rms_norm_eps", 1e-5)
    m.rope_theta_emb = opt_num("embedding_config", e, "rope_theta", 10000.0)
    m.rope_theta_llm = opt_num("llm_config", l, "rope_theta", 1000000.0)
    m.image_size = opt_num("embedding_config", e, "image_size", 448, int)
    m.patch_size = opt_num("embedding_config", e, "patch_size", 14, int)
    m.downsample = opt_num("embedding_config", e, "downsample_ratio", 0.5)
    m.img_context_tok = opt_num("embedding_config", e, "img_context_token_id", 92546, int)
    m.conv_kernel = opt_num("llm_config", l, "ssmbench_conv_kernel", 2, int)
    m.chunk_size = opt_num("llm_config", l, "ssmbench_chunk_size", 128, int)
    if m.conv_kernel < 1:
        raise fail("llm_config.ssmbench_conv_kernel", "must be >= 1")
    if m.chunk_size < 1:
        raise fail("llm_config.ssmbench_chunk_size", "must be >= 1")
    for part, n, obj in (("embedding", n_emb, e), ("llm", n_llm, l)):
        field = part + "_config.layers_block_type"
        kinds = obj.get("layers_block_type")
        if kinds is not None:
            if not isinstance(kinds, list):
                raise fail(field, "must be a list")
            if len(kinds) != n:
                raise fail(field, "has %d entries, num_hidden_layers is %d" % (len(kinds), n))
        for i in range(n):
            kind = ATTENTION
            if kinds is not None:
                k = str(kinds[i]).lower()
                if k in ("mha", "attention", "attn"):
                    kind = ATTENTION
                elif k in ("mamba2", "mamba"):
                    kind = MAMBA2
                else:
                    raise fail("%s[%d]" % (field, i), "unknown block type %r (want mha or mamba2)" % kinds[i])
            m.layers.append(Layer(len(m.layers), part, i, kind))
    return m


def builtin_names():
    """Names of the builtin configs in runners/configs."""
    try:
        return sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".json"))
    except OSError:
        return []


def load(ref):
    """Resolve ref as a builtin name, a config.json path or a checkpoint directory."""
    path = os.path.join(CONFIG_DIR, ref + ".json")
    if not os.path.isfile(path):
        path = os.path.join(ref, "config.json") if os.path.isdir(ref) else ref
    if not os.path.isfile(path):
        raise ConfigError("model config %r is neither a builtin (%s) nor a file" % (ref, ", ".join(builtin_names())))
    with open(path, "rb") as f:
        return parse(f.read(), path)
