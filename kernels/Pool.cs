using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Global average pooling: Y[n,c] = (1/(H·W))·Σ_{h,w} X[n,c,h,w]; backward dX[n,c,h,w] += dY[n,c]/(H·W).
/// One thread per (n, c) forward (sums in order), one per input element backward.
/// </summary>
public static class PoolKernels
{
    public static void GlobalAvgPoolForwardKernel(
        ArrayView<float> x,    // (N, C, H, W) as (N·C, S)
        ArrayView<float> y,    // (N, C)
        int planes, int spatial)
    {
        float inv = 1f / spatial;
        for (int i = GridStride.Start; i < planes; i += GridStride.Step)
        {
            float sum = 0f;
            int o = i * spatial;
            for (int s = 0; s < spatial; s++)
                sum += x[o + s];
            y[i] = sum * inv;
        }
    }

    public static void GlobalAvgPoolBackwardKernel(
        ArrayView<float> dY,   // (N, C)
        ArrayView<float> dX,   // (N, C, H, W), accumulated into
        int planes, int spatial)
    {
        float inv = 1f / spatial;
        int total = planes * spatial;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
            dX[i] += dY[i / spatial] * inv;
    }
}
