using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>
/// LARS (layer-wise adaptive rate scaling) as BYOL on CIFAR uses it, per parameter tensor t
/// (layout and flags as in <see cref="SgdKernels"/>):
///   u = g + λ·w; trust = η·‖w‖/‖u‖, clipped so the local lr never exceeds the global one:
///   scale_t = min(trust/lr, 1), and 1 where ‖w‖ or ‖u‖ is zero (or lr is 0);
///   v ← μ·v + scale_t·u; w ← w − lr·v.
/// Tensors with flag 0 (biases, BatchNorm) get neither weight decay nor adaptation: v ← μ·v + g.
/// Three launches: per-tensor partial sums of ‖w‖² and ‖u‖² (P per tensor), the per-tensor scale,
/// and the update; sums run in a fixed order, so the result is deterministic.
/// </summary>
public static class LarsKernels
{
    /// <summary>wSq[t·P + p] = Σ w², uSq[t·P + p] = Σ (g + λw)² over elements p, p + P, … of tensor t.</summary>
    public static void LarsNormPartialsKernel(
        ArrayView<float> w,          // (P) parameters
        ArrayView<float> g,          // (P) gradients
        ArrayView<int> offsets,      // (T + 1)
        ArrayView<int> decayFlags,   // (T)
        ArrayView<float> wSq,        // (T, Pt) partials of ‖w‖²
        ArrayView<float> uSq,        // (T, Pt) partials of ‖g + λw‖²
        float weightDecay)
    {
        int t = Grid.IdxY;
        int p = GridStride.Start;
        int partialsPerTensor = GridStride.Step;
        float lambda = decayFlags[t] != 0 ? weightDecay : 0f;
        float ws = 0f, us = 0f;
        int end = offsets[t + 1];
        for (int i = offsets[t] + p; i < end; i += partialsPerTensor)
        {
            float wv = w[i];
            float u = g[i] + lambda * wv;
            ws += wv * wv;
            us += u * u;
        }
        wSq[t * partialsPerTensor + p] = ws;
        uSq[t * partialsPerTensor + p] = us;
    }

    /// <summary>scale[t] = min(η·‖w‖/‖u‖ / lr, 1) for adapted tensors with both norms non-zero, else 1.</summary>
    public static void LarsScaleKernel(
        ArrayView<float> wSq,        // (T, Pt)
        ArrayView<float> uSq,        // (T, Pt)
        ArrayView<int> decayFlags,   // (T)
        ArrayView<float> scale,      // (T)
        int tensors, int partialsPerTensor, float lr, float trustCoefficient)
    {
        for (int t = GridStride.Start; t < tensors; t += GridStride.Step)
        {
            float ws = 0f, us = 0f;
            for (int p = 0; p < partialsPerTensor; p++)
            {
                ws += wSq[t * partialsPerTensor + p];
                us += uSq[t * partialsPerTensor + p];
            }
            float wNorm = XMath.Sqrt(ws), uNorm = XMath.Sqrt(us);
            float s = 1f;
            // lr = 0 (the first warm-up step) is the limit trust/lr → ∞, clipped to 1.
            if (decayFlags[t] != 0 && wNorm > 0f && uNorm > 0f && lr > 0f)
                s = XMath.Min(trustCoefficient * wNorm / uNorm / lr, 1f);
            scale[t] = s;
        }
    }

    /// <summary>v ← μ·v + scale_t·(g + λ_t·w); w ← w − lr·v.</summary>
    public static void LarsUpdateKernel(
        ArrayView<float> w,          // (P)
        ArrayView<float> g,          // (P)
        ArrayView<float> velocity,   // (P)
        ArrayView<int> offsets,      // (T + 1)
        ArrayView<int> decayFlags,   // (T)
        ArrayView<float> scale,      // (T)
        float lr, float momentum, float weightDecay)
    {
        int t = Grid.IdxY;
        int end = offsets[t + 1];
        float lambda = decayFlags[t] != 0 ? weightDecay : 0f;
        float s = scale[t];
        for (int i = offsets[t] + GridStride.Start; i < end; i += GridStride.Step)
        {
            float v = momentum * velocity[i] + s * (g[i] + lambda * w[i]);
            velocity[i] = v;
            w[i] -= lr * v;
        }
    }
}
