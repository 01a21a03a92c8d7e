using System.Text.Json;
using System.Text.Json.Serialization;
using ByolIlgpu.Byol;

namespace ByolIlgpu.Training;

/// <summary>
/// Everything that decides a BYOL run. Defaults reproduce the published CIFAR-10 setups: ResNet-18,
/// heads 4096 → 256, batch 256, LARS (base lr 1.0 per 256 images, η 0.02, momentum 0.9, weight decay
/// 1e-5), 10 warm-up epochs then a cosine, τ from 0.99 to 1 on a cosine, kNN with k = 200.
/// Saved as config.json in the run folder and inside every checkpoint.
/// </summary>
public sealed record TrainingConfig
{
    public string? Data { get; init; }

    /// <summary>A labelled image folder (one subfolder per class) as the test set, instead of the data set's own.</summary>
    public string? TestData { get; init; }

    /// <summary>Root of downloads and decoded image folders; null: $XDG_CACHE_HOME/byol-ilgpu or ~/.cache/byol-ilgpu.</summary>
    public string? CacheDir { get; init; }

    /// <summary>An image folder's undecodable images: "skip" (named, left out, counted) or "fail" (named, fatal).</summary>
    public string BadImages { get; init; } = "skip";
    public int Synthetic { get; init; }
    public int Epochs { get; init; } = 200;
    public int BatchSize { get; init; } = 256;
    public ByolArchitecture Architecture { get; init; } = new();
    public string Optimizer { get; init; } = "lars";

    /// <summary>Base learning rate; null takes the optimizer's default (LARS and SGD: per 256 images, scaled linearly).</summary>
    public double? LearningRate { get; init; }

    public double WarmupEpochs { get; init; } = 10;
    public double WeightDecay { get; init; } = 1e-5;
    public double Momentum { get; init; } = 0.9;
    public double TrustCoefficient { get; init; } = 0.02;
    public double Tau0 { get; init; } = 0.99;
    public bool ConstantTau { get; init; }

    /// <summary>
    /// BYOL's Gaussian blur (view 1 p = 1, view 2 p = 0.1); null (auto): on from
    /// <see cref="ByolIlgpu.Data.AugmentationConfig.BlurFromSize"/> px, off below as the CIFAR recipes do. The trainer records the choice.
    /// </summary>
    public bool? Blur { get; init; }

    /// <summary>
    /// Side of the square training and evaluation views in px; 0 takes the data set's resolution (the shorter side).
    /// The trainer records the size it ran, so an evaluation of its checkpoints runs at the same size.
    /// </summary>
    public int ImageSize { get; init; }

    /// <summary>
    /// True when --stem was not given: the run chooses it by the image size when it starts (cifar below
    /// <see cref="ImageNetStemFromSize"/> px, imagenet from it) and records the choice in Architecture.Stem.
    /// Not saved: a saved configuration holds the resolved stem (and one without "stem" ran cifar).
    /// </summary>
    [JsonIgnore]
    public bool AutoStem { get; init; }

    /// <summary>The image size from which the stem chosen by default is torchvision's ImageNet stem.</summary>
    public const int ImageNetStemFromSize = 64;

    /// <summary>The smallest --image-size accepted.</summary>
    public const int MinImageSize = 8;

    /// <summary>The image size, the stem and the blur a run on images of <paramref name="dataHeight"/>×<paramref name="dataWidth"/> uses, resolved and recorded.</summary>
    public TrainingConfig ResolveFor(int dataHeight, int dataWidth)
    {
        int size = ImageSize > 0 ? ImageSize : Math.Min(dataHeight, dataWidth);
        var architecture = AutoStem
            ? Architecture with { Stem = size >= ImageNetStemFromSize ? Layers.ResNet18.ImageNetStem : Layers.ResNet18.CifarStem }
            : Architecture;
        return this with
        {
            ImageSize = size,
            Blur = Blur ?? size >= ByolIlgpu.Data.AugmentationConfig.BlurFromSize,
            Architecture = architecture,
            AutoStem = false,
        };
    }
    public string Device { get; init; } = "auto";

    /// <summary>
    /// Where the images live: "auto" (on the device when they and a step fit the budget), "device", or "host"
    /// (kept in host memory, a batch streamed per step through page-locked staging; bit-identical runs).
    /// </summary>
    public string DataPlacement { get; init; } = "auto";

    /// <summary>
    /// "tf32" or "fp32"; null (auto) takes the device's default (<see cref="Engine.DevicePolicy.DefaultPrecision"/>).
    /// The trainer records the precision it ran; a configuration without the field (written before it existed) ran FP32.
    /// </summary>
    public string? Precision { get; init; }
    public int Seed { get; init; }
    public int KnnEvery { get; init; } = 10;
    public int KnnK { get; init; } = 200;
    public int CheckpointEvery { get; init; } = 10;

    /// <summary>Epoch checkpoints kept besides the epoch-0 baseline, the newest always among them (0: all); older ones are pruned.</summary>
    public int KeepCheckpoints { get; init; } = 3;
    public string RunDir { get; init; } = "runs/byol";

    /// <summary>Use only the first N training images (0: all); for quick runs and tests.</summary>
    public int TrainLimit { get; init; }

    /// <summary>Use only the first N test images (0: all).</summary>
    public int TestLimit { get; init; }

    [JsonIgnore]
    public static readonly string[] BadImagePolicies = ["skip", "fail"];

    [JsonIgnore]
    public static readonly string[] Optimizers = ["lars", "sgd", "adam", "adamw"];

    /// <summary>The learning rate the schedule starts from after warm-up.</summary>
    [JsonIgnore]
    public double PeakLearningRate => Optimizer switch
    {
        "lars" => Schedules.ScaledLearningRate(LearningRate ?? 1.0, BatchSize),
        "sgd" => Schedules.ScaledLearningRate(LearningRate ?? 0.05, BatchSize),
        _ => LearningRate ?? 3e-4,
    };

    /// <summary>Checks every field; the message names the option and what was expected.</summary>
    public void Validate()
    {
        Architecture.Validate();
        void Positive(string option, double value)
        {
            if (!(value > 0)) throw new ArgumentException($"--{option} must be positive, got {value}");
        }
        void NonNegative(string option, double value)
        {
            if (!(value >= 0)) throw new ArgumentException($"--{option} must be zero or positive, got {value}");
        }
        Positive("epochs", Epochs);
        if (BatchSize < 2)
            throw new ArgumentException($"--batch-size must be at least 2 (BatchNorm needs two images), got {BatchSize}");
        if (!Optimizers.Contains(Optimizer))
            throw new ArgumentException($"--optimizer must be one of {string.Join(", ", Optimizers)}, got '{Optimizer}'");
        if (LearningRate is { } lr) Positive("lr", lr);
        NonNegative("warmup-epochs", WarmupEpochs);
        NonNegative("weight-decay", WeightDecay);
        NonNegative("synthetic", Synthetic);
        if (Tau0 < 0 || Tau0 > 1)
            throw new ArgumentException($"--tau must lie in [0, 1], got {Tau0}");
        NonNegative("knn-every", KnnEvery);
        Positive("knn-k", KnnK);
        NonNegative("checkpoint-every", CheckpointEvery);
        NonNegative("keep-checkpoints", KeepCheckpoints);
        NonNegative("train-limit", TrainLimit);
        NonNegative("test-limit", TestLimit);
        if (ImageSize != 0 && ImageSize < MinImageSize)
            throw new ArgumentException($"--image-size must be 0 (the data set's resolution) or at least {MinImageSize} px, got {ImageSize}");
        if (Data is not null && Synthetic > 0)
            throw new ArgumentException("--data and --synthetic exclude each other: give one");
        if (TestData is not null && Synthetic > 0)
            throw new ArgumentException("--test-data and --synthetic exclude each other: the synthetic set brings its own test images");
        if (!BadImagePolicies.Contains(BadImages))
            throw new ArgumentException($"--bad-images must be one of {string.Join(", ", BadImagePolicies)}, got '{BadImages}'");
        Engine.ComputeDevice.ParseSpec(Device);
        ByolIlgpu.Data.DataPlacements.Parse(DataPlacement);
        if (Precision is not null && !Engine.Precisions.Names.Contains(Precision))
            throw new ArgumentException($"--precision must be one of {string.Join(", ", Engine.Precisions.Names)} or auto, got '{Precision}'");
        if (string.IsNullOrWhiteSpace(RunDir))
            throw new ArgumentException("--run-dir must name a folder");
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The configuration a checkpoint was trained with (its metadata); <paramref name="path"/> names it in errors.</summary>
    public static TrainingConfig FromCheckpoint(Checkpoints.TrainingCheckpoint checkpoint, string path) =>
        FromJson(checkpoint.Config ?? throw new InvalidDataException($"{path}: no training configuration in its metadata"), path);

    public static TrainingConfig FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingConfig>(json, Json) ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a training configuration ({e.Message})");
        }
    }
}
