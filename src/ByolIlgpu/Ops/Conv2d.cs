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
    /// <summary>
    /// Version 2 (register-blocked implicit GEMM) on the CPU accelerator and CPU-like OpenCL devices;
    /// GPUs run version 1 until a shared-memory version exists.
    /// </summary>
    public static int DefaultVersion(ComputeDevice dev) => dev.Kind == DeviceKind.Cpu || dev.IsCpuLikeOpenCl ? 2 : 1;

    /// <summary>The versions a device can run (every version runs everywhere so far).</summary>
    public static int[] Versions(ComputeDevice dev) => [1, 2];

    /// <summary>Version 2 uses 2×64 blocks where there are 64 or more columns, else 8×16.</summary>
    static bool Wide(int columns) => columns >= Conv2dKernels.WideCols;

    /// <summary>y[b, c, r] = x[b, r, c] into a pooled buffer: the contiguous B operands of version 2.</summary>
    static ArrayView<float> BatchedTranspose(ComputeDevice dev, ArrayView<float> x, int batches, int rows, int cols)
    {
        var y = dev.Pool.Rent((long)batches * rows * cols);
        var k = dev.Kernel(nameof(ElementwiseKernels.BatchedTransposeKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int>(ElementwiseKernels.BatchedTransposeKernel));
        k(dev.GridStrideConfig(y.Length), x, y, batches, rows, cols);
        return y;
    }

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape> Load(ComputeDevice dev, string key,
        Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape> kernel) =>
        dev.Kernel(key, a => a.LoadStreamKernel(kernel));

    static long Blocks(int rows, int cols, bool wide) => wide
        ? (long)((rows + Conv2dKernels.WideRows - 1) / Conv2dKernels.WideRows) * ((cols + Conv2dKernels.WideCols - 1) / Conv2dKernels.WideCols)
        : (long)((rows + Conv2dKernels.NarrowRows - 1) / Conv2dKernels.NarrowRows) * ((cols + Conv2dKernels.NarrowCols - 1) / Conv2dKernels.NarrowCols);

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
            case 2:
            {
                var wT = BatchedTranspose(dev, w, 1, g.K, g.C * g.R * g.S);   // (C·R·S, K)
                bool wide = Wide(g.K);
                var kernel = wide ? Load(dev, nameof(Conv2dKernels.Conv2dForwardWideKernel2), Conv2dKernels.Conv2dForwardWideKernel2)
                                  : Load(dev, nameof(Conv2dKernels.Conv2dForwardNarrowKernel2), Conv2dKernels.Conv2dForwardNarrowKernel2);
                kernel(dev.GridStrideConfig(Blocks(g.N * g.P * g.Q, g.K, wide)), x, wT, y, g);
                break;
            }
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
            case 2:
            {
                var wKrsc = BatchedTranspose(dev, w, g.K, g.C, g.R * g.S);   // (K, R·S, C)
                bool wide = Wide(g.C);
                var kernel = wide ? Load(dev, nameof(Conv2dKernels.Conv2dBackwardInputWideKernel2), Conv2dKernels.Conv2dBackwardInputWideKernel2)
                                  : Load(dev, nameof(Conv2dKernels.Conv2dBackwardInputNarrowKernel2), Conv2dKernels.Conv2dBackwardInputNarrowKernel2);
                kernel(dev.GridStrideConfig(Blocks(g.N * g.H * g.W, g.C, wide)), dY, wKrsc, dX, g);
                break;
            }
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
            case 2:
            {
                var dYt = BatchedTranspose(dev, dY, g.N, g.K, g.P * g.Q);   // (N, P·Q, K)
                bool wide = Wide(g.K);
                var kernel = wide ? Load(dev, nameof(Conv2dKernels.Conv2dBackwardWeightWideKernel2), Conv2dKernels.Conv2dBackwardWeightWideKernel2)
                                  : Load(dev, nameof(Conv2dKernels.Conv2dBackwardWeightNarrowKernel2), Conv2dKernels.Conv2dBackwardWeightNarrowKernel2);
                kernel(dev.GridStrideConfig(Blocks(g.C * g.R * g.S, g.K, wide)), x, dYt, dW, g);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, "unknown conv2d backward-weight version");
        }
    }
}
