using ByolIlgpu.Kernels;

namespace ByolIlgpu.Engine;

/// <summary>
/// One set of the generated CPU register blocks (conv2d versions 2 and 3, matmul version 2), for
/// devices whose vector registers hold <see cref="Lanes"/> floats; its shapes come from the generated
/// tables <see cref="Conv2dKernels.BlockSets"/> and <see cref="MatmulKernels.BlockSets"/>
/// (tools/KernelGen/RegisterBlocks.cs). Every block keeps 64 accumulators along its contiguous
/// direction; a set chooses how many broadcast rows share them, so that the accumulators fit the
/// register file: 2–3 rows (16–24 of AVX-512's 32 registers at 256 bits) or 1 row (8 of AVX2's 16).
/// The sets sum each output in the same order, so they give bit-identical results.
/// </summary>
public sealed record RegisterBlockSet(int Lanes, int GatherPositions, int WeightGradTaps, int RowChannels,
    int RowWeightGradRows, int RowWeightGradTaps, int MatmulRows)
{
    /// <summary>Every generated set, widest first.</summary>
    public static IReadOnlyList<RegisterBlockSet> All { get; } = Conv2dKernels.BlockSets.Zip(MatmulKernels.BlockSets, (c, m) =>
        c.Lanes == m.Lanes
            ? new RegisterBlockSet(c.Lanes, c.GatherPositions, c.WeightGradTaps, c.RowChannels, c.RowWeightGradRows, c.RowWeightGradTaps, m.Rows)
            : throw new InvalidOperationException($"generated block sets disagree: conv2d {c.Lanes} lanes, matmul {m.Lanes}")).ToList();

    /// <summary>The widest set: what the CPU accelerator and devices that report no width run.</summary>
    public static RegisterBlockSet Widest => All[0];

    /// <summary>Whether this is the widest set (whose kernels carry no suffix).</summary>
    public bool IsWidest => Lanes == Widest.Lanes;

    /// <summary>
    /// The set for a device with <paramref name="lanes"/> floats per vector register: the widest set
    /// not wider than the device (a narrower device than every set gets the narrowest); unknown
    /// (null or 0): the widest.
    /// </summary>
    public static RegisterBlockSet ForLanes(int? lanes) => lanes is null or <= 0
        ? Widest
        : All.FirstOrDefault(s => s.Lanes <= lanes) ?? All[^1];

    /// <summary>The set of exactly <paramref name="lanes"/> lanes, or an error naming the sets there are.</summary>
    public static RegisterBlockSet Exactly(int lanes) => All.FirstOrDefault(s => s.Lanes == lanes)
        ?? throw new ArgumentException($"register blocks for {lanes} lanes: expected one of {string.Join(", ", All.Select(s => s.Lanes))}");

    /// <summary>One line for `byol devices` and the benchmarks.</summary>
    public string Describe() =>
        $"register blocks for {Lanes} float lanes (conv2d v2 {GatherPositions}×64, v2 weight {WeightGradTaps}×64, v3 {RowChannels}×64, " +
        $"v3 weight {RowWeightGradRows}×{RowWeightGradTaps}×8; matmul v2 {MatmulRows}×64)";
}
