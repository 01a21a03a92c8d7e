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

    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ImageDataset test, int k)
    {
        using var trainPixels = device.Allocate(train.Pixels);
        using var testPixels = device.Allocate(test.Pixels);
        return Knn(device, model, train, trainPixels.View, test, testPixels.View, k);
    }

    /// <summary>
    /// Weighted kNN of the model's evaluation-mode features, the images already on the device:
    /// the training set (N, 3, 32, 32) is the bank, the test set the queries.
    /// </summary>
    public static KnnResult Knn(ComputeDevice device, ByolModel model, ImageDataset train, ArrayView<byte> trainPixels,
        ImageDataset test, ArrayView<byte> testPixels, int k, int batch = 256)
    {
        using var bank = FeatureExtractor.Extract(device, model, trainPixels, train.Count, batch);
        using var queries = FeatureExtractor.Extract(device, model, testPixels, test.Count, batch);
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
        LinearProbeConfig config, bool augment, ProgressReporter? progress = null)
    {
        int dim = model.Architecture.FeatureDim;
        using var trainPixels = device.Allocate(train.Pixels);
        using var testPixels = device.Allocate(test.Pixels);
        using var testFeatures = FeatureExtractor.Extract(device, model, testPixels.View, test.Count);
        using var cached = augment ? null : FeatureExtractor.Extract(device, model, trainPixels.View, train.Count);
        var tape = new Tape(device);
        Tensor Batch(int epoch, ArrayView<int> indices, int batch)
        {
            var features = Tensor.Temp(device, "features", batch, dim);
            if (cached is not null)
            {
                Ops.Elementwise.GatherRows(device, cached.View, indices, features.Data, dim);
                return features;
            }
            var images = Tensor.Temp(device, "images", batch, 3, 32, 32);
            Augmentation.Apply(device, trainPixels.View, indices, images, LinearAugmentation, (ulong)config.Seed, epoch, view: 1);
            return model.EvalFeatures(tape, images);
        }
        var (result, store) = LinearProbe.Train(device, train.Count, dim, train.LabelsAsInts(), Batch,
            Tensor.View(device, "test", testFeatures.View, test.Count, dim), test.LabelsAsInts(), train.ClassNames.Length, config, progress);
        store.Dispose();
        return result;
    }
}
