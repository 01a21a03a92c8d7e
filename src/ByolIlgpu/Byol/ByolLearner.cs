using ByolIlgpu.Engine;
using ByolIlgpu.Optim;

namespace ByolIlgpu.Byol;

/// <summary>What one BYOL step computed (pooled tensors: valid until the next step).</summary>
public sealed record ByolStepResult(Tensor Loss, Tensor P1, Tensor P2, Tensor Z1, Tensor Z2);

/// <summary>
/// One BYOL optimisation step on two augmented views of the same B images:
/// 1. student predictions p₁, p₂ (each view its own forward pass: BatchNorm statistics per view);
/// 2. teacher projections z₁, z₂ in training mode, not recorded;
/// 3. loss = mean_b[ℓ(p₁, z₂) + ℓ(p₂, z₁)], backward through the student;
/// 4. optimizer step with the scheduled lr; 5. teacher ← τ·teacher + (1 − τ)·student (backbone + projector).
/// </summary>
public sealed class ByolLearner
{
    public ByolLearner(ByolModel model, Optimizer optimizer)
    {
        if (optimizer.Store != model.Student)
            throw new ArgumentException("the optimizer must update the student's parameters");
        Model = model;
        Optimizer = optimizer;
        Tape = new Tape(model.Device);
    }

    public ByolModel Model { get; }
    public Optimizer Optimizer { get; }
    public Tape Tape { get; }

    /// <summary>Runs a step; the caller released the pool before making the views.</summary>
    public ByolStepResult Step(Tensor view1, Tensor view2, float lr, float tau)
    {
        var result = ForwardBackward(view1, view2);
        Optimizer.Step(lr);
        Ema.Update(Model.Teacher, Model.Student, tau);
        return result;
    }

    /// <summary>
    /// Steps 1–3 of <see cref="Step"/>: the loss, and the student's gradients in <c>Model.Student.Grads</c>
    /// (zeroed first); no parameter changes, only the running statistics of both networks (the weights are
    /// frozen meanwhile: see <see cref="PreparedWeights"/>). `byol parity` compares exactly this with PyTorch.
    /// </summary>
    public ByolStepResult ForwardBackward(Tensor view1, Tensor view2)
    {
        // No weight changes until the update: each conv's re-laid-out filters are made once for all four passes.
        using var frozen = Model.Device.PreparedWeights.Freeze();
        Model.Student.ZeroGrad();
        var p1 = Model.StudentPrediction(Tape, view1);
        var p2 = Model.StudentPrediction(Tape, view2);
        var z1 = Model.TeacherProjection(Tape, view1);
        var z2 = Model.TeacherProjection(Tape, view2);
        var loss = ByolLossFunction.Symmetric(Tape, p1, p2, z1, z2);
        Tape.Backward(loss);
        return new ByolStepResult(loss, p1, p2, z1, z2);
    }
}
