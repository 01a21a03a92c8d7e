using BenchmarkDotNet.Running;
using ByolIlgpu.Bench;

// conv --quick [options]: Stopwatch table (Conv2dQuick); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "conv" && args.Contains("--quick"))
    Conv2dQuick.Run(args[1..]);
else if (args.Length > 0 && args[0] == "conv")
    BenchmarkRunner.Run<Conv2dBenchmarks>(Conv2dBenchmarks.Config(), args[1..]);
else
    BenchmarkSwitcher.FromAssembly(typeof(Conv2dBenchmarks).Assembly).Run(args, Conv2dBenchmarks.Config());
