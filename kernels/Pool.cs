using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

// Pooling layers. Legend: N batch, C channels, H W input size, P Q output size, k window, s stride, p pad.
//
// GlobalAvgPool*Kernel   the backbone's head: (N, C, H, W) → (N, C).
// MaxPool2d*Kernel       the ImageNet stem's 3×3 stride-2 pad-1 max-pool (any k, s, p), PyTorch's semantics.
//   The forward records the argmax of each window as an int index (PyTorch's `indices`), so the
//   backward is a plain gather: a recomputing backward would rescan k² inputs for each of the ≤ ⌈k/s⌉²
//   windows that hold an input, and would have to repeat the forward's tie and NaN rules exactly.

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

    /// <summary>
    /// Max pooling (torch.nn.MaxPool2d, dilation 1, floor mode):
    /// Y[n,c,p,q] = max_{r,t ∈ [0,k)} X[n,c, p·s − pad + r, q·s − pad + t] over the taps inside X (padding never
    /// wins: it is −∞), P = ⌊(H + 2·pad − k)/s⌋ + 1, Q likewise. argmax[n,c,p,q] = h·W + w of the first maximum in
    /// scan order (r, then t); a NaN wins and propagates, as in PyTorch. One thread per output element.
    /// </summary>
    public static void MaxPool2dForwardKernel(
        ArrayView<float> x,        // (N, C, H, W)
        ArrayView<float> y,        // (N, C, P, Q)
        ArrayView<int> argmax,     // (N, C, P, Q): h·W + w within the plane
        MaxPool2dShape g)
    {
        int outPlane = g.P * g.Q, inPlane = g.H * g.W;
        int total = g.Planes * outPlane;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int plane = i / outPlane, rest = i - plane * outPlane;
            int p = rest / g.Q, q = rest - p * g.Q;
            int h0 = p * g.Stride - g.Pad, w0 = q * g.Stride - g.Pad;
            int hStart = XMath.Max(h0, 0), wStart = XMath.Max(w0, 0);
            int hEnd = XMath.Min(h0 + g.Kernel, g.H), wEnd = XMath.Min(w0 + g.Kernel, g.W);
            int o = plane * inPlane;
            float best = float.NegativeInfinity;
            int index = hStart * g.W + wStart;
            for (int h = hStart; h < hEnd; h++)
                for (int w = wStart; w < wEnd; w++)
                {
                    float v = x[o + h * g.W + w];
                    if (v > best || XMath.IsNaN(v))
                    {
                        best = v;
                        index = h * g.W + w;
                    }
                }
            y[i] = best;
            argmax[i] = index;
        }
    }

    /// <summary>
    /// Max pooling's backward: dX[n,c,h,w] (+)= Σ_{p,q} [argmax[n,c,p,q] = h·W + w]·dY[n,c,p,q] — the gradient goes to
    /// each window's recorded maximum. A gather, deterministic without atomics: one thread per input element visits,
    /// p then q in order, the windows that can hold it, p ∈ [⌈(h + pad − k + 1)/s⌉, ⌊(h + pad)/s⌋] ∩ [0, P).
    /// <paramref name="accumulate"/> 0 writes dX, 1 adds into it.
    /// </summary>
    public static void MaxPool2dBackwardKernel(
        ArrayView<float> dY,       // (N, C, P, Q)
        ArrayView<int> argmax,     // (N, C, P, Q) from the forward
        ArrayView<float> dX,       // (N, C, H, W)
        MaxPool2dShape g, int accumulate)
    {
        int outPlane = g.P * g.Q, inPlane = g.H * g.W;
        int total = g.Planes * inPlane;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int plane = i / inPlane, rest = i - plane * inPlane;
            int h = rest / g.W, w = rest - h * g.W;
            int pLow = h + g.Pad - g.Kernel + 1, qLow = w + g.Pad - g.Kernel + 1;
            int pStart = pLow <= 0 ? 0 : (pLow + g.Stride - 1) / g.Stride;
            int qStart = qLow <= 0 ? 0 : (qLow + g.Stride - 1) / g.Stride;
            int pEnd = XMath.Min((h + g.Pad) / g.Stride, g.P - 1), qEnd = XMath.Min((w + g.Pad) / g.Stride, g.Q - 1);
            int o = plane * outPlane;
            float sum = 0f;
            for (int p = pStart; p <= pEnd; p++)
                for (int q = qStart; q <= qEnd; q++)
                    if (argmax[o + p * g.Q + q] == rest)
                        sum += dY[o + p * g.Q + q];
            dX[i] = accumulate != 0 ? dX[i] + sum : sum;
        }
    }
}

/// <summary>Sizes of a max-pool: Planes = N·C input planes of H×W, a k×k window at stride s and padding pad, P×Q outputs.</summary>
public struct MaxPool2dShape
{
    public int Planes, H, W, Kernel, Stride, Pad, P, Q;

    public MaxPool2dShape(int planes, int h, int w, int kernel, int stride, int pad)
    {
        Planes = planes; H = h; W = w; Kernel = kernel; Stride = stride; Pad = pad;
        P = (h + 2 * pad - kernel) / stride + 1;
        Q = (w + 2 * pad - kernel) / stride + 1;
    }

    public readonly long InputLength => (long)Planes * H * W;
    public readonly long OutputLength => (long)Planes * P * Q;

    public override readonly string ToString() => $"{Planes} planes of {H}×{W}, window {Kernel} stride {Stride} pad {Pad} → {P}×{Q}";
}
