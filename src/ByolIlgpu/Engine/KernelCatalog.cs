using System.Reflection;
using System.Text.RegularExpressions;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace ByolIlgpu.Engine;

/// <summary>
/// Every kernel of the kernels project (public static methods named …Kernel or …KernelN), and
/// compilation of all of them ahead of use: for an accelerator (its driver compiles them too), or
/// for ILGPU's PTX backend without a CUDA device, so a kernel CUDA cannot take fails early.
/// </summary>
public static partial class KernelCatalog
{
    [GeneratedRegex(@"Kernel\d*$")]
    private static partial Regex KernelName();

    public static IReadOnlyList<MethodInfo> All { get; } = typeof(GridStride).Assembly.GetTypes()
        .Where(t => t.IsPublic && t.IsAbstract && t.IsSealed)   // static classes
        .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
        .Where(m => m.ReturnType == typeof(void) && KernelName().IsMatch(m.Name))
        .OrderBy(m => m.DeclaringType!.Name).ThenBy(m => m.Name)
        .ToList();

    public static string NameOf(MethodInfo kernel) => $"{kernel.DeclaringType!.Name}.{kernel.Name}";

    /// <summary>The compute capability a kernel's PTX needs (<see cref="RequiresComputeCapabilityAttribute"/>), or null for any CUDA GPU.</summary>
    public static (int Major, int Minor)? RequiredComputeCapability(MethodInfo kernel) =>
        kernel.GetCustomAttribute<RequiresComputeCapabilityAttribute>() is { } a ? (a.Major, a.Minor) : null;

    /// <summary>Compiles and loads one kernel on the accelerator; returns the error message or null.</summary>
    public static string? TryCompile(Accelerator accelerator, MethodInfo kernel)
    {
        try
        {
            var compiled = accelerator.CompileKernel(EntryPointDescription.FromExplicitlyGroupedKernel(kernel));
            accelerator.LoadKernel(compiled).Dispose();
            return null;
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Generates the PTX ILGPU's CUDA accelerator would generate for one kernel on <paramref name="target"/>
    /// (default: an H100 with a CUDA 12.4 driver; see <see cref="CudaTarget"/>), with ComputeDevice's
    /// compiler settings and the CUDA path's <see cref="PtxDepotPromotion"/>, in a context of its own: a failed compilation leaves ILGPU's context unusable,
    /// so one failure must not hide the next. Returns the PTX text.
    /// </summary>
    public static string CompilePtx(MethodInfo kernel, CudaTarget? target = null)
    {
        target ??= CudaTarget.H100;
        using var context = Context.Create(b => ComputeDevice.CompilerSettings(b));
        using var backend = new PTXBackend(context, target.Capabilities, target.Architecture, target.InstructionSet, null);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
        // As the CUDA path loads inline-PTX kernels (ComputeDevice.LoadInlinePtxKernel); a no-op for the others.
        return PtxDepotPromotion.Promote(compiled.PTXAssembly, out _);
    }
}
