using System.CommandLine;
using ByolIlgpu.Engine;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>`byol bench`: images/s of the BYOL training step on a device, with FLOPs per image and GFLOP/s.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var arch = new ArchitectureOptions();
        var device = new Option<string>("--device") { Description = "Device: auto, cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int>("--batch-size") { Description = "Images per view per step.", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after 2 warm-up steps).", DefaultValueFactory = _ => 5 };
        var command = new Command("bench", "Time the whole BYOL training step (two views, student and teacher, loss, backward, LARS, EMA) and report images/s and GFLOP/s.");
        arch.AddTo(command);
        command.Options.Add(device);
        command.Options.Add(batch);
        command.Options.Add(steps);
        command.SetAction(parse =>
        {
            var a = arch.Read(parse);
            int b = parse.GetValue(batch), n = parse.GetValue(steps);
            if (b < 2) throw new UsageException($"--batch-size must be at least 2, got {b}");
            if (n < 1) throw new UsageException($"--steps must be at least 1, got {n}");
            var output = parse.InvocationConfiguration.Output;
            using var dev = ComputeDevice.Create(parse.GetValue(device)!);
            output.WriteLine($"device {dev}; ResNet-18 width {a.Width}, heads {a.ProjectorHidden}→{a.ProjectorOut}, batch {b}");
            var t = StepBenchmark.Run(dev, a, b, n, onStep: (i, s) => output.WriteLine($"  step {i}: {s / i:F3} s/step"));
            output.WriteLine($"{t.ImagesPerSecond:F1} images/s ({t.SecondsPerStep:F3} s/step), {t.GflopPerImage:F2} GFLOP/image, {t.Gflops:F1} GFLOP/s");
            return CommandLine.Ok;
        });
        return command;
    }
}
