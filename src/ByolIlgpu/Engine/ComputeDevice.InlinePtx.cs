using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace ByolIlgpu.Engine;

public sealed partial class ComputeDevice
{
    /// <summary>
    /// Loads an explicitly grouped kernel that uses inline PTX (<see cref="TensorCore"/>) as a launcher on
    /// the default stream, like ILGPU's LoadStreamKernel. On a CUDA accelerator its PTX first goes through
    /// <see cref="PtxDepotPromotion"/> (ILGPU routes inline-assembly operands through local memory that
    /// ptxas keeps); everywhere else it is ILGPU's own loading, unchanged.
    /// </summary>
    public static Action<KernelConfig, T1, T2, T3, T4> LoadInlinePtxKernel<T1, T2, T3, T4>(Accelerator accelerator, Action<T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        if (accelerator is not CudaAccelerator)
            return accelerator.LoadStreamKernel(kernel);
        var launch = LoadPromoted(accelerator, kernel.Method).CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>>();
        return (config, a, b, c, d) => launch(accelerator.DefaultStream, config, a, b, c, d);
    }

    /// <inheritdoc cref="LoadInlinePtxKernel{T1, T2, T3, T4}"/>
    public static Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> LoadInlinePtxKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(
        Accelerator accelerator, Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
        where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct
    {
        if (accelerator is not CudaAccelerator)
            return accelerator.LoadStreamKernel(kernel);
        var launch = LoadPromoted(accelerator, kernel.Method)
            .CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>>();
        return (config, a, b, c, d, e, f, g, h, i, j) => launch(accelerator.DefaultStream, config, a, b, c, d, e, f, g, h, i, j);
    }

    /// <summary>
    /// Fails with a clear message when this is a CUDA GPU below the compute capability a kernel version
    /// needs (<see cref="RequiresComputeCapabilityAttribute"/>: the TF32 tensor cores need 8.0); other
    /// accelerators run the instruction's emulation.
    /// </summary>
    public void RequireComputeCapability(string what, int major, int minor)
    {
        if (Kind == DeviceKind.Cuda && Info.Cuda is { } cuda && (cuda.Major, cuda.Minor).CompareTo((major, minor)) < 0)
            throw new NotSupportedException($"{what} needs TF32 tensor cores (compute capability {major}.{minor} or newer); {Info.Name} is {cuda.Major}.{cuda.Minor}: use --precision fp32");
    }

    static Kernel LoadPromoted(Accelerator accelerator, System.Reflection.MethodInfo method)
    {
        var cuda = (CudaAccelerator)accelerator;
        var compiled = (PTXCompiledKernel)cuda.Backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        SetPtx(compiled, PtxDepotPromotion.Promote(compiled.PTXAssembly, out _));
        return accelerator.LoadKernel(compiled);
    }

    /// <summary>
    /// ILGPU 1.5.3 keeps a compiled kernel's PTX in a get-only auto-property, and its constructor is
    /// internal: the rewritten text goes into the property's backing field (the version is pinned;
    /// InlinePtxTests fails if the field is gone).
    /// </summary>
    public static void SetPtx(PTXCompiledKernel compiled, string ptx)
    {
        var field = typeof(PTXCompiledKernel).GetField("<PTXAssembly>k__BackingField",
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
            ?? throw new InvalidOperationException($"ILGPU {typeof(PTXCompiledKernel).Assembly.GetName().Version}: PTXCompiledKernel has no PTXAssembly backing field; the inline-PTX loader needs ILGPU 1.5.3");
        field.SetValue(compiled, ptx);
    }
}
