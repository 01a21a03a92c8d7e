using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

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
/// Version 1: one thread per channel, sums in a fixed order (deterministic); suits BatchNorm1d's
/// thousands of channels. Version 2 (BatchNorm2d's few channels over many positions): each channel's
/// sums split over a fixed number T of partials (thread t of channel c sums positions t, t + T, …),
/// then one thread per channel adds its T partials in order — deterministic, no atomics; the
/// normalisation and the input gradient are element-wise launches.
/// </summary>
public static class BatchNormKernels
{
    /// <summary>Training-mode forward; saves μ and rstd for the backward and updates the running statistics.</summary>
    public static void BatchNormForwardTrainKernel1(
        ArrayView<float> x,            // (N, C, S)
        ArrayView<float> gamma,        // (C)
        ArrayView<float> beta,         // (C)
        ArrayView<float> y,            // (N, C, S)
        ArrayView<float> mean,         // (C) saved μ
        ArrayView<float> rstd,         // (C) saved 1/√(σ² + ε)
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        int n, int channels, int spatial, float eps, float momentum)
    {
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
                    y[o + s] = g * (x[o + s] - mu) * r + bt;
            }
        }
    }

    /// <summary>Evaluation-mode forward: y = γ·(x − running_mean)/√(running_var + ε) + β.</summary>
    public static void BatchNormForwardEvalKernel(
        ArrayView<float> x,            // (N, C, S)
        ArrayView<float> gamma,        // (C)
        ArrayView<float> beta,         // (C)
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        ArrayView<float> y,            // (N, C, S)
        int n, int channels, int spatial, float eps)
    {
        int total = n * channels * spatial;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int c = (i / spatial) % channels;
            y[i] = gamma[c] * (x[i] - runningMean[c]) / XMath.Sqrt(runningVar[c] + eps) + beta[c];
        }
    }

    /// <summary>
    /// Training-mode backward: dγ[c] += Σ dy·x̂, dβ[c] += Σ dy,
    /// dx += γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) with x̂ = (x − μ)·rstd recomputed from the saved μ, rstd.
    /// </summary>
    public static void BatchNormBackwardKernel1(
        ArrayView<float> x,       // (N, C, S)
        ArrayView<float> gamma,   // (C)
        ArrayView<float> mean,    // (C) saved μ
        ArrayView<float> rstd,    // (C) saved rstd
        ArrayView<float> dY,      // (N, C, S)
        ArrayView<float> dX,      // (N, C, S), accumulated into
        ArrayView<float> dGamma,  // (C), accumulated into
        ArrayView<float> dBeta,   // (C), accumulated into
        int n, int channels, int spatial)
    {
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
                    float dy = dY[o + s];
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
                    float xhat = (x[o + s] - mu) * r;
                    // term 1: dy; term 2: −mean(dy) (through μ); term 3: −x̂·mean(dy·x̂) (through σ²).
                    dX[o + s] += scale * (dY[o + s] - meanDy - xhat * meanDyXhat);
                }
            }
        }
    }

    // ---- Version 2: split reductions. Grid: X = T partials per channel (exactly), Y = channel. ----

    /// <summary>Element j of channel c in (N, C, S), j ∈ [0, N·S).</summary>
    static int ChannelElement(int j, int c, int channels, int spatial)
    {
        int b = j / spatial;
        return (b * channels + c) * spatial + (j - b * spatial);
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

    /// <summary>mean[c] = Σ_t partials[c·T + t] / (N·S).</summary>
    public static void BatchNormMeanKernel2(
        ArrayView<float> partials,  // (C, T)
        ArrayView<float> mean,      // (C)
        int channels, int partialsPerChannel, int count)
    {
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float sum = 0f;
            for (int t = 0; t < partialsPerChannel; t++)
                sum += partials[c * partialsPerChannel + t];
            mean[c] = sum / count;
        }
    }

    /// <summary>partials[c·T + t] = Σ (x − μ_c)² over elements t, t + T, … of channel c.</summary>
    public static void BatchNormCenteredSquarePartialsKernel2(
        ArrayView<float> x,         // (N, C, S)
        ArrayView<float> mean,      // (C)
        ArrayView<float> partials,  // (C, T)
        int n, int channels, int spatial)
    {
        int c = Grid.IdxY, t = GridStride.Start, partialsPerChannel = GridStride.Step;
        int count = n * spatial;
        float mu = mean[c];
        float sum = 0f;
        for (int j = t; j < count; j += partialsPerChannel)
        {
            float d = x[ChannelElement(j, c, channels, spatial)] - mu;
            sum += d * d;
        }
        partials[c * partialsPerChannel + t] = sum;
    }

    /// <summary>σ² = Σ partials/(N·S), rstd = 1/√(σ² + ε); running statistics updated as in version 1.</summary>
    public static void BatchNormVarianceKernel2(
        ArrayView<float> partials,     // (C, T)
        ArrayView<float> mean,         // (C)
        ArrayView<float> rstd,         // (C)
        ArrayView<float> runningMean,  // (C)
        ArrayView<float> runningVar,   // (C)
        int channels, int partialsPerChannel, int count, float eps, float momentum)
    {
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float sum = 0f;
            for (int t = 0; t < partialsPerChannel; t++)
                sum += partials[c * partialsPerChannel + t];
            float variance = sum / count;
            rstd[c] = 1f / XMath.Sqrt(variance + eps);
            runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mean[c];
            runningVar[c] = (1f - momentum) * runningVar[c] + momentum * variance * count / (count - 1);
        }
    }

    /// <summary>y = γ·(x − μ)·rstd + β, element-wise.</summary>
    public static void BatchNormNormalizeKernel2(
        ArrayView<float> x,      // (N, C, S)
        ArrayView<float> gamma,  // (C)
        ArrayView<float> beta,   // (C)
        ArrayView<float> mean,   // (C)
        ArrayView<float> rstd,   // (C)
        ArrayView<float> y,      // (N, C, S)
        int n, int channels, int spatial)
    {
        int total = n * channels * spatial;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int c = (i / spatial) % channels;
            y[i] = gamma[c] * (x[i] - mean[c]) * rstd[c] + beta[c];
        }
    }

    /// <summary>partials[(c·T + t)·2] = Σ dy, partials[(c·T + t)·2 + 1] = Σ dy·x̂ over elements t, t + T, … of channel c.</summary>
    public static void BatchNormBackwardPartialsKernel2(
        ArrayView<float> x,         // (N, C, S)
        ArrayView<float> mean,      // (C)
        ArrayView<float> rstd,      // (C)
        ArrayView<float> dY,        // (N, C, S)
        ArrayView<float> partials,  // (C, T, 2)
        int n, int channels, int spatial)
    {
        int c = Grid.IdxY, t = GridStride.Start, partialsPerChannel = GridStride.Step;
        int count = n * spatial;
        float mu = mean[c], r = rstd[c];
        float sumDy = 0f, sumDyXhat = 0f;
        for (int j = t; j < count; j += partialsPerChannel)
        {
            int i = ChannelElement(j, c, channels, spatial);
            float dy = dY[i];
            sumDy += dy;
            sumDyXhat += dy * (x[i] - mu) * r;
        }
        partials[(c * partialsPerChannel + t) * 2] = sumDy;
        partials[(c * partialsPerChannel + t) * 2 + 1] = sumDyXhat;
    }

    /// <summary>dβ += Σ dy, dγ += Σ dy·x̂; means[c·2] = mean(dy), means[c·2 + 1] = mean(dy·x̂) for the input gradient.</summary>
    public static void BatchNormBackwardReduceKernel2(
        ArrayView<float> partials,  // (C, T, 2)
        ArrayView<float> dGamma,    // (C), accumulated into
        ArrayView<float> dBeta,     // (C), accumulated into
        ArrayView<float> means,     // (C, 2)
        int channels, int partialsPerChannel, int count)
    {
        for (int c = GridStride.Start; c < channels; c += GridStride.Step)
        {
            float sumDy = 0f, sumDyXhat = 0f;
            for (int t = 0; t < partialsPerChannel; t++)
            {
                sumDy += partials[(c * partialsPerChannel + t) * 2];
                sumDyXhat += partials[(c * partialsPerChannel + t) * 2 + 1];
            }
            dBeta[c] += sumDy;
            dGamma[c] += sumDyXhat;
            means[c * 2] = sumDy / count;
            means[c * 2 + 1] = sumDyXhat / count;
        }
    }

    /// <summary>dx += γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)), element-wise.</summary>
    public static void BatchNormBackwardInputKernel2(
        ArrayView<float> x,      // (N, C, S)
        ArrayView<float> gamma,  // (C)
        ArrayView<float> mean,   // (C)
        ArrayView<float> rstd,   // (C)
        ArrayView<float> means,  // (C, 2)
        ArrayView<float> dY,     // (N, C, S)
        ArrayView<float> dX,     // (N, C, S), accumulated into
        int n, int channels, int spatial)
    {
        int total = n * channels * spatial;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int c = (i / spatial) % channels;
            float r = rstd[c];
            float xhat = (x[i] - mean[c]) * r;
            dX[i] += gamma[c] * r * (dY[i] - means[c * 2] - xhat * means[c * 2 + 1]);
        }
    }
}
