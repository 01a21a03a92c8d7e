using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Adam and AdamW, as torch.optim.Adam / AdamW (layout and flags as in <see cref="SgdKernels"/>),
/// at step k with bias corrections c₁ = 1 − β₁ᵏ, c₂ = 1 − β₂ᵏ computed by the launcher:
///   Adam (L2):  g' = g + λ_t·w;            AdamW (decoupled): w ← w·(1 − lr·λ_t), g' = g;
///   m ← β₁·m + (1 − β₁)·g';  v ← β₂·v + (1 − β₂)·g'²;
///   w ← w − (lr/c₁)·m / (√v/√c₂ + ε).
/// </summary>
public static class AdamKernels
{
    public static void AdamUpdateKernel(
        ArrayView<float> w,          // (P)
        ArrayView<float> g,          // (P)
        ArrayView<float> m,          // (P) first moment
        ArrayView<float> v,          // (P) second moment
        ArrayView<int> offsets,      // (T + 1)
        ArrayView<int> decayFlags,   // (T)
        float lr, float beta1, float beta2, float eps, float weightDecay,
        float biasCorrection1, float biasCorrection2, int decoupled)
    {
        int t = Grid.IdxY;
        int end = offsets[t + 1];
        float lambda = decayFlags[t] != 0 ? weightDecay : 0f;
        float stepSize = lr / biasCorrection1;
        float sqrtC2 = XMath.Sqrt(biasCorrection2);
        for (int i = offsets[t] + GridStride.Start; i < end; i += GridStride.Step)
        {
            float wv = w[i];
            float gv = g[i];
            if (decoupled != 0)
                wv *= 1f - lr * lambda;
            else
                gv += lambda * wv;
            float mv = beta1 * m[i] + (1f - beta1) * gv;
            float vv = beta2 * v[i] + (1f - beta2) * gv * gv;
            m[i] = mv;
            v[i] = vv;
            w[i] = wv - stepSize * mv / (XMath.Sqrt(vv) / sqrtC2 + eps);
        }
    }
}
