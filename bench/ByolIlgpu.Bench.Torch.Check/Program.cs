// Checks the libtorch peer and prints its timings. TorchSharp needs GCC 13's libstdc++: on Debian 12 run
//   /work/shared/opencl/with-pocl dotnet bench/ByolIlgpu.Bench.Torch.Check/bin/Release/net10.0/ByolIlgpu.Bench.Torch.Check.dll [--no-timings] [--threads N]
using ByolIlgpu.Bench.Torch;

int at = Array.IndexOf(args, "--threads");
if (at >= 0)
{
    if (at + 1 >= args.Length || !int.TryParse(args[at + 1], out int threads) || threads < 1)
    {
        Console.Error.WriteLine("--threads needs a positive whole number");
        return 2;
    }
    TorchPeer.Initialize(threads);
}
return TorchPeer.SelfCheck(Console.Out, timings: !args.Contains("--no-timings")) ? 0 : 1;
