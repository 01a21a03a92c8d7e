using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit;

namespace ByolIlgpu.Tests.Infrastructure;

/// <summary>
/// The built `byol` program (byol.dll beside the tests, run by this runtime's dotnet; a self-contained
/// bundle's own `byol`) in a subprocess whose output lines the test can wait for, and kill with
/// SIGKILL (<see cref="Process.Kill()"/>): nothing of the program runs after it, as with `kill -9`.
/// </summary>
public sealed class ByolProcess : IDisposable
{
    readonly Process process;
    readonly BlockingCollection<string> lines = new();   // stdout and stderr, in arrival order
    readonly List<string> seen = [];

    ByolProcess(Process process) => this.process = process;

    /// <summary>How to start the built `byol` with <paramref name="args"/>: byol.dll by this runtime's dotnet, or a self-contained bundle's own `byol`; output redirected, BYOL_DEBUG unset.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        // The muxer of the runtime running this test (…/shared/Microsoft.NETCore.App/VERSION/ → …/dotnet).
        var dotnet = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        var apphost = Path.Combine(AppContext.BaseDirectory, "byol");
        bool selfContained = !File.Exists(dotnet) && File.Exists(apphost);
        var start = new ProcessStartInfo(selfContained ? apphost : File.Exists(dotnet) ? dotnet : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (!selfContained)
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "byol.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment.Remove("BYOL_DEBUG");
        return start;
    }

    public static ByolProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = StartInfo(args);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        var process = new Process { StartInfo = start };
        var byol = new ByolProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) byol.lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) byol.lines.Add(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return byol;
    }

    /// <summary>Every line so far.</summary>
    public string Output
    {
        get
        {
            Drain();
            return string.Join('\n', seen);
        }
    }

    void Drain()
    {
        while (lines.TryTake(out var line))
            seen.Add(line);
    }

    /// <summary>Waits for a line matching <paramref name="match"/> (one not returned before); fails naming it after <paramref name="timeout"/> or when the program exits first.</summary>
    public string WaitForLine(Func<string, bool> match, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (lines.TryTake(out var line, TimeSpan.FromMilliseconds(50)))
            {
                seen.Add(line);
                if (match(line))
                    return line;
            }
            else if (process.HasExited)
            {
                process.WaitForExit();   // the last of the redirected output
                Drain();
                Assert.Fail($"byol exited ({process.ExitCode}) before {what}:\n{string.Join('\n', seen)}");
            }
        }
        Assert.Fail($"no {what} within {timeout.TotalSeconds:F0} s:\n{Output}");
        return "";
    }

    /// <summary>SIGKILL, then waits until the process is gone.</summary>
    public void KillHard()
    {
        process.Kill();
        process.WaitForExit();
    }

    /// <summary>Waits for the program to exit; its exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill();
            Assert.Fail($"byol did not finish in {timeout.TotalSeconds:F0} s:\n{Output}");
        }
        process.WaitForExit();
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited)
            process.Kill();
        process.Dispose();
    }
}
