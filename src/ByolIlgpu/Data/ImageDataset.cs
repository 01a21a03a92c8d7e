namespace ByolIlgpu.Data;

/// <summary>
/// Images as the device receives them: uint8 pixels (N, 3, H, W), planar RGB (CIFAR-10's own record
/// layout), labels (N) in [0, classes), and the class names.
/// </summary>
public sealed class ImageDataset
{
    public ImageDataset(byte[] pixels, byte[] labels, string[] classNames, int height = 32, int width = 32, string source = "")
    {
        if (pixels.Length != labels.Length * 3 * height * width)
            throw new ArgumentException($"{source}: {pixels.Length} pixel bytes for {labels.Length} images of 3×{height}×{width}");
        Pixels = pixels;
        Labels = labels;
        ClassNames = classNames;
        Height = height;
        Width = width;
        Source = source;
    }

    public byte[] Pixels { get; }      // (N, 3, H, W)
    public byte[] Labels { get; }      // (N)
    public string[] ClassNames { get; }
    public int Height { get; }
    public int Width { get; }
    public string Source { get; }
    public int Count => Labels.Length;
    public int ImageBytes => 3 * Height * Width;

    /// <summary>The first <paramref name="count"/> images (all when count is 0 or larger than the set).</summary>
    public ImageDataset Take(int count)
    {
        if (count <= 0 || count >= Count)
            return this;
        return new ImageDataset(Pixels[..(count * ImageBytes)], Labels[..count], ClassNames, Height, Width, Source);
    }

    public int[] LabelsAsInts() => Labels.Select(l => (int)l).ToArray();
}

/// <summary>A data file that is not what it should be; the message names the file, the record and what was expected.</summary>
public sealed class DataFormatException(string message) : IOException(message);
