#!/usr/bin/env bash
# Publishes the byol program, the test executable and the benchmarks self-contained for linux-x64
# into one folder (they share the .NET runtime files) and compresses it with xz, for a GPU machine
# that has no .NET. Output: bench/gpu/bundle/byol-linux-x64.tar.xz (git-ignored); check it with
# bench/gpu/check-bundle.sh. Not trimmed (PublishTrimmed would cut what ILGPU and BenchmarkDotNet
# find by reflection); instead files no run on Linux loads are left out (below).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/gpu/bundle
app=$out/byol-linux-x64
rm -rf "$app" && mkdir -p "$app"
for project in src/ByolIlgpu.Cli tests/ByolIlgpu.Tests bench/ByolIlgpu.Bench; do
  dotnet publish "$project" -c Release -r linux-x64 --self-contained -p:UseAppHost=true -p:DebugType=none \
    -p:SatelliteResourceLanguages=en -o "$app" >/dev/null
done
# Left out: Windows-only native files of TraceEvent (amd64/), the debugger and crash-dump support
# (libmscordaccore, libmscordbi, createdump), the LTTng trace provider (loaded only if present) and the
# standalone GCs (loaded only when DOTNET_GCName asks for them).
rm -rf "$app/amd64" "$app/x86" "$app/arm64"
rm -f "$app"/libmscordaccore.so "$app"/libmscordbi.so "$app"/createdump "$app"/libcoreclrtraceptprovider.so \
  "$app"/libclrgc.so "$app"/libclrgcexp.so
# The commit the bundle was built from, for the GPU run's summary (the GPU machine has no git).
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src kernels tests bench || echo '+uncommitted changes')" > "$app/COMMIT"
# The performance model of a step on each GPU it knows (it reads the kernels' SASS, so it is made here, where ptxas is),
# for the GPU run's summary to set the measured step beside.
for gpu in h100-sxm h200; do
  "$app/byol" kernels --model --gpu "$gpu" --json "$app/model-$gpu.json" >/dev/null ||
    echo "make-bundle: no model-$gpu.json (byol kernels --model needs ptxas and cuobjdump: ../shared/cuda/setup-ptxas)" >&2
done
tar -C "$out" -cf - byol-linux-x64 | xz -T0 -9 > "$out/byol-linux-x64.tar.xz"
bytes=$(stat -c %s "$out/byol-linux-x64.tar.xz")
echo "$out/byol-linux-x64.tar.xz: $((bytes / 1000000)).$(( (bytes % 1000000) / 100000 )) MB ($bytes bytes; unpacked $(du -sm "$app" | cut -f1) MiB)"
