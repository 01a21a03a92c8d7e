using System.Runtime.InteropServices;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// The element types of the safetensors format that have a whole number of bytes per element,
/// named as they are written in the header ("F32", "I64", ...). Values are ordered by alignment,
/// as in the reference implementation.
/// </summary>
public enum SafeTensorsDType
{
    BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
}

public static class SafeTensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.BOOL or SafeTensorsDType.U8 or SafeTensorsDType.I8
            or SafeTensorsDType.F8_E5M2 or SafeTensorsDType.F8_E4M3 => 1,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 4,
        SafeTensorsDType.F64 or SafeTensorsDType.I64 or SafeTensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>The header spelling ("F32").</summary>
    public static string HeaderName(this SafeTensorsDType dtype) => dtype.ToString();

    /// <summary>Parses a header dtype (exact, case-sensitive, as the reference does).</summary>
    public static bool TryParse(string text, out SafeTensorsDType dtype)
    {
        foreach (var d in Enum.GetValues<SafeTensorsDType>())
            if (string.Equals(d.ToString(), text, StringComparison.Ordinal))
            {
                dtype = d;
                return true;
            }
        dtype = default;
        return false;
    }

    public static string KnownList => string.Join(", ", Enum.GetNames<SafeTensorsDType>());
}

/// <summary>
/// One named tensor as the safetensors format stores it: an element type, a shape (row-major,
/// C order; [] is a scalar of one element) and the raw little-endian bytes. Typed factories and
/// accessors cover F32, I64, I32 and U8; any other dtype travels as raw bytes.
/// </summary>
public sealed class NamedTensor
{
    public NamedTensor(string name, SafeTensorsDType dtype, int[] shape, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(bytes);
        _ = dtype.Size();   // rejects values outside the enum
        long elements = ElementCount(shape, name);
        long expected = elements * dtype.Size();
        if (bytes.LongLength != expected)
            throw new ArgumentException($"tensor '{name}': {bytes.LongLength} bytes for {dtype} shape {ShapeText(shape)}, expected {expected}");
        Name = name;
        DType = dtype;
        Shape = (int[])shape.Clone();
        Bytes = bytes;
    }

    public string Name { get; }
    public SafeTensorsDType DType { get; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public int[] Shape { get; }

    /// <summary>The element bytes, little-endian, row-major (not copied: treat as read-only).</summary>
    public byte[] Bytes { get; }

    /// <summary>Number of elements: the product of the shape (1 for a scalar).</summary>
    public long ElementCount() => ElementCount(Shape, Name);

    public static NamedTensor F32(string name, int[] shape, ReadOnlySpan<float> values) =>
        new(name, SafeTensorsDType.F32, shape, ToBytes(values));

    public static NamedTensor I64(string name, int[] shape, ReadOnlySpan<long> values) =>
        new(name, SafeTensorsDType.I64, shape, ToBytes(values));

    public static NamedTensor I32(string name, int[] shape, ReadOnlySpan<int> values) =>
        new(name, SafeTensorsDType.I32, shape, ToBytes(values));

    public static NamedTensor U8(string name, int[] shape, ReadOnlySpan<byte> values) =>
        new(name, SafeTensorsDType.U8, shape, values.ToArray());

    /// <summary>A 0-dimensional I64 tensor (PyTorch's num_batches_tracked).</summary>
    public static NamedTensor ScalarI64(string name, long value) => I64(name, [], [value]);

    public float[] ToFloat32() => FromBytes<float>(SafeTensorsDType.F32);
    public long[] ToInt64() => FromBytes<long>(SafeTensorsDType.I64);
    public int[] ToInt32() => FromBytes<int>(SafeTensorsDType.I32);
    public byte[] ToUInt8() => FromBytes<byte>(SafeTensorsDType.U8);

    public override string ToString() => $"{Name}: {DType} {ShapeText(Shape)}";

    /// <summary>"[2, 3]", "[]" for a scalar.</summary>
    public static string ShapeText(IEnumerable<int> shape) => "[" + string.Join(", ", shape) + "]";

    static long ElementCount(int[] shape, string name)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"tensor '{name}': negative dimension in shape {ShapeText(shape)}");
            n = checked(n * d);
        }
        return n;
    }

    T[] FromBytes<T>(SafeTensorsDType want) where T : unmanaged
    {
        if (DType != want)
            throw new InvalidOperationException($"tensor '{Name}' holds {DType}, read as {want}");
        var values = MemoryMarshal.Cast<byte, T>(Bytes).ToArray();
        if (!BitConverter.IsLittleEndian)
            ReverseEach(MemoryMarshal.AsBytes(values.AsSpan()), want.Size());
        return values;
    }

    static byte[] ToBytes<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian)
            ReverseEach(bytes, System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return bytes;
    }

    /// <summary>Swaps the byte order of each element (big-endian hosts only; the format is little-endian).</summary>
    static void ReverseEach(Span<byte> bytes, int size)
    {
        if (size == 1) return;
        for (int i = 0; i < bytes.Length; i += size)
            bytes.Slice(i, size).Reverse();
    }
}
