using System.CommandLine;
using ByolIlgpu.Engine;
using ByolIlgpu.SelfTest;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol selftest`: what a user runs first on a new GPU. Every op family's check (src/ByolIlgpu/SelfTest)
/// on the chosen device: one table (op, version, what it is compared with, shape, max error, tolerance,
/// pass), the first mismatches of a failing row, a summary line with the time; exit code 1 on any failure.
/// </summary>
public static class SelfTestCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "Device: auto, cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };
        var only = new Option<string?>("--only")
        {
            Description = "Only the check families whose name contains this text (comma-separated for several): " + string.Join(", ", SelfTests.Families.Select(f => f.Name)) + ".",
        };
        var json = new Option<string?>("--json") { Description = "Also write every row (and the first mismatches) as JSON to this file." };
        var command = new Command("selftest", "Check every kernel on a device: each version against version 1 and the double reference, each backward against finite differences.");
        command.Options.Add(device);
        command.Options.Add(only);
        command.Options.Add(json);
        command.SetAction(parse => Run(parse.GetValue(device)!, parse.GetValue(only), parse.GetValue(json),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>The command's body; <paramref name="outputHook"/> (tests) sees each kernel output before it is compared.</summary>
    public static int Run(string deviceSpec, string? only, string? jsonPath, TextWriter output, TextWriter error,
        Action<string, string, float[]>? outputHook = null)
    {
        try
        {
            SelfTests.Select(only);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        using var dev = ComputeDevice.Create(deviceSpec);
        output.WriteLine($"byol selftest on {dev} ({(dev.Kind == DeviceKind.Cpu ? "tiny shapes" : "ResNet-18 shapes and tiny ones")})");
        var report = SelfTests.Run(dev, only, outputHook, family => error.WriteLine($"selftest: {family}"));
        output.WriteLine();
        output.Write(report.Format());
        output.WriteLine();
        output.WriteLine(report.Summary());
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, report.ToJson());
        return report.Passed ? CommandLine.Ok : CommandLine.Failure;
    }
}
