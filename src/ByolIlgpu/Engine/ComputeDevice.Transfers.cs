using System.Linq.Expressions;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace ByolIlgpu.Engine;

/// <summary>
/// What the engine has asked of a device so far: kernel launches, memsets, host↔device copies,
/// host synchronisations (an explicit wait, or a copy from or to pageable host memory, which ILGPU
/// completes before it returns) and device allocations. Subtract two snapshots for one step's counts.
/// </summary>
public readonly record struct DeviceCounters(long Launches, long MemSets, long Copies, long HostSyncs, long Allocations)
{
    public static DeviceCounters operator -(DeviceCounters a, DeviceCounters b) =>
        new(a.Launches - b.Launches, a.MemSets - b.MemSets, a.Copies - b.Copies, a.HostSyncs - b.HostSyncs, a.Allocations - b.Allocations);

    public override string ToString() =>
        $"{Launches} launches, {MemSets} memsets, {Copies} copies, {HostSyncs} host synchronisations, {Allocations} allocations";
}

/// <summary>Device memory ran out; the message says what was asked for and what there was.</summary>
public sealed class DeviceMemoryException(string message, long requestedBytes, Exception? inner = null) : Exception(message, inner)
{
    public long RequestedBytes { get; } = requestedBytes;
}

/// <summary>
/// Every launch, memset, copy, allocation and wait the engine issues goes through these members, so the
/// counters are complete (a test checks that src/ calls ILGPU's versions nowhere else). Counting is one
/// increment per call: cheap enough to stay on.
/// </summary>
public sealed partial class ComputeDevice
{
    long launches, memSets, copies, hostSyncs, allocations, bytesAllocated;

    public DeviceCounters Counters => new(launches, memSets, copies, hostSyncs, allocations);

    /// <summary>Bytes the engine has allocated on this device so far (buffers freed since are not subtracted).</summary>
    public long BytesAllocated => bytesAllocated;

    readonly Dictionary<string, long> launchesByKernel = [];

    /// <summary>Launches so far per kernel (the key it was compiled under): what the performance model's launch list is checked against.</summary>
    public IReadOnlyDictionary<string, long> LaunchesByKernel() => new Dictionary<string, long>(launchesByKernel);

    internal void CountLaunch(string key)
    {
        launches++;
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(launchesByKernel, key, out _)++;
    }

    /// <summary>The loaded kernel wrapped so that each call counts one launch (an expression tree: no boxing of the arguments).</summary>
    static T Counted<T>(T kernel, ComputeDevice device, string key) where T : Delegate
    {
        var invoke = typeof(T).GetMethod("Invoke")!;
        var parameters = invoke.GetParameters().Select(p => Expression.Parameter(p.ParameterType, p.Name)).ToArray();
        var body = Expression.Block(
            Expression.Call(Expression.Constant(device), typeof(ComputeDevice).GetMethod(nameof(CountLaunch), System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!,
                Expression.Constant(key)),
            Expression.Invoke(Expression.Constant(kernel), parameters));
        return Expression.Lambda<T>(body, parameters).Compile();
    }

    T Counted<T>(T kernel, string key) where T : Delegate => Counted(kernel, this, key);

    /// <summary>Waits until the device has finished everything issued so far.</summary>
    public void Synchronize()
    {
        hostSyncs++;
        Accelerator.Synchronize();
    }

    /// <summary>Sets a view to zero, asynchronously on the default stream.</summary>
    public void MemSetToZero<T>(ArrayView<T> view) where T : unmanaged
    {
        memSets++;
        view.MemSetToZero(Accelerator.DefaultStream);
    }

    /// <summary>Copies host values into a device view; ILGPU waits for the copy (one host synchronisation).</summary>
    public void CopyFromHost<T>(ArrayView<T> target, ReadOnlySpan<T> source) where T : unmanaged
    {
        if (source.Length != target.Length)
            throw new ArgumentException($"copy to the device: {source.Length} host values for a view of {target.Length}");
        copies++;
        hostSyncs++;
        ((ArrayView1D<T, Stride1D.Dense>)target).CopyFromCPU(Accelerator.DefaultStream, source);
    }

    /// <summary>Copies a device view to the host after the work before it has finished (one host synchronisation).</summary>
    public void CopyToHost<T>(ArrayView<T> source, Span<T> target) where T : unmanaged
    {
        if (source.Length != target.Length)
            throw new ArgumentException($"copy to the host: a view of {source.Length} values into {target.Length}");
        copies++;
        hostSyncs++;
        Accelerator.Synchronize();
        ((ArrayView1D<T, Stride1D.Dense>)source).CopyToCPU(Accelerator.DefaultStream, target);
        Accelerator.Synchronize();
    }

    public void MemSetToZero<T>(ArrayView1D<T, Stride1D.Dense> view) where T : unmanaged => MemSetToZero((ArrayView<T>)view);
    public void CopyFromHost<T>(ArrayView1D<T, Stride1D.Dense> target, ReadOnlySpan<T> source) where T : unmanaged => CopyFromHost((ArrayView<T>)target, source);
    public void CopyToHost<T>(ArrayView1D<T, Stride1D.Dense> source, Span<T> target) where T : unmanaged => CopyToHost((ArrayView<T>)source, target);
    public T[] ToHost<T>(ArrayView1D<T, Stride1D.Dense> source) where T : unmanaged => ToHost((ArrayView<T>)source);

    /// <summary>A device view's values as a new host array.</summary>
    public T[] ToHost<T>(ArrayView<T> source) where T : unmanaged
    {
        var host = new T[source.Length];
        CopyToHost(source, host);
        return host;
    }

    /// <summary>A device buffer of <paramref name="length"/> elements (contents undefined); running out of memory is a <see cref="DeviceMemoryException"/>.</summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        try
        {
            var buffer = Accelerator.Allocate1D<T>(length);
            allocations++;
            bytesAllocated += bytes;
            return buffer;
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            throw new DeviceMemoryException(
                $"out of device memory on {Info.Spec} ({Info.Name}): allocating {FormatBytes(bytes)} with {FormatBytes(bytesAllocated)} already allocated by the engine " +
                $"and {FormatBytes(AvailableBytes())} reported free; a smaller --batch-size (or --width) needs less", bytes, e);
        }
    }

    /// <summary>A device buffer holding a copy of <paramref name="values"/>.</summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(T[] values) where T : unmanaged
    {
        var buffer = Allocate<T>(Math.Max(1, values.Length));
        if (values.Length > 0)
            CopyFromHost(buffer.View.SubView(0, values.Length), values);
        return buffer;
    }

    /// <summary>
    /// Memory the device can still give: the driver's free memory on CUDA; on OpenCL its global memory
    /// less what the engine allocated; on the CPU accelerator what the process may still use.
    /// </summary>
    public long AvailableBytes()
    {
        try
        {
            return Accelerator switch
            {
                CudaAccelerator cuda => cuda.GetFreeMemory(),
                CLAccelerator => Math.Max(0, Accelerator.MemorySize - bytesAllocated),
                _ => Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet),
            };
        }
        catch (Exception)
        {
            return Math.Max(0, Accelerator.MemorySize - bytesAllocated);
        }
    }

    /// <summary>ILGPU reports an exhausted device by the driver's error code (CUDA, OpenCL) or as the runtime's own exception (CPU).</summary>
    public static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Message.Contains("CUDA_ERROR_OUT_OF_MEMORY", StringComparison.Ordinal),
        CLException cl => cl.Message.Contains("CL_MEM_OBJECT_ALLOCATION_FAILURE", StringComparison.Ordinal)
            || cl.Message.Contains("CL_OUT_OF_RESOURCES", StringComparison.Ordinal) || cl.Message.Contains("CL_OUT_OF_HOST_MEMORY", StringComparison.Ordinal),
        _ => e.InnerException is not null && IsOutOfMemory(e.InnerException),
    };

    /// <summary>Bytes in GiB with <paramref name="gibDigits"/> decimals, MiB and KiB with one fewer.</summary>
    public static string FormatBytes(long bytes, int gibDigits = 2)
    {
        string small = $"F{Math.Max(0, gibDigits - 1)}";
        return bytes switch
        {
            >= 1L << 30 => (bytes / (double)(1L << 30)).ToString($"F{gibDigits}") + " GiB",
            >= 1L << 20 => (bytes / (double)(1L << 20)).ToString(small) + " MiB",
            >= 1L << 10 => (bytes / (double)(1L << 10)).ToString(small) + " KiB",
            _ => $"{bytes} B",
        };
    }
}
