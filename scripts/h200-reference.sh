#!/usr/bin/env bash
# One device call of the reference run on a GPU machine (see README,
# "Reproducing the claim"). Build bin/ssmbench first (make build) and carry it.
#   bash scripts/h200-reference.sh start    # gpu-test, GPU state, then the sweep until the deadline
#   bash scripts/h200-reference.sh resume   # resume the sweep, then the telemetry-overhead experiment
#   bash scripts/h200-reference.sh checks   # gpu-test, eval through the torch worker, overhead, a nightly sweep
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
checks)
  timeout 240 make gpu-test > "$REF/gpu-test-2.log" 2>&1; echo "gpu-test rc=$?" | tee -a "$REF/gpu-test-2.log"
  grep -E '^(FAIL|ERROR):|^Ran |^OK|^FAILED|\[parity\]|\[infer\]' "$REF/gpu-test-2.log" | head -30
  ./bin/ssmbench run --auto --dry-run > "$REF/auto-dry-run.txt" 2>&1; echo "auto: $(head -c 300 "$REF/auto-dry-run.txt" | head -3)"
  for v in mmmamba-hybrid-tiny mmmamba-linear; do
    timeout 90 ./bin/ssmbench eval pope mme mmbench --runner torch --variant $v --limit 6 --max-new-tokens 8 \
      --registry datasets/testdata/registry.yaml --out "$REF/eval-$v" > "$REF/eval-$v.txt" 2>&1
    echo "eval $v rc=$?"; tail -12 "$REF/eval-$v.txt"
  done
  timeout 60 ./bin/ssmbench overhead specs/fig1-gpu.yaml --cell 17 --reps 40 --rounds 4 --hz 100,1000 \
    --out "$REF/overhead-2" > "$REF/overhead-2.txt" 2> "$REF/overhead-2.log"; echo "overhead rc=$?"; head -12 "$REF/overhead-2.txt"
  timeout -s INT $(( $(left) - 10 )) ./bin/ssmbench run specs/nightly-gpu.yaml --output "$REF/nightly" 2> "$REF/nightly.log"
  echo "nightly rc=$?"; tail -3 "$REF/nightly.log"
  ;;
esac
