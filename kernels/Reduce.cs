using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Sum and mean of a whole buffer: s = α·Σ_i x[i] (α = 1 sum, α = 1/n mean), in two deterministic
/// stages: P partial sums (thread t sums x[t], x[t + P], …), then one thread adds the P partials in order.
/// The backward of s is dx[i] += α·ds (<see cref="ElementwiseKernels.AddScalarFromBufferKernel"/>).
/// </summary>
public static class ReduceKernels
{
    /// <summary>partials[t] = Σ_{i ≡ t (mod P)} x[i], P = number of launched threads = partials length.</summary>
    public static void SumPartialsKernel(
        ArrayView<float> x,         // (n)
        ArrayView<float> partials,  // (P)
        int n)
    {
        int t = GridStride.Start;
        float sum = 0f;
        for (int i = t; i < n; i += GridStride.Step)
            sum += x[i];
        partials[t] = sum;
    }

    /// <summary>result[0] = α·Σ_t partials[t], on one thread.</summary>
    public static void SumFinalizeKernel(
        ArrayView<float> partials,  // (P)
        ArrayView<float> result,    // (1)
        int count, float alpha)
    {
        if (GridStride.Start != 0)
            return;
        float sum = 0f;
        for (int t = 0; t < count; t++)
            sum += partials[t];
        result[0] = alpha * sum;
    }
}
