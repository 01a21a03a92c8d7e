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

    public static IEnumerable<string> Shapes => BenchDevice.IsCpuAccelerator
        ? ["4-8-8-3-s1", "8-16-8-3-s2"]
        : Layers(64).Concat(Layers(16)).Distinct();

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
        // Check the fast version against the naive one once, on the forward (the passes share their indexing scheme).
        Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, g, 2);
        var fast = y.ToHost();
        if (NaiveAffordable)
        {
            Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, g, 1);
            Verify.Close(fast, y.ToHost(), $"conv2d forward v2 {Layer}");
        }
    }

    void Run(Action launch)
    {
        launch();
        dev.Synchronize();
    }

    void Naive(Action launch)
    {
        if (!NaiveAffordable)
            throw new NotSupportedException("version 1 is not timed at this size on a CPU (minutes per call)");
        Run(launch);
    }

    [Benchmark] public void ForwardV1() => Naive(() => Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, G, 1));
    [Benchmark] public void ForwardV2() => Run(() => Ops.Conv2d.LaunchForward(dev, x.Data, w.Data, y.Data, G, 2));
    [Benchmark] public void BackwardInputV1() => Naive(() => Ops.Conv2d.LaunchBackwardInput(dev, dy.Data, w.Data, dx.Data, G, 1));
    [Benchmark] public void BackwardInputV2() => Run(() => Ops.Conv2d.LaunchBackwardInput(dev, dy.Data, w.Data, dx.Data, G, 2));
    [Benchmark] public void BackwardWeightV1() => Naive(() => Ops.Conv2d.LaunchBackwardWeight(dev, x.Data, dy.Data, dw.Data, G, 1));
    [Benchmark] public void BackwardWeightV2() => Run(() => Ops.Conv2d.LaunchBackwardWeight(dev, x.Data, dy.Data, dw.Data, G, 2));

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

    [Benchmark] public void TorchForward() => (torchForward ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dForward(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad))).Run();
    [Benchmark] public void TorchBackwardInput() => (torchInput ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dBackwardInput(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad))).Run();
    [Benchmark] public void TorchBackwardWeight() => (torchWeight ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.Conv2dBackwardWeight(G.N, G.C, G.H, G.W, G.K, G.R, G.Stride, G.Pad))).Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        torchForward?.Dispose();
        torchInput?.Dispose();
        torchWeight?.Dispose();
    }
#endif
}
