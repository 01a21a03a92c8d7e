using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Engine;

/// <summary>The device families whose default kernels and launch shapes differ.</summary>
public enum DeviceFamily
{
    /// <summary>ILGPU's CPU accelerator: each thread an OS thread, at most 16 per group.</summary>
    CpuAccelerator,
    /// <summary>An OpenCL device on CPU cores (PoCL): it reports a warp as large as a group (≥ 1024).</summary>
    CpuLikeOpenCl,
    /// <summary>An OpenCL GPU.</summary>
    GpuOpenCl,
    /// <summary>A CUDA GPU.</summary>
    Cuda,
}

/// <summary>
/// The arithmetic of the convolutions and matrix products. Fp32: every product and sum in FP32.
/// Tf32: the operands rounded to TF32 (FP32's exponent, a 10-bit mantissa) and multiplied on the
/// tensor cores, sums in FP32, as PyTorch's convolutions by default (cudnn.allow_tf32).
/// </summary>
public enum Precision { Fp32, Tf32 }

public static class Precisions
{
    /// <summary>The names --precision takes (besides auto) and config.json and checkpoints record.</summary>
    public static IReadOnlyList<string> Names { get; } = ["tf32", "fp32"];

    public static string Name(this Precision p) => p == Precision.Tf32 ? "tf32" : "fp32";

    /// <summary>"tf32" or "fp32"; null or "auto" is null (the device's default).</summary>
    public static Precision? Parse(string? name) => name?.ToLowerInvariant() switch
    {
        null or "auto" => null,
        "tf32" => Precision.Tf32,
        "fp32" => Precision.Fp32,
        _ => throw new ArgumentException($"precision '{name}': expected tf32, fp32 or auto"),
    };
}

/// <summary>A precision the device cannot run (TF32 on a GPU older than sm_80): a usage error.</summary>
public sealed class UnsupportedPrecisionException(string message) : ArgumentException(message);

/// <summary>
/// Launch shapes of one device family. A group size of <see cref="DevicePolicy.OneWarp"/> means the
/// accelerator's warp size; a groups-per-multiprocessor cap of <see cref="DevicePolicy.Unlimited"/> means no cap.
/// Every size is further capped by the accelerator's largest group.
/// </summary>
public sealed record LaunchPolicy(
    int GridStrideGroup,                    // threads per group of a grid-stride launch
    int GridStrideGroupsPerMultiprocessor,  // grid cap: groups per multiprocessor
    bool GridStride2DSpreadsRows,           // 2-D launches: false keeps each row in one group (the CPU: one walk per thread)
    int ExactThreadsGroup,                  // threads per group of the fixed-partial reductions
    int PerSampleGroup,                     // threads per group of the augmentation's one-group-per-sample launch
    int PerSampleGroupsPerMultiprocessor,   // its grid cap
    int RegisterBlockGroup);                // conv2d versions 2–3: a fixed group with one block per work-item, or 0 for a grid-stride launch

/// <summary>
/// The one table of what each device family runs: the default kernel version per op family and the
/// launch shapes. Version 0 at a launcher means "ask the policy"; a version forced on the device
/// (<see cref="ComputeDevice.ForcedVersions"/>) overrides the table, and a caller's explicit version
/// overrides both (<see cref="Resolve"/>). The table is FP32's; <see cref="WithPrecision"/> gives
/// TF32's. Measured choices: bench/ByolIlgpu.Bench/README.md.
/// </summary>
public sealed record DevicePolicy(
    DeviceFamily Family,
    int Conv2d,       // 4: shared-memory tiles; 2: register blocks, with version 3 for the narrow shapes of Conv2dVersion
    int Matmul,       // 3: shared-memory tiles; 2: register blocks
    int BatchNorm2d,  // 3: a thread per (channel, sample) plane with lane sums; 2: split sums per channel; 1: a thread per channel (BatchNorm1d always runs 1)
    LaunchPolicy Launch)
{
    public const int OneWarp = 0, Unlimited = 0;

    /// <summary>
    /// The register blocks versions 2 and 3 (matmul 2) run: the table's is the widest set; <see cref="For(DeviceInfo, int)"/>
    /// takes the set for the device's float vector width (<see cref="BlockLanesOf"/>).
    /// </summary>
    public RegisterBlockSet Blocks { get; init; } = RegisterBlockSet.Widest;

    /// <summary>The op families whose versions a device can force.</summary>
    public const string Conv2dOp = "conv2d", MatmulOp = "matmul", BatchNormOp = "batchnorm";

    public static IReadOnlyList<string> OpFamilies { get; } = [Conv2dOp, MatmulOp, BatchNormOp];

    /// <summary>The versions each op family has (version 1 is the naive oracle everywhere).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<int>> VersionsOf { get; } = new Dictionary<string, IReadOnlyList<int>>
    {
        [Conv2dOp] = [1, 2, 3, 4, 5, 6],   // 5: TF32 tensor cores; 6: FP32 CUDA cores, 8×8 per thread (runs that ask for full FP32)
        [MatmulOp] = [1, 2, 3, 4, 5],      // likewise 4 and 5
        [BatchNormOp] = [1, 2, 3],
    };

    /// <summary>
    /// The table. CPU-like devices (the CPU accelerator, PoCL) run the register-blocked versions and a
    /// thread per (channel, sample) plane in batch norm, whose contiguous walks in 8 lane sums are what
    /// runs fast on a core (version 1's thread per channel left one of two cores idle at 16 channels and
    /// waited on each add: 29% of a width-16 step on PoCL); GPUs run shared-memory tiles and split sums,
    /// which keep every multiprocessor busy.
    /// </summary>
    public static IReadOnlyDictionary<DeviceFamily, DevicePolicy> Table { get; } = new Dictionary<DeviceFamily, DevicePolicy>
    {
        // One warp-sized group per core: each thread is an OS thread, more would only add switching.
        [DeviceFamily.CpuAccelerator] = new(DeviceFamily.CpuAccelerator, Conv2d: 2, Matmul: 2, BatchNorm2d: 3,
            new LaunchPolicy(GridStrideGroup: OneWarp, GridStrideGroupsPerMultiprocessor: 1, GridStride2DSpreadsRows: false,
                ExactThreadsGroup: OneWarp, PerSampleGroup: OneWarp, PerSampleGroupsPerMultiprocessor: 1, RegisterBlockGroup: 0)),
        // PoCL runs a group's work-items one after another on a core: groups of 64, one item per
        // work-item (a grid-stride walk would jump by the grid size); conv blocks in groups of 16 so two cores stay balanced.
        [DeviceFamily.CpuLikeOpenCl] = new(DeviceFamily.CpuLikeOpenCl, Conv2d: 2, Matmul: 2, BatchNorm2d: 3,
            new LaunchPolicy(GridStrideGroup: 64, GridStrideGroupsPerMultiprocessor: Unlimited, GridStride2DSpreadsRows: true,
                ExactThreadsGroup: 64, PerSampleGroup: 64, PerSampleGroupsPerMultiprocessor: 32, RegisterBlockGroup: 16)),
        [DeviceFamily.GpuOpenCl] = new(DeviceFamily.GpuOpenCl, Conv2d: 4, Matmul: 3, BatchNorm2d: 2, GpuLaunch),
        [DeviceFamily.Cuda] = new(DeviceFamily.Cuda, Conv2d: CudaFp32Conv2d, Matmul: CudaFp32Matmul, BatchNorm2d: 2, GpuLaunch),
    };

    /// <summary>GPUs: the group sizes of <see cref="GpuGroups"/> (which the ptxas audit reads), up to a few waves (32 groups) per multiprocessor.</summary>
    static LaunchPolicy GpuLaunch => new(GridStrideGroup: GpuGroups.GridStride, GridStrideGroupsPerMultiprocessor: 32, GridStride2DSpreadsRows: true,
        ExactThreadsGroup: GpuGroups.ExactThreads, PerSampleGroup: GpuGroups.PerSample, PerSampleGroupsPerMultiprocessor: 32, RegisterBlockGroup: 0);

    /// <summary>The family of an accelerator: PoCL is told from GPU OpenCL by its warp as large as a group.</summary>
    public static DeviceFamily FamilyOf(DeviceKind kind, int warpSize) => kind switch
    {
        DeviceKind.Cuda => DeviceFamily.Cuda,
        DeviceKind.OpenCL when warpSize >= 1024 => DeviceFamily.CpuLikeOpenCl,
        DeviceKind.OpenCL => DeviceFamily.GpuOpenCl,
        _ => DeviceFamily.CpuAccelerator,
    };

    public static DevicePolicy For(DeviceKind kind, int warpSize) => Table[FamilyOf(kind, warpSize)];

    /// <summary>The table's row for a device, with the register blocks for its vector width.</summary>
    public static DevicePolicy For(DeviceInfo device, int warpSize)
    {
        var row = For(device.Kind, warpSize);
        return row.Family == DeviceFamily.CpuLikeOpenCl ? row with { Blocks = RegisterBlockSet.ForLanes(BlockLanesOf(device)) } : row;
    }

    /// <summary>
    /// The float lanes a CPU-like OpenCL device's blocks are chosen by: the narrower of its native float
    /// vector width (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, else the preferred one) and the width of the
    /// instruction set PoCL compiles for, named in its device name (cpu-haswell: AVX2, 8;
    /// cpu-skylake-avx512: 16). PoCL reports the host's widths even when POCL_LLVM_CPU_NAME holds its
    /// code to an older target (16 on this AVX-512 machine held to haswell), so the target decides
    /// when it is narrower. Null when neither says.
    /// </summary>
    public static int? BlockLanesOf(DeviceInfo device) => BlockLanes(device).Lanes;

    /// <summary>Where <see cref="BlockLanesOf"/> came from, for `byol devices` and the benchmarks.</summary>
    public static string BlockLanesSource(DeviceInfo device) => BlockLanes(device).Source;

    static (int? Lanes, string Source) BlockLanes(DeviceInfo device)
    {
        if (device.Kind != DeviceKind.OpenCL)
            return (null, "the widest set (the CPU accelerator and GPUs report no vector width)");
        int? reported = device.VectorWidths is { } w && (w.Native > 0 || w.Preferred > 0) ? (w.Native > 0 ? w.Native : w.Preferred) : null;
        var isa = CpuPeak.IsaOfPoclDeviceName(device.Name);
        int? target = isa switch { CpuIsa.Avx512 => 16, CpuIsa.Avx2 => 8, _ => null };
        string widths = device.VectorWidths is { } v ? $"OpenCL float vector width native {v.Native}, preferred {v.Preferred}" : "no OpenCL vector width";
        string code = isa is { } i ? $"code for {(i == CpuIsa.Avx512 ? "AVX-512" : i == CpuIsa.Avx2 ? "AVX2" : "neither AVX2 nor AVX-512")} (device name)" : "no target in the device name";
        int? lanes = (reported, target) switch
        {
            ({ } r, { } t) => Math.Min(r, t),
            ({ } r, null) => r,
            (null, { } t) => t,
            _ => null,
        };
        return (lanes, $"chosen by {widths}; {code}");
    }

    // ---- precision ----

    /// <summary>The TF32 tensor-core versions (mma.sync m16n8k8; on other accelerators the same kernels emulate the instruction).</summary>
    public const int Tf32Conv2d = 5, Tf32Matmul = 4;

    /// <summary>
    /// FP32 on CUDA GPUs, the table's CUDA entries: conv2d 6 and matmul 5 (8×8 outputs per thread from
    /// 128-bit shared loads, 16 FFMA per shared load in the SASS against versions 4 and 3's 2.0 and 2.5).
    /// </summary>
    public const int CudaFp32Conv2d = 6, CudaFp32Matmul = 5;

    /// <summary>TF32 tensor cores arrived with Ampere: compute capability 8.0.</summary>
    public const int Tf32MinComputeMajor = 8;

    /// <summary>Whether this build has the tensor-core versions (<see cref="Tf32Conv2d"/>, <see cref="Tf32Matmul"/>).</summary>
    public static bool HasTf32Versions =>
        VersionsOf[Conv2dOp].Contains(Tf32Conv2d) && VersionsOf[MatmulOp].Contains(Tf32Matmul);

    /// <summary>
    /// The versions a precision runs: TF32 takes the tensor-core versions on every family (the
    /// instruction on CUDA, its lane-for-lane emulation elsewhere); FP32 the family's own.
    /// </summary>
    public DevicePolicy WithPrecision(Precision precision) =>
        precision == Precision.Tf32 ? this with { Conv2d = Tf32Conv2d, Matmul = Tf32Matmul } : this;

    /// <summary>The arithmetic a version does (what its check's tolerance is derived from).</summary>
    public static Precision PrecisionOf(string op, int version) =>
        (op == Conv2dOp && version == Tf32Conv2d) || (op == MatmulOp && version == Tf32Matmul) ? Precision.Tf32 : Precision.Fp32;

    /// <summary>TF32 on CUDA GPUs of compute capability 8.0 and newer (as PyTorch's convolutions), FP32 everywhere else.</summary>
    public static Precision DefaultPrecision(DeviceInfo device) =>
        device.Cuda is { Major: >= Tf32MinComputeMajor } && HasTf32Versions ? Precision.Tf32 : Precision.Fp32;

    /// <summary>
    /// The precision to run: the one asked for, else the device's default. TF32 on a CUDA GPU below
    /// sm_80 is refused in one line naming the GPU and its compute capability; TF32 on a device that
    /// is not CUDA runs the tensor-core kernels' emulation (slow, but exact to the instruction).
    /// </summary>
    public static Precision ChoosePrecision(DeviceInfo device, Precision? requested)
    {
        if (requested != Precision.Tf32)
            return requested ?? DefaultPrecision(device);
        if (device.Cuda is { } cuda && cuda.Major < Tf32MinComputeMajor)
            throw new UnsupportedPrecisionException($"precision tf32: {device.Spec} ({device.Name}) has compute capability {cuda.Major}.{cuda.Minor}; " +
                $"TF32 tensor cores need {Tf32MinComputeMajor}.0 or newer (Ampere): use --precision fp32");
        if (!HasTf32Versions)
            throw new UnsupportedPrecisionException($"precision tf32: this build has no TF32 kernels (conv2d v{Tf32Conv2d}, matmul v{Tf32Matmul}): use --precision fp32");
        // The emulation runs the kernels as written: 4 warps of 32 lanes per group.
        if (device.MaxGroupSize < Conv2dKernels.TcThreads)
            throw new UnsupportedPrecisionException($"precision tf32: {device.Spec} ({device.Name}) runs groups of at most {device.MaxGroupSize} threads; " +
                $"the tensor-core kernels (emulated off CUDA) need {Conv2dKernels.TcThreads}: use --device opencl, or --precision fp32");
        return Precision.Tf32;
    }

    /// <summary>
    /// What runs instead of a version that failed its check on a device: the family's FP32 default
    /// (conv2d 6 and matmul 5 on CUDA, 2 on CPU-like devices), then on GPUs the 4×4 tiles (conv2d 4,
    /// matmul 3), and below them version 1.
    /// </summary>
    public static int FallbackOf(DeviceFamily family, string op, int failed)
    {
        var fp32 = Table[family];
        int previous = op switch { Conv2dOp => fp32.Conv2d, MatmulOp => fp32.Matmul, BatchNormOp => fp32.BatchNorm2d, _ => 1 };
        // On GPUs the 4×4 tiles (conv2d 4, matmul 3) stand between the 8×8 ones and the naive oracle.
        bool gpu = family is DeviceFamily.Cuda or DeviceFamily.GpuOpenCl;
        int older = !gpu ? 1 : op switch { Conv2dOp => 4, MatmulOp => 3, _ => 1 };
        int[] chain = [.. new[] { previous, older, 1 }.Distinct()];
        int at = Array.IndexOf(chain, failed);
        return at < 0 ? chain[0] : at + 1 < chain.Length ? chain[at + 1] : 1;
    }

    /// <summary>
    /// The conv2d version for a pass of shape <paramref name="g"/>. On GPUs version 4. On PoCL and
    /// the CPU accelerator (measured on PoCL, ResNet-18 CIFAR shapes) version 3, whose blocks are 64
    /// positions of one source row × 2 channels, where channels are few or rows long, and version 2
    /// (1–3 positions × 64 channels, by the block set) elsewhere:
    ///   forward:         3 for stride 1 with K &lt; 64, or P·Q ≥ 1024 (v2's 64 stores per position, P·Q apart,
    ///                    fall into one cache set), or C·R·S &lt; 64 (the stem: too short a reduction for v2);
    ///   backward-input:  3 for H ≥ 32, or C &lt; 64 at stride 1;
    ///   backward-weight: 3 for K &lt; 32, or at stride 1 for K &lt; 64 or C·R·S &lt; 64 (not for the
    ///                    1×1 stride-2 shortcuts, where version 2 is 2–4× faster).
    /// </summary>
    public int Conv2dVersion(Conv2dShape g, Conv2dPass pass)
    {
        if (Conv2d != 2)
            return Conv2d;
        bool rows = pass switch
        {
            Conv2dPass.Forward => g.Stride == 1 && (g.K < 64 || g.P * g.Q >= 1024 || g.C * g.R * g.S < 64),
            Conv2dPass.BackwardInput => g.H >= 32 || (g.C < 64 && g.Stride == 1),
            _ => g.K < 32 || (g.Stride == 1 && (g.K < 64 || g.C * g.R * g.S < 64)),
        };
        return rows ? 3 : 2;
    }

    /// <summary>The conv2d versions <see cref="Conv2dVersion"/> can choose on this family (what benchmarks compare).</summary>
    public IReadOnlyList<int> Conv2dCandidates => Conv2d == 2 ? [2, 3] : [Conv2d];

    /// <summary>Batch norm: BatchNorm1d (one value per channel and sample) always a thread per channel.</summary>
    public int BatchNormVersion(int spatial) => spatial == 1 ? 1 : BatchNorm2d;

    /// <summary>The version to launch: the caller's, else one forced on the device, else the table's.</summary>
    public static int Resolve(string op, int requested, IReadOnlyDictionary<string, int> forced, Func<int> tableVersion)
    {
        if (!VersionsOf.TryGetValue(op, out var versions))
            throw new ArgumentException($"kernel family '{op}': expected one of {string.Join(", ", OpFamilies)}");
        if (requested != 0)
            return requested;
        if (forced.TryGetValue(op, out var version))
        {
            if (!versions.Contains(version))
                throw new ArgumentOutOfRangeException(nameof(forced), version, $"{op}: forced version {version}, expected one of {string.Join(", ", versions)}");
            return version;
        }
        return tableVersion();
    }

    /// <summary>One line for `byol devices`: the versions this family runs.</summary>
    public string Describe() =>
        $"conv2d v{string.Join("/v", Conv2dCandidates)}{(Conv2dCandidates.Count > 1 ? " (by layer shape)" : "")}, " +
        $"matmul v{Matmul}, batchnorm2d v{BatchNorm2d} (1d v{BatchNormVersion(1)})" +
        (UsesRegisterBlocks ? $"; {Blocks.Describe()}" : "");

    /// <summary>Whether this policy runs the register blocks (conv2d 2/3 or matmul 2) at all.</summary>
    public bool UsesRegisterBlocks => Conv2d == 2 || Matmul == 2;
}
