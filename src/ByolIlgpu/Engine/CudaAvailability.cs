using System.Reflection;
using ILGPU.Runtime.Cuda;

namespace ByolIlgpu.Engine;

/// <summary>
/// Why CUDA is unavailable, in one line, for <see cref="ComputeDevice.Create"/> and `byol devices`:
/// the driver's answer from <see cref="CudaProbe"/>, else ILGPU's own exception. BYOL_REQUIRE_CUDA=1
/// (set by the GPU test runs) turns a fallback from CUDA into an error.
/// </summary>
public static class CudaAvailability
{
    public const string RequireVariable = "BYOL_REQUIRE_CUDA";

    /// <summary>True under BYOL_REQUIRE_CUDA=1: "auto" must not fall back, and CUDA tests fail instead of skipping.</summary>
    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Where the fallback warning goes: standard error.</summary>
    public static Action<string> Warn { get; set; } = message => Console.Error.WriteLine(message);

    /// <summary>Why ILGPU lists no CUDA device <paramref name="index"/>: the probe's cause, else what ILGPU says.</summary>
    public static string WhyNoDevice(int index)
    {
        var probe = CudaProbe.System;
        if (!probe.IsAvailable)
            return probe.Cause!;
        string reported = $"the CUDA driver {CudaProbe.FormatVersion(probe.DriverVersion)} reports {probe.Devices.Count} device(s) " +
            $"({string.Join(", ", probe.Devices.Select(d => $"{d.Name}, sm_{d.Major}{d.Minor}"))})";
        if (index >= probe.Devices.Count)
            return $"{reported}: there is no cuda:{index}";
        if (!CudaAPI.CurrentAPI.IsSupported)
            return $"{reported}, but ILGPU could not load or initialise the driver API ({probe.LibraryPath})";
        return $"{reported}, but ILGPU 1.5.3 lists none: {IlgpuDeviceError(probe.Devices[index].Handle) ?? "it gave no reason"}";
    }

    /// <summary>
    /// ILGPU swallows the exception that keeps a device off its list (CudaDevice.GetDevices catches
    /// everything): construct the device the way it does to get that exception's message.
    /// </summary>
    static string? IlgpuDeviceError(int handle)
    {
        var constructor = typeof(CudaDevice).GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic, [typeof(int)]);
        if (constructor is null)
            return null;
        try
        {
            constructor.Invoke([handle]);
            return null;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            return Describe(e.InnerException);
        }
    }

    /// <summary>ILGPU's exception in one line: a CUDA error by name and text ("CUDA_ERROR_OUT_OF_MEMORY: out of memory").</summary>
    public static string Describe(Exception e) => e is CudaException { Error: not "N/A" } cuda
        ? $"{cuda.Error}: {cuda.Message}"
        : $"{e.GetType().Name}: {e.Message}";

    /// <summary>Why a CUDA device ILGPU lists cannot run ILGPU's kernels with this driver; null when it can.</summary>
    public static string? ProblemOf(DeviceInfo info)
    {
        if (info.Cuda is not { } cuda)
            return null;
        var problem = CudaProbe.System.Devices.FirstOrDefault(d => d.Handle == cuda.Handle)?.Problem;
        if (problem is not null)
            return problem;
        if (cuda.PtxIsa is null)
            return $"{info.Spec} ({info.Name}, sm_{cuda.Major}{cuda.Minor}): ILGPU 1.5.3 has no PTX ISA for CUDA driver {CudaProbe.FormatVersion(cuda.DriverVersion)} " +
                $"(it needs {CudaProbe.FormatVersion(CudaProbe.MinimumDriverFor(cuda.Major, cuda.Minor))} or newer)";
        return null;
    }

    /// <summary>
    /// Called before "auto" settles on <paramref name="fallback"/>: under BYOL_REQUIRE_CUDA=1 it throws
    /// with the cause; otherwise it warns when a CUDA driver is there but failing, and stays silent
    /// when there is none (a machine without NVIDIA's driver is not an error).
    /// </summary>
    public static void BeforeFallback(string? cudaFailure, DeviceInfo fallback)
    {
        var probe = CudaProbe.System;
        string? cause = cudaFailure ?? (probe.LibraryPresent ? WhyNoDevice(0) : null);
        if (Required)
            throw new DeviceNotFoundException($"device 'auto': CUDA is required ({RequireVariable}=1) but unavailable: {cause ?? probe.Cause}");
        if (cause is not null)
            Warn($"warning: CUDA is unavailable, device 'auto' falls back to {fallback.Spec} ({fallback.Name}): {cause}");
    }
}
