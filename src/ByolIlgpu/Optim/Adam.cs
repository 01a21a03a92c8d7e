using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Optim;

/// <summary>
/// Adam (L2 weight decay added to the gradient, torch.optim.Adam) or AdamW (decoupled decay,
/// torch.optim.AdamW) when <see cref="Decoupled"/>; biases and BatchNorm parameters get no decay.
/// </summary>
public sealed class Adam : Optimizer
{
    readonly MemoryBuffer1D<float, Stride1D.Dense> m, v;

    public Adam(ParameterStore store, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f,
        float weightDecay = 0f, bool decoupled = false) : base(store)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        Decoupled = decoupled;
        m = ZeroState();
        v = ZeroState();
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }
    public bool Decoupled { get; }

    public override IReadOnlyDictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> State =>
        new Dictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> { ["exp_avg"] = m, ["exp_avg_sq"] = v };

    public override void Step(float lr)
    {
        CheckWeightsWritable();
        Steps++;
        float c1 = (float)(1 - Math.Pow(Beta1, Steps));
        float c2 = (float)(1 - Math.Pow(Beta2, Steps));
        var k = Device.Kernel(nameof(AdamKernels.AdamUpdateKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
            float, float, float, float, float, float, float, int>(AdamKernels.AdamUpdateKernel));
        k(TableConfig(), Store.Values, Store.Grads, m.View, v.View, Store.TensorOffsets, Store.TensorDecayFlags,
            lr, Beta1, Beta2, Eps, WeightDecay, c1, c2, Decoupled ? 1 : 0);
    }
}
