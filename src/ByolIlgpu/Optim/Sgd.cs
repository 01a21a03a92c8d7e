using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Optim;

/// <summary>SGD with momentum and weight decay (torch.optim.SGD); biases and BatchNorm parameters get no decay.</summary>
public sealed class Sgd : Optimizer
{
    readonly MemoryBuffer1D<float, Stride1D.Dense> velocity;

    public Sgd(ParameterStore store, float momentum = 0.9f, float weightDecay = 0f) : base(store)
    {
        Momentum = momentum;
        WeightDecay = weightDecay;
        velocity = ZeroState();
    }

    public float Momentum { get; }
    public float WeightDecay { get; }

    public override IReadOnlyDictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> State =>
        new Dictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> { ["velocity"] = velocity };

    public override void Step(float lr)
    {
        CheckWeightsWritable();
        var k = Device.Kernel(nameof(SgdKernels.SgdUpdateKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, float, float, float>(SgdKernels.SgdUpdateKernel));
        k(TableConfig(), Store.Values, Store.Grads, velocity.View, Store.TensorOffsets, Store.TensorDecayFlags, lr, Momentum, WeightDecay);
        Steps++;
    }
}
