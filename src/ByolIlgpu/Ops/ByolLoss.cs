using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Per-row BYOL pair loss ℓ = 2 − 2⟨p/‖p‖, z/‖z‖⟩ (N); z is the teacher's projection and gets no gradient.
/// </summary>
public static class ByolLoss
{
    public const float DefaultEps = 1e-12f;

    public static Tensor PairLoss(Tape tape, Tensor p, Tensor z, float eps = DefaultEps)
    {
        Elementwise.CheckRank(p, "byol loss", 2);
        Elementwise.CheckShape(z, "byol loss", p.Shape);
        int rows = p.Dim(0), dim = p.Dim(1);
        var dev = tape.Device;
        var loss = Tensor.Temp(dev, "byol.loss", rows);
        var k = dev.Kernel(nameof(ByolLossKernels.ByolLossForwardKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(ByolLossKernels.ByolLossForwardKernel));
        k(dev.GridStrideConfig(rows), p.Data, z.Data, loss.Data, rows, dim, eps);
        // Stop-gradient on z: only p decides whether the op is recorded.
        if (tape.ShouldRecord(p))
            tape.Record(loss, () =>
            {
                var kb = dev.Kernel(nameof(ByolLossKernels.ByolLossBackwardKernel), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(ByolLossKernels.ByolLossBackwardKernel));
                kb(dev.GridStrideConfig(rows), p.Data, z.Data, loss.GradOrZeros().Data, p.GradOrZeros().Data, rows, dim, eps);
            });
        return loss;
    }
}
