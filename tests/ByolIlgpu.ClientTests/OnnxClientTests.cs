using ByolIlgpu.Checkpoints.Onnx;
using ByolIlgpu.Layers;
using ByolIlgpu.Tests.Checkpoints;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace ByolIlgpu.ClientTests;

/// <summary>
/// `byol export` to ONNX, checked by the real clients: Debian's python3-onnx checker
/// (check_model with full_check: the specification's rules and shape inference), and ONNX Runtime
/// (Microsoft.ML.OnnxRuntime, CPU) at two batch sizes through the dynamic batch axis, within 1e-4
/// of our evaluation-mode features per image.
/// </summary>
public class OnnxClientTests
{
    [Theory]
    [InlineData("cifar", 32)]
    [InlineData("imagenet", 64)]
    public void OnnxCheckerAcceptsTheGraph(string stem, int imageSize)
    {
        string python = Clients.OnnxPython;
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File("checkpoint.safetensors"), width: 4, stem, imageSize, seed: 21);
        string onnx = TorchClientTests.Export(dir, net.CheckpointPath, "backbone.onnx");
        string output = Clients.RunPython(python, "onnx_check.py", onnx);
        Assert.Contains($"onnx check: OK", output);
        Assert.Contains($"IR {OnnxBackbone.IrVersion}, opset {{'ai.onnx': {OnnxBackbone.Opset}}}", output);
        Assert.Contains($"input images ['N', 3, {imageSize}, {imageSize}]", output);
        Assert.Contains("output features ['N', 32]", output);
        Assert.Contains("BatchNormalization 20, Conv 20", output);
        if (stem == ResNet18.ImageNetStem)
            Assert.Contains("MaxPool 1", output);
        else
            Assert.DoesNotContain("MaxPool", output);
        Assert.Contains($"stem={stem}", output);
    }

    [Fact]
    public void OnnxRuntimeMatchesOurFeaturesAtTwoBatchSizes()
    {
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File("checkpoint.safetensors"), width: 8, ResNet18.CifarStem, imageSize: 32, seed: 22);
        string onnx = TorchClientTests.Export(dir, net.CheckpointPath, "backbone.onnx");
        using var session = new InferenceSession(onnx);
        var input = session.InputMetadata[OnnxBackbone.InputName];
        Assert.Equal([-1, 3, 32, 32], input.Dimensions);
        Assert.Equal(OnnxBackbone.BatchAxis, input.SymbolicDimensions[0]);

        foreach (int count in new[] { 1, 5 })
        {
            var images = net.Images(count, seed: 30 + count);
            var theirs = Run(session, images, net.ImageShape(count));
            Assert.Equal(count * net.Architecture.FeatureDim, theirs.Length);
            if (count > 1)
                FeatureComparison.AssertClose($"ONNX Runtime {OrtEnv.Instance().GetVersionString()} (cifar stem, width 8, batch {count})", net.Features(images, count), theirs, count);
            else
                Assert.True(FeatureComparison.Relative(net.Features(images, count), theirs, count)[0] <= FeatureComparison.Tolerance, "batch 1 differs from ours");
        }
    }

    /// <summary>The imagenet stem's graph (7×7 s2 conv1, 3×3 s2 p1 MaxPool) against torchvision's own stem, independent of our forward.</summary>
    [Fact]
    public void OnnxRuntimeMatchesTorchvisionOnTheImagenetStem()
    {
        _ = Clients.TorchPython;
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File("checkpoint.safetensors"), width: 8, ResNet18.ImageNetStem, imageSize: 64, seed: 23);
        string onnx = TorchClientTests.Export(dir, net.CheckpointPath, "backbone.onnx");
        string safetensors = TorchClientTests.Export(dir, net.CheckpointPath, "backbone.safetensors");
        using var session = new InferenceSession(onnx);
        const int count = 3;
        var images = net.Images(count, seed: 40);
        var torch = TorchClientTests.TorchFeatures(dir, safetensors, images, net.ImageShape(count));
        FeatureComparison.AssertClose("ONNX Runtime against torchvision (imagenet stem, width 8, 64 px)", Run(session, images, net.ImageShape(count)), torch, count);
    }

    static float[] Run(InferenceSession session, float[] images, int[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(images, shape.Select(d => (long)d).ToArray());
        using var options = new RunOptions();
        using var results = session.Run(options, [OnnxBackbone.InputName], [value], [OnnxBackbone.OutputName]);
        var output = results[0];
        Assert.Equal([shape[0], output.GetTensorTypeAndShape().Shape[1]], output.GetTensorTypeAndShape().Shape);
        return output.GetTensorDataAsSpan<float>().ToArray();
    }
}
