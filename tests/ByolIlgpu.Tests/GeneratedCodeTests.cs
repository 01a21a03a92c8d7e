using ByolIlgpu.KernelGen;
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
