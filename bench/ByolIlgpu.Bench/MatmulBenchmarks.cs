using BenchmarkDotNet.Attributes;
using ByolIlgpu.Engine;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Bench;

/// <summary>C = A·B (M, N, K) for every matmul version; BYOL's head shapes and square sizes.</summary>
[Config(typeof(BenchConfig))]
public class MatmulBenchmarks : IWork
{
    public static IEnumerable<string> Shapes => BenchDevice.IsCpuAccelerator
        ? ["64x64x64", "128x256x128"]
        : ["512x512x512", "1024x1024x1024", "256x4096x512", "256x256x4096"];

    /// <summary>"MxNxK".</summary>
    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "64x64x64";

    int M => int.Parse(Shape.Split('x')[0]);
    int N => int.Parse(Shape.Split('x')[1]);
    int K => int.Parse(Shape.Split('x')[2]);

    public double Flops => 2.0 * M * N * K;
    public double Bytes => 0;

    ComputeDevice dev = null!;
    Tensor a = null!, b = null!, c = null!;

    [GlobalSetup]
    public void Setup()
    {
        dev = BenchDevice.Current;
        dev.Pool.ReleaseAll();
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        a = Tensor.FromHost(dev, "a", R(M * K), M, K);
        b = Tensor.FromHost(dev, "b", R(K * N), K, N);
        c = Tensor.Temp(dev, "c", M, N);
        // Compile every version and check it once against version 1, the oracle.
        var oracle = Run(1);
        foreach (var v in Versions)
            Verify.Close(Run(v), oracle, $"matmul v{v} {Shape}");
        // Version 4 (TF32 tensor cores) rounds operands to 10 mantissa bits: ~2⁻¹⁰·Σ|a·b| off.
        if (TensorCores)
            Verify.Close(Run(4), oracle, $"matmul v4 (TF32) {Shape}", atol: 1e-3 * K, rtol: 2e-3);
    }

    int[] Versions => dev.Accelerator.MaxNumThreadsPerGroup >= 256 ? [1, 2, 3, 5] : [1, 2];

    /// <summary>Version 4 runs on CUDA GPUs of compute capability 8.0+ (and, emulated, wherever a group holds 128 threads: not a speed).</summary>
    bool TensorCores => dev.Kind == DeviceKind.Cuda ? dev.Info.Cuda is { Major: >= 8 } : dev.Accelerator.MaxNumThreadsPerGroup >= 128;

    float[] Run(int version)
    {
        Matmul.Gemm(dev, a.Data, b.Data, c.Data, M, N, K, false, false, 1f, 0f, version);
        return c.ToHost();
    }

    void Launch(int version)
    {
        Matmul.Gemm(dev, a.Data, b.Data, c.Data, M, N, K, false, false, 1f, 0f, version);
        dev.Synchronize();
    }

    [Benchmark(Baseline = true)] public void ForwardV1() => Launch(1);
    [Benchmark] public void ForwardV2() => Launch(2);
    /// <summary>Shared-memory tiles of 256 threads: NA on the CPU accelerator (16 threads per group at most).</summary>
    [Benchmark]
    public void ForwardV3()
    {
        if (!Versions.Contains(3))
            throw new NotSupportedException("matmul version 3 needs groups of 256 threads");
        Launch(3);
    }

    /// <summary>TF32 tensor cores (mma.sync m16n8k8), groups of 128 threads; on a non-CUDA device the emulation (correct, not fast).</summary>
    [Benchmark]
    public void ForwardV4()
    {
        if (!TensorCores)
            throw new NotSupportedException("matmul version 4 needs a CUDA GPU of compute capability 8.0 (or groups of 128 threads for its emulation)");
        Launch(4);
    }

    /// <summary>FP32 CUDA-core tiles, 8×8 per thread (256 threads): NA on the CPU accelerator.</summary>
    [Benchmark]
    public void ForwardV5()
    {
        if (!Versions.Contains(5))
            throw new NotSupportedException("matmul version 5 needs groups of 256 threads");
        Launch(5);
    }

#if WITH_TORCH
    ByolIlgpu.Bench.Torch.TorchOp? torch;

    /// <summary>The same product in libtorch (TorchSharp-cpu), measured in this run.</summary>
    [Benchmark]
    public void TorchForward() => (torch ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.Matmul(M, N, K))).Run();

    [GlobalCleanup]
    public void Cleanup() => torch?.Dispose();
#endif
}
