using System.Diagnostics;
using System.Text.Json;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Cli;
using ByolIlgpu.Tests.Checkpoints;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// `byol parity` writes one BYOL forward + backward for bench/gpu/parity_torch.py; where a python3 with
/// PyTorch is found, that script redoes the step and must agree (and must notice a corrupted gradient).
/// </summary>
public class ParityTests
{
    static readonly string[] TinyArgs = ["--device", "cpu", "--width", "2", "--batch-size", "4", "--proj-hidden", "16", "--proj-out", "8", "--pred-hidden", "16", "--seed", "3"];

    static (int Code, string Output, string Error) Byol(params string[] args) => Infrastructure.InProcessCli.Run(args);

    [Fact]
    public void ParityWritesTheStepAndASaneManifest()
    {
        using var dir = new TempFolder();
        var (code, output, error) = Byol(["parity", "--out", dir.Path, .. TinyArgs]);
        Assert.True(code == 0, error);
        Assert.Contains("loss ", output);

        using var manifest = JsonDocument.Parse(File.ReadAllText(dir.File("manifest.json")));
        var m = manifest.RootElement;
        Assert.Equal("byol-parity/1", m.GetProperty("format").GetString());
        Assert.Equal(2, m.GetProperty("width").GetInt32());
        Assert.Equal(4, m.GetProperty("batch_size").GetInt32());
        Assert.Equal(8, m.GetProperty("proj_out").GetInt32());
        Assert.Equal(3, m.GetProperty("seed").GetInt32());
        Assert.Equal(1e-5, m.GetProperty("bn_eps").GetDouble(), 1e-9);

        var files = m.GetProperty("files");
        var weights = Read(dir, files.GetProperty("weights").GetString()!);
        var views = Read(dir, files.GetProperty("views").GetString()!);
        var grads = Read(dir, files.GetProperty("gradients").GetString()!);
        var outputs = Read(dir, files.GetProperty("outputs").GetString()!);

        // The loss lies in [0, 8] and is the same number in the manifest and in outputs.
        float loss = outputs["loss"].ToFloat32()[0];
        Assert.InRange(loss, 0f, 8f);
        Assert.Equal(loss, (float)m.GetProperty("loss").GetDouble());
        foreach (var name in new[] { "p1", "p2", "z1", "z2" })
            Assert.Equal([4, 8], outputs[name].Shape);
        Assert.Equal([4, 3, 32, 32], views["view1"].Shape);
        Assert.NotEqual(views["view1"].ToFloat32(), views["view2"].ToFloat32());

        // A gradient for every student parameter, named and shaped as the weight it belongs to.
        Assert.Equal(m.GetProperty("parameters").GetInt32(), grads.Count);
        foreach (var name in new[] { "conv1.weight", "layer3.0.conv1.weight", "bn1.weight", "projector.0.weight", "predictor.3.weight" })
        {
            Assert.Equal(weights[name].Shape, grads[name].Shape);
            Assert.Contains(grads[name].ToFloat32(), g => g != 0f);
        }
        Assert.True(weights.Contains("teacher.layer4.1.bn2.running_var"));
        Assert.False(weights.Contains("teacher.predictor.0.weight"));
        Assert.True(weights.Contains("bn1.num_batches_tracked"));
    }

    [Fact]
    public void PyTorchAgreesWithOneStepAndCatchesACorruptedGradient()
    {
        string? script = FindRepositoryFile("bench/gpu/parity_torch.py");
        if (script is null)
            Assert.Skip("bench/gpu/parity_torch.py not found above the test's folder (a published test executable)");
        string? python = FindPythonWithTorch();
        if (python is null)
            Assert.Skip("no python3 with PyTorch (set BYOL_PARITY_PYTHON, or apt-get install python3-torch)");

        using var dir = new TempFolder();
        var (code, _, error) = Byol(["parity", "--out", dir.Path, .. TinyArgs]);
        Assert.True(code == 0, error);
        var (rc, output) = RunProcess(python, script, dir.Path, "--device", "cpu");
        Assert.True(rc == 0, output);
        Assert.Contains("parity: PASS", output);

        // 1 % off in one convolution's gradient is ten times the tolerance: the check must fail.
        string gradsPath = dir.File("gradients.safetensors");
        var grads = SafeTensors.Deserialize(File.ReadAllBytes(gradsPath), gradsPath).Tensors;
        var conv = grads["layer3.0.conv1.weight"];
        grads.Set(NamedTensor.F32(conv.Name, conv.Shape, conv.ToFloat32().Select(g => g * 1.01f).ToArray()));
        SafeTensors.Save(gradsPath, grads);
        (rc, output) = RunProcess(python, script, dir.Path, "--device", "cpu");
        Assert.True(rc == 1, output);
        Assert.Contains("layer3.0.conv1.weight", output);
        Assert.Contains("parity: FAIL", output);
    }

    static TensorMap Read(TempFolder dir, string file)
    {
        string path = dir.File(file);
        Assert.True(File.Exists(path), $"{path} not written");
        return SafeTensors.Deserialize(File.ReadAllBytes(path), path).Tensors;
    }

    static string? FindRepositoryFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, relative)))
                return Path.Combine(d.FullName, relative);
        return null;
    }

    /// <summary>BYOL_PARITY_PYTHON, else the first of python3 and /usr/bin/python3 (Debian's python3-torch) that imports torch.</summary>
    static string? FindPythonWithTorch()
    {
        var candidates = Environment.GetEnvironmentVariable("BYOL_PARITY_PYTHON") is { Length: > 0 } chosen
            ? [chosen]
            : new[] { "python3", "/usr/bin/python3" };
        foreach (var python in candidates)
        {
            try
            {
                if (RunProcess(python, "-c", "import torch").Code == 0)
                    return python;
            }
            catch (System.ComponentModel.Win32Exception) { }   // not installed
        }
        return null;
    }

    static (int Code, string Output) RunProcess(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(180_000))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} {string.Join(' ', args)}: no exit within 180 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
