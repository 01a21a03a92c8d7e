using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace ByolIlgpu.Engine;

/// <summary>
/// A CUDA device and driver, and the PTX ILGPU 1.5.3's CUDA accelerator generates for it, worked out
/// the way the accelerator does (ILGPU v1.5.3 sources):
/// <list type="bullet">
/// <item>Runtime/Cuda/CudaDevice.cs, InitArchitectureInfo: the backend's architecture is the device's
///   compute capability; capabilities = new CudaCapabilityContext(architecture); the instruction set is
///   CudaAccelerator.TryGetInstructionSet(capabilities.TargetArchitecture, driver version).</item>
/// <item>Runtime/Cuda/CudaAccelerator.cs, TryGetInstructionSet: the highest ISA of
///   PTXCodeGenerator.SupportedInstructionSets whose minimum driver (CudaDriverVersionUtils, from
///   Static/CudaVersions.xml) and the architecture's minimum driver the installed driver meets.</item>
/// <item>Static/CapabilityContext.tt: TargetArchitecture = min(architecture, SM_80), SM_80 being the highest
///   minPTX in Static/Capabilities.xml. It is the PTX's `.target`: an H100 gets `.target sm_80` PTX, which
///   the driver's JIT assembles for sm_90.</item>
/// <item>CudaAccelerator's constructor: new PTXBackend(context, capabilities, architecture, instruction set,
///   NVVM only when LibNvvmPath is set; ComputeDevice never sets it). The architecture itself still picks
///   intrinsics (PTXIntrinsic.CanHandleBackend), so PTX is generated per device architecture.</item>
/// <item>Runtime/Cuda/CudaKernel.cs → CudaAPI.LoadModule: cuModuleLoadDataEx with only the error-log
///   options, so the JIT runs at its defaults, as ptxas does given only -arch.</item>
/// <item>Backends/PTX/PTXBackend.cs, CreateKernelBuilder: the instruction set enters only the `.version`
///   line, so a newer driver's newer ISA changes no instruction.</item>
/// </list>
/// </summary>
public sealed record CudaTarget(string Gpu, CudaArchitecture Architecture, CudaDriverVersion Driver)
{
    /// <summary>
    /// The driver the targets assume: CUDA 12.4, the release of the ptxas in ../shared/cuda, whose highest
    /// PTX ISA is 8.4. With it ILGPU picks ISA 8.4; a 12.8 driver would get 8.7 and a 12.9 or newer one 8.8
    /// (the highest ILGPU 1.5.3 knows), the same PTX under a newer `.version` that ptxas 12.4 cannot read.
    /// </summary>
    public static CudaDriverVersion Driver124 { get; } = CudaDriverVersion.FromMajorMinor(12, 4);

    public static CudaTarget V100 { get; } = new("V100", CudaArchitecture.SM_70, Driver124);
    public static CudaTarget T4 { get; } = new("T4", CudaArchitecture.SM_75, Driver124);
    public static CudaTarget A100 { get; } = new("A100", CudaArchitecture.SM_80, Driver124);
    public static CudaTarget H100 { get; } = new("H100", CudaArchitecture.SM_90, Driver124);

    /// <summary>The GPUs the kernels are assembled for, oldest first: every kernel runs on CUDA, so all of them.</summary>
    public static IReadOnlyList<CudaTarget> All { get; } = [V100, T4, A100, H100];

    /// <summary>The target for "sm_90" etc., or null.</summary>
    public static CudaTarget? FromSmName(string sm) =>
        All.FirstOrDefault(t => string.Equals(t.SmName, sm.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>What ILGPU derives from the architecture (CudaDevice.InitArchitectureInfo).</summary>
    public CudaCapabilityContext Capabilities => new(Architecture);

    /// <summary>The PTX's `.target`: the lowest architecture with all of ILGPU's capabilities, at most the device's.</summary>
    public CudaArchitecture PtxTarget => Capabilities.TargetArchitecture;

    /// <summary>The PTX's `.version`, as CudaAccelerator.GetInstructionSet picks it for this driver.</summary>
    public CudaInstructionSet InstructionSet => CudaAccelerator.GetInstructionSet(PtxTarget, Driver);

    /// <summary>ptxas's -arch: the device's own architecture (the JIT compiles for the device it runs on).</summary>
    public string SmName => $"sm_{Architecture.Major}{Architecture.Minor}";

    public override string ToString() =>
        $"{Gpu} ({SmName}): PTX .target {PtxTarget.ToString().ToLowerInvariant()}, ISA {InstructionSet}, driver {Driver}";
}
