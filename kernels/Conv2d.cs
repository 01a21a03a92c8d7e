using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// The geometry of a 2-D convolution, NCHW: input X (N, C, H, W), weights Wt (K, C, R, S),
/// output Y (N, K, P, Q) with P = (H + 2·pad − R)/stride + 1, Q = (W + 2·pad − S)/stride + 1.
/// Passed to kernels by value.
/// </summary>
public struct Conv2dShape
{
    public int N, C, H, W, K, R, S, Stride, Pad, P, Q;

    public Conv2dShape(int n, int c, int h, int w, int k, int r, int s, int stride, int pad)
    {
        N = n; C = c; H = h; W = w; K = k; R = r; S = s; Stride = stride; Pad = pad;
        P = (h + 2 * pad - r) / stride + 1;
        Q = (w + 2 * pad - s) / stride + 1;
    }

    public readonly long InputLength => (long)N * C * H * W;
    public readonly long WeightLength => (long)K * C * R * S;
    public readonly long OutputLength => (long)N * K * P * Q;

    /// <summary>Multiply-adds of the forward pass (each backward costs the same).</summary>
    public readonly long MultiplyAdds => OutputLength * C * R * S;

    public override readonly string ToString() =>
        $"N={N} C={C} H={H} W={W} → K={K} R×S={R}×{S} stride {Stride} pad {Pad} → P×Q={P}×{Q}";
}

/// <summary>
/// Conv2d without bias, NCHW (legend: N batch, C in-channels, K out-channels, H W input size,
/// R S filter size, P Q output size).
///   Forward:         Y[n,k,p,q]  = Σ_{c,r,s} X[n,c,p·st+r−pad, q·st+s−pad] · Wt[k,c,r,s]
///   Backward input:  dX[n,c,h,w] = Σ_{k,r,s} dY[n,k,p,q] · Wt[k,c,r,s]  over p·st+r−pad = h, q·st+s−pad = w
///   Backward weight: dWt[k,c,r,s] = Σ_{n,p,q} dY[n,k,p,q] · X[n,c,p·st+r−pad, q·st+s−pad]
/// Positions outside the input are the zero padding. Backward kernels accumulate (+=).
///
/// Versions: 1 is the naive kernel (one output element per thread, grid-stride) and the oracle;
/// 2 is the register-blocked implicit GEMM for CPU-like devices (Conv2dBlocked.cs, generated).
/// </summary>
public static partial class Conv2dKernels
{
    /// <summary>Version 1 forward: one output element per thread.</summary>
    public static void Conv2dForwardKernel1(
        ArrayView<float> x,    // (N, C, H, W)
        ArrayView<float> wt,   // (K, C, R, S)
        ArrayView<float> y,    // (N, K, P, Q)
        Conv2dShape g)
    {
        int total = g.N * g.K * g.P * g.Q;
        for (int idx = GridStride.Start; idx < total; idx += GridStride.Step)
        {
            int q = idx % g.Q;
            int p = (idx / g.Q) % g.P;
            int k = (idx / (g.Q * g.P)) % g.K;
            int n = idx / (g.Q * g.P * g.K);
            float acc = 0f;
            for (int c = 0; c < g.C; c++)
                for (int r = 0; r < g.R; r++)
                {
                    int h = p * g.Stride + r - g.Pad;
                    if (h < 0 || h >= g.H)
                        continue;
                    for (int s = 0; s < g.S; s++)
                    {
                        int w = q * g.Stride + s - g.Pad;
                        if (w < 0 || w >= g.W)
                            continue;
                        acc += x[((n * g.C + c) * g.H + h) * g.W + w] * wt[((k * g.C + c) * g.R + r) * g.S + s];
                    }
                }
            y[idx] = acc;
        }
    }

    /// <summary>Version 1 backward to the input: one input element per thread, dX += Σ dY·Wt over the outputs it fed.</summary>
    public static void Conv2dBackwardInputKernel1(
        ArrayView<float> dY,   // (N, K, P, Q)
        ArrayView<float> wt,   // (K, C, R, S)
        ArrayView<float> dX,   // (N, C, H, W), accumulated into
        Conv2dShape g)
    {
        int total = g.N * g.C * g.H * g.W;
        for (int idx = GridStride.Start; idx < total; idx += GridStride.Step)
        {
            int w = idx % g.W;
            int h = (idx / g.W) % g.H;
            int c = (idx / (g.W * g.H)) % g.C;
            int n = idx / (g.W * g.H * g.C);
            float acc = 0f;
            for (int k = 0; k < g.K; k++)
                for (int r = 0; r < g.R; r++)
                {
                    // h = p·stride + r − pad  ⇒  p = (h + pad − r)/stride when that divides exactly.
                    int ph = h + g.Pad - r;
                    if (ph < 0 || ph % g.Stride != 0)
                        continue;
                    int p = ph / g.Stride;
                    if (p >= g.P)
                        continue;
                    for (int s = 0; s < g.S; s++)
                    {
                        int qw = w + g.Pad - s;
                        if (qw < 0 || qw % g.Stride != 0)
                            continue;
                        int q = qw / g.Stride;
                        if (q >= g.Q)
                            continue;
                        acc += dY[((n * g.K + k) * g.P + p) * g.Q + q] * wt[((k * g.C + c) * g.R + r) * g.S + s];
                    }
                }
            dX[idx] += acc;
        }
    }

    /// <summary>Version 1 backward to the weights: one weight per thread, summed over (n, p, q) in order (deterministic).</summary>
    public static void Conv2dBackwardWeightKernel1(
        ArrayView<float> x,    // (N, C, H, W)
        ArrayView<float> dY,   // (N, K, P, Q)
        ArrayView<float> dWt,  // (K, C, R, S), accumulated into
        Conv2dShape g)
    {
        int total = g.K * g.C * g.R * g.S;
        for (int idx = GridStride.Start; idx < total; idx += GridStride.Step)
        {
            int s = idx % g.S;
            int r = (idx / g.S) % g.R;
            int c = (idx / (g.S * g.R)) % g.C;
            int k = idx / (g.S * g.R * g.C);
            float acc = 0f;
            for (int n = 0; n < g.N; n++)
                for (int p = 0; p < g.P; p++)
                {
                    int h = p * g.Stride + r - g.Pad;
                    if (h < 0 || h >= g.H)
                        continue;
                    for (int q = 0; q < g.Q; q++)
                    {
                        int w = q * g.Stride + s - g.Pad;
                        if (w < 0 || w >= g.W)
                            continue;
                        acc += dY[((n * g.K + k) * g.P + p) * g.Q + q] * x[((n * g.C + c) * g.H + h) * g.W + w];
                    }
                }
            dWt[idx] += acc;
        }
    }
}
