using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Launchers for <see cref="MatmulKernels"/>: C = α·op(A)·op(B) + β·C, row-major.
/// Version 0 picks per accelerator: 2 (register blocks) on the CPU and CPU-like OpenCL devices,
/// 3 (shared-memory tiles) on GPUs; 5 is the FP32 CUDA-core tile (8×8 per thread). Versions can be forced for tests and benchmarks.
/// </summary>
public static class Matmul
{
    /// <summary>The device policy's version (<see cref="DevicePolicy.Matmul"/>).</summary>
    public static int DefaultVersion(ComputeDevice dev) => dev.Policy.Matmul;

    public static void Gemm(ComputeDevice dev,
        ArrayView<float> a,   // (M, K) or (K, M) when transA
        ArrayView<float> b,   // (K, N) or (N, K) when transB
        ArrayView<float> c,   // (M, N)
        int m, int n, int k, bool transA, bool transB, float alpha, float beta, int version = 0)
    {
        if (a.Length != (long)m * k || b.Length != (long)k * n || c.Length != (long)m * n)
            throw new ArgumentException($"matmul (M={m}, N={n}, K={k}): buffers of {a.Length}, {b.Length}, {c.Length} elements, expected {(long)m * k}, {(long)k * n}, {(long)m * n}");
        version = dev.ResolveVersion(KernelSite.Matmul, version, () => DefaultVersion(dev));   // checked once on the device (KernelVerification)
        if (version == 4)
            dev.RequireComputeCapability("matmul version 4", 8, 0);
        switch (version)
        {
            case 1:
            {
                var kernel = dev.Kernel(nameof(MatmulKernels.MatmulKernel1), acc => acc.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, float>(MatmulKernels.MatmulKernel1));
                kernel(dev.GridStrideConfig((long)m * n), a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta);
                break;
            }
            case 2:
            {
                var bRowMajor = b;
                if (transB)
                {
                    // Version 2 reads rows of B contiguously: transpose (N, K) into (K, N) first.
                    bRowMajor = dev.Pool.Rent((long)k * n);
                    Elementwise.Transpose(dev, b, bRowMajor, n, k);
                }
                var blockSet = dev.Policy.Blocks;
                var kernel = blockSet.IsWidest
                    ? dev.Kernel(nameof(MatmulKernels.MatmulKernel2), acc => acc.LoadStreamKernel<
                        ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float, float>(MatmulKernels.MatmulKernel2))
                    : dev.Kernel(nameof(MatmulKernels.MatmulFor8LanesKernel2), acc => acc.LoadStreamKernel<
                        ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float, float>(MatmulKernels.MatmulFor8LanesKernel2));
                int rows = blockSet.MatmulRows;
                long blocks = (long)((m + rows - 1) / rows) * ((n + MatmulKernels.Block2Cols - 1) / MatmulKernels.Block2Cols);
                kernel(dev.GridStrideConfig(blocks), a, bRowMajor, c, m, n, k, transA ? 1 : 0, alpha, beta);
                break;
            }
            case 3:
            {
                var kernel = dev.Kernel(nameof(MatmulKernels.MatmulKernel3), acc => acc.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, float>(MatmulKernels.MatmulKernel3));
                int t = MatmulKernels.Tile3, th = MatmulKernels.Threads3;
                var config = new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(th, th));
                kernel(config, a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta);
                break;
            }
            case 4:
            {
                var kernel = dev.Kernel(nameof(MatmulKernels.MatmulKernel4), acc => ComputeDevice.LoadInlinePtxKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, float>(acc, MatmulKernels.MatmulKernel4));
                int t = MatmulKernels.Tile4;
                var config = new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(MatmulKernels.Threads4, 1));
                kernel(config, a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta);
                break;
            }
            case 5:
            {
                if (k == 0)
                    goto case 1;   // its loads clamp the reduction index to k − 1: nothing to clamp to (C = β·C)
                var kernel = dev.Kernel(nameof(MatmulKernels.MatmulKernel5), acc => acc.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, float>(MatmulKernels.MatmulKernel5));
                int t = MatmulKernels.Tile5, th = MatmulKernels.Threads5;
                var config = new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(th, th));
                kernel(config, a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version,
                    $"matmul versions are {string.Join(", ", DevicePolicy.VersionsOf[DevicePolicy.MatmulOp])}");
        }
    }

    /// <summary>C = A·B for A (M, K), B (K, N) on the tape; backward dA += dC·Bᵀ, dB += Aᵀ·dC.</summary>
    public static Tensor MatMul(Tape tape, Tensor a, Tensor b)
    {
        Elementwise.CheckRank(a, "matmul", 2);
        Elementwise.CheckRank(b, "matmul", 2);
        int m = a.Dim(0), k = a.Dim(1), n = b.Dim(1);
        if (b.Dim(0) != k)
            throw new ArgumentException($"matmul: inner dimensions differ: {a} · {b}");
        var dev = tape.Device;
        var c = Tensor.Temp(dev, "matmul", m, n);
        Gemm(dev, a.Data, b.Data, c.Data, m, n, k, false, false, 1f, 0f);
        if (tape.ShouldRecord(a, b))
            tape.Record(c, () =>
            {
                var dc = c.GradOrZeros().Data;
                if (a.RequiresGrad) Gemm(dev, dc, b.Data, a.GradOrZeros().Data, m, k, n, false, true, 1f, 1f);
                if (b.RequiresGrad) Gemm(dev, a.Data, dc, b.GradOrZeros().Data, k, n, m, true, false, 1f, 1f);
            });
        return c;
    }
}
