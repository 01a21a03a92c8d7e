using ByolIlgpu.Engine;

namespace ByolIlgpu.Layers;

/// <summary>nn.Conv2d without bias, initialised as torchvision's ResNet: Kaiming normal, fan_out, ReLU gain.</summary>
public sealed class Conv2d
{
    public Conv2d(ParameterStore store, string name, int inChannels, int outChannels, int kernel, int stride, int padding)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Weight = store.Add(name + ".weight", [outChannels, inChannels, kernel, kernel], decay: true,
            Init.KaimingNormalFanOut(outChannels * kernel * kernel));
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    public Parameter Weight { get; }

    public Tensor Forward(Tape tape, Tensor x) => Ops.Conv2d.Forward(tape, x, Weight.Value, Stride, Padding);
}
