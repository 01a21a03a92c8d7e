using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Optim;

/// <summary>
/// An optimizer over every tensor of a <see cref="ParameterStore"/>: its state buffers have the
/// store's flat layout, and each step is a few launches over the tensor table, never one per tensor.
/// </summary>
public abstract class Optimizer : IDisposable
{
    protected Optimizer(ParameterStore store)
    {
        if (!store.IsBuilt || !store.WithGradients)
            throw new ArgumentException("an optimizer needs a built parameter store that keeps gradients");
        Store = store;
    }

    public ParameterStore Store { get; }
    protected ComputeDevice Device => Store.Device;
    protected int TensorCount => Store.Parameters.Count;

    /// <summary>Number of steps taken (Adam's bias correction counts from 1).</summary>
    public long Steps { get; protected set; }

    /// <summary>Applies one update with learning rate <paramref name="lr"/> from the current gradients.</summary>
    public abstract void Step(float lr);

    /// <summary>Named state buffers, for checkpoints.</summary>
    public abstract IReadOnlyDictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> State { get; }

    /// <summary>Copies every state buffer to the host (for checkpoints).</summary>
    public Dictionary<string, float[]> ExportState()
    {
        return State.ToDictionary(kv => kv.Key, kv => Device.ToHost(kv.Value.View));
    }

    /// <summary>Restores state saved by <see cref="ExportState"/> and the step count; names and lengths must match.</summary>
    public void ImportState(IReadOnlyDictionary<string, float[]> state, long steps)
    {
        foreach (var (name, buffer) in State)
        {
            if (!state.TryGetValue(name, out var values))
                throw new ArgumentException($"optimizer state '{name}' is missing (a {GetType().Name} needs {string.Join(", ", State.Keys)})");
            if (values.Length != buffer.Length)
                throw new ArgumentException($"optimizer state '{name}' has {values.Length} values, expected {buffer.Length}");
            Device.CopyFromHost(buffer.View, values);
        }
        Steps = steps;
    }

    /// <summary>Every step starts here: an update inside a frozen forward and backward pass would leave stale prepared weights.</summary>
    protected void CheckWeightsWritable() => Device.PreparedWeights.ThrowIfFrozen($"{GetType().Name} step");

    /// <summary>Launch shape for a 2-D walk over the tensor table.</summary>
    protected KernelConfig TableConfig()
    {
        int largest = Store.Parameters.Max(p => p.Length);
        return Device.GridStrideConfig2D(largest, TensorCount);
    }

    protected MemoryBuffer1D<float, Stride1D.Dense> ZeroState()
    {
        var b = Device.Allocate<float>(Store.Count);
        Device.MemSetToZero(b.View);
        return b;
    }

    public virtual void Dispose()
    {
        foreach (var b in State.Values)
            b.Dispose();
    }
}
