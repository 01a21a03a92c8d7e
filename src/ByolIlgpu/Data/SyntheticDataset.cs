namespace ByolIlgpu.Data;

/// <summary>
/// A data set generated in code, so the program runs anywhere: class k is a shape (disc, square,
/// triangle, cross, ring, bars, …) in a class hue on a noisy background of a random darker hue, at a
/// random position and size — classes differ in shape and colour, and the augmentations must be
/// undone to tell them apart. Deterministic from the seed; labels cycle through the classes.
/// </summary>
public static class SyntheticDataset
{
    public static readonly string[] ClassNames =
        ["disc", "square", "triangle", "cross", "ring", "h-bars", "v-bars", "diamond", "two-dots", "checker"];

    /// <summary>The side of generated images when none is asked.</summary>
    public const int DefaultSize = 32;

    /// <summary><paramref name="count"/> images of <paramref name="size"/>×<paramref name="size"/> (the shapes scale with the side).</summary>
    public static ImageDataset Generate(int count, int seed, int classes = 10, int size = DefaultSize)
    {
        if (count < 1)
            throw new ArgumentException($"--synthetic needs at least 1 image, got {count}");
        if (classes < 1 || classes > ClassNames.Length)
            throw new ArgumentException($"synthetic data has 1 to {ClassNames.Length} classes, got {classes}");
        if (size < 1)
            throw new ArgumentException($"synthetic images need a side of at least 1 px, got {size}");
        double unit = size / 32.0;   // the 32-px layout, scaled
        var rng = new Random(seed);
        var pixels = new byte[count * 3 * size * size];
        var labels = new byte[count];
        for (int n = 0; n < count; n++)
        {
            int k = n % classes;
            labels[n] = (byte)k;
            var (fr, fg, fb) = Hue(k / (double)classes, 0.9);
            var (br, bg, bb) = Hue(rng.NextDouble(), 0.35);
            double cx = (10 + rng.NextDouble() * 12) * unit, cy = (10 + rng.NextDouble() * 12) * unit, radius = (6 + rng.NextDouble() * 5) * unit;
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    bool inside = Inside(k, (x - cx) / radius, (y - cy) / radius);
                    double noise = (rng.NextDouble() - 0.5) * 0.15;
                    int o = n * 3 * size * size + y * size + x;
                    pixels[o] = Byte((inside ? fr : br) + noise);
                    pixels[o + size * size] = Byte((inside ? fg : bg) + noise);
                    pixels[o + 2 * size * size] = Byte((inside ? fb : bb) + noise);
                }
        }
        return new ImageDataset(pixels, labels, ClassNames[..classes], size, size, source: $"synthetic({count}, seed {seed})");
    }

    /// <summary>Whether the point (u, v), in units of the shape's radius around its centre, lies in shape k.</summary>
    static bool Inside(int k, double u, double v)
    {
        double r = Math.Sqrt(u * u + v * v);
        return k switch
        {
            0 => r <= 1,
            1 => Math.Abs(u) <= 0.8 && Math.Abs(v) <= 0.8,
            2 => v <= 0.8 && v >= -0.9 && Math.Abs(u) <= (v + 0.9) * 0.6,
            3 => (Math.Abs(u) <= 0.25 && Math.Abs(v) <= 1) || (Math.Abs(v) <= 0.25 && Math.Abs(u) <= 1),
            4 => r <= 1 && r >= 0.6,
            5 => Math.Abs(u) <= 1 && Math.Abs(v) <= 1 && ((int)Math.Floor((v + 1) * 2.5) % 2 == 0),
            6 => Math.Abs(u) <= 1 && Math.Abs(v) <= 1 && ((int)Math.Floor((u + 1) * 2.5) % 2 == 0),
            7 => Math.Abs(u) + Math.Abs(v) <= 1,
            8 => Math.Sqrt((u - 0.5) * (u - 0.5) + v * v) <= 0.4 || Math.Sqrt((u + 0.5) * (u + 0.5) + v * v) <= 0.4,
            _ => Math.Abs(u) <= 1 && Math.Abs(v) <= 1 && (((int)Math.Floor((u + 1) * 2) + (int)Math.Floor((v + 1) * 2)) % 2 == 0),
        };
    }

    /// <summary>An RGB colour of hue h ∈ [0, 1) at full saturation and the given value.</summary>
    static (double, double, double) Hue(double h, double value)
    {
        double x = h * 6;
        int i = (int)Math.Floor(x) % 6;
        double f = x - Math.Floor(x);
        return i switch
        {
            0 => (value, value * f, 0),
            1 => (value * (1 - f), value, 0),
            2 => (0, value, value * f),
            3 => (0, value * (1 - f), value),
            4 => (value * f, 0, value),
            _ => (value, 0, value * (1 - f)),
        };
    }

    static byte Byte(double v) => (byte)Math.Clamp((int)Math.Round(v * 255), 0, 255);
}
