using System.IO.MemoryMappedFiles;

namespace ByolIlgpu.Data;

/// <summary>How each colour plane of an image is stored in a file.</summary>
public enum PlaneOrder
{
    /// <summary>Rows one after another (ours, CIFAR-10's): byte (c, y, x) at c·H·W + y·W + x.</summary>
    RowMajor,

    /// <summary>Columns one after another (STL-10's, MATLAB's): byte (c, y, x) at c·H·W + x·H + y.</summary>
    ColumnMajor,
}

/// <summary>
/// Images (N, 3, H, W) uint8 read straight from a file mapped into memory, from a byte offset on.
/// Reads go through a pointer into the mapping, so files beyond 2 GiB work and nothing is copied
/// until <see cref="Read"/>; the operating system pages the file in and out as needed. With
/// <see cref="PlaneOrder.ColumnMajor"/> each plane is transposed on the way out, so callers always
/// receive our row-major planar layout.
/// </summary>
public sealed unsafe class MappedPixelSource : PixelSource
{
    readonly MemoryMappedFile file;
    readonly MemoryMappedViewAccessor view;
    readonly byte* start;   // the first image's first byte
    readonly long count;
    readonly int height, width;
    readonly PlaneOrder order;
    bool disposed;

    public MappedPixelSource(string path, long offset, long count, int height, int width, PlaneOrder order = PlaneOrder.RowMajor)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Path = path;
        this.count = count;
        this.height = height;
        this.width = width;
        this.order = order;
        long need = offset + count * ImageBytes;
        long length = new FileInfo(path).Length;
        if (length < need)
            throw new DataFormatException($"{path}: {length} bytes, expected at least {need} ({count} images of 3×{height}×{width} from byte {offset})");
        if (length == 0)
        {
            // An empty file cannot be mapped; an empty source needs no mapping.
            file = null!;
            view = null!;
            return;
        }
        file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* basePointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
        start = basePointer + view.PointerOffset + offset;
    }

    public string Path { get; }
    public override long Count => count;
    public override int ImageBytes => 3 * height * width;

    public override void Read(long index, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if ((ulong)index >= (ulong)count)
            throw new ArgumentOutOfRangeException(nameof(index), $"image {index} of {count}");
        if (destination.Length < ImageBytes)
            throw new ArgumentException($"destination of {destination.Length} bytes, expected {ImageBytes}");
        var image = new ReadOnlySpan<byte>(start + index * ImageBytes, ImageBytes);
        if (order == PlaneOrder.RowMajor)
        {
            image.CopyTo(destination);
            return;
        }
        // Transposed in 8×8 tiles through pointers: each tile's reads and writes stay in a few cache lines.
        int plane = height * width;
        const int tile = 8;
        fixed (byte* output = destination)
        {
            byte* input = start + index * ImageBytes;
            for (int c = 0; c < 3; c++)
            {
                byte* source = input + c * plane;    // (W, H): column x holds rows 0..H-1
                byte* target = output + c * plane;   // (H, W)
                for (int x0 = 0; x0 < width; x0 += tile)
                    for (int y0 = 0; y0 < height; y0 += tile)
                    {
                        int xEnd = Math.Min(x0 + tile, width), yEnd = Math.Min(y0 + tile, height);
                        for (int x = x0; x < xEnd; x++)
                        {
                            byte* column = source + (long)x * height;
                            for (int y = y0; y < yEnd; y++)
                                target[y * width + x] = column[y];
                        }
                    }
            }
        }
    }

    public override void Dispose()
    {
        if (!disposed && view is not null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            file.Dispose();
        }
        disposed = true;
        base.Dispose();
    }
}

/// <summary>Images [start, start + count) of another source (what <see cref="ImageDataset.Take"/> gives for a mapped set).</summary>
public sealed class PixelRange : PixelSource
{
    readonly PixelSource inner;
    readonly long start, count;

    public PixelRange(PixelSource inner, long start, long count)
    {
        if (start < 0 || count < 0 || start + count > inner.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"images [{start}, {start + count}) of a source of {inner.Count}");
        this.inner = inner;
        this.start = start;
        this.count = count;
    }

    public override long Count => count;
    public override int ImageBytes => inner.ImageBytes;

    public override void Read(long index, Span<byte> destination)
    {
        if ((ulong)index >= (ulong)count)
            throw new ArgumentOutOfRangeException(nameof(index), $"image {index} of {count}");
        inner.Read(start + index, destination);
    }
}

/// <summary>Several sources of the same image size, one after another (STL-10's train split, then its unlabeled images).</summary>
public sealed class ConcatenatedPixels : PixelSource
{
    readonly PixelSource[] parts;
    readonly long[] starts;   // (parts + 1): the first index of each part, then the total

    public ConcatenatedPixels(params PixelSource[] parts)
    {
        if (parts.Length == 0)
            throw new ArgumentException("nothing to concatenate");
        if (parts.Any(p => p.ImageBytes != parts[0].ImageBytes))
            throw new ArgumentException($"sources of different image sizes: {string.Join(", ", parts.Select(p => p.ImageBytes))} bytes");
        this.parts = parts;
        starts = new long[parts.Length + 1];
        for (int i = 0; i < parts.Length; i++)
            starts[i + 1] = starts[i] + parts[i].Count;
    }

    public override long Count => starts[^1];
    public override int ImageBytes => parts[0].ImageBytes;

    public override void Read(long index, Span<byte> destination)
    {
        if ((ulong)index >= (ulong)Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"image {index} of {Count}");
        int part = System.Array.BinarySearch(starts, index);
        part = part >= 0 ? part : ~part - 1;
        while (parts[part].Count == 0 || index >= starts[part + 1])   // an exact hit on an empty part's start
            part++;
        parts[part].Read(index - starts[part], destination);
    }

    public override void Dispose()
    {
        foreach (var part in parts)
            part.Dispose();
        base.Dispose();
    }
}
