using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Training;

/// <summary>
/// Everything `byol train` does around the <see cref="Trainer"/>: resolves the data (--synthetic,
/// --data, else the cached or freshly downloaded CIFAR-10), the device, and --resume (the saved
/// configuration and the latest checkpoint of the run folder), and the run folder
/// (<see cref="RunFolder.Prepare"/>: another run in it is refused unless --overwrite).
/// </summary>
public static class TrainingRun
{
    /// <param name="config">The configuration of the command line; on resume, the values of <paramref name="givenFlags"/> are read from it.</param>
    /// <param name="resume">--resume: a run folder or a checkpoint file; null for a new run.</param>
    /// <param name="givenFlags">The flags given explicitly on the command line ("--epochs", ...): on resume, each is checked against the saved configuration (<see cref="ResumeFlags"/>).</param>
    /// <param name="overwrite">--overwrite: a new run replaces the run files already in its folder.</param>
    public static TrainingResult Execute(TrainingConfig config, string? resume, ProgressReporter progress,
        IReadOnlyCollection<string>? givenFlags = null, bool overwrite = false)
    {
        string? checkpoint = null;
        if (resume is not null)
        {
            if (overwrite)
                throw new RunFolderException("--resume and --overwrite exclude each other: give one");
            checkpoint = ResolveResume(resume);
            var saved = TrainingCheckpoint.Load(checkpoint);
            config = Resumed(saved, checkpoint, config, givenFlags ?? [], progress);
            progress.Line($"resuming {config.RunDir} from {Path.GetFileName(checkpoint)} (epoch {saved.Epoch} of {config.Epochs})");
        }
        config.Validate();
        if (checkpoint is null)
            RunFolder.CheckAvailable(config.RunDir, overwrite);   // before a download or a device start, not after
        using var device = ComputeDevice.Create(config.Device);
        // A precision the device cannot run (TF32 below sm_80) stops here, before the data is read.
        device.UsePrecision(DevicePolicy.ChoosePrecision(device.Info, Precisions.Parse(config.Precision)));
        var (train, test) = LoadData(config, progress);
        progress.Line($"device {device}, precision {device.Precision.Name()}; {train.Count} training and {test.Count} test images ({train.Source}); " +
            $"ResNet-18 width {config.Architecture.Width}, batch {config.BatchSize}, {config.Optimizer} peak lr {config.PeakLearningRate:G4}");
        // Removing the old run's files waits until the new run has its device and its data.
        RunFolder.Prepare(config.RunDir, resuming: checkpoint is not null, overwrite, progress);
        using var trainer = new Trainer(config, device, train, test, progress);
        if (checkpoint is not null)
            trainer.Resume(checkpoint);
        return trainer.Run();
    }

    static string ResolveResume(string resume)
    {
        try
        {
            return CheckpointFolder.ResolveResume(resume);
        }
        catch (FileNotFoundException e) when (Directory.Exists(resume))
        {
            // A run killed before its first checkpoint: nothing to continue, only to start again.
            throw new RunFolderException($"{e.Message}; start it again with --overwrite");
        }
    }

    /// <summary>
    /// A flag of `byol train` on --resume: how to read its value from a configuration, and, for the
    /// ones a resumed run takes from the command line, why and how it applies. The others keep the
    /// saved value: the run continues its own configuration.
    /// </summary>
    public sealed record ResumeFlag(string Name, Func<TrainingConfig, object?> Value, string? Honoured = null,
        Func<TrainingConfig, TrainingConfig, TrainingConfig>? Apply = null);

    /// <summary>
    /// The flags checked on --resume. Taken from the command line: --epochs (extends or shortens the
    /// run; the lr and τ schedules then run over the new total from the resumed step), --device,
    /// --knn-every, --checkpoint-every and --keep-checkpoints (where and how the run is monitored and
    /// kept, not what it computes), and --precision (honoured with the trainer's warning,
    /// <see cref="ResumedConfig"/>). Every other flag keeps the saved value, with a warning when the
    /// given one differs; a flag this table lacks is named as not checked.
    /// </summary>
    public static readonly IReadOnlyList<ResumeFlag> ResumeFlags =
    [
        new("--epochs", c => c.Epochs, "the run's length", (r, g) => r with { Epochs = g.Epochs }),
        new("--device", c => c.Device, "the device to continue on", (r, g) => r with { Device = g.Device }),
        new("--knn-every", c => c.KnnEvery, "monitoring only, the weights are the same", (r, g) => r with { KnnEvery = g.KnnEvery }),
        new("--checkpoint-every", c => c.CheckpointEvery, "when checkpoints are written does not change the weights", (r, g) => r with { CheckpointEvery = g.CheckpointEvery }),
        new("--keep-checkpoints", c => c.KeepCheckpoints, "housekeeping", (r, g) => r with { KeepCheckpoints = g.KeepCheckpoints }),
        new("--data", c => c.Data),
        new("--synthetic", c => c.Synthetic),
        new("--batch-size", c => c.BatchSize),
        new("--width", c => c.Architecture.Width),
        new("--proj-hidden", c => c.Architecture.ProjectorHidden),
        new("--proj-out", c => c.Architecture.ProjectorOut),
        new("--pred-hidden", c => c.Architecture.PredictorHidden),
        new("--optimizer", c => c.Optimizer),
        new("--lr", c => c.LearningRate),
        new("--warmup-epochs", c => c.WarmupEpochs),
        new("--weight-decay", c => c.WeightDecay),
        new("--tau", c => c.Tau0),
        new("--constant-tau", c => c.ConstantTau),
        new("--blur", c => c.Blur),
        new("--seed", c => c.Seed),
        new("--knn-k", c => c.KnnK),
        new("--train-limit", c => c.TrainLimit),
        new("--test-limit", c => c.TestLimit),
    ];

    // Handled elsewhere: --resume and --overwrite themselves, --precision (ResumedConfig and the trainer's warning), --run-dir (below).
    static readonly string[] NotCompared = ["--resume", "--overwrite", "--precision", "--run-dir"];

    /// <summary>
    /// The configuration a resumed run continues with: the saved one (<see cref="ResumedConfig"/>),
    /// with the given flags that legitimately change on resume (<see cref="ResumeFlags"/>) applied.
    /// Each given flag whose value differs from the saved one gets a warning naming both values and
    /// which one the run uses. --epochs at or below the checkpoint's epoch is an error, as is
    /// resuming a run that is already complete.
    /// </summary>
    public static TrainingConfig Resumed(TrainingCheckpoint saved, string path, TrainingConfig given, IReadOnlyCollection<string> givenFlags, ProgressReporter progress)
    {
        var config = ResumedConfig(saved, path, askedPrecision: given.Precision);
        var original = config;
        string file = Path.GetFileName(path);
        foreach (var name in givenFlags)
        {
            if (NotCompared.Contains(name))
                continue;
            var flag = ResumeFlags.FirstOrDefault(f => f.Name == name);
            if (flag is null)
            {
                progress.Line($"warning: {name} is not checked against the saved configuration on --resume; the run continues with the saved configuration");
                continue;
            }
            string savedValue = Show(flag.Value(original)), givenValue = Show(flag.Value(given));
            if (savedValue == givenValue)
                continue;
            if (flag.Apply is null)
            {
                progress.Line($"warning: {name} {givenValue} differs from the saved configuration's {savedValue}: the saved {savedValue} is used " +
                    "(a resumed run continues its configuration; start a new run to change it)");
                continue;
            }
            config = flag.Apply(config, given);
            if (name == "--epochs")
            {
                if (given.Epochs <= saved.Epoch)
                    throw new RunFolderException($"--epochs {given.Epochs}: {file} has finished {saved.Epoch} epochs already; give more than {saved.Epoch} to continue the run");
                progress.Line($"warning: --epochs {givenValue} differs from the saved {savedValue}: {givenValue} is used ({(given.Epochs > original.Epochs ? "extending" : "shortening")} the run); " +
                    $"the lr and τ schedules now run over {givenValue} epochs from step {saved.Step}, so the run no longer repeats the {savedValue}-epoch one");
            }
            else
            {
                progress.Line($"warning: {name} {givenValue} differs from the saved configuration's {savedValue}: {givenValue} is used ({flag.Honoured})");
            }
        }
        if (givenFlags.Contains("--run-dir") && Path.GetFullPath(given.RunDir).TrimEnd('/') != config.RunDir.TrimEnd('/'))
            progress.Line($"warning: --run-dir {given.RunDir} is not used: a resumed run continues in its checkpoint's folder {config.RunDir}");
        if (config.Epochs <= saved.Epoch)
            throw new RunFolderException($"{path}: the run is complete ({saved.Epoch} of {config.Epochs} epochs); give --epochs N above {saved.Epoch} to extend it");
        return config;
    }

    static string Show(object? value) => value switch
    {
        null => "(default)",
        double d => d.ToString("G", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

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
            train = SyntheticDataset.Generate(config.Synthetic, config.Seed);
            test = SyntheticDataset.Generate(Math.Max(100, config.Synthetic / 5), config.Seed + 1_000_003);
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
