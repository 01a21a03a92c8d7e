using ByolIlgpu.Checkpoints;
using Xunit;

namespace ByolIlgpu.Tests.Checkpoints;

/// <summary>The training checkpoint model on top of safetensors, and the per-epoch folder for --resume.</summary>
public sealed class TrainingCheckpointTests
{
    static float[] Values(int seed, int n)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    static TrainingCheckpoint Sample(int epoch = 5)
    {
        var c = new TrainingCheckpoint
        {
            Epoch = epoch,
            Step = 1955,
            Seed = -3,
            Config = "{\"epochs\": 200, \"batch\": 256, \"optimizer\": \"lars\"}",
            Optimizer = "{\"kind\": \"lars\", \"steps\": 1955}",
            Rng = "{\"data\": [1, 2, 3]}",
        };
        c.Metadata["note"] = "free text";
        c.Tensors.AddRange(
        [
            NamedTensor.F32("conv1.weight", [4, 3, 7, 7], Values(1, 4 * 3 * 49)),
            NamedTensor.F32("bn1.weight", [4], Values(2, 4)),
            NamedTensor.F32("bn1.running_var", [4], Values(3, 4).Select(Math.Abs).ToArray()),
            NamedTensor.ScalarI64("bn1.num_batches_tracked", 3910),
            NamedTensor.F32("layer2.0.downsample.0.weight", [8, 4, 1, 1], Values(4, 32)),
            NamedTensor.F32("projector.0.weight", [6, 8], Values(5, 48)),
            NamedTensor.F32("predictor.3.bias", [2], Values(6, 2)),
            NamedTensor.F32(TrainingCheckpoint.TeacherPrefix + "conv1.weight", [4, 3, 7, 7], Values(7, 4 * 3 * 49)),
            NamedTensor.ScalarI64(TrainingCheckpoint.TeacherPrefix + "bn1.num_batches_tracked", 3910),
            NamedTensor.F32(TrainingCheckpoint.OptimizerPrefix + "velocity", [100], Values(8, 100)),
        ]);
        return c;
    }

    [Fact]
    public void SaveThenLoadKeepsTensorsAndTrainingPosition()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        var saved = Sample();
        saved.Save(path);
        var loaded = TrainingCheckpoint.Load(path);

        Assert.Equal(path, loaded.Source);
        Assert.Equal(5, loaded.Epoch);
        Assert.Equal(1955L, loaded.Step);
        Assert.Equal(-3L, loaded.Seed);
        Assert.Equal(saved.Config, loaded.Config);
        Assert.Equal(saved.Optimizer, loaded.Optimizer);
        Assert.Equal(saved.Rng, loaded.Rng);
        Assert.Equal("free text", loaded.Metadata["note"]);
        Assert.Equal("pt", loaded.Metadata[TrainingCheckpoint.FormatKey]);
        Assert.Equal("1", loaded.Metadata[TrainingCheckpoint.VersionKey]);

        Assert.Equal(saved.Tensors.Names.Order(StringComparer.Ordinal), loaded.Tensors.Names.Order(StringComparer.Ordinal));
        foreach (var t in saved.Tensors)
        {
            var got = loaded.Tensors[t.Name];
            Assert.Equal(t.DType, got.DType);
            Assert.Equal(t.Shape, got.Shape);
            Assert.Equal(t.Bytes, got.Bytes);
        }
        Assert.Equal(3910L, loaded.Tensors.GetInt64("bn1.num_batches_tracked", []).Single());
        Assert.Equal(Values(8, 100), loaded.Tensors.GetFloat32("optimizer.velocity", [100]));
    }

    [Fact]
    public void SaveNeedsEpochAndStep()
    {
        using var dir = new TempFolder();
        var c = new TrainingCheckpoint { Epoch = 1 };
        var e = Assert.Throws<InvalidOperationException>(() => c.Save(dir.File("x.safetensors")));
        Assert.Contains(TrainingCheckpoint.StepKey, e.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void JsonEntriesMustBeJson()
    {
        var c = new TrainingCheckpoint();
        var e = Assert.Throws<ArgumentException>(() => c.Config = "{epochs: 200");
        Assert.Contains(TrainingCheckpoint.ConfigKey, e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Epoch = -1);
    }

    public static TheoryData<string, string, string, string> BadMetadata() => new()
    {
        // (key, value written, field in the error, fragment of the message); "<absent>" = key not written
        { TrainingCheckpoint.EpochKey, "<absent>", "metadata 'byol.epoch'", "missing, expected the number of completed epochs" },
        { TrainingCheckpoint.EpochKey, "five", "metadata 'byol.epoch'", "\"five\", expected the number of completed epochs" },
        { TrainingCheckpoint.EpochKey, "-2", "metadata 'byol.epoch'", "\"-2\"" },
        { TrainingCheckpoint.StepKey, "1.5", "metadata 'byol.step'", "\"1.5\", expected the number of completed optimizer steps" },
        { TrainingCheckpoint.SeedKey, "x", "metadata 'byol.seed'", "expected an integer seed" },
        { TrainingCheckpoint.VersionKey, "2", "metadata 'byol.checkpoint_version'", "expected an integer from 1 to 1" },
        { TrainingCheckpoint.ConfigKey, "{\"lr\": ", "metadata 'byol.config'", "not a valid JSON document" },
        { TrainingCheckpoint.OptimizerKey, "lars", "metadata 'byol.optimizer'", "not a valid JSON document" },
        { TrainingCheckpoint.KernelsKey, "tf32", "metadata 'byol.kernels'", "not a valid JSON document" },
    };

    [Theory]
    [MemberData(nameof(BadMetadata))]
    public void LoadRejectsBadMetadataNamingFileAndKey(string key, string value, string field, string fragment)
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        var metadata = new Dictionary<string, string>
        {
            [TrainingCheckpoint.EpochKey] = "3",
            [TrainingCheckpoint.StepKey] = "30",
        };
        if (value == "<absent>")
            metadata.Remove(key);
        else
            metadata[key] = value;
        SafeTensors.Save(path, [NamedTensor.F32("conv1.weight", [2], [1f, 2f])], metadata);

        var e = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(field, e.Field);
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"'{e.Message}' lacks '{fragment}'");
    }

    [Fact]
    public void LoadAcceptsTheMinimalMetadata()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        SafeTensors.Save(path, [], new Dictionary<string, string> { [TrainingCheckpoint.EpochKey] = "3", [TrainingCheckpoint.StepKey] = "30" });
        var c = TrainingCheckpoint.Load(path);
        Assert.Equal(3, c.Epoch);
        Assert.Null(c.Seed);
        Assert.Null(c.Config);
        Assert.Null(c.Kernels);
        Assert.True(ByolIlgpu.Engine.KernelRecord.FromCheckpoint(c).IsLegacy);   // written before the record existed: FP32
    }

    [Fact]
    public void TheKernelRecordSurvivesSaveAndLoadAndAMalformedOneNamesTheFile()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        var saved = Sample();
        var record = new ByolIlgpu.Engine.KernelRecord(ByolIlgpu.Engine.Precision.Tf32, "cuda:0 NVIDIA H200", ByolIlgpu.Engine.DeviceFamily.Cuda,
            new Dictionary<ByolIlgpu.Engine.KernelSite, int> { [ByolIlgpu.Engine.KernelSite.Matmul] = 4 });
        saved.Kernels = record.ToJson();
        saved.Save(path);
        var loaded = ByolIlgpu.Engine.KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(path));
        Assert.Equal((record.Precision, record.Device, record.Family), (loaded.Precision, loaded.Device, loaded.Family));
        Assert.Equal(4, loaded.Versions[ByolIlgpu.Engine.KernelSite.Matmul]);
        saved.Kernels = """{"precision": "tf32", "device": "x", "family": "Cuda", "versions": {"matmul": "four"}}""";
        saved.Save(path);
        var e = Assert.Throws<InvalidDataException>(() => ByolIlgpu.Engine.KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(path)));
        Assert.Contains(path, e.Message);
        Assert.Contains("byol.kernels", e.Message);
    }

    [Fact]
    public void MissingTensorLookupNamesFileAndTensor()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        Sample().Save(path);
        var c = TrainingCheckpoint.Load(path);
        var e = Assert.Throws<CheckpointFormatException>(() => c.Tensors.GetFloat32("fc.weight", [10, 512]));
        Assert.Equal(path, e.FilePath);
        Assert.Equal("tensor 'fc.weight'", e.Field);
        Assert.Contains("missing, expected F32 [10, 512]", e.Message);
        var wrong = Assert.Throws<CheckpointFormatException>(() => c.Tensors.GetFloat32("bn1.weight", [5]));
        Assert.Contains("F32 [4], expected F32 [5]", wrong.Message);
    }

    // ------------------------------------------------------------ folder

    [Fact]
    public void FolderFindsTheNewestEpochNumericallyAndIgnoresTemporaries()
    {
        using var dir = new TempFolder();
        Assert.Null(CheckpointFolder.FindLatest(dir.Path));
        foreach (int epoch in new[] { 2, 9999, 10000, 9 })
            Assert.Equal(dir.File(CheckpointFolder.FileName(epoch)), CheckpointFolder.Save(dir.Path, Sample(epoch)));
        // What an interrupted write or another tool might leave behind.
        File.WriteAllBytes(dir.File(".checkpoint-epoch20000.safetensors.123-abc.tmp"), [1, 2]);
        File.WriteAllBytes(dir.File("checkpoint-epoch30000.safetensors.tmp"), [1, 2]);
        File.WriteAllBytes(dir.File("notes-epoch40000.safetensors"), [1, 2]);

        Assert.Equal("checkpoint-epoch0002.safetensors", CheckpointFolder.FileName(2));
        Assert.Equal(dir.File("checkpoint-epoch10000.safetensors"), CheckpointFolder.FindLatest(dir.Path));
        Assert.Equal([2, 9, 9999, 10000], CheckpointFolder.List(dir.Path).Select(f => f.Epoch));
        Assert.Equal(10000, TrainingCheckpoint.Load(CheckpointFolder.ResolveResume(dir.Path)).Epoch);
    }

    [Fact]
    public void ResumeTakesAFileAsItIsAndNamesWhatIsMissing()
    {
        using var dir = new TempFolder();
        string file = CheckpointFolder.Save(dir.Path, Sample(3));
        CheckpointFolder.Save(dir.Path, Sample(4));
        Assert.Equal(file, CheckpointFolder.ResolveResume(file));

        using var empty = new TempFolder();
        var none = Assert.Throws<FileNotFoundException>(() => CheckpointFolder.ResolveResume(empty.Path));
        Assert.Contains(empty.Path, none.Message);
        Assert.Contains("checkpoint-epoch0005.safetensors", none.Message);
        string absent = Path.Combine(empty.Path, "gone");
        Assert.Contains(absent, Assert.Throws<FileNotFoundException>(() => CheckpointFolder.ResolveResume(absent)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => CheckpointFolder.FindLatest(absent));
    }

    [Fact]
    public void PruneKeepsTheNewest()
    {
        using var dir = new TempFolder();
        foreach (int epoch in new[] { 1, 2, 3, 4 })
            CheckpointFolder.Save(dir.Path, Sample(epoch));
        var deleted = CheckpointFolder.Prune(dir.Path, keep: 2);
        Assert.Equal([dir.File(CheckpointFolder.FileName(1)), dir.File(CheckpointFolder.FileName(2))], deleted);
        Assert.Equal([CheckpointFolder.FileName(3), CheckpointFolder.FileName(4)], dir.Entries());
    }
}
