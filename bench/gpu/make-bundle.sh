#!/usr/bin/env bash
# Publishes the byol program, the test executable and the benchmarks self-contained for linux-x64
# into one folder (they share the .NET runtime files) and compresses it with xz, for a GPU machine
# that has no .NET. Output: bench/gpu/bundle/byol-linux-x64.tar.xz (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/gpu/bundle
rm -rf "$out/byol-linux-x64" && mkdir -p "$out/byol-linux-x64"
for project in src/ByolIlgpu.Cli tests/ByolIlgpu.Tests bench/ByolIlgpu.Bench; do
  dotnet publish "$project" -c Release -r linux-x64 --self-contained -p:UseAppHost=true -p:DebugType=none -o "$out/byol-linux-x64" >/dev/null
done
tar -C "$out" -cf - byol-linux-x64 | xz -T0 -6 > "$out/byol-linux-x64.tar.xz"
du -h "$out/byol-linux-x64.tar.xz"
