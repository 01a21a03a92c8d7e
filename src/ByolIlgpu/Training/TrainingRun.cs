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
        var splits = LoadSplits(config, progress);
        config = config.ResolveFor(splits.Pretrain.Height, splits.Pretrain.Width);
        if (!splits.Evaluable)
            progress.Line($"kNN off: {splits.WhyNotEvaluable}; kNN and linear evaluation need a labelled training set and a labelled test set");
        // Until batches stream from host memory, the device holds whole sets: mapped sets are read into arrays here.
        var (train, bank, test) = (splits.Pretrain.InMemory(), splits.Evaluable ? splits.Train.InMemory() : null, splits.Evaluable ? splits.Test.InMemory() : null);
        if (ReferenceEquals(splits.Train, splits.Pretrain))
            bank = splits.Evaluable ? train : null;
        progress.Line($"device {device}, precision {device.Precision.Name()}; {train.Count} training images ({train.Source}, {train.Height}×{train.Width})" +
            (test is null ? "" : $", kNN bank {bank!.Count}, {test.Count} test images ({test.Source})") + "; " +
            $"ResNet-18 width {config.Architecture.Width}, {config.Architecture.Stem} stem, {config.ImageSize} px views{(config.Blur == true ? " with blur" : "")}, batch {config.BatchSize}, {config.Optimizer} peak lr {config.PeakLearningRate:G4}");
        using var trainer = new Trainer(config, device, train, test, progress, bank);
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
