using System.Globalization;
using System.Text.Json.Nodes;
using ByolIlgpu.Checkpoints.Onnx;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Training;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// One network's backbone taken out of a training checkpoint: its structure (a <see cref="ResNet18"/>
/// whose layers give each convolution's kernel, stride and padding and each BatchNorm's ε), its
/// tensors under torchvision's names in state-dict order (F32, <c>num_batches_tracked</c> I64 scalars)
/// and what a user needs to feed it (image size, channel normalisation), with its provenance.
/// </summary>
public sealed record ExportedBackbone(
    ResNet18 Structure, TensorMap Tensors, int ImageSize, ChannelNormalization Normalization,
    string Network, string SourceCheckpoint, string Precision, int Epoch, long Step)
{
    /// <summary>The string metadata both files carry (safetensors' <c>__metadata__</c>, ONNX's metadata_props).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata()
    {
        var n = Normalization;
        static string Floats(params float[] values) => string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        return
        [
            new("format", "pt"),
            new("architecture", "resnet18"),
            new("stem", Structure.Stem),
            new("width", Structure.Width.ToString(CultureInfo.InvariantCulture)),
            new("feature_dim", Structure.FeatureDim.ToString(CultureInfo.InvariantCulture)),
            new("image_size", ImageSize.ToString(CultureInfo.InvariantCulture)),
            new("input", "(N, 3, H, W) float32 RGB, pixels/255 normalised per channel: (x - mean) / std"),
            new("normalization_mean", Floats(n.MeanR, n.MeanG, n.MeanB)),
            new("normalization_std", Floats(n.StdR, n.StdG, n.StdB)),
            new("network", Network),
            new("source_checkpoint", SourceCheckpoint),
            new("epoch", Epoch.ToString(CultureInfo.InvariantCulture)),
            new("step", Step.ToString(CultureInfo.InvariantCulture)),
            new("precision", Precision),
        ];
    }
}

/// <summary>
/// <c>byol export</c>: a checkpoint's student (or teacher) backbone alone, as a safetensors state dict
/// that torchvision's resnet18 loads with <c>strict=True</c> (after the stem's adaptation for the
/// CIFAR variant, and with <c>fc</c> replaced by Identity), or as an ONNX inference graph
/// (<see cref="OnnxBackbone"/>).
/// </summary>
public static class BackboneExport
{
    public const string Student = "student", Teacher = "teacher";

    /// <summary>The image size a configuration trained at: its <c>image-size</c> when it has one, else CIFAR-10's 32.</summary>
    public static int ImageSizeOf(string? configJson)
    {
        if (configJson is not null && JsonNode.Parse(configJson) is JsonObject config
            && config["image-size"] is JsonValue value && value.TryGetValue(out int size) && size > 0)
            return size;
        return 32;
    }

    /// <summary>
    /// Reads the checkpoint and its configuration and takes the network's backbone out through the
    /// engine's own import (every tensor checked by name, dtype and shape, the file named on error).
    /// <paramref name="device"/> only holds the store during the copy (the CPU accelerator will do).
    /// </summary>
    public static ExportedBackbone Load(ComputeDevice device, string checkpointPath, bool teacher)
    {
        if (!File.Exists(checkpointPath))
            throw new FileNotFoundException($"{checkpointPath}: no such checkpoint file", checkpointPath);
        var checkpoint = TrainingCheckpoint.Load(checkpointPath);
        var config = TrainingConfig.FromCheckpoint(checkpoint, checkpointPath);
        var architecture = config.Architecture;
        architecture.Validate();
        string prefix = teacher ? TrainingCheckpoint.TeacherPrefix : "";

        using var store = new ParameterStore(device, withGradients: false);
        var structure = new ResNet18(store, architecture.Width, stem: architecture.Stem);
        store.Build(seed: 0);   // overwritten by the import below
        var tracked = ParameterStoreCheckpoint.Import(store, prefix, checkpoint.Tensors);
        var tensors = new TensorMap(ParameterStoreCheckpoint.Export(store, "", tracked), checkpointPath);

        return new ExportedBackbone(structure, tensors, ImageSizeOf(checkpoint.Config), ChannelNormalization.Cifar10,
            teacher ? Teacher : Student, Path.GetFileName(checkpointPath), KernelRecord.FromCheckpoint(checkpoint).Precision.Name(),
            checkpoint.Epoch, checkpoint.Step);
    }

    /// <summary>Writes the state dict with the metadata as a safetensors file (atomically).</summary>
    public static void SaveSafeTensors(ExportedBackbone backbone, string path) =>
        SafeTensors.Save(path, backbone.Tensors, backbone.Metadata());

    /// <summary>Writes the ONNX inference graph (atomically); returns the model written.</summary>
    public static ModelProto SaveOnnx(ExportedBackbone backbone, string path)
    {
        var model = OnnxBackbone.Build(backbone);
        AtomicFile.Write(path, stream => Google.Protobuf.MessageExtensions.WriteTo(model, stream));
        return model;
    }
}
