using System.Reflection;
using ByolIlgpu.Kernels;

namespace ByolIlgpu.Engine;

/// <summary>How a launcher shapes a kernel's groups on a GPU (CUDA, or an OpenCL GPU).</summary>
public enum GpuLaunch
{
    /// <summary><see cref="ComputeDevice.GridStrideConfig"/> / <see cref="ComputeDevice.GridStrideConfig2D"/>.</summary>
    GridStride,
    /// <summary><see cref="ComputeDevice.ExactThreadsConfig"/> / <see cref="ComputeDevice.ExactThreadsConfig2D"/>.</summary>
    ExactThreads,
    /// <summary>Conv2d version 4's 16 × 16 threads per 64 × 64 output tile (Ops/Conv2d.cs).</summary>
    Conv2dTile,
    /// <summary>Matmul version 3's 16 × 16 threads per 64 × 64 output tile (Ops/Matmul.cs).</summary>
    MatmulTile,
    /// <summary>Conv2d version 5's and Matmul version 4's 4 warps (128 threads) per 64 × 64 tensor-core tile.</summary>
    TensorCoreTile,
    /// <summary>Conv2d version 6's 16 × 16 threads per 128 × 128 output tile, 8 × 8 each (Ops/Conv2d.cs).</summary>
    Conv2dTile6,
    /// <summary>Matmul version 5's 16 × 16 threads per 128 × 128 output tile, 8 × 8 each (Ops/Matmul.cs).</summary>
    MatmulTile5,
    /// <summary>One group per sample (<c>Augmentation.PerSampleConfig</c>).</summary>
    PerSample,
    /// <summary>A single thread (Reduce's final, ordered sum).</summary>
    SingleThread,
    /// <summary>No launcher in the engine today.</summary>
    None,
}

/// <summary>
/// The threads per group every kernel is launched with on a GPU: the one table the launchers' sizes
/// come from (ComputeDevice, Augmentation, and the kernels' own tile constants) and that
/// <see cref="PtxAudit"/> reads for occupancy. A kernel the catalog finds but this table lacks fails
/// the tests, so a new kernel's launch shape is stated here.
/// </summary>
public static class GpuGroups
{
    /// <summary>Grid-stride kernels on a GPU: 8 warps, a few groups per multiprocessor.</summary>
    public const int GridStride = 256;

    /// <summary>Reductions with a fixed number of partial sums (BatchNorm, LARS, Reduce).</summary>
    public const int ExactThreads = 64;

    /// <summary>Augmentation: one group per sample on a GPU.</summary>
    public const int PerSample = 256;

    public const int Conv2dTile = Conv2dKernels.TileThreads * Conv2dKernels.TileThreads;
    public const int MatmulTile = MatmulKernels.Threads3 * MatmulKernels.Threads3;
    public const int TensorCoreTile = Conv2dKernels.TcThreads;
    public const int Conv2dTile6 = Conv2dKernels.TileThreads6 * Conv2dKernels.TileThreads6;
    public const int MatmulTile5 = MatmulKernels.Threads5 * MatmulKernels.Threads5;

    /// <summary>Threads per group of a launch shape on a GPU; 0 for <see cref="GpuLaunch.None"/>.</summary>
    public static int Threads(GpuLaunch launch) => launch switch
    {
        GpuLaunch.GridStride => GridStride,
        GpuLaunch.ExactThreads => ExactThreads,
        GpuLaunch.Conv2dTile => Conv2dTile,
        GpuLaunch.MatmulTile => MatmulTile,
        GpuLaunch.TensorCoreTile => TensorCoreTile,
        GpuLaunch.Conv2dTile6 => Conv2dTile6,
        GpuLaunch.MatmulTile5 => MatmulTile5,
        GpuLaunch.PerSample => PerSample,
        GpuLaunch.SingleThread => 1,
        _ => 0,
    };

    /// <summary>Each kernel's launch shape, by <see cref="KernelCatalog.NameOf"/> (launcher in the comment).</summary>
    static readonly Dictionary<string, GpuLaunch> Table = new()
    {
        ["AdamKernels.AdamUpdateKernel"] = GpuLaunch.GridStride,                        // Optimizer.TableConfig (2-D)
        ["AugmentKernels.AugmentApplyKernel"] = GpuLaunch.PerSample,
        ["AugmentKernels.AugmentDrawKernel"] = GpuLaunch.GridStride,
        ["AugmentKernels.AugmentEvalKernel"] = GpuLaunch.GridStride,
        ["AugmentKernels.AugmentEvalResizeKernel"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormBackwardInputKernel2"] = GpuLaunch.GridStride,        // GridStrideConfig2D
        ["BatchNormKernels.BatchNormBackwardKernel1"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormBackwardPartialsKernel2"] = GpuLaunch.ExactThreads,  // ExactThreadsConfig2D
        ["BatchNormKernels.BatchNormCenteredSquarePartialsKernel2"] = GpuLaunch.ExactThreads,
        ["BatchNormKernels.BatchNormForwardEvalKernel"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormForwardTrainKernel1"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormNormalizeKernel2"] = GpuLaunch.GridStride,            // GridStrideConfig2D
        ["BatchNormKernels.BatchNormSumPartialsKernel2"] = GpuLaunch.ExactThreads,
        ["BatchNormKernels.BatchNormPlaneStatsKernel3"] = GpuLaunch.GridStride,           // CPU-like devices' version: GridStrideConfig
        ["BatchNormKernels.BatchNormChannelStatsKernel3"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormChannelGradKernel3"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormPlaneNormalizeKernel3"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormPlaneBackwardPartialsKernel3"] = GpuLaunch.GridStride,
        ["BatchNormKernels.BatchNormPlaneBackwardInputKernel3"] = GpuLaunch.GridStride,
        ["ByolLossKernels.ByolLossBackwardKernel"] = GpuLaunch.GridStride,
        ["ByolLossKernels.ByolLossForwardKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardInputKernel1"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardInputKernel2"] = GpuLaunch.GridStride,            // BlockConfig: grid-stride off PoCL
        ["Conv2dKernels.Conv2dBackwardInputKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardInputKernel4"] = GpuLaunch.Conv2dTile,
        ["Conv2dKernels.Conv2dBackwardInputKernel5"] = GpuLaunch.TensorCoreTile,
        ["Conv2dKernels.Conv2dBackwardInputKernel6"] = GpuLaunch.Conv2dTile6,
        ["Conv2dKernels.Conv2dBackwardWeightKernel1"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardWeightKernel2"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardWeightKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardWeightKernel4"] = GpuLaunch.Conv2dTile,
        ["Conv2dKernels.Conv2dBackwardWeightKernel5"] = GpuLaunch.TensorCoreTile,
        ["Conv2dKernels.Conv2dBackwardWeightKernel6"] = GpuLaunch.Conv2dTile6,
        ["Conv2dKernels.Conv2dClassWeightsKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardKernel1"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardKernel2"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardFor8LanesKernel2"] = GpuLaunch.GridStride,   // the register blocks for 8-float vectors (CPU-like devices)
        ["Conv2dKernels.Conv2dBackwardInputFor8LanesKernel2"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel2"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardFor8LanesKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardInputFor8LanesKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardKernel3"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dForwardKernel4"] = GpuLaunch.Conv2dTile,
        ["Conv2dKernels.Conv2dForwardKernel5"] = GpuLaunch.TensorCoreTile,
        ["Conv2dKernels.Conv2dForwardKernel6"] = GpuLaunch.Conv2dTile6,
        ["Conv2dKernels.Conv2dForwardWeightsKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dPadKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dRowLayoutKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dSumPartialsKernel"] = GpuLaunch.GridStride,
        ["Conv2dKernels.Conv2dTransposeOutputGradKernel"] = GpuLaunch.GridStride,
        ["CrossEntropyKernels.CrossEntropyBackwardKernel"] = GpuLaunch.GridStride,
        ["CrossEntropyKernels.CrossEntropyForwardKernel"] = GpuLaunch.GridStride,
        ["ElementwiseKernels.AddScalarFromBufferKernel"] = GpuLaunch.GridStride,
        ["ElementwiseKernels.AxpbyKernel"] = GpuLaunch.GridStride,
        ["ElementwiseKernels.BatchedTransposeKernel"] = GpuLaunch.None,
        ["ElementwiseKernels.FillKernel"] = GpuLaunch.GridStride,
        ["ElementwiseKernels.GatherRowsKernel"] = GpuLaunch.GridStride,
        ["ElementwiseKernels.TransposeKernel"] = GpuLaunch.GridStride,
        ["EmaKernels.EmaUpdateKernel"] = GpuLaunch.GridStride,
        ["KnnKernels.TopKKernel"] = GpuLaunch.GridStride,
        ["L2NormalizeKernels.L2NormalizeBackwardKernel"] = GpuLaunch.GridStride,
        ["L2NormalizeKernels.L2NormalizeForwardKernel"] = GpuLaunch.GridStride,
        ["LarsKernels.LarsNormPartialsKernel"] = GpuLaunch.ExactThreads,               // ExactThreadsConfig2D
        ["LarsKernels.LarsScaleKernel"] = GpuLaunch.GridStride,
        ["LarsKernels.LarsUpdateKernel"] = GpuLaunch.GridStride,                        // Optimizer.TableConfig (2-D)
        ["LinearKernels.LinearBiasBackwardKernel"] = GpuLaunch.GridStride,
        ["LinearKernels.LinearBiasForwardKernel"] = GpuLaunch.GridStride,
        ["MatmulKernels.MatmulKernel1"] = GpuLaunch.GridStride,
        ["MatmulKernels.MatmulKernel2"] = GpuLaunch.GridStride,
        ["MatmulKernels.MatmulFor8LanesKernel2"] = GpuLaunch.GridStride,
        ["MatmulKernels.MatmulKernel3"] = GpuLaunch.MatmulTile,
        ["MatmulKernels.MatmulKernel4"] = GpuLaunch.TensorCoreTile,
        ["MatmulKernels.MatmulKernel5"] = GpuLaunch.MatmulTile5,
        ["PoolKernels.GlobalAvgPoolBackwardKernel"] = GpuLaunch.GridStride,
        ["PoolKernels.GlobalAvgPoolForwardKernel"] = GpuLaunch.GridStride,
        ["PoolKernels.MaxPool2dBackwardKernel"] = GpuLaunch.GridStride,
        ["PoolKernels.MaxPool2dForwardKernel"] = GpuLaunch.GridStride,
        ["ReduceKernels.SumFinalizeKernel"] = GpuLaunch.SingleThread,
        ["ReduceKernels.SumPartialsKernel"] = GpuLaunch.ExactThreads,
        ["ReluKernels.ReluBackwardKernel"] = GpuLaunch.GridStride,
        ["ReluKernels.ReluForwardKernel"] = GpuLaunch.GridStride,
        ["ResidualKernels.AddReluBackwardKernel"] = GpuLaunch.GridStride,
        ["ResidualKernels.AddReluForwardKernel"] = GpuLaunch.GridStride,
        ["SgdKernels.SgdUpdateKernel"] = GpuLaunch.GridStride,                          // Optimizer.TableConfig (2-D)
    };

    /// <summary>The launch shape of a kernel, or null when the table does not list it.</summary>
    public static GpuLaunch? LaunchOf(MethodInfo kernel) =>
        Table.TryGetValue(KernelCatalog.NameOf(kernel), out var launch) ? launch : null;

    /// <summary>Names in the table that are no kernel of the catalog (a renamed or removed kernel).</summary>
    public static IEnumerable<string> StaleEntries() =>
        Table.Keys.Except(KernelCatalog.All.Select(KernelCatalog.NameOf));
}
