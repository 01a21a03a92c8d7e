using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Matrix multiply, row-major: C = α·op(A)·op(B) + β·C with op(A) (M, K), op(B) (K, N), C (M, N).
/// A is stored (M, K), or (K, M) when transposed; B is stored (K, N), or (N, K) when transposed.
/// β = 0 overwrites C without reading it (BLAS convention), β = 1 accumulates (gradients use this).
///
/// Versions:
///  1. naive: one output per thread, grid-stride; the oracle.
///  2. register-blocked for CPU-like OpenCL devices (PoCL): each thread owns a 2×64 block of
///     contiguous outputs held in 128 scalar registers, the k-loop updates them in straight-line
///     code that PoCL vectorises (MatmulBlock2, written by tools/KernelGen into Matmul.Generated.cs);
///     no shared memory. B must be (K, N) row-major: the launcher transposes a transposed B first
///     (O(K·N) work against O(M·N·K)).
///  3. shared-memory tiled for GPUs: a group of 16×16 threads computes a 64×64 tile of C,
///     each thread a 4×4 block, staging 64×16 strips of op(A) and op(B) in shared memory.
///  4. TF32 tensor cores (mma.sync m16n8k8) for CUDA GPUs of compute capability 8.0 and newer, an
///     exact emulation of the instruction elsewhere (<see cref="TensorCore"/>): 64×64 tiles per group
///     of 128 threads, operands rounded to TF32 (10-bit mantissa), FP32 accumulation.
///  5. FP32 CUDA cores (full FP32, no tensor cores): a group of 16×16 threads computes a 128×128 tile,
///     each thread 8×8 read as float4s from k-major shared tiles (4 128-bit shared loads per 64 FMAs),
///     8-deep strips double-buffered through registers, one barrier per strip (kernels/Matmul.Fp32.Generated.cs).
/// </summary>
public static partial class MatmulKernels
{
    /// <summary>Block of outputs per thread in version 2: rows (for 16-float and for 8-float vector registers) × columns.</summary>
    public const int Block2Rows = 2, Block2RowsFor8Lanes = 1, Block2Cols = 64;

    /// <summary>Version 3 tile: 64×64 outputs per group of 16×16 threads, k-strips of 16.</summary>
    public const int Tile3 = 64, Tile3K = 16, Threads3 = 16;

    /// <summary>Version 5 tile: 128×128 outputs per group of 16×16 threads (8×8 each), k-strips of 8.</summary>
    public const int Tile5 = 128, Tile5K = 8, Threads5 = 16;

    /// <summary>C[i,j] = α·Σ_p op(A)[i,p]·op(B)[p,j] + β·C[i,j]. Version 1: one output per thread.</summary>
    public static void MatmulKernel1(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> b,     // (K, N) or (N, K) when transB
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, int transB, float alpha, float beta)
    {
        int total = m * n;
        for (int idx = GridStride.Start; idx < total; idx += GridStride.Step)
        {
            int i = idx / n;
            int j = idx - i * n;
            c[idx] = DotRowColumn(a, b, c[idx], i, j, m, n, k, transA, transB, alpha, beta);
        }
    }

    /// <summary>α·Σ_p op(A)[i,p]·op(B)[p,j] + β·c (β = 0 ignores c): one output, any layout.</summary>
    static float DotRowColumn(
        ArrayView<float> a, ArrayView<float> b, float cOld,
        int i, int j, int m, int n, int k, int transA, int transB, float alpha, float beta)
    {
        int aRow = transA != 0 ? 1 : k, aCol = transA != 0 ? m : 1;   // op(A)[i,p] = a[i·aRow + p·aCol]
        int bRow = transB != 0 ? 1 : n, bCol = transB != 0 ? k : 1;   // op(B)[p,j] = b[p·bRow + j·bCol]
        float acc = 0f;
        for (int p = 0; p < k; p++)
            acc += a[i * aRow + p * aCol] * b[p * bRow + j * bCol];
        return beta == 0f ? alpha * acc : alpha * acc + beta * cOld;
    }

    static void Store(ArrayView<float> c, int index, float acc, float alpha, float beta) =>
        c[index] = beta == 0f ? alpha * acc : alpha * acc + beta * c[index];

    /// <summary>
    /// Same product, version 2: thread t owns outputs C[i0..i0+1, j0..j0+63] of block t
    /// (blocks numbered row-major over ⌈M/2⌉ × ⌈N/64⌉); op(B) must be stored (K, N).
    /// Blocks cut by the matrix edge fall back to version 1's per-output loop.
    /// </summary>
    public static void MatmulKernel2(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> bv,    // (K, N), never transposed
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, float alpha, float beta) =>
        MatmulBlocks2(a, bv, c, m, n, k, transA, alpha, beta, Block2Rows);

    /// <summary>Version 2 with the blocks for 8-float vector registers: 1 row × 64 columns per thread.</summary>
    public static void MatmulFor8LanesKernel2(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> bv,    // (K, N), never transposed
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, float alpha, float beta) =>
        MatmulBlocks2(a, bv, c, m, n, k, transA, alpha, beta, Block2RowsFor8Lanes);

    /// <summary>Version 2's walk over blocks of <paramref name="rows"/> × 64 (2: <see cref="MatmulBlock2"/>, 1: <see cref="MatmulBlock2For8Lanes"/>).</summary>
    static void MatmulBlocks2(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> bv,    // (K, N), never transposed
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, float alpha, float beta, int rows)
    {
        int blockRows = (m + rows - 1) / rows, blockCols = (n + Block2Cols - 1) / Block2Cols;
        int blocks = blockRows * blockCols;
        int aRow = transA != 0 ? 1 : k, aCol = transA != 0 ? m : 1;
        for (int blk = GridStride.Start; blk < blocks; blk += GridStride.Step)
        {
            int bi = blk / blockCols;
            int i0 = bi * rows, j0 = (blk - bi * blockCols) * Block2Cols;
            if (i0 + rows > m || j0 + Block2Cols > n)
            {
                for (int i = i0; i < m && i < i0 + rows; i++)
                    for (int j = j0; j < n && j < j0 + Block2Cols; j++)
                        c[i * n + j] = DotRowColumn(a, bv, c[i * n + j], i, j, m, n, k, transA, 0, alpha, beta);
                continue;
            }
            if (rows == Block2Rows)
                MatmulBlock2(a, bv, c, i0, j0, n, k, aRow, aCol, alpha, beta);
            else
                MatmulBlock2For8Lanes(a, bv, c, i0, j0, n, k, aRow, aCol, alpha, beta);
        }
    }

    /// <summary>
    /// Same product, version 3 (GPU): group (gx, gy) computes the 64×64 tile of C at rows 64·gy,
    /// columns 64·gx; thread (tx, ty) of 16×16 owns rows 64·gy + ty + 16·r, columns 64·gx + tx + 16·s
    /// (r, s in 0..3, strided so shared-memory reads do not conflict). Launch with groups of 16×16.
    /// </summary>
    public static void MatmulKernel3(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> b,     // (K, N) or (N, K) when transB
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, int transB, float alpha, float beta)
    {
        var tileA = SharedMemory.Allocate<float>(Tile3K * Tile3);   // (16, 64): op(A) strip, k-major
        var tileB = SharedMemory.Allocate<float>(Tile3K * Tile3);   // (16, 64): op(B) strip
        int tx = Group.IdxX, ty = Group.IdxY;
        int rowBase = Grid.IdxY * Tile3, colBase = Grid.IdxX * Tile3;
        int aRow = transA != 0 ? 1 : k, aCol = transA != 0 ? m : 1;
        int bRow = transB != 0 ? 1 : n, bCol = transB != 0 ? k : 1;
        int lin = ty * Threads3 + tx;   // 0..255
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;
        for (int p0 = 0; p0 < k; p0 += Tile3K)
        {
            // 1024 values of each strip, 4 per thread; zero outside the matrices.
            for (int e = lin; e < Tile3K * Tile3; e += Threads3 * Threads3)
            {
                int kk = e / Tile3, rc = e - kk * Tile3;
                int p = p0 + kk, i = rowBase + rc, j = colBase + rc;
                tileA[e] = p < k && i < m ? a[i * aRow + p * aCol] : 0f;
                tileB[e] = p < k && j < n ? b[p * bRow + j * bCol] : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < Tile3K; kk++)
            {
                int o = kk * Tile3;
                float a0 = tileA[o + ty], a1 = tileA[o + ty + 16], a2 = tileA[o + ty + 32], a3 = tileA[o + ty + 48];
                float b0 = tileB[o + tx], b1 = tileB[o + tx + 16], b2 = tileB[o + tx + 32], b3 = tileB[o + tx + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        int r0 = rowBase + ty, s0 = colBase + tx;
        StoreIfInside(c, r0, s0, m, n, c00, alpha, beta); StoreIfInside(c, r0, s0 + 16, m, n, c01, alpha, beta);
        StoreIfInside(c, r0, s0 + 32, m, n, c02, alpha, beta); StoreIfInside(c, r0, s0 + 48, m, n, c03, alpha, beta);
        StoreIfInside(c, r0 + 16, s0, m, n, c10, alpha, beta); StoreIfInside(c, r0 + 16, s0 + 16, m, n, c11, alpha, beta);
        StoreIfInside(c, r0 + 16, s0 + 32, m, n, c12, alpha, beta); StoreIfInside(c, r0 + 16, s0 + 48, m, n, c13, alpha, beta);
        StoreIfInside(c, r0 + 32, s0, m, n, c20, alpha, beta); StoreIfInside(c, r0 + 32, s0 + 16, m, n, c21, alpha, beta);
        StoreIfInside(c, r0 + 32, s0 + 32, m, n, c22, alpha, beta); StoreIfInside(c, r0 + 32, s0 + 48, m, n, c23, alpha, beta);
        StoreIfInside(c, r0 + 48, s0, m, n, c30, alpha, beta); StoreIfInside(c, r0 + 48, s0 + 16, m, n, c31, alpha, beta);
        StoreIfInside(c, r0 + 48, s0 + 32, m, n, c32, alpha, beta); StoreIfInside(c, r0 + 48, s0 + 48, m, n, c33, alpha, beta);
    }

    /// <summary>Version 4 tile: 64×64 outputs per group of 128 threads on tensor cores, as Conv2d version 5.</summary>
    public const int Tile4 = 64, Tile4K = 16, Threads4 = 128, Row4 = Tile4 + 8;

    /// <summary>
    /// Same product, version 4 (CUDA: TF32 tensor cores, <see cref="TensorCore"/>; elsewhere their emulation):
    /// group (gx, gy) of 128 threads computes the 64×64 tile of C at rows 64·gy, columns 64·gx, warp w the
    /// 32×32 quarter at (32·(w div 2), 32·(w mod 2)); 16-deep strips of op(A) and op(B), rounded to TF32,
    /// double-buffered in shared memory (k-major rows of 72 floats). Each operand is loaded along its
    /// contiguous direction (k for a row-major A and a transposed B). Launch 1-D groups of 128.
    /// </summary>
    [RequiresComputeCapability(8, 0)]
    public static void MatmulKernel4(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> b,     // (K, N) or (N, K) when transB
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, int transB, float alpha, float beta)
    {
        var tileA = SharedMemory.Allocate<float>(2 * Tile4K * Row4);   // (2, 16, 72): op(A)[rowBase + r, p0 + kk] at [buffer, kk, r], TF32
        var tileB = SharedMemory.Allocate<float>(2 * Tile4K * Row4);   // (2, 16, 72): op(B)[p0 + kk, colBase + r] at [buffer, kk, r], TF32
        var scratch = SharedMemory.Allocate<float>(TensorCore.ScratchPerWarp * Threads4 / TensorCore.WarpLanes);
        int lin = Group.IdxX, lane = lin & 31, warp = lin >> 5;
        var warpScratch = scratch.SubView(warp * TensorCore.ScratchPerWarp, TensorCore.ScratchPerWarp);
        int rowBase = Grid.IdxY * Tile4, colBase = Grid.IdxX * Tile4, buffer = Tile4K * Row4;
        // op(A)[i, p] = a[i·aRow + p·aCol], op(B)[p, j] = b[j·bCol + p·bRow].
        int aRow = transA != 0 ? 1 : k, aCol = transA != 0 ? m : 1;
        int bRow = transB != 0 ? 1 : n, bCol = transB != 0 ? k : 1;
        // Element u < 8 of a thread's strip share: along k (kk = lin mod 16, r = lin div 16 + 8u) where k is contiguous, else along r (r = lin mod 64, kk = lin div 64 + 2u).
        bool aAlongK = transA == 0, bAlongK = transB != 0;
        int aKk = aAlongK ? lin & 15 : lin >> 6, aR = aAlongK ? lin >> 4 : lin & 63, aKkStep = aAlongK ? 0 : 2, aRStep = aAlongK ? 8 : 0;
        int bKk = bAlongK ? lin & 15 : lin >> 6, bR = bAlongK ? lin >> 4 : lin & 63, bKkStep = bAlongK ? 0 : 2, bRStep = bAlongK ? 8 : 0;
        int aAt = aKk * Row4 + aR, aAtStep = aKkStep * Row4 + aRStep;   // where element u goes: aAt + u·aAtStep
        int bAt = bKk * Row4 + bR, bAtStep = bKkStep * Row4 + bRStep;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        var acc = default(WarpTile);
        int strips = (k + Tile4K - 1) / Tile4K;

        float a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7;
        LoadStrip4(a, m, k, aRow, aCol, rowBase + aR, aRStep, aKk, aKkStep, out a0, out a1, out a2, out a3, out a4, out a5, out a6, out a7);
        LoadStrip4(b, n, k, bCol, bRow, colBase + bR, bRStep, bKk, bKkStep, out b0, out b1, out b2, out b3, out b4, out b5, out b6, out b7);
        TensorCore.StoreRounded(tileA, aAt, aAtStep, a0, a1, a2, a3, a4, a5, a6, a7);
        TensorCore.StoreRounded(tileB, bAt, bAtStep, b0, b1, b2, b3, b4, b5, b6, b7);
        Group.Barrier();
        for (int s = 0; s < strips; s++)
        {
            int current = (s & 1) * buffer, next = buffer - current;
            bool more = s + 1 < strips;
            if (more)
            {
                int p0 = (s + 1) * Tile4K;
                LoadStrip4(a, m, k, aRow, aCol, rowBase + aR, aRStep, p0 + aKk, aKkStep, out a0, out a1, out a2, out a3, out a4, out a5, out a6, out a7);
                LoadStrip4(b, n, k, bCol, bRow, colBase + bR, bRStep, p0 + bKk, bKkStep, out b0, out b1, out b2, out b3, out b4, out b5, out b6, out b7);
            }
            TensorCore.WarpTileStep(ref acc, tileA, current + warpRow, tileB, current + warpCol, Row4, warpScratch, lane);
            TensorCore.WarpTileStep(ref acc, tileA, current + 8 * Row4 + warpRow, tileB, current + 8 * Row4 + warpCol, Row4, warpScratch, lane);
            if (more)
            {
                TensorCore.StoreRounded(tileA, next + aAt, aAtStep, a0, a1, a2, a3, a4, a5, a6, a7);
                TensorCore.StoreRounded(tileB, next + bAt, bAtStep, b0, b1, b2, b3, b4, b5, b6, b7);
            }
            Group.Barrier();
        }
        int i = rowBase + warpRow + (lane >> 2), j = colBase + warpCol + 2 * (lane & 3);
        TensorCore.StoreWarpTile(c, ref acc, i * n, i < m, (i + 8) * n, i + 8 < m, (i + 16) * n, i + 16 < m, (i + 24) * n, i + 24 < m,
            j, n, 1, alpha, beta);
    }

    /// <summary>8 values v[r·rowStride + p·kStride] at (r + u·rStep, p + u·pStep), u &lt; 8; 0 outside rows × k.</summary>
    static void LoadStrip4(ArrayView<float> v, int rows, int k, int rowStride, int kStride, int r, int rStep, int p, int pStep,
        out float v0, out float v1, out float v2, out float v3, out float v4, out float v5, out float v6, out float v7)
    {
        v0 = LoadInside(v, rows, k, rowStride, kStride, r, p);
        v1 = LoadInside(v, rows, k, rowStride, kStride, r + rStep, p + pStep);
        v2 = LoadInside(v, rows, k, rowStride, kStride, r + 2 * rStep, p + 2 * pStep);
        v3 = LoadInside(v, rows, k, rowStride, kStride, r + 3 * rStep, p + 3 * pStep);
        v4 = LoadInside(v, rows, k, rowStride, kStride, r + 4 * rStep, p + 4 * pStep);
        v5 = LoadInside(v, rows, k, rowStride, kStride, r + 5 * rStep, p + 5 * pStep);
        v6 = LoadInside(v, rows, k, rowStride, kStride, r + 6 * rStep, p + 6 * pStep);
        v7 = LoadInside(v, rows, k, rowStride, kStride, r + 7 * rStep, p + 7 * pStep);
    }

    static float LoadInside(ArrayView<float> v, int rows, int k, int rowStride, int kStride, int r, int p) =>
        r < rows && p < k ? v[r * rowStride + p * kStride] : 0f;

    /// <summary>
    /// C[i,j] = α·Σ_p op(A)[i,p]·op(B)[p,j] + β·C[i,j], version 5 (FP32 CUDA cores): group (gx, gy) computes the 128×128
    /// tile at rows 128·gy, columns 128·gx (<see cref="MatmulTiled5"/>). Launch with groups of 16×16.
    /// </summary>
    public static void MatmulKernel5(
        ArrayView<float> a,     // (M, K) or (K, M) when transA
        ArrayView<float> b,     // (K, N) or (N, K) when transB
        ArrayView<float> c,     // (M, N)
        int m, int n, int k, int transA, int transB, float alpha, float beta) =>
        MatmulTiled5(a, b, c, m, n, k, transA, transB, alpha, beta);

    static void StoreIfInside(ArrayView<float> c, int i, int j, int m, int n, float acc, float alpha, float beta)
    {
        if (i < m && j < n)
            Store(c, i * n + j, acc, alpha, beta);
    }
}
