using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using System.Text.Json.Nodes;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The trainer end to end on a tiny model and synthetic data: logs, checkpoints, exact resume, divergence.</summary>
public class TrainerTests
{
    static TrainingConfig Tiny(string runDir, int epochs = 2) => new()
    {
        Synthetic = 48,
        Epochs = epochs,
        BatchSize = 16,
        Architecture = new ByolArchitecture(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16),
        Optimizer = "lars",
        WarmupEpochs = 1,
        Device = "cpu",
        KnnEvery = 1,
        CheckpointEvery = 1,
        RunDir = runDir,
    };

    static TrainingResult Run(TrainingConfig config, int? stopAfter = null, string? resumeFrom = null, StringWriter? log = null, ComputeDevice? device = null)
    {
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        using var trainer = new Trainer(config, device ?? TestDevices.Cpu, train, test, new PlainProgress(log ?? new StringWriter()));
        if (resumeFrom is not null)
            trainer.Resume(resumeFrom);
        return trainer.Run(stopAfter);
    }

    static TensorMap TensorsOf(string checkpoint) => TrainingCheckpoint.Load(checkpoint).Tensors;

    [Fact]
    public void LogsMetricsPlotAndCheckpointsEveryEpoch()
    {
        using var dir = new Data.Scratch();
        var log = new StringWriter();
        var result = Run(Tiny(dir.Path), log: log);
        Assert.Equal(2, result.EpochsDone);
        Assert.NotNull(result.FinalKnn);
        var rows = MetricsLog.Read(Path.Combine(dir.Path, "metrics.jsonl"));
        Assert.Equal([0, 1, 2], rows.Select(r => r.Epoch));   // epoch 0: the initial network's kNN
        Assert.Null(rows[0].Loss);
        Assert.All(rows.Skip(1), r => Assert.InRange(r.Loss!.Value, 0, 8));
        Assert.All(rows, r => Assert.NotNull(r.KnnTop1));
        Assert.True(new FileInfo(Path.Combine(dir.Path, "metrics.png")).Length > 1000);
        Assert.Equal([0, 1, 2], CheckpointFolder.List(dir.Path).Select(c => c.Epoch));
        Assert.Contains("epoch 2/2", log.ToString());
        Assert.Contains("knn top1", log.ToString());
        var tensors = TensorsOf(CheckpointFolder.FindLatest(dir.Path)!);
        Assert.Contains("conv1.weight", tensors.Names);
        Assert.Contains("layer2.0.downsample.0.weight", tensors.Names);
        Assert.Contains("teacher.conv1.weight", tensors.Names);
        Assert.Contains("predictor.0.weight", tensors.Names);
        Assert.DoesNotContain("teacher.predictor.0.weight", tensors.Names);
        Assert.Contains("bn1.num_batches_tracked", tensors.Names);
        Assert.Contains("optimizer.velocity", tensors.Names);
        var configJson = File.ReadAllText(Path.Combine(dir.Path, "config.json"));
        var config = TrainingConfig.FromJson(configJson, "config.json");
        // auto, as it resolved on the CPU; the image size and the blur as they resolved for the 32-px data
        Assert.Equal(Tiny(dir.Path) with { Precision = "fp32", ImageSize = 32, Blur = false }, config);
        // Beside the configuration, the kernel versions that ran; the checkpoint records the same.
        var kernels = KernelRecord.FromJson(JsonNode.Parse(configJson)!["kernels"]!.ToJsonString(), "config.json");
        Assert.Equal(Precision.Fp32, kernels.Precision);
        Assert.Equal(DeviceFamily.CpuAccelerator, kernels.Family);
        Assert.Contains(kernels.Versions, kv => kv.Key.Op == DevicePolicy.Conv2dOp && kv.Key.Variant == "backward-weight");
        Assert.Contains(KernelSite.Matmul, kernels.Versions.Keys);
        var recorded = KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(CheckpointFolder.FindLatest(dir.Path)!));
        Assert.False(recorded.IsLegacy);
        Assert.Equal(kernels.Versions.OrderBy(kv => kv.Key.ToString()), recorded.Versions.OrderBy(kv => kv.Key.ToString()));
    }

    static void AssertSameTensors(string expectedCheckpoint, string actualCheckpoint, bool same = true)
    {
        var a = TensorsOf(expectedCheckpoint);
        var b = TensorsOf(actualCheckpoint);
        Assert.Equal(a.Names.Order(), b.Names.Order());
        bool identical = a.Names.All(name => a[name].Bytes.AsSpan().SequenceEqual(b[name].Bytes));
        Assert.True(identical == same, same ? "tensors differ after resume" : "tensors are identical, but the versions that ran differ");
    }

    static void Rewrite(string checkpoint, Action<TrainingCheckpoint> edit)
    {
        var c = TrainingCheckpoint.Load(checkpoint);
        edit(c);
        c.Save(checkpoint);
    }

    /// <summary>
    /// A copy of <paramref name="run"/>'s checkpoint after <paramref name="epoch"/> alone in a fresh
    /// folder, optionally edited: resuming it is resuming that run as if it had stopped there.
    /// </summary>
    static string CheckpointCopy(string run, int epoch, string folder, Action<TrainingCheckpoint>? edit = null)
    {
        var copy = Path.Combine(folder, CheckpointFolder.FileName(epoch));
        File.Copy(Path.Combine(run, CheckpointFolder.FileName(epoch)), copy);
        if (edit is not null)
            Rewrite(copy, edit);
        return copy;
    }

    /// <summary>Resumes as `byol train --resume` does: the checkpoint's configuration, in its folder.</summary>
    static StringWriter Resume(string checkpoint, string? askedPrecision = null)
    {
        var log = new StringWriter();
        Run(TrainingRun.ResumedConfig(TrainingCheckpoint.Load(checkpoint), checkpoint, askedPrecision), resumeFrom: checkpoint, log: log);
        return log;
    }

    static string Final(string folder) => CheckpointFolder.FindLatest(folder)!;

    /// <summary>
    /// The checkpoint records the versions that ran (here version 2 at every conv2d site, forced);
    /// the resume runs them though the CPU table would take version 3 at many sites, and ends as the
    /// uninterrupted run did. The same resume without the record (the control) runs the table's
    /// versions and ends elsewhere: the record is what keeps it bit for bit.
    /// </summary>
    [Fact]
    public void AResumeRunsTheKernelVersionsItsCheckpointRecorded()
    {
        using var straight = new Data.Scratch();
        using var resumed = new Data.Scratch();
        using var control = new Data.Scratch();
        var device = TestDevices.Cpu;
        try
        {
            device.ForcedVersions[DevicePolicy.Conv2dOp] = 2;
            Run(Tiny(straight.Path, epochs: 2) with { Synthetic = 32, KnnEvery = 0 });   // two steps an epoch
        }
        finally
        {
            device.ForcedVersions.Clear();
        }
        var recorded = KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(Path.Combine(straight.Path, CheckpointFolder.FileName(1))));
        var conv = recorded.Versions.Where(kv => kv.Key.Op == DevicePolicy.Conv2dOp).ToList();
        Assert.All(conv, kv => Assert.Equal(2, kv.Value));
        Assert.Contains(conv, kv => device.Policy.Conv2dVersion(Shape(kv.Key), Pass(kv.Key)) == 3);   // where the table differs
        Assert.DoesNotContain("warning", Resume(CheckpointCopy(straight.Path, 1, resumed.Path)).ToString());
        AssertSameTensors(Final(straight.Path), Final(resumed.Path));
        Assert.Empty(device.KernelLog.Pinned);   // the trainer gave the device back as it found it

        Resume(CheckpointCopy(straight.Path, 1, control.Path, c => c.Kernels = null));
        AssertSameTensors(Final(straight.Path), Final(control.Path), same: false);
    }

    static Kernels.Conv2dShape Shape(KernelSite s) => new(2, s.C, s.H, s.W, s.K, s.R, s.S, s.Stride, s.Pad);

    static Ops.Conv2dPass Pass(KernelSite s) => s.Variant switch
    {
        "forward" => Ops.Conv2dPass.Forward,
        "backward-input" => Ops.Conv2dPass.BackwardInput,
        _ => Ops.Conv2dPass.BackwardWeight,
    };

    /// <summary>
    /// A checkpoint from before precisions were recorded (no byol.kernels, no "precision" in its
    /// configuration) resumes in FP32 and bit for bit. An explicit --precision other than a
    /// checkpoint's is honoured (the one way to continue a TF32 run on a GPU without TF32), with a
    /// warning that the run no longer repeats an uninterrupted one.
    /// </summary>
    [Fact]
    public void OldCheckpointsResumeAsFp32AndAnotherExplicitPrecisionWarns()
    {
        using var straight = new Data.Scratch();
        using var legacy = new Data.Scratch();
        using var other = new Data.Scratch();
        Run(Tiny(straight.Path, epochs: 2) with { Synthetic = 32, KnnEvery = 0 });   // two steps an epoch

        static void WithoutPrecision(TrainingCheckpoint c)
        {
            c.Kernels = null;
            var config = JsonNode.Parse(c.Config!)!.AsObject();
            Assert.True(config.Remove("precision"));
            c.Config = config.ToJsonString();
        }
        var old = CheckpointCopy(straight.Path, 1, legacy.Path, WithoutPrecision);
        var loaded = TrainingCheckpoint.Load(old);
        Assert.Null(loaded.Kernels);
        Assert.Null(TrainingConfig.FromCheckpoint(loaded, old).Precision);
        Assert.True(KernelRecord.FromCheckpoint(loaded).IsLegacy);
        Assert.Equal(Precision.Fp32, KernelRecord.FromCheckpoint(loaded).Precision);
        // Not auto: on a TF32 GPU auto would change the arithmetic in the middle of the run.
        Assert.Equal("fp32", TrainingRun.ResumedConfig(loaded, old, askedPrecision: null).Precision);
        Assert.DoesNotContain("warning", Resume(old).ToString());
        AssertSameTensors(Final(straight.Path), Final(legacy.Path));

        // As if written on a TF32 device, resumed with --precision fp32.
        var tf32 = CheckpointCopy(straight.Path, 1, other.Path, c =>
        {
            var kernels = JsonNode.Parse(c.Kernels!)!.AsObject();
            kernels["precision"] = "tf32";
            c.Kernels = kernels.ToJsonString();
            var config = JsonNode.Parse(c.Config!)!.AsObject();
            config["precision"] = "tf32";
            c.Config = config.ToJsonString();
        });
        Assert.Equal("tf32", TrainingRun.ResumedConfig(TrainingCheckpoint.Load(tf32), tf32, askedPrecision: null).Precision);
        var warning = Assert.Single(Resume(tf32, askedPrecision: "fp32").ToString().Split('\n'), l => l.StartsWith("warning:"));
        Assert.Contains("was trained in tf32", warning);
        Assert.Contains("continues in fp32", warning);
        Assert.Contains("bit for bit", warning);
        Assert.Equal(Precision.Fp32, KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(Final(other.Path))).Precision);
    }

    /// <summary>
    /// A TF32 run (the tensor cores' emulation) records tf32 and resumes bit for bit. On PoCL: the
    /// emulation's barriers over 128 OS threads make the CPU accelerator take over ten minutes for it.
    /// </summary>
    [Trait("Backend", "OpenCL")]
    public sealed class OnOpenCl
    {
        [Fact]
        public void ATf32RunResumesBitForBit() => Tf32RunResumesBitForBit(TestDevices.OpenCl);
    }

    static void Tf32RunResumesBitForBit(ComputeDevice device)
    {
        Assert.SkipUnless(DevicePolicy.HasTf32Versions, "the TF32 versions (conv2d 5, matmul 4) are not in this build yet");
        using var straight = new Data.Scratch();
        using var resumed = new Data.Scratch();
        Run(Tiny(straight.Path, epochs: 2) with { Precision = "tf32", KnnEvery = 0 }, device: device);
        var epoch1 = CheckpointCopy(straight.Path, 1, resumed.Path);
        var recorded = KernelRecord.FromCheckpoint(TrainingCheckpoint.Load(epoch1));
        Assert.Equal(Precision.Tf32, recorded.Precision);
        Assert.Contains(recorded.Versions, kv => kv.Key.Op == DevicePolicy.Conv2dOp && kv.Value == DevicePolicy.Tf32Conv2d);
        Assert.Equal(DevicePolicy.Tf32Matmul, recorded.Versions[KernelSite.Matmul]);
        var log = new StringWriter();
        Run(TrainingRun.ResumedConfig(TrainingCheckpoint.Load(epoch1), epoch1, askedPrecision: null), resumeFrom: epoch1, log: log, device: device);
        Assert.DoesNotContain("warning", log.ToString());
        AssertSameTensors(Final(straight.Path), Final(resumed.Path));
        Assert.Equal(Precision.Fp32, device.Precision);   // given back
    }

    [Fact]
    public void AnInterruptedAndResumedRunEndsBitForBitAsAnUninterruptedOne()
    {
        using var straight = new Data.Scratch();
        using var interrupted = new Data.Scratch();
        Run(Tiny(straight.Path, epochs: 3));
        var stopped = Run(Tiny(interrupted.Path, epochs: 3), stopAfter: 1);
        Assert.True(stopped.Stopped);
        Run(Tiny(interrupted.Path, epochs: 3), resumeFrom: CheckpointFolder.FindLatest(interrupted.Path));
        var a = TensorsOf(CheckpointFolder.FindLatest(straight.Path)!);
        var b = TensorsOf(CheckpointFolder.FindLatest(interrupted.Path)!);
        Assert.Equal(a.Names.Order(), b.Names.Order());
        foreach (var name in a.Names)
            Assert.True(a[name].Bytes.AsSpan().SequenceEqual(b[name].Bytes), $"tensor {name} differs after resume");
        Assert.Equal(4, MetricsLog.Read(Path.Combine(interrupted.Path, "metrics.jsonl")).Count);
    }

    [Fact]
    public void ADivergingLossStopsTheRunAndKeepsTheLastGoodCheckpoint()
    {
        using var dir = new Data.Scratch();
        Run(Tiny(dir.Path, epochs: 1));
        var good = CheckpointFolder.FindLatest(dir.Path)!;
        var bytes = File.ReadAllBytes(good);
        var exploding = Tiny(dir.Path, epochs: 2) with { Optimizer = "sgd", LearningRate = 1e30, WarmupEpochs = 0 };
        var e = Assert.Throws<DivergedException>(() => Run(exploding, resumeFrom: null));
        Assert.Contains("loss became", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(good));
        Assert.Equal([0, 1], CheckpointFolder.List(dir.Path).Select(c => c.Epoch));
    }

    [Fact]
    public void TheScheduleWarmsUpPerStepAndTauRisesToOne()
    {
        using var dir = new Data.Scratch();
        var config = Tiny(dir.Path, epochs: 4) with { LearningRate = 1.0 };
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        using var trainer = new Trainer(config, TestDevices.Cpu, train, test, new PlainProgress(TextWriter.Null));
        int perEpoch = trainer.StepsPerEpoch;   // 48 / 16 = 3
        Assert.Equal(3, perEpoch);
        double peak = 1.0 * 16 / 256;
        Assert.Equal(0, trainer.LearningRateAt(0));
        Assert.Equal(peak / 3, trainer.LearningRateAt(1), 12);
        Assert.Equal(peak, trainer.LearningRateAt(3), 12);
        Assert.Equal(0, trainer.LearningRateAt(12), 12);
        Assert.Equal(0.99, trainer.TauAt(0), 12);
        Assert.Equal(1.0, trainer.TauAt(12), 12);
    }
}
