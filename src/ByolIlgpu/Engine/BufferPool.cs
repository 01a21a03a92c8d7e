using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>
/// Device memory for the temporaries of a training step (activations, their gradients, saved
/// statistics). Buffers are kept by exact length and handed out again after <see cref="ReleaseAll"/>,
/// so a step that repeats the same shapes allocates nothing after its first iteration.
/// Each release starts a new generation; a tensor from an older generation refuses to be read.
/// </summary>
public sealed class BufferPool : IDisposable
{
    readonly Accelerator accelerator;
    readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> free = new();
    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> inUse = new();
    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> all = new();

    public BufferPool(Accelerator accelerator) => this.accelerator = accelerator;

    /// <summary>Incremented by every <see cref="ReleaseAll"/>.</summary>
    public int Generation { get; private set; }

    /// <summary>How many device allocations the pool has made so far.</summary>
    public int Allocations { get; private set; }

    /// <summary>Bytes of device memory the pool holds.</summary>
    public long BytesHeld { get; private set; }

    /// <summary>A buffer of exactly <paramref name="length"/> floats; its contents are undefined.</summary>
    public ArrayView<float> Rent(long length)
    {
        if (length <= 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "a pooled buffer needs at least one element");
        if (!free.TryGetValue(length, out var stack) || !stack.TryPop(out var buffer))
        {
            buffer = accelerator.Allocate1D<float>(length);
            all.Add(buffer);
            Allocations++;
            BytesHeld += length * sizeof(float);
        }
        inUse.Add(buffer);
        return buffer.View;
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
        Generation++;
    }

    public void Dispose()
    {
        foreach (var buffer in all)
            buffer.Dispose();
        all.Clear();
        inUse.Clear();
        free.Clear();
    }
}
