using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ByolIlgpu.Bench.Torch;

/// <summary>Which update <see cref="TorchByol"/> applies to the student.</summary>
public enum TorchByolOptimizer { Lars, Sgd }

/// <summary>
/// The whole BYOL training step in libtorch, the peer of ByolIlgpu's ByolLearner.Step and StepBenchmark:
/// 1. student predictions p₁, p₂ (each view its own forward pass: BatchNorm statistics per view);
/// 2. teacher projections z₁, z₂ in training mode under no_grad;
/// 3. loss = mean_b[ℓ(p₁, z₂) + ℓ(p₂, z₁)], ℓ(p, z) = 2 − 2⟨p/‖p‖, z/‖z‖⟩, backward through the student;
/// 4. LARS (default) or SGD-momentum step (see <see cref="TorchOptim"/>), weights decayed and adapted,
///    biases and BatchNorm γ, β not; 5. teacher ← τ·teacher + (1 − τ)·student over backbone + projector
///    parameters (not the BatchNorm running statistics), under no_grad.
/// The two views are fixed random images (uniform in [−1, 1], seeded) made once, as StepBenchmark's are;
/// the teacher starts as a copy of the student's backbone and projector (parameters and running statistics).
/// </summary>
public sealed class TorchByol : IDisposable
{
    readonly TorchResNet18 backbone, teacherBackbone;
    readonly Sequential projector, predictor, teacherProjector;
    readonly Tensor view1, view2;                // (B, 3, 32, 32)
    readonly Tensor one;                         // 0-d, LARS's scale where a norm is zero
    readonly List<(Parameter W, Tensor V, bool Adapt)> student = [];
    readonly List<(Parameter Teacher, Parameter Student)> emaPairs = [];
    bool disposed;

    public TorchByol(int width = 64, int projHidden = 4096, int projOut = 256, int predHidden = 4096, int batch = 256, int seed = 0,
        TorchByolOptimizer optimizer = TorchByolOptimizer.Lars, double lr = 0.1, double tau = 0.99,
        double momentum = 0.9, double weightDecay = 1e-5, double trustCoefficient = 0.02)
    {
        if (batch < 2)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "BYOL needs a batch of at least 2 (BatchNorm1d in the heads)");
        if (!(lr > 0))
            throw new ArgumentOutOfRangeException(nameof(lr), lr, "the learning rate must be positive");
        if (!(tau >= 0 && tau <= 1))
            throw new ArgumentOutOfRangeException(nameof(tau), tau, "τ must lie in [0, 1]");
        Threads = TorchPeer.EnsureInitialized();
        Width = width;
        ProjectorHidden = projHidden;
        ProjectorOut = projOut;
        PredictorHidden = predHidden;
        Batch = batch;
        Optimizer = optimizer;
        LearningRate = lr;
        Tau = tau;
        Momentum = momentum;
        WeightDecay = weightDecay;
        TrustCoefficient = trustCoefficient;

        torch.manual_seed(seed);
        backbone = new TorchResNet18(width);
        projector = TorchMlpHead.Create(backbone.FeatureDim, projHidden, projOut);
        predictor = TorchMlpHead.Create(projOut, predHidden, projOut);
        teacherBackbone = new TorchResNet18(width);
        teacherProjector = TorchMlpHead.Create(backbone.FeatureDim, projHidden, projOut);

        using (torch.no_grad())
        {
            CopyInto(teacherBackbone, backbone);
            CopyInto(teacherProjector, projector);
        }
        foreach (var p in teacherBackbone.parameters().Concat(teacherProjector.parameters()))
            p.requires_grad_(false);
        foreach (var p in StudentParameters())
            student.Add((p, zeros_like(p), p.dim() > 1));
        emaPairs.AddRange(teacherBackbone.parameters().Concat(teacherProjector.parameters())
            .Zip(backbone.parameters().Concat(projector.parameters())));

        var g = new Generator((ulong)seed + 1, CPU);
        view1 = rand([batch, 3, 32, 32], ScalarType.Float32, CPU, generator: g).mul_(2.0).sub_(1.0);
        view2 = rand([batch, 3, 32, 32], ScalarType.Float32, CPU, generator: g).mul_(2.0).sub_(1.0);
        g.Dispose();
        one = tensor(1f);
    }

    public int Width { get; }
    public int ProjectorHidden { get; }
    public int ProjectorOut { get; }
    public int PredictorHidden { get; }
    public int Batch { get; }
    public TorchByolOptimizer Optimizer { get; }
    public double LearningRate { get; }
    public double Tau { get; }
    public double Momentum { get; }
    public double WeightDecay { get; }
    public double TrustCoefficient { get; }

    /// <summary>libtorch's intra-op thread count in effect (Environment.ProcessorCount unless <see cref="TorchPeer.Initialize"/> said otherwise).</summary>
    public int Threads { get; }

    /// <summary>The loss of the last <see cref="Step"/>; NaN before the first.</summary>
    public float LastLoss { get; private set; } = float.NaN;

    /// <summary>Steps taken.</summary>
    public long Steps { get; private set; }

    IEnumerable<Parameter> StudentParameters() =>
        backbone.parameters().Concat(projector.parameters()).Concat(predictor.parameters());

    static void CopyInto(nn.Module target, nn.Module source)
    {
        foreach (var (t, s) in target.parameters().Zip(source.parameters()))
            t.copy_(s);
        foreach (var (t, s) in target.buffers().Zip(source.buffers()))
            t.copy_(s);
    }

    /// <summary>One BYOL training step; returns its loss (which reads the 0-d loss back: libtorch's CPU work is done by then).</summary>
    public float Step()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var scope = torch.NewDisposeScope();
        foreach (var (w, _, _) in student)
            w.grad = null;

        var p1 = predictor.forward(projector.forward(backbone.forward(view1)));   // (B, projOut)
        var p2 = predictor.forward(projector.forward(backbone.forward(view2)));   // (B, projOut)
        Tensor z1, z2;                                                              // (B, projOut)
        using (torch.no_grad())
        {
            z1 = teacherProjector.forward(teacherBackbone.forward(view1));
            z2 = teacherProjector.forward(teacherBackbone.forward(view2));
        }
        var loss = TorchPeer.PairLoss(p1, z2).add(TorchPeer.PairLoss(p2, z1)).mean();
        loss.backward();

        using (torch.no_grad())
        {
            foreach (var (w, v, adapt) in student)
            {
                var g = w.grad ?? throw new InvalidOperationException("a student parameter got no gradient");
                if (Optimizer == TorchByolOptimizer.Lars)
                    TorchOptim.Lars(w, g, v, adapt, LearningRate, Momentum, WeightDecay, TrustCoefficient, one);
                else
                    TorchOptim.Sgd(w, g, v, LearningRate, Momentum, adapt ? WeightDecay : 0);
            }
            foreach (var (t, s) in emaPairs)
                TorchOptim.Ema(t, s, Tau);
        }
        Steps++;
        LastLoss = loss.item<float>();
        return LastLoss;
    }

    /// <summary>Parameter counts of the student's backbone, projector and predictor (the teacher has the first two).</summary>
    public (long Backbone, long Projector, long Predictor) ParameterCounts() =>
        (Count(backbone), Count(projector), Count(predictor));

    static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    /// <summary>
    /// Checks the student's tensors (names, shapes, order) against <see cref="TorchPeer.ByolParameterShapes"/>,
    /// the teacher's against the student's leading tensors, and at the default architecture
    /// (width 64, heads 4096/256/4096) the counts 11,168,832 / 3,158,272 / 2,109,696; throws on any difference.
    /// </summary>
    public void CheckParameters()
    {
        var expected = TorchPeer.ByolParameterShapes(Width, ProjectorHidden, ProjectorOut, PredictorHidden);
        var got = backbone.named_parameters()
            .Concat(projector.named_parameters().Select(p => ("projector." + p.name, p.parameter)))
            .Concat(predictor.named_parameters().Select(p => ("predictor." + p.name, p.parameter)))
            .Select(p => (Name: p.Item1, Shape: p.Item2.shape)).ToList();
        if (got.Count != expected.Count)
            throw new InvalidOperationException($"TorchByol: the student has {got.Count} parameter tensors, expected {expected.Count}");
        for (int i = 0; i < got.Count; i++)
            if (got[i].Name != expected[i].Name || !got[i].Shape.SequenceEqual(expected[i].Shape))
                throw new InvalidOperationException($"TorchByol: student tensor {i} is '{got[i].Name}' ({string.Join(",", got[i].Shape)}), " +
                    $"expected '{expected[i].Name}' ({string.Join(",", expected[i].Shape)})");
        foreach (var (t, s) in emaPairs)
            if (!t.shape.SequenceEqual(s.shape))
                throw new InvalidOperationException($"TorchByol: a teacher tensor ({string.Join(",", t.shape)}) does not match the student's ({string.Join(",", s.shape)})");
        var (b, pj, pd) = ParameterCounts();
        if (Width == 64 && ProjectorHidden == 4096 && ProjectorOut == 256 && PredictorHidden == 4096 &&
            (b != TorchPeer.BackboneParameters || pj != TorchPeer.ProjectorParameters || pd != TorchPeer.PredictorParameters))
            throw new InvalidOperationException($"TorchByol: parameter counts {b:N0} / {pj:N0} / {pd:N0}, expected " +
                $"{TorchPeer.BackboneParameters:N0} / {TorchPeer.ProjectorParameters:N0} / {TorchPeer.PredictorParameters:N0}");
    }

    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (var (_, v, _) in student)
            v.Dispose();
        view1.Dispose();
        view2.Dispose();
        one.Dispose();
        backbone.Dispose();
        projector.Dispose();
        predictor.Dispose();
        teacherBackbone.Dispose();
        teacherProjector.Dispose();
    }
}
