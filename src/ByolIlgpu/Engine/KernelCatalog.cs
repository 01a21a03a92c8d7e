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
    /// Generates PTX for one kernel (sm_90, PTX ISA 8.0) in a context of its own: a failed
    /// compilation leaves ILGPU's context unusable, so one failure must not hide the next.
    /// Returns the PTX text.
    /// </summary>
    public static string CompilePtx(MethodInfo kernel)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
        return compiled.PTXAssembly;
    }
}
