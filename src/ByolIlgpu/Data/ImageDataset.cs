namespace ByolIlgpu.Data;

/// <summary>
/// Where a data set's pixels live: a managed array (CIFAR-10, synthetic sets) or a file mapped into
/// memory (image-folder caches, STL-10), which may be larger than both the device's budget and 2 GiB.
/// Images are uint8 (3, H, W) planar RGB, <see cref="ImageBytes"/> each.
/// </summary>
public abstract class PixelSource : IDisposable
{
    public abstract long Count { get; }
    public abstract int ImageBytes { get; }

    /// <summary>Copies image <paramref name="index"/> into <paramref name="destination"/> (ImageBytes long).</summary>
    public abstract void Read(long index, Span<byte> destination);

    /// <summary>The whole set as one managed array, where it already is one (null otherwise).</summary>
    public virtual byte[]? Array => null;

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>Pixels held in a managed array (N, 3, H, W).</summary>
public sealed class ArrayPixelSource(byte[] pixels, int imageBytes) : PixelSource
{
    public override long Count => pixels.Length / imageBytes;
    public override int ImageBytes => imageBytes;
    public override byte[] Array => pixels;

    public override void Read(long index, Span<byte> destination) =>
        pixels.AsSpan(checked((int)(index * imageBytes)), imageBytes).CopyTo(destination);
}

/// <summary>
/// Images as the device receives them: uint8 pixels (N, 3, H, W), planar RGB (CIFAR-10's own record
/// layout), labels (N) in [0, classes) or none (an unlabeled set: <see cref="HasLabels"/> false), and
/// the class names.
/// </summary>
public sealed class ImageDataset
{
    public ImageDataset(byte[] pixels, byte[] labels, string[] classNames, int height = 32, int width = 32, string source = "")
        : this(new ArrayPixelSource(pixels, 3 * height * width), labels, classNames, height, width, source)
    {
        if (pixels.Length != labels.Length * 3 * height * width)
            throw new ArgumentException($"{source}: {pixels.Length} pixel bytes for {labels.Length} images of 3×{height}×{width}");
    }

    /// <summary>A set over any pixel source; <paramref name="labels"/> empty for an unlabeled set, else one per image.</summary>
    public ImageDataset(PixelSource pixels, byte[] labels, string[] classNames, int height, int width, string source)
    {
        if (pixels.ImageBytes != 3 * height * width)
            throw new ArgumentException($"{source}: images of {pixels.ImageBytes} bytes, expected 3×{height}×{width}");
        if (labels.Length != 0 && labels.Length != pixels.Count)
            throw new ArgumentException($"{source}: {labels.Length} labels for {pixels.Count} images");
        if (pixels.Count > int.MaxValue)
            throw new ArgumentException($"{source}: {pixels.Count} images, at most {int.MaxValue} supported");
        PixelSource = pixels;
        Labels = labels;
        ClassNames = classNames;
        Height = height;
        Width = width;
        Source = source;
    }

    public PixelSource PixelSource { get; }

    /// <summary>All pixels as one managed array (N, 3, H, W); a memory-mapped set has none (use <see cref="PixelSource"/>).</summary>
    public byte[] Pixels => PixelSource.Array
        ?? throw new InvalidOperationException($"{Source}: {Count} images are memory-mapped, not held in one array; read them through PixelSource");

    public byte[] Labels { get; }      // (N), or empty for an unlabeled set
    public bool HasLabels => Labels.Length == Count && Count > 0;
    public string[] ClassNames { get; }
    public int Height { get; }
    public int Width { get; }
    public string Source { get; }
    public int Count => (int)PixelSource.Count;
    public int ImageBytes => 3 * Height * Width;

    /// <summary>The first <paramref name="count"/> images (all when count is 0 or larger than the set).</summary>
    public ImageDataset Take(int count)
    {
        if (count <= 0 || count >= Count)
            return this;
        var labels = Labels.Length == 0 ? Labels : Labels[..count];
        if (PixelSource.Array is { } pixels)
            return new ImageDataset(new ArrayPixelSource(pixels[..(count * ImageBytes)], ImageBytes), labels, ClassNames, Height, Width, Source);
        return new ImageDataset(new PixelRange(PixelSource, 0, count), labels, ClassNames, Height, Width, Source);
    }

    /// <summary>
    /// The same images held in one managed array: this set where it already is one, else a copy read
    /// through the source (at most 2 GiB). For consumers that need <see cref="Pixels"/>.
    /// </summary>
    public ImageDataset InMemory()
    {
        if (PixelSource.Array is not null)
            return this;
        long bytes = (long)Count * ImageBytes;
        if (bytes > System.Array.MaxLength)
            throw new DataFormatException($"{Source}: {Count} images of 3×{Height}×{Width} are {bytes >> 20} MiB, more than one array holds; they must be streamed");
        var pixels = new byte[bytes];
        for (int i = 0; i < Count; i++)
            PixelSource.Read(i, pixels.AsSpan(i * ImageBytes, ImageBytes));
        return new ImageDataset(new ArrayPixelSource(pixels, ImageBytes), Labels, ClassNames, Height, Width, Source);
    }

    /// <summary>An empty set of images of this size (no test split, say).</summary>
    public static ImageDataset Empty(int height, int width, string source) =>
        new(new ArrayPixelSource([], 3 * height * width), [], [], height, width, source);

    public int[] LabelsAsInts() => Labels.Select(l => (int)l).ToArray();
}

/// <summary>A data file that is not what it should be; the message names the file, the record and what was expected.</summary>
public sealed class DataFormatException(string message) : IOException(message);
