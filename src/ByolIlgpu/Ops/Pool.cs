using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Pooling: global average (N, C, H, W) → (N, C), backward dX += dY/(H·W); max-pool (N, C, H, W) → (N, C, P, Q),
/// backward a gather to each window's recorded maximum (see <see cref="PoolKernels"/>).
/// </summary>
public static class Pool
{
    /// <summary>
    /// torch.nn.MaxPool2d(kernel, stride, padding) (dilation 1, floor mode; torchvision's ImageNet stem uses 3, 2, 1):
    /// padding never wins, ties go to the first maximum in scan order, P = ⌊(H + 2·pad − k)/stride⌋ + 1.
    /// </summary>
    public static Tensor MaxPool2d(Tape tape, Tensor x, int kernel, int stride, int padding)
    {
        Elementwise.CheckRank(x, "max pool", 4);
        if (kernel < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"max pool: kernel {kernel}, stride {stride}, padding {padding}; expected kernel ≥ 1, stride ≥ 1, padding ≥ 0");
        if (2 * padding > kernel)
            throw new ArgumentException($"max pool: padding {padding} exceeds half the kernel {kernel} (as PyTorch requires: a window of padding alone has no maximum)");
        var g = new MaxPool2dShape(x.Dim(0) * x.Dim(1), x.Dim(2), x.Dim(3), kernel, stride, padding);
        if (g.P < 1 || g.Q < 1)
            throw new ArgumentException($"max pool: input {Tensor.Format(x.Shape)} is smaller than the {kernel}×{kernel} window with padding {padding}");
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "maxpool", x.Dim(0), x.Dim(1), g.P, g.Q);
        var argmax = Tensor.Temp(dev, "maxpool.argmax", x.Dim(0), x.Dim(1), g.P, g.Q);   // int indices in float-sized slots
        var k = dev.Kernel(nameof(PoolKernels.MaxPool2dForwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, MaxPool2dShape>(PoolKernels.MaxPool2dForwardKernel));
        k(dev.GridStrideConfig(g.OutputLength), x.Data, y.Data, argmax.Data.Cast<int>(), g);
        if (tape.ShouldRecord(x))
            tape.Record(y, () =>
            {
                // Every element of dX is computed whole, so the first backward into x writes instead of zeroing first.
                var dX = x.GradToWrite(out bool accumulate);
                var kb = dev.Kernel(nameof(PoolKernels.MaxPool2dBackwardKernel),
                    a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, MaxPool2dShape, int>(PoolKernels.MaxPool2dBackwardKernel));
                kb(dev.GridStrideConfig(g.InputLength), y.GradOrZeros().Data, argmax.Data.Cast<int>(), dX.Data, g, accumulate ? 1 : 0);
            });
        return y;
    }

    public static Tensor GlobalAverage(Tape tape, Tensor x)
    {
        Elementwise.CheckRank(x, "global average pool", 4);
        int planes = x.Dim(0) * x.Dim(1), spatial = x.Dim(2) * x.Dim(3);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "avgpool", x.Dim(0), x.Dim(1));
        var k = dev.Kernel(nameof(PoolKernels.GlobalAvgPoolForwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(PoolKernels.GlobalAvgPoolForwardKernel));
        k(dev.GridStrideConfig(planes), x.Data, y.Data, planes, spatial);
        if (tape.ShouldRecord(x))
            tape.Record(y, () =>
            {
                var kb = dev.Kernel(nameof(PoolKernels.GlobalAvgPoolBackwardKernel),
                    a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(PoolKernels.GlobalAvgPoolBackwardKernel));
                kb(dev.GridStrideConfig((long)planes * spatial), y.GradOrZeros().Data, x.GradOrZeros().Data, planes, spatial);
            });
        return y;
    }
}
