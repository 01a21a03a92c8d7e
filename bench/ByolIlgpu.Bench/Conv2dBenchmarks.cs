using BenchmarkDotNet.Attributes;
using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;

namespace ByolIlgpu.Bench;

/// <summary>
/// Conv2d forward, backward-input and backward-weight at every distinct ResNet-18 (CIFAR) layer shape,
/// for every version; version 1 (naive) is the baseline where it is affordable.
/// </summary>
[Config(typeof(BenchConfig))]
public class Conv2dBenchmarks : IWork
{
    /// <summary>"C-K-HxW-RxR-sStride" at the suite's batch; width 16 shapes are the same network at a quarter of the channels.</summary>
    public static IEnumerable<string> Layers(int width) =>
    [
        $"3-{width}-32-3-s1",
        $"{width}-{width}-32-3-s1",
        $"{width}-{2 * width}-32-3-s2",
        $"{width}-{2 * width}-32-1-s2",
        $"{2 * width}-{2 * width}-16-3-s1",
        $"{2 * width}-{4 * width}-16-3-s2",
        $"{2 * width}-{4 * width}-16-1-s2",
        $"{4 * width}-{4 * width}-8-3-s1",
        $"{4 * width}-{8 * width}-8-3-s2",
        $"{4 * width}-{8 * width}-8-1-s2",
        $"{8 * width}-{8 * width}-4-3-s1",
    ];

    /// <summary>Every layer, or those listed in BYOL_BENCH_LAYERS (e.g. "64-64-32-3-s1,16-16-32-3-s1").</summary>
    public static IEnumerable<string> Shapes => Environment.GetEnvironmentVariable("BYOL_BENCH_LAYERS")?.Split(',', StringSplitOptions.RemoveEmptyEntries)
        ?? (BenchDevice.IsCpuAccelerator ? ["4-8-8-3-s1", "8-16-8-3-s2"] : Layers(64).Concat(Layers(16)).Distinct());

    [ParamsSource(nameof(Shapes))]
    public string Layer { get; set; } = "4-8-8-3-s1";

    public static IEnumerable<int> Batches => BenchDevice.IsCpuAccelerator ? [2] : [32];

    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; } = 2;

    Conv2dShape G
    {
        get
        {
            var p = Layer.Split('-');
            int c = int.Parse(p[0]), k = int.Parse(p[1]), size = int.Parse(p[2]), r = int.Parse(p[3]), stride = int.Parse(p[4][1..]);
            return new Conv2dShape(Batch, c, size, size, k, r, r, stride, r / 2);
        }
    }

    public double Flops => 2.0 * G.MultiplyAdds;
    public double Bytes => 0;

    ComputeDevice dev = null!;
    Tensor x = null!, w = null!, y = null!, dy = null!, dx = null!, dw = null!;

    /// <summary>Version 1 at full width is minutes per call on a CPU: benchmark it at the small shapes only.</summary>
    bool NaiveAffordable => G.MultiplyAdds < 2e8 || !dev.IsCpuLikeOpenCl;

    /// <summary>
    /// 0 is the engine's choice for the pass and shape (what training runs); 1 the naive oracle;
    /// 2 and 3 the register-blocked versions (wide and narrow); 4 the GPU tiles (groups of 256);
    /// 5 the TF32 tensor cores (CUDA sm_80+; emulated elsewhere, so only CUDA's figure is a speed).
    /// </summary>
    public static IEnumerable<int> VersionValues => Environment.GetEnvironmentVariable("BYOL_BENCH_VERSIONS")?.Split(',').Select(int.Parse)
        ?? [0, 1, .. BenchDevice.Current.Policy.Conv2dCandidates];

    [ParamsSource(nameof(VersionValues))]
    public int Version { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        dev = BenchDevice.Current;
        dev.Pool.ReleaseAll();
        var g = G;
        var rng = new Random(1);
        float[] R(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        x = Tensor.FromHost(dev, "x", R(g.InputLength), g.N, g.C, g.H, g.W);
        w = Tensor.FromHost(dev, "w", R(g.WeightLength), g.K, g.C, g.R, g.S);
        dy = Tensor.FromHost(dev, "dy", R(g.OutputLength), g.N, g.K, g.P, g.Q);
        y = Tensor.Temp(dev, "y", g.N, g.K, g.P, g.Q);
        dx = Tensor.Zeros(dev, "dx", g.N, g.C, g.H, g.W);
        dw = Tensor.Zeros(dev, "dw", g.K, g.C, g.R, g.S);
        if (Version == 1 && !NaiveAffordable)
            return;
        // Check this version's forward against the naive one once (where the naive one is affordable).
        Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, g, Version);
        var got = y.ToHost();
        if (NaiveAffordable && Version != 1)
        {
            Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, g, 1);
            // TF32 versions round operands to 10 mantissa bits: an error of ~2⁻¹⁰·Σ|x·w| (|x|, |w| ≤ 1).
            if (Ops.Conv2d.Tf32Versions.Contains(Version))
                Verify.Close(got, y.ToHost(), $"conv2d forward v{Version} (TF32) {Layer}", atol: 1e-3 * g.C * g.R * g.S, rtol: 2e-3);
            else
                Verify.Close(got, y.ToHost(), $"conv2d forward v{Version} {Layer}");
        }
    }

    void Run(Action launch)
    {
        if (Version == 1 && !NaiveAffordable)
            throw new NotSupportedException("version 1 is not timed at this size on a CPU (minutes per call)");
        launch();
        dev.Synchronize();
    }

    [Benchmark] public void Forward() => Run(() => Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, G, Version));
    [Benchmark] public void BackwardInput() => Run(() => Ops.Conv2d.LaunchBackwardInput(dev, dy.Data, w.Data, dx.Data, G, Version));
    [Benchmark] public void BackwardWeight() => Run(() => Ops.Conv2d.LaunchBackwardWeight(dev, x.Data, dy.Data, dw.Data, G, Version));

    [IterationCleanup]
    public void Release()
    {
        // Version 2 rents its transposed operands from the pool each call: return them.
        var keep = (x.ToHost(), w.ToHost(), dy.ToHost());
        dev.Pool.ReleaseAll();
        var g = G;
        x = Tensor.FromHost(dev, "x", keep.Item1, g.N, g.C, g.H, g.W);
        w = Tensor.FromHost(dev, "w", keep.Item2, g.K, g.C, g.R, g.S);
        dy = Tensor.FromHost(dev, "dy", keep.Item3, g.N, g.K, g.P, g.Q);
        y = Tensor.Temp(dev, "y", g.N, g.K, g.P, g.Q);
        dx = Tensor.Zeros(dev, "dx", g.N, g.C, g.H, g.W);
        dw = Tensor.Zeros(dev, "dw", g.K, g.C, g.R, g.S);
    }

#if WITH_TORCH
    ByolIlgpu.Bench.Torch.TorchOp? torchForward, torchInput, torchWeight;

    [Benchmark] public void TorchForward() => Peer(ref torchForward, () => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dForward(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad));
    [Benchmark] public void TorchBackwardInput() => Peer(ref torchInput, () => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dBackwardInput(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad));
    [Benchmark] public void TorchBackwardWeight() => Peer(ref torchWeight, () => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dBackwardWeight(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad));

    /// <summary>libtorch is timed once per layer, in the version-0 row; its other rows are NA.</summary>
    void Peer(ref ByolIlgpu.Bench.Torch.TorchOp? op, Func<ByolIlgpu.Bench.Torch.TorchOp> create)
    {
        if (Version != 0)
            throw new NotSupportedException("the peer is timed in the version-0 row");
        (op ??= TorchPeerSetup.Op(create)).Run();
    }


    [GlobalCleanup]
    public void Cleanup()
    {
        torchForward?.Dispose();
        torchInput?.Dispose();
        torchWeight?.Dispose();
    }
#endif
}
