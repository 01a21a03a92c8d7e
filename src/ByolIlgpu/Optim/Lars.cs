using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Optim;

/// <summary>
/// LARS as BYOL on CIFAR uses it (solo-learn's configuration: momentum 0.9, η = 0.02, clipped,
/// biases and BatchNorm excluded from decay and adaptation). Trust ratio per weight tensor:
/// η·‖w‖/‖g + λw‖; local lr = min(trust, lr); 1 where a norm is zero. See <see cref="LarsKernels"/>.
/// </summary>
public sealed class Lars : Optimizer
{
    /// <summary>Partial sums per tensor for the norms: fixed, so the result is deterministic.</summary>
    public const int PartialsPerTensor = 256;

    readonly MemoryBuffer1D<float, Stride1D.Dense> velocity, wSq, uSq, scale;

    public Lars(ParameterStore store, float momentum = 0.9f, float weightDecay = 1e-5f, float trustCoefficient = 0.02f) : base(store)
    {
        Momentum = momentum;
        WeightDecay = weightDecay;
        TrustCoefficient = trustCoefficient;
        velocity = ZeroState();
        wSq = Device.Allocate<float>((long)TensorCount * PartialsPerTensor);
        uSq = Device.Allocate<float>((long)TensorCount * PartialsPerTensor);
        scale = Device.Allocate<float>(TensorCount);
    }

    public float Momentum { get; }
    public float WeightDecay { get; }
    public float TrustCoefficient { get; }

    public override IReadOnlyDictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> State =>
        new Dictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> { ["velocity"] = velocity };

    /// <summary>The per-tensor scale min(trust/lr, 1) of the last step, for tests and logs.</summary>
    public float[] LastScales()
    {
        return Device.ToHost(scale.View);
    }

    public override void Step(float lr)
    {
        CheckWeightsWritable();
        if (!(lr >= 0f))
            throw new ArgumentOutOfRangeException(nameof(lr), lr, "LARS needs a learning rate ≥ 0");
        var dev = Device;
        var kNorms = dev.Kernel(nameof(LarsKernels.LarsNormPartialsKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, float>(LarsKernels.LarsNormPartialsKernel));
        kNorms(dev.ExactThreadsConfig2D(PartialsPerTensor, TensorCount), Store.Values, Store.Grads, Store.TensorOffsets, Store.TensorDecayFlags,
            wSq.View, uSq.View, WeightDecay);
        var kScale = dev.Kernel(nameof(LarsKernels.LarsScaleKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, float, float>(LarsKernels.LarsScaleKernel));
        kScale(dev.GridStrideConfig(TensorCount), wSq.View, uSq.View, Store.TensorDecayFlags, scale.View, TensorCount, PartialsPerTensor, lr, TrustCoefficient);
        var kUpdate = dev.Kernel(nameof(LarsKernels.LarsUpdateKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, float, float, float>(LarsKernels.LarsUpdateKernel));
        kUpdate(TableConfig(), Store.Values, Store.Grads, velocity.View, Store.TensorOffsets, Store.TensorDecayFlags, scale.View, lr, Momentum, WeightDecay);
        Steps++;
    }

    public override void Dispose()
    {
        base.Dispose();
        wSq.Dispose();
        uSq.Dispose();
        scale.Dispose();
    }
}
