using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace ByolIlgpu.Engine;

/// <summary>The accelerator families the engine runs on.</summary>
public enum DeviceKind { Cpu, OpenCL, Cuda }

/// <summary>What `byol devices` shows of one device.</summary>
public sealed record DeviceInfo(
    DeviceKind Kind, int Index, string Name, long MemoryBytes, int WarpSize, int MaxGroupSize, int Multiprocessors)
{
    public string Spec => $"{Kind.ToString().ToLowerInvariant()}:{Index}";

    /// <summary>What ILGPU knows of a CUDA device; null for the other kinds.</summary>
    public CudaDeviceDetails? Cuda { get; init; }

    /// <summary>An OpenCL device's float vector widths (lanes); null for the other kinds.</summary>
    public OpenClVectorWidths? VectorWidths { get; init; }
}

/// <summary>
/// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT and CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: the floats per vector
/// the device prefers and the floats its vector registers hold (PoCL: 16 for its skylake-avx512
/// target, 8 for haswell).
/// </summary>
public sealed record OpenClVectorWidths(int Preferred, int Native);

/// <summary>A CUDA device's compute capability, the driver's version (e.g. 12040) and the PTX ISA ILGPU emits for it (null: none fits the driver).</summary>
public sealed record CudaDeviceDetails(int Handle, int Major, int Minor, int DriverVersion, string? PtxIsa);

/// <summary>A device spec that is not of the form auto|cpu|opencl|cuda[:INDEX].</summary>
public sealed class InvalidDeviceSpecException(string message) : ArgumentException(message);

/// <summary>Raised for a device request that cannot be met; the message lists what is there.</summary>
public sealed class DeviceNotFoundException(string message) : Exception(message);

/// <summary>
/// The one place that creates the ILGPU context and picks the accelerator. Spec strings:
/// "auto" (CUDA, then OpenCL, then CPU), "cuda", "opencl", "cpu", each with an optional ":index".
/// Kernels are compiled once per device on first use and cached (<see cref="Kernel{T}"/>).
/// </summary>
public sealed partial class ComputeDevice : IDisposable
{
    readonly ConcurrentDictionary<string, object> kernels = new();
    Exception? firstCompileError;

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public DeviceInfo Info { get; }
    public DeviceKind Kind => Info.Kind;
    public BufferPool Pool { get; private set; }

    ComputeDevice(Context context, Accelerator accelerator, DeviceInfo info)
    {
        Context = context;
        Accelerator = accelerator;
        Info = info;
        Pool = new BufferPool(this);
    }

    /// <summary>
    /// The CPU device: one simulated multiprocessor per core, so groups run in parallel; warps of 4
    /// and 4 warps per group give ILGPU's default limit of 16 threads per group (each an OS thread).
    /// </summary>
    static CPUDevice CpuDevice => new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 4,
        numMultiprocessors: Math.Max(1, Environment.ProcessorCount));

    /// <summary>
    /// A CPU device with GPU-sized groups: warps of <paramref name="threadsPerWarp"/> lanes (32 as on
    /// NVIDIA GPUs), <paramref name="warpsPerGroup"/> per group. For tests of the GPU kernels, whose
    /// tensor-core fragments span 32 lanes; every thread is an OS thread, so only tiny shapes.
    /// <paramref name="multiprocessors"/> fixes the grid sizes (and so every summation order) whatever the
    /// machine's core count (the one-step page); by default one per core.
    /// </summary>
    public static ComputeDevice CreateCpu(int threadsPerWarp, int warpsPerGroup, int? multiprocessors = null)
    {
        NativeLibraries.Install();
        var device = new CPUDevice(threadsPerWarp, warpsPerGroup, numMultiprocessors: multiprocessors ?? Math.Max(1, Environment.ProcessorCount));
        var context = Context.Create(builder => CompilerSettings(builder.CPU(device)));
        try
        {
            var (d, info) = Enumerate(context).Single();
            return new ComputeDevice(context, d.CreateAccelerator(context), info);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    static Context CreateContext(bool cpu, bool openCl, bool cuda)
    {
        NativeLibraries.Install();
        return Context.Create(builder =>
        {
            if (cpu) builder.CPU(CpuDevice);
            // A missing driver library must not take the CPU path down with it.
            if (openCl) TryAdd(() => builder.OpenCL());
            if (cuda) TryAdd(() => builder.Cuda());
            CompilerSettings(builder);
        });
    }

    /// <summary>How every kernel is compiled; <see cref="KernelCatalog.CompilePtx"/> uses the same settings.</summary>
    internal static Context.Builder CompilerSettings(Context.Builder builder) =>
        builder.EnableAlgorithms().Optimize(OptimizationLevel.O1);

    static void TryAdd(Action add)
    {
        try { add(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or NotSupportedException) { }
    }

    static DeviceKind KindOf(ILGPU.Runtime.Device d) => d switch
    {
        CudaDevice => DeviceKind.Cuda,
        CLDevice => DeviceKind.OpenCL,
        _ => DeviceKind.Cpu,
    };

    static List<(ILGPU.Runtime.Device Device, DeviceInfo Info)> Enumerate(Context context)
    {
        var result = new List<(ILGPU.Runtime.Device, DeviceInfo)>();
        foreach (var group in context.Devices.GroupBy(KindOf))
        {
            int index = 0;
            foreach (var d in group)
                result.Add((d, new DeviceInfo(group.Key, index++, d.Name.Trim(), MemoryOf(d),
                    WarpSizeOf(context, d), d.MaxNumThreadsPerGroup, d.NumMultiprocessors) { Cuda = CudaDetailsOf(d), VectorWidths = VectorWidthsOf(d) }));
        }
        return result;
    }

    static CudaDeviceDetails? CudaDetailsOf(ILGPU.Runtime.Device d) => d is CudaDevice c
        ? new CudaDeviceDetails(c.DeviceId, c.Architecture?.Major ?? 0, c.Architecture?.Minor ?? 0,
            c.DriverVersion.Major * 1000 + c.DriverVersion.Minor * 10, c.InstructionSet?.ToString())
        : null;

    static OpenClVectorWidths? VectorWidthsOf(ILGPU.Runtime.Device d)
    {
        if (d is not CLDevice c)
            return null;
        try
        {
            return new OpenClVectorWidths(c.GetDeviceInfo<int>(CLDeviceInfoType.CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT),
                c.GetDeviceInfo<int>(CLDeviceInfoType.CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT));
        }
        catch (Exception)
        {
            return null;   // a driver that does not answer: the policy takes the widest blocks
        }
    }

    /// <summary>The CPU device reports no real memory size: show the memory the process may use.</summary>
    static long MemoryOf(ILGPU.Runtime.Device d) =>
        d is CPUDevice ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : d.MemorySize;

    /// <summary>OpenCL devices know their warp size only once an accelerator exists.</summary>
    static int WarpSizeOf(Context context, ILGPU.Runtime.Device d)
    {
        if (d.WarpSize > 0)
            return d.WarpSize;
        try
        {
            using var accelerator = d.CreateAccelerator(context);
            return accelerator.WarpSize;
        }
        catch (Exception)
        {
            return 0;
        }
    }

    /// <summary>Every device this machine offers, CUDA first.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = CreateContext(cpu: true, openCl: true, cuda: true);
        return Enumerate(context).Select(e => e.Info).OrderByDescending(i => i.Kind).ThenBy(i => i.Index).ToList();
    }

    /// <summary>Parses "auto", "cpu", "opencl:1", "cuda:0", …; a bad spec is an <see cref="ArgumentException"/>.</summary>
    public static (DeviceKind? Kind, int Index) ParseSpec(string spec)
    {
        var parts = spec.Trim().ToLowerInvariant().Split(':');
        int index = 0;
        if (parts.Length > 2 || (parts.Length == 2 && (!int.TryParse(parts[1], out index) || index < 0)))
            throw new InvalidDeviceSpecException($"device '{spec}': expected auto, cpu, opencl or cuda, optionally followed by ':INDEX' (e.g. cuda:0)");
        DeviceKind? kind = parts[0] switch
        {
            "auto" => null,
            "cpu" => DeviceKind.Cpu,
            "opencl" or "cl" => DeviceKind.OpenCL,
            "cuda" => DeviceKind.Cuda,
            _ => throw new InvalidDeviceSpecException($"device '{spec}': expected auto, cpu, opencl or cuda, optionally followed by ':INDEX' (e.g. cuda:0)"),
        };
        if (kind is null && parts.Length == 2)
            throw new InvalidDeviceSpecException($"device '{spec}': 'auto' takes no index");
        return (kind, index);
    }

    /// <summary>
    /// Creates the accelerator for a spec (see the class summary). A CUDA request that cannot be met
    /// names the driver's cause (<see cref="CudaAvailability"/>); "auto" falls back from a CUDA driver
    /// that is present but failing with a warning, silently when there is no driver at all, and not
    /// at all under BYOL_REQUIRE_CUDA=1.
    /// </summary>
    public static ComputeDevice Create(string spec = "auto")
    {
        var (kind, index) = ParseSpec(spec);
        var context = CreateContext(
            cpu: kind is null or DeviceKind.Cpu,
            openCl: kind is null or DeviceKind.OpenCL,
            cuda: kind is null or DeviceKind.Cuda);
        try
        {
            var devices = Enumerate(context);
            if (kind == DeviceKind.Cuda && !devices.Any(e => e.Info.Kind == DeviceKind.Cuda))
                throw new DeviceNotFoundException($"device '{spec}' is not available: {CudaAvailability.WhyNoDevice(index)}");
            // ILGPU's own preference may rank OpenCL above CUDA; auto means CUDA first.
            var candidates = kind is null
                ? devices.OrderByDescending(e => e.Info.Kind).ToList()
                : devices.Where(e => e.Info.Kind == kind && e.Info.Index == index).ToList();
            string? cudaFailure = null;   // why the last CUDA candidate could not be used
            foreach (var (device, info) in candidates)
            {
                if (info.Kind == DeviceKind.Cuda)
                {
                    cudaFailure = CudaAvailability.ProblemOf(info);
                    if (cudaFailure is null)
                    {
                        try { return new ComputeDevice(context, device.CreateAccelerator(context), info); }
                        catch (Exception e) { cudaFailure = $"ILGPU could not create the accelerator for {info.Spec} ({info.Name}): {CudaAvailability.Describe(e)}"; }
                    }
                    if (kind is not null)
                        throw new DeviceNotFoundException($"device '{spec}' is not available: {cudaFailure}");
                    continue;
                }
                if (kind is null)
                    CudaAvailability.BeforeFallback(cudaFailure, info);
                return new ComputeDevice(context, device.CreateAccelerator(context), info);
            }
            var all = List();
            string found = all.Count == 0 ? "none" : string.Join(", ", all.Select(i => $"{i.Spec} ({i.Name})"));
            throw new DeviceNotFoundException($"device '{spec}' is not available; devices found: {found}");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A kernel compiled for this device, cached under <paramref name="key"/>. A failed compilation is
    /// kept and re-thrown on every later request: ILGPU's context is unusable after it, and the first
    /// error is the one that explains why.
    /// </summary>
    public T Kernel<T>(string key, Func<Accelerator, T> load) where T : Delegate
    {
        if (kernels.TryGetValue(key, out var cached))
            return (T)cached;
        if (firstCompileError is not null)
            throw new InvalidOperationException($"kernel '{key}' was not compiled: an earlier kernel failed to compile on {Info.Name}: {firstCompileError.Message}", firstCompileError);
        try
        {
            var kernel = Counted(load(Accelerator), key);
            kernels[key] = kernel;
            return kernel;
        }
        catch (Exception e)
        {
            firstCompileError = e;
            throw new InvalidOperationException($"kernel '{key}' failed to compile on {Info.Name} ({Info.Kind}): {e.Message}", e);
        }
    }

    /// <summary>
    /// Default kernel versions and launch shapes of this device's family at its <see cref="Precision"/>
    /// (the one table: <see cref="DevicePolicy"/>).
    /// </summary>
    public DevicePolicy Policy => policy ??= PolicyOf(kernelFamily);
    DevicePolicy? policy;
    DeviceFamily? kernelFamily;

    DevicePolicy PolicyOf(DeviceFamily? versionsOf)
    {
        var own = DevicePolicy.For(Info, Accelerator.WarpSize);
        if (forcedBlocks is { } blocks)
            own = own with { Blocks = blocks };
        var versions = versionsOf is { } f ? DevicePolicy.Table[f] with { Family = own.Family, Launch = own.Launch } : own;
        return versions.WithPrecision(Precision);
    }

    /// <summary>
    /// Runs the kernel versions of another family here, with this device's own launch shapes: e.g. the
    /// launch sequence of a CUDA step counted on PoCL (`byol bench --kernel-versions-of cuda`).
    /// </summary>
    public void UseKernelVersionsOf(DeviceFamily family)
    {
        kernelFamily = family;
        policy = null;
    }

    /// <summary>
    /// Runs the register blocks of <paramref name="lanes"/> float lanes whatever the device reports
    /// (null: the device's own again): tests run every set on one device, benchmarks compare them.
    /// The sets give bit-identical results.
    /// </summary>
    public void UseRegisterBlocks(int? lanes)
    {
        forcedBlocks = lanes is { } l ? RegisterBlockSet.Exactly(l) : null;
        policy = null;
    }
    RegisterBlockSet? forcedBlocks;

    /// <summary>The arithmetic of convolutions and matmuls: <see cref="DevicePolicy.DefaultPrecision"/> until <see cref="UsePrecision"/>.</summary>
    public Precision Precision => precision ??= DevicePolicy.DefaultPrecision(Info);
    Precision? precision;

    /// <summary>Runs the versions of <paramref name="p"/> from now on; TF32 on a GPU below sm_80 is an <see cref="UnsupportedPrecisionException"/>.</summary>
    public void UsePrecision(Precision p)
    {
        precision = DevicePolicy.ChoosePrecision(Info, p);
        policy = null;
    }

    /// <summary>The versions resolved at each kernel site, and those pinned by a resumed run.</summary>
    public KernelVersionLog KernelLog { get; } = new();

    /// <summary>The once-per-version check of fast kernels against version 1 on this device.</summary>
    public KernelVerification Verification => verification ??= new KernelVerification(this);
    KernelVerification? verification;

    /// <summary>Launchers rent from a pool of their own until the result is disposed (the kernel checks: the step's pool stays as it was, measuring or not).</summary>
    internal IDisposable ScratchPool()
    {
        var saved = Pool;
        var scratch = new BufferPool(this);
        Pool = scratch;
        return new Restore(() =>
        {
            Pool = saved;
            scratch.Dispose();
        });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>A group size from the policy: <see cref="DevicePolicy.OneWarp"/> is the warp, and no group exceeds the accelerator's largest.</summary>
    public int GroupSize(int policyGroup) =>
        Math.Min(policyGroup == DevicePolicy.OneWarp ? Accelerator.WarpSize : policyGroup, Accelerator.MaxNumThreadsPerGroup);

    /// <summary>At most <paramref name="groupsPerMultiprocessor"/> groups per multiprocessor (<see cref="DevicePolicy.Unlimited"/>: no cap).</summary>
    public long GridCap(int groupsPerMultiprocessor) =>
        groupsPerMultiprocessor == DevicePolicy.Unlimited ? int.MaxValue : Math.Max(1, Accelerator.NumMultiprocessors) * (long)groupsPerMultiprocessor;

    /// <summary>
    /// Launch shape for a grid-stride kernel over <paramref name="work"/> items: on the CPU one warp-sized
    /// group per core; on a GPU groups of 256 up to a few waves per multiprocessor; on PoCL groups of 64,
    /// one item per work-item (see <see cref="DevicePolicy.Table"/>).
    /// </summary>
    public KernelConfig GridStrideConfig(long work)
    {
        int group = GroupSize(Policy.Launch.GridStrideGroup);
        long wanted = Math.Max(1, (work + group - 1) / group);
        return new KernelConfig((int)Math.Min(wanted, GridCap(Policy.Launch.GridStrideGroupsPerMultiprocessor)), group);
    }

    /// <summary>An OpenCL device that runs on CPU cores (PoCL): it reports a warp as large as a group.</summary>
    public bool IsCpuLikeOpenCl => Policy.Family == DeviceFamily.CpuLikeOpenCl;

    /// <summary>A 2-D grid-stride launch: <paramref name="rows"/> independent ranges along Y.</summary>
    public KernelConfig GridStrideConfig2D(long workPerRow, int rows)
    {
        var one = GridStrideConfig(workPerRow);
        int gx = Policy.Launch.GridStride2DSpreadsRows ? one.GridDim.X : 1;
        return new KernelConfig(new Index2D(gx, rows), new Index2D(one.GroupDim.X, 1));
    }

    /// <summary>Exactly <paramref name="threads"/> threads along X (a power of two ≥ 64), for reductions whose partial count is fixed.</summary>
    public KernelConfig ExactThreadsConfig(int threads)
    {
        int group = GroupSize(Policy.Launch.ExactThreadsGroup);
        return new KernelConfig(threads / group, group);
    }

    /// <summary>Exactly <paramref name="threads"/> threads along X for each of <paramref name="rows"/> rows along Y.</summary>
    public KernelConfig ExactThreadsConfig2D(int threads, int rows)
    {
        int group = GroupSize(Policy.Launch.ExactThreadsGroup);
        return new KernelConfig(new Index2D(threads / group, rows), new Index2D(group, 1));
    }

    /// <summary>
    /// Kernel versions forced per op family ("conv2d", "matmul", "batchnorm"), overriding each
    /// launcher's per-accelerator default: tests run a whole network on version 1 (the oracle) with it.
    /// </summary>
    public Dictionary<string, int> ForcedVersions { get; } = new();

    /// <summary>The version to launch at an op family's only site (<see cref="ResolveVersion(KernelSite, int, Func{int})"/>).</summary>
    public int ResolveVersion(string family, int requested, Func<int> defaultVersion) =>
        ResolveVersion(new KernelSite(family), requested, defaultVersion);

    /// <summary>
    /// The version to launch: the caller's, else a forced one, else one pinned to the site (a resumed
    /// run's), else the policy's (<see cref="DevicePolicy.Resolve"/>). A version the engine picked
    /// itself is checked once on this device before its first launch, and replaced by its fallback if
    /// the check fails (<see cref="KernelVerification"/>); what runs is logged per site.
    /// </summary>
    public int ResolveVersion(KernelSite site, int requested, Func<int> defaultVersion)
    {
        if (requested != 0)
            return DevicePolicy.Resolve(site.Op, requested, ForcedVersions, defaultVersion);
        int version = DevicePolicy.Resolve(site.Op, 0, ForcedVersions, () => KernelLog.TryPinned(site, out int pinned) ? pinned : defaultVersion());
        version = Verification.Trusted(site.Op, version);
        KernelLog.Record(site, version);
        return version;
    }

    public void Dispose()
    {
        Pool.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }

    public override string ToString() => $"{Info.Spec} {Info.Name}";
}
