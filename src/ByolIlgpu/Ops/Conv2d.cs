using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Launchers for <see cref="Conv2dKernels"/> and the differentiable Conv2d (no bias).
/// Version 0 picks the fastest version for the accelerator; tests and benchmarks force one.
/// </summary>
public static class Conv2d
{
    public static int DefaultVersion(ComputeDevice dev) => 1;

    public static Conv2dShape ShapeOf(Tensor x, Tensor w, int stride, int pad)
    {
        if (x.Rank != 4 || w.Rank != 4)
            throw new ArgumentException($"conv2d: expected input (N, C, H, W) and weights (K, C, R, S), got {x} and {w}");
        if (w.Dim(1) != x.Dim(1))
            throw new ArgumentException($"conv2d: input {x} has {x.Dim(1)} channels but weights {w} expect {w.Dim(1)}");
        if (stride < 1 || pad < 0)
            throw new ArgumentException($"conv2d: stride must be ≥ 1 and padding ≥ 0, got stride {stride}, padding {pad}");
        var g = new Conv2dShape(x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3), w.Dim(0), w.Dim(2), w.Dim(3), stride, pad);
        if (g.P < 1 || g.Q < 1)
            throw new ArgumentException($"conv2d: a {g.R}×{g.S} filter with padding {pad} does not fit input {x}");
        return g;
    }

    public static Tensor Forward(Tape tape, Tensor x, Tensor w, int stride, int pad, int version = 0)
    {
        var g = ShapeOf(x, w, stride, pad);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "conv2d", g.N, g.K, g.P, g.Q);
        LaunchForward(dev, x.Data, w.Data, y.Data, g, version);
        if (tape.ShouldRecord(x, w))
            tape.Record(y, () =>
            {
                var dy = y.GradOrZeros().Data;
                if (x.RequiresGrad) LaunchBackwardInput(dev, dy, w.Data, x.GradOrZeros().Data, g, version);
                if (w.RequiresGrad) LaunchBackwardWeight(dev, x.Data, dy, w.GradOrZeros().Data, g, version);
            });
        return y;
    }

    public static void LaunchForward(ComputeDevice dev, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, Conv2dShape g, int version = 0)
    {
        switch (dev.ResolveVersion("conv2d", version, () => DefaultVersion(dev)))
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dForwardKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dForwardKernel1));
                k(dev.GridStrideConfig(g.OutputLength), x, w, y, g);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, "unknown conv2d forward version");
        }
    }

    public static void LaunchBackwardInput(ComputeDevice dev, ArrayView<float> dY, ArrayView<float> w, ArrayView<float> dX, Conv2dShape g, int version = 0)
    {
        switch (dev.ResolveVersion("conv2d", version, () => DefaultVersion(dev)))
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dBackwardInputKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dBackwardInputKernel1));
                k(dev.GridStrideConfig(g.InputLength), dY, w, dX, g);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, "unknown conv2d backward-input version");
        }
    }

    public static void LaunchBackwardWeight(ComputeDevice dev, ArrayView<float> x, ArrayView<float> dY, ArrayView<float> dW, Conv2dShape g, int version = 0)
    {
        switch (dev.ResolveVersion("conv2d", version, () => DefaultVersion(dev)))
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dBackwardWeightKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dBackwardWeightKernel1));
                k(dev.GridStrideConfig(g.WeightLength), x, dY, dW, g);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, "unknown conv2d backward-weight version");
        }
    }
}
