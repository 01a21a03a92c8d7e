using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Exponential moving average of parameters (BYOL's teacher update): ξ ← τ·ξ + (1 − τ)·θ,
/// over one contiguous range of the flat parameter buffers (backbone + projector).
/// </summary>
public static class EmaKernels
{
    public static void EmaUpdateKernel(
        ArrayView<float> teacher,  // (P) ξ
        ArrayView<float> student,  // (P) θ
        int n, float tau)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            teacher[i] = tau * teacher[i] + (1f - tau) * student[i];
    }
}
