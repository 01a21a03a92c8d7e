using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>
/// BYOL pair loss per row: p̂ = p/max(‖p‖, ε), ẑ = z/max(‖z‖, ε), ℓ = 2 − 2·⟨p̂, ẑ⟩ ∈ [0, 4].
/// z is the teacher's projection (stop-gradient): only p gets a gradient,
/// ∂ℓ/∂p = −(2/‖p‖)·(ẑ − ⟨p̂, ẑ⟩·p̂)  (for ‖p‖ > ε; below ε the normalisation is p/ε and ∂ℓ/∂p = −2ẑ/ε).
/// One thread per row.
/// </summary>
public static class ByolLossKernels
{
    /// <summary>loss[r] = 2 − 2·⟨p̂_r, ẑ_r⟩.</summary>
    public static void ByolLossForwardKernel(
        ArrayView<float> p,     // (N, D) student prediction
        ArrayView<float> z,     // (N, D) teacher projection of the other view
        ArrayView<float> loss,  // (N)
        int rows, int dim, float eps)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * dim;
            float pp = 0f, zz = 0f, pz = 0f;
            for (int d = 0; d < dim; d++)
            {
                float pv = p[o + d], zv = z[o + d];
                pp += pv * pv;
                zz += zv * zv;
                pz += pv * zv;
            }
            float cosine = pz / (XMath.Max(XMath.Sqrt(pp), eps) * XMath.Max(XMath.Sqrt(zz), eps));
            loss[r] = 2f - 2f * cosine;
        }
    }

    /// <summary>dp[r] += dLoss[r]·(−2/‖p‖)·(ẑ − ⟨p̂, ẑ⟩·p̂).</summary>
    public static void ByolLossBackwardKernel(
        ArrayView<float> p,      // (N, D)
        ArrayView<float> z,      // (N, D)
        ArrayView<float> dLoss,  // (N) upstream gradient of each row's loss
        ArrayView<float> dP,     // (N, D), accumulated into
        int rows, int dim, float eps)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * dim;
            float pp = 0f, zz = 0f, pz = 0f;
            for (int d = 0; d < dim; d++)
            {
                float pv = p[o + d], zv = z[o + d];
                pp += pv * pv;
                zz += zv * zv;
                pz += pv * zv;
            }
            float pNorm = XMath.Sqrt(pp);
            float invZ = 1f / XMath.Max(XMath.Sqrt(zz), eps);
            float g = dLoss[r];
            if (pNorm <= eps)
            {
                for (int d = 0; d < dim; d++)
                    dP[o + d] += g * (-2f / eps) * z[o + d] * invZ;
                continue;
            }
            float invP = 1f / pNorm;
            float cosine = pz * invP * invZ;
            float scale = g * (-2f * invP);
            for (int d = 0; d < dim; d++)
                dP[o + d] += scale * (z[o + d] * invZ - cosine * p[o + d] * invP);
        }
    }
}
