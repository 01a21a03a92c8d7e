using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Row-wise L2 normalisation, as torch.nn.functional.normalize: y = x / max(‖x‖, ε) per row.
/// Backward (‖x‖ > ε): dx += (dy − y·⟨y, dy⟩)/‖x‖; (‖x‖ ≤ ε): dx += dy/ε.
/// One thread per row; the saved row norms feed the backward.
/// </summary>
public static class L2NormalizeKernels
{
    public static void L2NormalizeForwardKernel(
        ArrayView<float> x,     // (N, D)
        ArrayView<float> y,     // (N, D)
        ArrayView<float> norm,  // (N) saved ‖x_n‖
        int rows, int dim, float eps)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * dim;
            float sq = 0f;
            for (int d = 0; d < dim; d++)
                sq += x[o + d] * x[o + d];
            float nrm = XMath.Sqrt(sq);
            norm[r] = nrm;
            float inv = 1f / XMath.Max(nrm, eps);
            for (int d = 0; d < dim; d++)
                y[o + d] = x[o + d] * inv;
        }
    }

    public static void L2NormalizeBackwardKernel(
        ArrayView<float> y,     // (N, D)
        ArrayView<float> norm,  // (N)
        ArrayView<float> dY,    // (N, D)
        ArrayView<float> dX,    // (N, D), accumulated into
        int rows, int dim, float eps)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * dim;
            float nrm = norm[r];
            if (nrm <= eps)
            {
                // Below ε the forward is x/ε, a plain scaling.
                for (int d = 0; d < dim; d++)
                    dX[o + d] += dY[o + d] / eps;
                continue;
            }
            float dot = 0f;
            for (int d = 0; d < dim; d++)
                dot += y[o + d] * dY[o + d];
            float inv = 1f / nrm;
            for (int d = 0; d < dim; d++)
                dX[o + d] += (dY[o + d] - y[o + d] * dot) * inv;
        }
    }
}
