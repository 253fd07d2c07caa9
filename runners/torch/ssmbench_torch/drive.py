"""A small standalone driver: speaks the protocol to a worker and prints a table.

    python3 -m ssmbench_torch.drive --variant mmmamba-linear --profile matched \\
        --phase decode --seq-len 4096 --reps 10

Comma-separated lists give a product; one worker process per (variant,
profile), loaded once, then all its cells. Standard library only (the worker
it starts needs PyTorch).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from . import config as cfgmod


class Worker(object):
    """A worker subprocess and its protocol stream."""

    def __init__(self, python, env_extra=None, log=None):
        env = dict(os.environ)
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(env_extra or {})
        self.log = log
        self.p = subprocess.Popen([python, "-m", "ssmbench_torch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, universal_newlines=True, bufsize=1)
        self.hello = self._read()
        if self.hello.get("type") != "hello" or self.hello.get("protocol") != 1:
            raise RuntimeError("bad hello: %r" % self.hello)
        self.n = 0

    def _read(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("worker exited (rc=%s)" % self.p.poll())
            msg = json.loads(line)
            if self.log is not None:
                self.log.write(json.dumps(msg) + "\n")
            if msg.get("type") == "log":
                sys.stderr.write("  [worker %s] %s\n" % (msg.get("level"), msg.get("message")))
                continue
            return msg

    def call(self, msg):
        """Send a request, return its reply (an error reply is returned, not raised)."""
        self.n += 1
        if msg.get("type") != "shutdown":
            msg.setdefault("id", "%s-%d" % (msg["type"], self.n))
        if self.log is not None:
            self.log.write(json.dumps(msg) + "\n")
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.call({"type": "shutdown"})
        except Exception:  # noqa: BLE001
            pass
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()


def _csv(s, kind=str):
    return [kind(x) for x in str(s).split(",") if x != ""]


def run_cell(w, phase, n, args, fill):
    cell = {"phase": phase, "seq_len": n, "batch": args.batch, "seed": args.seed}
    if phase == "generate":
        cell["new_tokens"] = args.new_tokens
    if phase == "decode":
        cell["cache_fill"] = fill
    r = w.call({"type": "cell", "cell": cell})
    if r.get("type") == "error":
        return {"status": r.get("status"), "message": r.get("message")}
    cid = r["id"]
    ready = r
    samples = []
    warm, reps = args.warmup, args.reps
    if phase == "generate":
        warm = args.generate_warmup if args.generate_warmup is not None else warm
        reps = args.generate_reps if args.generate_reps is not None else reps
    for i in range(warm + reps):
        s = w.call({"type": "rep", "id": cid, "index": i, "warmup": i < warm})
        if s.get("type") == "error":
            return {"status": s.get("status"), "message": s.get("message"), "ready": ready}
        if i >= warm:
            samples.append(s.get("metrics", {}))
    res = w.call({"type": "end", "id": cid})
    return {"status": "ok", "ready": ready, "samples": samples, "result": res}


def summarize(out):
    s = out.get("samples") or []
    rm = (out.get("ready") or {}).get("metrics", {})
    ri = (out.get("ready") or {}).get("info", {})

    def med(k):
        v = [x[k] for x in s if k in x]
        return statistics.median(v) if v else None
    row = {"lat_ms": med("latency_ms"), "lat_min": min([x["latency_ms"] for x in s]) if s else None,
           "peak_gib": (med("alloc_peak_bytes") or 0) / 2 ** 30, "fill": ri.get("cache_fill", "")}
    ip = med("alloc_peak_incl_prefill_bytes")
    row["incl_gib"] = ip / 2 ** 30 if ip else None
    row["floor_ms"] = rm.get("floor_ms_analytic")
    row["analytic_gib"] = (rm.get("weight_bytes", 0) + rm.get("kv_cache_bytes_analytic", 0) + rm.get("state_bytes_analytic", 0)) / 2 ** 30
    row["tok_s"] = med("tokens_per_s")
    row["prefill_ms"] = med("prefill_ms")
    row["dec_ms"] = med("decode_ms_mean")
    return row


def _f(v, fmt):
    return fmt % v if v is not None else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="mmmamba-linear", help="builtin config names or config paths, comma-separated")
    ap.add_argument("--profile", default="matched")
    ap.add_argument("--phase", default="decode")
    ap.add_argument("--seq-len", default="4096")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--cache-fill", default="auto")
    ap.add_argument("--memory-cap-gib", type=float, default=0.0)
    ap.add_argument("--weights", default="random", help="random or a checkpoint directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--option", action="append", default=[], help="load option key=value (repeatable)")
    ap.add_argument("--cells", help="mixed plan instead of --phase/--seq-len, e.g. 'decode@4096,105472 prefill@16384 generate@800'")
    ap.add_argument("--generate-reps", type=int, help="repetitions of generate cells (default --reps)")
    ap.add_argument("--generate-warmup", type=int, help="warm-up repetitions of generate cells (default --warmup)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--log", help="write every protocol message to this file (JSON lines)")
    ap.add_argument("--json", help="write one JSON line per cell to this file")
    args = ap.parse_args(argv)
    opts = dict(o.split("=", 1) for o in args.option)
    if args.cells:
        plan = []
        for item in args.cells.split():
            ph, _, ns = item.partition("@")
            plan += [(ph, n) for n in _csv(ns, int)]
    else:
        plan = [(ph, n) for ph in _csv(args.phase) for n in _csv(args.seq_len, int)]
    seqs = [n for _, n in plan]
    phases = [ph for ph, _ in plan]
    log = open(args.log, "w") if args.log else None
    jout = open(args.json, "w") if args.json else None
    hdr = "%-16s %-8s %-8s %7s %-9s %9s %9s %8s %8s %8s %8s %9s %8s" % (
        "variant", "profile", "phase", "seq", "fill", "median_ms", "min_ms", "floor_ms", "peakGiB", "inclGiB",
        "anaGiB", "tok/s", "pre_ms")
    rows = []
    for variant in _csv(args.variant):
        cfg = cfgmod.load(variant)
        for profile in _csv(args.profile):
            t0 = time.time()
            w = Worker(args.python, log=log)
            weights = {"kind": "random", "seed": args.seed} if args.weights == "random" else {"kind": "safetensors", "path": args.weights}
            load = {"variant": variant, "config": cfg.raw, "weights": weights, "dtype": args.dtype, "profile": profile,
                    "memory_cap_bytes": int(args.memory_cap_gib * 2 ** 30),
                    "max_seq_len": max(seqs) + (args.new_tokens if "generate" in phases else 1), "options": opts}
            r = w.call({"type": "load", "load": load})
            if r.get("type") == "error":
                print("%s %s: load failed (%s): %s" % (variant, profile, r.get("status"), r.get("message")))
                w.close()
                continue
            lm = r.get("metrics", {})
            print("# %s/%s loaded in %.1f s: %.3f GiB weights, copy bandwidth %.2f TB/s; %s" % (
                variant, profile, time.time() - t0, lm.get("weight_bytes", 0) / 2 ** 30,
                lm.get("copy_bandwidth_bytes_per_s", 0) / 1e12,
                ", ".join("%s=%s" % kv for kv in sorted(r.get("info", {}).items()))))
            sys.stdout.flush()
            for phase, n in plan:
                out = run_cell(w, phase, n, args, args.cache_fill)
                if jout:
                    jout.write(json.dumps({"variant": variant, "profile": profile, "phase": phase, "seq_len": n,
                                           "out": out}) + "\n")
                    jout.flush()
                if out["status"] != "ok":
                    line = "%-16s %-8s %-8s %7d %s: %s" % (variant[:16], profile, phase, n, out["status"], out["message"][:120])
                else:
                    s = summarize(out)
                    line = "%-16s %-8s %-8s %7d %-9s %9s %9s %8s %8s %8s %8s %9s %8s" % (
                        variant[:16], profile, phase, n, s["fill"], _f(s["lat_ms"], "%.3f"), _f(s["lat_min"], "%.3f"),
                        _f(s["floor_ms"], "%.3f"), _f(s["peak_gib"], "%.3f"), _f(s["incl_gib"], "%.3f"),
                        _f(s["analytic_gib"], "%.3f"), _f(s["tok_s"], "%.1f"), _f(s["prefill_ms"], "%.1f"))
                rows.append(line)
                print(line)
                sys.stdout.flush()
            w.close()
    print("\n" + hdr)
    for line in rows:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
