using System.CommandLine;
using ByolIlgpu.Byol;
using ByolIlgpu.Layers;

namespace ByolIlgpu.Cli;

/// <summary>`byol info`: parameter counts per part and the arithmetic of one image, for the chosen sizes.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var arch = new ArchitectureOptions();
        var command = new Command("info", "Print the model's parameter counts per part (backbone, projector, predictor) and its FLOPs per image.");
        arch.AddTo(command);
        command.SetAction(parse =>
        {
            var a = arch.Read(parse);
            var output = parse.InvocationConfiguration.Output;
            Print(output, a);
            return CommandLine.Ok;
        });
        return command;
    }

    public static void Print(TextWriter output, ByolArchitecture a)
    {
        long total = a.BackboneParameters + a.ProjectorParameters + a.PredictorParameters;
        output.WriteLine($"BYOL with ResNet-18 (width {a.Width}, {a.FeatureDim}-d features) for 32×32 images");
        output.WriteLine($"  backbone   {a.BackboneParameters,14:N0} parameters");
        output.WriteLine($"  projector  {a.ProjectorParameters,14:N0} parameters  ({a.FeatureDim} → {a.ProjectorHidden} → {a.ProjectorOut}, with BN)");
        output.WriteLine($"  predictor  {a.PredictorParameters,14:N0} parameters  ({a.ProjectorOut} → {a.PredictorHidden} → {a.ProjectorOut}, with BN)");
        output.WriteLine($"  student    {total,14:N0} parameters (trained)");
        output.WriteLine($"  teacher    {a.BackboneParameters + a.ProjectorParameters,14:N0} parameters (EMA of backbone + projector)");
        long convMacs = ResNet18.ConvMultiplyAdds(a.Width);
        output.WriteLine($"  backbone forward: {convMacs / 1e9:F3} GMAC per image");
        output.WriteLine($"  one BYOL step: {ByolFlops.PerImage(a) / 1e9:F2} GFLOP per image (2 views: student forward + backward, teacher forward)");
    }
}
