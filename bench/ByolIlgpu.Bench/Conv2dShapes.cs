using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Bench;

/// <summary>One distinct convolution of ResNet-18 (CIFAR stem), with how often the network uses it.</summary>
public sealed record ConvLayer(string Name, int C, int HW, int K, int R, int Stride, int Pad, int Count)
{
    public Conv2dShape Shape(int batch) => new(batch, C, HW, HW, K, R, R, Stride, Pad);

    public override string ToString() => Name;

    /// <summary>
    /// The distinct conv shapes of ResNet-18 for 32×32 inputs (3×3 stem, no max-pool) at a base
    /// width of 64 channels, scaled to <paramref name="width"/> (the stem keeps its 3 input channels).
    /// </summary>
    public static IReadOnlyList<ConvLayer> ResNet18(int width = 64)
    {
        int w1 = width, w2 = 2 * width, w3 = 4 * width, w4 = 8 * width;
        return
        [
            new($"conv1 3→{w1} 32²", 3, 32, w1, 3, 1, 1, 1),
            new($"{w1}→{w1} 32²", w1, 32, w1, 3, 1, 1, 4),
            new($"{w1}→{w2} s2 32²", w1, 32, w2, 3, 2, 1, 1),
            new($"{w2}→{w2} 16²", w2, 16, w2, 3, 1, 1, 3),
            new($"{w2}→{w3} s2 16²", w2, 16, w3, 3, 2, 1, 1),
            new($"{w3}→{w3} 8²", w3, 8, w3, 3, 1, 1, 3),
            new($"{w3}→{w4} s2 8²", w3, 8, w4, 3, 2, 1, 1),
            new($"{w4}→{w4} 4²", w4, 4, w4, 3, 1, 1, 3),
            new($"1×1 {w1}→{w2} s2 32²", w1, 32, w2, 1, 2, 0, 1),
            new($"1×1 {w2}→{w3} s2 16²", w2, 16, w3, 1, 2, 0, 1),
            new($"1×1 {w3}→{w4} s2 8²", w3, 8, w4, 1, 2, 0, 1),
        ];
    }
}

/// <summary>
/// Device buffers for one conv shape (random x, w, dY; outputs y, dX, dW) and one launch of a pass.
/// Buffers are allocated on the accelerator directly, outside the pool, so the pool can be
/// released before every launch (the prepared operands it rents are then reused, not reallocated).
/// </summary>
public sealed class ConvProblem : IDisposable
{
    readonly ComputeDevice dev;
    readonly MemoryBuffer1D<float, Stride1D.Dense> x, w, dy, y, dx, dw;

    public ConvProblem(ComputeDevice dev, Conv2dShape g, int seed = 1)
    {
        this.dev = dev;
        Shape = g;
        var rng = new Random(seed);
        MemoryBuffer1D<float, Stride1D.Dense> Random(long n)
        {
            var host = new float[n];
            for (long i = 0; i < n; i++)
                host[i] = (float)(rng.NextDouble() * 2 - 1);
            var b = dev.Accelerator.Allocate1D<float>(n);
            b.CopyFromCPU(host);
            return b;
        }
        x = Random(g.InputLength);
        w = Random(g.WeightLength);
        dy = Random(g.OutputLength);
        y = dev.Accelerator.Allocate1D<float>(g.OutputLength);
        dx = dev.Accelerator.Allocate1D<float>(g.InputLength);
        dw = dev.Accelerator.Allocate1D<float>(g.WeightLength);
        y.MemSetToZero();
        dx.MemSetToZero();
        dw.MemSetToZero();
        dev.Synchronize();
    }

    public Conv2dShape Shape { get; }

    /// <summary>2·(multiply-adds) of one pass.</summary>
    public double Flops => 2.0 * Shape.MultiplyAdds;

    /// <summary>Launches one pass (without synchronising). Backward passes accumulate into dX / dW.</summary>
    public void Run(Conv2dPass pass, int version)
    {
        dev.Pool.ReleaseAll();
        switch (pass)
        {
            case Conv2dPass.Forward: Conv2d.LaunchForward(dev, x.View, w.View, y.View, Shape, version); break;
            case Conv2dPass.BackwardInput: Conv2d.LaunchBackwardInput(dev, dy.View, w.View, dx.View, Shape, version); break;
            default: Conv2d.LaunchBackwardWeight(dev, x.View, dy.View, dw.View, Shape, version); break;
        }
    }

    /// <summary>
    /// The pass's result from a fresh start (zeroed output) on the host, to compare versions:
    /// y, dX or dW.
    /// </summary>
    public float[] Result(Conv2dPass pass, int version)
    {
        var target = pass switch { Conv2dPass.Forward => y, Conv2dPass.BackwardInput => dx, _ => dw };
        target.MemSetToZero();
        Run(pass, version);
        dev.Synchronize();
        return target.GetAsArray1D();
    }

    /// <summary>Largest |a − b| / (1 + |b|) between a version's result and version 1's.</summary>
    public static double MaxRelativeDifference(float[] got, float[] oracle)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
            worst = Math.Max(worst, Math.Abs(got[i] - oracle[i]) / (1 + Math.Abs(oracle[i])));
        return worst;
    }

    public void Dispose()
    {
        x.Dispose(); w.Dispose(); dy.Dispose(); y.Dispose(); dx.Dispose(); dw.Dispose();
    }
}
