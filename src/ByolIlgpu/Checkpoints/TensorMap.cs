using System.Collections;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// Named tensors in order, names unique (a PyTorch state dict). <see cref="Source"/> names where
/// they came from (a file path), so every lookup error can say which file lacks what.
/// </summary>
public sealed class TensorMap : IReadOnlyCollection<NamedTensor>
{
    readonly List<NamedTensor> order = new();
    readonly Dictionary<string, int> index = new(StringComparer.Ordinal);

    public TensorMap(string source = "(in memory)") => Source = source;

    public TensorMap(IEnumerable<NamedTensor> tensors, string source = "(in memory)") : this(source)
    {
        foreach (var t in tensors)
            Add(t);
    }

    /// <summary>The file these tensors were read from, or a description, for error messages.</summary>
    public string Source { get; set; }

    public int Count => order.Count;
    public IEnumerable<string> Names => order.Select(t => t.Name);

    /// <summary>Adds a tensor; a name already present is an error.</summary>
    public void Add(NamedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (index.ContainsKey(tensor.Name))
            throw new ArgumentException($"{Source}: tensor '{tensor.Name}' added twice");
        index[tensor.Name] = order.Count;
        order.Add(tensor);
    }

    public void AddRange(IEnumerable<NamedTensor> tensors)
    {
        foreach (var t in tensors)
            Add(t);
    }

    /// <summary>Adds a tensor or replaces the one of the same name (keeping its position).</summary>
    public void Set(NamedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (index.TryGetValue(tensor.Name, out int i))
            order[i] = tensor;
        else
            Add(tensor);
    }

    public bool Contains(string name) => index.ContainsKey(name);

    public bool TryGet(string name, out NamedTensor tensor)
    {
        if (index.TryGetValue(name, out int i))
        {
            tensor = order[i];
            return true;
        }
        tensor = null!;
        return false;
    }

    /// <summary>The tensor of that name, or an error naming the file and the tensor.</summary>
    public NamedTensor this[string name] =>
        TryGet(name, out var t) ? t : throw new CheckpointFormatException(Source, $"tensor '{name}'", "missing");

    /// <summary>
    /// The F32 tensor of that name and shape as floats, or an error naming the file, the tensor,
    /// and the dtype and shape expected.
    /// </summary>
    public float[] GetFloat32(string name, int[] shape)
    {
        var t = Expect(name, SafeTensorsDType.F32, shape);
        return t.ToFloat32();
    }

    /// <summary>The I64 tensor of that name and shape as longs (checked as <see cref="GetFloat32"/>).</summary>
    public long[] GetInt64(string name, int[] shape) => Expect(name, SafeTensorsDType.I64, shape).ToInt64();

    /// <summary>The tensor if it has that dtype and shape; otherwise an error saying what was expected and found.</summary>
    public NamedTensor Expect(string name, SafeTensorsDType dtype, int[] shape)
    {
        if (!TryGet(name, out var t))
            throw new CheckpointFormatException(Source, $"tensor '{name}'", $"missing, expected {dtype} {NamedTensor.ShapeText(shape)}");
        if (t.DType != dtype || !t.Shape.AsSpan().SequenceEqual(shape))
            throw new CheckpointFormatException(Source, $"tensor '{name}'", $"{t.DType} {NamedTensor.ShapeText(t.Shape)}, expected {dtype} {NamedTensor.ShapeText(shape)}");
        return t;
    }

    public IEnumerator<NamedTensor> GetEnumerator() => order.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
