using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
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

    static TrainingResult Run(TrainingConfig config, int? stopAfter = null, string? resumeFrom = null, StringWriter? log = null)
    {
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        using var trainer = new Trainer(config, TestDevices.Cpu, train, test, new PlainProgress(log ?? new StringWriter()));
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
        var config = TrainingConfig.FromJson(File.ReadAllText(Path.Combine(dir.Path, "config.json")), "config.json");
        Assert.Equal(Tiny(dir.Path), config);
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
