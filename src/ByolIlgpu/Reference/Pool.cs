namespace ByolIlgpu.Reference;

/// <summary>Plain double-precision references of the pooling ops (layout NCHW).</summary>
public static class Pool
{
    /// <summary>P = ⌊(H + 2·pad − k)/stride⌋ + 1 (floor mode).</summary>
    public static int OutputSize(int size, int kernel, int stride, int pad) => (size + 2 * pad - kernel) / stride + 1;

    /// <summary>
    /// Y[n,c,p,q] = max over the window's taps inside X (padding is −∞); argmax the h·W + w of the first maximum
    /// in scan order (rows, then columns), a NaN winning as in PyTorch.
    /// </summary>
    public static (double[] y, int[] argmax) MaxPool2dForward(double[] x, int planes, int height, int width, int kernel, int stride, int pad)
    {
        int outH = OutputSize(height, kernel, stride, pad), outW = OutputSize(width, kernel, stride, pad);
        var y = new double[planes * outH * outW];
        var argmax = new int[y.Length];
        for (int plane = 0; plane < planes; plane++)
            for (int p = 0; p < outH; p++)
                for (int q = 0; q < outW; q++)
                {
                    double best = double.NegativeInfinity;
                    int index = -1;
                    for (int r = 0; r < kernel; r++)
                        for (int t = 0; t < kernel; t++)
                        {
                            int h = p * stride - pad + r, w = q * stride - pad + t;
                            if (h < 0 || h >= height || w < 0 || w >= width)
                                continue;
                            double v = x[(plane * height + h) * width + w];
                            if (index < 0 || v > best || double.IsNaN(v))
                            {
                                best = v;
                                index = h * width + w;
                            }
                        }
                    int o = (plane * outH + p) * outW + q;
                    y[o] = best;
                    argmax[o] = index;
                }
        return (y, argmax);
    }

    /// <summary>dX of Σ Y·dY: each output's gradient added to its window's maximum.</summary>
    public static double[] MaxPool2dBackward(int[] argmax, double[] dY, int planes, int height, int width, int outH, int outW)
    {
        var dX = new double[planes * height * width];
        for (int plane = 0; plane < planes; plane++)
            for (int i = 0; i < outH * outW; i++)
                dX[plane * height * width + argmax[plane * outH * outW + i]] += dY[plane * outH * outW + i];
        return dX;
    }
}
