using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

/// <summary>The sizes and settings of a batch-norm launch (the kernels with many views take them in one struct).</summary>
public struct BatchNormArgs
{
    public int N, Channels, Spatial;   // x is (N, Channels, Spatial)
    public int PartialsPerChannel;     // T of version 2
    public float Eps, Momentum;
    public int Activation;             // BatchNormKernels.Plain, Relu or AddRelu
    public int Accumulate;             // backward: 1 adds into dX, 0 writes it
}

/// <summary>
/// Batch normalisation over layout (N, C, S): BatchNorm1d is S = 1 (x is (N, C)), BatchNorm2d is
/// S = H·W (x is (N, C, H, W)). Statistics are per channel c over the N·S values x[n, c, s].
///
/// Training: μ = mean(x), σ² = mean((x − μ)²) (biased), rstd = 1/√(σ² + ε), x̂ = (x − μ)·rstd,
/// y = γ·x̂ + β; running_mean ← (1 − m)·running_mean + m·μ,
/// running_var ← (1 − m)·running_var + m·σ²·M/(M − 1) with M = N·S (unbiased), as PyTorch.
/// Evaluation: y = γ·(x − running_mean)/√(running_var + ε) + β.
/// Backward (training): dγ += Σ dy·x̂, dβ += Σ dy,
/// dx += γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)), means over the M values of the channel.
///
/// Fused epilogues (<c>activation</c>), so a BatchNorm followed by a ReLU is one op and one pass:
/// <see cref="Plain"/> y = BN(x); <see cref="Relu"/> y = max(BN(x), 0); <see cref="AddRelu"/>
/// y = max(BN(x) + r, 0), the BasicBlock's join with its shortcut r. Their backward runs the BN
/// backward on g = dy·[y > 0] (the ReLU's derivative, from the output) and, for AddRelu, dr += g.
///
/// Version 1: one thread per channel, sums in a fixed order (deterministic); suits BatchNorm1d's
/// thousands of channels. Version 2 (BatchNorm2d's few channels over many positions): each channel's
/// sums split over a fixed number T of partials (thread t of channel c sums positions t, t + T, …);
/// every thread that needs a channel's statistic adds that channel's T partials in order itself, so
/// no launch is spent on a per-channel reduction and the results never depend on the launch shape —
/// deterministic, no atomics. Forward: sum partials; centred-square partials; normalise (three
/// launches). Backward: partials of dy and dy·x̂; input gradient (two launches).
/// </summary>
public static class BatchNormKernels
{
    /// <summary>Epilogue of the normalisation: none, ReLU, or residual add then ReLU.</summary>
    public const int Plain = 0, Relu = 1, AddRelu = 2;

    /// <summary>The epilogue applied to a normalised value v of element i.</summary>
    static float Epilogue(float v, ArrayView<float> residual, int i, int activation)
    {
        if (activation == Plain)
            return v;
        if (activation == AddRelu)
            v += residual[i];
        return v > 0f ? v : 0f;
    }

    /// <summary>The gradient reaching the normalisation: dy, or dy·[y > 0] behind a fused ReLU.</summary>
    static float MaskedGrad(ArrayView<float> dY, ArrayView<float> y, int i, int activation) =>
        activation == Plain || y[i] > 0f ? dY[i] : 0f;

    /// <summary>Training-mode forward; saves μ and rstd for the backward and updates the running statistics.</summary>
    public static void BatchNormForwardTrainKernel1(
        ArrayView<float> x,            // (N, C, S)
        ArrayView<float> gamma,        // (C)
        ArrayView<float> beta,         // (C)
        ArrayView<float> residual,     // (N, C, S), read for AddRelu only
        ArrayView<float> y,            // (N, C, S)
        ArrayView<float> mean,         // (C) saved μ
        ArrayView<float> rstd,         // (C) saved 1/√(σ² + ε)
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation;
        float eps = args.Eps, momentum = args.Momentum;
        int count = n * spatial;
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float sum = 0f;
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * spatial;
                for (int s = 0; s < spatial; s++)
                    sum += x[o + s];
            }
            float mu = sum / count;
            // Second pass over (x − μ)² is exact where E[x²] − μ² would cancel.
            float sq = 0f;
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * spatial;
                for (int s = 0; s < spatial; s++)
                {
                    float d = x[o + s] - mu;
                    sq += d * d;
                }
            }
            float variance = sq / count;
            float r = 1f / XMath.Sqrt(variance + eps);
            mean[c] = mu;
            rstd[c] = r;
            runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mu;
            runningVar[c] = (1f - momentum) * runningVar[c] + momentum * variance * count / (count - 1);
            float g = gamma[c], bt = beta[c];
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * spatial;
                for (int s = 0; s < spatial; s++)
                    y[o + s] = Epilogue(g * (x[o + s] - mu) * r + bt, residual, o + s, activation);
            }
        }
    }

    /// <summary>Evaluation-mode forward: y = γ·(x − running_mean)/√(running_var + ε) + β, then the epilogue.</summary>
    public static void BatchNormForwardEvalKernel(
        ArrayView<float> x,            // (N, C, S)
        ArrayView<float> gamma,        // (C)
        ArrayView<float> beta,         // (C)
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        ArrayView<float> residual,     // (N, C, S), read for AddRelu only
        ArrayView<float> y,            // (N, C, S)
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation;
        float eps = args.Eps;
        int total = n * channels * spatial;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int c = (i / spatial) % channels;
            y[i] = Epilogue(gamma[c] * (x[i] - runningMean[c]) / XMath.Sqrt(runningVar[c] + eps) + beta[c], residual, i, activation);
        }
    }

    /// <summary>
    /// Training-mode backward on g = dy (behind a fused ReLU: dy·[y > 0]): dγ[c] += Σ g·x̂, dβ[c] += Σ g,
    /// dx (+)= γ·rstd·(g − mean(g) − x̂·mean(g·x̂)) with x̂ = (x − μ)·rstd recomputed from the saved μ, rstd;
    /// for AddRelu dr += g. <paramref name="accumulate"/> 0 writes dx instead of adding (no zeroing first).
    /// </summary>
    public static void BatchNormBackwardKernel1(
        ArrayView<float> x,          // (N, C, S)
        ArrayView<float> y,          // (N, C, S) the op's output, read behind a fused ReLU
        ArrayView<float> gamma,      // (C)
        ArrayView<float> mean,       // (C) saved μ
        ArrayView<float> rstd,       // (C) saved rstd
        ArrayView<float> dY,         // (N, C, S)
        ArrayView<float> dX,         // (N, C, S), accumulated into unless accumulate is 0
        ArrayView<float> dGamma,     // (C), accumulated into
        ArrayView<float> dBeta,      // (C), accumulated into
        ArrayView<float> dResidual,  // (N, C, S), accumulated into for AddRelu
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation, accumulate = args.Accumulate;
        int count = n * spatial;
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float mu = mean[c], r = rstd[c];
            float sumDy = 0f, sumDyXhat = 0f;
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * spatial;
                for (int s = 0; s < spatial; s++)
                {
                    float dy = MaskedGrad(dY, y, o + s, activation);
                    sumDy += dy;
                    sumDyXhat += dy * (x[o + s] - mu) * r;
                }
            }
            dGamma[c] += sumDyXhat;
            dBeta[c] += sumDy;
            float meanDy = sumDy / count, meanDyXhat = sumDyXhat / count;
            float scale = gamma[c] * r;
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * spatial;
                for (int s = 0; s < spatial; s++)
                {
                    float dy = MaskedGrad(dY, y, o + s, activation);
                    float xhat = (x[o + s] - mu) * r;
                    // term 1: dy; term 2: −mean(dy) (through μ); term 3: −x̂·mean(dy·x̂) (through σ²).
                    float d = scale * (dy - meanDy - xhat * meanDyXhat);
                    dX[o + s] = accumulate != 0 ? dX[o + s] + d : d;
                    if (activation == AddRelu)
                        dResidual[o + s] += dy;
                }
            }
        }
    }

    // ---- Version 2: split reductions. Partials: X = T partials per channel (exactly), Y = channel. ----

    /// <summary>Element j of channel c in (N, C, S), j ∈ [0, N·S).</summary>
    static int ChannelElement(int j, int c, int channels, int spatial)
    {
        int b = j / spatial;
        return (b * channels + c) * spatial + (j - b * spatial);
    }

    /// <summary>Σ_t partials[(c·T + t)·stride + field], t in order: the one summation order of a channel's statistic.</summary>
    static float SumOfPartials(ArrayView<float> partials, int c, int partialsPerChannel, int stride, int field)
    {
        float sum = 0f;
        for (int t = 0; t < partialsPerChannel; t++)
            sum += partials[(c * partialsPerChannel + t) * stride + field];
        return sum;
    }

    /// <summary>partials[c·T + t] = Σ x over elements t, t + T, … of channel c.</summary>
    public static void BatchNormSumPartialsKernel2(
        ArrayView<float> x,         // (N, C, S)
        ArrayView<float> partials,  // (C, T)
        int n, int channels, int spatial)
    {
        int c = Grid.IdxY, t = GridStride.Start, partialsPerChannel = GridStride.Step;
        int count = n * spatial;
        float sum = 0f;
        for (int j = t; j < count; j += partialsPerChannel)
            sum += x[ChannelElement(j, c, channels, spatial)];
        partials[c * partialsPerChannel + t] = sum;
    }

    /// <summary>
    /// μ_c = Σ_t sumPartials[c·T + t]/(N·S) (saved by thread 0 of the channel);
    /// squarePartials[c·T + t] = Σ (x − μ_c)² over elements t, t + T, … of channel c.
    /// </summary>
    public static void BatchNormCenteredSquarePartialsKernel2(
        ArrayView<float> x,               // (N, C, S)
        ArrayView<float> sumPartials,     // (C, T)
        ArrayView<float> mean,            // (C) saved μ
        ArrayView<float> squarePartials,  // (C, T)
        int n, int channels, int spatial)
    {
        int c = Grid.IdxY, t = GridStride.Start, partialsPerChannel = GridStride.Step;
        int count = n * spatial;
        float mu = SumOfPartials(sumPartials, c, partialsPerChannel, 1, 0) / count;
        if (t == 0)
            mean[c] = mu;
        float sum = 0f;
        for (int j = t; j < count; j += partialsPerChannel)
        {
            float d = x[ChannelElement(j, c, channels, spatial)] - mu;
            sum += d * d;
        }
        squarePartials[c * partialsPerChannel + t] = sum;
    }

    /// <summary>
    /// σ²_c = Σ_t squarePartials[c·T + t]/(N·S), rstd = 1/√(σ² + ε) (saved, and the running statistics
    /// updated as in version 1, by thread 0 of the channel); y = γ·(x − μ)·rstd + β, then the epilogue.
    /// Grid: X over the N·S elements of a channel (grid-stride), Y = channel.
    /// </summary>
    public static void BatchNormNormalizeKernel2(
        ArrayView<float> x,               // (N, C, S)
        ArrayView<float> gamma,           // (C)
        ArrayView<float> beta,            // (C)
        ArrayView<float> mean,            // (C) μ
        ArrayView<float> squarePartials,  // (C, T)
        ArrayView<float> residual,        // (N, C, S), read for AddRelu only
        ArrayView<float> y,               // (N, C, S)
        ArrayView<float> rstd,            // (C) saved rstd
        ArrayView<float> runningMean,     // (C)
        ArrayView<float> runningVar,      // (C)
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation, partialsPerChannel = args.PartialsPerChannel;
        float eps = args.Eps, momentum = args.Momentum;
        int c = Grid.IdxY, count = n * spatial;
        float mu = mean[c];
        float variance = SumOfPartials(squarePartials, c, partialsPerChannel, 1, 0) / count;
        float r = 1f / XMath.Sqrt(variance + eps);
        if (GridStride.Start == 0)
        {
            rstd[c] = r;
            runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mu;
            runningVar[c] = (1f - momentum) * runningVar[c] + momentum * variance * count / (count - 1);
        }
        float g = gamma[c], bt = beta[c];
        for (int j = GridStride.Start; j < count; j += GridStride.Step)
        {
            int i = ChannelElement(j, c, channels, spatial);
            y[i] = Epilogue(g * (x[i] - mu) * r + bt, residual, i, activation);
        }
    }

    /// <summary>partials[(c·T + t)·2] = Σ g, partials[(c·T + t)·2 + 1] = Σ g·x̂ over elements t, t + T, … of channel c (g as in version 1).</summary>
    public static void BatchNormBackwardPartialsKernel2(
        ArrayView<float> x,         // (N, C, S)
        ArrayView<float> y,         // (N, C, S) the op's output, read behind a fused ReLU
        ArrayView<float> mean,      // (C)
        ArrayView<float> rstd,      // (C)
        ArrayView<float> dY,        // (N, C, S)
        ArrayView<float> partials,  // (C, T, 2)
        int n, int channels, int spatial, int activation)
    {
        int c = Grid.IdxY, t = GridStride.Start, partialsPerChannel = GridStride.Step;
        int count = n * spatial;
        float mu = mean[c], r = rstd[c];
        float sumDy = 0f, sumDyXhat = 0f;
        for (int j = t; j < count; j += partialsPerChannel)
        {
            int i = ChannelElement(j, c, channels, spatial);
            float dy = MaskedGrad(dY, y, i, activation);
            sumDy += dy;
            sumDyXhat += dy * (x[i] - mu) * r;
        }
        partials[(c * partialsPerChannel + t) * 2] = sumDy;
        partials[(c * partialsPerChannel + t) * 2 + 1] = sumDyXhat;
    }

    /// <summary>
    /// Σ g and Σ g·x̂ of channel c from its partials (dβ += Σ g, dγ += Σ g·x̂ by thread 0 of the channel);
    /// dx (+)= γ·rstd·(g − mean(g) − x̂·mean(g·x̂)); for AddRelu dr += g.
    /// Grid: X over the N·S elements of a channel (grid-stride), Y = channel.
    /// </summary>
    public static void BatchNormBackwardInputKernel2(
        ArrayView<float> x,          // (N, C, S)
        ArrayView<float> y,          // (N, C, S) the op's output, read behind a fused ReLU
        ArrayView<float> gamma,      // (C)
        ArrayView<float> mean,       // (C)
        ArrayView<float> rstd,       // (C)
        ArrayView<float> partials,   // (C, T, 2)
        ArrayView<float> dY,         // (N, C, S)
        ArrayView<float> dX,         // (N, C, S), accumulated into unless accumulate is 0
        ArrayView<float> dGamma,     // (C), accumulated into
        ArrayView<float> dBeta,      // (C), accumulated into
        ArrayView<float> dResidual,  // (N, C, S), accumulated into for AddRelu
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation, accumulate = args.Accumulate;
        int partialsPerChannel = args.PartialsPerChannel;
        int c = Grid.IdxY, count = n * spatial;
        float sumDy = SumOfPartials(partials, c, partialsPerChannel, 2, 0);
        float sumDyXhat = SumOfPartials(partials, c, partialsPerChannel, 2, 1);
        if (GridStride.Start == 0)
        {
            dBeta[c] += sumDy;
            dGamma[c] += sumDyXhat;
        }
        float meanDy = sumDy / count, meanDyXhat = sumDyXhat / count;
        float mu = mean[c], r = rstd[c], g = gamma[c];
        for (int j = GridStride.Start; j < count; j += GridStride.Step)
        {
            int i = ChannelElement(j, c, channels, spatial);
            float dy = MaskedGrad(dY, y, i, activation);
            float xhat = (x[i] - mu) * r;
            float d = g * r * (dy - meanDy - xhat * meanDyXhat);
            dX[i] = accumulate != 0 ? dX[i] + d : d;
            if (activation == AddRelu)
                dResidual[i] += dy;
        }
    }
}
