using System.CommandLine;
using ByolIlgpu.Data;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>--data / --synthetic / --device, shared by the evaluation and preview commands.</summary>
public sealed class DataOptions
{
    public Option<string?> Data { get; } = new("--data") { Description = DataHelp + " Default: the data the checkpoint was trained on, or the downloaded CIFAR-10." };
    public Option<string?> TestData { get; } = new("--test-data") { Description = TestDataHelp };
    public Option<string?> CacheDir { get; } = new("--cache-dir") { Description = CacheDirHelp };
    public Option<string> BadImages { get; } = BadImagesOption();

    /// <summary>--data's description, shared with `byol train`.</summary>
    public const string DataHelp =
        "cifar10, stl10 (both downloaded into the cache when missing), a CIFAR-10 or STL-10 binary folder (or its parent), " +
        "or a folder of PNG/JPEG/BMP images: one subfolder per class (labelled, torchvision's ImageFolder; DIR/train with DIR/val or DIR/test as the test set) or flat (unlabeled: no kNN). " +
        "An image folder is decoded once into the cache at its median shorter side, at most 96 px (--image-size when given), " +
        "each image resized by its shorter side and centre-cropped; nothing is written into the folder. " +
        "stl10 pretrains on its train and unlabeled images; kNN and linear evaluation use its labelled train and test splits.";
    public const string TestDataHelp = "A labelled image folder (one subfolder per class, the training set's class names) as the test set; decoded at the training images' size.";
    public const string CacheDirHelp = "Where downloads and decoded image folders go. Default: $XDG_CACHE_HOME/byol-ilgpu, else ~/.cache/byol-ilgpu.";

    public static Option<string> BadImagesOption()
    {
        var option = new Option<string>("--bad-images")
        {
            Description = "An image that cannot be decoded is named, then: skip (left out, counted at the end) or fail (the run stops).",
            DefaultValueFactory = _ => "skip",
        };
        option.AcceptOnlyFromAmong(TrainingConfig.BadImagePolicies);
        return option;
    }
    public Option<int> Synthetic { get; } = new("--synthetic") { Description = "Use N generated images instead of CIFAR-10.", DefaultValueFactory = _ => 0 };
    public Option<string> Device { get; } = new("--device") { Description = "Device: auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(TestData);
        command.Options.Add(CacheDir);
        command.Options.Add(BadImages);
        command.Options.Add(Synthetic);
        command.Options.Add(Device);
    }

    /// <summary>The labelled splits named on the command line, else the training run's, in memory.</summary>
    public (ImageDataset Train, ImageDataset Test) Load(ParseResult parse, TrainingConfig? trained, ProgressReporter progress)
    {
        var splits = LoadSplits(parse, trained, progress);
        // Mapped sets stay mapped: evaluation keeps them on the device or streams them.
        return (splits.Train, splits.Test);
    }

    /// <summary>The data named on the command line, else the training run's, where it lies (mapped sets stay mapped).</summary>
    public DataSplits LoadSplits(ParseResult parse, TrainingConfig? trained, ProgressReporter progress)
    {
        var data = parse.GetValue(Data);
        int synthetic = parse.GetValue(Synthetic);
        if (synthetic < 0) throw new UsageException($"--synthetic must be zero or positive, got {synthetic}");
        if (data is not null && synthetic > 0) throw new UsageException("--data and --synthetic exclude each other: give one");
        var config = data is not null || synthetic > 0
            ? new TrainingConfig { Data = data, Synthetic = synthetic, Seed = trained?.Seed ?? 0 }
            : trained is not null ? trained with { TrainLimit = 0, TestLimit = 0 } : new TrainingConfig();
        var testData = parse.GetValue(TestData);
        if (testData is not null && synthetic > 0) throw new UsageException("--test-data and --synthetic exclude each other: the synthetic set brings its own test images");
        config = config with
        {
            TestData = testData ?? (data is null && synthetic == 0 ? config.TestData : null),
            CacheDir = parse.GetValue(CacheDir) ?? config.CacheDir,
            BadImages = parse.GetValue(BadImages)!,
        };
        return TrainingRun.LoadSplits(config, progress);
    }

    /// <summary>
    /// The labelled splits kNN and linear evaluation need; an unlabeled set stops here with one line
    /// saying why.
    /// </summary>
    public (ImageDataset Train, ImageDataset Test) LoadLabelled(ParseResult parse, TrainingConfig? trained, ProgressReporter progress, string what)
    {
        var (train, test) = Load(parse, trained, progress);
        var splits = new DataSplits(train, test);
        if (!splits.Evaluable)
            throw new UsageException($"{what} needs a labelled set: {splits.WhyNotEvaluable}");
        return (train, test);
    }
}
