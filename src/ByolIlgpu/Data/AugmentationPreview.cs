using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;
using SkiaSharp;

namespace ByolIlgpu.Data;

/// <summary>
/// `byol augment`: a PNG grid of what the model sees — a row of original images, then BYOL's view 1
/// and view 2 of each, made by the same device kernels as training and un-normalised for display.
/// </summary>
public static class AugmentationPreview
{
    /// <param name="size">The views' side in px (0: the data set's shorter side); the originals go through the evaluation transform at it.</param>
    /// <param name="scale">Screen pixels per image pixel (0: about 128 px per cell).</param>
    public static void Save(ComputeDevice device, ImageDataset images, int count, int seed, int epoch, string path, bool blur = false, int scale = 0,
        int size = 0)
    {
        if (size <= 0)
            size = Math.Min(images.Height, images.Width);
        if (scale <= 0)
            scale = Math.Max(1, 128 / size);
        int plane = size * size;
        count = Math.Min(count, images.Count);
        if (count < 1)
            throw new ArgumentException("byol augment needs at least one image");
        using var pixels = device.Allocate(images.Pixels[..(count * images.ImageBytes)]);
        using var indices = device.Allocate(Enumerable.Range(0, count).ToArray());
        device.Pool.ReleaseAll();
        var rows = new List<float[]>();
        var plain = Tensor.Temp(device, "original", count, 3, size, size);
        Augmentation.EvalTransform(device, pixels.View, indices.View, plain, images.Height, images.Width, ChannelNormalization.Identity);
        rows.Add(plain.ToHost());
        foreach (int view in new[] { 1, 2 })
        {
            var t = Tensor.Temp(device, $"view{view}", count, 3, size, size);
            var config = AugmentationConfig.ByolCifar(view, blur, size) with { Normalization = ChannelNormalization.Identity };
            Augmentation.Apply(device, pixels.View, indices.View, t, config, (ulong)seed, epoch, view, images.Height, images.Width);
            rows.Add(t.ToHost());
        }

        const int gap = 4;
        int cell = size * scale;
        using var bitmap = new SKBitmap(count * (cell + gap) + gap, rows.Count * (cell + gap) + gap);
        bitmap.Erase(SKColors.White);
        for (int r = 0; r < rows.Count; r++)
            for (int n = 0; n < count; n++)
                for (int y = 0; y < cell; y++)
                    for (int x = 0; x < cell; x++)
                    {
                        int o = n * 3 * plane + (y / scale) * size + x / scale;
                        byte Channel(int c) => (byte)Math.Clamp((int)Math.Round(rows[r][o + c * plane] * 255), 0, 255);
                        bitmap.SetPixel(gap + n * (cell + gap) + x, gap + r * (cell + gap) + y, new SKColor(Channel(0), Channel(1), Channel(2)));
                    }
        var temp = path + ".tmp";
        using (var data = bitmap.Encode(SKEncodedImageFormat.Png, 100))
        using (var file = File.Create(temp))
            data.SaveTo(file);
        File.Move(temp, path, overwrite: true);
    }
}
