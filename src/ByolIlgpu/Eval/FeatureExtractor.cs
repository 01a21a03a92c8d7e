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
/// S×S (<see cref="Augmentation.EvalTransform"/>: resize by the shorter side and centre-crop when sizes differ).
/// </summary>
public static class FeatureExtractor
{
    /// <param name="size">S, the side of the network's input; 0 takes min(H, W).</param>
    public static MemoryBuffer1D<float, Stride1D.Dense> Extract(ComputeDevice device, ByolModel model, ArrayView<byte> pixels, int count, int batch = 256,
        int height = 32, int width = 32, int size = 0)
    {
        if (size <= 0)
            size = Math.Min(height, width);
        int dim = model.Architecture.FeatureDim;
        var features = device.Allocate<float>((long)count * dim);   // (N, D)
        using var allIndices = device.Allocate(Enumerable.Range(0, count).ToArray());   // (N): uploaded once, no copy per batch
        var tape = new Tape(device);
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            device.Pool.ReleaseAll();
            var images = Tensor.Temp(device, "images", n, 3, size, size);
            Augmentation.EvalTransform(device, pixels, allIndices.View.SubView(start, n), images, height, width);
            var f = model.EvalFeatures(tape, images);
            Ops.Elementwise.Axpby(device, f.Data, features.View.SubView((long)start * dim, (long)n * dim), 1f, 0f);
        }
        device.Synchronize();
        return features;
    }
}
