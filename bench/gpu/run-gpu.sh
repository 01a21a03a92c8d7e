#!/usr/bin/env bash
# The GPU check, run from the repository root on a machine with an NVIDIA GPU, PyTorch and no .NET:
#   1. unpack the self-contained bundle (make-bundle.sh) into a temporary folder;
#   2. the kernel tests on CUDA (every backend test class has a CUDA subclass);
#   3. `byol bench` on CUDA at batch 128 and 256, full width;
#   4. the ILGPU kernel benchmarks on CUDA (in-process BenchmarkDotNet, short job);
#   5. the PyTorch peer of the BYOL step (fp32 without TF32, and with TF32);
#   6. one table of images/s and ratios.
# Everything lands in ${OUT:-/tmp/byol-gpu-out}. Budget: well under 8 minutes.
set -uo pipefail
# A GPU run must use the GPU: CUDA tests fail instead of skipping, and --device auto refuses to fall back.
export BYOL_REQUIRE_CUDA=1
bundle=${1:-bench/gpu/bundle/byol-linux-x64.tar.xz}
out=${OUT:-/tmp/byol-gpu-out}
mkdir -p "$out"
work=$(mktemp -d)
tar -C "$work" -xJf "$bundle"
app="$work/byol-linux-x64"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

echo "== devices"; "$app/byol" devices | tee "$out/devices.txt"
echo "== kernel tests on CUDA"
timeout 240 "$app/ByolIlgpu.Tests" -trait Backend=CUDA -noColor 2>&1 | tail -40 | tee "$out/tests-cuda.txt"
echo "== byol bench"
for b in 128 256; do
  timeout 120 "$app/byol" bench --device cuda --batch-size "$b" --steps 10 2>&1 | tee -a "$out/byol-bench.txt"
done
echo "== pytorch peer"
timeout 180 python3 bench/gpu/byol_step_torch.py --batch 128 256 --steps 20 --json "$out/torch.json" 2>&1 | tee "$out/torch.txt"
echo "== kernel benchmarks"
BYOL_BENCH_DEVICE=cuda BYOL_BENCH_GPU=1 timeout 240 "$app/ByolIlgpu.Bench" --filter '*Matmul*' '*BatchNorm*' '*ByolStep*' --artifacts "$out/bdn" 2>&1 \
  | grep -E '^\|' | tee "$out/kernels.txt"
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
ours = {}
for line in open(f"{out}/byol-bench.txt"):
    m = re.search(r"batch (\d+)", line)
    if m: batch = int(m.group(1))
    m = re.match(r"([\d.]+) images/s", line)
    if m: ours[batch] = float(m.group(1))
try:
    torch = json.load(open(f"{out}/torch.json"))
except Exception:
    torch = []
print("\n| batch | ByolIlgpu images/s | PyTorch fp32 | ratio | PyTorch TF32 | ratio |")
print("| --- | --- | --- | --- | --- | --- |")
for b, v in sorted(ours.items()):
    fp32 = next((r["images_per_s"] for r in torch if r["batch"] == b and not r["tf32"]), None)
    tf32 = next((r["images_per_s"] for r in torch if r["batch"] == b and r["tf32"]), None)
    f = lambda x: "-" if x is None else f"{x:.0f}"
    r = lambda x: "-" if x is None else f"{v / x:.2f}"
    print(f"| {b} | {v:.0f} | {f(fp32)} | {r(fp32)} | {f(tf32)} | {r(tf32)} |")
PY
