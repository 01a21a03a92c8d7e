using ByolIlgpu.Checkpoints;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests.Checkpoints;

/// <summary>A parameter store to named tensors (PyTorch state-dict names) and back, through a file.</summary>
public sealed class ParameterStoreCheckpointTests
{
    static ComputeDevice Device => TestDevices.Cpu;

    /// <summary>A miniature ResNet stem, one block with a downsample, and a projector, under torchvision's names.</summary>
    static ParameterStore Network(int seed, bool withGradients = true)
    {
        var store = new ParameterStore(Device, withGradients);
        store.Add("conv1.weight", [4, 3, 3, 3], decay: true, Init.Constant(0f));
        _ = new BatchNorm(store, "bn1", 4);
        store.Add("layer1.0.conv1.weight", [4, 4, 3, 3], decay: true, Init.Constant(0f));
        _ = new BatchNorm(store, "layer1.0.bn1", 4);
        store.Add("layer2.0.downsample.0.weight", [8, 4, 1, 1], decay: true, Init.Constant(0f));
        _ = new BatchNorm(store, "layer2.0.downsample.1", 8);
        _ = new Linear(store, "projector.0", 8, 6);
        store.Build(seed);
        // Random values everywhere, running statistics included (never the initial zeros and ones).
        store.ValuesFromHost(Rand.UniformF(seed, store.Count).ToFloat());
        store.StateFromHost(Rand.UniformF(seed + 1000, store.StateToHost().Length, 0.1, 2).ToFloat());
        return store;
    }

    static Dictionary<string, long> Tracked(long k) => new()
    {
        ["bn1"] = 10 * k, ["layer1.0.bn1"] = 10 * k + 1, ["layer2.0.downsample.1"] = 10 * k + 2,
    };

    [Fact]
    public void ExportNamesTensorsInStateDictOrder()
    {
        using var store = Network(1);
        var tensors = ParameterStoreCheckpoint.Export(store, "", Tracked(1));
        Assert.Equal(
        [
            "conv1.weight",
            "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
            "layer1.0.conv1.weight",
            "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var", "layer1.0.bn1.num_batches_tracked",
            "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.weight", "layer2.0.downsample.1.bias", "layer2.0.downsample.1.running_mean",
            "layer2.0.downsample.1.running_var", "layer2.0.downsample.1.num_batches_tracked",
            "projector.0.weight", "projector.0.bias",
        ], tensors.Select(t => t.Name));

        var values = store.ValuesToHost();
        var state = store.StateToHost();
        foreach (var p in store.Parameters)
        {
            var t = tensors.Single(x => x.Name == p.Name);
            Assert.Equal(SafeTensorsDType.F32, t.DType);
            Assert.Equal(p.Shape, t.Shape);
            Assert.Equal(values.AsSpan(p.Offset, p.Length).ToArray(), t.ToFloat32());
        }
        foreach (var b in store.Buffers)
            Assert.Equal(state.AsSpan(b.Offset, b.Length).ToArray(), tensors.Single(x => x.Name == b.Name).ToFloat32());
        var nbt = tensors.Single(x => x.Name == "layer1.0.bn1.num_batches_tracked");
        Assert.Equal(SafeTensorsDType.I64, nbt.DType);
        Assert.Empty(nbt.Shape);
        Assert.Equal(11L, nbt.ToInt64().Single());

        var teacher = ParameterStoreCheckpoint.Export(store, TrainingCheckpoint.TeacherPrefix, Tracked(1));
        Assert.All(teacher, t => Assert.StartsWith("teacher.", t.Name));
        Assert.Equal(tensors.Select(t => "teacher." + t.Name), teacher.Select(t => t.Name));
    }

    [Fact]
    public void ExportThroughAFileAndImportRestoresEveryValueExactly()
    {
        using var dir = new TempFolder();
        string path = dir.File("checkpoint-epoch0001.safetensors");
        using var student = Network(1);
        using var teacher = Network(2, withGradients: false);
        var c = new TrainingCheckpoint { Epoch = 1, Step = 7 };
        c.Tensors.AddRange(ParameterStoreCheckpoint.Export(student, "", Tracked(1)));
        c.Tensors.AddRange(ParameterStoreCheckpoint.Export(teacher, TrainingCheckpoint.TeacherPrefix, Tracked(2)));
        c.Save(path);

        var loaded = TrainingCheckpoint.Load(path);
        using var student2 = Network(3);
        using var teacher2 = Network(4, withGradients: false);
        Assert.NotEqual(student.ValuesToHost(), student2.ValuesToHost());   // the import has work to do
        var tracked = ParameterStoreCheckpoint.Import(student2, "", loaded.Tensors);
        var trackedTeacher = ParameterStoreCheckpoint.Import(teacher2, TrainingCheckpoint.TeacherPrefix, loaded.Tensors);

        Assert.Equal(student.ValuesToHost(), student2.ValuesToHost());
        Assert.Equal(student.StateToHost(), student2.StateToHost());
        Assert.Equal(teacher.ValuesToHost(), teacher2.ValuesToHost());
        Assert.Equal(teacher.StateToHost(), teacher2.StateToHost());
        Assert.Equal(Tracked(1), tracked);
        Assert.Equal(Tracked(2), trackedTeacher);
    }

    [Fact]
    public void MissingTensorIsNamedWithTheFileAndNothingIsLoaded()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        using var source = Network(1);
        var tensors = ParameterStoreCheckpoint.Export(source, "", Tracked(1)).Where(t => t.Name != "layer1.0.bn1.running_var");
        SafeTensors.Save(path, tensors);

        using var target = Network(5);
        var valuesBefore = target.ValuesToHost();
        var stateBefore = target.StateToHost();
        var e = Assert.Throws<CheckpointFormatException>(() => ParameterStoreCheckpoint.Import(target, "", SafeTensors.Load(path).Tensors));
        Assert.Equal(path, e.FilePath);
        Assert.Equal("tensor 'layer1.0.bn1.running_var'", e.Field);
        Assert.Contains("missing, expected F32 [4]", e.Message);
        Assert.Equal(valuesBefore, target.ValuesToHost());
        Assert.Equal(stateBefore, target.StateToHost());

        // Under another prefix every tensor is missing: all are listed, with the prefix.
        var all = Assert.Throws<CheckpointFormatException>(() => ParameterStoreCheckpoint.Import(target, "teacher.", SafeTensors.Load(path).Tensors));
        Assert.Contains("'teacher.conv1.weight' missing", all.Message);
        Assert.Contains("'teacher.bn1.num_batches_tracked' missing, expected I64 []", all.Message);
    }

    [Fact]
    public void MismatchedShapeOrDtypeIsNamed()
    {
        using var source = Network(1);
        var tensors = new TensorMap(ParameterStoreCheckpoint.Export(source, "", Tracked(1)), "mixed.safetensors");
        tensors.Set(NamedTensor.F32("layer2.0.downsample.0.weight", [8, 4], new float[32]));
        using var target = Network(2);
        var e = Assert.Throws<CheckpointFormatException>(() => ParameterStoreCheckpoint.Import(target, "", tensors));
        Assert.Equal("mixed.safetensors", e.FilePath);
        Assert.Equal("tensor 'layer2.0.downsample.0.weight'", e.Field);
        Assert.Contains("F32 [8, 4], expected F32 [8, 4, 1, 1]", e.Message);

        tensors = new TensorMap(ParameterStoreCheckpoint.Export(source, "", Tracked(1)), "mixed.safetensors");
        tensors.Set(NamedTensor.F32("bn1.num_batches_tracked", [], [3f]));
        e = Assert.Throws<CheckpointFormatException>(() => ParameterStoreCheckpoint.Import(target, "", tensors));
        Assert.Contains("F32 [], expected I64 []", e.Message);
    }

    [Fact]
    public void ExportNeedsTheCountOfEveryBatchNormAndNoOther()
    {
        using var store = Network(1);
        Assert.Equal(["bn1", "layer1.0.bn1", "layer2.0.downsample.1"], ParameterStoreCheckpoint.BatchNormModules(store));
        var partial = Tracked(1);
        partial.Remove("layer1.0.bn1");
        Assert.Contains("'layer1.0.bn1'", Assert.Throws<ArgumentException>(() => ParameterStoreCheckpoint.Export(store, "", partial)).Message);
        var extra = Tracked(1);
        extra["bn2"] = 1;
        Assert.Contains("'bn2'", Assert.Throws<ArgumentException>(() => ParameterStoreCheckpoint.Export(store, "", extra)).Message);
    }

    [Fact]
    public void OptimizerStateRoundTripsAndMustBeComplete()
    {
        using var store = Network(1);
        using var sgd = new Sgd(store, momentum: 0.9f);
        store.GradsFromHost(Rand.UniformF(9, store.Count).ToFloat());
        sgd.Step(0.1f);   // a non-zero velocity
        var exported = OptimizerCheckpoint.Export(sgd);
        var velocity = Assert.Single(exported);
        Assert.Equal("optimizer.velocity", velocity.Name);
        Assert.Equal([store.Count], velocity.Shape);
        Assert.Contains(velocity.ToFloat32(), v => v != 0);

        using var store2 = Network(1);
        using var sgd2 = new Sgd(store2, momentum: 0.9f);
        OptimizerCheckpoint.Import(sgd2, new TensorMap(exported), steps: sgd.Steps);
        Assert.Equal(velocity.ToFloat32(), OptimizerCheckpoint.Export(sgd2).Single().ToFloat32());
        Assert.Equal(1, sgd2.Steps);

        using var adam = new Adam(store2);
        var e = Assert.Throws<CheckpointFormatException>(() => OptimizerCheckpoint.Import(adam, new TensorMap(exported, "sgd.safetensors"), steps: 1));
        Assert.Equal("sgd.safetensors", e.FilePath);
        Assert.Equal("tensor 'optimizer.exp_avg'", e.Field);
    }
}
