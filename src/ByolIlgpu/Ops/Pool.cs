using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>Global average pooling (N, C, H, W) → (N, C); backward dX += dY/(H·W).</summary>
public static class Pool
{
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
