"""Parity with the Go CPU reference's fixtures (runners/cpu/testdata/parity/<variant>/).

Both profiles, all three variants, fp32, tolerance parity.TOLERANCE
(max|ours - expected| / max|expected|). On CPU here; test_gpu repeats it on
the GPU with the CUDA-graph and Triton paths. Skips until the fixtures exist.
"""

import unittest

from tests.util import HAVE_TORCH, needs_torch

if HAVE_TORCH:
    import torch
    from ssmbench_torch import parity


def have_transformers():
    try:
        import transformers  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False


def check_fixtures(case, device):
    fx = parity.fixtures()
    if not fx:
        case.skipTest("no parity fixtures under %s yet" % parity.FIXTURE_DIR)
    for variant, d in sorted(fx.items()):
        exp = parity.load_expected(d)
        for profile in ("paper", "matched"):
            if variant.startswith("hovle") and profile == "paper" and not have_transformers():
                continue
            with case.subTest(variant=variant, profile=profile, device=device):
                pre, dec, info = parity.run(d, exp["tokens"], exp["decode_tokens"], profile, device)
                e1 = parity.error(pre, exp["prefill_logits"])
                e2 = parity.error(dec, exp["decode_logits"])
                case.assertLess(e1, parity.TOLERANCE, "prefill logits, %s" % info.get("runtime"))
                case.assertLess(e2, parity.TOLERANCE, "decode logits, %s" % info.get("runtime"))


@needs_torch
class TestGoFixturesCPU(unittest.TestCase):
    def test_fixtures(self):
        torch.set_num_threads(max(1, torch.get_num_threads()))
        check_fixtures(self, "cpu")


if __name__ == "__main__":
    unittest.main()
