#!/usr/bin/env bash
# Checks the GPU bundle (make-bundle.sh) the way the GPU machine will run it: unpacked into a fresh
# folder, with no .NET anywhere the programs could find it (env -i: PATH an empty folder, no DOTNET_ROOT,
# HOME a temporary folder), and with LD_DEBUG=libs so that every shared library the loader looks for
# is logged. Fails if a program fails or if libicu is ever looked for (InvariantGlobalization: the
# GPU machine need not have ICU). Runs: byol devices, a tiny byol train on the CPU accelerator, its byol export to ONNX, one
# CLI test from the test executable, the benchmarks' --list and byol selftest on the CPU. A control run with invariant
# globalization switched off in a copy of byol's runtimeconfig must look for libicu (else the grep proves nothing).
# Usage: bench/gpu/check-bundle.sh [BUNDLE.tar.xz]
set -uo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-bench/gpu/bundle/byol-linux-x64.tar.xz}
[ -f "$bundle" ] || { echo "check-bundle: $bundle not found (run bench/gpu/make-bundle.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$bundle" || { echo "check-bundle: $bundle does not unpack" >&2; exit 1; }
app=$work/byol-linux-x64
mkdir -p "$work/home" "$work/empty-path"
timeout_bin=$(command -v timeout)
echo "bundle: $bundle, $(stat -c %s "$bundle") bytes ($(( $(stat -c %s "$bundle") / 1000000 )) MB), unpacked $(du -sm "$app" | cut -f1) MiB"

failures=0
check() {   # check NAME CMD...: runs CMD without .NET, logging the loader's library lookups
  local name=$1; shift
  local log=$work/$name.txt
  env -i PATH="$work/empty-path" HOME="$work/home" LD_DEBUG=libs LD_DEBUG_OUTPUT="$work/$name.ld" \
    "$timeout_bin" -k 5 300 "$@" >"$log" 2>&1
  local rc=$?
  local icu
  icu=$(cat "$work/$name.ld".* 2>/dev/null | grep -c 'libicu' || true)
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name: exit code $rc"; tail -5 "$log" | sed 's/^/    /'; failures=$((failures + 1))
  elif [ "$icu" -ne 0 ]; then
    echo "FAIL $name: the loader looked for libicu $icu times:"; cat "$work/$name.ld".* | grep -m3 libicu | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok   $name ($(cat "$work/$name.ld".* | grep -c 'calling init:') libraries initialised, none of them libicu)"
  fi
}

check devices "$app/byol" devices
check train "$app/byol" train --synthetic 64 --epochs 1 --width 4 --proj-hidden 16 --proj-out 8 --pred-hidden 16 \
  --batch-size 16 --device cpu --run-dir "$work/run"
check export "$app/byol" export --checkpoint "$work/run" --out "$work/backbone.onnx"
check tests "$app/ByolIlgpu.Tests" -method ByolIlgpu.Tests.CliTests.DevicesListsTheCpu -noColor
check bench-list "$app/ByolIlgpu.Bench" --list flat
check selftest "$app/byol" selftest --device cpu
grep -q '^final knn top1: ' "$work/train.txt" || { echo "FAIL train: no 'final knn top1' line"; failures=$((failures + 1)); }
# The client tests (python, ONNX Runtime's native library) stay out of the GPU bundle; the program's export does not need them.
if ls "$app" | grep -q -i -E 'ClientTests|onnxruntime'; then
  echo "FAIL clients: the bundle carries the client tests or ONNX Runtime: $(ls "$app" | grep -i -E 'ClientTests|onnxruntime' | head -3 | tr '\n' ' ')"
  failures=$((failures + 1))
fi
grep -q 'cpu:0' "$work/devices.txt" || { echo "FAIL devices: no cpu:0 line"; failures=$((failures + 1)); }
grep -q 'Failed: 0' "$work/tests.txt" && grep -q 'Total: 1,' "$work/tests.txt" || { echo "FAIL tests: the CLI test did not run and pass"; failures=$((failures + 1)); }
# Control: the same program with culture data switched on must look for libicu.
cp -r "$app" "$work/control"
sed -i 's/"System.Globalization.Invariant": true/"System.Globalization.Invariant": false/' "$work/control/byol.runtimeconfig.json"
env -i PATH="$work/empty-path" HOME="$work/home" LD_DEBUG=libs LD_DEBUG_OUTPUT="$work/control.ld" \
  "$timeout_bin" -k 5 60 "$work/control/byol" devices >"$work/control.txt" 2>&1
if cat "$work/control.ld".* | grep -q libicu; then
  echo "ok   control: with invariant globalization off, byol looks for libicu (so the check above can fail)"
else
  echo "FAIL control: even with invariant globalization off no libicu lookup was logged: the libicu check proves nothing"
  failures=$((failures + 1))
fi
echo "--- byol devices"; cat "$work/devices.txt"
echo "--- byol train (last line)"; tail -1 "$work/train.txt"
if [ "$failures" -ne 0 ]; then echo "check-bundle: $failures check(s) failed"; exit 1; fi
echo "check-bundle: the bundle runs without .NET and never looks for libicu"
