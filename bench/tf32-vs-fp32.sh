#!/usr/bin/env bash
# TF32 against FP32 in a short training run: one tf32 run (the tensor-core kernels, emulated off CUDA)
# beside two fp32 runs with different seeds; prints the loss per epoch and whether TF32 moves the loss
# by less than a change of seed does. Default device: PoCL (run under ../shared/opencl/with-pocl);
# DEVICE=cuda on a GPU. About 17 minutes on PoCL with 2 cores (the emulation is ~50× slower than FP32).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-opencl}
OUT=${OUT:-$(mktemp -d)}
BYOL=${BYOL:-"dotnet src/ByolIlgpu.Cli/bin/Release/net10.0/byol.dll"}
args=(train --device "$DEVICE" --synthetic 512 --width 16 --proj-hidden 256 --pred-hidden 256 --proj-out 64
      --epochs 4 --batch-size 64 --optimizer sgd --lr 0.1 --warmup-epochs 1 --knn-every 0 --checkpoint-every 4)
$BYOL "${args[@]}" --seed 0 --precision fp32 --run-dir "$OUT/fp32-seed0" >/dev/null
$BYOL "${args[@]}" --seed 1 --precision fp32 --run-dir "$OUT/fp32-seed1" >/dev/null
$BYOL "${args[@]}" --seed 0 --precision tf32 --run-dir "$OUT/tf32-seed0" >/dev/null
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def losses(run):
    return [d["loss"] for d in map(json.loads, open(f"{out}/{run}/metrics.jsonl")) if "loss" in d]
a, b, t = losses("fp32-seed0"), losses("fp32-seed1"), losses("tf32-seed0")
ok = True
print("epoch  fp32 seed 0  fp32 seed 1  tf32 seed 0  |tf32 - fp32|  seed spread")
for e, (x, y, z) in enumerate(zip(a, b, t), 1):
    ok &= abs(z - x) <= abs(y - x)
    print(f"{e:5d}  {x:11.4f}  {y:11.4f}  {z:11.4f}  {abs(z - x):12.4f}  {abs(y - x):11.4f}")
print("TF32 moves the loss less than a change of seed, every epoch" if ok else "TF32 moves the loss MORE than a change of seed")
sys.exit(0 if ok else 1)
PY
