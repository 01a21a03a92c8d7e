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
        Assert.Contains("FP32 peak of the CPU accelerator: ", output);
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
    [InlineData("train", "--precision", "bf16", "--synthetic", "10")]
    [InlineData("bench", "--precision", "fp16")]
    [InlineData("export", "--checkpoint", "c.safetensors")]
    [InlineData("export", "--checkpoint", "c.safetensors", "--out", "backbone.pt")]
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
        "--optimizer", "--lr", "--warmup-epochs", "--device", "--precision", "--seed", "--knn-every", "--run-dir", "--resume", "--overwrite", "--keep-checkpoints")]
    [InlineData("eval knn", "--checkpoint", "--data", "--k", "--precision")]
    [InlineData("eval linear", "--checkpoint", "--augment", "--epochs", "--precision")]
    [InlineData("augment", "--out", "--count", "--blur")]
    [InlineData("bench", "--batch-size", "--steps", "--device", "--json", "--kernel-versions-of", "--precision")]
    [InlineData("export", "--checkpoint", "--out", "--teacher", "--overwrite", ".safetensors", ".onnx")]
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
            Assert.Contains("\"precision\": \"fp32\"", File.ReadAllText(Path.Combine(dir, "config.json")));   // auto, resolved
            Assert.Contains("precision fp32", output);
            (code, output, error) = Run("eval", "knn", "--checkpoint", dir, "--device", "cpu", "--precision", "fp32");
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
            // A 12 MiB budget stands in for a device too small for batch 32 at this width (the images then stream:
            // the pool gets what their ring of device batch buffers leaves).
            Environment.SetEnvironmentVariable(ByolIlgpu.Engine.BufferPool.LimitVariable, "12");
            string[] Args(string batch) => ["train", "--synthetic", "40", "--epochs", "1", "--batch-size", batch, "--width", "2",
                "--proj-hidden", "16", "--proj-out", "8", "--pred-hidden", "16", "--device", "cpu", "--run-dir", dir, "--knn-every", "0"];
            var (code, _, error) = Run(Args("32"));
            Assert.Equal(1, code);
            Assert.Single(error.TrimEnd().Split('\n'));
            Assert.DoesNotContain("   at ", error);
            var m = System.Text.RegularExpressions.Regex.Match(error,
                @"--batch-size 32 needs [\d.]+ MiB, [\d.]+ [KM]iB available \(of a 12\.0 MiB budget, the rest holding the host-placed images\); the largest batch that fits is (\d+) \(--batch-size \1\)");
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

    [Fact]
    public void BenchShowsThePrecisionTheKernelVersionsAndTheirChecks()
    {
        var json = Path.Combine(Directory.CreateTempSubdirectory("byol-cli-").FullName, "bench.json");
        try
        {
            var (code, output, error) = Run("bench", "--device", "cpu", "--width", "2", "--proj-hidden", "16", "--proj-out", "8", "--pred-hidden", "16",
                "--batch-size", "2", "--steps", "1", "--precision", "fp32", "--json", json);
            Assert.True(code == 0, error);
            Assert.Contains("precision fp32", output);
            Assert.Matches(@"kernel versions \(fp32\): conv2d backward-input v[23](/v3)?, backward-weight v[23](/v3)?, forward v[23](/v3)?; matmul v2; batchnorm 1d v1, 2d v3", output);
            Assert.Contains("register blocks for 16 float lanes", output);
            Assert.Contains("kernel checks against v1 on this device: conv2d v", output);
            Assert.Contains("matmul v2 passed", output);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            Assert.Equal("fp32", root.GetProperty("precision").GetString());
            Assert.Equal(2, root.GetProperty("kernel_versions").GetProperty("matmul").GetInt32());
            Assert.Contains(root.GetProperty("kernel_versions").EnumerateObject(), p => p.Name.StartsWith("conv2d.backward-weight C=", StringComparison.Ordinal));
            var checks = root.GetProperty("kernel_checks").EnumerateArray().ToList();
            Assert.Contains(checks, c => c.GetProperty("op").GetString() == "matmul" && c.GetProperty("passed").GetBoolean());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(json)!, recursive: true);
        }
    }

    [Fact]
    public void APrecisionTheDeviceCannotRunIsAUsageError()
    {
        // The one path to it without a GPU below sm_80: the exception a T4 raises, thrown by a command.
        var root = new RootCommand();
        var command = new Command("t4");
        command.SetAction(_ => DevicePolicyThrows());
        root.Subcommands.Add(command);
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(2, ByolIlgpu.Cli.CommandLine.Run(root, ["t4"], output, error));
        Assert.StartsWith("byol: precision tf32: cuda:0 (Tesla T4) has compute capability 7.5", error.ToString());
        Assert.Single(error.ToString().TrimEnd().Split('\n'));
    }

    static int DevicePolicyThrows()
    {
        var t4 = new ByolIlgpu.Engine.DeviceInfo(ByolIlgpu.Engine.DeviceKind.Cuda, 0, "Tesla T4", 16L << 30, 32, 1024, 40)
            { Cuda = new ByolIlgpu.Engine.CudaDeviceDetails(0, 7, 5, 12040, "8.3") };
        ByolIlgpu.Engine.DevicePolicy.ChoosePrecision(t4, ByolIlgpu.Engine.Precision.Tf32);
        return 0;
    }

    [Fact]
    public void Tf32OnABuildWithoutTheTensorCoreVersionsIsAUsageError()
    {
        Assert.SkipWhen(ByolIlgpu.Engine.DevicePolicy.HasTf32Versions, "the TF32 versions are in this build: TrainerTests.ATf32RunResumesBitForBit trains in tf32");
        var (code, _, error) = Run("bench", "--device", "cpu", "--precision", "tf32");
        Assert.Equal(2, code);
        Assert.Contains("no TF32 kernels", error);
    }
}
