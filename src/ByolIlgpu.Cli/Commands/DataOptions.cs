using System.CommandLine;
using ByolIlgpu.Data;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>--data / --synthetic / --device, shared by the evaluation and preview commands.</summary>
public sealed class DataOptions
{
    public Option<string?> Data { get; } = new("--data") { Description = "CIFAR-10 binary folder (cifar-10-batches-bin or its parent). Default: the data the checkpoint was trained on, or the downloaded copy." };
    public Option<int> Synthetic { get; } = new("--synthetic") { Description = "Use N generated images instead of CIFAR-10.", DefaultValueFactory = _ => 0 };
    public Option<string> Device { get; } = new("--device") { Description = "Device: auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Synthetic);
        command.Options.Add(Device);
    }

    /// <summary>The data named on the command line, else the training run's.</summary>
    public (ImageDataset Train, ImageDataset Test) Load(ParseResult parse, TrainingConfig? trained, ProgressReporter progress)
    {
        var data = parse.GetValue(Data);
        int synthetic = parse.GetValue(Synthetic);
        if (synthetic < 0) throw new UsageException($"--synthetic must be zero or positive, got {synthetic}");
        if (data is not null && synthetic > 0) throw new UsageException("--data and --synthetic exclude each other: give one");
        var config = data is not null || synthetic > 0
            ? new TrainingConfig { Data = data, Synthetic = synthetic, Seed = trained?.Seed ?? 0 }
            : trained is not null ? trained with { TrainLimit = 0, TestLimit = 0 } : new TrainingConfig();
        return TrainingRun.LoadData(config, progress);
    }
}
