using System.CommandLine;
using ByolIlgpu.Byol;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol parity`: one BYOL forward + backward from a fixed seed, with its initial weights, views, loss,
/// outputs and gradients written as safetensors, for bench/gpu/parity_torch.py to redo in PyTorch and compare.
/// </summary>
public static class ParityCommand
{
    public static Command Create()
    {
        var arch = new ArchitectureOptions();
        var outDir = new Option<string>("--out") { Description = "Folder for manifest.json, weights, views, gradients and outputs (.safetensors).", Required = true };
        var device = new Option<string>("--device") { Description = "Device: auto, cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int>("--batch-size") { Description = "Images per view.", DefaultValueFactory = _ => 32 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights and of the two random views.", DefaultValueFactory = _ => 0 };
        var command = new Command("parity", "Run one BYOL forward + backward and write its weights, views, loss and gradients for a PyTorch parity check (bench/gpu/parity_torch.py DIR).");
        arch.AddTo(command);
        command.Options.Add(outDir);
        command.Options.Add(device);
        command.Options.Add(batch);
        command.Options.Add(seed);
        command.SetAction(parse =>
        {
            var a = arch.Read(parse);
            int b = parse.GetValue(batch);
            if (b < 2) throw new UsageException($"--batch-size must be at least 2 (BatchNorm needs two samples), got {b}");
            var output = parse.InvocationConfiguration.Output;
            using var dev = ComputeDevice.Create(parse.GetValue(device)!);
            string dir = parse.GetValue(outDir)!;
            var result = ParityExport.Run(dev, a, b, parse.GetValue(seed), dir);
            output.WriteLine($"device {dev}; ResNet-18 width {a.Width}, heads {a.ProjectorHidden}→{a.ProjectorOut}, batch {b}");
            output.WriteLine($"loss {result.Loss:R}; gradients of {result.Parameters} parameter tensors written to {dir}");
            output.WriteLine($"compare with PyTorch: python3 bench/gpu/parity_torch.py {dir}");
            return CommandLine.Ok;
        });
        return command;
    }
}
