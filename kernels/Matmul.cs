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
/// </summary>
public static partial class MatmulKernels
{
    /// <summary>Block of outputs per thread in version 2: rows × columns.</summary>
    public const int Block2Rows = 2, Block2Cols = 64;

    /// <summary>Version 3 tile: 64×64 outputs per group of 16×16 threads, k-strips of 16.</summary>
    public const int Tile3 = 64, Tile3K = 16, Threads3 = 16;

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
        int m, int n, int k, int transA, float alpha, float beta)
    {
        int blockRows = (m + 1) / 2, blockCols = (n + Block2Cols - 1) / Block2Cols;
        int blocks = blockRows * blockCols;
        int aRow = transA != 0 ? 1 : k, aCol = transA != 0 ? m : 1;
        for (int blk = GridStride.Start; blk < blocks; blk += GridStride.Step)
        {
            int bi = blk / blockCols;
            int i0 = bi * 2, j0 = (blk - bi * blockCols) * Block2Cols;
            if (i0 + 2 > m || j0 + Block2Cols > n)
            {
                for (int i = i0; i < m && i < i0 + 2; i++)
                    for (int j = j0; j < n && j < j0 + Block2Cols; j++)
                        c[i * n + j] = DotRowColumn(a, bv, c[i * n + j], i, j, m, n, k, transA, 0, alpha, beta);
                continue;
            }
            MatmulBlock2(a, bv, c, i0, j0, n, k, aRow, aCol, alpha, beta);
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

    static void StoreIfInside(ArrayView<float> c, int i, int j, int m, int n, float acc, float alpha, float beta)
    {
        if (i < m && j < n)
            Store(c, i * n + j, acc, alpha, beta);
    }
}
