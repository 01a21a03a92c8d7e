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

    /// <param name="imageSize">The side of the network's input (the training run's); 0 takes the training set's resolution.</param>
    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ImageDataset test, int k, int imageSize = 0)
    {
        using var trainPixels = device.Allocate(train.Pixels);
        using var testPixels = device.Allocate(test.Pixels);
        return Knn(device, model, train, trainPixels.View, test, testPixels.View, k, imageSize: imageSize);
    }

    /// <summary>The side of the network's input: the run's image size, or (0) the training set's shorter side.</summary>
    public static int InputSize(int imageSize, ImageDataset train) => imageSize > 0 ? imageSize : Math.Min(train.Height, train.Width);

    /// <summary>
    /// Weighted kNN of the model's evaluation-mode features, the images already on the device:
    /// the training set (N, 3, H, W) is the bank, the test set the queries, both seen at <paramref name="imageSize"/> px.
    /// </summary>
    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ArrayView<byte> trainPixels,
        ImageDataset test, ArrayView<byte> testPixels, int k, int batch = 256, int imageSize = 0)
    {
        int size = InputSize(imageSize, train);
        using var bank = FeatureExtractor.Extract(device, model, trainPixels, train.Count, batch, train.Height, train.Width, size);
        using var queries = FeatureExtractor.Extract(device, model, testPixels, test.Count, batch, test.Height, test.Width, size);
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
        LinearProbeConfig config, bool augment, ProgressReporter? progress = null, int imageSize = 0)
    {
        int dim = model.Architecture.FeatureDim, size = InputSize(imageSize, train);
        using var trainPixels = device.Allocate(train.Pixels);
        using var testPixels = device.Allocate(test.Pixels);
        using var testFeatures = FeatureExtractor.Extract(device, model, testPixels.View, test.Count, height: test.Height, width: test.Width, size: size);
        using var cached = augment ? null : FeatureExtractor.Extract(device, model, trainPixels.View, train.Count, height: train.Height, width: train.Width, size: size);
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
            Augmentation.Apply(device, trainPixels.View, indices, images, LinearAugmentation, (ulong)config.Seed, epoch, view: 1, train.Height, train.Width);
            return model.EvalFeatures(tape, images);
        }
        var (result, store) = LinearProbe.Train(device, train.Count, dim, train.LabelsAsInts(), Batch,
            Tensor.View(device, "test", testFeatures.View, test.Count, dim), test.LabelsAsInts(), train.ClassNames.Length, config, progress);
        store.Dispose();
        return result;
    }
}
