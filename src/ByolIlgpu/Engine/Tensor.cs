using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>
/// A contiguous float32 array on a device with a shape (row-major, e.g. (N, C, H, W)).
/// Either a temporary from the device's <see cref="BufferPool"/> (valid until the pool's next
/// release) or a view into long-lived storage (parameters, running statistics, optimizer state).
/// <see cref="Grad"/> has the same shape and is created on demand, zeroed, by the tape.
/// </summary>
public sealed class Tensor
{
    readonly int generation;   // −1 for long-lived storage
    ArrayView<float> data;

    public ComputeDevice Device { get; }
    public int[] Shape { get; }
    public int Length { get; }
    public string Name { get; }

    /// <summary>True when backward passes should produce a gradient for this tensor.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The gradient, once the tape (or a parameter store) created it.</summary>
    public Tensor? Grad { get; internal set; }

    internal Tensor(ComputeDevice device, int[] shape, ArrayView<float> data, string name, bool pooled)
    {
        Device = device;
        Shape = shape;
        Length = ShapeLength(shape);
        if (data.Length != Length)
            throw new ArgumentException($"tensor '{name}': buffer of {data.Length} elements for shape {Format(shape)} ({Length} elements)");
        this.data = data;
        Name = name;
        generation = pooled ? device.Pool.Generation : -1;
    }

    /// <summary>The device memory; throws if this temporary's step has been released.</summary>
    public ArrayView<float> Data
    {
        get
        {
            if (generation >= 0 && generation != Device.Pool.Generation)
                throw new InvalidOperationException($"tensor '{Name}' {Format(Shape)} was a temporary of an earlier step and its memory has been reused");
            return data;
        }
    }

    /// <summary>A pooled temporary with undefined contents.</summary>
    public static Tensor Temp(ComputeDevice device, string name, params int[] shape) =>
        new(device, shape, device.Pool.Rent(ShapeLength(shape)), name, pooled: true);

    /// <summary>A pooled temporary filled with zeros.</summary>
    public static Tensor Zeros(ComputeDevice device, string name, params int[] shape)
    {
        var t = Temp(device, name, shape);
        device.MemSetToZero(t.Data);
        return t;
    }

    /// <summary>A pooled temporary holding a copy of host data.</summary>
    public static Tensor FromHost(ComputeDevice device, string name, float[] values, params int[] shape)
    {
        var t = Temp(device, name, shape);
        if (values.Length != t.Length)
            throw new ArgumentException($"tensor '{name}': {values.Length} host values for shape {Format(shape)} ({t.Length} elements)");
        t.CopyFromHost(values);
        return t;
    }

    /// <summary>A view of long-lived storage (not pooled).</summary>
    public static Tensor View(ComputeDevice device, string name, ArrayView<float> data, params int[] shape) =>
        new(device, shape, data, name, pooled: false);

    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];
    public int Rank => Shape.Length;

    public void CopyFromHost(float[] values)
    {
        if (values.Length != Length)
            throw new ArgumentException($"tensor '{Name}': {values.Length} host values for {Length} elements");
        Device.CopyFromHost(Data, values);
    }

    /// <summary>Copies the values to the host (waits for the device).</summary>
    public float[] ToHost()
    {
        return Device.ToHost(Data);
    }

    /// <summary>The gradient, created zeroed (pooled) if it does not exist yet.</summary>
    public Tensor GradOrZeros()
    {
        Grad ??= Zeros(Device, Name + ".grad", Shape);
        return Grad;
    }

    /// <summary>
    /// The gradient for a backward step that writes every element of it: when none exists yet it is
    /// created without zeroing and <paramref name="accumulate"/> is false (the step writes, saving a
    /// memset); otherwise the step adds into the existing one.
    /// </summary>
    public Tensor GradToWrite(out bool accumulate)
    {
        accumulate = Grad is not null;
        Grad ??= Temp(Device, Name + ".grad", Shape);
        return Grad;
    }

    /// <summary>The same memory under another shape with the same element count.</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (ShapeLength(shape) != Length)
            throw new ArgumentException($"tensor '{Name}': cannot view {Format(Shape)} as {Format(shape)}");
        return new Tensor(Device, shape, Data, Name, generation >= 0) { RequiresGrad = RequiresGrad, Grad = Grad?.Reshape(shape) };
    }

    public static int ShapeLength(int[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d <= 0)
                throw new ArgumentException($"shape {Format(shape)}: every dimension must be positive");
            n *= d;
        }
        if (n > int.MaxValue)
            throw new ArgumentException($"shape {Format(shape)}: more than 2^31 − 1 elements");
        return (int)n;
    }

    public static string Format(int[] shape) => "(" + string.Join(", ", shape) + ")";

    public override string ToString() => $"{Name} {Format(Shape)}";
}
