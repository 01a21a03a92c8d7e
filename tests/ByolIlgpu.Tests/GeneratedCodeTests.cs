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
        Assert.Equal(Conv2dKernels.Block3, KernelGenerator.RowChannels);
        Assert.Equal(Conv2dKernels.Run3, KernelGenerator.RowRun);
        Assert.Equal(Conv2dKernels.Run3, KernelGenerator.RowVBlock);
        Assert.Equal(Conv2dKernels.Tile, KernelGenerator.Tile);
        Assert.Equal(Conv2dKernels.TileK, KernelGenerator.TileK);
        Assert.Equal(Conv2dKernels.TileThreads, KernelGenerator.TileThreads);
        Assert.Equal(MatmulKernels.Block2Rows, KernelGenerator.MatmulRows);
        Assert.Equal(MatmulKernels.Block2Cols, KernelGenerator.MatmulColumns);
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
        KernelGenerator.GatherGemmBlock(block, KernelGenerator.GatherPositions, KernelGenerator.GatherColumns);
        string text = block.ToString();
        int last = KernelGenerator.GatherColumns - 1;
        for (int p = 0; p < KernelGenerator.GatherPositions; p++)
        {
            Assert.Contains($"c{p}_{last} = 0f", text);
            Assert.Contains($"Put(dst, o + {last} * om, c{p}_{last}, {last} < mOk, g.Accumulate);", text);
        }
        Assert.DoesNotContain($"c{KernelGenerator.GatherPositions}_0", text);
    }
}
