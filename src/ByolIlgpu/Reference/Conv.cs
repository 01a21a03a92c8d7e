using ByolIlgpu.Kernels;

namespace ByolIlgpu.Reference;

/// <summary>
/// Plain double-precision references of the convolutional ops (layouts NCHW, weights (K, C, R, S)).
/// </summary>
public static class Conv
{
    /// <summary>Y[n,k,p,q] = Σ_{c,r,s} X[n,c,p·st+r−pad, q·st+s−pad]·W[k,c,r,s] (zero outside X).</summary>
    public static double[] Conv2dForward(double[] x, double[] w, Conv2dShape g)
    {
        var y = new double[g.OutputLength];
        for (int n = 0; n < g.N; n++)
            for (int k = 0; k < g.K; k++)
                for (int p = 0; p < g.P; p++)
                    for (int q = 0; q < g.Q; q++)
                    {
                        double acc = 0;
                        for (int c = 0; c < g.C; c++)
                            for (int r = 0; r < g.R; r++)
                                for (int s = 0; s < g.S; s++)
                                {
                                    int h = p * g.Stride + r - g.Pad, ww = q * g.Stride + s - g.Pad;
                                    if (h >= 0 && h < g.H && ww >= 0 && ww < g.W)
                                        acc += x[((n * g.C + c) * g.H + h) * g.W + ww] * w[((k * g.C + c) * g.R + r) * g.S + s];
                                }
                        y[((n * g.K + k) * g.P + p) * g.Q + q] = acc;
                    }
        return y;
    }

    /// <summary>dX and dW of Σ Y·dY: each output's gradient scattered back along the same index map as the forward.</summary>
    public static (double[] dX, double[] dW) Conv2dBackward(double[] x, double[] w, double[] dY, Conv2dShape g)
    {
        var dX = new double[g.InputLength];
        var dW = new double[g.WeightLength];
        for (int n = 0; n < g.N; n++)
            for (int k = 0; k < g.K; k++)
                for (int p = 0; p < g.P; p++)
                    for (int q = 0; q < g.Q; q++)
                    {
                        double d = dY[((n * g.K + k) * g.P + p) * g.Q + q];
                        for (int c = 0; c < g.C; c++)
                            for (int r = 0; r < g.R; r++)
                                for (int s = 0; s < g.S; s++)
                                {
                                    int h = p * g.Stride + r - g.Pad, ww = q * g.Stride + s - g.Pad;
                                    if (h < 0 || h >= g.H || ww < 0 || ww >= g.W)
                                        continue;
                                    int xi = ((n * g.C + c) * g.H + h) * g.W + ww, wi = ((k * g.C + c) * g.R + r) * g.S + s;
                                    dX[xi] += d * w[wi];
                                    dW[wi] += d * x[xi];
                                }
                    }
        return (dX, dW);
    }
}
