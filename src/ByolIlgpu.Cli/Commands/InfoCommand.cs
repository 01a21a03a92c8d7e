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
        var imageSize = new Option<int>("--image-size") { Description = "Side of the square input images in px.", DefaultValueFactory = _ => 32 };
        var command = new Command("info", "Print the model's parameter counts per part (backbone, projector, predictor) and its FLOPs per image at the chosen size and stem.");
        arch.AddTo(command);
        command.Options.Add(imageSize);
        command.SetAction(parse =>
        {
            int size = parse.GetValue(imageSize);
            if (size < Training.TrainingConfig.MinImageSize)
                throw new UsageException($"--image-size must be at least {Training.TrainingConfig.MinImageSize} px, got {size}");
            var a = arch.Read(parse, size);
            var output = parse.InvocationConfiguration.Output;
            Print(output, a, size);
            return CommandLine.Ok;
        });
        return command;
    }

    public static void Print(TextWriter output, ByolArchitecture a, int imageSize = 32)
    {
        long total = a.BackboneParameters + a.ProjectorParameters + a.PredictorParameters;
        output.WriteLine($"BYOL with ResNet-18 (width {a.Width}, {a.FeatureDim}-d features, {a.Stem} stem) for {imageSize}×{imageSize} images");
        output.WriteLine($"  backbone   {a.BackboneParameters,14:N0} parameters");
        output.WriteLine($"  projector  {a.ProjectorParameters,14:N0} parameters  ({a.FeatureDim} → {a.ProjectorHidden} → {a.ProjectorOut}, with BN)");
        output.WriteLine($"  predictor  {a.PredictorParameters,14:N0} parameters  ({a.ProjectorOut} → {a.PredictorHidden} → {a.ProjectorOut}, with BN)");
        output.WriteLine($"  student    {total,14:N0} parameters (trained)");
        output.WriteLine($"  teacher    {a.BackboneParameters + a.ProjectorParameters,14:N0} parameters (EMA of backbone + projector)");
        long convMacs = ResNet18.ConvMultiplyAdds(a.Width, imageSize, imageSize, a.Stem);
        output.WriteLine($"  backbone forward: {convMacs / 1e9:F3} GMAC per {imageSize}×{imageSize} image");
        output.WriteLine($"  one BYOL step: {ByolFlops.PerImage(a, imageSize, imageSize) / 1e9:F2} GFLOP per image (2 views: student forward + backward, teacher forward)");
    }
}
