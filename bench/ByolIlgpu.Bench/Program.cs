using BenchmarkDotNet.Running;

namespace ByolIlgpu.Bench;

/// <summary>
/// BenchmarkDotNet suites of ByolIlgpu's kernels and of the whole BYOL step. The device comes from
/// BYOL_BENCH_DEVICE (auto, cpu, opencl, cuda); run under ../shared/opencl/with-pocl for PoCL.
/// Examples: `dotnet ByolIlgpu.Bench.dll --filter '*Matmul*'`, `--list flat`;
/// `conv --quick` prints a Stopwatch table of every Conv2d pass and version (fast iteration).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "conv" && args.Contains("--quick"))
        {
            Conv2dQuick.Run(args[1..]);
            return;
        }
        Console.WriteLine($"device: {BenchDevice.Current}; peak {BenchDevice.Peak.How}");
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
