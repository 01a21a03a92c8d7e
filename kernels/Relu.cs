using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// ReLU: y = max(x, 0). Backward: dx += dy·[y > 0] (uses the output, so x need not be kept).
/// </summary>
public static class ReluKernels
{
    /// <summary>y[i] = max(x[i], 0); x and y may be the same buffer.</summary>
    public static void ReluForwardKernel(ArrayView<float> x, ArrayView<float> y, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            float v = x[i];
            y[i] = v > 0f ? v : 0f;
        }
    }

    /// <summary>dx[i] += dy[i]·[y[i] > 0]  (∂max(x,0)/∂x = 1 for x > 0, else 0).</summary>
    public static void ReluBackwardKernel(ArrayView<float> y, ArrayView<float> dY, ArrayView<float> dX, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            if (y[i] > 0f)
                dX[i] += dY[i];
    }
}
