using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>y = max(x, 0); backward dx += dy·[y > 0].</summary>
public static class Relu
{
    public static Tensor Forward(Tape tape, Tensor x)
    {
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "relu", x.Shape);
        Launch(dev, x.Data, y.Data);
        if (tape.ShouldRecord(x))
            tape.Record(y, () => Backward(dev, y.Data, y.GradOrZeros().Data, x.GradOrZeros().Data));
        return y;
    }

    public static void Launch(ComputeDevice dev, ArrayView<float> x, ArrayView<float> y)
    {
        Elementwise.CheckSameLength(x, y, "relu");
        var k = dev.Kernel(nameof(ReluKernels.ReluForwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReluKernels.ReluForwardKernel));
        k(dev.GridStrideConfig(x.Length), x, y, (int)x.Length);
    }

    public static void Backward(ComputeDevice dev, ArrayView<float> y, ArrayView<float> dY, ArrayView<float> dX)
    {
        var k = dev.Kernel(nameof(ReluKernels.ReluBackwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReluKernels.ReluBackwardKernel));
        k(dev.GridStrideConfig(y.Length), y, dY, dX, (int)y.Length);
    }
}
