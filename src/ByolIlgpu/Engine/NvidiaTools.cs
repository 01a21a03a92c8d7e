using System.Diagnostics;

namespace ByolIlgpu.Engine;

/// <summary>A tool run's exit code and its stdout and stderr together.</summary>
public sealed record ToolRun(int ExitCode, string Output);

/// <summary>
/// NVIDIA's PTX assembler (ptxas) and cuobjdump, which need no GPU or driver. Looked for in
/// $BYOL_PTXAS (the folder, or ptxas itself), else on PATH, else in /var/cache/cuda-ptxas/bin, where
/// ../shared/cuda/setup-ptxas unpacks them. cuobjdump is taken from ptxas's folder, else PATH.
/// </summary>
public sealed record NvidiaTools(string Ptxas, string? Cuobjdump)
{
    public const string EnvironmentVariable = "BYOL_PTXAS";
    public const string CacheFolder = "/var/cache/cuda-ptxas/bin";

    /// <summary>The tools, or null with the reason they are not there.</summary>
    public static NvidiaTools? Locate(out string reason)
    {
        string? ptxas;
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            // A set variable that points nowhere is a mistake to report, not a reason to look elsewhere.
            ptxas = Directory.Exists(env) ? Executable(Path.Combine(env, "ptxas")) : Executable(env);
            if (ptxas is null)
            {
                reason = $"{EnvironmentVariable}={env}: no executable ptxas there (expected the folder ../shared/cuda/setup-ptxas prints, or the ptxas file)";
                return null;
            }
        }
        else
        {
            ptxas = OnPath("ptxas") ?? Executable(Path.Combine(CacheFolder, "ptxas"));
            if (ptxas is null)
            {
                reason = $"ptxas not found (not in ${EnvironmentVariable}, on PATH or in {CacheFolder}; ../shared/cuda/setup-ptxas installs it)";
                return null;
            }
        }
        var cuobjdump = Executable(Path.Combine(Path.GetDirectoryName(ptxas)!, "cuobjdump")) ?? OnPath("cuobjdump");
        reason = "";
        return new NvidiaTools(ptxas, cuobjdump);
    }

    static string? Executable(string path) =>
        File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0)
            ? Path.GetFullPath(path) : null;

    static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Executable(Path.Combine(dir, name)))
            .FirstOrDefault(p => p is not null);

    /// <summary>ptxas -arch=<paramref name="sm"/> -v: assembles PTX into a cubin; the output holds the -v report.</summary>
    public ToolRun Assemble(string ptxFile, string cubinFile, string sm) =>
        Run(Ptxas, ["-arch=" + sm, "-v", "-o", cubinFile, ptxFile]);

    /// <summary>cuobjdump -sass: the machine code of a cubin.</summary>
    public ToolRun DisassembleSass(string cubinFile) =>
        Cuobjdump is null
            ? throw new InvalidOperationException($"cuobjdump not found next to {Ptxas} or on PATH (../shared/cuda/setup-ptxas installs it)")
            : Run(Cuobjdump, ["-sass", cubinFile]);

    /// <summary>A kernel that takes ptxas longer than this is reported, not waited for (the largest take seconds).</summary>
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    static ToolRun Run(string tool, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            return new ToolRun(-1, $"{Path.GetFileName(tool)} ran past {Timeout.TotalMinutes} minutes and was stopped");
        }
        return new ToolRun(process.ExitCode, stdout.Result + stderr.Result);
    }
}
