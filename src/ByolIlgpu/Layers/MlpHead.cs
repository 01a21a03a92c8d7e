using ByolIlgpu.Engine;

namespace ByolIlgpu.Layers;

/// <summary>
/// BYOL's projector and predictor: Linear(in → hidden) → BatchNorm1d(hidden) → ReLU → Linear(hidden → out).
/// Defaults hidden 4096, out 256.
/// </summary>
public sealed class MlpHead
{
    public MlpHead(ParameterStore store, string name, int inFeatures, int hidden = 4096, int outFeatures = 256)
    {
        Name = name;
        First = new Linear(store, name + ".0", inFeatures, hidden);
        Norm = new BatchNorm(store, name + ".1", hidden);
        Second = new Linear(store, name + ".3", hidden, outFeatures);
    }

    public string Name { get; }
    public Linear First { get; }
    public BatchNorm Norm { get; }
    public Linear Second { get; }

    public Tensor Forward(Tape tape, Tensor x, bool training = true)
    {
        var h = First.Forward(tape, x);
        h = Norm.ForwardRelu(tape, h, training);
        return Second.Forward(tape, h);
    }

    /// <summary>Parameter count: two weight matrices with biases, plus γ and β.</summary>
    public static long ParameterCount(int inFeatures, int hidden, int outFeatures) =>
        (long)inFeatures * hidden + hidden + 2L * hidden + (long)hidden * outFeatures + outFeatures;
}
