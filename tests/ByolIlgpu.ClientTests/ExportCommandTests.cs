using ByolIlgpu.Checkpoints;
using ByolIlgpu.Checkpoints.Onnx;
using ByolIlgpu.Layers;
using ByolIlgpu.Tests.Checkpoints;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.ClientTests;

/// <summary>`byol export` without any client: its errors (one line naming the file), and what the ONNX file holds, read back with our own generated messages.</summary>
public class ExportCommandTests
{
    static (int Code, string Output, string Error) Byol(params string[] args) => InProcessCli.Run(args);

    static void AssertOneLineError(string error, string names)
    {
        Assert.Contains(names, error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.DoesNotContain(" at ByolIlgpu", error);
    }

    [Fact]
    public void ErrorsNameTheFileAndWriteNothing()
    {
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File("checkpoint.safetensors"), width: 2, ResNet18.CifarStem, imageSize: 32, seed: 1);
        string outPath = dir.File("out.onnx");

        var (code, _, error) = Byol("export", "--checkpoint", dir.File("missing.safetensors"), "--out", outPath);
        Assert.Equal(1, code);
        AssertOneLineError(error, "missing.safetensors");

        string truncated = dir.File("truncated.safetensors");
        File.WriteAllBytes(truncated, File.ReadAllBytes(net.CheckpointPath)[..4000]);
        (code, _, error) = Byol("export", "--checkpoint", truncated, "--out", outPath);
        Assert.Equal(1, code);
        AssertOneLineError(error, "truncated.safetensors");

        // A checkpoint without one of the backbone's tensors: the tensor and the file are named.
        var checkpoint = TrainingCheckpoint.Load(net.CheckpointPath);
        var kept = new TrainingCheckpoint();
        foreach (var (k, v) in checkpoint.Metadata)
            kept.Metadata[k] = v;
        kept.Tensors.AddRange(checkpoint.Tensors.Where(t => t.Name != "teacher.layer3.0.conv1.weight"));
        string incomplete = dir.File("incomplete.safetensors");
        kept.Save(incomplete);
        Assert.Equal(0, Byol("export", "--checkpoint", incomplete, "--out", dir.File("student.safetensors")).Code);
        (code, _, error) = Byol("export", "--checkpoint", incomplete, "--out", outPath, "--teacher");
        Assert.Equal(1, code);
        AssertOneLineError(error, "incomplete.safetensors: tensor 'teacher.layer3.0.conv1.weight': missing");

        (code, _, error) = Byol("export", "--checkpoint", net.CheckpointPath, "--out", dir.File("backbone.pt"));
        Assert.Equal(2, code);
        AssertOneLineError(error, "backbone.pt: unknown extension '.pt', expected .safetensors or .onnx");

        Assert.False(File.Exists(outPath));
        Assert.DoesNotContain(dir.Entries(), e => e.EndsWith(AtomicFile.TempSuffix));
    }

    [Fact]
    public void AnExistingFileIsReplacedOnlyWithOverwrite()
    {
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File(CheckpointFolder.FileName(3)), width: 2, ResNet18.CifarStem, imageSize: 32, seed: 2);
        string outPath = dir.File("backbone.safetensors");
        File.WriteAllText(outPath, "someone else's file");
        var (code, _, error) = Byol("export", "--checkpoint", net.CheckpointPath, "--out", outPath);
        Assert.Equal(2, code);
        AssertOneLineError(error, $"{outPath}: the file exists; pass --overwrite to replace it");
        Assert.Equal("someone else's file", File.ReadAllText(outPath));

        (code, _, error) = Byol("export", "--checkpoint", dir.Path, "--out", outPath, "--overwrite");   // a folder: its latest checkpoint
        Assert.True(code == 0, error);
        Assert.Equal("3", SafeTensors.Load(outPath).Metadata["epoch"]);
    }

    /// <summary>The ONNX file parsed back: the state dict's F32 tensors as initializers, byte for byte, under the same names; the graph's interface.</summary>
    [Theory]
    [InlineData("cifar", false)]
    [InlineData("imagenet", true)]
    public void OnnxFileHoldsTheStateDictAndTheDeclaredInterface(string stem, bool teacher)
    {
        using var dir = new TempFolder();
        using var net = new TestBackbone(dir.File("checkpoint.safetensors"), width: 2, stem, imageSize: stem == "cifar" ? 32 : 64, seed: 3);
        string[] flags = teacher ? ["--teacher"] : [];
        Assert.Equal(0, Byol(["export", "--checkpoint", net.CheckpointPath, "--out", dir.File("b.onnx"), .. flags]).Code);
        Assert.Equal(0, Byol(["export", "--checkpoint", net.CheckpointPath, "--out", dir.File("b.safetensors"), .. flags]).Code);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(dir.File("b.onnx")));
        var state = SafeTensors.Load(dir.File("b.safetensors")).Tensors;

        Assert.Equal(OnnxBackbone.IrVersion, model.IrVersion);
        Assert.Equal(OnnxBackbone.Opset, Assert.Single(model.OpsetImport).Version);
        var floats = state.Where(t => t.DType == SafeTensorsDType.F32).ToList();
        Assert.Equal(floats.Select(t => t.Name).Order(), model.Graph.Initializer.Select(i => i.Name).Order());
        foreach (var init in model.Graph.Initializer)
        {
            Assert.Equal(state[init.Name].Shape.Select(d => (long)d), init.Dims);
            Assert.True(state[init.Name].Bytes.AsSpan().SequenceEqual(init.RawData.Span), $"initializer {init.Name} differs from the state dict");
        }
        var source = TrainingCheckpoint.Load(net.CheckpointPath).Tensors[(teacher ? TrainingCheckpoint.TeacherPrefix : "") + "layer4.1.bn2.running_var"];
        Assert.True(source.Bytes.AsSpan().SequenceEqual(state["layer4.1.bn2.running_var"].Bytes), "the export is not the chosen network's");

        var input = Assert.Single(model.Graph.Input);
        Assert.Equal(OnnxBackbone.InputName, input.Name);
        Assert.Equal([OnnxBackbone.BatchAxis, "3", $"{net.ImageSize}", $"{net.ImageSize}"],
            input.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString()));
        var output = Assert.Single(model.Graph.Output);
        Assert.Equal(OnnxBackbone.OutputName, output.Name);
        Assert.Equal([OnnxBackbone.BatchAxis, "16"], output.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString()));
        Assert.Equal(stem == "imagenet" ? 1 : 0, model.Graph.Node.Count(n => n.OpType == "MaxPool"));
        var bn = model.Graph.Node.First(n => n.OpType == "BatchNormalization");
        Assert.Equal(1e-5f, bn.Attribute.Single(a => a.Name == "epsilon").F);
        Assert.Equal(teacher ? "teacher" : "student", model.MetadataProps.Single(p => p.Key == "network").Value);
    }
}
