using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;
using ByolIlgpu.Training;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Eval;

/// <summary>
/// The standard linear evaluation: a D → classes linear classifier on frozen features, SGD with
/// momentum 0.9, lr 0.1 per 256 images (scaled linearly), cosine to 0 over the epochs (per step),
/// no weight decay, softmax cross-entropy; top-1 and top-5 on the test features.
/// </summary>
public sealed record LinearProbeConfig(int Epochs = 100, int BatchSize = 256, double BaseLr = 0.1, double Momentum = 0.9, int Seed = 0);

public sealed record LinearProbeResult(double Top1, double Top5, double FinalTrainLoss, int Epochs);

public static class LinearProbe
{
    /// <summary>
    /// Trains the classifier. <paramref name="trainBatch"/> fills a (B, D) tensor with the features of
    /// the given training images in the given epoch: cached features (gathered), or the frozen backbone
    /// on freshly augmented images. The returned store holds classifier.weight and classifier.bias.
    /// </summary>
    public static (LinearProbeResult Result, ParameterStore Classifier) Train(ComputeDevice dev, int trainCount, int dim, int[] trainLabels,
        Func<int, ArrayView<int>, int, Tensor> trainBatch, Tensor testFeatures, int[] testLabels, int classes, LinearProbeConfig config,
        ProgressReporter? progress = null)
    {
        if (trainLabels.Length != trainCount)
            throw new ArgumentException($"linear probe: {trainLabels.Length} labels for {trainCount} training images");
        if (trainLabels.Concat(testLabels).Any(l => l < 0 || l >= classes))
            throw new ArgumentException($"linear probe: labels must lie in [0, {classes})");
        int batch = Math.Min(config.BatchSize, trainCount);
        int stepsPerEpoch = trainCount / batch;
        long totalSteps = (long)stepsPerEpoch * config.Epochs;
        double peakLr = config.BaseLr * batch / 256.0;

        var store = new ParameterStore(dev);
        var classifier = new Linear(store, "classifier", dim, classes);
        store.Build(config.Seed);
        using var sgd = new Sgd(store, (float)config.Momentum, weightDecay: 0f);
        var tape = new Tape(dev);
        // Each epoch's order and its labels go to the device once; a step reads its slice (no copy per step).
        using var orderBuffer = dev.Allocate<int>(stepsPerEpoch * batch);   // (steps·B)
        using var labelBuffer = dev.Allocate<int>(stepsPerEpoch * batch);   // (steps·B)
        var orderedLabels = new int[stepsPerEpoch * batch];
        long step = 0;
        double lastLoss = double.NaN;
        for (int epoch = 0; epoch < config.Epochs; epoch++)
        {
            var order = EpochRows(trainCount, batch, config.Seed, epoch);
            double lossSum = 0;
            for (int i = 0; i < orderedLabels.Length; i++)
                orderedLabels[i] = trainLabels[order[i]];
            dev.CopyFromHost(orderBuffer.View, order);
            dev.CopyFromHost(labelBuffer.View, orderedLabels);
            for (int s = 0; s < stepsPerEpoch; s++, step++)
            {
                dev.Pool.ReleaseAll();
                var indices = orderBuffer.View.SubView((long)s * batch, batch);
                var features = trainBatch(epoch, indices, batch);
                store.ZeroGrad();
                var loss = Ops.Reduce.Mean(tape, Ops.CrossEntropy.Forward(tape, classifier.Forward(tape, features), labelBuffer.View.SubView((long)s * batch, batch)));
                tape.Backward(loss);
                double lr = peakLr * (1 + Math.Cos(Math.PI * step / totalSteps)) / 2;
                sgd.Step((float)lr);
                if (s == stepsPerEpoch - 1 || s % 50 == 0)
                    lossSum = loss.ToHost()[0];
            }
            lastLoss = lossSum;
            progress?.Update("linear probe", epoch + 1, config.Epochs, $"loss {lastLoss:F4}", TimeSpan.Zero);
        }
        var (top1, top5) = Accuracy(dev, classifier, testFeatures, testLabels, classes);
        return (new LinearProbeResult(top1, top5, lastLoss, config.Epochs), store);
    }

    /// <summary>The training rows of an epoch, in the order its steps take them (whole batches: the last partial one is dropped).</summary>
    public static int[] EpochRows(int trainCount, int batch, int seed, int epoch) =>
        EpochOrder.Permutation(trainCount, seed, epoch)[..(trainCount / batch * batch)];

    /// <summary>Top-1 and top-5 accuracy of the classifier on features (N, D).</summary>
    public static (double Top1, double Top5) Accuracy(ComputeDevice dev, Linear classifier, Tensor features, int[] labels, int classes)
    {
        var tape = new Tape(dev);
        float[] logits;
        using (tape.NoGrad())
            logits = classifier.Forward(tape, features).ToHost();
        int top1 = 0, top5 = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            var row = new ArraySegment<float>(logits, r * classes, classes);
            float own = row[labels[r]];
            // Rank of the true class: how many classes score higher (ties count for the true class).
            int higher = row.Count(v => v > own);
            if (higher == 0) top1++;
            if (higher < 5) top5++;
        }
        return ((double)top1 / labels.Length, (double)top5 / labels.Length);
    }
}
