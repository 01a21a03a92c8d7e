using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Training;

/// <summary>
/// Everything `byol train` does around the <see cref="Trainer"/>: resolves the data (--synthetic,
/// --data, else the cached or freshly downloaded CIFAR-10), the device, and --resume (the saved
/// configuration and the latest checkpoint of the run folder).
/// </summary>
public static class TrainingRun
{
    public static TrainingResult Execute(TrainingConfig config, string? resume, ProgressReporter progress)
    {
        string? checkpoint = null;
        if (resume is not null)
        {
            checkpoint = CheckpointFolder.ResolveResume(resume);
            var saved = TrainingCheckpoint.Load(checkpoint);
            config = ResumedConfig(saved, checkpoint, askedPrecision: config.Precision);
            progress.Line($"resuming {config.RunDir} from {Path.GetFileName(checkpoint)} (epoch {saved.Epoch} of {config.Epochs})");
        }
        config.Validate();
        using var device = ComputeDevice.Create(config.Device);
        // A precision the device cannot run (TF32 below sm_80) stops here, before the data is read.
        device.UsePrecision(DevicePolicy.ChoosePrecision(device.Info, Precisions.Parse(config.Precision)));
        var (train, test) = LoadData(config, progress);
        config = config.ResolveFor(train.Height, train.Width);
        progress.Line($"device {device}, precision {device.Precision.Name()}; {train.Count} training and {test.Count} test images ({train.Source}, {train.Height}×{train.Width}); " +
            $"ResNet-18 width {config.Architecture.Width}, {config.Architecture.Stem} stem, {config.ImageSize} px views{(config.Blur == true ? " with blur" : "")}, batch {config.BatchSize}, {config.Optimizer} peak lr {config.PeakLearningRate:G4}");
        using var trainer = new Trainer(config, device, train, test, progress);
        if (checkpoint is not null)
            trainer.Resume(checkpoint);
        return trainer.Run();
    }

    /// <summary>
    /// What a resume continues with: the checkpoint's configuration, in its folder, at its recorded
    /// precision (FP32 for a checkpoint written before precisions were recorded), unless
    /// <paramref name="askedPrecision"/> (an explicit --precision) names another: an expert who types
    /// it means it (continuing a TF32 run on a GPU without TF32, say), so it is honoured, and the
    /// trainer warns that the run is then no longer bit-identical (<see cref="Trainer.Resume"/>).
    /// </summary>
    public static TrainingConfig ResumedConfig(TrainingCheckpoint saved, string path, string? askedPrecision)
    {
        var config = TrainingConfig.FromCheckpoint(saved, path);
        return config with
        {
            RunDir = Path.GetDirectoryName(Path.GetFullPath(path))!,
            Precision = askedPrecision ?? config.Precision ?? Precision.Fp32.Name(),
        };
    }

    /// <summary>The configured images, limited as asked.</summary>
    public static (ImageDataset Train, ImageDataset Test) LoadData(TrainingConfig config, ProgressReporter progress)
    {
        ImageDataset train, test;
        if (config.Synthetic > 0)
        {
            // Generated at the asked size (32 px when none is asked): synthetic images have no resolution of their own.
            int size = config.ImageSize > 0 ? config.ImageSize : SyntheticDataset.DefaultSize;
            train = SyntheticDataset.Generate(config.Synthetic, config.Seed, size: size);
            test = SyntheticDataset.Generate(Math.Max(100, config.Synthetic / 5), config.Seed + 1_000_003, size: size);
        }
        else
        {
            var folder = config.Data ?? DownloadIfMissing(progress);
            (train, test) = Cifar10.Load(folder);
        }
        return (train.Take(config.TrainLimit), test.Take(config.TestLimit));
    }

    static string DownloadIfMissing(ProgressReporter progress)
    {
        var cache = Cifar10Downloader.DefaultCacheFolder;
        var existing = Cifar10.Locate(cache);
        if (existing is not null)
            return existing;
        progress.Line($"no --data given: downloading CIFAR-10 ({Cifar10Downloader.OfficialUrl}) into {cache}");
        using var client = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var report = new Progress<(long Done, long? Total)>(p =>
            progress.Update("download", p.Done >> 20, (p.Total ?? p.Done) >> 20, "MiB", TimeSpan.Zero));
        return new Cifar10Downloader(client).EnsureAsync(cache, report).GetAwaiter().GetResult();
    }
}
