using System.CommandLine;
using ByolIlgpu.Byol;

namespace ByolIlgpu.Cli;

/// <summary>The model-size options shared by `byol info`, `byol train` and `byol bench`.</summary>
public sealed class ArchitectureOptions
{
    public Option<int> Width { get; } = new("--width") { Description = "Backbone base width (ResNet-18 channels w, 2w, 4w, 8w; features 8w).", DefaultValueFactory = _ => 64 };
    public Option<int> ProjectorHidden { get; } = new("--proj-hidden") { Description = "Projector hidden size.", DefaultValueFactory = _ => 4096 };
    public Option<int> ProjectorOut { get; } = new("--proj-out") { Description = "Projector (and predictor) output size.", DefaultValueFactory = _ => 256 };
    public Option<int> PredictorHidden { get; } = new("--pred-hidden") { Description = "Predictor hidden size.", DefaultValueFactory = _ => 4096 };
    public Option<string?> Stem { get; } = CreateStem();

    static Option<string?> CreateStem()
    {
        var stem = new Option<string?>("--stem")
        {
            Description = "Backbone stem: cifar (3×3 stride-1 conv1, no max-pool) or imagenet (torchvision's 7×7 stride-2 conv1 and 3×3 stride-2 max-pool). " +
                $"Default: cifar below {Training.TrainingConfig.ImageNetStemFromSize} px, imagenet from {Training.TrainingConfig.ImageNetStemFromSize} px.",
        };
        stem.AcceptOnlyFromAmong(Layers.ResNet18.Stems);
        return stem;
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Width);
        command.Options.Add(ProjectorHidden);
        command.Options.Add(ProjectorOut);
        command.Options.Add(PredictorHidden);
        command.Options.Add(Stem);
    }

    /// <summary>True when --stem was not given (the stem is then chosen by the image size).</summary>
    public bool StemIsAuto(ParseResult parse) => parse.GetValue(Stem) is null;

    /// <summary>The stem for images of <paramref name="imageSize"/> px: --stem, else cifar below 64 px and imagenet from 64 px.</summary>
    public ByolArchitecture Read(ParseResult parse, int imageSize)
    {
        var architecture = Read(parse);
        return StemIsAuto(parse)
            ? new Training.TrainingConfig { Architecture = architecture, AutoStem = true, ImageSize = imageSize }.ResolveFor(imageSize, imageSize).Architecture
            : architecture;
    }

    public ByolArchitecture Read(ParseResult parse)
    {
        var architecture = new ByolArchitecture(parse.GetValue(Width), parse.GetValue(ProjectorHidden), parse.GetValue(ProjectorOut), parse.GetValue(PredictorHidden))
        {
            Stem = parse.GetValue(Stem) ?? Layers.ResNet18.CifarStem,   // when not given, the command resolves it by the image size
        };
        try
        {
            architecture.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        return architecture;
    }
}
