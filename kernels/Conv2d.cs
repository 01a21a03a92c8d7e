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
/// A convolution pass seen as an implicit GEMM (no im2col buffer): out[pos, m] (+)= Σ_t A[pos, t]·B[t, m].
/// Rows pos are the output positions (n, oy, ox) over N × OH × OW; columns m the GEMM's output
/// channels; the reduction index t = (a, i, j) runs over A channels × RI × SJ filter taps.
///   A[pos, t] = src[base(pos) + off(t)]   (a gather from a zero-padded source, so no bounds checks)
///     base(n, oy, ox) = n·SrcN + (oy·SrcStride + Y0)·SrcRow + ox·SrcStride + X0
///     off(a, i, j)    = a·SrcA + Dir·(i·SrcRow + j)
///   B is stored (T, MPad), columns past M zero.
///   out index(n, oy, ox, m) = n·OutN + m·OutM + (oy·OutSy + OutY0)·OutRow + ox·OutSx + OutX0.
/// Version 2 sums one slice [T0, T) of the reduction per launch (slices in order, the first writing, the
/// rest adding), so the slice of B its work-items share stays in a core's cache.
/// Forward: src = X padded, a = c, (i, j) = (r, s), Dir = +1, B[(c,r,s), k] = Wt[k,c,r,s], out = Y.
/// Backward-input, one stride-parity class (ph, pw) of dX at a time: src = dY padded, a = k,
/// r = rc + stride·i, s = sc + stride·j, Dir = −1, B[(k,i,j), c] = Wt[k,c,r,s], out = dX[.., stride·oy + ph, stride·ox + pw].
/// </summary>
public struct Conv2dGemm
{
    public int Positions, OH, OW;                 // Positions = N·OH·OW
    public int M, MPad, T, RI, SJ;                // T = A·RI·SJ
    public int T0, Off0, I0, J0;                  // version 2 sums t over [T0, T) only: off(t), i, j at T0
    public int SrcN, SrcA, SrcRow, SrcStride, Y0, X0, Dir;
    public int OutN, OutM, OutRow, OutSy, OutY0, OutSx, OutX0;
    public int Accumulate;                        // 0: out = Σ, 1: out += Σ
}

/// <summary>
/// The weight gradient as a GEMM reduced over positions: dWt[k, crs] (+)= Σ_pos dYᵀ[pos, k]·X̃[pos, crs],
/// with dYᵀ stored (N·P·Q, KPad) (columns past K zero) and X̃[pos, crs] = src[base(pos) + tap(crs)]
/// gathered from the zero-padded input (N, C, SrcH, SrcRow):
///   base(n, p, q) = n·SrcN + p·Stride·SrcRow + q·Stride,  tap(c, r, s) = c·SrcA + r·SrcRow + s.
/// The positions are cut into Chunks of ChunkLength; chunk z writes out[z·OutChunk + k·CRS + crs]
/// (partials, summed in order afterwards) or, with one chunk, adds into dWt directly.
/// </summary>
public struct Conv2dWeightGemm
{
    public int Positions, P, Q, Stride;           // Positions = N·P·Q
    public int K, KPad, CRS, RS, S;               // CRS = C·R·S, RS = R·S
    public int SrcN, SrcA, SrcRow;
    public int ChunkLength, Chunks, OutChunk, Accumulate;
}

/// <summary>
/// Version 3's GEMM, for narrow layers: the 64-wide direction is 64 output positions read as one run of
/// a stride-1 source row (64 contiguous values), the broadcast direction 2 channels (2 weights). The
/// positions of image n are numbered v = oy·VRow + ox with ox running over the whole source row
/// (VRow ≥ OW), in VBlocks runs of 64; positions with ox ≥ OW or oy ≥ OH are computed and dropped.
///   A[(n, v), t] = src[n·SrcN + Base0 + v + off(t)],  off(a, i, j) = a·SrcA + Dir·(i·VRow + j)
///   B is stored (MPad, T) (each channel's T weights in a row), the output index is as in
///   <see cref="Conv2dGemm"/> with (oy, ox) = (v div VRow, v mod VRow).
/// The source is long enough (zero tail) for the dropped positions to read inside it.
/// </summary>
public struct Conv2dRowGemm
{
    public int N, OH, OW, VRow, VBlocks;
    public int M, MPad, T, RI, SJ;                // T = A·RI·SJ
    public int SrcN, SrcA, Base0, Dir;
    public int OutN, OutM, OutRow, OutSy, OutY0, OutSx, OutX0;
    public int Accumulate;                        // 0: out = Σ, 1: out += Σ
}

/// <summary>
/// Version 3's weight gradient: dWt[k, tap] (+)= Σ_{n,v} dYv[n, k, v] · src[n·SrcN + v + tapOffset(tap)], with dY
/// laid out in rows of the source's row length VRow (zero at dropped positions), dYv (N, K, VBlocks·64) with
/// DyN = K·DyK, DyK = VBlocks·64; the input is split into Stride × Stride parity planes of PlaneSize:
///   tapOffset(c, r, s) = c·SrcA + ((r mod st)·st + s mod st)·PlaneSize + (r div st)·VRow + s div st.
/// The runs of 64 positions, N·VBlocks in all, are cut into Chunks of ChunkBlocks runs; chunk z writes 8
/// partial sums out[z, k, tap, 0..7], which <see cref="Conv2dKernels.Conv2dSumPartialsKernel"/> adds into dWt in order.
/// </summary>
public struct Conv2dRowWeightGemm
{
    public int N, VBlocks, VRow, Stride, PlaneSize;
    public int K, CRS, RS, S;                     // CRS = C·R·S, RS = R·S
    public int SrcN, SrcA, DyN, DyK;
    public int ChunkBlocks, Chunks;
}

/// <summary>
/// Conv2d without bias, NCHW (legend: N batch, C in-channels, K out-channels, H W input size,
/// R S filter size, P Q output size).
///   Forward:         Y[n,k,p,q]  = Σ_{c,r,s} X[n,c,p·st+r−pad, q·st+s−pad] · Wt[k,c,r,s]
///   Backward input:  dX[n,c,h,w] = Σ_{k,r,s} dY[n,k,p,q] · Wt[k,c,r,s]  over p·st+r−pad = h, q·st+s−pad = w
///   Backward weight: dWt[k,c,r,s] = Σ_{n,p,q} dY[n,k,p,q] · X[n,c,p·st+r−pad, q·st+s−pad]
/// Positions outside the input are the zero padding. Backward kernels accumulate (+=).
///
/// Versions (each for all three passes):
///  1. naive: one output element per thread, grid-stride; the oracle.
///  2. implicit GEMM, register-blocked for CPU-like OpenCL devices (PoCL): each work-item owns
///     64 consecutive channels × 2 positions (128 scalar accumulators, straight-line updates that
///     PoCL vectorises), no shared memory. Suits 64 channels and more.
///  3. implicit GEMM, register-blocked the other way round for narrow layers (16–48 channels) and long
///     rows: each work-item owns 2 channels × 64 consecutive positions of one source row (the source
///     is padded and, for stride 2, split into parity planes, so every tap reads 64 contiguous values;
///     the few positions past a row's end are computed and dropped). Its weight gradient keeps
///     4 k × 4 taps × 8 lanes, stepping 8 positions at a time, and sums the lanes afterwards.
///  4. implicit GEMM with shared-memory tiles for GPUs: 64×64 outputs per group of 16×16 threads,
///     4×4 per thread, 16-deep strips of both operands staged in shared memory.
///  5. implicit GEMM on TF32 tensor cores (mma.sync m16n8k8, CUDA compute capability 8.0 and newer;
///     an exact emulation of the instruction elsewhere, see <see cref="TensorCore"/>): 64×64 outputs
///     per group of 128 threads (4 warps × 32×32), operands rounded to TF32 as they are staged,
///     16-deep strips double-buffered in shared memory; the operands of version 4.
///  6. implicit GEMM on FP32 CUDA cores (full FP32, no tensor cores): 128×128 outputs per group of
///     16×16 threads, 8×8 per thread read as float4s from k-major shared tiles (4 128-bit shared loads
///     per 64 FMAs), 8-deep strips double-buffered through registers (one barrier per strip), the
///     gathers' offsets read from tables made on the host once per geometry (no division in the loop).
///     Same operands as version 4, columns padded to 128 (kernels/Conv2d.Fp32.Generated.cs).
/// Versions 2–4 read operands prepared by the small kernels below (O(input + weights) work against
/// the convolution's O(input·K·R·S), one row per thread): a zero-padded copy of the gathered source,
/// so the inner loops need no bounds checks, and the weights (or dY for the weight gradient)
/// rearranged so the block's wide direction is contiguous in memory, padded with zeros to whole
/// blocks. The forward and the backward to the input are the same GEMM (<see cref="Conv2dGemm"/>,
/// <see cref="Conv2dRowGemm"/>): the backward is a stride-1 convolution of the padded dY with the
/// flipped, transposed weights, done separately for each stride-parity class of dX positions (for
/// stride 2: (h mod 2, w mod 2)), each class with its own filter taps and no zero work. The weight
/// gradient (<see cref="Conv2dWeightGemm"/>, <see cref="Conv2dRowWeightGemm"/>) reduces over N·P·Q
/// positions in chunks whose partial sums are added in a fixed order (deterministic, no atomics).
///
/// What PoCL (LLVM's SLP vectoriser) needs to turn a register block into vector code, found by
/// reading its assembly: each accumulator row of 64 must multiply one broadcast value by 64
/// contiguous loads, or two contiguous runs (8 or 16 different broadcast values across a row, as in
/// 16×8 blocks, stay scalar); the accumulators' loop phis are ordered by their first use after the
/// loop, and must come in lane order (stores row by row, not interleaved); a row length computed in
/// the kernel as a multiple of a constant lets LLVM rewrite row + 1 as row | 1, which hides the
/// contiguity, so row lengths come from the host; a horizontal sum after the loop leaves it 2 wide.
/// </summary>
public static partial class Conv2dKernels
{
    /// <summary>Version 4 tile: 64×64 outputs per group of 16×16 threads, reduction strips of 16.</summary>
    public const int Tile = 64, TileK = 16, TileThreads = 16;

    /// <summary>
    /// Version 5 tile: 64×64 outputs per group of 128 threads (4 warps, each 32×32 = 2 × 4 tensor-core
    /// tiles of 16×8), reduction strips of 16 double-buffered in shared memory, rows of 72 floats
    /// (72 ≡ 8 mod 32: fragment loads without bank conflicts).
    /// </summary>
    public const int TcTile = 64, TcStrip = 16, TcThreads = 128, TcRow = TcTile + 8;
    /// <summary>Version 6 tile: 128×128 outputs per group of 16×16 threads (8×8 each), reduction strips of 8.</summary>
    public const int Tile6 = 128, TileK6 = 8, TileThreads6 = 16;

    /// <summary>Channels per work-item: 64 in version 2, 2 in version 3 (whose 64-wide direction is positions).</summary>
    public const int Block2 = 64, Block3 = 2, Run3 = 64;

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

    // ---- operand preparation for versions 2–4 -------------------------------------------------

    /// <summary>
    /// Zero-padded copy split into stride × stride parity planes, with a zero tail:
    /// dst[pl, ph, pw, y', x'] = src[pl, st·y' + ph − top, st·x' + pw − left] where that lies inside the
    /// (H, W) plane, else 0; dst[i] = 0 for planes·st²·Hq·Wq ≤ i &lt; total. With st = 1 a plain zero-padded
    /// copy. Used for X (forward, weight gradient) and for dY (backward-input). One destination row
    /// per thread (no divisions per element: index arithmetic would cost more than the copy).
    /// </summary>
    public static void Conv2dPadKernel(
        ArrayView<float> src,   // (planes, H, W)
        ArrayView<float> dst,   // (planes, st, st, Hq, Wq) then a zero tail: length total
        int planes, int h, int w, int hq, int wq, int top, int left, int st, int total)
    {
        int rows = planes * st * st * hq, used = rows * wq;
        for (int row = GridStride.Start; row < rows; row += GridStride.Step)
        {
            int y = row % hq;
            int rest = row / hq;
            int phase = rest % (st * st);
            int plane = rest / (st * st);
            int ph = phase / st;
            int sy = st * y + ph - top, sx = phase - ph * st - left;
            int d = row * wq;
            if (sy < 0 || sy >= h)
            {
                for (int x = 0; x < wq; x++)
                    dst[d + x] = 0f;
                continue;
            }
            int s = (plane * h + sy) * w;
            for (int x = 0; x < wq; x++, sx += st)
                dst[d + x] = sx >= 0 && sx < w ? src[s + sx] : 0f;
        }
        for (int i = used + GridStride.Start; i < total; i += GridStride.Step)
            dst[i] = 0f;
    }

    /// <summary>Forward GEMM operand: b[(c,r,s), k] = Wt[k, c, r, s] for k &lt; K, 0 for K ≤ k &lt; MPad. One row of b per thread.</summary>
    public static void Conv2dForwardWeightsKernel(
        ArrayView<float> wt,    // (K, C·R·S)
        ArrayView<float> b,     // (C·R·S, MPad)
        int k, int crs, int mPad)
    {
        for (int t = GridStride.Start; t < crs; t += GridStride.Step)
            for (int kk = 0; kk < mPad; kk++)
                b[t * mPad + kk] = kk < k ? wt[kk * crs + t] : 0f;
    }

    /// <summary>
    /// GEMM operand of the filter taps r = rc + st·i, s = sc + st·j (i &lt; RI, j &lt; SJ) of one parity class,
    /// B[t, m] with t = (a, i, j), zero for columns m past the channel count:
    /// backward-input (forward = 0): B[(k,i,j), c] = Wt[k, c, rc + st·i, sc + st·j];
    /// forward (forward = 1):        B[(c,i,j), k] = Wt[k, c, rc + st·i, sc + st·j].
    /// Stored (T, MPad) (byColumn = 0, versions 2 and 4) or (MPad, T) (byColumn = 1, version 3).
    /// </summary>
    public static void Conv2dClassWeightsKernel(
        ArrayView<float> wt,    // (K, C, R, S)
        ArrayView<float> b,     // (T, MPad) or (MPad, T), T = A·RI·SJ with A = K (backward-input) or C (forward)
        Conv2dShape g, int rc, int sc, int ri, int sj, int mPad, int forward, int byColumn)
    {
        int reduced = forward != 0 ? g.C : g.K, columns = forward != 0 ? g.K : g.C;
        int t1 = reduced * ri * sj;
        // Strides of Wt along a (the reduced channel), i, j and m (the column channel).
        int aStride = forward != 0 ? g.R * g.S : g.C * g.R * g.S;
        int mStride = forward != 0 ? g.C * g.R * g.S : g.R * g.S;
        int iStride = g.Stride * g.S, jStride = g.Stride, first = rc * g.S + sc;
        if (byColumn != 0)
        {
            // One row m of b (all taps t in order) per thread.
            for (int m = GridStride.Start; m < mPad; m += GridStride.Step)
            {
                int o = m * t1;
                if (m >= columns)
                {
                    for (int t = 0; t < t1; t++)
                        b[o + t] = 0f;
                    continue;
                }
                int t2 = 0;
                for (int a = 0; a < reduced; a++)
                    for (int i = 0; i < ri; i++)
                        for (int j = 0; j < sj; j++)
                            b[o + t2++] = wt[m * mStride + a * aStride + first + i * iStride + j * jStride];
            }
            return;
        }
        // One row t = (a, i, j) of b (all columns m) per thread.
        for (int t = GridStride.Start; t < t1; t += GridStride.Step)
        {
            int j = t % sj;
            int i = (t / sj) % ri;
            int a = t / (sj * ri);
            int w0 = a * aStride + first + i * iStride + j * jStride;
            for (int m = 0; m < mPad; m++)
                b[t * mPad + m] = m < columns ? wt[w0 + m * mStride] : 0f;
        }
    }

    /// <summary>
    /// Version 3's dY for the weight gradient: rows re-laid to the source's row length, planes to a whole
    /// number of 64-position runs, zeros where there is no dY (rows past H, columns past W, the tail):
    /// dst[pl, v] = src[pl, v div rowLength, v mod rowLength]. One (plane, row) per thread.
    /// </summary>
    public static void Conv2dRowLayoutKernel(
        ArrayView<float> src,   // (planes, H, W)
        ArrayView<float> dst,   // (planes, planeLength)
        int planes, int h, int w, int rowLength, int planeLength)
    {
        int rows = (planeLength + rowLength - 1) / rowLength;
        int total = planes * rows;
        for (int idx = GridStride.Start; idx < total; idx += GridStride.Step)
        {
            int plane = idx / rows;
            int y = idx - plane * rows;
            int d = plane * planeLength + y * rowLength;
            int n = planeLength - y * rowLength < rowLength ? planeLength - y * rowLength : rowLength;
            int s = (plane * h + y) * w;
            for (int x = 0; x < n; x++)
                dst[d + x] = y < h && x < w ? src[s + x] : 0f;
        }
    }

    /// <summary>Weight-gradient GEMM operand: dYᵀ[(n,p,q), k] = dY[n, k, p, q] for k &lt; K, 0 for K ≤ k &lt; KPad. One output row per thread.</summary>
    public static void Conv2dTransposeOutputGradKernel(
        ArrayView<float> dY,    // (N, K, P, Q)
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        int n, int k, int p, int q, int kPad)
    {
        // One output row (n, y) per thread: its Q positions × KPad channels.
        int rows = n * p;
        for (int row = GridStride.Start; row < rows; row += GridStride.Step)
        {
            int nn = row / p;
            int y = row - nn * p;
            int d = row * q * kPad;
            for (int kk = 0; kk < kPad; kk++)
            {
                int s = ((nn * k + kk) * p + y) * q;
                for (int x = 0; x < q; x++)
                    dyT[d + x * kPad + kk] = kk < k ? dY[s + x] : 0f;
            }
        }
    }

    /// <summary>dWt[i] += Σ_z Σ_l partial[z, i, l] for z = 0 … chunks − 1, l = 0 … lanes − 1 in that order (deterministic).</summary>
    public static void Conv2dSumPartialsKernel(
        ArrayView<float> partial,   // (chunks, len, lanes)
        ArrayView<float> dWt,       // (len), accumulated into
        int chunks, int len, int lanes)
    {
        for (int i = GridStride.Start; i < len; i += GridStride.Step)
        {
            float acc = 0f;
            for (int z = 0; z < chunks; z++)
                for (int l = 0; l < lanes; l++)
                    acc += partial[(z * len + i) * lanes + l];
            dWt[i] += acc;
        }
    }

    // ---- versions 2–4: entry points (the forward and the backward-input are one GEMM) --------

    /// <summary>Version 2 forward: Y = the <see cref="Conv2dGemm"/> of padded X and Wtᵀ, 64 channels × 2 positions per work-item.</summary>
    public static void Conv2dForwardKernel2(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> b,     // (C·R·S, MPad)
        ArrayView<float> y,     // (N, K, P, Q)
        Conv2dGemm g) => GatherGemmBlock(xPad, b, y, g);

    /// <summary>Version 2 backward-input: dX += the <see cref="Conv2dGemm"/> of padded dY and one parity class of flipped Wt.</summary>
    public static void Conv2dBackwardInputKernel2(
        ArrayView<float> dYPad, // (N, K, Pp, Qp)
        ArrayView<float> b,     // (K·RI·SJ, MPad)
        ArrayView<float> dX,    // (N, C, H, W), accumulated into
        Conv2dGemm g) => GatherGemmBlock(dYPad, b, dX, g);

    /// <summary>Version 2 backward-weight: dWt (or chunk partials) = <see cref="Conv2dWeightGemm"/>, 64 k × 2 taps per work-item.</summary>
    public static void Conv2dBackwardWeightKernel2(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C, R, S) dWt accumulated into
        Conv2dWeightGemm g) => WeightGradBlock(xPad, dyT, dst, g);

    /// <summary>Version 3 forward: the <see cref="Conv2dRowGemm"/> of one parity class of padded X, 2 channels × 64 positions per work-item.</summary>
    public static void Conv2dForwardKernel3(
        ArrayView<float> xPlanes,   // (N, C, st, st, Hq, Wq) and a zero tail
        ArrayView<float> b,         // (MPad, C·RI·SJ)
        ArrayView<float> y,         // (N, K, P, Q)
        Conv2dRowGemm g) => RowGemmBlock(xPlanes, b, y, g);

    /// <summary>Version 3 backward-input: dX += the <see cref="Conv2dRowGemm"/> of padded dY and one parity class of flipped Wt.</summary>
    public static void Conv2dBackwardInputKernel3(
        ArrayView<float> dYPad,     // (N, K, Pp, Qp) and a zero tail
        ArrayView<float> b,         // (MPad, K·RI·SJ)
        ArrayView<float> dX,        // (N, C, H, W), accumulated into
        Conv2dRowGemm g) => RowGemmBlock(dYPad, b, dX, g);

    /// <summary>Version 3 backward-weight: <see cref="Conv2dRowWeightGemm"/>, 4 k × 4 taps × 8 lanes per work-item, the lanes stored as partial sums.</summary>
    public static void Conv2dBackwardWeightKernel3(
        ArrayView<float> xPlanes,   // (N, C, st, st, Hq, Wq) and a zero tail
        ArrayView<float> dYRows,    // (N, K, VBlocks·64)
        ArrayView<float> dst,       // (Chunks, K, C·R·S, 8) partial sums
        Conv2dRowWeightGemm g) => RowWeightGradBlock(xPlanes, dYRows, dst, g);

    /// <summary>Version 4 forward (GPU): shared-memory tiles; launch groups of 16×16 over (⌈positions/64⌉, MPad/64).</summary>
    public static void Conv2dForwardKernel4(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> b,     // (C·R·S, MPad)
        ArrayView<float> y,     // (N, K, P, Q)
        Conv2dGemm g) => GatherGemmTiled(xPad, b, y, g);

    /// <summary>Version 4 backward-input (GPU): shared-memory tiles, one parity class per launch.</summary>
    public static void Conv2dBackwardInputKernel4(
        ArrayView<float> dYPad, // (N, K, Pp, Qp)
        ArrayView<float> b,     // (K·RI·SJ, MPad)
        ArrayView<float> dX,    // (N, C, H, W), accumulated into
        Conv2dGemm g) => GatherGemmTiled(dYPad, b, dX, g);

    /// <summary>Version 4 backward-weight (GPU): shared-memory tiles over (⌈CRS/64⌉, KPad/64, chunks) groups of 16×16.</summary>
    public static void Conv2dBackwardWeightKernel4(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C, R, S) dWt accumulated into
        Conv2dWeightGemm g) => WeightGradTiled(xPad, dyT, dst, g);

    /// <summary>Version 5 forward (CUDA: TF32 tensor cores; elsewhere their emulation): groups of 128 over (⌈positions/64⌉, MPad/64).</summary>
    [RequiresComputeCapability(8, 0)]
    public static void Conv2dForwardKernel5(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> b,     // (C·R·S, MPad)
        ArrayView<float> y,     // (N, K, P, Q)
        Conv2dGemm g) => GatherGemmTensorCore(xPad, b, y, g);

    /// <summary>Version 5 backward-input (TF32 tensor cores): one parity class per launch, as version 4.</summary>
    [RequiresComputeCapability(8, 0)]
    public static void Conv2dBackwardInputKernel5(
        ArrayView<float> dYPad, // (N, K, Pp, Qp)
        ArrayView<float> b,     // (K·RI·SJ, MPad)
        ArrayView<float> dX,    // (N, C, H, W), accumulated into
        Conv2dGemm g) => GatherGemmTensorCore(dYPad, b, dX, g);

    /// <summary>Version 5 backward-weight (TF32 tensor cores): groups of 128 over (⌈CRS/64⌉, KPad/64, chunks).</summary>
    [RequiresComputeCapability(8, 0)]
    public static void Conv2dBackwardWeightKernel5(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C, R, S) dWt accumulated into
        Conv2dWeightGemm g) => WeightGradTensorCore(xPad, dyT, dst, g);
    /// <summary>
    /// Version 6 forward (FP32 CUDA cores): Y[n,k,p,q] = Σ_t A[pos, t]·B[t, k], the <see cref="Conv2dGemm"/> of padded X
    /// (A[pos, t] = xPad[base(pos) + off(t)], t = (c, r, s)) and B[(c,r,s), k] = Wt[k,c,r,s]; launch groups of 16×16
    /// over (⌈positions/128⌉, MPad/128).
    /// </summary>
    public static void Conv2dForwardKernel6(
        ArrayView<float> xPad,     // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> b,        // (C·R·S, MPad)
        ArrayView<int> offsets,    // (C·R·S): off(c, r, s) = c·SrcA + r·SrcRow + s
        ArrayView<float> y,        // (N, K, P, Q)
        Conv2dGemm g) => GatherGemmTiled6(xPad, b, offsets, y, g);

    /// <summary>
    /// Version 6 backward-input (FP32 CUDA cores), one stride-parity class of dX per launch:
    /// dX[n, c, st·oy + ph, st·ox + pw] += Σ_{k,i,j} dY[n, k, oy + Eh − i, ox + Ew − j]·Wt[k, c, rc + st·i, sc + st·j] (dY zero
    /// outside), the <see cref="Conv2dGemm"/> of padded dY and the class's flipped weights; groups of 16×16 over (⌈positions/128⌉, MPad/128).
    /// </summary>
    public static void Conv2dBackwardInputKernel6(
        ArrayView<float> dYPad,    // (N, K, Pp, Qp)
        ArrayView<float> b,        // (K·RI·SJ, MPad)
        ArrayView<int> offsets,    // (K·RI·SJ): off(k, i, j) = k·SrcA − (i·SrcRow + j)
        ArrayView<float> dX,       // (N, C, H, W), accumulated into
        Conv2dGemm g) => GatherGemmTiled6(dYPad, b, offsets, dX, g);

    /// <summary>
    /// Version 6 backward-weight (FP32 CUDA cores): dWt[k,c,r,s] (+)= Σ_{n,p,q} dY[n,k,p,q]·X[n,c,p·st+r−pad, q·st+s−pad],
    /// the <see cref="Conv2dWeightGemm"/> of dYᵀ and the gathered padded X (xPad[base(pos) + tap(crs)]), chunk z of the
    /// positions per group z; groups of 16×16 over (⌈CRS/128⌉, KPad/128, chunks).
    /// </summary>
    public static void Conv2dBackwardWeightKernel6(
        ArrayView<float> xPad,     // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> dyT,      // (N·P·Q, KPad)
        ArrayView<int> bases,      // (N·P·Q): base(n, p, q) = n·SrcN + p·st·SrcRow + q·st
        ArrayView<float> dst,      // (Chunks, K, C·R·S) partials, or (K, C, R, S) dWt accumulated into
        Conv2dWeightGemm g) => WeightGradTiled6(xPad, dyT, bases, dst, g);

    // ---- shared helpers ------------------------------------------------------------------------

    /// <summary>base(pos) of <see cref="Conv2dGemm"/>: where position (n, oy, ox) starts gathering in src.</summary>
    static int SourceBase(Conv2dGemm g, int pos)
    {
        int ohw = g.OH * g.OW;
        int n = pos / ohw;
        int rest = pos - n * ohw;
        int oy = rest / g.OW;
        int ox = rest - oy * g.OW;
        return n * g.SrcN + (oy * g.SrcStride + g.Y0) * g.SrcRow + ox * g.SrcStride + g.X0;
    }

    /// <summary>Index of output position (n, oy, ox) at column m = 0 of <see cref="Conv2dGemm"/>.</summary>
    static int OutputBase(Conv2dGemm g, int pos)
    {
        int ohw = g.OH * g.OW;
        int n = pos / ohw;
        int rest = pos - n * ohw;
        int oy = rest / g.OW;
        int ox = rest - oy * g.OW;
        return n * g.OutN + (oy * g.OutSy + g.OutY0) * g.OutRow + ox * g.OutSx + g.OutX0;
    }

    /// <summary>tap(crs) of <see cref="Conv2dWeightGemm"/>: offset of filter tap (c, r, s) in the padded input.</summary>
    static int Tap(Conv2dWeightGemm g, int crs)
    {
        int c = crs / g.RS;
        int rs = crs - c * g.RS;
        int r = rs / g.S;
        return c * g.SrcA + r * g.SrcRow + rs - r * g.S;
    }

    /// <summary>tapOffset(crs) of <see cref="Conv2dRowWeightGemm"/>: offset of filter tap (c, r, s) in the parity planes.</summary>
    static int RowTap(Conv2dRowWeightGemm g, int crs)
    {
        int c = crs / g.RS;
        int rs = crs - c * g.RS;
        int r = rs / g.S;
        int s = rs - r * g.S;
        int rq = r / g.Stride, sq = s / g.Stride;
        return c * g.SrcA + ((r - rq * g.Stride) * g.Stride + s - sq * g.Stride) * g.PlaneSize + rq * g.VRow + sq;
    }

    /// <summary>dst[index] = value, or += value when accumulating; nothing outside the tensor.</summary>
    static void Put(ArrayView<float> dst, int index, float value, bool inside, int accumulate)
    {
        if (inside)
            dst[index] = accumulate != 0 ? dst[index] + value : value;
    }

    // ---- register blocks and tiles, unrolled (ILGPU unrolls nothing) ----------------------------
    // GatherGemmBlock, WeightGradBlock and RowWeightGradBlock are written by tools/KernelGen into Conv2d.Generated.cs (`dotnet run --project tools/KernelGen`),
    // version 6's GatherGemmTiled6 and WeightGradTiled6 into Conv2d.Fp32.Generated.cs;
    // the regions below are still unrolled by hand (not yet generated).

    #region hand-unrolled RowGemmBlock
    /// <summary>
    /// <see cref="Conv2dRowGemm"/> with a 2×64 register block per work-item: 2 consecutive channels m ×
    /// a run of 64 positions v; each reduction step multiplies 2 weights by 64 contiguous source values
    /// (straight-line code PoCL vectorises, as in GatherGemmBlock with the roles of A and B swapped).
    /// Blocks are numbered run-major, so neighbouring work-items (all channel pairs of one run) read the
    /// same source rows while they are in cache.
    /// </summary>
    static void RowGemmBlock(
        ArrayView<float> src,   // padded source with a zero tail (see Conv2dRowGemm)
        ArrayView<float> bmat,  // (MPad, T)
        ArrayView<float> dst,   // output, scattered (see Conv2dRowGemm)
        Conv2dRowGemm g)
    {
        int runs = g.N * g.VBlocks;
        int pairs = g.MPad / 2, blocks = runs * pairs;
        int rowJump = g.Dir * (g.VRow - g.SJ), chanJump = g.SrcA - g.Dir * g.RI * g.VRow;
        int om = g.OutM, rowStep = g.OutSy * g.OutRow, colStep = g.OutSx;
        for (int blk = GridStride.Start; blk < blocks; blk += GridStride.Step)
        {
            int run = blk / pairs;
            int mb = blk - run * pairs;
            int n = run / g.VBlocks;
            int v0 = (run - n * g.VBlocks) * 64, m0 = mb * 2;
            int sb = n * g.SrcN + g.Base0 + v0;
            float c0_0 = 0f, c0_1 = 0f, c0_2 = 0f, c0_3 = 0f, c0_4 = 0f, c0_5 = 0f, c0_6 = 0f, c0_7 = 0f, c0_8 = 0f, c0_9 = 0f, c0_10 = 0f, c0_11 = 0f, c0_12 = 0f, c0_13 = 0f, c0_14 = 0f, c0_15 = 0f, c0_16 = 0f, c0_17 = 0f, c0_18 = 0f, c0_19 = 0f, c0_20 = 0f, c0_21 = 0f, c0_22 = 0f, c0_23 = 0f, c0_24 = 0f, c0_25 = 0f, c0_26 = 0f, c0_27 = 0f, c0_28 = 0f, c0_29 = 0f, c0_30 = 0f, c0_31 = 0f, c0_32 = 0f, c0_33 = 0f, c0_34 = 0f, c0_35 = 0f, c0_36 = 0f, c0_37 = 0f, c0_38 = 0f, c0_39 = 0f, c0_40 = 0f, c0_41 = 0f, c0_42 = 0f, c0_43 = 0f, c0_44 = 0f, c0_45 = 0f, c0_46 = 0f, c0_47 = 0f, c0_48 = 0f, c0_49 = 0f, c0_50 = 0f, c0_51 = 0f, c0_52 = 0f, c0_53 = 0f, c0_54 = 0f, c0_55 = 0f, c0_56 = 0f, c0_57 = 0f, c0_58 = 0f, c0_59 = 0f, c0_60 = 0f, c0_61 = 0f, c0_62 = 0f, c0_63 = 0f;
            float c1_0 = 0f, c1_1 = 0f, c1_2 = 0f, c1_3 = 0f, c1_4 = 0f, c1_5 = 0f, c1_6 = 0f, c1_7 = 0f, c1_8 = 0f, c1_9 = 0f, c1_10 = 0f, c1_11 = 0f, c1_12 = 0f, c1_13 = 0f, c1_14 = 0f, c1_15 = 0f, c1_16 = 0f, c1_17 = 0f, c1_18 = 0f, c1_19 = 0f, c1_20 = 0f, c1_21 = 0f, c1_22 = 0f, c1_23 = 0f, c1_24 = 0f, c1_25 = 0f, c1_26 = 0f, c1_27 = 0f, c1_28 = 0f, c1_29 = 0f, c1_30 = 0f, c1_31 = 0f, c1_32 = 0f, c1_33 = 0f, c1_34 = 0f, c1_35 = 0f, c1_36 = 0f, c1_37 = 0f, c1_38 = 0f, c1_39 = 0f, c1_40 = 0f, c1_41 = 0f, c1_42 = 0f, c1_43 = 0f, c1_44 = 0f, c1_45 = 0f, c1_46 = 0f, c1_47 = 0f, c1_48 = 0f, c1_49 = 0f, c1_50 = 0f, c1_51 = 0f, c1_52 = 0f, c1_53 = 0f, c1_54 = 0f, c1_55 = 0f, c1_56 = 0f, c1_57 = 0f, c1_58 = 0f, c1_59 = 0f, c1_60 = 0f, c1_61 = 0f, c1_62 = 0f, c1_63 = 0f;
            int off = 0, i = 0, j = 0, row = m0 * g.T;
            for (int t = 0; t < g.T; t++)
            {
                float a0 = bmat[row], a1 = bmat[row + g.T];   // weights of channels m0, m0 + 1: rows of B, not neighbours
                int x = sb + off;
                float bv;
                bv = src[x + 0]; c0_0 += a0 * bv; c1_0 += a1 * bv;
                bv = src[x + 1]; c0_1 += a0 * bv; c1_1 += a1 * bv;
                bv = src[x + 2]; c0_2 += a0 * bv; c1_2 += a1 * bv;
                bv = src[x + 3]; c0_3 += a0 * bv; c1_3 += a1 * bv;
                bv = src[x + 4]; c0_4 += a0 * bv; c1_4 += a1 * bv;
                bv = src[x + 5]; c0_5 += a0 * bv; c1_5 += a1 * bv;
                bv = src[x + 6]; c0_6 += a0 * bv; c1_6 += a1 * bv;
                bv = src[x + 7]; c0_7 += a0 * bv; c1_7 += a1 * bv;
                bv = src[x + 8]; c0_8 += a0 * bv; c1_8 += a1 * bv;
                bv = src[x + 9]; c0_9 += a0 * bv; c1_9 += a1 * bv;
                bv = src[x + 10]; c0_10 += a0 * bv; c1_10 += a1 * bv;
                bv = src[x + 11]; c0_11 += a0 * bv; c1_11 += a1 * bv;
                bv = src[x + 12]; c0_12 += a0 * bv; c1_12 += a1 * bv;
                bv = src[x + 13]; c0_13 += a0 * bv; c1_13 += a1 * bv;
                bv = src[x + 14]; c0_14 += a0 * bv; c1_14 += a1 * bv;
                bv = src[x + 15]; c0_15 += a0 * bv; c1_15 += a1 * bv;
                bv = src[x + 16]; c0_16 += a0 * bv; c1_16 += a1 * bv;
                bv = src[x + 17]; c0_17 += a0 * bv; c1_17 += a1 * bv;
                bv = src[x + 18]; c0_18 += a0 * bv; c1_18 += a1 * bv;
                bv = src[x + 19]; c0_19 += a0 * bv; c1_19 += a1 * bv;
                bv = src[x + 20]; c0_20 += a0 * bv; c1_20 += a1 * bv;
                bv = src[x + 21]; c0_21 += a0 * bv; c1_21 += a1 * bv;
                bv = src[x + 22]; c0_22 += a0 * bv; c1_22 += a1 * bv;
                bv = src[x + 23]; c0_23 += a0 * bv; c1_23 += a1 * bv;
                bv = src[x + 24]; c0_24 += a0 * bv; c1_24 += a1 * bv;
                bv = src[x + 25]; c0_25 += a0 * bv; c1_25 += a1 * bv;
                bv = src[x + 26]; c0_26 += a0 * bv; c1_26 += a1 * bv;
                bv = src[x + 27]; c0_27 += a0 * bv; c1_27 += a1 * bv;
                bv = src[x + 28]; c0_28 += a0 * bv; c1_28 += a1 * bv;
                bv = src[x + 29]; c0_29 += a0 * bv; c1_29 += a1 * bv;
                bv = src[x + 30]; c0_30 += a0 * bv; c1_30 += a1 * bv;
                bv = src[x + 31]; c0_31 += a0 * bv; c1_31 += a1 * bv;
                bv = src[x + 32]; c0_32 += a0 * bv; c1_32 += a1 * bv;
                bv = src[x + 33]; c0_33 += a0 * bv; c1_33 += a1 * bv;
                bv = src[x + 34]; c0_34 += a0 * bv; c1_34 += a1 * bv;
                bv = src[x + 35]; c0_35 += a0 * bv; c1_35 += a1 * bv;
                bv = src[x + 36]; c0_36 += a0 * bv; c1_36 += a1 * bv;
                bv = src[x + 37]; c0_37 += a0 * bv; c1_37 += a1 * bv;
                bv = src[x + 38]; c0_38 += a0 * bv; c1_38 += a1 * bv;
                bv = src[x + 39]; c0_39 += a0 * bv; c1_39 += a1 * bv;
                bv = src[x + 40]; c0_40 += a0 * bv; c1_40 += a1 * bv;
                bv = src[x + 41]; c0_41 += a0 * bv; c1_41 += a1 * bv;
                bv = src[x + 42]; c0_42 += a0 * bv; c1_42 += a1 * bv;
                bv = src[x + 43]; c0_43 += a0 * bv; c1_43 += a1 * bv;
                bv = src[x + 44]; c0_44 += a0 * bv; c1_44 += a1 * bv;
                bv = src[x + 45]; c0_45 += a0 * bv; c1_45 += a1 * bv;
                bv = src[x + 46]; c0_46 += a0 * bv; c1_46 += a1 * bv;
                bv = src[x + 47]; c0_47 += a0 * bv; c1_47 += a1 * bv;
                bv = src[x + 48]; c0_48 += a0 * bv; c1_48 += a1 * bv;
                bv = src[x + 49]; c0_49 += a0 * bv; c1_49 += a1 * bv;
                bv = src[x + 50]; c0_50 += a0 * bv; c1_50 += a1 * bv;
                bv = src[x + 51]; c0_51 += a0 * bv; c1_51 += a1 * bv;
                bv = src[x + 52]; c0_52 += a0 * bv; c1_52 += a1 * bv;
                bv = src[x + 53]; c0_53 += a0 * bv; c1_53 += a1 * bv;
                bv = src[x + 54]; c0_54 += a0 * bv; c1_54 += a1 * bv;
                bv = src[x + 55]; c0_55 += a0 * bv; c1_55 += a1 * bv;
                bv = src[x + 56]; c0_56 += a0 * bv; c1_56 += a1 * bv;
                bv = src[x + 57]; c0_57 += a0 * bv; c1_57 += a1 * bv;
                bv = src[x + 58]; c0_58 += a0 * bv; c1_58 += a1 * bv;
                bv = src[x + 59]; c0_59 += a0 * bv; c1_59 += a1 * bv;
                bv = src[x + 60]; c0_60 += a0 * bv; c1_60 += a1 * bv;
                bv = src[x + 61]; c0_61 += a0 * bv; c1_61 += a1 * bv;
                bv = src[x + 62]; c0_62 += a0 * bv; c1_62 += a1 * bv;
                bv = src[x + 63]; c0_63 += a0 * bv; c1_63 += a1 * bv;
                row++;
                off += g.Dir;
                if (++j == g.SJ) { j = 0; off += rowJump; if (++i == g.RI) { i = 0; off += chanJump; } }
            }
            int oy0 = v0 / g.VRow, ox0 = v0 - oy0 * g.VRow;
            int o0 = n * g.OutN + m0 * om + (oy0 * g.OutSy + g.OutY0) * g.OutRow + ox0 * colStep + g.OutX0;
            if (m0 + 0 < g.M)
            {
                int oy = oy0, ox = ox0, o = o0 + 0 * om;
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_0, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_1, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_2, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_3, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_4, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_5, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_6, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_7, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_8, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_9, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_10, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_11, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_12, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_13, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_14, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_15, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_16, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_17, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_18, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_19, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_20, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_21, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_22, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_23, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_24, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_25, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_26, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_27, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_28, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_29, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_30, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_31, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_32, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_33, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_34, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_35, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_36, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_37, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_38, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_39, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_40, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_41, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_42, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_43, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_44, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_45, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_46, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_47, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_48, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_49, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_50, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_51, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_52, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_53, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_54, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_55, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_56, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_57, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_58, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_59, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_60, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_61, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_62, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c0_63, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
            }
            if (m0 + 1 < g.M)
            {
                int oy = oy0, ox = ox0, o = o0 + 1 * om;
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_0, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_1, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_2, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_3, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_4, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_5, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_6, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_7, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_8, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_9, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_10, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_11, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_12, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_13, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_14, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_15, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_16, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_17, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_18, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_19, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_20, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_21, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_22, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_23, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_24, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_25, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_26, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_27, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_28, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_29, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_30, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_31, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_32, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_33, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_34, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_35, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_36, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_37, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_38, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_39, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_40, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_41, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_42, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_43, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_44, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_45, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_46, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_47, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_48, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_49, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_50, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_51, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_52, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_53, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_54, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_55, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_56, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_57, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_58, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_59, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_60, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_61, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_62, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
                if (ox < g.OW && oy < g.OH) Put(dst, o, c1_63, true, g.Accumulate);
                o += colStep; if (++ox == g.VRow) { ox = 0; oy++; o += rowStep - g.VRow * colStep; }
            }
        }
    }
    #endregion

    #region hand-unrolled GatherGemmTiled
    /// <summary>
    /// <see cref="Conv2dGemm"/> for GPUs: group (gx, gy) of 16×16 threads computes the 64×64 tile of
    /// columns m = 64·gy + ty + 16·r and positions 64·gx + tx + 16·s (r, s in 0..3), staging 16-deep
    /// strips of B (16 × 64) and of the gathered A (16 × 64) in shared memory. MPad must be a
    /// multiple of 64. Each thread loads the A values of one fixed position (one base offset).
    /// </summary>
    static void GatherGemmTiled(
        ArrayView<float> src,   // padded source, gathered (see Conv2dGemm)
        ArrayView<float> bmat,  // (T, MPad)
        ArrayView<float> dst,   // output, scattered (see Conv2dGemm)
        Conv2dGemm g)
    {
        var tileB = SharedMemory.Allocate<float>(TileK * Tile);   // (16, 64): B[t0 + kk, mBase + col]
        var tileA = SharedMemory.Allocate<float>(TileK * Tile);   // (16, 64): A[posBase + col, t0 + kk]
        int tx = Group.IdxX, ty = Group.IdxY, lin = ty * TileThreads + tx;
        int posBase = Grid.IdxX * Tile, mBase = Grid.IdxY * Tile;
        int col = lin & (Tile - 1), kk0 = lin / Tile;   // this thread loads rows kk0 + 4u of column col
        int last = g.Positions - 1;
        int myBase = SourceBase(g, posBase + col < last ? posBase + col : last);
        int ri = g.RI, sj = g.SJ;
        float c00 = 0f; float c01 = 0f; float c10 = 0f; float c11 = 0f; float c20 = 0f; float c21 = 0f; float c30 = 0f; float c31 = 0f;
        float c02 = 0f; float c03 = 0f; float c12 = 0f; float c13 = 0f; float c22 = 0f; float c23 = 0f; float c32 = 0f; float c33 = 0f;
        float a0, a1, a2, a3, b0, b1, b2, b3;
        for (int t0 = 0; t0 < g.T; t0 += TileK)
        {
            {
                int kk = kk0 + 0, t = t0 + kk;
                int q1 = t / sj, a = q1 / ri;
                int off = a * g.SrcA + g.Dir * ((q1 - a * ri) * g.SrcRow + t - q1 * sj);
                tileB[kk * Tile + col] = t < g.T ? bmat[t * g.MPad + mBase + col] : 0f;
                tileA[kk * Tile + col] = t < g.T ? src[myBase + off] : 0f;
            }
            {
                int kk = kk0 + 4, t = t0 + kk;
                int q1 = t / sj, a = q1 / ri;
                int off = a * g.SrcA + g.Dir * ((q1 - a * ri) * g.SrcRow + t - q1 * sj);
                tileB[kk * Tile + col] = t < g.T ? bmat[t * g.MPad + mBase + col] : 0f;
                tileA[kk * Tile + col] = t < g.T ? src[myBase + off] : 0f;
            }
            {
                int kk = kk0 + 8, t = t0 + kk;
                int q1 = t / sj, a = q1 / ri;
                int off = a * g.SrcA + g.Dir * ((q1 - a * ri) * g.SrcRow + t - q1 * sj);
                tileB[kk * Tile + col] = t < g.T ? bmat[t * g.MPad + mBase + col] : 0f;
                tileA[kk * Tile + col] = t < g.T ? src[myBase + off] : 0f;
            }
            {
                int kk = kk0 + 12, t = t0 + kk;
                int q1 = t / sj, a = q1 / ri;
                int off = a * g.SrcA + g.Dir * ((q1 - a * ri) * g.SrcRow + t - q1 * sj);
                tileB[kk * Tile + col] = t < g.T ? bmat[t * g.MPad + mBase + col] : 0f;
                tileA[kk * Tile + col] = t < g.T ? src[myBase + off] : 0f;
            }
            Group.Barrier();
            a0 = tileB[0 + ty]; a1 = tileB[16 + ty]; a2 = tileB[32 + ty]; a3 = tileB[48 + ty]; b0 = tileA[0 + tx]; b1 = tileA[16 + tx]; b2 = tileA[32 + tx]; b3 = tileA[48 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[64 + ty]; a1 = tileB[80 + ty]; a2 = tileB[96 + ty]; a3 = tileB[112 + ty]; b0 = tileA[64 + tx]; b1 = tileA[80 + tx]; b2 = tileA[96 + tx]; b3 = tileA[112 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[128 + ty]; a1 = tileB[144 + ty]; a2 = tileB[160 + ty]; a3 = tileB[176 + ty]; b0 = tileA[128 + tx]; b1 = tileA[144 + tx]; b2 = tileA[160 + tx]; b3 = tileA[176 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[192 + ty]; a1 = tileB[208 + ty]; a2 = tileB[224 + ty]; a3 = tileB[240 + ty]; b0 = tileA[192 + tx]; b1 = tileA[208 + tx]; b2 = tileA[224 + tx]; b3 = tileA[240 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[256 + ty]; a1 = tileB[272 + ty]; a2 = tileB[288 + ty]; a3 = tileB[304 + ty]; b0 = tileA[256 + tx]; b1 = tileA[272 + tx]; b2 = tileA[288 + tx]; b3 = tileA[304 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[320 + ty]; a1 = tileB[336 + ty]; a2 = tileB[352 + ty]; a3 = tileB[368 + ty]; b0 = tileA[320 + tx]; b1 = tileA[336 + tx]; b2 = tileA[352 + tx]; b3 = tileA[368 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[384 + ty]; a1 = tileB[400 + ty]; a2 = tileB[416 + ty]; a3 = tileB[432 + ty]; b0 = tileA[384 + tx]; b1 = tileA[400 + tx]; b2 = tileA[416 + tx]; b3 = tileA[432 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[448 + ty]; a1 = tileB[464 + ty]; a2 = tileB[480 + ty]; a3 = tileB[496 + ty]; b0 = tileA[448 + tx]; b1 = tileA[464 + tx]; b2 = tileA[480 + tx]; b3 = tileA[496 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[512 + ty]; a1 = tileB[528 + ty]; a2 = tileB[544 + ty]; a3 = tileB[560 + ty]; b0 = tileA[512 + tx]; b1 = tileA[528 + tx]; b2 = tileA[544 + tx]; b3 = tileA[560 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[576 + ty]; a1 = tileB[592 + ty]; a2 = tileB[608 + ty]; a3 = tileB[624 + ty]; b0 = tileA[576 + tx]; b1 = tileA[592 + tx]; b2 = tileA[608 + tx]; b3 = tileA[624 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[640 + ty]; a1 = tileB[656 + ty]; a2 = tileB[672 + ty]; a3 = tileB[688 + ty]; b0 = tileA[640 + tx]; b1 = tileA[656 + tx]; b2 = tileA[672 + tx]; b3 = tileA[688 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[704 + ty]; a1 = tileB[720 + ty]; a2 = tileB[736 + ty]; a3 = tileB[752 + ty]; b0 = tileA[704 + tx]; b1 = tileA[720 + tx]; b2 = tileA[736 + tx]; b3 = tileA[752 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[768 + ty]; a1 = tileB[784 + ty]; a2 = tileB[800 + ty]; a3 = tileB[816 + ty]; b0 = tileA[768 + tx]; b1 = tileA[784 + tx]; b2 = tileA[800 + tx]; b3 = tileA[816 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[832 + ty]; a1 = tileB[848 + ty]; a2 = tileB[864 + ty]; a3 = tileB[880 + ty]; b0 = tileA[832 + tx]; b1 = tileA[848 + tx]; b2 = tileA[864 + tx]; b3 = tileA[880 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[896 + ty]; a1 = tileB[912 + ty]; a2 = tileB[928 + ty]; a3 = tileB[944 + ty]; b0 = tileA[896 + tx]; b1 = tileA[912 + tx]; b2 = tileA[928 + tx]; b3 = tileA[944 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileB[960 + ty]; a1 = tileB[976 + ty]; a2 = tileB[992 + ty]; a3 = tileB[1008 + ty]; b0 = tileA[960 + tx]; b1 = tileA[976 + tx]; b2 = tileA[992 + tx]; b3 = tileA[1008 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            Group.Barrier();
        }
        int mOk = g.M - mBase - ty, om = g.OutM;
        if (posBase + tx + 0 <= last)
        {
            int o = OutputBase(g, posBase + tx + 0) + (mBase + ty) * om;
            Put(dst, o + 0 * om, c00, 0 < mOk, g.Accumulate); Put(dst, o + 16 * om, c10, 16 < mOk, g.Accumulate); Put(dst, o + 32 * om, c20, 32 < mOk, g.Accumulate); Put(dst, o + 48 * om, c30, 48 < mOk, g.Accumulate);
        }
        if (posBase + tx + 16 <= last)
        {
            int o = OutputBase(g, posBase + tx + 16) + (mBase + ty) * om;
            Put(dst, o + 0 * om, c01, 0 < mOk, g.Accumulate); Put(dst, o + 16 * om, c11, 16 < mOk, g.Accumulate); Put(dst, o + 32 * om, c21, 32 < mOk, g.Accumulate); Put(dst, o + 48 * om, c31, 48 < mOk, g.Accumulate);
        }
        if (posBase + tx + 32 <= last)
        {
            int o = OutputBase(g, posBase + tx + 32) + (mBase + ty) * om;
            Put(dst, o + 0 * om, c02, 0 < mOk, g.Accumulate); Put(dst, o + 16 * om, c12, 16 < mOk, g.Accumulate); Put(dst, o + 32 * om, c22, 32 < mOk, g.Accumulate); Put(dst, o + 48 * om, c32, 48 < mOk, g.Accumulate);
        }
        if (posBase + tx + 48 <= last)
        {
            int o = OutputBase(g, posBase + tx + 48) + (mBase + ty) * om;
            Put(dst, o + 0 * om, c03, 0 < mOk, g.Accumulate); Put(dst, o + 16 * om, c13, 16 < mOk, g.Accumulate); Put(dst, o + 32 * om, c23, 32 < mOk, g.Accumulate); Put(dst, o + 48 * om, c33, 48 < mOk, g.Accumulate);
        }
    }
    #endregion

    #region hand-unrolled WeightGradTiled
    /// <summary>
    /// <see cref="Conv2dWeightGemm"/> for GPUs: group (gx, gy, gz) of 16×16 threads computes the 64×64
    /// tile of k = 64·gy + ty + 16·r and taps crs = 64·gx + tx + 16·s over chunk gz of the positions,
    /// staging 16-position strips of dYᵀ (16 × 64) and of the gathered input (16 × 64, rows padded
    /// to 65 against bank conflicts) in shared memory. KPad must be a multiple of 64.
    /// </summary>
    static void WeightGradTiled(
        ArrayView<float> src,   // (N, C, SrcH, SrcRow) zero-padded input
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C·R·S) dWt
        Conv2dWeightGemm g)
    {
        var tileD = SharedMemory.Allocate<float>(TileK * Tile);         // (16, 64): dYᵀ[pos0 + kk, kBase + col]
        var tileX = SharedMemory.Allocate<float>(TileK * (Tile + 1));   // (16, 65): X̃[pos0 + kk, tapBase + col]
        int tx = Group.IdxX, ty = Group.IdxY, lin = ty * TileThreads + tx;
        int tapBase = Grid.IdxX * Tile, kBase = Grid.IdxY * Tile, chunk = Grid.IdxZ;
        int col = lin & (Tile - 1), kk0 = lin / Tile;       // dYᵀ loads: rows kk0 + 4u of column col
        int xkk = lin & (TileK - 1), xcol = lin / TileK;    // input loads: row xkk, columns xcol + 16u
        int lastTap = g.CRS - 1, pq = g.P * g.Q;
        int o0 = Tap(g, tapBase + xcol + 0 < lastTap ? tapBase + xcol + 0 : lastTap);
        int o1 = Tap(g, tapBase + xcol + 16 < lastTap ? tapBase + xcol + 16 : lastTap);
        int o2 = Tap(g, tapBase + xcol + 32 < lastTap ? tapBase + xcol + 32 : lastTap);
        int o3 = Tap(g, tapBase + xcol + 48 < lastTap ? tapBase + xcol + 48 : lastTap);
        int start = chunk * g.ChunkLength;
        int end = start + g.ChunkLength < g.Positions ? start + g.ChunkLength : g.Positions;
        float c00 = 0f; float c01 = 0f; float c10 = 0f; float c11 = 0f; float c20 = 0f; float c21 = 0f; float c30 = 0f; float c31 = 0f;
        float c02 = 0f; float c03 = 0f; float c12 = 0f; float c13 = 0f; float c22 = 0f; float c23 = 0f; float c32 = 0f; float c33 = 0f;
        float a0, a1, a2, a3, b0, b1, b2, b3;
        for (int p0 = start; p0 < end; p0 += TileK)
        {
            { int pos = p0 + kk0 + 0; tileD[(kk0 + 0) * Tile + col] = pos < end ? dyT[pos * g.KPad + kBase + col] : 0f; }
            { int pos = p0 + kk0 + 4; tileD[(kk0 + 4) * Tile + col] = pos < end ? dyT[pos * g.KPad + kBase + col] : 0f; }
            { int pos = p0 + kk0 + 8; tileD[(kk0 + 8) * Tile + col] = pos < end ? dyT[pos * g.KPad + kBase + col] : 0f; }
            { int pos = p0 + kk0 + 12; tileD[(kk0 + 12) * Tile + col] = pos < end ? dyT[pos * g.KPad + kBase + col] : 0f; }
            int xpos = p0 + xkk;
            if (xpos < end)
            {
                int n = xpos / pq, rem = xpos - n * pq, p = rem / g.Q;
                int sb = n * g.SrcN + p * g.Stride * g.SrcRow + (rem - p * g.Q) * g.Stride;
                tileX[xkk * (Tile + 1) + xcol + 0] = src[sb + o0]; tileX[xkk * (Tile + 1) + xcol + 16] = src[sb + o1]; tileX[xkk * (Tile + 1) + xcol + 32] = src[sb + o2]; tileX[xkk * (Tile + 1) + xcol + 48] = src[sb + o3];
            }
            else
            {
                tileX[xkk * (Tile + 1) + xcol + 0] = 0f; tileX[xkk * (Tile + 1) + xcol + 16] = 0f; tileX[xkk * (Tile + 1) + xcol + 32] = 0f; tileX[xkk * (Tile + 1) + xcol + 48] = 0f;
            }
            Group.Barrier();
            a0 = tileD[0 + ty]; a1 = tileD[16 + ty]; a2 = tileD[32 + ty]; a3 = tileD[48 + ty]; b0 = tileX[0 + tx]; b1 = tileX[16 + tx]; b2 = tileX[32 + tx]; b3 = tileX[48 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[64 + ty]; a1 = tileD[80 + ty]; a2 = tileD[96 + ty]; a3 = tileD[112 + ty]; b0 = tileX[65 + tx]; b1 = tileX[81 + tx]; b2 = tileX[97 + tx]; b3 = tileX[113 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[128 + ty]; a1 = tileD[144 + ty]; a2 = tileD[160 + ty]; a3 = tileD[176 + ty]; b0 = tileX[130 + tx]; b1 = tileX[146 + tx]; b2 = tileX[162 + tx]; b3 = tileX[178 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[192 + ty]; a1 = tileD[208 + ty]; a2 = tileD[224 + ty]; a3 = tileD[240 + ty]; b0 = tileX[195 + tx]; b1 = tileX[211 + tx]; b2 = tileX[227 + tx]; b3 = tileX[243 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[256 + ty]; a1 = tileD[272 + ty]; a2 = tileD[288 + ty]; a3 = tileD[304 + ty]; b0 = tileX[260 + tx]; b1 = tileX[276 + tx]; b2 = tileX[292 + tx]; b3 = tileX[308 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[320 + ty]; a1 = tileD[336 + ty]; a2 = tileD[352 + ty]; a3 = tileD[368 + ty]; b0 = tileX[325 + tx]; b1 = tileX[341 + tx]; b2 = tileX[357 + tx]; b3 = tileX[373 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[384 + ty]; a1 = tileD[400 + ty]; a2 = tileD[416 + ty]; a3 = tileD[432 + ty]; b0 = tileX[390 + tx]; b1 = tileX[406 + tx]; b2 = tileX[422 + tx]; b3 = tileX[438 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[448 + ty]; a1 = tileD[464 + ty]; a2 = tileD[480 + ty]; a3 = tileD[496 + ty]; b0 = tileX[455 + tx]; b1 = tileX[471 + tx]; b2 = tileX[487 + tx]; b3 = tileX[503 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[512 + ty]; a1 = tileD[528 + ty]; a2 = tileD[544 + ty]; a3 = tileD[560 + ty]; b0 = tileX[520 + tx]; b1 = tileX[536 + tx]; b2 = tileX[552 + tx]; b3 = tileX[568 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[576 + ty]; a1 = tileD[592 + ty]; a2 = tileD[608 + ty]; a3 = tileD[624 + ty]; b0 = tileX[585 + tx]; b1 = tileX[601 + tx]; b2 = tileX[617 + tx]; b3 = tileX[633 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[640 + ty]; a1 = tileD[656 + ty]; a2 = tileD[672 + ty]; a3 = tileD[688 + ty]; b0 = tileX[650 + tx]; b1 = tileX[666 + tx]; b2 = tileX[682 + tx]; b3 = tileX[698 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[704 + ty]; a1 = tileD[720 + ty]; a2 = tileD[736 + ty]; a3 = tileD[752 + ty]; b0 = tileX[715 + tx]; b1 = tileX[731 + tx]; b2 = tileX[747 + tx]; b3 = tileX[763 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[768 + ty]; a1 = tileD[784 + ty]; a2 = tileD[800 + ty]; a3 = tileD[816 + ty]; b0 = tileX[780 + tx]; b1 = tileX[796 + tx]; b2 = tileX[812 + tx]; b3 = tileX[828 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[832 + ty]; a1 = tileD[848 + ty]; a2 = tileD[864 + ty]; a3 = tileD[880 + ty]; b0 = tileX[845 + tx]; b1 = tileX[861 + tx]; b2 = tileX[877 + tx]; b3 = tileX[893 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[896 + ty]; a1 = tileD[912 + ty]; a2 = tileD[928 + ty]; a3 = tileD[944 + ty]; b0 = tileX[910 + tx]; b1 = tileX[926 + tx]; b2 = tileX[942 + tx]; b3 = tileX[958 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a0 = tileD[960 + ty]; a1 = tileD[976 + ty]; a2 = tileD[992 + ty]; a3 = tileD[1008 + ty]; b0 = tileX[975 + tx]; b1 = tileX[991 + tx]; b2 = tileX[1007 + tx]; b3 = tileX[1023 + tx];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            Group.Barrier();
        }
        int kOk = g.K - kBase - ty, crs = g.CRS;
        if (tapBase + tx + 0 <= lastTap)
        {
            int o = chunk * g.OutChunk + (kBase + ty) * crs + tapBase + tx + 0;
            Put(dst, o + 0 * crs, c00, 0 < kOk, g.Accumulate); Put(dst, o + 16 * crs, c10, 16 < kOk, g.Accumulate); Put(dst, o + 32 * crs, c20, 32 < kOk, g.Accumulate); Put(dst, o + 48 * crs, c30, 48 < kOk, g.Accumulate);
        }
        if (tapBase + tx + 16 <= lastTap)
        {
            int o = chunk * g.OutChunk + (kBase + ty) * crs + tapBase + tx + 16;
            Put(dst, o + 0 * crs, c01, 0 < kOk, g.Accumulate); Put(dst, o + 16 * crs, c11, 16 < kOk, g.Accumulate); Put(dst, o + 32 * crs, c21, 32 < kOk, g.Accumulate); Put(dst, o + 48 * crs, c31, 48 < kOk, g.Accumulate);
        }
        if (tapBase + tx + 32 <= lastTap)
        {
            int o = chunk * g.OutChunk + (kBase + ty) * crs + tapBase + tx + 32;
            Put(dst, o + 0 * crs, c02, 0 < kOk, g.Accumulate); Put(dst, o + 16 * crs, c12, 16 < kOk, g.Accumulate); Put(dst, o + 32 * crs, c22, 32 < kOk, g.Accumulate); Put(dst, o + 48 * crs, c32, 48 < kOk, g.Accumulate);
        }
        if (tapBase + tx + 48 <= lastTap)
        {
            int o = chunk * g.OutChunk + (kBase + ty) * crs + tapBase + tx + 48;
            Put(dst, o + 0 * crs, c03, 0 < kOk, g.Accumulate); Put(dst, o + 16 * crs, c13, 16 < kOk, g.Accumulate); Put(dst, o + 32 * crs, c23, 32 < kOk, g.Accumulate); Put(dst, o + 48 * crs, c33, 48 < kOk, g.Accumulate);
        }
    }
    #endregion
    #region version 5: TF32 tensor cores
    /// <summary>
    /// <see cref="Conv2dGemm"/> on tensor cores (<see cref="TensorCore"/>): group (gx, gy) of 128 threads
    /// computes the 64×64 tile of positions 64·gx + i and columns 64·gy + j; warp w the 32×32 quarter at
    /// (32·(w div 2), 32·(w mod 2)). Each strip of 16 reduction indices is loaded from global memory into
    /// registers while the tensor cores work on the previous one (two shared buffers, one barrier per
    /// strip), rounded to TF32 as it is stored. Each thread gathers A for one fixed position (one base
    /// offset) and loads B along one column, so neighbouring threads read neighbouring addresses.
    /// MPad must be a multiple of 64.
    /// </summary>
    static void GatherGemmTensorCore(
        ArrayView<float> src,   // padded source, gathered (see Conv2dGemm)
        ArrayView<float> bmat,  // (T, MPad)
        ArrayView<float> dst,   // output, scattered (see Conv2dGemm)
        Conv2dGemm g)
    {
        var tileA = SharedMemory.Allocate<float>(2 * TcStrip * TcRow);   // (2, 16, 72): A[posBase + col, t0 + kk] at [buffer, kk, col], TF32
        var tileB = SharedMemory.Allocate<float>(2 * TcStrip * TcRow);   // (2, 16, 72): B[t0 + kk, mBase + col] at [buffer, kk, col], TF32
        var scratch = SharedMemory.Allocate<float>(TensorCore.ScratchPerWarp * TcThreads / TensorCore.WarpLanes);   // the emulation's fragments
        var offsets = SharedMemory.Allocate<int>(2 * TcStrip);   // (2, 16): off(t) of strip s at [s mod 2, t mod 16]
        int lin = Group.IdxX, lane = lin & 31, warp = lin >> 5;
        var warpScratch = scratch.SubView(warp * TensorCore.ScratchPerWarp, TensorCore.ScratchPerWarp);
        int posBase = Grid.IdxX * TcTile, mBase = Grid.IdxY * TcTile;
        int col = lin & (TcTile - 1), kk0 = lin >> 6;   // this thread loads rows kk0 + 2u (u < 8) of column col
        int last = g.Positions - 1;
        int myBase = SourceBase(g, posBase + col < last ? posBase + col : last);
        int bCol = mBase + col, buffer = TcStrip * TcRow;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        var acc = default(WarpTile);
        int strips = (g.T + TcStrip - 1) / TcStrip;

        // off(t) of the next two strips, computed by 16 threads a strip ahead (no division in the loads).
        if (lin < 2 * TcStrip)
            offsets[lin] = GatherOffset(g, lin);
        Group.Barrier();
        float a0 = GatherA(src, g, offsets, myBase, kk0), a1 = GatherA(src, g, offsets, myBase, kk0 + 2), a2 = GatherA(src, g, offsets, myBase, kk0 + 4), a3 = GatherA(src, g, offsets, myBase, kk0 + 6);
        float a4 = GatherA(src, g, offsets, myBase, kk0 + 8), a5 = GatherA(src, g, offsets, myBase, kk0 + 10), a6 = GatherA(src, g, offsets, myBase, kk0 + 12), a7 = GatherA(src, g, offsets, myBase, kk0 + 14);
        float b0 = LoadB(bmat, g, bCol, kk0), b1 = LoadB(bmat, g, bCol, kk0 + 2), b2 = LoadB(bmat, g, bCol, kk0 + 4), b3 = LoadB(bmat, g, bCol, kk0 + 6);
        float b4 = LoadB(bmat, g, bCol, kk0 + 8), b5 = LoadB(bmat, g, bCol, kk0 + 10), b6 = LoadB(bmat, g, bCol, kk0 + 12), b7 = LoadB(bmat, g, bCol, kk0 + 14);
        StoreStrip(tileA, kk0 * TcRow + col, a0, a1, a2, a3, a4, a5, a6, a7);
        StoreStrip(tileB, kk0 * TcRow + col, b0, b1, b2, b3, b4, b5, b6, b7);
        Group.Barrier();
        for (int s = 0; s < strips; s++)
        {
            int current = (s & 1) * buffer, next = buffer - current;
            bool more = s + 1 < strips;
            if (more)
            {
                int t = (s + 1) * TcStrip + kk0;
                a0 = GatherA(src, g, offsets, myBase, t); a1 = GatherA(src, g, offsets, myBase, t + 2); a2 = GatherA(src, g, offsets, myBase, t + 4); a3 = GatherA(src, g, offsets, myBase, t + 6);
                a4 = GatherA(src, g, offsets, myBase, t + 8); a5 = GatherA(src, g, offsets, myBase, t + 10); a6 = GatherA(src, g, offsets, myBase, t + 12); a7 = GatherA(src, g, offsets, myBase, t + 14);
                b0 = LoadB(bmat, g, bCol, t); b1 = LoadB(bmat, g, bCol, t + 2); b2 = LoadB(bmat, g, bCol, t + 4); b3 = LoadB(bmat, g, bCol, t + 6);
                b4 = LoadB(bmat, g, bCol, t + 8); b5 = LoadB(bmat, g, bCol, t + 10); b6 = LoadB(bmat, g, bCol, t + 12); b7 = LoadB(bmat, g, bCol, t + 14);
            }
            // The offsets of strip s + 2 go where strip s's were (read before the last barrier).
            if (lin < TcStrip && s + 2 < strips)
                offsets[(s & 1) * TcStrip + lin] = GatherOffset(g, (s + 2) * TcStrip + lin);
            TensorCore.WarpTileStep(ref acc, tileA, current + warpRow, tileB, current + warpCol, TcRow, warpScratch, lane);
            TensorCore.WarpTileStep(ref acc, tileA, current + 8 * TcRow + warpRow, tileB, current + 8 * TcRow + warpCol, TcRow, warpScratch, lane);
            if (more)
            {
                StoreStrip(tileA, next + kk0 * TcRow + col, a0, a1, a2, a3, a4, a5, a6, a7);
                StoreStrip(tileB, next + kk0 * TcRow + col, b0, b1, b2, b3, b4, b5, b6, b7);
            }
            Group.Barrier();
        }

        // Lane (g8, t4) holds rows g8 + {0, 8, 16, 24} and columns 2·t4 + {0, 1} + 8n of its warp's quarter.
        int row = posBase + warpRow + (lane >> 2), column = mBase + warpCol + 2 * (lane & 3);
        int o0 = OutputBase(g, row), o1 = OutputBase(g, row + 8), o2 = OutputBase(g, row + 16), o3 = OutputBase(g, row + 24);
        bool in0 = row < g.Positions, in1 = row + 8 < g.Positions, in2 = row + 16 < g.Positions, in3 = row + 24 < g.Positions;
        TensorCore.StoreWarpTile(dst, ref acc, o0, in0, o1, in1, o2, in2, o3, in3, column, g.M, g.OutM, 1f, g.Accumulate);
    }

    /// <summary>A[pos, t] = src[base(pos) + off(t)] of <see cref="Conv2dGemm"/> with off(t) from the strip's offsets, 0 past the reduction's end.</summary>
    static float GatherA(ArrayView<float> src, Conv2dGemm g, ArrayView<int> offsets, int sourceBase, int t) =>
        t < g.T ? src[sourceBase + offsets[t & (2 * TcStrip - 1)]] : 0f;

    /// <summary>off(t) = a·SrcA + Dir·(i·SrcRow + j) of <see cref="Conv2dGemm"/> for t = (a·RI + i)·SJ + j.</summary>
    static int GatherOffset(Conv2dGemm g, int t)
    {
        int q1 = t / g.SJ, a = q1 / g.RI;
        return a * g.SrcA + g.Dir * ((q1 - a * g.RI) * g.SrcRow + t - q1 * g.SJ);
    }

    /// <summary>B[t, m] of <see cref="Conv2dGemm"/>, 0 past the reduction's end.</summary>
    static float LoadB(ArrayView<float> bmat, Conv2dGemm g, int m, int t) => t < g.T ? bmat[t * g.MPad + m] : 0f;

    /// <summary>Stores a thread's 8 staged values, rounded to TF32, at rows 0, 2, …, 14 (of 72 floats) after <paramref name="at"/>.</summary>
    static void StoreStrip(ArrayView<float> tile, int at, float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        tile[at] = TensorCore.RoundToTf32(v0);
        tile[at + 2 * TcRow] = TensorCore.RoundToTf32(v1);
        tile[at + 4 * TcRow] = TensorCore.RoundToTf32(v2);
        tile[at + 6 * TcRow] = TensorCore.RoundToTf32(v3);
        tile[at + 8 * TcRow] = TensorCore.RoundToTf32(v4);
        tile[at + 10 * TcRow] = TensorCore.RoundToTf32(v5);
        tile[at + 12 * TcRow] = TensorCore.RoundToTf32(v6);
        tile[at + 14 * TcRow] = TensorCore.RoundToTf32(v7);
    }

    /// <summary>
    /// <see cref="Conv2dWeightGemm"/> on tensor cores: group (gx, gy, gz) of 128 threads computes the 64×64
    /// tile of k = 64·gy + i and taps crs = 64·gx + j over chunk gz of the positions, reduction strips of
    /// 16 positions double-buffered as in <see cref="GatherGemmTensorCore"/>. A thread loads dYᵀ along
    /// one column k, and the gathered input for one position per strip at 8 fixed taps (their offsets
    /// computed once). KPad must be a multiple of 64.
    /// </summary>
    static void WeightGradTensorCore(
        ArrayView<float> src,   // (N, C, SrcH, SrcRow) zero-padded input
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C·R·S) dWt
        Conv2dWeightGemm g)
    {
        var tileD = SharedMemory.Allocate<float>(2 * TcStrip * TcRow);   // (2, 16, 72): dYᵀ[p0 + kk, kBase + col] at [buffer, kk, col], TF32
        var tileX = SharedMemory.Allocate<float>(2 * TcStrip * TcRow);   // (2, 16, 72): X̃[p0 + kk, tapBase + col] at [buffer, kk, col], TF32
        var scratch = SharedMemory.Allocate<float>(TensorCore.ScratchPerWarp * TcThreads / TensorCore.WarpLanes);
        int lin = Group.IdxX, lane = lin & 31, warp = lin >> 5;
        var warpScratch = scratch.SubView(warp * TensorCore.ScratchPerWarp, TensorCore.ScratchPerWarp);
        int tapBase = Grid.IdxX * TcTile, kBase = Grid.IdxY * TcTile, chunk = Grid.IdxZ;
        int col = lin & (TcTile - 1), kk0 = lin >> 6;        // dYᵀ loads: rows kk0 + 2u of column col
        int xkk = lin & (TcStrip - 1), xcol = lin >> 4;      // input loads: row xkk, columns xcol + 8u
        int lastTap = g.CRS - 1, pq = g.P * g.Q, buffer = TcStrip * TcRow;
        int x0 = Tap(g, Math.Min(tapBase + xcol, lastTap)), x1 = Tap(g, Math.Min(tapBase + xcol + 8, lastTap));
        int x2 = Tap(g, Math.Min(tapBase + xcol + 16, lastTap)), x3 = Tap(g, Math.Min(tapBase + xcol + 24, lastTap));
        int x4 = Tap(g, Math.Min(tapBase + xcol + 32, lastTap)), x5 = Tap(g, Math.Min(tapBase + xcol + 40, lastTap));
        int x6 = Tap(g, Math.Min(tapBase + xcol + 48, lastTap)), x7 = Tap(g, Math.Min(tapBase + xcol + 56, lastTap));
        int start = chunk * g.ChunkLength;
        int end = start + g.ChunkLength < g.Positions ? start + g.ChunkLength : g.Positions;
        int strips = (end - start + TcStrip - 1) / TcStrip;
        int dCol = kBase + col;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        var acc = default(WarpTile);

        float d0 = LoadDy(dyT, g, dCol, start + kk0, end), d1 = LoadDy(dyT, g, dCol, start + kk0 + 2, end), d2 = LoadDy(dyT, g, dCol, start + kk0 + 4, end), d3 = LoadDy(dyT, g, dCol, start + kk0 + 6, end);
        float d4 = LoadDy(dyT, g, dCol, start + kk0 + 8, end), d5 = LoadDy(dyT, g, dCol, start + kk0 + 10, end), d6 = LoadDy(dyT, g, dCol, start + kk0 + 12, end), d7 = LoadDy(dyT, g, dCol, start + kk0 + 14, end);
        int sb = WeightSourceBase(g, start + xkk, end, pq);
        float v0 = sb >= 0 ? src[sb + x0] : 0f, v1 = sb >= 0 ? src[sb + x1] : 0f, v2 = sb >= 0 ? src[sb + x2] : 0f, v3 = sb >= 0 ? src[sb + x3] : 0f;
        float v4 = sb >= 0 ? src[sb + x4] : 0f, v5 = sb >= 0 ? src[sb + x5] : 0f, v6 = sb >= 0 ? src[sb + x6] : 0f, v7 = sb >= 0 ? src[sb + x7] : 0f;
        StoreStrip(tileD, kk0 * TcRow + col, d0, d1, d2, d3, d4, d5, d6, d7);
        StoreRow(tileX, xkk * TcRow + xcol, v0, v1, v2, v3, v4, v5, v6, v7);
        Group.Barrier();
        for (int s = 0; s < strips; s++)
        {
            int current = (s & 1) * buffer, next = buffer - current;
            bool more = s + 1 < strips;
            if (more)
            {
                int p = start + (s + 1) * TcStrip;
                d0 = LoadDy(dyT, g, dCol, p + kk0, end); d1 = LoadDy(dyT, g, dCol, p + kk0 + 2, end); d2 = LoadDy(dyT, g, dCol, p + kk0 + 4, end); d3 = LoadDy(dyT, g, dCol, p + kk0 + 6, end);
                d4 = LoadDy(dyT, g, dCol, p + kk0 + 8, end); d5 = LoadDy(dyT, g, dCol, p + kk0 + 10, end); d6 = LoadDy(dyT, g, dCol, p + kk0 + 12, end); d7 = LoadDy(dyT, g, dCol, p + kk0 + 14, end);
                sb = WeightSourceBase(g, p + xkk, end, pq);
                v0 = sb >= 0 ? src[sb + x0] : 0f; v1 = sb >= 0 ? src[sb + x1] : 0f; v2 = sb >= 0 ? src[sb + x2] : 0f; v3 = sb >= 0 ? src[sb + x3] : 0f;
                v4 = sb >= 0 ? src[sb + x4] : 0f; v5 = sb >= 0 ? src[sb + x5] : 0f; v6 = sb >= 0 ? src[sb + x6] : 0f; v7 = sb >= 0 ? src[sb + x7] : 0f;
            }
            TensorCore.WarpTileStep(ref acc, tileD, current + warpRow, tileX, current + warpCol, TcRow, warpScratch, lane);
            TensorCore.WarpTileStep(ref acc, tileD, current + 8 * TcRow + warpRow, tileX, current + 8 * TcRow + warpCol, TcRow, warpScratch, lane);
            if (more)
            {
                StoreStrip(tileD, next + kk0 * TcRow + col, d0, d1, d2, d3, d4, d5, d6, d7);
                StoreRow(tileX, next + xkk * TcRow + xcol, v0, v1, v2, v3, v4, v5, v6, v7);
            }
            Group.Barrier();
        }

        int k = kBase + warpRow + (lane >> 2), tap = tapBase + warpCol + 2 * (lane & 3);
        int o = chunk * g.OutChunk + k * g.CRS, rows8 = 8 * g.CRS;
        bool in0 = k < g.K, in1 = k + 8 < g.K, in2 = k + 16 < g.K, in3 = k + 24 < g.K;
        TensorCore.StoreWarpTile(dst, ref acc, o, in0, o + rows8, in1, o + 2 * rows8, in2, o + 3 * rows8, in3, tap, g.CRS, 1, 1f, g.Accumulate);
    }

    /// <summary>dYᵀ[pos, k], 0 at and past the chunk's end.</summary>
    static float LoadDy(ArrayView<float> dyT, Conv2dWeightGemm g, int k, int pos, int end) => pos < end ? dyT[pos * g.KPad + k] : 0f;

    /// <summary>base(pos) of <see cref="Conv2dWeightGemm"/>, or −1 at and past the chunk's end.</summary>
    static int WeightSourceBase(Conv2dWeightGemm g, int pos, int end, int pq)
    {
        if (pos >= end)
            return -1;
        int n = pos / pq, rem = pos - n * pq, p = rem / g.Q;
        return n * g.SrcN + p * g.Stride * g.SrcRow + (rem - p * g.Q) * g.Stride;
    }

    /// <summary>Stores 8 values of one strip row, rounded to TF32, at columns 0, 8, …, 56 after <paramref name="at"/>.</summary>
    static void StoreRow(ArrayView<float> tile, int at, float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        tile[at] = TensorCore.RoundToTf32(v0);
        tile[at + 8] = TensorCore.RoundToTf32(v1);
        tile[at + 16] = TensorCore.RoundToTf32(v2);
        tile[at + 24] = TensorCore.RoundToTf32(v3);
        tile[at + 32] = TensorCore.RoundToTf32(v4);
        tile[at + 40] = TensorCore.RoundToTf32(v5);
        tile[at + 48] = TensorCore.RoundToTf32(v6);
        tile[at + 56] = TensorCore.RoundToTf32(v7);
    }
    #endregion
}
