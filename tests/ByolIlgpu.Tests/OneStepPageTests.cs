using ByolIlgpu.Byol;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>docs/maths/one-step.md is exactly what `byol one-step` writes now: the page cannot drift from the code.</summary>
public class OneStepPageTests
{
    static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ByolIlgpu.sln")))
                return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("ByolIlgpu.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void TheCommittedPageIsWhatTheCommandWrites()
    {
        string path = RepositoryFile(Path.Combine("docs", "maths", "one-step.md"));
        Assert.True(File.Exists(path), $"{path} is missing: run `byol one-step --out docs/maths/one-step.md`");
        string committed = File.ReadAllText(path);
        string generated;
        using (var dev = OneStepWalkthrough.CreateDevice())
            generated = OneStepWalkthrough.Generate(dev);
        if (committed == generated)
            return;
        var a = committed.Split('\n');
        var b = generated.Split('\n');
        int line = 0;
        while (line < a.Length && line < b.Length && a[line] == b[line])
            line++;
        Assert.Fail($"docs/maths/one-step.md differs from `byol one-step` at line {line + 1}:\n  committed: {(line < a.Length ? a[line] : "<end of file>")}\n  generated: {(line < b.Length ? b[line] : "<end of file>")}\n" +
            "regenerate it with `byol one-step --out docs/maths/one-step.md` if the change is intended");
    }

    [Fact]
    public void NumbersArePrintedToFourSignificantDigits()
    {
        Assert.Equal("0.1235", OneStepWalkthrough.F(0.123456));
        Assert.Equal("-12.35", OneStepWalkthrough.F(-12.345678));
        Assert.Equal("1.235e-05", OneStepWalkthrough.F(1.23456e-5));
        Assert.Equal("0", OneStepWalkthrough.F(-0.0));
        Assert.Equal("1.000", OneStepWalkthrough.F(0.99999999));
        Assert.Equal("-10.00", OneStepWalkthrough.F(-9.99999));
        Assert.Equal("999.9", OneStepWalkthrough.F(999.94));
        Assert.Equal("1.235e+04", OneStepWalkthrough.F(12345.6));
    }
}
