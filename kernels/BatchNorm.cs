using System.Runtime.CompilerServices;
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

    // ---- Version 3 (CPU-like devices): a work-item per (channel, sample) plane, a work-item per channel to combine them. ----
    // PoCL vectorises straight-line code over contiguous values inside a work-item, not a loop whose
    // body branches per element: each plane is walked in runs of PlaneLanes values, every run loaded
    // whole before anything is stored, and the epilogue's and the accumulation's branches are taken once
    // per plane, outside the runs (the activation and bool arguments below are constants at every call, so ILGPU folds them).

    /// <summary>
    /// Lanes of version 3's plane sums: element s of a plane adds into lane s mod 8 (eight independent
    /// chains, which PoCL turns into one vector add per 8 elements where one chain would wait on each
    /// add; the S mod 8 tail is added to the stored lanes after). The plane kernels store their lanes, 8 contiguous
    /// values: stores are what PoCL's vectoriser starts from (summed in the kernel, the lanes stay
    /// scalar chains). A plane's sum is ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). Fixed, so
    /// results never depend on the launch shape.
    /// </summary>
    public const int PlaneLanes = 8;

    static float Lanes(float l0, float l1, float l2, float l3, float l4, float l5, float l6, float l7) =>
        ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7));

    /// <summary>A plane's sum from its 8 stored lanes at lanes[at …].</summary>
    static float StoredLanes(ArrayView<float> lanes, int at) =>
        Lanes(lanes[at], lanes[at + 1], lanes[at + 2], lanes[at + 3], lanes[at + 4], lanes[at + 5], lanes[at + 6], lanes[at + 7]);

    /// <summary>
    /// lanes[at + k] = Σ_{s mod 8 = k} (x[o + s] − shift), squared when <paramref name="square"/>, over one
    /// plane of S contiguous values; returns the plane's sum of them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the bool arguments must fold
    static float PlaneLaneSums(ArrayView<float> x, int o, int spatial, float shift, bool square, ArrayView<float> lanes, int at)
    {
        float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f, l4 = 0f, l5 = 0f, l6 = 0f, l7 = 0f;
        int full = spatial - spatial % PlaneLanes;
        for (int s = 0; s < full; s += PlaneLanes)
        {
            int i = o + s;
            float d0 = x[i] - shift, d1 = x[i + 1] - shift, d2 = x[i + 2] - shift, d3 = x[i + 3] - shift;
            float d4 = x[i + 4] - shift, d5 = x[i + 5] - shift, d6 = x[i + 6] - shift, d7 = x[i + 7] - shift;
            if (square)
            {
                l0 += d0 * d0; l1 += d1 * d1; l2 += d2 * d2; l3 += d3 * d3; l4 += d4 * d4; l5 += d5 * d5; l6 += d6 * d6; l7 += d7 * d7;
            }
            else
            {
                l0 += d0; l1 += d1; l2 += d2; l3 += d3; l4 += d4; l5 += d5; l6 += d6; l7 += d7;
            }
        }
        lanes[at] = l0; lanes[at + 1] = l1; lanes[at + 2] = l2; lanes[at + 3] = l3;
        lanes[at + 4] = l4; lanes[at + 5] = l5; lanes[at + 6] = l6; lanes[at + 7] = l7;
        // The tail, value s into lane s mod 8, added to the stored lanes: folded into the lanes above, it
        // would keep PoCL from vectorising the runs.
        for (int k = 0; k < spatial - full; k++)
        {
            float d = x[o + full + k] - shift;
            lanes[at + k] += square ? d * d : d;
        }
        return StoredLanes(lanes, at);
    }

    /// <summary>
    /// One pass over each plane's values in memory: the lanes of Σ_s x[b, c, s] at planeStats[((c·N + b)·2)·8 …]
    /// and of Σ_s (x[b, c, s] − μ_b)², μ_b = Σ_s x[b, c, s]/S, at planeStats[((c·N + b)·2 + 1)·8 …]
    /// (the second pass reads the plane again from the core's cache, not from memory).
    /// </summary>
    public static void BatchNormPlaneStatsKernel3(
        ArrayView<float> x,           // (N, C, S)
        ArrayView<float> planeStats,  // (C, N, 2, 8)
        int n, int channels, int spatial)
    {
        for (int idx = GridStride.Start; idx < channels * n; idx += GridStride.Step)
        {
            int c = idx / n, b = idx - c * n;
            int o = (b * channels + c) * spatial;
            float sum = PlaneLaneSums(x, o, spatial, 0f, square: false, planeStats, idx * 2 * PlaneLanes);
            PlaneLaneSums(x, o, spatial, sum / spatial, square: true, planeStats, (idx * 2 + 1) * PlaneLanes);
        }
    }

    /// <summary>
    /// A channel's statistics from its N planes (Chan et al.'s pairwise combination, planes in order
    /// b = 0 … N − 1): μ = Σ_b sum_b/(N·S), σ² = Σ_b (M2_b + S·(μ_b − μ)²)/(N·S), exact since
    /// Σ_s (x − μ)² = Σ_s (x − μ_b)² + S·(μ_b − μ)² on each plane, and with no cancellation where
    /// E[x²] − μ² would cancel. Saves μ and rstd = 1/√(σ² + ε) and updates the running statistics as in version 1.
    /// </summary>
    public static void BatchNormChannelStatsKernel3(
        ArrayView<float> planeStats,   // (C, N, 2, 8) of BatchNormPlaneStatsKernel3
        ArrayView<float> mean,         // (C) saved μ
        ArrayView<float> rstd,         // (C) saved rstd
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial;
        float eps = args.Eps, momentum = args.Momentum;
        int count = n * spatial;
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float total = 0f;
            for (int b = 0; b < n; b++)
                total += StoredLanes(planeStats, (c * n + b) * 2 * PlaneLanes);
            float mu = total / count;
            float m2 = 0f;
            for (int b = 0; b < n; b++)
            {
                float d = StoredLanes(planeStats, (c * n + b) * 2 * PlaneLanes) / spatial - mu;
                m2 += StoredLanes(planeStats, ((c * n + b) * 2 + 1) * PlaneLanes) + spatial * d * d;
            }
            float variance = m2 / count;
            mean[c] = mu;
            rstd[c] = 1f / XMath.Sqrt(variance + eps);
            runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mu;
            runningVar[c] = (1f - momentum) * runningVar[c] + momentum * variance * count / (count - 1);
        }
    }

    /// <summary>y[i … i + 7] = <see cref="Epilogue"/>(γ·(x − μ)·rstd + β) for a constant <paramref name="activation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the activation must fold
    static void NormalizeRun(ArrayView<float> x, ArrayView<float> residual, ArrayView<float> y, int i,
        float g, float mu, float r, float bt, int activation)
    {
        float v0 = g * (x[i] - mu) * r + bt, v1 = g * (x[i + 1] - mu) * r + bt, v2 = g * (x[i + 2] - mu) * r + bt, v3 = g * (x[i + 3] - mu) * r + bt;
        float v4 = g * (x[i + 4] - mu) * r + bt, v5 = g * (x[i + 5] - mu) * r + bt, v6 = g * (x[i + 6] - mu) * r + bt, v7 = g * (x[i + 7] - mu) * r + bt;
        if (activation == AddRelu)
        {
            v0 += residual[i]; v1 += residual[i + 1]; v2 += residual[i + 2]; v3 += residual[i + 3];
            v4 += residual[i + 4]; v5 += residual[i + 5]; v6 += residual[i + 6]; v7 += residual[i + 7];
        }
        if (activation != Plain)
        {
            v0 = v0 > 0f ? v0 : 0f; v1 = v1 > 0f ? v1 : 0f; v2 = v2 > 0f ? v2 : 0f; v3 = v3 > 0f ? v3 : 0f;
            v4 = v4 > 0f ? v4 : 0f; v5 = v5 > 0f ? v5 : 0f; v6 = v6 > 0f ? v6 : 0f; v7 = v7 > 0f ? v7 : 0f;
        }
        y[i] = v0; y[i + 1] = v1; y[i + 2] = v2; y[i + 3] = v3; y[i + 4] = v4; y[i + 5] = v5; y[i + 6] = v6; y[i + 7] = v7;
    }

    /// <summary><see cref="NormalizeRun"/> over one plane, then its S mod 8 tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the activation must fold
    static void NormalizePlane(ArrayView<float> x, ArrayView<float> residual, ArrayView<float> y, int o, int spatial,
        float g, float mu, float r, float bt, int activation)
    {
        int full = spatial - spatial % PlaneLanes;
        for (int s = 0; s < full; s += PlaneLanes)
            NormalizeRun(x, residual, y, o + s, g, mu, r, bt, activation);
        for (int i = o + full; i < o + spatial; i++)
            y[i] = Epilogue(g * (x[i] - mu) * r + bt, residual, i, activation);
    }

    /// <summary>y = γ·(x − μ)·rstd + β on each plane, then the epilogue (μ, rstd of <see cref="BatchNormChannelStatsKernel3"/>).</summary>
    public static void BatchNormPlaneNormalizeKernel3(
        ArrayView<float> x,          // (N, C, S)
        ArrayView<float> gamma,      // (C)
        ArrayView<float> beta,       // (C)
        ArrayView<float> mean,       // (C) μ
        ArrayView<float> rstd,       // (C) rstd
        ArrayView<float> residual,   // (N, C, S), read for AddRelu only
        ArrayView<float> y,          // (N, C, S)
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation;
        for (int idx = GridStride.Start; idx < channels * n; idx += GridStride.Step)
        {
            int c = idx / n, b = idx - c * n;
            float g = gamma[c], bt = beta[c], mu = mean[c], r = rstd[c];
            int o = (b * channels + c) * spatial;
            // One call per activation, each with a constant, so each walk is specialised.
            if (activation == Plain)
                NormalizePlane(x, residual, y, o, spatial, g, mu, r, bt, Plain);
            else if (activation == Relu)
                NormalizePlane(x, residual, y, o, spatial, g, mu, r, bt, Relu);
            else
                NormalizePlane(x, residual, y, o, spatial, g, mu, r, bt, AddRelu);
        }
    }

    /// <summary>Eight consecutive values, returned whole by a helper that ILGPU inlines.</summary>
    struct Run8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;
    }

    /// <summary>g[i … i + 7] = <see cref="MaskedGrad"/> for a constant <paramref name="activation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Run8 Gradients(ArrayView<float> dY, ArrayView<float> y, int i, int activation)
    {
        var e = new Run8 { V0 = dY[i], V1 = dY[i + 1], V2 = dY[i + 2], V3 = dY[i + 3], V4 = dY[i + 4], V5 = dY[i + 5], V6 = dY[i + 6], V7 = dY[i + 7] };
        if (activation != Plain)
        {
            e.V0 = y[i] > 0f ? e.V0 : 0f; e.V1 = y[i + 1] > 0f ? e.V1 : 0f; e.V2 = y[i + 2] > 0f ? e.V2 : 0f; e.V3 = y[i + 3] > 0f ? e.V3 : 0f;
            e.V4 = y[i + 4] > 0f ? e.V4 : 0f; e.V5 = y[i + 5] > 0f ? e.V5 : 0f; e.V6 = y[i + 6] > 0f ? e.V6 : 0f; e.V7 = y[i + 7] > 0f ? e.V7 : 0f;
        }
        return e;
    }

    /// <summary>
    /// The lanes of Σ_s g at lanes[at …] and of Σ_s g·(x − μ) at lanes[at + 8 …] over one plane, g as
    /// <see cref="MaskedGrad"/> for a constant <paramref name="activation"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the activation must fold
    static void GradientPlaneLaneSums(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dY,
        int o, int spatial, float mu, int activation, ArrayView<float> lanes, int at)
    {
        // Two walks of one lane set each, the second reading the plane again from the core's cache: with
        // both lane sets in one walk PoCL leaves the loop scalar.
        int full = spatial - spatial % PlaneLanes;
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, g4 = 0f, g5 = 0f, g6 = 0f, g7 = 0f;
        for (int s = 0; s < full; s += PlaneLanes)
        {
            int i = o + s;
            var e = Gradients(dY, y, i, activation);
            g0 += e.V0; g1 += e.V1; g2 += e.V2; g3 += e.V3; g4 += e.V4; g5 += e.V5; g6 += e.V6; g7 += e.V7;
        }
        lanes[at] = g0; lanes[at + 1] = g1; lanes[at + 2] = g2; lanes[at + 3] = g3; lanes[at + 4] = g4; lanes[at + 5] = g5; lanes[at + 6] = g6; lanes[at + 7] = g7;
        float h0 = 0f, h1 = 0f, h2 = 0f, h3 = 0f, h4 = 0f, h5 = 0f, h6 = 0f, h7 = 0f;
        for (int s = 0; s < full; s += PlaneLanes)
        {
            int i = o + s;
            var e = Gradients(dY, y, i, activation);
            h0 += e.V0 * (x[i] - mu); h1 += e.V1 * (x[i + 1] - mu); h2 += e.V2 * (x[i + 2] - mu); h3 += e.V3 * (x[i + 3] - mu);
            h4 += e.V4 * (x[i + 4] - mu); h5 += e.V5 * (x[i + 5] - mu); h6 += e.V6 * (x[i + 6] - mu); h7 += e.V7 * (x[i + 7] - mu);
        }
        lanes[at + PlaneLanes] = h0; lanes[at + PlaneLanes + 1] = h1; lanes[at + PlaneLanes + 2] = h2; lanes[at + PlaneLanes + 3] = h3;
        lanes[at + PlaneLanes + 4] = h4; lanes[at + PlaneLanes + 5] = h5; lanes[at + PlaneLanes + 6] = h6; lanes[at + PlaneLanes + 7] = h7;
        // The tail, value s into lane s mod 8, added to the stored lanes (as in PlaneLaneSums).
        for (int k = 0; k < spatial - full; k++)
        {
            int i = o + full + k;
            float e = MaskedGrad(dY, y, i, activation);
            lanes[at + k] += e;
            lanes[at + PlaneLanes + k] += e * (x[i] - mu);
        }
    }

    /// <summary>
    /// The lanes of Σ_s g at partials[((c·N + b)·2)·8 …] and of Σ_s g·(x − μ) at partials[((c·N + b)·2 + 1)·8 …]
    /// over plane (b, c) (g as in version 1).
    /// </summary>
    public static void BatchNormPlaneBackwardPartialsKernel3(
        ArrayView<float> x,         // (N, C, S)
        ArrayView<float> y,         // (N, C, S) the op's output, read behind a fused ReLU
        ArrayView<float> mean,      // (C)
        ArrayView<float> dY,        // (N, C, S)
        ArrayView<float> partials,  // (C, N, 2, 8)
        int n, int channels, int spatial, int activation)
    {
        for (int idx = GridStride.Start; idx < channels * n; idx += GridStride.Step)
        {
            int c = idx / n, b = idx - c * n;
            int o = (b * channels + c) * spatial;
            // A constant per call (Relu and AddRelu mask alike), so each walk is specialised.
            if (activation == Plain)
                GradientPlaneLaneSums(x, y, dY, o, spatial, mean[c], Plain, partials, idx * 2 * PlaneLanes);
            else
                GradientPlaneLaneSums(x, y, dY, o, spatial, mean[c], Relu, partials, idx * 2 * PlaneLanes);
        }
    }

    /// <summary>
    /// Σ g and Σ g·x̂ = rstd·Σ g·(x − μ) of channel c from its N planes' partials in order b = 0 … N − 1:
    /// dβ += Σ g, dγ += Σ g·x̂; channelGrad[c·2] = mean(g) = Σ g/(N·S), channelGrad[c·2 + 1] = mean(g·x̂).
    /// </summary>
    public static void BatchNormChannelGradKernel3(
        ArrayView<float> partials,     // (C, N, 2, 8) of BatchNormPlaneBackwardPartialsKernel3
        ArrayView<float> rstd,         // (C)
        ArrayView<float> channelGrad,  // (C, 2)
        ArrayView<float> dGamma,       // (C), accumulated into
        ArrayView<float> dBeta,        // (C), accumulated into
        int n, int channels, int spatial)
    {
        int count = n * spatial;
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float sumDy = 0f, sumDyCentred = 0f;
            for (int b = 0; b < n; b++)
            {
                sumDy += StoredLanes(partials, (c * n + b) * 2 * PlaneLanes);
                sumDyCentred += StoredLanes(partials, ((c * n + b) * 2 + 1) * PlaneLanes);
            }
            float sumDyXhat = sumDyCentred * rstd[c];
            dBeta[c] += sumDy;
            dGamma[c] += sumDyXhat;
            channelGrad[c * 2] = sumDy / count;
            channelGrad[c * 2 + 1] = sumDyXhat / count;
        }
    }

    /// <summary>
    /// d = γ·rstd·(g − mean(g) − x̂·mean(g·x̂)) for i … i + 7, written to dX (added to it when
    /// <paramref name="accumulate"/>), g as <see cref="MaskedGrad"/>, added to dResidual for AddRelu;
    /// <paramref name="activation"/> and <paramref name="accumulate"/> constant at the call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the arguments must fold
    static void BackwardInputRun(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dY, ArrayView<float> dX, ArrayView<float> dResidual,
        int i, float scale, float mu, float r, float meanDy, float meanDyXhat, int activation, bool accumulate)
    {
        var e = Gradients(dY, y, i, activation);
        float d0 = scale * (e.V0 - meanDy - (x[i] - mu) * r * meanDyXhat), d1 = scale * (e.V1 - meanDy - (x[i + 1] - mu) * r * meanDyXhat);
        float d2 = scale * (e.V2 - meanDy - (x[i + 2] - mu) * r * meanDyXhat), d3 = scale * (e.V3 - meanDy - (x[i + 3] - mu) * r * meanDyXhat);
        float d4 = scale * (e.V4 - meanDy - (x[i + 4] - mu) * r * meanDyXhat), d5 = scale * (e.V5 - meanDy - (x[i + 5] - mu) * r * meanDyXhat);
        float d6 = scale * (e.V6 - meanDy - (x[i + 6] - mu) * r * meanDyXhat), d7 = scale * (e.V7 - meanDy - (x[i + 7] - mu) * r * meanDyXhat);
        if (accumulate)
        {
            d0 += dX[i]; d1 += dX[i + 1]; d2 += dX[i + 2]; d3 += dX[i + 3]; d4 += dX[i + 4]; d5 += dX[i + 5]; d6 += dX[i + 6]; d7 += dX[i + 7];
        }
        float q0 = 0f, q1 = 0f, q2 = 0f, q3 = 0f, q4 = 0f, q5 = 0f, q6 = 0f, q7 = 0f;
        if (activation == AddRelu)
        {
            q0 = dResidual[i] + e.V0; q1 = dResidual[i + 1] + e.V1; q2 = dResidual[i + 2] + e.V2; q3 = dResidual[i + 3] + e.V3;
            q4 = dResidual[i + 4] + e.V4; q5 = dResidual[i + 5] + e.V5; q6 = dResidual[i + 6] + e.V6; q7 = dResidual[i + 7] + e.V7;
        }
        dX[i] = d0; dX[i + 1] = d1; dX[i + 2] = d2; dX[i + 3] = d3; dX[i + 4] = d4; dX[i + 5] = d5; dX[i + 6] = d6; dX[i + 7] = d7;
        if (activation == AddRelu)
        {
            dResidual[i] = q0; dResidual[i + 1] = q1; dResidual[i + 2] = q2; dResidual[i + 3] = q3;
            dResidual[i + 4] = q4; dResidual[i + 5] = q5; dResidual[i + 6] = q6; dResidual[i + 7] = q7;
        }
    }

    /// <summary><see cref="BackwardInputRun"/> over one plane, then its S mod 8 tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // ILGPU inlines only this or tiny methods: the arguments must fold
    static void BackwardInputPlane(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dY, ArrayView<float> dX, ArrayView<float> dResidual,
        int o, int spatial, float scale, float mu, float r, float meanDy, float meanDyXhat, int activation, bool accumulate)
    {
        int full = spatial - spatial % PlaneLanes;
        for (int s = 0; s < full; s += PlaneLanes)
            BackwardInputRun(x, y, dY, dX, dResidual, o + s, scale, mu, r, meanDy, meanDyXhat, activation, accumulate);
        for (int i = o + full; i < o + spatial; i++)
        {
            float e = MaskedGrad(dY, y, i, activation);
            float d = scale * (e - meanDy - (x[i] - mu) * r * meanDyXhat);
            dX[i] = accumulate ? dX[i] + d : d;
            if (activation == AddRelu)
                dResidual[i] += e;
        }
    }

    /// <summary>
    /// dx (+)= γ·rstd·(g − mean(g) − x̂·mean(g·x̂)) on each plane (the means of <see cref="BatchNormChannelGradKernel3"/>);
    /// for AddRelu dr += g.
    /// </summary>
    public static void BatchNormPlaneBackwardInputKernel3(
        ArrayView<float> x,            // (N, C, S)
        ArrayView<float> y,            // (N, C, S) the op's output, read behind a fused ReLU
        ArrayView<float> gamma,        // (C)
        ArrayView<float> mean,         // (C)
        ArrayView<float> rstd,         // (C)
        ArrayView<float> channelGrad,  // (C, 2): mean(g), mean(g·x̂)
        ArrayView<float> dY,           // (N, C, S)
        ArrayView<float> dX,           // (N, C, S), accumulated into unless accumulate is 0
        ArrayView<float> dResidual,    // (N, C, S), accumulated into for AddRelu
        BatchNormArgs args)
    {
        int n = args.N, channels = args.Channels, spatial = args.Spatial, activation = args.Activation;
        bool accumulate = args.Accumulate != 0;
        for (int idx = GridStride.Start; idx < channels * n; idx += GridStride.Step)
        {
            int c = idx / n, b = idx - c * n;
            float mu = mean[c], r = rstd[c], scale = gamma[c] * r, meanDy = channelGrad[c * 2], meanDyXhat = channelGrad[c * 2 + 1];
            int o = (b * channels + c) * spatial;
            // One call per (activation, accumulate), each with constants, so each walk is specialised.
            if (activation == Plain)
            {
                if (accumulate)
                    BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, Plain, accumulate: true);
                else
                    BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, Plain, accumulate: false);
            }
            else if (activation == Relu)
            {
                if (accumulate)
                    BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, Relu, accumulate: true);
                else
                    BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, Relu, accumulate: false);
            }
            else if (accumulate)
                BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, AddRelu, accumulate: true);
            else
                BackwardInputPlane(x, y, dY, dX, dResidual, o, spatial, scale, mu, r, meanDy, meanDyXhat, AddRelu, accumulate: false);
        }
    }
}
