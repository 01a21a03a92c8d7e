using System.Text.Json.Serialization;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;

namespace ByolIlgpu.Byol;

/// <summary>The sizes of a BYOL model: backbone base width and the heads' hidden and output sizes.</summary>
public sealed record ByolArchitecture(int Width = 64, int ProjectorHidden = 4096, int ProjectorOut = 256, int PredictorHidden = 4096)
{
    /// <summary>The backbone's stem: "cifar" (3×3 stride-1 conv, no max-pool) or "imagenet" (torchvision's 7×7 stride-2 conv and 3×3 stride-2 max-pool).</summary>
    public string Stem { get; init; } = ResNet18.CifarStem;

    [JsonIgnore] public int FeatureDim => 8 * Width;

    [JsonIgnore] public long BackboneParameters => ResNet18.ParameterCount(Width, Stem);
    [JsonIgnore] public long ProjectorParameters => MlpHead.ParameterCount(FeatureDim, ProjectorHidden, ProjectorOut);
    [JsonIgnore] public long PredictorParameters => MlpHead.ParameterCount(ProjectorOut, PredictorHidden, ProjectorOut);

    public void Validate()
    {
        foreach (var (name, value) in new[] { ("width", Width), ("proj-hidden", ProjectorHidden), ("proj-out", ProjectorOut), ("pred-hidden", PredictorHidden) })
            if (value < 1)
                throw new ArgumentException($"--{name} must be a positive integer, got {value}");
        if (!ResNet18.Stems.Contains(Stem))
            throw new ArgumentException($"--stem must be one of {string.Join(", ", ResNet18.Stems)}, got '{Stem}'");
    }
}

/// <summary>
/// BYOL's two networks. Student (online) = backbone + projector + predictor, trained by gradients;
/// teacher (target) = backbone + projector, a copy of the student's at the start, then an EMA of it.
/// The student's store lays its tensors out backbone, projector, predictor, so the teacher's layout
/// is the student's prefix and the EMA is one launch. Tensor names follow torchvision for the
/// backbone and nn.Sequential indices for the heads (projector.0.weight, projector.1.running_mean, …).
/// </summary>
public sealed class ByolModel : IDisposable
{
    public ByolModel(ComputeDevice device, ByolArchitecture architecture, int seed)
    {
        architecture.Validate();
        Device = device;
        Architecture = architecture;
        Student = new ParameterStore(device);
        StudentBackbone = new ResNet18(Student, architecture.Width, stem: architecture.Stem);
        StudentProjector = new MlpHead(Student, "projector", architecture.FeatureDim, architecture.ProjectorHidden, architecture.ProjectorOut);
        StudentPredictor = new MlpHead(Student, "predictor", architecture.ProjectorOut, architecture.PredictorHidden, architecture.ProjectorOut);
        Student.Build(seed);

        Teacher = new ParameterStore(device, withGradients: false);
        TeacherBackbone = new ResNet18(Teacher, architecture.Width, stem: architecture.Stem);
        TeacherProjector = new MlpHead(Teacher, "projector", architecture.FeatureDim, architecture.ProjectorHidden, architecture.ProjectorOut);
        Teacher.Build(seed);
        Ema.CopyStudentToTeacher(Teacher, Student);
    }

    public ComputeDevice Device { get; }
    public ByolArchitecture Architecture { get; }
    public ParameterStore Student { get; }
    public ResNet18 StudentBackbone { get; }
    public MlpHead StudentProjector { get; }
    public MlpHead StudentPredictor { get; }
    public ParameterStore Teacher { get; }
    public ResNet18 TeacherBackbone { get; }
    public MlpHead TeacherProjector { get; }

    /// <summary>Every BatchNorm of the student (for num_batches_tracked in checkpoints).</summary>
    public IEnumerable<BatchNorm> StudentBatchNorms =>
        StudentBackbone.BatchNorms.Append(StudentProjector.Norm).Append(StudentPredictor.Norm);

    public IEnumerable<BatchNorm> TeacherBatchNorms => TeacherBackbone.BatchNorms.Append(TeacherProjector.Norm);

    /// <summary>Student: images (B, 3, 32, 32) → prediction p (B, out), recorded on the tape.</summary>
    public Tensor StudentPrediction(Tape tape, Tensor images)
    {
        var features = StudentBackbone.Forward(tape, images, training: true);
        var projection = StudentProjector.Forward(tape, features, training: true);
        return StudentPredictor.Forward(tape, projection, training: true);
    }

    /// <summary>Teacher: images → projection z (B, out), in training mode (batch statistics, its own running statistics), not recorded.</summary>
    public Tensor TeacherProjection(Tape tape, Tensor images)
    {
        using var _ = tape.NoGrad();
        var features = TeacherBackbone.Forward(tape, images, training: true);
        return TeacherProjector.Forward(tape, features, training: true);
    }

    /// <summary>Student backbone features in evaluation mode (running statistics), for kNN and linear evaluation.</summary>
    public Tensor EvalFeatures(Tape tape, Tensor images)
    {
        using var _ = tape.NoGrad();
        return StudentBackbone.Forward(tape, images, training: false);
    }

    public void Dispose()
    {
        Student.Dispose();
        Teacher.Dispose();
    }
}
