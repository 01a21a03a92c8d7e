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

    public void AddTo(Command command)
    {
        command.Options.Add(Width);
        command.Options.Add(ProjectorHidden);
        command.Options.Add(ProjectorOut);
        command.Options.Add(PredictorHidden);
    }

    public ByolArchitecture Read(ParseResult parse)
    {
        var architecture = new ByolArchitecture(parse.GetValue(Width), parse.GetValue(ProjectorHidden), parse.GetValue(ProjectorOut), parse.GetValue(PredictorHidden));
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
