#!/usr/bin/env bash
# Device-call script: GPU tests and short smoke benchmarks, logs under $OUT
# (default /tmp/ssmbench-gpu). Run from anywhere:
#   bash runners/torch/gpu_check.sh [all|tests|smoke|cap|generate|TEST_IDS...]
#   all      = tests + smoke (every variant x profile: decode 4K/103K, prefill 16K, generate 800+256)
#   cap      = decode at 131072 under a 24 GiB memory cap (the 4090 OOM question)
#   generate = the Table 2 recipe (800-token prompt with 768 image tokens, 256 new tokens)
#   anything else is passed to unittest as test ids (e.g. tests.test_gpu.TestMemoryCap)
set -u
OUT=${OUT:-/tmp/ssmbench-gpu}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PYTHONPATH=runners/torch
D="python3 -m ssmbench_torch.drive --reps ${REPS:-5} --warmup ${WARMUP:-2}"
V=${VARIANTS:-mmmamba-linear,mmmamba-hybrid,hovle}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,power.draw --format=csv >"$OUT/nvidia-smi.txt" 2>&1
tests() {
  timeout "${GPU_TEST_TIMEOUT:-300}" make gpu-test >"$OUT/gpu-test.log" 2>&1
  echo "gpu-test rc=$?"
  grep -E '^\[(attn|parity|weights)\]|^(FAIL|ERROR):|^Ran |^OK|^FAILED' "$OUT/gpu-test.log" | head -40
}
smoke() {
  timeout "${SMOKE_TIMEOUT:-150}" $D --generate-reps 1 --generate-warmup 0 --variant "$V" --profile matched,paper \
    --cells "${CELLS:-decode@4096,105472 prefill@16384 generate@800}" \
    --log "$OUT/smoke-protocol.jsonl" --json "$OUT/smoke.jsonl" >"$OUT/smoke.log" 2>"$OUT/smoke.err"
  echo "smoke rc=$?"
  sed -n '/^variant /,$p' "$OUT/smoke.log"
  grep -E 'Error|Traceback|warn' "$OUT/smoke.err" | head -20
}
cap() {
  timeout "${CAP_TIMEOUT:-90}" $D --variant "$V" --profile paper,matched --cells "decode@131072" \
    --memory-cap-gib 24 --json "$OUT/cap.jsonl" >"$OUT/cap.log" 2>"$OUT/cap.err"
  echo "cap rc=$?"
  sed -n '/^variant /,$p' "$OUT/cap.log"
}
generate() {
  timeout "${GEN_TIMEOUT:-90}" $D --generate-reps 1 --generate-warmup 1 --variant "$V" --profile matched,paper \
    --cells "generate@800" --json "$OUT/generate.jsonl" >"$OUT/generate.log" 2>"$OUT/generate.err"
  echo "generate rc=$?"
  sed -n '/^variant /,$p' "$OUT/generate.log"
}
unit() {
  (cd runners/torch && SSMBENCH_REQUIRE_GPU=1 timeout "${GPU_TEST_TIMEOUT:-150}" python3 -m unittest -v "$1") >>"$OUT/unit.log" 2>&1
  echo "$1 rc=$?"
  grep -E '^\[(attn|parity|weights)\]|^(FAIL|ERROR):|^Ran |^OK|^FAILED' "$OUT/unit.log" | tail -12
}
for what in "${@:-all}"; do
  case "$what" in
  all) tests; smoke ;;
  tests|smoke|cap|generate) "$what" ;;
  tests.*) unit "$what" ;;
  *) echo "unknown step $what" ;;
  esac
done
