using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>y = max(a + b, 0), the BasicBlock's join; backward da += dy·[y > 0], db += dy·[y > 0].</summary>
public static class Residual
{
    public static Tensor AddRelu(Tape tape, Tensor a, Tensor b)
    {
        Elementwise.CheckShape(b, "residual add", a.Shape);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "add_relu", a.Shape);
        var k = dev.Kernel(nameof(ResidualKernels.AddReluForwardKernel),
            acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ResidualKernels.AddReluForwardKernel));
        k(dev.GridStrideConfig(a.Length), a.Data, b.Data, y.Data, a.Length);
        if (tape.ShouldRecord(a, b))
            tape.Record(y, () =>
            {
                var kb = dev.Kernel(nameof(ResidualKernels.AddReluBackwardKernel), acc => acc.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ResidualKernels.AddReluBackwardKernel));
                // A branch that needs no gradient still gets a (pooled) buffer: simpler than a kernel per case.
                kb(dev.GridStrideConfig(a.Length), y.Data, y.GradOrZeros().Data, a.GradOrZeros().Data, b.GradOrZeros().Data, a.Length);
            });
        return y;
    }
}
