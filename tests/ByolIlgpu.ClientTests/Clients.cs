using System.Diagnostics;
using Xunit;

namespace ByolIlgpu.ClientTests;

/// <summary>
/// The outside programs the tests hand our files to: a python3 with the modules a client needs
/// (Debian's python3-torch, python3-torchvision, python3-onnx: /usr/bin/python3), found once.
/// Where one is missing the test skips and says which, and how to install it.
/// </summary>
public static class Clients
{
    /// <summary>BYOL_CLIENT_PYTHON chooses the interpreter (else python3, then /usr/bin/python3, the first that imports the modules).</summary>
    public const string PythonVariable = "BYOL_CLIENT_PYTHON";

    /// <summary>BYOL_REQUIRE_CLIENTS=1 (CI, which installs them) turns a missing client into a failure: a client suite that only skips tests nothing.</summary>
    public const string RequireVariable = "BYOL_REQUIRE_CLIENTS";

    static readonly Lazy<string?> torch = new(() => FindPython("torch, torchvision"));
    static readonly Lazy<string?> onnx = new(() => FindPython("onnx"));

    /// <summary>A python3 that imports torch and torchvision, or a skipped test that says so.</summary>
    public static string TorchPython => torch.Value ?? throw Skip("no python3 with PyTorch and torchvision (apt-get install python3-torch python3-torchvision, or set BYOL_CLIENT_PYTHON)");

    /// <summary>A python3 that imports onnx, or a skipped test that says so.</summary>
    public static string OnnxPython => onnx.Value ?? throw Skip("no python3 with the onnx package (apt-get install python3-onnx, or set BYOL_CLIENT_PYTHON)");

    /// <summary>The client script <paramref name="name"/> (copied beside the test assembly from clients/).</summary>
    public static string Script(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "clients", name);
        Assert.True(File.Exists(path), $"{path}: client script missing beside the test assembly");
        return path;
    }

    /// <summary>Runs python with the script and arguments; asserts exit 0 and returns what it printed.</summary>
    public static string RunPython(string python, string script, params string[] args)
    {
        var (code, output) = Run(python, [Script(script), .. args]);
        Assert.True(code == 0, $"{script} {string.Join(' ', args)} exited {code}:\n{output}");
        Log(output.TrimEnd());
        return output;
    }

    public static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    static string? FindPython(string modules)
    {
        var candidates = Environment.GetEnvironmentVariable(PythonVariable) is { Length: > 0 } chosen
            ? [chosen]
            : new[] { "python3", "/usr/bin/python3" };
        foreach (var python in candidates)
        {
            try
            {
                if (Run(python, ["-c", $"import {modules}"]).Code == 0)
                    return python;
            }
            catch (System.ComponentModel.Win32Exception) { }   // not installed
        }
        return null;
    }

    static (int Code, string Output) Run(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(300_000))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} {string.Join(' ', args)}: no exit within 300 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    static Exception Skip(string why)
    {
        if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
            return new InvalidOperationException($"{RequireVariable}=1 but {why}");
        Assert.Skip(why);
        return new InvalidOperationException(why);
    }
}
