using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>
/// Batch normalisation over (N, C, S) — BatchNorm1d with x (N, C), BatchNorm2d with x (N, C, H, W) —
/// following PyTorch (ε = 1e-5, momentum 0.1, biased variance for normalising, unbiased for the
/// running estimate). See <see cref="BatchNormKernels"/> for the formulas.
/// </summary>
public static class BatchNorm
{
    public const float DefaultEps = 1e-5f, DefaultMomentum = 0.1f;

    /// <summary>Partial sums per channel in version 2: fixed, so results never depend on the launch shape.</summary>
    public const int PartialsPerChannel = 64;

    /// <summary>
    /// Version 1 (a thread per channel) for BatchNorm1d's many channels and on CPU-like devices, where a
    /// thread's contiguous walk over its channel is what runs fast (PoCL: 13–19 GB/s against 2–6 for
    /// version 2, measured by BatchNormBenchmarks); version 2 (split sums) for BatchNorm2d on GPUs,
    /// where 64–512 channels would leave most of the device idle. The choice is the device policy's (<see cref="DevicePolicy.BatchNormVersion"/>).
    /// </summary>
    public static int DefaultVersion(ComputeDevice dev, int spatial) => dev.Policy.BatchNormVersion(spatial);

    public static Tensor Forward(Tape tape, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, float eps = DefaultEps, float momentum = DefaultMomentum, int version = 0)
    {
        if (x.Rank < 2)
            throw new ArgumentException($"batch norm: '{x.Name}' has shape {Tensor.Format(x.Shape)}, expected (N, C) or (N, C, H, W)");
        int n = x.Dim(0), c = x.Dim(1), s = x.Length / (n * c);
        foreach (var p in new[] { gamma, beta, runningMean, runningVar })
            Elementwise.CheckShape(p, "batch norm", c);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "batchnorm", x.Shape);
        if (!training)
        {
            ForwardEval(dev, x.Data, gamma.Data, beta.Data, runningMean.Data, runningVar.Data, y.Data, n, c, s, eps);
            if (tape.ShouldRecord(x, gamma, beta))
                throw new InvalidOperationException("batch norm in evaluation mode has no backward here: run it under tape.NoGrad()");
            return y;
        }
        if (n * s < 2)
            throw new ArgumentException($"batch norm in training mode needs more than one value per channel, got input {Tensor.Format(x.Shape)}");
        var mean = Tensor.Temp(dev, "batchnorm.mean", c);
        var rstd = Tensor.Temp(dev, "batchnorm.rstd", c);
        version = dev.ResolveVersion(KernelSite.BatchNorm(s), version, () => DefaultVersion(dev, s));
        ForwardTrain(dev, x.Data, gamma.Data, beta.Data, y.Data, mean.Data, rstd.Data, runningMean.Data, runningVar.Data, n, c, s, eps, momentum, version);
        if (tape.ShouldRecord(x, gamma, beta))
            tape.Record(y, () => Backward(dev, x.Data, gamma.Data, mean.Data, rstd.Data, y.GradOrZeros().Data,
                x.GradOrZeros().Data, gamma.GradOrZeros().Data, beta.GradOrZeros().Data, n, c, s, version));
        return y;
    }

    public static void ForwardTrain(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> runningMean, ArrayView<float> runningVar,
        int n, int c, int s, float eps, float momentum, int version)
    {
        if (version == 1)
        {
            var k = dev.Kernel(nameof(BatchNormKernels.BatchNormForwardTrainKernel1), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, int, int, int, float, float>(BatchNormKernels.BatchNormForwardTrainKernel1));
            k(dev.GridStrideConfig(c), x, gamma, beta, y, mean, rstd, runningMean, runningVar, n, c, s, eps, momentum);
            return;
        }
        CheckVersion(version);
        int count = n * s;
        var partials = dev.Pool.Rent((long)c * PartialsPerChannel);
        var split = dev.ExactThreadsConfig2D(PartialsPerChannel, c);
        var sum = dev.Kernel(nameof(BatchNormKernels.BatchNormSumPartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormSumPartialsKernel2));
        sum(split, x, partials, n, c, s);
        var meanK = dev.Kernel(nameof(BatchNormKernels.BatchNormMeanKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormMeanKernel2));
        meanK(dev.GridStrideConfig(c), partials, mean, c, PartialsPerChannel, count);
        var sq = dev.Kernel(nameof(BatchNormKernels.BatchNormCenteredSquarePartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormCenteredSquarePartialsKernel2));
        sq(split, x, mean, partials, n, c, s);
        var varK = dev.Kernel(nameof(BatchNormKernels.BatchNormVarianceKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, float>(BatchNormKernels.BatchNormVarianceKernel2));
        varK(dev.GridStrideConfig(c), partials, mean, rstd, runningMean, runningVar, c, PartialsPerChannel, count, eps, momentum);
        var norm = dev.Kernel(nameof(BatchNormKernels.BatchNormNormalizeKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormNormalizeKernel2));
        norm(dev.GridStrideConfig((long)n * c * s), x, gamma, beta, mean, rstd, y, n, c, s);
    }

    static void CheckVersion(int version)
    {
        if (version != 2)
            throw new ArgumentOutOfRangeException(nameof(version), version, "batch norm versions are 1 and 2");
    }

    public static void ForwardEval(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> y, int n, int c, int s, float eps)
    {
        var k = dev.Kernel(nameof(BatchNormKernels.BatchNormForwardEvalKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int, float>(BatchNormKernels.BatchNormForwardEvalKernel));
        k(dev.GridStrideConfig((long)n * c * s), x, gamma, beta, runningMean, runningVar, y, n, c, s, eps);
    }

    public static void Backward(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dY, ArrayView<float> dX, ArrayView<float> dGamma, ArrayView<float> dBeta, int n, int c, int s, int version)
    {
        if (version == 1)
        {
            var k = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardKernel1), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormBackwardKernel1));
            k(dev.GridStrideConfig(c), x, gamma, mean, rstd, dY, dX, dGamma, dBeta, n, c, s);
            return;
        }
        CheckVersion(version);
        var partials = dev.Pool.Rent((long)c * PartialsPerChannel * 2);
        var means = dev.Pool.Rent((long)c * 2);
        var kp = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardPartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormBackwardPartialsKernel2));
        kp(dev.ExactThreadsConfig2D(PartialsPerChannel, c), x, mean, rstd, dY, partials, n, c, s);
        var kr = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardReduceKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormBackwardReduceKernel2));
        kr(dev.GridStrideConfig(c), partials, dGamma, dBeta, means, c, PartialsPerChannel, n * s);
        var kx = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardInputKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormBackwardInputKernel2));
        kx(dev.GridStrideConfig((long)n * c * s), x, gamma, mean, rstd, means, dY, dX, n, c, s);
    }
}
