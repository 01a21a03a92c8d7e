#!/usr/bin/env bash
# Issue 14's measurement: the whole BYOL step and every ResNet-18 Conv2d shape on PoCL, with the
# libtorch peer (TorchSharp-cpu) in the same BenchmarkDotNet run, once per instruction set: native,
# then held to AVX2 (PoCL compiles for haswell, oneDNN and MKL held to AVX2; these are read at
# process start, hence one run each). On a machine without AVX-512 the native run is AVX2 already
# and the held run is skipped. Writes OUT/{native,avx2}/ (BenchmarkDotNet's results and logs) and
# OUT/tables.md (bench/isa_tables.py). Needs ../shared/opencl (PoCL) and about 20 minutes on 2 cores.
#   bench/cpu-isas.sh [OUT]        (default /tmp/byol-cpu-isas)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-/tmp/byol-cpu-isas}
mkdir -p "$out"
dotnet build bench/ByolIlgpu.Bench -c Release -p:WithTorch=true -o bench-torch >/dev/null
../shared/opencl/setup-pocl >/dev/null

run() {   # run NAME ENV...: one process per suite, so the environment holds from process start
  local name=$1; shift
  mkdir -p "$out/$name"
  { date -u +%FT%TZ; git log -1 --format='%h %s'; echo "env: $*"; } > "$out/$name/run.txt"
  for suite in ByolStep Conv2dBenchmarks; do
    (cd "$out/$name" && BYOL_BENCH_DEVICE=opencl BYOL_BENCH_VERSIONS=0 \
      "$root/../shared/opencl/with-pocl" env "$@" dotnet "$root/bench-torch/ByolIlgpu.Bench.dll" --filter "*$suite*" \
      > "$out/$name/$suite.log" 2>&1) || { echo "$name $suite failed: see $out/$name/$suite.log" >&2; exit 1; }
  done
}

run native BYOL_ISA_RUN=native
if grep -qw avx512f /proc/cpuinfo; then
  run avx2 POCL_LLVM_CPU_NAME=haswell POCL_KERNELLIB_NAME=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
else
  echo "this CPU has no AVX-512: the native run is the AVX2 run; no AVX-512 rows can be made here" | tee "$out/no-avx512.txt"
fi
python3 bench/isa_tables.py "$out" > "$out/tables.md"
echo "wrote $out/tables.md"
