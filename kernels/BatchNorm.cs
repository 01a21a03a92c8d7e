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
/// Version 1: one thread per channel, sums in a fixed order (deterministic).
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
}
