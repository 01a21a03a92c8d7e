namespace ByolIlgpu.Reference;

/// <summary>
/// Plain references of the parameter updates, one tensor at a time (the kernels do all tensors in
/// one launch). Each returns the new weights and state; <c>decay</c> false marks biases and BatchNorm.
/// </summary>
public static class Optimizers
{
    /// <summary>ξ ← τ·ξ + (1 − τ)·θ.</summary>
    public static double[] Ema(double[] teacher, double[] student, double tau) =>
        teacher.Select((t, i) => tau * t + (1 - tau) * student[i]).ToArray();

    /// <summary>torch.optim.SGD: v ← μ·v + (g + λw); w ← w − lr·v.</summary>
    public static (double[] w, double[] v) Sgd(double[] w, double[] g, double[] v, double lr, double momentum, double weightDecay, bool decay)
    {
        double lambda = decay ? weightDecay : 0;
        var nv = new double[w.Length];
        var nw = new double[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            nv[i] = momentum * v[i] + g[i] + lambda * w[i];
            nw[i] = w[i] - lr * nv[i];
        }
        return (nw, nv);
    }

    /// <summary>
    /// LARS: u = g + λw, scale = min(η‖w‖/‖u‖/lr, 1) (1 if a norm is 0 or the tensor is excluded),
    /// v ← μ·v + scale·u, w ← w − lr·v.
    /// </summary>
    public static (double[] w, double[] v, double scale) Lars(double[] w, double[] g, double[] v, double lr, double momentum,
        double weightDecay, double trustCoefficient, bool decay)
    {
        double lambda = decay ? weightDecay : 0;
        var u = g.Select((gi, i) => gi + lambda * w[i]).ToArray();
        double wNorm = Math.Sqrt(w.Sum(x => x * x)), uNorm = Math.Sqrt(u.Sum(x => x * x));
        double scale = decay && wNorm > 0 && uNorm > 0 && lr > 0 ? Math.Min(trustCoefficient * wNorm / uNorm / lr, 1) : 1;
        var nv = new double[w.Length];
        var nw = new double[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            nv[i] = momentum * v[i] + scale * u[i];
            nw[i] = w[i] - lr * nv[i];
        }
        return (nw, nv, scale);
    }

    /// <summary>torch.optim.Adam (decoupled false) / AdamW (true) at step <paramref name="step"/> ≥ 1.</summary>
    public static (double[] w, double[] m, double[] v) Adam(double[] w, double[] g, double[] m, double[] v, long step, double lr,
        double beta1, double beta2, double eps, double weightDecay, bool decoupled, bool decay)
    {
        double lambda = decay ? weightDecay : 0;
        double c1 = 1 - Math.Pow(beta1, step), c2 = 1 - Math.Pow(beta2, step);
        var nw = new double[w.Length];
        var nm = new double[w.Length];
        var nv = new double[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            double wi = w[i], gi = g[i];
            if (decoupled) wi *= 1 - lr * lambda;
            else gi += lambda * wi;
            nm[i] = beta1 * m[i] + (1 - beta1) * gi;
            nv[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
            nw[i] = wi - lr / c1 * nm[i] / (Math.Sqrt(nv[i]) / Math.Sqrt(c2) + eps);
        }
        return (nw, nm, nv);
    }
}
