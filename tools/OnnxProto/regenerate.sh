#!/usr/bin/env bash
# Regenerates src/ByolIlgpu/Checkpoints/Onnx/Onnx.Generated.cs from onnx-subset.proto with protoc from
# the Google.Protobuf.Tools package (pinned in Directory.Packages.props, the Google.Protobuf runtime's release).
# The C# is checked in rather than generated at build time, so the build needs no native protoc and the
# GPU bundle's publish no extra package; rerun this after editing the .proto and commit both.
set -euo pipefail
cd "$(dirname "$0")"
dotnet restore OnnxProto.csproj >/dev/null
version=$(sed -n 's/.*Include="Google.Protobuf.Tools" Version="\([^"]*\)".*/\1/p' ../../Directory.Packages.props)
packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
protoc=$packages/google.protobuf.tools/$version/tools/linux_x64/protoc
chmod +x "$protoc"
out=$(mktemp -d)
"$protoc" --proto_path=. --csharp_out="$out" --csharp_opt=file_extension=.Generated.cs onnx-subset.proto
mv "$out"/OnnxSubset.Generated.cs ../../src/ByolIlgpu/Checkpoints/Onnx/Onnx.Generated.cs
rmdir "$out"
echo "wrote src/ByolIlgpu/Checkpoints/Onnx/Onnx.Generated.cs (protoc $("$protoc" --version))"
