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
        var splits = LoadSplits(config, progress);
        config = config.ResolveFor(splits.Pretrain.Height, splits.Pretrain.Width);
        if (!splits.Evaluable)
            progress.Line($"kNN off: {splits.WhyNotEvaluable}; kNN and linear evaluation need a labelled training set and a labelled test set");
        // Mapped sets stay mapped: the trainer keeps them on the device or streams them (--data-placement).
        var (train, bank, test) = (splits.Pretrain, splits.Evaluable ? splits.Train : null, splits.Evaluable ? splits.Test : null);
        if (ReferenceEquals(splits.Train, splits.Pretrain))
            bank = splits.Evaluable ? train : null;
        progress.Line($"device {device}, precision {device.Precision.Name()}; {train.Count} training images ({train.Source}, {train.Height}×{train.Width})" +
            (test is null ? "" : $", kNN bank {bank!.Count}, {test.Count} test images ({test.Source})") + "; " +
            $"ResNet-18 width {config.Architecture.Width}, {config.Architecture.Stem} stem, {config.ImageSize} px views{(config.Blur == true ? " with blur" : "")}, batch {config.BatchSize}, {config.Optimizer} peak lr {config.PeakLearningRate:G4}");
        // Removing the old run's files waits until the new run has its device and its data.
        RunFolder.Prepare(config.RunDir, resuming: checkpoint is not null, overwrite, progress);
        using var trainer = new Trainer(config, device, train, test, progress, bank);
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
        new("--cache-dir", c => c.CacheDir, "where decoded images are cached does not change them", (r, g) => r with { CacheDir = g.CacheDir }),
        new("--data-placement", c => c.DataPlacement, "a streamed run is bit for bit a resident one", (r, g) => r with { DataPlacement = g.DataPlacement }),
        new("--data", c => c.Data),
        new("--test-data", c => c.TestData),
        new("--bad-images", c => c.BadImages),
        new("--image-size", c => c.ImageSize),
        new("--stem", c => c.Architecture.Stem),
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
    public static readonly IReadOnlyList<string> NotCompared = ["--resume", "--overwrite", "--precision", "--run-dir"];

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

    /// <summary>The configured labelled train and test splits, limited as asked (what evaluation uses).</summary>
    public static (ImageDataset Train, ImageDataset Test) LoadData(TrainingConfig config, ProgressReporter progress)
    {
        var splits = LoadSplits(config, progress);
        return (splits.Train, splits.Test);
    }

    /// <summary>
    /// The configured data, limited as asked: --synthetic; --data stl10 (downloaded into the cache
    /// when missing); --data cifar10 or no --data (CIFAR-10, downloaded when missing); --data DIR
    /// holding CIFAR-10's or STL-10's binary files, or an image folder; --test-data DIR replaces the
    /// test split with a labelled image folder decoded at the training images' size.
    /// </summary>
    public static DataSplits LoadSplits(TrainingConfig config, ProgressReporter progress)
    {
        DataSplits splits;
        string cache = config.CacheDir ?? Cifar10Downloader.DefaultCacheFolder;
        var folderOptions = new ImageFolderOptions
        {
            Resolution = ImageFolderResolution(config),
            CacheFolder = cache,
            BadImages = config.BadImages == "fail" ? BadImagePolicy.Fail : BadImagePolicy.Skip,
        };
        if (config.Synthetic > 0)
        {
            // Generated at the asked size (32 px when none is asked): synthetic images have no resolution of their own.
            int size = config.ImageSize > 0 ? config.ImageSize : SyntheticDataset.DefaultSize;
            splits = new DataSplits(SyntheticDataset.Generate(config.Synthetic, config.Seed, size: size),
                SyntheticDataset.Generate(Math.Max(100, config.Synthetic / 5), config.Seed + 1_000_003, size: size));
        }
        else
        {
            var data = config.Data;
            bool named = data is "stl10" or "cifar10" && !Directory.Exists(data);
            if (data is null || (named && data == "cifar10"))
                splits = Cifar(DownloadIfMissing(cache, progress));
            else if (named)
                splits = Stl10.Load(DownloadStl10IfMissing(cache, progress));
            else if (!Directory.Exists(data))
                throw new DataFormatException($"{data}: no such folder; expected CIFAR-10's or STL-10's binary folder, a folder of images (one subfolder per class, or flat), " +
                    "or the name cifar10 or stl10 (downloaded into the cache)");
            else if (Cifar10.Locate(data) is not null)
                splits = Cifar(data);
            else if (Stl10.Locate(data) is not null)
                splits = Stl10.Load(data);
            else if (ImageFolder.SplitFolders(data) is { } split)
            {
                var images = ImageFolder.Load(split.Train, folderOptions, progress);
                var test = config.TestData is not null ? ImageDataset.Empty(images.Height, images.Width, split.Test)
                    : ImageFolder.Load(split.Test, folderOptions with { Resolution = images.Height, ClassNames = images.HasLabels ? images.ClassNames : null }, progress);
                progress.Line($"{data}: training on {split.Train}, testing on {config.TestData ?? split.Test}");
                splits = new DataSplits(images, test);
            }
            else if (ImageFolder.Holds(data))
            {
                var images = ImageFolder.Load(data, folderOptions, progress);
                splits = new DataSplits(images, ImageDataset.Empty(images.Height, images.Width, $"{data} (no test set)"));
            }
            else
                throw new DataFormatException($"{data}: neither CIFAR-10 (test_batch.bin) nor STL-10 (test_X.bin) binary files nor any images ({string.Join(", ", ImageFolder.Extensions)}) here or in its subfolders");
        }
        if (config.TestData is not null)
        {
            var train = splits.Train;
            if (!Directory.Exists(config.TestData))
                throw new DataFormatException($"{config.TestData}: no such folder; --test-data expects a folder of images, one subfolder per class");
            var test = ImageFolder.Load(config.TestData, folderOptions with
            {
                Resolution = train.Height,
                ClassNames = train.HasLabels ? train.ClassNames : null,
            }, progress);
            splits = splits with { Test = test };
        }
        var pretrain = splits.Pretrain.Take(config.TrainLimit);
        var bank = ReferenceEquals(splits.Train, splits.Pretrain) ? pretrain : splits.Train.Take(config.TrainLimit);
        return new DataSplits(pretrain, bank, splits.Test.Take(config.TestLimit));
    }

    static DataSplits Cifar(string folder)
    {
        var (train, test) = Cifar10.Load(folder);
        return new DataSplits(train, test);
    }

    /// <summary>The side an image folder is decoded at: the asked image size, else (null) the folder's own rule.</summary>
    static int? ImageFolderResolution(TrainingConfig config) => config.ImageSize > 0 ? config.ImageSize : null;

    static string DownloadIfMissing(string cache, ProgressReporter progress)
    {
        var existing = Cifar10.Locate(cache);
        if (existing is not null)
            return existing;
        progress.Line($"no --data given: downloading CIFAR-10 ({Cifar10Downloader.OfficialUrl}) into {cache}");
        using var client = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        return new Cifar10Downloader(client).EnsureAsync(cache, DownloadProgress(progress)).GetAwaiter().GetResult();
    }

    static string DownloadStl10IfMissing(string cache, ProgressReporter progress)
    {
        var existing = Path.Combine(cache, Stl10.FolderName);
        if (File.Exists(Path.Combine(existing, "test_X.bin")))
            return existing;
        progress.Line($"--data stl10: downloading STL-10 ({Stl10.OfficialUrl}, 2.6 GB) into {cache}");
        using var client = new HttpClient { Timeout = TimeSpan.FromHours(3) };
        return Stl10.EnsureAsync(client, cache, DownloadProgress(progress)).GetAwaiter().GetResult();
    }

    static Progress<(long Done, long? Total)> DownloadProgress(ProgressReporter progress) =>
        new(p => progress.Update("download", p.Done >> 20, (p.Total ?? p.Done) >> 20, "MiB", TimeSpan.Zero));
}
