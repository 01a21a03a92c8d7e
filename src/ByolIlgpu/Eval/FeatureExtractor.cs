using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Eval;

/// <summary>
/// Features of the student backbone in evaluation mode (running statistics) for a whole data set:
/// un-augmented images, normalised with CIFAR-10's mean and std, in batches; the result is one
/// (N, D) device buffer that the caller owns. Images of H×W go through the evaluation transform at
/// S×S (<see cref="Augmentation.EvalTransform"/>: resize by the shorter side and centre-crop when sizes differ). The images are either on the device already, or stream
/// from host memory a batch at a time (<see cref="StreamedBatchSource"/>: page-locked staging, one
/// asynchronous copy per batch, the next batch gathered while the device runs this one), so a set larger
/// than the device's budget can be evaluated.
/// </summary>
public static class FeatureExtractor
{
    /// <param name="size">S, the side of the network's input; 0 takes min(H, W).</param>
    public static MemoryBuffer1D<float, Stride1D.Dense> Extract(ComputeDevice device, ByolModel model, ArrayView<byte> pixels, int count, int batch = 256,
        int height = 32, int width = 32, int size = 0)
    {
        using var source = new ResidentBatchSource(pixels, count);
        return Extract(device, model, source, count, batch, height, width, size);
    }

    /// <summary>The features of <paramref name="set"/> at S = <paramref name="size"/> (0: min(H, W)): from <paramref name="resident"/> where it is on the device, else streamed from its pixel source.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Extract(ComputeDevice device, ByolModel model, ImageDataset set, ArrayView<byte>? resident, int batch = 256, int size = 0)
    {
        batch = Math.Clamp(batch, 1, Math.Max(1, set.Count));
        using IBatchSource source = resident is { } view
            ? new ResidentBatchSource(view, set.Count)
            : new StreamedBatchSource(device, set.PixelSource, batch);
        return Extract(device, model, source, set.Count, batch, set.Height, set.Width, size);
    }

    /// <summary>The features of images 0..count−1 of <paramref name="source"/> (N, 3, H, W), seen at S×S, in batches of <paramref name="batch"/>.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Extract(ComputeDevice device, ByolModel model, IBatchSource source, int count, int batch,
        int height = 32, int width = 32, int size = 0)
    {
        if (size <= 0)
            size = Math.Min(height, width);
        int dim = model.Architecture.FeatureDim;
        var features = device.Allocate<float>((long)count * dim);   // (N, D)
        var rows = Enumerable.Range(0, count).ToArray();
        using var allIndices = device.Allocate(rows);   // (N): uploaded once, no copy per batch
        source.Begin(rows, batch);
        var tape = new Tape(device);
        for (int start = 0, k = 0; start < count; start += batch, k++)
        {
            int n = Math.Min(batch, count - start);
            device.Pool.ReleaseAll();
            var indices = allIndices.View.SubView(start, n);
            var images = Tensor.Temp(device, "images", n, 3, size, size);
            var b = source.Batch(k, indices);
            Augmentation.EvalTransform(device, b.Pixels, b.Rows, images, height, width);
            var f = model.EvalFeatures(tape, images);
            Ops.Elementwise.Axpby(device, f.Data, features.View.SubView((long)start * dim, (long)n * dim), 1f, 0f);
        }
        device.Synchronize();
        return features;
    }
}
