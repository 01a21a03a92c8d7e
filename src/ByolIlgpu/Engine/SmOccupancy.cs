namespace ByolIlgpu.Engine;

/// <summary>
/// One multiprocessor's limits for a compute capability. Sources: NVIDIA's CUDA C++ Programming Guide,
/// table "Technical Specifications per Compute Capability" (threads, warps, blocks, registers, shared
/// memory per SM and per block), and the CUDA occupancy calculator as shipped in cuda_occupancy.h
/// (register allocation 256 registers per warp, 4 register sub-partitions per SM, shared memory
/// allocated in 256-byte units on 7.x and 128-byte units from 8.0, 1 KB reserved per block from 8.0).
/// </summary>
public sealed record SmLimits(
    string Gpu, string ComputeCapability,
    int RegistersPerSm, int RegistersPerBlock, int MaxRegistersPerThread,
    int RegisterAllocationUnit, int RegisterSubPartitions,
    int MaxThreadsPerBlock, int MaxWarpsPerSm, int MaxBlocksPerSm,
    int SharedPerSm, int SharedPerBlockOptIn, int StaticSharedPerBlock,
    int SharedReservedPerBlock, int SharedAllocationUnit)
{
    public const int WarpSize = 32;

    public static SmLimits V100 { get; } = new("V100", "7.0", 65536, 65536, 255, 256, 4, 1024, 64, 32,
        96 * 1024, 96 * 1024, 48 * 1024, 0, 256);
    public static SmLimits T4 { get; } = new("T4", "7.5", 65536, 65536, 255, 256, 4, 1024, 32, 16,
        64 * 1024, 64 * 1024, 48 * 1024, 0, 256);
    public static SmLimits A100 { get; } = new("A100", "8.0", 65536, 65536, 255, 256, 4, 1024, 64, 32,
        164 * 1024, 163 * 1024, 48 * 1024, 1024, 128);
    /// <summary>H100 (compute capability 9.0): 64K registers per SM and per block, 2048 threads (64 warps) and 32 blocks per SM, 228 KB shared per SM, 227 KB per block (opt-in).</summary>
    public static SmLimits H100 { get; } = new("H100", "9.0", 65536, 65536, 255, 256, 4, 1024, 64, 32,
        228 * 1024, 227 * 1024, 48 * 1024, 1024, 128);

    /// <summary>The limits of a target's GPU.</summary>
    public static SmLimits Of(CudaTarget target) => target.SmName switch
    {
        "sm_70" => V100,
        "sm_75" => T4,
        "sm_80" => A100,
        "sm_90" => H100,
        _ => throw new ArgumentException($"no multiprocessor limits for {target.SmName}"),
    };

    static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>Registers one warp is given: registers per thread × 32, in 256-register units.</summary>
    public int RegistersPerWarp(int registersPerThread) => RoundUp(registersPerThread * WarpSize, RegisterAllocationUnit);

    /// <summary>
    /// Blocks of <paramref name="groupSize"/> threads one SM holds by registers (cuda_occupancy.h,
    /// cudaOccMaxBlocksPerSMRegsLimit): 0 when the block does not fit the per-block register file; the
    /// hardware's check rounds the block's warps up to the sub-partition count; each sub-partition holds
    /// whole warps.
    /// </summary>
    public int BlocksByRegisters(int registersPerThread, int groupSize)
    {
        int warps = (groupSize + WarpSize - 1) / WarpSize;
        int perWarp = RegistersPerWarp(registersPerThread);
        if (registersPerThread > MaxRegistersPerThread
            || perWarp * warps > RegistersPerBlock
            || perWarp * RoundUp(warps, RegisterSubPartitions) > RegistersPerBlock)
            return 0;
        if (perWarp == 0)
            return int.MaxValue;
        int warpsPerSm = RegistersPerSm / RegisterSubPartitions / perWarp * RegisterSubPartitions;
        return warpsPerSm / warps;
    }

    /// <summary>Shared memory one block is given: its static bytes plus the driver's reserve, in allocation units.</summary>
    public int SharedPerBlockAllocated(int staticSharedBytes) => RoundUp(staticSharedBytes + SharedReservedPerBlock, SharedAllocationUnit);

    /// <summary>Blocks one SM holds by shared memory (at the largest carveout); 0 when one block's static shared memory is too much.</summary>
    public int BlocksBySharedMemory(int staticSharedBytes)
    {
        if (staticSharedBytes > StaticSharedPerBlock)
            return 0;
        int allocated = SharedPerBlockAllocated(staticSharedBytes);
        return allocated == 0 ? int.MaxValue : SharedPerSm / allocated;
    }

    /// <summary>
    /// The largest group (a multiple of 32, at most 1024) a launch of a kernel with these registers and
    /// static shared memory can have; 0 when none can launch.
    /// </summary>
    public int MaxGroupSize(int registersPerThread, int staticSharedBytes)
    {
        if (BlocksBySharedMemory(staticSharedBytes) == 0)
            return 0;
        for (int group = MaxThreadsPerBlock; group >= WarpSize; group -= WarpSize)
            if (BlocksByRegisters(registersPerThread, group) > 0 && group / WarpSize <= MaxWarpsPerSm)
                return group;
        return 0;
    }

    /// <summary>Resident blocks and warps per SM at a group size, and what limits them.</summary>
    public Occupancy OccupancyAt(int registersPerThread, int staticSharedBytes, int groupSize)
    {
        if (groupSize < 1 || groupSize > MaxThreadsPerBlock)
            return new Occupancy(0, 0, 0, MaxWarpsPerSm, "group size");
        int warps = (groupSize + WarpSize - 1) / WarpSize;
        var limits = new (int Blocks, string Name)[]
        {
            (BlocksByRegisters(registersPerThread, groupSize), "registers"),
            (BlocksBySharedMemory(staticSharedBytes), "shared memory"),
            (MaxWarpsPerSm / warps, "warps"),
            (MaxBlocksPerSm, "blocks"),
        };
        int blocks = limits.Min(l => l.Blocks);
        string limiter = string.Join(", ", limits.Where(l => l.Blocks == blocks).Select(l => l.Name));
        return new Occupancy(blocks, warps, blocks * warps, MaxWarpsPerSm, limiter);
    }
}

/// <summary>Blocks and warps resident on one SM; <see cref="Fraction"/> = active warps / the SM's maximum.</summary>
public readonly record struct Occupancy(int BlocksPerSm, int WarpsPerBlock, int ActiveWarps, int MaxWarps, string Limiter)
{
    public double Fraction => MaxWarps == 0 ? 0 : (double)ActiveWarps / MaxWarps;
}
