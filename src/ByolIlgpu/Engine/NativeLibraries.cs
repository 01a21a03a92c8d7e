using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace ByolIlgpu.Engine;

/// <summary>
/// ILGPU loads its drivers by the bare names "OpenCL" and "cuda"; many Linux distributions ship only
/// the versioned runtime files (libOpenCL.so.1, libcuda.so.1) unless -dev packages are installed.
/// This resolver runs only after the default lookup failed, and tries the versioned names.
/// </summary>
public static class NativeLibraries
{
    static readonly Dictionary<string, string[]> Fallbacks = new(StringComparer.OrdinalIgnoreCase)
    {
        ["OpenCL"] = ["libOpenCL.so.1", "libOpenCL.so", "/usr/lib/x86_64-linux-gnu/libOpenCL.so.1"],
        ["cuda"] = ["libcuda.so.1", "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1"],
    };

    static int installed;

    /// <summary>The versioned names and paths tried for a driver library ("cuda", "OpenCL"), in order.</summary>
    public static IReadOnlyList<string> CandidatesFor(string name) => Fallbacks.TryGetValue(name, out var c) ? c : [];

    /// <summary>Installs the fallback once per process; safe to call repeatedly.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref installed, 1) == 1)
            return;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
    }

    static IntPtr Resolve(Assembly assembly, string name)
    {
        if (!Fallbacks.TryGetValue(name, out var candidates))
            return IntPtr.Zero;
        foreach (var candidate in candidates)
            if (NativeLibrary.TryLoad(candidate, out var handle))
                return handle;
        return IntPtr.Zero;
    }
}
