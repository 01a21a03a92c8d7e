using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace ByolIlgpu.Engine;

/// <summary>
/// What the engine has asked of a device so far: kernel launches, memsets, host↔device copies,
/// host synchronisations (a device-wide wait, or a copy from or to pageable host memory, which ILGPU
/// completes before it returns) and device allocations. Subtract two snapshots for one step's counts.
/// Of the copies, <see cref="AsyncCopies"/> are from page-locked staging memory and return at once
/// (no host synchronisation); <see cref="CopyWaits"/> counts the host's waits for one such copy before
/// it reuses the staging memory (not device-wide: the device keeps running), and
/// <see cref="CopyWaitsBlocked"/> those of them that found the copy still pending and blocked.
/// </summary>
public readonly record struct DeviceCounters(long Launches, long MemSets, long Copies, long HostSyncs, long Allocations,
    long AsyncCopies = 0, long CopyWaits = 0, long CopyWaitsBlocked = 0)
{
    public static DeviceCounters operator -(DeviceCounters a, DeviceCounters b) =>
        new(a.Launches - b.Launches, a.MemSets - b.MemSets, a.Copies - b.Copies, a.HostSyncs - b.HostSyncs, a.Allocations - b.Allocations,
            a.AsyncCopies - b.AsyncCopies, a.CopyWaits - b.CopyWaits, a.CopyWaitsBlocked - b.CopyWaitsBlocked);

    public override string ToString() =>
        $"{Launches} launches, {MemSets} memsets, {Copies} copies ({AsyncCopies} asynchronous), {HostSyncs} host synchronisations, " +
        $"{Allocations} allocations, {CopyWaits} staging waits ({CopyWaitsBlocked} blocked)";
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
    long launches, memSets, copies, hostSyncs, allocations, bytesAllocated, asyncCopies, copyWaits, copyWaitsBlocked;

    public DeviceCounters Counters => new(launches, memSets, copies, hostSyncs, allocations, asyncCopies, copyWaits, copyWaitsBlocked);

    /// <summary>Bytes the engine has allocated on this device so far (buffers freed since are not subtracted).</summary>
    public long BytesAllocated => bytesAllocated;

    // One counter per kernel key, created when the kernel is loaded; the wrapper increments it directly.
    readonly ConcurrentDictionary<string, StrongBox<long>> launchesByKernel = new();

    // Per kernel key, the wall-clock ticks of its launches while ProfileKernels is on.
    readonly ConcurrentDictionary<string, StrongBox<long>> ticksByKernel = new();

    /// <summary>
    /// When on, every launch waits for its kernel to finish and adds the wall time to its key
    /// (<see cref="SecondsByKernel"/>; `byol bench --profile`). Diagnostic: each launch then costs a
    /// host wait (not counted in <see cref="DeviceCounters.HostSyncs"/>), and the device never runs ahead.
    /// </summary>
    public bool ProfileKernels { get; set; }

    /// <summary>Counts one launch; the time stamp to pass to <see cref="EndLaunch"/> (0 when not profiling).</summary>
    internal long BeginLaunch(StrongBox<long> tally)
    {
        launches++;
        tally.Value++;
        return ProfileKernels ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
    }

    internal void EndLaunch(StrongBox<long> ticks, long start)
    {
        if (start == 0)
            return;
        Accelerator.Synchronize();
        ticks.Value += System.Diagnostics.Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Seconds spent so far in each kernel key's launches while <see cref="ProfileKernels"/> was on; subtract two snapshots for one run's.</summary>
    public IReadOnlyDictionary<string, double> SecondsByKernel =>
        ticksByKernel.ToDictionary(e => e.Key, e => e.Value.Value / (double)System.Diagnostics.Stopwatch.Frequency);

    /// <summary>Launches so far per kernel key (the name a launcher loads it under); subtract two snapshots for one step's.</summary>
    public IReadOnlyDictionary<string, long> LaunchesByKernel =>
        launchesByKernel.ToDictionary(e => e.Key, e => e.Value.Value);

    readonly ConcurrentDictionary<string, long> memSetsByCaller = new();

    /// <summary>Memsets so far per calling source line ("Conv2d.cs:120"), to see which ones a step could fold away.</summary>
    public IReadOnlyDictionary<string, long> MemSetsByCaller => memSetsByCaller.ToDictionary(e => e.Key, e => e.Value);

    /// <summary>Per-key counts issued between two snapshots (<see cref="LaunchesByKernel"/>, <see cref="MemSetsByCaller"/>), keys with none left out.</summary>
    public static IReadOnlyDictionary<string, long> CountsBetween(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after) =>
        after.Select(e => (e.Key, Count: e.Value - before.GetValueOrDefault(e.Key)))
            .Where(e => e.Count != 0).ToDictionary(e => e.Key, e => e.Count);

    /// <summary>
    /// The loaded kernel wrapped so that each call counts one launch, in total and under <paramref name="key"/>,
    /// and is timed while <see cref="ProfileKernels"/> is on (an expression tree: no boxing of the arguments).
    /// </summary>
    static T Counted<T>(T kernel, ComputeDevice device, string key) where T : Delegate
    {
        var tally = device.launchesByKernel.GetOrAdd(key, _ => new StrongBox<long>());
        var ticks = device.ticksByKernel.GetOrAdd(key, _ => new StrongBox<long>());
        var invoke = typeof(T).GetMethod("Invoke")!;
        var parameters = invoke.GetParameters().Select(p => Expression.Parameter(p.ParameterType, p.Name)).ToArray();
        var begin = typeof(ComputeDevice).GetMethod(nameof(BeginLaunch), BindingFlags.Instance | BindingFlags.NonPublic, [typeof(StrongBox<long>)])!;
        var end = typeof(ComputeDevice).GetMethod(nameof(EndLaunch), BindingFlags.Instance | BindingFlags.NonPublic, [typeof(StrongBox<long>), typeof(long)])!;
        var start = Expression.Variable(typeof(long), "start");
        var body = Expression.Block([start],
            Expression.Assign(start, Expression.Call(Expression.Constant(device), begin, Expression.Constant(tally))),
            Expression.Invoke(Expression.Constant(kernel), parameters),
            Expression.Call(Expression.Constant(device), end, Expression.Constant(ticks), start));
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
    public void MemSetToZero<T>(ArrayView<T> view, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) where T : unmanaged
    {
        memSets++;
        memSetsByCaller.AddOrUpdate($"{Path.GetFileName(file)}:{line}", 1, (_, n) => n + 1);
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

    public void MemSetToZero<T>(ArrayView1D<T, Stride1D.Dense> view, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) where T : unmanaged =>
        MemSetToZero((ArrayView<T>)view, file, line);
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

    /// <summary>
    /// Host memory of <paramref name="bytes"/> bytes, pinned for the GC and page-locked where the driver can
    /// (ILGPU's <see cref="PageLockedArray1D{T}"/>: registered with cuMemHostRegister on CUDA; on OpenCL and
    /// the CPU accelerator an ordinary pinned array, which OpenCL's non-blocking write reads in place).
    /// A host allocation: not counted in <see cref="DeviceCounters.Allocations"/>.
    /// </summary>
    public PinnedHostBuffer AllocatePinned(long bytes)
    {
        if (bytes < 1 || bytes > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "page-locked staging: expected 1 to 2^31 − 1 bytes");
        return new PinnedHostBuffer(Accelerator.AllocatePageLocked1D<byte>(bytes));
    }

    /// <summary>
    /// Enqueues a copy of the first <paramref name="bytes"/> bytes of <paramref name="source"/> into
    /// <paramref name="target"/> on the default stream and returns at once (no host synchronisation), then
    /// records <paramref name="marker"/> behind it. The copy reads the host memory when the stream reaches
    /// it: do not write <paramref name="source"/> again before <see cref="WaitForCopy"/> on the marker.
    /// Stream order puts it after every kernel enqueued before and before every kernel enqueued after, so
    /// the device side needs no wait. (ILGPU's CopyFromPageLockedAsync would synchronise the stream on
    /// OpenCL and the CPU, whose page-lock scopes are null scopes; this calls the buffer copy under it:
    /// cuMemcpyAsync on CUDA, clEnqueueWriteBuffer with blocking = false on OpenCL, memcpy on the CPU.)
    /// </summary>
    public void CopyFromPinnedAsync(ArrayView<byte> target, PinnedHostBuffer source, long bytes, CopyMarker marker)
    {
        if (bytes < 1 || bytes > source.Length || bytes > target.Length)
            throw new ArgumentException($"asynchronous copy: {bytes} bytes from {source.Length} staged into a view of {target.Length}");
        // ILGPU 1.5.3's OpenCL host-to-device copy writes the length of the source's whole buffer, not of the view:
        // the target must have room for all of the staging memory.
        if (Accelerator is CLAccelerator && target.Length < source.Length)
            throw new ArgumentException($"asynchronous copy on OpenCL: a view of {target.Length} bytes for a staging buffer of {source.Length}");
        copies++;
        asyncCopies++;
        target.SubView(0, bytes).CopyFrom(Accelerator.DefaultStream, source.Array.ArrayView.SubView(0, bytes));
        marker.Record(this);
    }

    /// <summary>
    /// Waits until the copy behind <paramref name="marker"/> is done (one copy, not the whole device): counted
    /// as a staging wait, and as blocked only when the copy was still pending when asked.
    /// </summary>
    public void WaitForCopy(CopyMarker marker)
    {
        copyWaits++;
        if (!marker.IsDone())
        {
            copyWaitsBlocked++;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            marker.Wait();
            copyWaitTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
        }
    }

    long copyWaitTicks;

    /// <summary>Time the host has spent blocked in <see cref="WaitForCopy"/> so far (the device kept running meanwhile).</summary>
    public TimeSpan CopyWaitTime => System.Diagnostics.Stopwatch.GetElapsedTime(0, copyWaitTicks);

    /// <summary>A marker for <see cref="CopyFromPinnedAsync"/> on this device (a CUDA event; an OpenCL event per copy; nothing on the CPU).</summary>
    public CopyMarker CreateCopyMarker() => new(this);

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

/// <summary>Page-locked host memory for asynchronous copies (<see cref="ComputeDevice.AllocatePinned"/>).</summary>
public sealed class PinnedHostBuffer : IDisposable
{
    internal PinnedHostBuffer(PageLockedArray1D<byte> array) => Array = array;

    internal PageLockedArray1D<byte> Array { get; }
    public long Length => Array.Length;
    public Span<byte> Span => Array.Span;

    public void Dispose() => Array.Dispose();
}

/// <summary>
/// A point in the default stream just behind one asynchronous copy; done once the copy is. CUDA: one event,
/// re-recorded per copy (cuEventRecord / cuEventQuery / cuEventSynchronize). OpenCL: the event of a marker
/// command enqueued behind the copy, a new one per copy (clEnqueueMarkerWithWaitList / clGetEventInfo /
/// clWaitForEvents; ILGPU's profiling markers wait for themselves when made). CPU accelerator: its copies
/// and kernels complete before they return, so a marker is always done.
/// </summary>
public sealed class CopyMarker : IDisposable
{
    readonly ComputeDevice device;
    IntPtr handle;   // CUDA event or OpenCL event; zero when none is pending

    internal CopyMarker(ComputeDevice device)
    {
        this.device = device;
        if (device.Accelerator is CudaAccelerator)
        {
            using var bind = device.Accelerator.BindScoped();
            CudaException.ThrowIfFailed(CudaAPI.CurrentAPI.CreateEvent(out handle, CudaEventFlags.CU_EVENT_DISABLE_TIMING));
        }
    }

    internal void Record(ComputeDevice on)
    {
        if (!ReferenceEquals(on, device))
            throw new ArgumentException($"a copy marker of {device} recorded on {on}");
        switch (device.Accelerator)
        {
            case CudaAccelerator cuda:
                using (cuda.BindScoped())
                    CudaException.ThrowIfFailed(CudaAPI.CurrentAPI.RecordEvent(handle, ((CudaStream)cuda.DefaultStream).StreamPtr));
                break;
            case CLAccelerator cl:
                ReleaseOpenClEvent();
                OpenClEvents.Check(OpenClEvents.clEnqueueMarkerWithWaitList(((CLStream)cl.DefaultStream).CommandQueue, 0, IntPtr.Zero, out handle), "clEnqueueMarkerWithWaitList");
                break;
        }
    }

    internal bool IsDone()
    {
        switch (device.Accelerator)
        {
            case CudaAccelerator cuda:
                using (cuda.BindScoped())
                {
                    var status = CudaAPI.CurrentAPI.QueryEvent(handle);
                    if (status == CudaError.CUDA_ERROR_NOT_READY)
                        return false;
                    CudaException.ThrowIfFailed(status);
                    return true;
                }
            case CLAccelerator when handle != IntPtr.Zero:
                OpenClEvents.Check(OpenClEvents.clGetEventInfo(handle, OpenClEvents.CommandExecutionStatus, (UIntPtr)sizeof(int), out int state, IntPtr.Zero), "clGetEventInfo");
                if (state < 0)
                    throw new InvalidOperationException($"an asynchronous copy to {device} failed (OpenCL status {state})");
                return state == OpenClEvents.Complete;
            default:
                return true;
        }
    }

    internal void Wait()
    {
        switch (device.Accelerator)
        {
            case CudaAccelerator cuda:
                using (cuda.BindScoped())
                    CudaException.ThrowIfFailed(CudaAPI.CurrentAPI.SynchronizeEvent(handle));
                break;
            case CLAccelerator when handle != IntPtr.Zero:
                var events = handle;
                OpenClEvents.Check(OpenClEvents.clWaitForEvents(1, ref events), "clWaitForEvents");
                break;
        }
    }

    void ReleaseOpenClEvent()
    {
        if (handle != IntPtr.Zero)
            OpenClEvents.clReleaseEvent(handle);
        handle = IntPtr.Zero;
    }

    public void Dispose()
    {
        if (device.Accelerator is CudaAccelerator cuda && handle != IntPtr.Zero)
        {
            using (cuda.BindScoped())
                CudaAPI.CurrentAPI.DestroyEvent(handle);
            handle = IntPtr.Zero;
        }
        else if (device.Accelerator is CLAccelerator)
            ReleaseOpenClEvent();
    }
}

/// <summary>The four OpenCL 1.2 event calls a <see cref="CopyMarker"/> needs (ILGPU keeps its own wrappers internal).</summary>
static partial class OpenClEvents
{
    public const uint CommandExecutionStatus = 0x11D3;   // CL_EVENT_COMMAND_EXECUTION_STATUS
    public const int Complete = 0;                       // CL_COMPLETE

    [LibraryImport("OpenCL")]
    public static partial int clEnqueueMarkerWithWaitList(IntPtr queue, uint eventsInWaitList, IntPtr waitList, out IntPtr marker);

    [LibraryImport("OpenCL")]
    public static partial int clGetEventInfo(IntPtr clEvent, uint name, UIntPtr size, out int value, IntPtr sizeReturned);

    [LibraryImport("OpenCL")]
    public static partial int clWaitForEvents(uint count, ref IntPtr events);

    [LibraryImport("OpenCL")]
    public static partial int clReleaseEvent(IntPtr clEvent);

    public static void Check(int status, string call)
    {
        if (status != 0)
            throw new InvalidOperationException($"OpenCL {call} failed with status {status}");
    }
}
