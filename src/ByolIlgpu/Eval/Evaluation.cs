using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Training;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Eval;

/// <summary>
/// `byol eval knn|linear`: a checkpoint's student backbone, frozen and in evaluation mode, measured
/// by weighted kNN or by the linear probe (cached features by default, or the backbone on freshly
/// augmented images each epoch with --augment).
/// </summary>
public static class Evaluation
{
    /// <summary>The student of a checkpoint, with the configuration it was trained with.</summary>
    public static (ByolModel Model, TrainingConfig Config) LoadStudent(ComputeDevice device, string checkpointFileOrFolder)
    {
        var path = CheckpointFolder.ResolveResume(checkpointFileOrFolder);
        var checkpoint = TrainingCheckpoint.Load(path);
        var config = TrainingConfig.FromCheckpoint(checkpoint, path);
        var model = new ByolModel(device, config.Architecture, config.Seed);
        try
        {
            ParameterStoreCheckpoint.Import(model.Student, "", checkpoint.Tensors);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, config);
    }

    /// <summary>
    /// Where evaluation keeps the images: on the device when both sets, their features and a margin fit the
    /// budget (<see cref="DataPlacements.Choose"/>), else streamed from host memory a batch at a time.
    /// </summary>
    public static PlacementDecision Placement(ComputeDevice device, ByolModel model, ImageDataset train, ImageDataset test, DataPlacement requested = DataPlacement.Auto)
    {
        long dataBytes = (long)train.Count * train.ImageBytes + (long)test.Count * test.ImageBytes;
        long featureBytes = 4L * (train.Count + test.Count) * model.Architecture.FeatureDim;
        return DataPlacements.Choose(requested, dataBytes, featureBytes, device.Pool.CapacityBytes, device.Pool.LimitBytes is not null);
    }

    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ImageDataset test, int k, int imageSize = 0, DataPlacement placement = DataPlacement.Auto)
    {
        if (Placement(device, model, train, test, placement).Streamed)
            return Knn(device, model, train, null, test, null, k, imageSize: imageSize);
        using var trainPixels = new ResidentBatchSource(device, train.PixelSource);
        using var testPixels = new ResidentBatchSource(device, test.PixelSource);
        return Knn(device, model, train, trainPixels.Pixels, test, testPixels.Pixels, k, imageSize: imageSize);
    }

    /// <summary>The side of the network's input: the run's image size, or (0) the training set's shorter side.</summary>
    public static int InputSize(int imageSize, ImageDataset train) => imageSize > 0 ? imageSize : Math.Min(train.Height, train.Width);

    /// <summary>
    /// Weighted kNN of the model's evaluation-mode features: the training set (N, 3, H, W) is the bank, the
    /// test set the queries, both seen at <paramref name="imageSize"/> px; each set from its device pixels where given, else streamed from host memory.
    /// </summary>
    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ArrayView<byte>? trainPixels,
        ImageDataset test, ArrayView<byte>? testPixels, int k, int batch = 256, int imageSize = 0)
    {
        int size = InputSize(imageSize, train);
        using var bank = FeatureExtractor.Extract(device, model, train, trainPixels, batch, size);
        using var queries = FeatureExtractor.Extract(device, model, test, testPixels, batch, size);
        int dim = model.Architecture.FeatureDim;
        return Eval.Knn.Evaluate(device, Tensor.View(device, "bank", bank.View, train.Count, dim), train.LabelsAsInts(),
            Tensor.View(device, "queries", queries.View, test.Count, dim), test.LabelsAsInts(), train.ClassNames.Length, k);
    }

    /// <summary>Random resized crop and horizontal flip only: the augmented linear evaluation of solo-learn and lightly.</summary>
    public static AugmentationConfig LinearAugmentation { get; } = AugmentationConfig.None with
    {
        ScaleMin = 0.08f, ScaleMax = 1f, RatioMin = 3f / 4, RatioMax = 4f / 3, FlipProbability = 0.5f,
    };

    public static LinearProbeResult Linear(ComputeDevice device, ByolModel model, ImageDataset train, ImageDataset test,
        LinearProbeConfig config, bool augment, ProgressReporter? progress = null, int imageSize = 0, DataPlacement placement = DataPlacement.Auto)
    {
        int dim = model.Architecture.FeatureDim, size = InputSize(imageSize, train);
        bool streamed = Placement(device, model, train, test, placement).Streamed;
        using var trainPixels = streamed ? null : new ResidentBatchSource(device, train.PixelSource);
        using var testPixels = streamed ? null : new ResidentBatchSource(device, test.PixelSource);
        using var testFeatures = FeatureExtractor.Extract(device, model, test, testPixels?.Pixels, size: size);
        using var cached = augment ? null : FeatureExtractor.Extract(device, model, train, trainPixels?.Pixels, size: size);
        int probeBatch = Math.Min(config.BatchSize, train.Count);
        // Augmented and streamed: the probe's own epoch order (LinearProbe.EpochRows), gathered a batch per step.
        using var stream = augment && streamed ? new StreamedBatchSource(device, train.PixelSource, probeBatch) : null;
        int streamEpoch = -1, streamStep = 0;
        var tape = new Tape(device);
        Tensor Batch(int epoch, ArrayView<int> indices, int batch)
        {
            var features = Tensor.Temp(device, "features", batch, dim);
            if (cached is not null)
            {
                Ops.Elementwise.GatherRows(device, cached.View, indices, features.Data, dim);
                return features;
            }
            var images = Tensor.Temp(device, "images", batch, 3, size, size);
            DeviceBatch pixels;
            if (stream is not null)
            {
                if (epoch != streamEpoch)
                {
                    stream.Begin(LinearProbe.EpochRows(train.Count, batch, config.Seed, epoch), batch);
                    (streamEpoch, streamStep) = (epoch, 0);
                }
                pixels = stream.Batch(streamStep++, indices);
            }
            else
                pixels = new DeviceBatch(trainPixels!.Pixels, indices);
            var prm = Augmentation.DrawParameters(device, indices, LinearAugmentation, (ulong)config.Seed, epoch, view: 1, train.Count, train.Height, train.Width);
            Augmentation.ApplyParameters(device, pixels.Pixels, pixels.Rows, prm, images, LinearAugmentation, train.Height, train.Width);
            return model.EvalFeatures(tape, images);
        }
        var (result, store) = LinearProbe.Train(device, train.Count, dim, train.LabelsAsInts(), Batch,
            Tensor.View(device, "test", testFeatures.View, test.Count, dim), test.LabelsAsInts(), train.ClassNames.Length, config, progress);
        store.Dispose();
        return result;
    }
}
