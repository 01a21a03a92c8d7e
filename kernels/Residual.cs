using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// The residual join of a BasicBlock, fused with its ReLU: y = max(a + b, 0).
/// Backward: da += dy·[y > 0], db += dy·[y > 0] (a is the block's branch, b the shortcut).
/// </summary>
public static class ResidualKernels
{
    public static void AddReluForwardKernel(
        ArrayView<float> a,   // (N, C, H, W)
        ArrayView<float> b,   // (N, C, H, W)
        ArrayView<float> y,   // (N, C, H, W)
        int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            float v = a[i] + b[i];
            y[i] = v > 0f ? v : 0f;
        }
    }

    public static void AddReluBackwardKernel(
        ArrayView<float> y,    // (N, C, H, W)
        ArrayView<float> dY,   // (N, C, H, W)
        ArrayView<float> dA,   // (N, C, H, W), accumulated into
        ArrayView<float> dB,   // (N, C, H, W), accumulated into
        int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            if (y[i] > 0f)
            {
                float d = dY[i];
                dA[i] += d;
                dB[i] += d;
            }
        }
    }
}
