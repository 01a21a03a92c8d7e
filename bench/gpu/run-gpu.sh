#!/usr/bin/env bash
# The GPU one-shot: run from the repository root on a machine with an NVIDIA GPU, python3 + PyTorch
# and no .NET, with the bundle of make-bundle.sh. Finishes within BUDGET_S seconds (default 480,
# counted from the start of this script, unpacking included):
#   unpack the bundle; nvidia-smi and `byol devices` (stop at once, with the driver's words, if there
#   is no CUDA device); `byol selftest` (every kernel checked on the device); the CUDA kernel tests; the one-step parity check against PyTorch
#   (byol parity + parity_torch.py); `byol bench` at batch 128 and 256, full width; the PyTorch peer
#   (byol_step_torch.py); the performance model's step beside the measured one; a short `byol train --synthetic`
#   with kNN; the kernel benchmarks (BenchmarkDotNet).
# Each stage runs under `timeout -k 5 LIMIT`, LIMIT = min(its own cap, budget left − RESERVE_S); a stage
# with less than MIN_STAGE_S left is skipped. Each stage writes OUT/NN-name/{command, output.txt,
# exit_code, seconds, limit_s} as it finishes; OUT/summary.md (summarize.py) is written at the end
# from whatever finished, also after an early stop. OUT = $OUT or /tmp/byol-gpu-out.
#
# Rehearsal (--rehearse or REHEARSE=1): the same stages on a machine without a GPU: PoCL's OpenCL
# device (../shared/opencl/with-pocl, programs run as `dotnet X.dll`, as an apphost sees no PoCL) in
# place of CUDA, PyTorch on the CPU, rehearsal sizes (four OpenCL test classes; width 8, heads 64→32,
# batch 16 and 32, 2 steps; parity at batch 8; training width 4 on 64 images). BUDGET_S=26 MIN_STAGE_S=5 shows a
# stage killed by the budget and the summary made from partial results.
# Usage: bench/gpu/run-gpu.sh [--rehearse] [BUNDLE.tar.xz]     env: BUDGET_S, RESERVE_S, OUT, PYTHON
set -uo pipefail
rehearse=${REHEARSE:-0}
bundle=bench/gpu/bundle/byol-linux-x64.tar.xz
for arg in "$@"; do
  case $arg in
    --rehearse) rehearse=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) bundle=$arg ;;
  esac
done
BUDGET_S=${BUDGET_S:-480}
RESERVE_S=${RESERVE_S:-15}   # for the kill grace (5 s) and the summary
MIN_STAGE_S=${MIN_STAGE_S:-10}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/byol-gpu-out}
mkdir -p "$out"
rm -rf "$out"/[0-9][0-9]-* "$out/summary.md" "$out/run.env"
work=$(mktemp -d)
app=$work/byol-linux-x64
clock() { date +%s.%N; }
t_start=$(clock)
elapsed() { awk -v a="$t_start" -v b="$(clock)" 'BEGIN { printf "%d", b - a }'; }

if [ "$rehearse" = 1 ]; then
  pocl=$(cd "$here/../../.." && pwd)/shared/opencl/with-pocl
  [ -x "$pocl" ] || { echo "run-gpu: rehearsal needs $pocl (PoCL, see ../shared/opencl/README.md)" >&2; exit 2; }
  byol=("$pocl" dotnet "$app/byol.dll"); tests=("$pocl" dotnet "$app/ByolIlgpu.Tests.dll"); bench=("$pocl" dotnet "$app/ByolIlgpu.Bench.dll")
  device=opencl; torch_device=cpu
  arch=(--width 8 --proj-hidden 64 --proj-out 32 --pred-hidden 64)
  batches=(16 32); steps=2; parity_batch=8
  test_filter=(-trait Backend=OpenCL -class ByolIlgpu.Tests.OpenClMlpHeadTests -class ByolIlgpu.Tests.OpenClOptimizerTests
    -class ByolIlgpu.Tests.OpenClDenseKernelTests -class ByolIlgpu.Tests.OpenClBackboneOpsTests)   # 36 tests, about 22 s
  train=(--synthetic 64 --epochs 1 --width 4 --proj-hidden 16 --proj-out 8 --pred-hidden 16 --batch-size 16)
  bench_env=(BYOL_BENCH_DEVICE=opencl); bench_filter=('*LossBenchmarks*')
else
  export BYOL_REQUIRE_CUDA=1   # --device auto and the CUDA tests fail instead of falling back or skipping
  byol=("$app/byol"); tests=("$app/ByolIlgpu.Tests"); bench=("$app/ByolIlgpu.Bench")
  device=cuda; torch_device=cuda
  arch=()   # full width: ResNet-18 width 64, heads 4096 → 256
  batches=(128 256); steps=20; parity_batch=64   # parity: more samples per BatchNorm, fewer ReLU sign flips
  test_filter=(-trait Backend=CUDA)
  train=(--synthetic 4096 --epochs 2 --batch-size 256 --knn-every 1)
  bench_env=(BYOL_BENCH_DEVICE=cuda BYOL_BENCH_GPU=1); bench_filter=('*Matmul*' '*BatchNorm*' '*ByolStep*')
fi
if [ -z "${PYTHON:-}" ]; then   # the first python3 that has PyTorch (Debian's python3-torch is in /usr/bin)
  PYTHON=python3
  for p in python3 /usr/bin/python3; do
    if timeout 60 "$p" -c 'import torch' 2>/dev/null; then PYTHON=$p; break; fi
  done
fi
{ echo "mode=$([ "$rehearse" = 1 ] && echo rehearsal || echo gpu)"; echo "budget_s=$BUDGET_S"; echo "device=$device"
  echo "started=$(date -u +%FT%TZ)"; echo "host=$(hostname)"; echo "python=$PYTHON"; } > "$out/run.env"

finish() {
  echo "total_s=$(elapsed)" >> "$out/run.env"
  "$PYTHON" "$here/summarize.py" "$out" || python3 "$here/summarize.py" "$out" ||
    { echo "run-gpu: summarize.py failed; stage exit codes:"; grep -H . "$out"/*/exit_code; }
  rm -rf "$work"
}
trap finish EXIT

n=0
failed_stages=()
# stage NAME CAP CMD...: runs CMD in OUT/NN-NAME (its working folder) under the budget; returns its exit code.
stage() {
  local name=$1 cap=$2; shift 2
  n=$((n + 1))
  local dir; dir=$out/$(printf %02d "$n")-$name
  mkdir -p "$dir"
  printf '%q ' "$@" > "$dir/command"; echo >> "$dir/command"
  local left=$((BUDGET_S - $(elapsed) - RESERVE_S))
  local limit=$((cap < left ? cap : left))
  if [ "$limit" -lt "$MIN_STAGE_S" ]; then
    echo "skipped: ${left} s of the ${BUDGET_S} s budget left (needs at least ${MIN_STAGE_S})" > "$dir/skipped"
    echo "== $name: skipped, ${left} s left"
    failed_stages+=("$name (skipped)")
    return 125
  fi
  echo "$limit" > "$dir/limit_s"
  echo "== $name (limit $limit s, $(elapsed) s into the run)"
  local t0; t0=$(clock)
  (cd "$dir" && exec timeout -k 5 "$limit" "$@") > "$dir/output.txt" 2>&1
  local rc=$?
  echo "$rc" > "$dir/exit_code"
  awk -v a="$t0" -v b="$(clock)" 'BEGIN { printf "%.1f\n", b - a }' > "$dir/seconds"
  tail -n 3 "$dir/output.txt" | cut -c1-200 | sed 's/^/   /'
  echo "   exit $rc after $(cat "$dir/seconds") s"
  [ "$rc" -eq 0 ] || failed_stages+=("$name")
  return "$rc"
}
stop() { echo "run-gpu: $*" >&2; echo "$*" > "$out/stopped"; exit 3; }

stage unpack 60 tar -C "$work" -xJf "$(readlink -f "$bundle")" || stop "the bundle $bundle did not unpack (run bench/gpu/make-bundle.sh)"
[ -f "$app/COMMIT" ] && cp "$app/COMMIT" "$out/COMMIT"

if [ "$rehearse" = 1 ]; then
  stage machine 20 bash -c 'grep -m1 "model name" /proc/cpuinfo; echo "cores: $(nproc)"; echo "rehearsal: no GPU, PoCL OpenCL in place of CUDA"'
else
  if ! command -v nvidia-smi >/dev/null; then
    stop "no CUDA: nvidia-smi is not on PATH (no NVIDIA driver on this machine)"
  fi
  stage gpu 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,compute_cap --format=csv,noheader ||
    stop "no CUDA: nvidia-smi failed: $(tail -n 3 "$out"/[0-9][0-9]-gpu/output.txt | tr '\n' ' ')"
fi
stage devices 60 "${byol[@]}" devices
devices_out=$(ls -d "$out"/[0-9][0-9]-devices)/output.txt
if ! grep -q "^$device:" "$devices_out"; then
  stop "no $device device in 'byol devices', which says: $(grep -v '^device \|^Select\|^$' "$devices_out" | tr -s ' ' | tr '\n' ';' | cut -c1-600)"
fi

# First the shipped program's own check of every kernel on the device (what a user runs on a new GPU):
# it needs nothing beyond byol, and names the op, version and first mismatches of anything wrong.
stage selftest 120 "${byol[@]}" selftest --device "$device" --json selftest.json

stage kernel-tests 150 "${tests[@]}" "${test_filter[@]}" -noColor

stage parity-export 60 "${byol[@]}" parity --out "$work/parity" --device "$device" --batch-size "$parity_batch" --seed 0 "${arch[@]}" &&
  stage parity-torch 90 "$PYTHON" "$here/parity_torch.py" "$work/parity" --device "$torch_device"
cp "$work/parity/manifest.json" "$work/parity/parity-all.md" "$(ls -d "$out"/[0-9][0-9]-parity-export)/" 2>/dev/null

json_option=0   # `byol bench --json FILE` where the program has it; else the summary reads its text line
timeout 30 "${byol[@]}" bench --help 2>/dev/null | grep -q -- '--json' && json_option=1
for b in "${batches[@]}"; do
  if [ "$json_option" = 1 ]; then
    stage "bench-$b" 60 "${byol[@]}" bench --device "$device" --batch-size "$b" --steps "$steps" "${arch[@]}" --json bench.json
  else
    stage "bench-$b" 60 "${byol[@]}" bench --device "$device" --batch-size "$b" --steps "$steps" "${arch[@]}"
  fi
done

# The model's step (made with the bundle, see make-bundle.sh), for the summary to set the measured step beside.
stage model 20 bash -c 'ls "$1"/model-*.json >/dev/null && cp "$1"/model-*.json . && grep -h "\"seconds_per_step\"" model-*.json' _ "$app"

stage torch-peer 90 "$PYTHON" "$here/byol_step_torch.py" --device "$torch_device" --batch "${batches[@]}" --steps "$steps" \
  $([ "$rehearse" = 1 ] && echo --width 8 --proj-hidden 64 --proj-out 32 --pred-hidden 64) --json torch.json

stage train-knn 90 "${byol[@]}" train "${train[@]}" --device "$device" --run-dir "$work/run"

stage kernel-bench 150 env "${bench_env[@]}" "${bench[@]}" --filter "${bench_filter[@]}" --artifacts bdn
# Exit 1 when a stage failed, was killed or skipped for the budget (the summary is written either way).
if [ "${#failed_stages[@]}" -gt 0 ]; then
  echo "run-gpu: stages that did not pass: ${failed_stages[*]}" >&2
  exit 1
fi
exit 0
