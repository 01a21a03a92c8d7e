using System.Globalization;
using System.Text.Json;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// A training checkpoint: named arrays plus the training position, in one safetensors file that
/// PyTorch's <c>safetensors.torch.load_file</c> reads as a state dict.
/// <list type="bullet">
/// <item>Tensors (generic: whatever the trainer puts in <see cref="Tensors"/>). By convention the
///   student's backbone is named as torchvision's resnet18 (<c>conv1.weight</c>, <c>bn1.running_mean</c>,
///   <c>bn1.num_batches_tracked</c> as an I64 scalar, <c>layer2.0.downsample.0.weight</c>, ...), the heads
///   under <c>projector.</c> and <c>predictor.</c>, the teacher under <see cref="TeacherPrefix"/> and the
///   optimizer state under <see cref="OptimizerPrefix"/> (e.g. <c>optimizer.velocity</c>, flat F32).</item>
/// <item>Metadata (<c>__metadata__</c>, strings only): <c>byol.epoch</c>, <c>byol.step</c>, <c>byol.seed</c>,
///   JSON documents in <c>byol.config</c>, <c>byol.optimizer</c>, <c>byol.rng</c>, <c>byol.kernels</c>, and any other keys.</item>
/// </list>
/// <see cref="Save"/> is atomic (the previous file survives any failure); <see cref="Load"/>
/// validates the file and the metadata it relies on, naming the file and the field on error.
/// </summary>
public sealed class TrainingCheckpoint
{
    public const string TeacherPrefix = "teacher.";
    public const string OptimizerPrefix = "optimizer.";

    public const string FormatKey = "format";                 // "pt": what transformers and friends look for
    public const string VersionKey = "byol.checkpoint_version";
    public const string EpochKey = "byol.epoch";
    public const string StepKey = "byol.step";
    public const string SeedKey = "byol.seed";
    public const string ConfigKey = "byol.config";
    public const string OptimizerKey = "byol.optimizer";
    public const string RngKey = "byol.rng";
    public const string KernelsKey = "byol.kernels";

    /// <summary>The layout version this code writes and the newest it reads.</summary>
    public const int CurrentVersion = 1;

    static readonly string[] JsonKeys = [ConfigKey, OptimizerKey, RngKey, KernelsKey];
    static readonly string[] KnownOrder = [FormatKey, VersionKey, EpochKey, StepKey, SeedKey, ConfigKey, OptimizerKey, RngKey, KernelsKey];

    public TrainingCheckpoint() : this(new TensorMap(), new Dictionary<string, string>(StringComparer.Ordinal)) { }

    TrainingCheckpoint(TensorMap tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The named arrays, in the order they were added (or read).</summary>
    public TensorMap Tensors { get; }

    /// <summary>Every <c>__metadata__</c> entry, the <c>byol.*</c> keys below included.</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>The file this checkpoint was loaded from (or "(in memory)").</summary>
    public string Source => Tensors.Source;

    /// <summary>Epochs completed.</summary>
    public int Epoch
    {
        get => checked((int)GetInteger(EpochKey, "the number of completed epochs"));
        set => Metadata[EpochKey] = NonNegative(value, EpochKey).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Optimizer steps completed.</summary>
    public long Step
    {
        get => GetInteger(StepKey, "the number of completed optimizer steps");
        set => Metadata[StepKey] = NonNegative(value, StepKey).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The run's seed, or null when not recorded.</summary>
    public long? Seed
    {
        get => Metadata.ContainsKey(SeedKey) ? GetInteger(SeedKey, "an integer seed", allowNegative: true) : null;
        set => SetOrRemove(SeedKey, value?.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The training configuration as a JSON document, or null.</summary>
    public string? Config { get => Metadata.GetValueOrDefault(ConfigKey); set => SetJson(ConfigKey, value); }

    /// <summary>The optimizer's settings and scalar state (kind, step count, ...) as a JSON document, or null.</summary>
    public string? Optimizer { get => Metadata.GetValueOrDefault(OptimizerKey); set => SetJson(OptimizerKey, value); }

    /// <summary>Random-generator state (data order, augmentations) as a JSON document, or null.</summary>
    public string? Rng { get => Metadata.GetValueOrDefault(RngKey); set => SetJson(RngKey, value); }

    /// <summary>
    /// The precision and the kernel version of every site the run launched (<see cref="Engine.KernelRecord"/>)
    /// as a JSON document, or null in checkpoints written before it was recorded (they ran FP32).
    /// </summary>
    public string? Kernels { get => Metadata.GetValueOrDefault(KernelsKey); set => SetJson(KernelsKey, value); }

    /// <summary>Writes the checkpoint atomically. <see cref="Epoch"/> and <see cref="Step"/> must be set.</summary>
    public void Save(string path)
    {
        foreach (var key in new[] { EpochKey, StepKey })
            if (!Metadata.ContainsKey(key))
                throw new InvalidOperationException($"{path}: checkpoint without '{key}'; set {(key == EpochKey ? nameof(Epoch) : nameof(Step))} before saving");
        Metadata.TryAdd(FormatKey, "pt");
        Metadata[VersionKey] = CurrentVersion.ToString(CultureInfo.InvariantCulture);
        var ordered = KnownOrder.Where(Metadata.ContainsKey).Select(k => KeyValuePair.Create(k, Metadata[k]))
            .Concat(Metadata.Where(kv => !KnownOrder.Contains(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal));
        SafeTensors.Save(path, Tensors, ordered);
    }

    /// <summary>
    /// Reads and validates a checkpoint: the safetensors structure, then the metadata (version
    /// known, epoch and step present and integral, the JSON entries well-formed).
    /// </summary>
    public static TrainingCheckpoint Load(string path)
    {
        var file = SafeTensors.Load(path);
        var checkpoint = new TrainingCheckpoint(file.Tensors, new Dictionary<string, string>(file.Metadata, StringComparer.Ordinal));
        checkpoint.Validate();
        return checkpoint;
    }

    void Validate()
    {
        if (Metadata.TryGetValue(VersionKey, out var version)
            && !(int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 1 && v <= CurrentVersion))
            throw Bad(VersionKey, $"\"{version}\", expected an integer from 1 to {CurrentVersion} (a newer program wrote this file?)");
        _ = Epoch;
        _ = Step;
        _ = Seed;
        foreach (var key in JsonKeys)
            if (Metadata.TryGetValue(key, out var json) && !IsJson(json, out var error))
                throw Bad(key, $"not a valid JSON document ({error})");
    }

    long GetInteger(string key, string expected, bool allowNegative = false)
    {
        if (!Metadata.TryGetValue(key, out var text))
            throw Bad(key, $"missing, expected {expected}");
        var style = allowNegative ? NumberStyles.AllowLeadingSign : NumberStyles.None;
        if (!long.TryParse(text, style, CultureInfo.InvariantCulture, out long value) || (key == EpochKey && value > int.MaxValue))
            throw Bad(key, $"\"{text}\", expected {expected}");
        return value;
    }

    void SetJson(string key, string? json)
    {
        if (json is not null && !IsJson(json, out var error))
            throw new ArgumentException($"'{key}' must be a JSON document: {error}");
        SetOrRemove(key, json);
    }

    void SetOrRemove(string key, string? value)
    {
        if (value is null)
            Metadata.Remove(key);
        else
            Metadata[key] = value;
    }

    static bool IsJson(string text, out string error)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            error = "";
            return true;
        }
        catch (JsonException e)
        {
            error = e.Message;
            return false;
        }
    }

    static T NonNegative<T>(T value, string key) where T : System.Numerics.INumber<T> =>
        T.IsNegative(value) ? throw new ArgumentOutOfRangeException(key, value, $"'{key}' must be ≥ 0") : value;

    CheckpointFormatException Bad(string key, string problem) => new(Source, $"metadata '{key}'", problem);
}
