using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>Sum and mean of all elements into a (1) tensor; backward dx += α·ds.</summary>
public static class Reduce
{
    /// <summary>Partial sums per reduction: fixed on every device, so a device's result never depends on its launch shape.</summary>
    public const int Partials = 256;

    public static Tensor Sum(Tape tape, Tensor x) => Scaled(tape, x, 1f, "sum");

    public static Tensor Mean(Tape tape, Tensor x) => Scaled(tape, x, 1f / x.Length, "mean");

    static Tensor Scaled(Tape tape, Tensor x, float alpha, string name)
    {
        var dev = tape.Device;
        var result = Tensor.Temp(dev, name, 1);
        SumInto(dev, x.Data, result.Data, alpha);
        if (tape.ShouldRecord(x))
            tape.Record(result, () => Elementwise.AddScalarFromBuffer(dev, result.GradOrZeros().Data, x.GradOrZeros().Data, alpha));
        return result;
    }

    /// <summary>result[0] = α·Σ x, deterministic (fixed partials, fixed order).</summary>
    public static void SumInto(ComputeDevice dev, ArrayView<float> x, ArrayView<float> result, float alpha)
    {
        var partials = dev.Pool.Rent(Partials);
        var kp = dev.Kernel(nameof(ReduceKernels.SumPartialsKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReduceKernels.SumPartialsKernel));
        kp(dev.ExactThreadsConfig(Partials), x, partials, (int)x.Length);
        var kf = dev.Kernel(nameof(ReduceKernels.SumFinalizeKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float>(ReduceKernels.SumFinalizeKernel));
        kf(new KernelConfig(1, 1), partials, result, Partials, alpha);
    }
}
