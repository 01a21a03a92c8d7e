using ByolIlgpu.Engine;

namespace ByolIlgpu.Layers;

/// <summary>
/// nn.BatchNorm1d / nn.BatchNorm2d (the layout decides): learnable γ = 1, β = 0 at start, running
/// mean 0 and variance 1, and num_batches_tracked counted on the host for checkpoints.
/// </summary>
public sealed class BatchNorm
{
    public BatchNorm(ParameterStore store, string name, int channels, float eps = Ops.BatchNorm.DefaultEps, float momentum = Ops.BatchNorm.DefaultMomentum)
    {
        Name = name;
        Channels = channels;
        Eps = eps;
        Momentum = momentum;
        Gamma = store.Add(name + ".weight", [channels], decay: false, Init.Constant(1f));
        Beta = store.Add(name + ".bias", [channels], decay: false, Init.Constant(0f));
        RunningMean = store.AddBuffer(name + ".running_mean", [channels], 0f);
        RunningVar = store.AddBuffer(name + ".running_var", [channels], 1f);
    }

    public string Name { get; }
    public int Channels { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Parameter Gamma { get; }
    public Parameter Beta { get; }
    public StateBuffer RunningMean { get; }
    public StateBuffer RunningVar { get; }

    /// <summary>Training-mode forward passes so far (PyTorch's num_batches_tracked).</summary>
    public long BatchesTracked { get; set; }

    public Tensor Forward(Tape tape, Tensor x, bool training)
    {
        if (training)
            BatchesTracked++;
        return Ops.BatchNorm.Forward(tape, x, Gamma.Value, Beta.Value, RunningMean.Value, RunningVar.Value, training, Eps, Momentum);
    }

    /// <summary>max(BN(x), 0), or max(BN(x) + residual, 0): the BatchNorm fused with the ReLU (and residual add) after it.</summary>
    public Tensor ForwardRelu(Tape tape, Tensor x, bool training, Tensor? residual = null)
    {
        if (training)
            BatchesTracked++;
        return Ops.BatchNorm.ForwardRelu(tape, x, Gamma.Value, Beta.Value, RunningMean.Value, RunningVar.Value, training, residual, Eps, Momentum);
    }
}
