using System.Diagnostics;
using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Data;

/// <summary>
/// A batch's images on the device: <see cref="Pixels"/> uint8 (M, 3, H, W) and <see cref="Rows"/> (B), the row
/// of Pixels that batch sample b reads. Resident: the whole data set and the data-set indices themselves.
/// Streamed: the batch alone, gathered in order, so Rows is the identity 0..B−1.
/// </summary>
public readonly record struct DeviceBatch(ArrayView<byte> Pixels, ArrayView<int> Rows);

/// <summary>
/// Where a step's images come from. A sequence of batches is set by <see cref="Begin"/> (batch k is
/// rows[k·B, min((k+1)·B, n))); <see cref="Batch"/> hands batch k out on the device. Random augmentation
/// parameters are always drawn from the data-set indices, never from <see cref="DeviceBatch.Rows"/>, so
/// both sources give the same views bit for bit.
/// </summary>
public interface IBatchSource : IDisposable
{
    /// <summary>"device" (the whole set resident) or "host" (streamed through page-locked staging).</summary>
    string Placement { get; }

    /// <summary>Images in the data set.</summary>
    int ImageCount { get; }

    /// <summary>Device memory this source holds: the resident set, or the streamed ring's batch buffers.</summary>
    long DeviceBytes { get; }

    /// <summary>Starts a sequence of batches of <paramref name="batch"/> rows over <paramref name="rows"/> (data-set indices).</summary>
    void Begin(int[] rows, int batch);

    /// <summary>Batch <paramref name="k"/> of the sequence; <paramref name="datasetIndices"/> is its rows on the device (B).</summary>
    DeviceBatch Batch(int k, ArrayView<int> datasetIndices);
}

/// <summary>The whole data set on the device, uploaded once: a batch is the set and its data-set indices.</summary>
public sealed class ResidentBatchSource : IBatchSource
{
    readonly MemoryBuffer1D<byte, Stride1D.Dense>? owned;
    readonly ArrayView<byte> pixels;   // (N, 3, H, W) uint8

    /// <summary>Over pixels the caller keeps on the device.</summary>
    public ResidentBatchSource(ArrayView<byte> pixels, int imageCount)
    {
        this.pixels = pixels;
        ImageCount = imageCount;
    }

    /// <summary>Uploads <paramref name="source"/> whole (in chunks of at most 64 MiB, so a memory-mapped set needs no managed copy).</summary>
    public ResidentBatchSource(ComputeDevice device, PixelSource source)
    {
        long bytes = source.Count * (long)source.ImageBytes;
        if (bytes > int.MaxValue)
            throw new ArgumentException($"{source.Count} images of {source.ImageBytes} bytes ({ComputeDevice.FormatBytes(bytes)}) cannot be resident: " +
                "the augmentation kernels index at most 2^31 − 1 bytes; use --data-placement host");
        owned = source.Array is { } array ? device.Allocate(array) : Upload(device, source, bytes);
        pixels = owned.View.SubView(0, Math.Max(1, bytes));
        ImageCount = (int)source.Count;
    }

    static MemoryBuffer1D<byte, Stride1D.Dense> Upload(ComputeDevice device, PixelSource source, long bytes)
    {
        var buffer = device.Allocate<byte>(Math.Max(1, bytes));
        int perImage = source.ImageBytes;
        int chunkImages = Math.Max(1, (64 << 20) / perImage);
        var host = new byte[(long)Math.Min(chunkImages, source.Count) * perImage];
        for (long start = 0; start < source.Count; start += chunkImages)
        {
            int n = (int)Math.Min(chunkImages, source.Count - start);
            for (int i = 0; i < n; i++)
                source.Read(start + i, host.AsSpan(i * perImage, perImage));
            device.CopyFromHost(buffer.View.SubView(start * perImage, (long)n * perImage), host.AsSpan(0, n * perImage));
        }
        return buffer;
    }

    public string Placement => "device";
    public int ImageCount { get; }
    public long DeviceBytes => owned?.LengthInBytes ?? pixels.LengthInBytes;
    public ArrayView<byte> Pixels => pixels;

    public void Begin(int[] rows, int batch) { }

    public DeviceBatch Batch(int k, ArrayView<int> datasetIndices) => new(pixels, datasetIndices);

    public void Dispose() => owned?.Dispose();
}

/// <summary>
/// A data set that stays in host memory (a managed array or a memory-mapped file of any size), streamed
/// to the device a batch at a time through a ring of <see cref="Depth"/> slots, each a page-locked
/// staging buffer, a device batch buffer (B, 3, H, W) and a copy marker.
///
/// Batch k uses slot k mod R. <see cref="Batch"/>(k) waits for the host gather of batch k (a background
/// task, started when batch k−1 was handed out), enqueues one asynchronous copy staging → device and a
/// marker behind it, then starts the gather of batch k+1 into the next slot and returns: the host
/// gathers batch k+1 while the device runs step k. No device-wide synchronisation anywhere:
/// - the device buffer of slot s is rewritten by copy k+R only after step k's kernels have read it,
///   because the copy and the kernels are in one in-order stream;
/// - the staging buffer of slot s may be rewritten (gather k+R) only once copy k has read it: the host
///   waits for that one copy's marker (<see cref="ComputeDevice.WaitForCopy"/>). That copy was enqueued
///   R−1 steps earlier, so the wait blocks only when the host has run more than R−1 steps ahead of the
///   device, which is the back-pressure of a device-bound run (the resident path gets the same from
///   the driver's launch queue and the periodic loss reads), never a stall of the device.
/// The copy runs on the compute stream, so on a GPU it does not overlap the kernels (a copy engine
/// on its own stream would need cross-stream event waits, which ILGPU 1.5.3 does not offer portably);
/// it is one B·3·H·W-byte transfer per step (1.5 MiB for 128 images at 64 px).
/// </summary>
public sealed class StreamedBatchSource : IBatchSource
{
    /// <summary>Slots in the ring: at most two batches ahead of the device before the host waits.</summary>
    public const int DefaultDepth = 3;

    sealed class Slot : IDisposable
    {
        public required PinnedHostBuffer Staging;                       // (B, 3, H, W) uint8, host, page-locked
        public required MemoryBuffer1D<byte, Stride1D.Dense> Device;    // (B, 3, H, W) uint8
        public required CopyMarker Marker;
        public bool CopyPending;   // a copy from Staging may still be reading it
        public int Batch = -1;     // the batch of the sequence staged (or being gathered) here
        public int Images;         // rows in that batch
        public Task? Gather;

        public void Dispose()
        {
            Marker.Dispose();
            Device.Dispose();
            Staging.Dispose();
        }
    }

    readonly ComputeDevice device;
    readonly PixelSource source;
    readonly Slot[] ring;
    readonly MemoryBuffer1D<int, Stride1D.Dense> identity;   // (B): 0, 1, …, B−1
    readonly int capacity, imageBytes;
    int[] rows = [];
    int batch, batches;
    readonly Stopwatch gatherWait = new();

    public StreamedBatchSource(ComputeDevice device, PixelSource source, int batchCapacity, int depth = DefaultDepth)
    {
        if (depth < 2)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "a streamed ring needs at least two slots");
        if (batchCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(batchCapacity), batchCapacity, "a streamed batch needs at least one image");
        this.device = device;
        this.source = source;
        capacity = batchCapacity;
        imageBytes = source.ImageBytes;
        long slotBytes = (long)batchCapacity * imageBytes;
        ring = new Slot[depth];
        try
        {
            for (int i = 0; i < depth; i++)
                ring[i] = new Slot { Staging = device.AllocatePinned(slotBytes), Device = device.Allocate<byte>(slotBytes), Marker = device.CreateCopyMarker() };
            identity = device.Allocate(Enumerable.Range(0, batchCapacity).ToArray());
        }
        catch
        {
            foreach (var slot in ring)
                slot?.Dispose();
            throw;
        }
    }

    public string Placement => "host";
    public int ImageCount => (int)Math.Min(int.MaxValue, source.Count);
    public int Depth => ring.Length;
    public long DeviceBytes => ring.Sum(s => s.Device.LengthInBytes) + identity.LengthInBytes;

    /// <summary>Device bytes a ring of <paramref name="depth"/> slots of <paramref name="batch"/> images takes.</summary>
    public static long RingBytes(int batch, int imageBytes, int depth = DefaultDepth) => depth * (long)batch * imageBytes + 4L * batch;

    /// <summary>Time the caller spent waiting for host gathers (the host, not the device, was the bottleneck).</summary>
    public TimeSpan GatherWait => gatherWait.Elapsed;

    /// <summary>Batches gathered on the caller's thread because they were asked out of sequence (0 in a training run).</summary>
    public int OutOfSequence { get; private set; }

    public void Begin(int[] rows, int batch)
    {
        if (batch < 1 || batch > capacity)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"a streamed batch of 1 to {capacity} images");
        foreach (var slot in ring)
        {
            Join(slot);   // a prefetch of the previous sequence
            slot.Batch = -1;
        }
        this.rows = rows;
        this.batch = batch;
        batches = (rows.Length + batch - 1) / batch;
        if (batches > 0)
            Prefetch(0);
    }

    public DeviceBatch Batch(int k, ArrayView<int> datasetIndices)
    {
        if (k < 0 || k >= batches)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"expected a batch in [0, {batches})");
        var slot = ring[k % ring.Length];
        if (slot.Batch != k)
        {
            OutOfSequence++;
            Prefetch(k);
        }
        gatherWait.Start();
        Join(slot);
        gatherWait.Stop();
        if (datasetIndices.Length != slot.Images)
            throw new ArgumentException($"batch {k}: {datasetIndices.Length} device indices for {slot.Images} streamed images");
        device.CopyFromPinnedAsync(slot.Device.View, slot.Staging, (long)slot.Images * imageBytes, slot.Marker);
        slot.CopyPending = true;
        if (k + 1 < batches)
            Prefetch(k + 1);
        return new DeviceBatch(slot.Device.View, identity.View.SubView(0, slot.Images));
    }

    /// <summary>Starts the host gather of batch <paramref name="k"/> into its slot once the slot's last copy has read the staging memory.</summary>
    void Prefetch(int k)
    {
        var slot = ring[k % ring.Length];
        Join(slot);
        if (slot.CopyPending)
        {
            device.WaitForCopy(slot.Marker);
            slot.CopyPending = false;
        }
        int start = k * batch, n = Math.Min(batch, rows.Length - start);
        slot.Batch = k;
        slot.Images = n;
        var staging = slot.Staging;
        var order = rows;
        slot.Gather = Task.Run(() => Gather(source, order, start, n, staging.Span, imageBytes));
    }

    /// <summary>Copies images rows[start..start+n) into <paramref name="staging"/> in that order: (n, 3, H, W).</summary>
    public static void Gather(PixelSource source, int[] rows, int start, int n, Span<byte> staging, int imageBytes)
    {
        for (int i = 0; i < n; i++)
        {
            long index = rows[start + i];
            if (index < 0 || index >= source.Count)
                throw new ArgumentOutOfRangeException(nameof(rows), index, $"image index outside the data set of {source.Count}");
            source.Read(index, staging.Slice(i * imageBytes, imageBytes));
        }
    }

    static void Join(Slot slot)
    {
        var task = slot.Gather;
        if (task is null)
            return;
        slot.Gather = null;
        try
        {
            task.GetAwaiter().GetResult();   // the gather's own exception (e.g. an unreadable cache file), not an AggregateException
        }
        catch
        {
            slot.Batch = -1;
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var slot in ring)
        {
            try { Join(slot); }
            catch (Exception) { }   // the caller has seen it already (or is unwinding from another error)
            // The staging memory must outlive every copy that reads it.
            if (slot.CopyPending)
                device.WaitForCopy(slot.Marker);
            slot.Dispose();
        }
        identity.Dispose();
    }
}
