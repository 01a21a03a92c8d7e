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
    /// Version 1 (a thread per channel) for BatchNorm1d's many channels; version 3 (a thread per
    /// (channel, sample) plane, contiguous walks in 8 lane sums) for BatchNorm2d on CPU-like devices,
    /// where version 1 left cores idle at few channels and waited on each add, and version 2's strided
    /// walks are slow (PoCL: 13–19 GB/s for version 1 against 2–6 for version 2, measured by
    /// BatchNormBenchmarks); version 2 (split sums) for BatchNorm2d on GPUs, where 64–512 channels would
    /// leave most of the device idle. The choice is the device policy's (<see cref="DevicePolicy.BatchNormVersion"/>).
    /// </summary>
    public static int DefaultVersion(ComputeDevice dev, int spatial) => dev.Policy.BatchNormVersion(spatial);

    public static Tensor Forward(Tape tape, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, float eps = DefaultEps, float momentum = DefaultMomentum, int version = 0) =>
        Fused(tape, x, gamma, beta, runningMean, runningVar, null, BatchNormKernels.Plain, training, eps, momentum, version);

    /// <summary>
    /// y = max(BN(x), 0), or y = max(BN(x) + residual, 0) with a <paramref name="residual"/> (the BasicBlock's
    /// join): the BatchNorm and what follows it in one kernel per pass, where BN → ReLU (→ add) took two or three.
    /// </summary>
    public static Tensor ForwardRelu(Tape tape, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, Tensor? residual = null, float eps = DefaultEps, float momentum = DefaultMomentum, int version = 0) =>
        Fused(tape, x, gamma, beta, runningMean, runningVar, residual, residual is null ? BatchNormKernels.Relu : BatchNormKernels.AddRelu,
            training, eps, momentum, version);

    static Tensor Fused(Tape tape, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor? residual, int activation,
        bool training, float eps, float momentum, int version)
    {
        if (x.Rank < 2)
            throw new ArgumentException($"batch norm: '{x.Name}' has shape {Tensor.Format(x.Shape)}, expected (N, C) or (N, C, H, W)");
        int n = x.Dim(0), c = x.Dim(1), s = x.Length / (n * c);
        foreach (var p in new[] { gamma, beta, runningMean, runningVar })
            Elementwise.CheckShape(p, "batch norm", c);
        if (residual is not null)
            Elementwise.CheckShape(residual, "batch norm + residual", x.Shape);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, activation == BatchNormKernels.Plain ? "batchnorm" : "batchnorm_relu", x.Shape);
        var r = (residual ?? y).Data;   // read only by the AddRelu epilogue
        if (!training)
        {
            ForwardEval(dev, x.Data, gamma.Data, beta.Data, runningMean.Data, runningVar.Data, y.Data, n, c, s, eps, r, activation);
            if (tape.ShouldRecord(x, gamma, beta, residual))
                throw new InvalidOperationException("batch norm in evaluation mode has no backward here: run it under tape.NoGrad()");
            return y;
        }
        if (n * s < 2)
            throw new ArgumentException($"batch norm in training mode needs more than one value per channel, got input {Tensor.Format(x.Shape)}");
        var mean = Tensor.Temp(dev, "batchnorm.mean", c);
        var rstd = Tensor.Temp(dev, "batchnorm.rstd", c);
        version = dev.ResolveVersion(KernelSite.BatchNorm(s), version, () => DefaultVersion(dev, s));
        ForwardTrain(dev, x.Data, gamma.Data, beta.Data, y.Data, mean.Data, rstd.Data, runningMean.Data, runningVar.Data, n, c, s, eps, momentum, version,
            r, activation);
        if (tape.ShouldRecord(x, gamma, beta, residual))
            tape.Record(y, () =>
            {
                // dX is written whole: the first backward to reach x (usually the only one) writes it instead of zeroing it first.
                var dX = x.GradToWrite(out bool accumulate);
                Backward(dev, x.Data, gamma.Data, mean.Data, rstd.Data, y.GradOrZeros().Data,
                    dX.Data, gamma.GradOrZeros().Data, beta.GradOrZeros().Data, n, c, s, version,
                    y.Data, residual is null ? y.Data : residual.GradOrZeros().Data, activation, accumulate);
            });
        return y;
    }

    /// <summary>
    /// Training-mode forward with the epilogue <paramref name="activation"/> (<see cref="BatchNormKernels.Plain"/>,
    /// <see cref="BatchNormKernels.Relu"/>, <see cref="BatchNormKernels.AddRelu"/> reading <paramref name="residual"/>).
    /// </summary>
    public static void ForwardTrain(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> runningMean, ArrayView<float> runningVar,
        int n, int c, int s, float eps, float momentum, int version, ArrayView<float> residual = default, int activation = BatchNormKernels.Plain)
    {
        CheckResidual(y, ref residual, activation);
        var args = new BatchNormArgs { N = n, Channels = c, Spatial = s, PartialsPerChannel = PartialsPerChannel, Eps = eps, Momentum = momentum, Activation = activation };
        if (version == 1)
        {
            var k = dev.Kernel(nameof(BatchNormKernels.BatchNormForwardTrainKernel1), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormForwardTrainKernel1));
            k(dev.GridStrideConfig(c), x, gamma, beta, residual, y, mean, rstd, runningMean, runningVar, args);
            return;
        }
        CheckVersion(version);
        if (version == 3)
        {
            var planeStats = dev.Pool.Rent((long)c * n * 2 * BatchNormKernels.PlaneLanes);   // (C, N, 2, 8): lanes of Σ x and Σ (x − μ_b)² of each plane
            var planes = dev.GridStrideConfig((long)c * n);
            var stats3 = dev.Kernel(nameof(BatchNormKernels.BatchNormPlaneStatsKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormPlaneStatsKernel3));
            stats3(planes, x, planeStats, n, c, s);
            var channel3 = dev.Kernel(nameof(BatchNormKernels.BatchNormChannelStatsKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormChannelStatsKernel3));
            channel3(dev.GridStrideConfig(c), planeStats, mean, rstd, runningMean, runningVar, args);
            var norm3 = dev.Kernel(nameof(BatchNormKernels.BatchNormPlaneNormalizeKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                BatchNormArgs>(BatchNormKernels.BatchNormPlaneNormalizeKernel3));
            norm3(planes, x, gamma, beta, mean, rstd, residual, y, args);
            return;
        }
        int count = n * s;
        var sumPartials = dev.Pool.Rent((long)c * PartialsPerChannel);      // (C, T)
        var squarePartials = dev.Pool.Rent((long)c * PartialsPerChannel);   // (C, T)
        var split = dev.ExactThreadsConfig2D(PartialsPerChannel, c);
        var sum = dev.Kernel(nameof(BatchNormKernels.BatchNormSumPartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormSumPartialsKernel2));
        sum(split, x, sumPartials, n, c, s);
        var sq = dev.Kernel(nameof(BatchNormKernels.BatchNormCenteredSquarePartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormCenteredSquarePartialsKernel2));
        sq(split, x, sumPartials, mean, squarePartials, n, c, s);
        var norm = dev.Kernel(nameof(BatchNormKernels.BatchNormNormalizeKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormNormalizeKernel2));
        norm(ChannelConfig(dev, count, c), x, gamma, beta, mean, squarePartials, residual, y, rstd, runningMean, runningVar, args);
    }

    /// <summary>
    /// Version 2's element-wise launches: a row of groups per channel, each thread walking at least
    /// <see cref="ElementsPerThread"/> of the channel's elements, over which its own sum of the channel's
    /// <see cref="PartialsPerChannel"/> partials is spread.
    /// </summary>
    static KernelConfig ChannelConfig(ComputeDevice dev, long count, int channels) =>
        dev.GridStrideConfig2D((count + ElementsPerThread - 1) / ElementsPerThread, channels);

    const int ElementsPerThread = 16;

    /// <summary>An absent residual is replaced by <paramref name="y"/> (a valid view the kernels never read); AddRelu needs one of y's length.</summary>
    static void CheckResidual(ArrayView<float> y, ref ArrayView<float> residual, int activation)
    {
        if (activation is < BatchNormKernels.Plain or > BatchNormKernels.AddRelu)
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "batch norm epilogues are Plain, Relu and AddRelu");
        if (activation == BatchNormKernels.AddRelu && residual.Length != y.Length)
            throw new ArgumentException($"batch norm + residual: a residual of {residual.Length} elements for an output of {y.Length}");
        if (activation != BatchNormKernels.AddRelu)
            residual = y;
    }

    static void CheckVersion(int version)
    {
        if (version is not (2 or 3))
            throw new ArgumentOutOfRangeException(nameof(version), version, "batch norm versions are 1, 2 and 3");
    }

    public static void ForwardEval(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> y, int n, int c, int s, float eps,
        ArrayView<float> residual = default, int activation = BatchNormKernels.Plain)
    {
        CheckResidual(y, ref residual, activation);
        var k = dev.Kernel(nameof(BatchNormKernels.BatchNormForwardEvalKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            BatchNormArgs>(BatchNormKernels.BatchNormForwardEvalKernel));
        var args = new BatchNormArgs { N = n, Channels = c, Spatial = s, Eps = eps, Activation = activation };
        k(dev.GridStrideConfig((long)n * c * s), x, gamma, beta, runningMean, runningVar, residual, y, args);
    }

    /// <summary>
    /// Training-mode backward; behind a fused ReLU it reads the op's output <paramref name="y"/>, and for AddRelu
    /// adds the masked gradient into <paramref name="dResidual"/>. dγ, dβ are accumulated into, dX too unless
    /// <paramref name="accumulate"/> is false (then written).
    /// </summary>
    public static void Backward(ComputeDevice dev, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dY, ArrayView<float> dX, ArrayView<float> dGamma, ArrayView<float> dBeta, int n, int c, int s, int version,
        ArrayView<float> y = default, ArrayView<float> dResidual = default, int activation = BatchNormKernels.Plain, bool accumulate = true)
    {
        if (activation == BatchNormKernels.Plain)
            y = dY;   // never read
        else if (y.Length != dY.Length)
            throw new ArgumentException($"batch norm + ReLU backward: an output of {y.Length} elements for a gradient of {dY.Length}");
        CheckResidual(dY, ref dResidual, activation);
        var args = new BatchNormArgs { N = n, Channels = c, Spatial = s, PartialsPerChannel = PartialsPerChannel, Activation = activation, Accumulate = accumulate ? 1 : 0 };
        if (version == 1)
        {
            var k = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardKernel1), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormBackwardKernel1));
            k(dev.GridStrideConfig(c), x, y, gamma, mean, rstd, dY, dX, dGamma, dBeta, dResidual, args);
            return;
        }
        CheckVersion(version);
        if (version == 3)
        {
            var planePartials = dev.Pool.Rent((long)c * n * 2 * BatchNormKernels.PlaneLanes);   // (C, N, 2, 8): lanes of Σ g and Σ g·(x − μ)
            var planes = dev.GridStrideConfig((long)c * n);
            var kp3 = dev.Kernel(nameof(BatchNormKernels.BatchNormPlaneBackwardPartialsKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(
                BatchNormKernels.BatchNormPlaneBackwardPartialsKernel3));
            kp3(planes, x, y, mean, dY, planePartials, n, c, s, activation);
            var channelGrad = dev.Pool.Rent((long)c * 2);   // (C, 2): mean(g), mean(g·x̂)
            var kc3 = dev.Kernel(nameof(BatchNormKernels.BatchNormChannelGradKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormKernels.BatchNormChannelGradKernel3));
            kc3(dev.GridStrideConfig(c), planePartials, rstd, channelGrad, dGamma, dBeta, n, c, s);
            var kx3 = dev.Kernel(nameof(BatchNormKernels.BatchNormPlaneBackwardInputKernel3), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormPlaneBackwardInputKernel3));
            kx3(planes, x, y, gamma, mean, rstd, channelGrad, dY, dX, dResidual, args);
            return;
        }
        var partials = dev.Pool.Rent((long)c * PartialsPerChannel * 2);   // (C, T, 2)
        var kp = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardPartialsKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(
            BatchNormKernels.BatchNormBackwardPartialsKernel2));
        kp(dev.ExactThreadsConfig2D(PartialsPerChannel, c), x, y, mean, rstd, dY, partials, n, c, s, activation);
        var kx = dev.Kernel(nameof(BatchNormKernels.BatchNormBackwardInputKernel2), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormArgs>(BatchNormKernels.BatchNormBackwardInputKernel2));
        kx(ChannelConfig(dev, (long)n * s, c), x, y, gamma, mean, rstd, partials, dY, dX, dGamma, dBeta, dResidual, args);
    }
}
