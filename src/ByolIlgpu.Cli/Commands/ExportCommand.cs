using System.CommandLine;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Checkpoints.Onnx;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol export`: a checkpoint's backbone alone, for use elsewhere: a safetensors state dict under
/// torchvision's resnet18 names, or an ONNX inference graph (<see cref="OnnxBackbone"/>).
/// </summary>
public static class ExportCommand
{
    public const string SafeTensorsExtension = ".safetensors", OnnxExtension = ".onnx";

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint file, or a run folder (its latest checkpoint is used).",
            Required = true,
        };
        var output = new Option<string>("--out")
        {
            Description = $"The file to write: {SafeTensorsExtension} (a torchvision resnet18 state dict without fc, num_batches_tracked included) "
                + $"or {OnnxExtension} (IR 8, opset {OnnxBackbone.Opset}: '{OnnxBackbone.InputName}' (N, 3, H, W) normalised float32 → '{OnnxBackbone.OutputName}' (N, 8·width), "
                + "BatchNormalization nodes with the running statistics, N dynamic).",
            Required = true,
        };
        var teacher = new Option<bool>("--teacher") { Description = "Export the teacher (EMA) backbone instead of the student's." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace --out if it exists (otherwise an existing file is an error)." };
        var command = new Command("export", "Write a checkpoint's backbone (student by default) as safetensors for PyTorch/torchvision or as ONNX for ONNX Runtime; "
            + "the files' metadata give the stem, width, image size and the input normalisation (mean, std).");
        foreach (var option in new Option[] { checkpoint, output, teacher, overwrite })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            string outPath = parse.GetValue(output)!;
            string extension = Path.GetExtension(outPath).ToLowerInvariant();
            if (extension is not (SafeTensorsExtension or OnnxExtension))
                throw new UsageException($"--out {outPath}: unknown extension '{Path.GetExtension(outPath)}', expected {SafeTensorsExtension} or {OnnxExtension}");
            if (File.Exists(outPath) && !parse.GetValue(overwrite))
                throw new UsageException($"--out {outPath}: the file exists; pass --overwrite to replace it");
            if (Directory.Exists(outPath))
                throw new UsageException($"--out {outPath}: is a folder, expected a file path");
            string source = CheckpointFolder.ResolveResume(parse.GetValue(checkpoint)!);

            // The store only passes through the host during the copy: the CPU accelerator, whatever GPUs there are.
            using var device = ComputeDevice.Create("cpu");
            var backbone = BackboneExport.Load(device, source, parse.GetValue(teacher));
            string contents;
            if (extension == SafeTensorsExtension)
            {
                BackboneExport.SaveSafeTensors(backbone, outPath);
                contents = $"{backbone.Tensors.Count} tensors";
            }
            else
            {
                var graph = BackboneExport.SaveOnnx(backbone, outPath).Graph;
                contents = $"{graph.Node.Count} nodes ({string.Join(", ", graph.Node.GroupBy(n => n.OpType).Select(g => $"{g.Count()} {g.Key}"))}), "
                    + $"{graph.Initializer.Count} initializers, opset {OnnxBackbone.Opset}";
            }
            var net = backbone.Structure;
            var console = parse.InvocationConfiguration.Output;
            console.WriteLine($"exported the {backbone.Network} backbone of {source} (epoch {backbone.Epoch}, step {backbone.Step}): resnet18, {net.Stem} stem, width {net.Width}, "
                + $"{backbone.ImageSize}×{backbone.ImageSize} input, {net.FeatureDim} features");
            console.WriteLine($"wrote {outPath}: {new FileInfo(outPath).Length:N0} bytes, {contents}");
            return CommandLine.Ok;
        });
        return command;
    }
}
