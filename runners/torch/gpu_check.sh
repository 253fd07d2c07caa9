#!/usr/bin/env bash
# One device call: the GPU tests, then a short smoke benchmark of all three
# variants in both profiles. Logs and JSON go under $OUT (or /tmp/ssmbench-gpu).
# Usage (repo root): bash runners/torch/gpu_check.sh [tests|smoke|all]
set -u
OUT=${OUT:-/tmp/ssmbench-gpu}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PYTHONPATH=runners/torch
what=${1:-all}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,power.draw --format=csv >"$OUT/nvidia-smi.txt" 2>&1
if [ "$what" = tests ] || [ "$what" = all ]; then
  timeout "${GPU_TEST_TIMEOUT:-150}" make gpu-test >"$OUT/gpu-test.log" 2>&1
  echo "gpu-test rc=$?"
  grep -E '^\[(attn|parity)\]|^(FAIL|ERROR):|^Ran |^OK|^FAILED' "$OUT/gpu-test.log" | head -40
fi
if [ "$what" = smoke ] || [ "$what" = all ]; then
  D="python3 -m ssmbench_torch.drive --reps ${REPS:-5} --warmup 2 --generate-reps 1 --generate-warmup 0"
  timeout "${SMOKE_TIMEOUT:-150}" $D --variant mmmamba-linear,mmmamba-hybrid,hovle --profile matched,paper \
    --cells "${CELLS:-decode@4096,105472 prefill@16384 generate@800}" \
    --log "$OUT/smoke-protocol.jsonl" --json "$OUT/smoke.jsonl" >"$OUT/smoke.log" 2>"$OUT/smoke.err"
  echo "smoke rc=$?"
  sed -n '/^variant /,$p' "$OUT/smoke.log"
  grep -E 'error|Traceback|warn' "$OUT/smoke.err" | head -20
  if [ "${CAP:-1}" = 1 ]; then
    timeout "${CAP_TIMEOUT:-60}" $D --variant hovle --profile paper,matched --cells "decode@131072" --reps 3 \
      --memory-cap-gib 24 --json "$OUT/cap.jsonl" >"$OUT/cap.log" 2>"$OUT/cap.err"
    echo "cap rc=$?"
    sed -n '/^variant /,$p' "$OUT/cap.log"
  fi
fi
