namespace ByolIlgpu.KernelGen;

/// <summary>
/// One set of CPU register-block shapes, for devices whose vector registers hold <see cref="Lanes"/>
/// floats. Every block keeps 64 accumulators along its contiguous direction (PoCL vectorises them:
/// 64 / Lanes registers per broadcast row), so what a set chooses is how many broadcast rows share
/// them: rows × 64 / Lanes accumulator registers, plus the broadcasts and products, must fit the
/// register file without spills. Measured on PoCL, 2 cores of an AMD EPYC (Zen 5), 2026-12-02
/// (bench/README.md): with 32 registers (AVX-512, <c>cpu-skylake-avx512</c>, 256-bit vectors) 3 rows
/// (24 accumulator registers) beat the 2 tuned on Zen 4 for the gathers (conv time per image 20.3 →
/// 18.4 ms at full width) and for the weight gradient (3×3 layers 1.2–1.4× faster; 1×1 ones slower,
/// but they are 3% of the work), the row blocks keep 2 channels (3 was no faster, and wastes a
/// third of a block at 16 channels), and 4 rows lose PoCL's vectoriser (5 GFLOP/s); with 16
/// registers (AVX2, <c>cpu-haswell</c>) 2 rows spill (16 accumulators) and 1 row runs up to 1.8× faster.
/// Each output's sum runs in the same order in every set, so the sets give bit-identical results.
/// </summary>
/// <param name="Suffix">Appended to each generated block's name ("" for the widest set).</param>
/// <param name="Lanes">Floats per vector register of the devices this set is for.</param>
/// <param name="GatherPositions">GatherGemmBlock: positions per work-item (× 64 columns m).</param>
/// <param name="WeightGradTaps">WeightGradBlock: taps per work-item (× 64 rows k).</param>
/// <param name="RowChannels">RowGemmBlock: channels per work-item (× a run of 64 positions).</param>
/// <param name="RowWeightGradRows">RowWeightGradBlock: rows k per work-item.</param>
/// <param name="RowWeightGradTaps">RowWeightGradBlock: taps per work-item (each row × tap keeps 8 lane sums).</param>
/// <param name="MatmulRows">MatmulBlock2: rows of C per thread (× 64 columns).</param>
public sealed record RegisterBlocks(string Suffix, int Lanes, int GatherPositions, int WeightGradTaps, int RowChannels,
    int RowWeightGradRows, int RowWeightGradTaps, int MatmulRows)
{
    /// <summary>AVX-512 (32 registers of 16 floats; PoCL's skylake-avx512): the shapes tuned first.</summary>
    public static RegisterBlocks For16Lanes { get; } = new("", 16, GatherPositions: 3, WeightGradTaps: 3, RowChannels: 2,
        RowWeightGradRows: 4, RowWeightGradTaps: 4, MatmulRows: 2);

    /// <summary>AVX2 (16 registers of 8 floats; PoCL's haswell): one broadcast row per block.</summary>
    public static RegisterBlocks For8Lanes { get; } = new("For8Lanes", 8, GatherPositions: 1, WeightGradTaps: 1, RowChannels: 1,
        RowWeightGradRows: 2, RowWeightGradTaps: 4, MatmulRows: 1);

    /// <summary>The line each generated block's doc comment carries.</summary>
    public string Doc => $"Block set for {Lanes}-float vector registers (tools/KernelGen/RegisterBlocks.cs).";
}
