namespace ByolIlgpu.Byol;

/// <summary>
/// Per-step schedules. Learning rate: linear warm-up from 0 over the warm-up steps, then a cosine to 0:
/// lr_k = base·k/W for k &lt; W, else base·(1 + cos(π·(k − W)/(K − W)))/2. The EMA's τ is in <see cref="Optim.Ema.CosineTau"/>.
/// </summary>
public static class Schedules
{
    public static double WarmupCosine(double baseLr, long step, long warmupSteps, long totalSteps)
    {
        if (step < warmupSteps)
            return baseLr * step / warmupSteps;
        long decaySteps = totalSteps - warmupSteps;
        if (decaySteps <= 0)
            return baseLr;
        double progress = Math.Clamp((double)(step - warmupSteps) / decaySteps, 0, 1);
        return baseLr * (1 + Math.Cos(Math.PI * progress)) / 2;
    }

    /// <summary>LARS's base lr is given for batch 256 and scaled linearly: lr = base·B/256.</summary>
    public static double ScaledLearningRate(double baseLr, int batchSize) => baseLr * batchSize / 256.0;
}
