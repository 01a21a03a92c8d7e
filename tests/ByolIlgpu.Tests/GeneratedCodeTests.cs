using ByolIlgpu.Engine;
using ByolIlgpu.KernelGen;
using ByolIlgpu.Kernels;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The committed kernels/*.Generated.cs are exactly what tools/KernelGen writes (its source is linked into this project).</summary>
public class GeneratedCodeTests
{
    [Fact]
    public void CommittedGeneratedFilesMatchTheGenerator()
    {
        string root = KernelGenerator.FindRepositoryRoot(AppContext.BaseDirectory)
            ?? throw new InvalidOperationException("ByolIlgpu.sln not found above " + AppContext.BaseDirectory);
        var files = KernelGenerator.Files().ToList();
        Assert.NotEmpty(files);
        foreach (var (path, expected) in files)
        {
            string committed = File.ReadAllText(Path.Combine(root, path)).ReplaceLineEndings("\n");
            Assert.True(committed == expected,
                $"{path} differs from the generator's output: run `dotnet run --project tools/KernelGen` and commit the result");
        }
    }

    /// <summary>The generated blocks and the launchers that size their grids must agree on the block constants.</summary>
    [Fact]
    public void GeneratorBlockConstantsAreTheOnesTheLaunchersUse()
    {
        Assert.Equal(Conv2dKernels.Block2, KernelGenerator.GatherColumns);
        Assert.Equal(Conv2dKernels.Block2, KernelGenerator.WeightGradRows);
        Assert.Equal(Conv2dKernels.Run3, KernelGenerator.RowRun);
        Assert.Equal(Conv2dKernels.Run3, KernelGenerator.RowVBlock);
        Assert.Equal(Conv2dKernels.Tile, KernelGenerator.Tile);
        Assert.Equal(Conv2dKernels.TileK, KernelGenerator.TileK);
        Assert.Equal(Conv2dKernels.TileThreads, KernelGenerator.TileThreads);
        Assert.Equal(MatmulKernels.Block2Cols, KernelGenerator.MatmulColumns);
        // Matmul version 2's kernels pass their block rows to one walk: one constant per set.
        Assert.Equal([MatmulKernels.Block2Rows, MatmulKernels.Block2RowsFor8Lanes], KernelGenerator.BlockSets.Select(s => s.MatmulRows));
        Assert.Equal(KernelGenerator.BlockSets.Select(s => s.Lanes), RegisterBlockSet.All.Select(s => s.Lanes));
    }

    /// <summary>Each block set has its own generated blocks, and the launchers' table (RegisterBlockSet) carries its shapes.</summary>
    [Fact]
    public void EveryBlockSetIsGeneratedWithItsShapes()
    {
        Assert.Equal(2, KernelGenerator.BlockSets.Count);
        Assert.True(KernelGenerator.BlockSets[0].Lanes > KernelGenerator.BlockSets[1].Lanes, "widest set first");
        string conv = KernelGenerator.Conv2dFile(), matmul = KernelGenerator.MatmulFile();
        foreach (var (set, shapes) in KernelGenerator.BlockSets.Zip(RegisterBlockSet.All))
        {
            foreach (var block in new[] { "GatherGemmBlock", "WeightGradBlock", "RowWeightGradBlock", "RowGemmBlock" })
                Assert.Contains($"    static void {block}{set.Suffix}(", conv);
            Assert.Contains($"    static void MatmulBlock2{set.Suffix}(", matmul);
            Assert.Equal(new RegisterBlockSet(set.Lanes, set.GatherPositions, set.WeightGradTaps, set.RowChannels,
                set.RowWeightGradRows, set.RowWeightGradTaps, set.MatmulRows), shapes);
            // The 8-lane gather block keeps one row of 64 accumulators; the widest keeps more rows.
            var text = new System.Text.StringBuilder();
            KernelGenerator.GatherGemmBlock(text, set.GatherPositions, KernelGenerator.GatherColumns, set);
            Assert.Contains($"c{set.GatherPositions - 1}_63 = 0f", text.ToString());
            Assert.DoesNotContain($"c{set.GatherPositions}_0", text.ToString());
        }
    }

    [Fact]
    public void GeneratedTileHasOneAccumulatorPerRowAndColumnOfItsThread()
    {
        var block = new System.Text.StringBuilder();
        KernelGenerator.GatherGemmTiled(block, KernelGenerator.Tile, KernelGenerator.TileK, KernelGenerator.TileThreads);
        string text = block.ToString();
        int per = KernelGenerator.Tile / KernelGenerator.TileThreads, lastRow = KernelGenerator.Tile - KernelGenerator.TileThreads;
        for (int r = 0; r < per; r++)
            for (int s = 0; s < per; s++)
                Assert.Contains($"float c{r}{s} = 0f;", text);
        Assert.DoesNotContain($"c{per}0", text);
        // The last reduction step reads the strips' last rows.
        int lastStep = (KernelGenerator.TileK - 1) * KernelGenerator.Tile;
        Assert.Contains($"a{per - 1} = tileB[{lastStep + lastRow} + ty];", text);
        Assert.Contains($"b{per - 1} = tileA[{lastStep + lastRow} + tx];", text);
        Assert.Throws<ArgumentException>(() => KernelGenerator.GatherGemmTiled(new System.Text.StringBuilder(), 64, 16, 24));
    }

    [Fact]
    public void GeneratedGatherBlockHasOneAccumulatorPerPositionAndColumn()
    {
        var block = new System.Text.StringBuilder();
        var widest = KernelGenerator.BlockSets[0];
        KernelGenerator.GatherGemmBlock(block, widest.GatherPositions, KernelGenerator.GatherColumns, widest);
        string text = block.ToString();
        int last = KernelGenerator.GatherColumns - 1;
        for (int p = 0; p < widest.GatherPositions; p++)
        {
            Assert.Contains($"c{p}_{last} = 0f", text);
            Assert.Contains($"Put(dst, o + {last} * om, c{p}_{last}, {last} < mOk, g.Accumulate);", text);
        }
        Assert.DoesNotContain($"c{widest.GatherPositions}_0", text);
    }
}
