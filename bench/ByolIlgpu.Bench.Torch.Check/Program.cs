// Checks the libtorch peer and prints its timings. TorchSharp needs GCC 13's libstdc++: on Debian 12 run
//   /work/shared/opencl/with-pocl dotnet bench/ByolIlgpu.Bench.Torch.Check/bin/Release/net10.0/ByolIlgpu.Bench.Torch.Check.dll [--no-timings]
using ByolIlgpu.Bench.Torch;

return TorchPeer.SelfCheck(Console.Out, timings: !args.Contains("--no-timings")) ? 0 : 1;
