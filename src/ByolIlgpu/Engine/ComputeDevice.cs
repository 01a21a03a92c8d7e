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
}

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
    public BufferPool Pool { get; }

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
                    WarpSizeOf(context, d), d.MaxNumThreadsPerGroup, d.NumMultiprocessors)));
        }
        return result;
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

    /// <summary>Creates the accelerator for a spec (see the class summary).</summary>
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
            // ILGPU's own preference may rank OpenCL above CUDA; auto means CUDA first.
            var pick = kind is null
                ? devices.OrderByDescending(e => e.Info.Kind).FirstOrDefault()
                : devices.FirstOrDefault(e => e.Info.Kind == kind && e.Info.Index == index);
            if (pick.Device is null)
            {
                var all = List();
                string found = all.Count == 0 ? "none" : string.Join(", ", all.Select(i => $"{i.Spec} ({i.Name})"));
                throw new DeviceNotFoundException($"device '{spec}' is not available; devices found: {found}");
            }
            var accelerator = pick.Device.CreateAccelerator(context);
            return new ComputeDevice(context, accelerator, pick.Info);
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
            var kernel = Counted(load(Accelerator));
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
    /// Launch shape for a grid-stride kernel over <paramref name="work"/> items: on the CPU one warp-sized
    /// group per core (each thread an OS thread; more would only add switching); on a GPU groups of 256
    /// up to a few waves per multiprocessor; on PoCL (one work-group per core) groups of 64.
    /// </summary>
    public KernelConfig GridStrideConfig(long work)
    {
        int group = Kind switch
        {
            DeviceKind.Cpu => Accelerator.WarpSize,
            DeviceKind.OpenCL when IsCpuLikeOpenCl => 64,
            _ => GpuGroups.GridStride,
        };
        group = Math.Min(group, Accelerator.MaxNumThreadsPerGroup);
        long wanted = Math.Max(1, (work + group - 1) / group);
        long cap = Kind switch
        {
            DeviceKind.Cpu => Accelerator.NumMultiprocessors,
            // PoCL runs a group's work-items one after another on a core: one item per work-item keeps
            // consecutive work-items on consecutive addresses (a grid-stride walk jumps by the grid size).
            DeviceKind.OpenCL when IsCpuLikeOpenCl => int.MaxValue,
            _ => Math.Max(1, Accelerator.NumMultiprocessors) * 32L,
        };
        return new KernelConfig((int)Math.Min(wanted, cap), group);
    }

    /// <summary>An OpenCL device that runs on CPU cores (PoCL): it reports a warp as large as a group.</summary>
    public bool IsCpuLikeOpenCl => Kind == DeviceKind.OpenCL && Accelerator.WarpSize >= 1024;

    /// <summary>A 2-D grid-stride launch: <paramref name="rows"/> independent ranges along Y.</summary>
    public KernelConfig GridStrideConfig2D(long workPerRow, int rows)
    {
        var one = GridStrideConfig(workPerRow);
        int gx = Kind == DeviceKind.Cpu ? 1 : one.GridDim.X;
        return new KernelConfig(new Index2D(gx, rows), new Index2D(one.GroupDim.X, 1));
    }

    /// <summary>Exactly <paramref name="threads"/> threads along X (a power of two ≥ 64), for reductions whose partial count is fixed.</summary>
    public KernelConfig ExactThreadsConfig(int threads)
    {
        int group = Math.Min(Kind == DeviceKind.Cpu ? Accelerator.WarpSize : GpuGroups.ExactThreads, Accelerator.MaxNumThreadsPerGroup);
        return new KernelConfig(threads / group, group);
    }

    /// <summary>Exactly <paramref name="threads"/> threads along X for each of <paramref name="rows"/> rows along Y.</summary>
    public KernelConfig ExactThreadsConfig2D(int threads, int rows)
    {
        int group = Math.Min(Kind == DeviceKind.Cpu ? Accelerator.WarpSize : GpuGroups.ExactThreads, Accelerator.MaxNumThreadsPerGroup);
        return new KernelConfig(new Index2D(threads / group, rows), new Index2D(group, 1));
    }

    /// <summary>
    /// Kernel versions forced per op family ("conv2d", "matmul", "batchnorm"), overriding each
    /// launcher's per-accelerator default: tests run a whole network on version 1 (the oracle) with it.
    /// </summary>
    public Dictionary<string, int> ForcedVersions { get; } = new();

    /// <summary>The version to launch: the caller's, else a forced one, else the default.</summary>
    public int ResolveVersion(string family, int requested, Func<int> defaultVersion) =>
        requested != 0 ? requested : ForcedVersions.TryGetValue(family, out var forced) ? forced : defaultVersion();

    public void Dispose()
    {
        Pool.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }

    public override string ToString() => $"{Info.Spec} {Info.Name}";
}
