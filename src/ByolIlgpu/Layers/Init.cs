namespace ByolIlgpu.Layers;

/// <summary>Initialisers as PyTorch and torchvision use them, drawn from the store's seeded generator.</summary>
public static class Init
{
    /// <summary>U(−bound, bound).</summary>
    public static Action<float[], Random> Uniform(double bound) => (values, rng) =>
    {
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
    };

    /// <summary>N(0, std²) by Box–Muller.</summary>
    public static Action<float[], Random> Normal(double std) => (values, rng) =>
    {
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(std * StandardNormal(rng));
    };

    public static Action<float[], Random> Constant(float value) => (values, _) => Array.Fill(values, value);

    /// <summary>
    /// nn.Linear's default: weight and bias U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5 gives
    /// that bound for the weight).
    /// </summary>
    public static Action<float[], Random> LinearDefault(int fanIn) => Uniform(1.0 / Math.Sqrt(fanIn));

    /// <summary>torchvision ResNet convolutions: kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = √(2/fan_out).</summary>
    public static Action<float[], Random> KaimingNormalFanOut(int fanOut) => Normal(Math.Sqrt(2.0 / fanOut));

    public static double StandardNormal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();   // (0, 1]: log is finite
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
