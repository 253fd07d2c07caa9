"""Config parsing and analytic sizes (standard library only)."""

import copy
import json
import os
import unittest

from ssmbench_torch import config as C

GIB = float(1 << 30)


def builtin(name):
    with open(os.path.join(C.CONFIG_DIR, name + ".json")) as f:
        return json.load(f)


class TestBuiltins(unittest.TestCase):
    def test_real_configs_match_reference(self):
        # mmmamba.md sections 1 and 6; the brief's bf16 weight sizes in GiB.
        cases = [("hovle", 32, 0, 131072, 0, 4.855), ("mmmamba-linear", 0, 32, 0, 32 * 532480, 5.107),
                 ("mmmamba-hybrid", 8, 24, 32768, 24 * 532480, 5.044)]
        for name, attn, mamba, kv, state, gib in cases:
            with self.subTest(name=name):
                m = C.load(name)
                self.assertEqual((len(m.layers), m.hidden, m.heads, m.kv_heads, m.head_dim, m.intermediate),
                                 (32, 2048, 16, 8, 128, 8192))
                self.assertEqual(m.count_kind(C.ATTENTION), attn)
                self.assertEqual(m.count_kind(C.MAMBA2), mamba)
                self.assertEqual(m.kv_bytes_per_token("bf16"), kv)
                self.assertEqual(m.mamba_state_bytes("bf16", "bf16"), state)
                self.assertAlmostEqual(m.param_count() * 2 / GIB, gib, places=3)
                # The parameter list of the checkpoint adds up to the analytic count.
                total = 0
                for shape in m.param_shapes().values():
                    n = 1
                    for s in shape:
                        n *= s
                    total += n
                self.assertEqual(total, m.param_count())
        h = C.load("hovle")
        self.assertEqual(h.param_count(), 2606290944)
        self.assertEqual(h.layer_params(C.ATTENTION), 62918656)
        self.assertEqual(C.load("mmmamba-linear").mixer_params(C.MAMBA2), 16822432)

    def test_hybrid_placement_and_thetas(self):
        m = C.load("mmmamba-hybrid")
        for l in m.layers:
            self.assertEqual(l.kind, C.ATTENTION if l.global_idx % 4 == 0 else C.MAMBA2, l)
        self.assertEqual(m.layers[12].prefix, "language_model.model.layers.4")
        self.assertEqual(m.layers[3].prefix, "embedding_model.encoder.3")
        self.assertEqual((m.rope_theta_emb, m.rope_theta_llm), (10000.0, 1000000.0))
        self.assertEqual(m.n_emb_layers, 8)

    def test_decode_step_bytes(self):
        m = C.load("mmmamba-hybrid")
        w = m.decode_weight_bytes("bf16")
        self.assertEqual(m.decode_step_bytes("bf16", "bf16", 1000, 1),
                         w + m.kv_bytes_per_token("bf16") * 1001 + 2 * m.mamba_state_bytes("bf16", "bf16"))
        # fp32 SSM state doubles the ssm term only.
        self.assertEqual(m.mamba_state_bytes("bf16", "fp32") - m.mamba_state_bytes("bf16", "bf16"),
                         24 * 16 * 128 * 128 * 2)

    def test_tiny_configs_parse(self):
        for name in ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"):
            with self.subTest(name=name):
                m = C.load(name)
                self.assertEqual(len(m.layers), 8)
                self.assertEqual(m.head_dim, 32)
                self.assertIn(name, C.builtin_names())


class TestParseErrors(unittest.TestCase):
    def mutate(self, fn):
        doc = copy.deepcopy(builtin("mmmamba-hybrid-tiny"))
        fn(doc)
        return doc

    def test_errors_name_the_field(self):
        cases = [
            ("llm_config", lambda d: d.pop("llm_config")),
            ("embedding_config", lambda d: d.pop("embedding_config")),
            ("llm_config.hidden_size", lambda d: d["llm_config"].pop("hidden_size")),
            ("llm_config.num_attention_heads", lambda d: d["llm_config"].update(num_attention_heads=0)),
            ("llm_config.num_key_value_heads", lambda d: (d["llm_config"].update(num_key_value_heads=3),
                                                          d["embedding_config"].pop("num_key_value_heads"))),
            ("embedding_config.hidden_size", lambda d: d["embedding_config"].update(hidden_size=64)),
            ("llm_config.layers_block_type", lambda d: d["llm_config"]["layers_block_type"].pop()),
            ("embedding_config.layers_block_type[1]", lambda d: d["embedding_config"].update(layers_block_type=["mha", "rwkv"])),
            ("llm_config.hidden_act", lambda d: d["llm_config"].update(hidden_act="gelu")),
            ("llm_config.vocab_size", lambda d: d["llm_config"].update(vocab_size="many")),
            ("embedding_config.llm_vocab_size", lambda d: d["embedding_config"].update(llm_vocab_size=1.5)),
        ]
        for field, fn in cases:
            with self.subTest(field=field):
                with self.assertRaises(C.ConfigError) as cm:
                    C.parse(self.mutate(fn), "cfg.json")
                self.assertIn(field, str(cm.exception))
                self.assertIn("cfg.json", str(cm.exception))

    def test_not_json(self):
        for doc in (b"{", "[1, 2]", b"null"):
            with self.assertRaises(C.ConfigError):
                C.parse(doc, "x")

    def test_missing_block_types_mean_attention(self):
        doc = self.mutate(lambda d: (d["llm_config"].pop("layers_block_type"), d["embedding_config"].pop("layers_block_type")))
        m = C.parse(doc)
        self.assertEqual(m.count_kind(C.ATTENTION), 8)

    def test_overrides(self):
        doc = self.mutate(lambda d: d["llm_config"].update(ssmbench_chunk_size=16, ssmbench_conv_kernel=3))
        m = C.parse(json.dumps(doc))
        self.assertEqual((m.chunk_size, m.conv_kernel), (16, 3))
        self.assertEqual(m.mixer_params(C.MAMBA2) - C.parse(builtin("mmmamba-hybrid-tiny")).mixer_params(C.MAMBA2),
                         m.conv_channels)

    def test_load_unknown(self):
        with self.assertRaises(C.ConfigError):
            C.load("no-such-model")


if __name__ == "__main__":
    unittest.main()
