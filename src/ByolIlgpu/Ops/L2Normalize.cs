using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>Row-wise y = x/max(‖x‖, ε) (ε = 1e-12 as F.normalize); backward dx += (dy − y⟨y, dy⟩)/‖x‖.</summary>
public static class L2Normalize
{
    public const float DefaultEps = 1e-12f;

    public static Tensor Forward(Tape tape, Tensor x, float eps = DefaultEps)
    {
        Elementwise.CheckRank(x, "l2 normalize", 2);
        int rows = x.Dim(0), dim = x.Dim(1);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "l2normalize", rows, dim);
        var norm = Tensor.Temp(dev, "l2normalize.norm", rows);
        var k = dev.Kernel(nameof(L2NormalizeKernels.L2NormalizeForwardKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(L2NormalizeKernels.L2NormalizeForwardKernel));
        k(dev.GridStrideConfig(rows), x.Data, y.Data, norm.Data, rows, dim, eps);
        if (tape.ShouldRecord(x))
            tape.Record(y, () =>
            {
                var kb = dev.Kernel(nameof(L2NormalizeKernels.L2NormalizeBackwardKernel), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(L2NormalizeKernels.L2NormalizeBackwardKernel));
                kb(dev.GridStrideConfig(rows), y.Data, norm.Data, y.GradOrZeros().Data, x.GradOrZeros().Data, rows, dim, eps);
            });
        return y;
    }
}
