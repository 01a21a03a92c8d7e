using ByolIlgpu.Engine;

namespace ByolIlgpu.Layers;

/// <summary>nn.Linear: y = x·Wᵀ + b with W (out, in), b (out), PyTorch's default initialisation.</summary>
public sealed class Linear
{
    public Linear(ParameterStore store, string name, int inFeatures, int outFeatures, bool bias = true)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = store.Add(name + ".weight", [outFeatures, inFeatures], decay: true, Init.LinearDefault(inFeatures));
        Bias = bias ? store.Add(name + ".bias", [outFeatures], decay: false, Init.LinearDefault(inFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    public Tensor Forward(Tape tape, Tensor x) => Ops.Linear.Forward(tape, x, Weight.Value, Bias?.Value);
}
