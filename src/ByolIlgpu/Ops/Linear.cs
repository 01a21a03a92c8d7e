using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Y = X·Wᵀ + b for X (N, I), W (O, I), b (O); backward dX += dY·W, dW += dYᵀ·X, db += Σ_n dY.
/// </summary>
public static class Linear
{
    public static Tensor Forward(Tape tape, Tensor x, Tensor w, Tensor? bias)
    {
        Elementwise.CheckRank(x, "linear", 2);
        Elementwise.CheckRank(w, "linear", 2);
        int n = x.Dim(0), inF = x.Dim(1), outF = w.Dim(0);
        if (w.Dim(1) != inF)
            throw new ArgumentException($"linear: input {x} does not match weight {w} (expected (O, {inF}))");
        if (bias is not null)
            Elementwise.CheckShape(bias, "linear", outF);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "linear", n, outF);
        Matmul.Gemm(dev, x.Data, w.Data, y.Data, n, outF, inF, false, true, 1f, 0f);
        if (bias is not null)
            AddBias(dev, y.Data, bias.Data, n, outF);
        if (tape.ShouldRecord(x, w, bias))
            tape.Record(y, () =>
            {
                var dy = y.GradOrZeros().Data;
                if (x.RequiresGrad) Matmul.Gemm(dev, dy, w.Data, x.GradOrZeros().Data, n, inF, outF, false, false, 1f, 1f);
                if (w.RequiresGrad) Matmul.Gemm(dev, dy, x.Data, w.GradOrZeros().Data, outF, inF, n, true, false, 1f, 1f);
                if (bias is { RequiresGrad: true }) BiasBackward(dev, dy, bias.GradOrZeros().Data, n, outF);
            });
        return y;
    }

    public static void AddBias(ComputeDevice dev, ArrayView<float> y, ArrayView<float> bias, int rows, int outFeatures)
    {
        var k = dev.Kernel(nameof(LinearKernels.LinearBiasForwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(LinearKernels.LinearBiasForwardKernel));
        k(dev.GridStrideConfig((long)rows * outFeatures), y, bias, rows, outFeatures);
    }

    public static void BiasBackward(ComputeDevice dev, ArrayView<float> dY, ArrayView<float> dBias, int rows, int outFeatures)
    {
        var k = dev.Kernel(nameof(LinearKernels.LinearBiasBackwardKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(LinearKernels.LinearBiasBackwardKernel));
        k(dev.GridStrideConfig(outFeatures), dY, dBias, rows, outFeatures);
    }
}
