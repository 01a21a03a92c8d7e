using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Linear layer, as PyTorch's nn.Linear: Y = X·Wᵀ + b with X (N, I), W (O, I), b (O), Y (N, O).
/// The products run on <see cref="MatmulKernels"/>; this file holds the bias terms.
/// Backward: dX += dY·W, dW += dYᵀ·X (both matmuls with β = 1), db[o] += Σ_n dY[n,o] (below).
/// </summary>
public static class LinearKernels
{
    /// <summary>Y[n,o] += b[o].</summary>
    public static void LinearBiasForwardKernel(
        ArrayView<float> y,     // (N, O)
        ArrayView<float> bias,  // (O)
        int rows, int outFeatures)
    {
        int total = rows * outFeatures;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
            y[i] += bias[i % outFeatures];
    }

    /// <summary>db[o] += Σ_n dY[n,o]: one thread per output feature, summed in row order (deterministic).</summary>
    public static void LinearBiasBackwardKernel(
        ArrayView<float> dY,    // (N, O)
        ArrayView<float> dBias, // (O)
        int rows, int outFeatures)
    {
        for (int o = GridStride.Start; o < outFeatures; o += GridStride.Step)
        {
            float sum = 0f;
            for (int r = 0; r < rows; r++)
                sum += dY[r * outFeatures + o];
            dBias[o] += sum;
        }
    }
}
