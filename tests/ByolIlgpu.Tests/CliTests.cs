using System.CommandLine;
using ByolIlgpu.Cli;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The `byol` program's commands, help and usage errors, run in-process.</summary>
public class CliTests
{
    static (int code, string output, string error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(ByolProgram.CreateRoot(), args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void DevicesListsTheCpu()
    {
        var (code, output, _) = Run("devices");
        Assert.Equal(0, code);
        Assert.Contains("cpu:0", output);
        Assert.Contains("--device", output);
    }

    [Fact]
    public void InfoPrintsTheParameterCountsPerPart()
    {
        var (code, output, _) = Run("info");
        Assert.Equal(0, code);
        Assert.Contains("11,168,832", output);
        Assert.Contains("3,158,272", output);
        Assert.Contains("2,109,696", output);
    }

    [Theory]
    [InlineData("info", "--width", "0")]
    [InlineData("info", "--width", "abc")]
    [InlineData("info", "--no-such-option")]
    [InlineData("no-such-command")]
    public void UsageErrorsExitWithTwoAndSayWhy(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("byol: ", error);
        Assert.DoesNotContain("   at ", error);   // no stack trace
    }

    [Theory]
    [InlineData("devices")]
    [InlineData("info")]
    public void EveryCommandExplainsItsOptions(string command)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        if (command == "info")
        {
            Assert.Contains("--width", output);
            Assert.Contains("default: 64", output);
        }
    }
}
