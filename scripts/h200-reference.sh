#!/usr/bin/env bash
# One device call of the reference run on a GPU machine (see README,
# "Reproducing the claim"). Build bin/ssmbench first (make build) and carry it.
#   bash scripts/h200-reference.sh start    # gpu-test, GPU state, then the sweep until the deadline
#   bash scripts/h200-reference.sh resume   # resume the sweep, then the telemetry-overhead experiment
# Everything lands in results/reference/h200/ and is packed into $OUT/ref.tgz.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ssmbench-out}
DEADLINE=${DEADLINE:-560}            # seconds after start by which everything is packed
REF=results/reference/h200
mkdir -p "$OUT" "$REF"
export CI=1 PYTHONUNBUFFERED=1
t0=$(date +%s)
left() { echo $(( DEADLINE - ($(date +%s) - t0) )); }
pack() {
  tar czf "$OUT/ref.tgz" "$REF"
  ls -la "$OUT"
}
trap pack EXIT
case "${1:-start}" in
start)
  nvidia-smi > "$REF/nvidia-smi.txt" 2>&1
  ./bin/ssmbench gpu > "$REF/gpu.txt" 2>&1
  ./bin/ssmbench gpu --env > "$REF/gpu-env.json" 2>&1
  timeout 200 make gpu-test > "$REF/gpu-test.log" 2>&1; echo "gpu-test rc=$?" | tee -a "$REF/gpu-test.log"
  grep -E '^(FAIL|ERROR):|^Ran |^OK|^FAILED|\[parity\]|\[attn\]' "$REF/gpu-test.log" | head -30
  timeout -s INT $(( $(left) - 15 )) ./bin/ssmbench run specs/fig1-gpu.yaml --output "$REF" 2> "$REF/sweep-1.log"
  echo "sweep rc=$?"; tail -5 "$REF/sweep-1.log"
  ;;
resume)
  run=$(ls -d "$REF"/fig1-gpu-* | head -1)
  timeout -s INT $(( $(left) - 90 )) ./bin/ssmbench run --resume "$run" 2> "$REF/sweep-2.log"
  echo "sweep rc=$?"; tail -5 "$REF/sweep-2.log"
  cell=$(./bin/ssmbench overhead --help >/dev/null 2>&1 && echo "${OVERHEAD_CELL:-17}")
  timeout 80 ./bin/ssmbench overhead specs/fig1-gpu.yaml ${cell:+--cell $cell} --reps 20 --rounds 5 --hz 100,1000 \
    --out "$REF/overhead" > "$REF/overhead.txt" 2> "$REF/overhead.log"
  echo "overhead rc=$?"; cat "$REF/overhead.txt"
  ;;
esac
