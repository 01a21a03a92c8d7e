using System.Text.Json.Nodes;
using ByolIlgpu.Cli;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>`byol selftest`: it passes on the CPU device, a corrupted kernel version fails it naming the op, and usage errors exit 2.</summary>
public class SelfTestTests
{
    static (int Code, string Output, string Error) Run(params string[] args) => Infrastructure.InProcessCli.Run(args);

    static (int Code, string Output) RunWithHook(string only, Action<string, string, float[]> hook)
    {
        var output = new StringWriter();
        int code = SelfTestCommand.Run("cpu", only, null, output, new StringWriter(), hook);
        return (code, output.ToString());
    }

    [Fact]
    public void EveryCheckPassesOnTheCpuDeviceAndTheJsonHasEveryRow()
    {
        string json = Path.Combine(Path.GetTempPath(), $"selftest-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, _) = Run("selftest", "--device", "cpu", "--json", json);
            Assert.True(code == 0, output);
            Assert.Contains("op ", output);
            Assert.Contains("max error", output);
            Assert.Matches(@"selftest: all \d+ checks passed on cpu:0 .* in \d+\.\d s", output);
            Assert.DoesNotContain("FAIL", output);
            var report = JsonNode.Parse(File.ReadAllText(json))!;
            var rows = report["rows"]!.AsArray();
            Assert.True(report["passed"]!.GetValue<bool>());
            // Every op family the tests cover has rows, and each kind of comparison is made.
            foreach (var family in ByolIlgpu.SelfTest.SelfTests.Families.Select(f => f.Name))
                Assert.Contains(rows, r => r!["family"]!.GetValue<string>() == family);
            foreach (var against in new[] { "reference", "v1", "finite-d" })
                Assert.Contains(rows, r => r!["against"]!.GetValue<string>() == against);
            foreach (var op in new[] { "conv2d.forward", "conv2d.backward-input", "conv2d.backward-weight" })
                foreach (var version in new[] { "v1 fp32", "v2 fp32", "v3 fp32" })
                    Assert.Contains(rows, r => r!["op"]!.GetValue<string>() == op && r["version"]!.GetValue<string>() == version);
            Assert.Contains(rows, r => r!["op"]!.GetValue<string>() == "conv2d (tape) dw" && r["against"]!.GetValue<string>() == "finite-d");
            Assert.Contains("skipped: conv2d v5", output);   // TF32 needs 128-thread groups, the CPU device runs 16
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData("conv2d.backward-weight", "v3 fp32")]
    [InlineData("matmul", "v2 fp32")]
    [InlineData("batchnorm.train dx", "v2")]
    public void ACorruptedKernelVersionFailsWithExitCode1AndIsNamed(string op, string version)
    {
        string family = op.Split('.', ' ')[0];
        var (code, output) = RunWithHook(family, (o, v, values) =>
        {
            if (o == op && v == version)
                values[values.Length / 2] *= 1.01f;
        });
        Assert.Equal(CommandLine.Failure, code);
        var failing = output.Split('\n').Where(l => l.TrimEnd().EndsWith("FAIL")).ToList();
        Assert.NotEmpty(failing);
        Assert.All(failing, l => Assert.StartsWith(op, l));
        Assert.All(failing, l => Assert.Contains(version, l));
        Assert.Matches(@"\[\d+\] got .*, ref .*, bound", output);   // the first mismatches, as llm.c prints them
        Assert.Contains($"FAILED on cpu:0", output);
        Assert.Contains($"{op} {version}", output.Split('\n').Last(l => l.StartsWith("selftest:")));
        Assert.Contains(" ok", output);   // the other versions still pass
    }

    [Fact]
    public void ACorruptedGradientFailsAgainstFiniteDifferencesToo()
    {
        var (code, output) = RunWithHook("relu", (o, _, values) =>
        {
            if (o == "relu dx")
                values[0] += 0.5f;
        });
        Assert.Equal(CommandLine.Failure, code);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("relu dx") && l.Contains("finite-d") && l.TrimEnd().EndsWith("FAIL"));
        Assert.Contains(output.Split('\n'), l => l.StartsWith("relu ") && !l.StartsWith("relu dx") && l.TrimEnd().EndsWith("ok"));
    }

    [Theory]
    [InlineData("selftest", "--only", "no-such-op")]
    [InlineData("selftest", "--device", "tpu")]
    [InlineData("selftest", "--no-such-option")]
    [InlineData("selftest", "--json")]
    public void UsageErrorsExitWith2AndOneLine(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(CommandLine.UsageError, code);
        Assert.StartsWith("byol: ", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void OnlyRunsTheNamedFamilies()
    {
        var (code, output, _) = Run("selftest", "--device", "cpu", "--only", "relu,ema");
        Assert.Equal(0, code);
        var rows = output.Split('\n').Where(l => l.TrimEnd().EndsWith(" ok")).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, l => Assert.True(l.StartsWith("relu") || l.StartsWith("ema"), l));
    }
}
