using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Softmax cross-entropy per row, for the linear evaluation's classifier:
/// ℓ_n = log Σ_j exp(z_nj) − z_n,y_n (computed with the row maximum subtracted, so exp never overflows).
/// Backward: ∂ℓ_n/∂z_nj = softmax(z_n)_j − [j = y_n], scaled by the upstream gradient of ℓ_n.
/// One thread per row.
/// </summary>
public static class CrossEntropyKernels
{
    public static void CrossEntropyForwardKernel(
        ArrayView<float> logits,  // (N, C)
        ArrayView<int> labels,    // (N)
        ArrayView<float> loss,    // (N)
        int rows, int classes)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * classes;
            float max = RowMax(logits, o, classes);
            loss[r] = XMath.Log(SumExp(logits, o, classes, max)) + max - logits[o + labels[r]];
        }
    }

    public static void CrossEntropyBackwardKernel(
        ArrayView<float> logits,  // (N, C)
        ArrayView<int> labels,    // (N)
        ArrayView<float> dLoss,   // (N)
        ArrayView<float> dLogits, // (N, C), accumulated into
        int rows, int classes)
    {
        for (int r = GridStride.Start; r < rows; r += GridStride.Step)
        {
            int o = r * classes;
            float max = RowMax(logits, o, classes);
            float sum = SumExp(logits, o, classes, max);
            float g = dLoss[r];
            int y = labels[r];
            for (int j = 0; j < classes; j++)
            {
                float p = XMath.Exp(logits[o + j] - max) / sum;
                dLogits[o + j] += g * (p - (j == y ? 1f : 0f));
            }
        }
    }

    /// <summary>max_j z[o + j].</summary>
    static float RowMax(ArrayView<float> logits, int o, int classes)
    {
        float max = logits[o];
        for (int j = 1; j < classes; j++)
            max = XMath.Max(max, logits[o + j]);
        return max;
    }

    /// <summary>Σ_j exp(z[o + j] − max): the softmax denominator, shifted so exp never overflows.</summary>
    static float SumExp(ArrayView<float> logits, int o, int classes, float max)
    {
        float sum = 0f;
        for (int j = 0; j < classes; j++)
            sum += XMath.Exp(logits[o + j] - max);
        return sum;
    }
}
