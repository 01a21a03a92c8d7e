using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>
/// Device memory for the temporaries of a training step (activations, their gradients, saved
/// statistics). Buffers are kept by exact length and handed out again after <see cref="ReleaseAll"/>,
/// so a step that repeats the same shapes allocates nothing after its first iteration, and the bytes
/// held after one step are what a step needs.
/// Each release starts a new generation; a tensor from an older generation refuses to be read.
/// </summary>
public sealed class BufferPool : IDisposable
{
    readonly ComputeDevice device;
    readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> free = new();
    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> inUse = new();
    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> all = new();
    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> measureScratch = new();
    long measuredBytes;
    bool measuring;

    public BufferPool(ComputeDevice device)
    {
        this.device = device;
        var limit = Environment.GetEnvironmentVariable(LimitVariable);
        if (!string.IsNullOrEmpty(limit))
            LimitBytes = double.TryParse(limit, System.Globalization.CultureInfo.InvariantCulture, out var mib) && mib > 0
                ? (long)(mib * (1L << 20))
                : throw new ArgumentException($"environment variable {LimitVariable}='{limit}': expected a positive number of MiB");
    }

    /// <summary>
    /// Caps the pool at this many MiB (a stand-in for a smaller device, for tests). The trainer treats the cap as
    /// the whole budget: images it keeps on the device (or its streaming ring) are taken off the pool's share.
    /// </summary>
    public const string LimitVariable = "BYOL_POOL_LIMIT_MIB";

    /// <summary>At most this many bytes may be held (null: as much as the device gives).</summary>
    public long? LimitBytes { get; set; }

    /// <summary>Incremented by every <see cref="ReleaseAll"/>.</summary>
    public int Generation { get; private set; }

    /// <summary>How many device allocations the pool has made so far.</summary>
    public int Allocations { get; private set; }

    /// <summary>Bytes rented since the last <see cref="ReleaseAll"/> (what the current step uses).</summary>
    public long BytesRented { get; private set; }

    /// <summary>Bytes of device memory the pool holds.</summary>
    public long BytesHeld { get; private set; }

    /// <summary>Bytes the pool could hold in all: its limit, or what it holds plus the device's free memory.</summary>
    public long CapacityBytes => LimitBytes ?? BytesHeld + device.AvailableBytes();

    /// <summary>A buffer of exactly <paramref name="length"/> floats; its contents are undefined.</summary>
    public ArrayView<float> Rent(long length)
    {
        if (length <= 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "a pooled buffer needs at least one element");
        if (measuring)
            return MeasureRent(length);
        BytesRented += length * sizeof(float);
        if (!free.TryGetValue(length, out var stack) || !stack.TryPop(out var buffer))
        {
            long bytes = length * sizeof(float);
            if (LimitBytes is long limit && BytesHeld + bytes > limit)
                FreeUnused();   // e.g. an evaluation after training: the step's buffers of other lengths make room
            if (LimitBytes is long cap && BytesHeld + bytes > cap)
                throw new DeviceMemoryException(
                    $"out of device memory on {device.Info.Spec}: the pool holds {ComputeDevice.FormatBytes(BytesHeld)} and needs {ComputeDevice.FormatBytes(bytes)} more, " +
                    $"over its limit of {ComputeDevice.FormatBytes(cap)}; a smaller --batch-size (or --width) needs less", bytes);
            buffer = device.Allocate<float>(length);
            all.Add(buffer);
            Allocations++;
            BytesHeld += bytes;
        }
        inUse.Add(buffer);
        return buffer.View;
    }

    /// <summary>
    /// Gives back to the device every held buffer no tensor of this generation uses (after waiting for
    /// the work queued on them): only when a rent would pass the limit, so steady steps never wait.
    /// </summary>
    void FreeUnused()
    {
        if (free.Values.All(stack => stack.Count == 0))
            return;
        device.Synchronize();
        foreach (var stack in free.Values)
            while (stack.TryPop(out var buffer))
            {
                BytesHeld -= buffer.LengthInBytes;
                all.Remove(buffer);
                buffer.Dispose();
            }
    }

    /// <summary>Returns every rented buffer; tensors made before this call become unreadable.</summary>
    public void ReleaseAll()
    {
        foreach (var buffer in inUse)
        {
            if (!free.TryGetValue(buffer.Length, out var stack))
                free[buffer.Length] = stack = new Stack<MemoryBuffer1D<float, Stride1D.Dense>>();
            stack.Push(buffer);
        }
        inUse.Clear();
        BytesRented = 0;
        Generation++;
    }

    /// <summary>
    /// Counts what the work until <see cref="EndMeasure"/> would rent, without holding it: every request is
    /// served from one shared scratch buffer (as large as the largest request), so kernels run on
    /// overlapping garbage. Only for work whose indexing does not depend on the data (forward and
    /// backward passes; not the augmentations, whose drawn parameters choose what to read). Tensors
    /// rented before stay valid; the caller restores whatever state the work changes.
    /// </summary>
    public void BeginMeasure()
    {
        if (measuring)
            throw new InvalidOperationException("the pool is already measuring");
        measuring = true;
        measuredBytes = 0;
    }

    /// <summary>Ends a measurement: the bytes the pool would have had to hold for it (from empty).</summary>
    public long EndMeasure()
    {
        if (!measuring)
            throw new InvalidOperationException("the pool is not measuring");
        device.Synchronize();   // the scratch buffers may still be in use by queued kernels
        measuring = false;
        foreach (var scratch in measureScratch)
            scratch.Dispose();
        measureScratch.Clear();
        Generation++;
        return measuredBytes;
    }

    ArrayView<float> MeasureRent(long length)
    {
        measuredBytes += length * sizeof(float);
        var scratch = measureScratch.Count > 0 ? measureScratch[^1] : null;
        if (scratch is null || scratch.Length < length)
        {
            // Earlier, smaller scratch buffers stay alive: views into them are still in use.
            scratch = device.Allocate<float>(Math.Max(length, 2 * (scratch?.Length ?? 0)));
            measureScratch.Add(scratch);
        }
        return scratch.View.SubView(0, length);
    }

    public void Dispose()
    {
        foreach (var buffer in all)
            buffer.Dispose();
        foreach (var scratch in measureScratch)
            scratch.Dispose();
        all.Clear();
        inUse.Clear();
        free.Clear();
        measureScratch.Clear();
    }
}
