using System.CommandLine;
using ByolIlgpu.Engine;
using ByolIlgpu.Eval;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>`byol eval knn` and `byol eval linear`: measure a checkpoint's frozen backbone.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var eval = new Command("eval", "Evaluate a checkpoint's student backbone (frozen, evaluation mode): weighted kNN or linear classification.");
        eval.Subcommands.Add(Knn());
        eval.Subcommands.Add(Linear());
        return eval;
    }

    static Option<string> CheckpointOption() => new("--checkpoint")
    {
        Description = "A checkpoint file, or a run folder (its latest checkpoint is used).",
        Required = true,
    };

    static ProgressReporter Progress(ParseResult parse)
    {
        var output = parse.InvocationConfiguration.Output;
        return ProgressReporter.For(output, interactive: ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);
    }

    static Command Knn()
    {
        var checkpoint = CheckpointOption();
        var data = new DataOptions();
        var precision = PrecisionOption.Create();
        var k = new Option<int>("--k") { Description = "Neighbours (clamped to the bank size); k = 1 is always reported too.", DefaultValueFactory = _ => 200 };
        var command = new Command("knn", "Weighted kNN (cosine similarity, weights exp(sim/0.1)): training set as the bank, test set as the queries.");
        command.Options.Add(checkpoint);
        data.AddTo(command);
        command.Options.Add(k);
        command.Options.Add(precision);
        command.SetAction(parse =>
        {
            if (parse.GetValue(k) < 1) throw new UsageException($"--k must be at least 1, got {parse.GetValue(k)}");
            var output = parse.InvocationConfiguration.Output;
            using var device = ComputeDevice.Create(parse.GetValue(data.Device)!);
            PrecisionOption.Apply(device, PrecisionOption.Read(parse, precision));
            var (model, config) = Evaluation.LoadStudent(device, parse.GetValue(checkpoint)!);
            using (model)
            {
                var (train, test) = data.LoadLabelled(parse, config, Progress(parse), "kNN evaluation");
                output.WriteLine(Evaluation.Placement(device, model, train, test).Describe());
                // At the checkpoint's image size (0, written before the size was recorded: the data's) and stem (its architecture).
                var r = Evaluation.Knn(device, model, train, test, parse.GetValue(k), config.ImageSize);
                output.WriteLine($"knn top1 {r.Top1:F4}  top5 {r.Top5:F4}  (k={r.K}, {train.Count} bank, {test.Count} queries)  k=1 top1 {r.Top1K1:F4}");
            }
            return CommandLine.Ok;
        });
        return command;
    }

    static Command Linear()
    {
        var checkpoint = CheckpointOption();
        var data = new DataOptions();
        var epochs = new Option<int>("--epochs") { Description = "Training epochs of the classifier (cosine learning rate to 0).", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch-size") { Description = "Batch size.", DefaultValueFactory = _ => 256 };
        var lr = new Option<double>("--lr") { Description = "Learning rate per 256 images (scaled linearly), SGD momentum 0.9, no weight decay.", DefaultValueFactory = _ => 0.1 };
        var augment = new Option<bool>("--augment") { Description = "Train on the backbone's features of randomly cropped and flipped images each epoch (slower) instead of cached features of the plain images." };
        var seed = new Option<int>("--seed") { Description = "Seed of the classifier's initialisation, order and augmentation.", DefaultValueFactory = _ => 0 };
        var precision = PrecisionOption.Create();
        var command = new Command("linear", "Linear evaluation: a linear classifier on the frozen backbone's features; reports test top-1 and top-5.");
        command.Options.Add(checkpoint);
        data.AddTo(command);
        foreach (var option in new Option[] { epochs, batch, lr, augment, seed, precision })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var probe = new LinearProbeConfig(parse.GetValue(epochs), parse.GetValue(batch), parse.GetValue(lr), Seed: parse.GetValue(seed));
            if (probe.Epochs < 1) throw new UsageException($"--epochs must be at least 1, got {probe.Epochs}");
            if (probe.BatchSize < 1) throw new UsageException($"--batch-size must be at least 1, got {probe.BatchSize}");
            if (!(probe.BaseLr > 0)) throw new UsageException($"--lr must be positive, got {probe.BaseLr}");
            var output = parse.InvocationConfiguration.Output;
            var progress = Progress(parse);
            using var device = ComputeDevice.Create(parse.GetValue(data.Device)!);
            PrecisionOption.Apply(device, PrecisionOption.Read(parse, precision));
            var (model, config) = Evaluation.LoadStudent(device, parse.GetValue(checkpoint)!);
            using (model)
            {
                var (train, test) = data.LoadLabelled(parse, config, progress, "linear evaluation");
                bool aug = parse.GetValue(augment);
                progress.Line(aug
                    ? "linear evaluation on random crops and flips through the frozen backbone each epoch"
                    : "linear evaluation on cached features of un-augmented images (fast; --augment for the crop + flip protocol)");
                output.WriteLine(Evaluation.Placement(device, model, train, test).Describe());
                var r = Evaluation.Linear(device, model, train, test, probe, aug, progress, config.ImageSize);
                output.WriteLine($"linear top1 {r.Top1:F4}  top5 {r.Top5:F4}  ({r.Epochs} epochs, {train.Count} train, {test.Count} test)");
            }
            return CommandLine.Ok;
        });
        return command;
    }
}
