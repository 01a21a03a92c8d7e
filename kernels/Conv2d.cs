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

    /// <summary>
    /// The 64-wide direction of versions 2 and 3 in every block set (<see cref="BlockSets"/>): channels per
    /// work-item of version 2, positions per run of version 3.
    /// </summary>
    public const int Block2 = 64, Run3 = 64;

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
        if (st == 1)
        {
            // The common case: each row is zeros, a contiguous copy, zeros; no test per element. Kept apart from
            // the parity split: the same walk with a runtime stride in the copy ran 2× slower on PoCL.
            int lo = left < 0 ? 0 : left < wq ? left : wq;               // columns x < lo are left padding
            int hi = left + w < lo ? lo : left + w < wq ? left + w : wq; // columns lo ≤ x < hi come from src
            for (int row = GridStride.Start; row < rows; row += GridStride.Step)
            {
                int plane = row / hq, sy = row - plane * hq - top;
                int d = row * wq;
                if (sy < 0 || sy >= h)
                {
                    for (int x = 0; x < wq; x++)
                        dst[d + x] = 0f;
                    continue;
                }
                int s = (plane * h + sy) * w - left;
                for (int x = 0; x < lo; x++)
                    dst[d + x] = 0f;
                for (int x = lo; x < hi; x++)
                    dst[d + x] = src[s + x];
                for (int x = hi; x < wq; x++)
                    dst[d + x] = 0f;
            }
            for (int i = used + GridStride.Start; i < total; i += GridStride.Step)
                dst[i] = 0f;
            return;
        }
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

    /// <summary>Version 2 forward: Y = the <see cref="Conv2dGemm"/> of padded X and Wtᵀ, 64 channels × 3 positions per work-item.</summary>
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

    /// <summary>Version 2 backward-weight: dWt (or chunk partials) = <see cref="Conv2dWeightGemm"/>, 64 k × 3 taps per work-item.</summary>
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

    // The same six passes with the blocks for 8-float vector registers (AVX2: 16 registers, one broadcast row per block).

    /// <summary><see cref="Conv2dForwardKernel2"/> with 1 position × 64 channels per work-item.</summary>
    public static void Conv2dForwardFor8LanesKernel2(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> b,     // (C·R·S, MPad)
        ArrayView<float> y,     // (N, K, P, Q)
        Conv2dGemm g) => GatherGemmBlockFor8Lanes(xPad, b, y, g);

    /// <summary><see cref="Conv2dBackwardInputKernel2"/> with 1 position × 64 channels per work-item.</summary>
    public static void Conv2dBackwardInputFor8LanesKernel2(
        ArrayView<float> dYPad, // (N, K, Pp, Qp)
        ArrayView<float> b,     // (K·RI·SJ, MPad)
        ArrayView<float> dX,    // (N, C, H, W), accumulated into
        Conv2dGemm g) => GatherGemmBlockFor8Lanes(dYPad, b, dX, g);

    /// <summary><see cref="Conv2dBackwardWeightKernel2"/> with 64 k × 1 tap per work-item.</summary>
    public static void Conv2dBackwardWeightFor8LanesKernel2(
        ArrayView<float> xPad,  // (N, C, H + 2·pad, W + 2·pad)
        ArrayView<float> dyT,   // (N·P·Q, KPad)
        ArrayView<float> dst,   // (Chunks, K, C·R·S) partials, or (K, C, R, S) dWt accumulated into
        Conv2dWeightGemm g) => WeightGradBlockFor8Lanes(xPad, dyT, dst, g);

    /// <summary><see cref="Conv2dForwardKernel3"/> with 1 channel × 64 positions per work-item.</summary>
    public static void Conv2dForwardFor8LanesKernel3(
        ArrayView<float> xPlanes,   // (N, C, st, st, Hq, Wq) and a zero tail
        ArrayView<float> b,         // (MPad, C·RI·SJ)
        ArrayView<float> y,         // (N, K, P, Q)
        Conv2dRowGemm g) => RowGemmBlockFor8Lanes(xPlanes, b, y, g);

    /// <summary><see cref="Conv2dBackwardInputKernel3"/> with 1 channel × 64 positions per work-item.</summary>
    public static void Conv2dBackwardInputFor8LanesKernel3(
        ArrayView<float> dYPad,     // (N, K, Pp, Qp) and a zero tail
        ArrayView<float> b,         // (MPad, K·RI·SJ)
        ArrayView<float> dX,        // (N, C, H, W), accumulated into
        Conv2dRowGemm g) => RowGemmBlockFor8Lanes(dYPad, b, dX, g);

    /// <summary><see cref="Conv2dBackwardWeightKernel3"/> with 2 k × 4 taps × 8 lanes per work-item.</summary>
    public static void Conv2dBackwardWeightFor8LanesKernel3(
        ArrayView<float> xPlanes,   // (N, C, st, st, Hq, Wq) and a zero tail
        ArrayView<float> dYRows,    // (N, K, VBlocks·64)
        ArrayView<float> dst,       // (Chunks, K, C·R·S, 8) partial sums
        Conv2dRowWeightGemm g) => RowWeightGradBlockFor8Lanes(xPlanes, dYRows, dst, g);

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
    // GatherGemmBlock, WeightGradBlock, RowWeightGradBlock, RowGemmBlock, GatherGemmTiled and WeightGradTiled are
    // written by tools/KernelGen into Conv2d.Generated.cs from the block constants (`dotnet run --project tools/KernelGen`),
    // version 6's GatherGemmTiled6 and WeightGradTiled6 into Conv2d.Fp32.Generated.cs.

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
        TensorCore.StoreRounded(tileA, kk0 * TcRow + col, 2 * TcRow, a0, a1, a2, a3, a4, a5, a6, a7);
        TensorCore.StoreRounded(tileB, kk0 * TcRow + col, 2 * TcRow, b0, b1, b2, b3, b4, b5, b6, b7);
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
                TensorCore.StoreRounded(tileA, next + kk0 * TcRow + col, 2 * TcRow, a0, a1, a2, a3, a4, a5, a6, a7);
                TensorCore.StoreRounded(tileB, next + kk0 * TcRow + col, 2 * TcRow, b0, b1, b2, b3, b4, b5, b6, b7);
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
        TensorCore.StoreRounded(tileD, kk0 * TcRow + col, 2 * TcRow, d0, d1, d2, d3, d4, d5, d6, d7);
        TensorCore.StoreRounded(tileX, xkk * TcRow + xcol, 8, v0, v1, v2, v3, v4, v5, v6, v7);
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
                TensorCore.StoreRounded(tileD, next + kk0 * TcRow + col, 2 * TcRow, d0, d1, d2, d3, d4, d5, d6, d7);
                TensorCore.StoreRounded(tileX, next + xkk * TcRow + xcol, 8, v0, v1, v2, v3, v4, v5, v6, v7);
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

    #endregion
}
