using TorchSharp;
using static TorchSharp.torch;

namespace ByolIlgpu.Bench.Torch;

/// <summary>
/// The optimizer and teacher updates of ByolIlgpu (src/ByolIlgpu/Optim, kernels/Sgd.cs, kernels/Lars.cs,
/// kernels/Ema.cs) written as libtorch tensor operations on one tensor at a time, the way
/// torch.optim.SGD's single-tensor path and solo-learn's LARS do it. No value is read back to the
/// host: the LARS trust ratio stays a 0-d tensor, so nothing waits on a synchronisation. Each returns the tensor it updated.
/// </summary>
public static class TorchOptim
{
    /// <summary>EMA as two in-place passes: ξ ← τ·ξ; ξ ← ξ + (1 − τ)·θ (what BYOL codes write).</summary>
    public static Tensor Ema(Tensor teacher, Tensor student, double tau) =>
        teacher.mul_(tau).add_(student, alpha: 1 - tau);

    /// <summary>EMA as one fused pass: ξ ← lerp(ξ, θ, 1 − τ) = τ·ξ + (1 − τ)·θ; <paramref name="oneMinusTau"/> is a 0-d tensor.</summary>
    public static Tensor EmaFused(Tensor teacher, Tensor student, Tensor oneMinusTau) =>
        teacher.lerp_(student, oneMinusTau);

    /// <summary>
    /// SGD with momentum as torch.optim.SGD (dampening 0, no Nesterov):
    /// g' = g + λ·w (only when λ ≠ 0), v ← μ·v + g', w ← w − lr·v.
    /// </summary>
    public static Tensor Sgd(Tensor w, Tensor g, Tensor v, double lr, double momentum, double weightDecay)
    {
        var d = weightDecay != 0 ? g.add(w, alpha: weightDecay) : g;
        v.mul_(momentum).add_(d);
        return w.add_(v, alpha: -lr);
    }

    /// <summary>
    /// LARS on one tensor as ByolIlgpu's kernels/Lars.cs: for an adapted tensor (a weight),
    /// u = g + λ·w, scale = min(η·‖w‖/‖u‖ / lr, 1), or 1 where ‖w‖ or ‖u‖ is zero; v ← μ·v + scale·u.
    /// For an excluded tensor (bias, BatchNorm γ, β) v ← μ·v + g. Then w ← w − lr·v.
    /// <paramref name="one"/> is a 0-d tensor holding 1 (the scale where a norm is zero).
    /// </summary>
    public static Tensor Lars(Tensor w, Tensor g, Tensor v, bool adapt, double lr, double momentum, double weightDecay, double eta, Tensor one)
    {
        if (!adapt)
        {
            v.mul_(momentum).add_(g);
            return w.add_(v, alpha: -lr);
        }
        var u = g.add(w, alpha: weightDecay);
        var wNorm = w.norm();
        var uNorm = u.norm();
        var trust = wNorm.mul(eta / lr).div_(uNorm).clamp_max(1.0);
        var scale = where(wNorm.gt(0).logical_and_(uNorm.gt(0)), trust, one);
        v.mul_(momentum).add_(u.mul_(scale));
        return w.add_(v, alpha: -lr);
    }
}
