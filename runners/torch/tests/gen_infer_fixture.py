"""Write tests/testdata/infer_expected.json: the Go CPU runner's answers to the infer fixture requests.

Run from the repository root (standard library only; PyTorch is not needed):

    PYTHONPATH=runners/torch python3 runners/torch/tests/gen_infer_fixture.py [--ssmbench "bin/ssmbench"]

--ssmbench is the command that starts the ssmbench CLI (default: bin/ssmbench
when it exists, else "go run ./cmd/ssmbench"); the script runs
``<cmd> worker cpu`` and speaks the runner protocol to it. See
infer_fixture.py for the checkpoints, pixel files and prompts. Regenerate
after a change to runners/cpu's model, vision path, toy tokenizer or stop
rules, or to the parity checkpoints; --check compares instead of writing
(exit 1 on a difference).
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # runners/torch: ssmbench_torch and tests
from tests import infer_fixture as fx  # noqa: E402


class GoWorker(object):
    """``ssmbench worker cpu`` as a subprocess, one request at a time."""

    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd + ["worker", "cpu"], cwd=fx.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True, encoding="utf-8")
        self.hello = self._read()
        if self.hello.get("type") != "hello" or not self.hello.get("capabilities", {}).get("infer"):
            raise SystemExit("the Go worker's hello does not offer infer: %s" % self.hello)
        self.n = 0

    def _read(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise SystemExit("the Go worker exited (rc %s)" % self.p.wait())
            msg = json.loads(line)
            if msg.get("type") != "log":
                return msg

    def ask(self, typ, body):
        self.n += 1
        self.p.stdin.write(json.dumps({"type": typ, "id": "%s-%d" % (typ, self.n), typ: body}) + "\n")
        self.p.stdin.flush()
        msg = self._read()
        if msg.get("type") == "error":
            raise SystemExit("the Go worker answered %s with an error: %s" % (typ, msg))
        return msg

    def close(self):
        self.p.stdin.write(json.dumps({"type": "shutdown"}) + "\n")
        self.p.stdin.close()
        self.p.wait()


def cases_for(variant, ask):
    """The fixture cases of a variant; ask(case) returns the Go output of one case."""
    out = []

    def add(checkpoint, prompt, max_new, stop, **extra):
        c = {"variant": variant, "checkpoint": checkpoint, "prompt": prompt,
             "request": {"max_new_tokens": max_new, "stop": stop}}
        c.update(extra)
        c["expected"] = ask(c)
        out.append(c)
        return c["expected"]

    add("raw", "text", 16, [])
    add("raw", "image", 12, ["<|im_end|>"])
    base = add("ascii", "image", 24, [])["text"]
    if len(base) < 12:
        raise SystemExit("%s: the ascii answer %r is too short to pick stop strings from" % (variant, base))
    add("ascii", "image", 24, ["\u00a7never", base[8:10]])   # cut inside the text
    add("ascii", "image", 1, ["<|im_end|>"])                 # max_new_tokens 1
    add("imstop", "image", 24, ["<|im_end|>"], im_end_from=ord(base[3]))  # <|im_end|> where base[3] was
    return out


def generate(cmd):
    doc = {"about": "Go CPU runner answers to infer requests; written by runners/torch/tests/gen_infer_fixture.py, "
                    "read by test_infer.py and test_gpu.py (see infer_fixture.py)", "cases": []}
    with tempfile.TemporaryDirectory(prefix="ssmbench-infer-fixture-") as tmp:
        for variant in fx.VARIANTS:
            w = GoWorker(cmd)
            doc["runner"] = "%s %s" % (w.hello["runner"]["name"], w.hello["runner"]["version"])
            loaded = [None]

            def ask(case):
                ckpt, body = fx.materialise(case, tmp)
                if loaded[0] != ckpt:
                    w.ask("load", dict(fx.load_request(variant, ckpt), profile="reference"))
                    loaded[0] = ckpt
                msg = w.ask("infer", body)
                if msg.get("type") != "output":
                    raise SystemExit("%s: unexpected reply %s" % (variant, msg))
                return msg["output"]
            try:
                doc["cases"] += cases_for(variant, ask)
            finally:
                w.close()
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = "bin/ssmbench" if os.path.isfile(os.path.join(fx.ROOT, "bin", "ssmbench")) else "go run ./cmd/ssmbench"
    ap.add_argument("--ssmbench", default=default, help="command that runs the ssmbench CLI (default %(default)s)")
    ap.add_argument("--check", action="store_true", help="compare with the committed fixture instead of writing it")
    a = ap.parse_args()
    doc = generate(shlex.split(a.ssmbench))
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if a.check:
        with open(fx.EXPECTED, encoding="utf-8") as f:
            if f.read() != text:
                print("%s differs from what the Go runner answers now" % fx.EXPECTED)
                return 1
        print("%s matches the Go runner" % fx.EXPECTED)
        return 0
    os.makedirs(os.path.dirname(fx.EXPECTED), exist_ok=True)
    with open(fx.EXPECTED, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %d cases to %s" % (len(doc["cases"]), fx.EXPECTED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
