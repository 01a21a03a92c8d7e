using System.CommandLine;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>`byol augment`: a PNG of original images and both BYOL views, made by the training kernels.</summary>
public static class AugmentCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var output = new Option<string>("--out") { Description = "PNG file to write.", Required = true };
        var count = new Option<int>("--count") { Description = "Images (columns).", DefaultValueFactory = _ => 8 };
        var seed = new Option<int>("--seed") { Description = "Augmentation seed.", DefaultValueFactory = _ => 0 };
        var epoch = new Option<int>("--epoch") { Description = "Epoch whose draws to show (each epoch draws anew).", DefaultValueFactory = _ => 0 };
        var blur = new Option<bool>("--blur") { Description = "Include BYOL's Gaussian blur (off by default at 32×32)." };
        var imageSize = new Option<int>("--image-size") { Description = "Side of the views in px (default: the data set's resolution).", DefaultValueFactory = _ => 0 };
        var command = new Command("augment", "Write a grid of original images (top row) and their two augmented BYOL views (rows 2 and 3) as a PNG.");
        data.AddTo(command);
        foreach (var option in new Option[] { output, count, seed, epoch, blur, imageSize })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n < 1 || n > 64) throw new UsageException($"--count must lie in 1–64, got {n}");
            int size = parse.GetValue(imageSize);
            if (size != 0 && size < TrainingConfig.MinImageSize) throw new UsageException($"--image-size must be 0 (the data set's resolution) or at least {TrainingConfig.MinImageSize} px, got {size}");
            var path = parse.GetValue(output)!;
            if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new UsageException($"--out must name a .png file, got '{path}'");
            var writer = parse.InvocationConfiguration.Output;
            var train = data.LoadSplits(parse, null, new PlainProgress(writer)).Pretrain;
            using var device = ComputeDevice.Create(parse.GetValue(data.Device)!);
            AugmentationPreview.Save(device, train.Take(n).InMemory(), n, parse.GetValue(seed), parse.GetValue(epoch), path, parse.GetValue(blur), size: size);
            writer.WriteLine($"wrote {path}: {Math.Min(n, train.Count)} images from {train.Source}; rows: original, view 1, view 2");
            return CommandLine.Ok;
        });
        return command;
    }
}
