using ByolIlgpu.Engine;

namespace ByolIlgpu.Byol;

/// <summary>
/// BYOL's symmetric loss: per image ℓ(p₁, z₂) + ℓ(p₂, z₁), averaged over the batch (so in [0, 8]),
/// with ℓ(p, z) = 2 − 2⟨p/‖p‖, z/‖z‖⟩, p the student's prediction of one view and z the teacher's
/// projection of the OTHER view. (Pairing a view with itself — the tutorial's bug — keeps kNN near 35 %.)
/// </summary>
public static class ByolLossFunction
{
    public static Tensor Symmetric(Tape tape, Tensor p1, Tensor p2, Tensor z1, Tensor z2)
    {
        var first = Ops.Reduce.Mean(tape, Ops.ByolLoss.PairLoss(tape, p1, z2));
        var second = Ops.Reduce.Mean(tape, Ops.ByolLoss.PairLoss(tape, p2, z1));
        return Ops.Elementwise.Add(tape, first, second);
    }
}
