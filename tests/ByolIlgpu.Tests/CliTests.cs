using System.CommandLine;
using ByolIlgpu.Cli;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The `byol` program's commands, help and usage errors, run in-process.</summary>
public class CliTests
{
    static (int Code, string Output, string Error) Run(params string[] args) => Infrastructure.InProcessCli.Run(args);

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
    [InlineData("train", "--epochs", "0", "--synthetic", "10")]
    [InlineData("train", "--batch-size", "1", "--synthetic", "10")]
    [InlineData("train", "--optimizer", "rmsprop")]
    [InlineData("train", "--lr", "-1")]
    [InlineData("train", "--data", "x", "--synthetic", "5")]
    [InlineData("train", "--device", "gpu", "--synthetic", "10")]
    [InlineData("train", "--tau", "1.5")]
    [InlineData("eval", "knn")]
    [InlineData("eval", "linear", "--checkpoint", "c", "--epochs", "0")]
    [InlineData("augment", "--out", "grid.jpg", "--synthetic", "4")]
    [InlineData("bench", "--batch-size", "1")]
    [InlineData("bench", "--kernel-versions-of", "tpu", "--device", "cpu")]
    public void UsageErrorsExitWithTwoAndSayWhy(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("byol: ", error);
        Assert.DoesNotContain("   at ", error);   // no stack trace
    }

    [Theory]
    [InlineData("devices")]
    [InlineData("info", "--width", "--proj-hidden")]
    [InlineData("train", "--data", "--synthetic", "--epochs", "--batch-size", "--width", "--proj-hidden", "--proj-out", "--pred-hidden",
        "--optimizer", "--lr", "--warmup-epochs", "--device", "--seed", "--knn-every", "--run-dir", "--resume")]
    [InlineData("eval knn", "--checkpoint", "--data", "--k")]
    [InlineData("eval linear", "--checkpoint", "--augment", "--epochs")]
    [InlineData("augment", "--out", "--count", "--blur")]
    [InlineData("bench", "--batch-size", "--steps", "--device", "--json", "--kernel-versions-of")]
    public void EveryCommandExplainsEveryOption(string command, params string[] options)
    {
        var (code, output, _) = Run([.. command.Split(' '), "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        foreach (var option in options)
            Assert.Contains(option, output);
        if (command == "train")
            Assert.Contains("default: 200", output);   // defaults are shown
    }

    [Fact]
    public void TrainRunsEndToEndAndPrintsTheFinalKnnLast()
    {
        var dir = Directory.CreateTempSubdirectory("byol-cli-").FullName;
        try
        {
            var (code, output, error) = Run("train", "--synthetic", "32", "--epochs", "1", "--batch-size", "16", "--width", "2",
                "--proj-hidden", "16", "--proj-out", "8", "--pred-hidden", "16", "--device", "cpu", "--run-dir", dir, "--knn-every", "1");
            Assert.True(code == 0, error);
            var last = output.TrimEnd().Split('\n')[^1];
            Assert.Matches(@"^final knn top1: \d\.\d{4}$", last);
            Assert.True(File.Exists(Path.Combine(dir, "metrics.jsonl")));
            (code, output, error) = Run("eval", "knn", "--checkpoint", dir, "--device", "cpu");
            Assert.True(code == 0, error);
            Assert.Contains("knn top1", output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AMissingCheckpointIsOneLineNamingIt()
    {
        var (code, _, error) = Run("eval", "knn", "--checkpoint", "/nonexistent/run", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/run", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void ATrainingStepTooLargeForTheDeviceIsOneLineWithTheLargestBatchThatFits()
    {
        var dir = Directory.CreateTempSubdirectory("byol-cli-").FullName;
        var saved = Environment.GetEnvironmentVariable(ByolIlgpu.Engine.BufferPool.LimitVariable);
        try
        {
            // A 12 MiB pool stands in for a device too small for batch 32 at this width.
            Environment.SetEnvironmentVariable(ByolIlgpu.Engine.BufferPool.LimitVariable, "12");
            string[] Args(string batch) => ["train", "--synthetic", "40", "--epochs", "1", "--batch-size", batch, "--width", "2",
                "--proj-hidden", "16", "--proj-out", "8", "--pred-hidden", "16", "--device", "cpu", "--run-dir", dir, "--knn-every", "0"];
            var (code, _, error) = Run(Args("32"));
            Assert.Equal(1, code);
            Assert.Single(error.TrimEnd().Split('\n'));
            Assert.DoesNotContain("   at ", error);
            var m = System.Text.RegularExpressions.Regex.Match(error,
                @"--batch-size 32 needs [\d.]+ MiB, 12\.0 MiB available; the largest batch that fits is (\d+) \(--batch-size \1\)");
            Assert.True(m.Success, error);
            (code, _, error) = Run(Args(m.Groups[1].Value));
            Assert.True(code == 0, $"--batch-size {m.Groups[1].Value} under the same cap: {error}");
        }
        finally
        {
            Environment.SetEnvironmentVariable(ByolIlgpu.Engine.BufferPool.LimitVariable, saved);
            Directory.Delete(dir, recursive: true);
        }
    }
}
