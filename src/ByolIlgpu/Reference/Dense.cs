namespace ByolIlgpu.Reference;

/// <summary>
/// Plain C# references of the dense ops, in double precision: the maths a reader checks the
/// kernels against, the oracle of the tests, and what `byol selftest` compares a new device with.
/// Layouts are row-major and match the kernels' (shapes in the comments).
/// </summary>
public static class Dense
{
    /// <summary>C = α·op(A)·op(B) + β·C.</summary>
    public static double[] Matmul(double[] a, double[] b, double[]? c, int m, int n, int k, bool transA, bool transB, double alpha = 1, double beta = 0)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                result[i * n + j] = alpha * acc + (beta == 0 || c is null ? 0 : beta * c[i * n + j]);
            }
        return result;
    }

    /// <summary>Y = X·Wᵀ + b: x (N, I), w (O, I), b (O) → (N, O).</summary>
    public static double[] LinearForward(double[] x, double[] w, double[]? b, int n, int inF, int outF)
    {
        var y = Matmul(x, w, null, n, outF, inF, false, true);
        if (b is not null)
            for (int i = 0; i < n; i++)
                for (int o = 0; o < outF; o++)
                    y[i * outF + o] += b[o];
        return y;
    }

    /// <summary>dX = dY·W, dW = dYᵀ·X, db = Σ_n dY.</summary>
    public static (double[] dX, double[] dW, double[] dB) LinearBackward(double[] x, double[] w, double[] dY, int n, int inF, int outF)
    {
        var dX = Matmul(dY, w, null, n, inF, outF, false, false);
        var dW = Matmul(dY, x, null, outF, inF, n, true, false);
        var dB = new double[outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
                dB[o] += dY[i * outF + o];
        return (dX, dW, dB);
    }

    /// <summary>Training-mode batch norm over (N, C, S); returns y, the batch mean and the biased variance.</summary>
    public static (double[] y, double[] mean, double[] variance) BatchNormTrain(double[] x, double[] gamma, double[] beta, int n, int c, int s, double eps)
    {
        var y = new double[x.Length];
        var mean = new double[c];
        var variance = new double[c];
        int count = n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            foreach (int i in ChannelIndices(n, c, s, ch)) sum += x[i];
            double mu = sum / count;
            double sq = 0;
            foreach (int i in ChannelIndices(n, c, s, ch)) sq += (x[i] - mu) * (x[i] - mu);
            double var = sq / count;
            double rstd = 1 / Math.Sqrt(var + eps);
            foreach (int i in ChannelIndices(n, c, s, ch)) y[i] = gamma[ch] * (x[i] - mu) * rstd + beta[ch];
            mean[ch] = mu;
            variance[ch] = var;
        }
        return (y, mean, variance);
    }

    /// <summary>running ← (1 − m)·running + m·statistic, the variance made unbiased with M/(M − 1), M = N·S.</summary>
    public static (double[] mean, double[] variance) BatchNormRunningUpdate(double[] runningMean, double[] runningVar,
        double[] batchMean, double[] batchVar, int count, double momentum)
    {
        var m = new double[runningMean.Length];
        var v = new double[runningVar.Length];
        for (int i = 0; i < m.Length; i++)
        {
            m[i] = (1 - momentum) * runningMean[i] + momentum * batchMean[i];
            v[i] = (1 - momentum) * runningVar[i] + momentum * batchVar[i] * count / (count - 1);
        }
        return (m, v);
    }

    /// <summary>Evaluation-mode batch norm: y = γ·(x − running_mean)/√(running_var + ε) + β.</summary>
    public static double[] BatchNormEval(double[] x, double[] gamma, double[] beta, double[] runningMean, double[] runningVar, int n, int c, int s, double eps)
    {
        var y = new double[x.Length];
        for (int ch = 0; ch < c; ch++)
            foreach (int i in ChannelIndices(n, c, s, ch))
                y[i] = gamma[ch] * (x[i] - runningMean[ch]) / Math.Sqrt(runningVar[ch] + eps) + beta[ch];
        return y;
    }

    /// <summary>Training-mode backward: dγ = Σ dy·x̂, dβ = Σ dy, dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)).</summary>
    public static (double[] dX, double[] dGamma, double[] dBeta) BatchNormBackward(double[] x, double[] gamma, double[] dY, int n, int c, int s, double eps)
    {
        var (_, mean, variance) = BatchNormTrain(x, gamma, new double[c], n, c, s, eps);
        var dX = new double[x.Length];
        var dGamma = new double[c];
        var dBeta = new double[c];
        int count = n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double rstd = 1 / Math.Sqrt(variance[ch] + eps);
            double sumDy = 0, sumDyXhat = 0;
            foreach (int i in ChannelIndices(n, c, s, ch))
            {
                sumDy += dY[i];
                sumDyXhat += dY[i] * (x[i] - mean[ch]) * rstd;
            }
            dGamma[ch] = sumDyXhat;
            dBeta[ch] = sumDy;
            foreach (int i in ChannelIndices(n, c, s, ch))
            {
                double xhat = (x[i] - mean[ch]) * rstd;
                dX[i] = gamma[ch] * rstd * (dY[i] - sumDy / count - xhat * sumDyXhat / count);
            }
        }
        return (dX, dGamma, dBeta);
    }

    /// <summary>
    /// The fused op: y = max(BN(x) + r, 0), or y = max(BN(x), 0) without <paramref name="residual"/>;
    /// BN in training mode as <see cref="BatchNormTrain"/>.
    /// </summary>
    public static double[] BatchNormReluTrain(double[] x, double[] gamma, double[] beta, double[]? residual, int n, int c, int s, double eps)
    {
        var (pre, _, _) = BatchNormTrain(x, gamma, beta, n, c, s, eps);
        if (residual is not null)
            for (int i = 0; i < pre.Length; i++)
                pre[i] += residual[i];
        return Relu(pre);
    }

    /// <summary>
    /// Its backward: g = dy·[y > 0]; dx, dγ, dβ = the BatchNorm backward of g (<see cref="BatchNormBackward"/>); dr = g.
    /// </summary>
    public static (double[] dX, double[] dGamma, double[] dBeta, double[] dResidual) BatchNormReluBackward(
        double[] x, double[] gamma, double[] beta, double[]? residual, double[] dY, int n, int c, int s, double eps)
    {
        var g = ReluBackward(BatchNormReluTrain(x, gamma, beta, residual, n, c, s, eps), dY);
        var (dX, dGamma, dBeta) = BatchNormBackward(x, gamma, g, n, c, s, eps);
        return (dX, dGamma, dBeta, g);
    }

    /// <summary>Flat indices of channel <paramref name="ch"/> in an (N, C, S) array.</summary>
    public static IEnumerable<int> ChannelIndices(int n, int c, int s, int ch)
    {
        for (int b = 0; b < n; b++)
            for (int i = 0; i < s; i++)
                yield return (b * c + ch) * s + i;
    }

    public static double[] Relu(double[] x) => x.Select(v => v > 0 ? v : 0).ToArray();

    /// <summary>dx = dy·[y > 0].</summary>
    public static double[] ReluBackward(double[] y, double[] dY) => y.Select((v, i) => v > 0 ? dY[i] : 0).ToArray();

    /// <summary>Row-wise y = x/max(‖x‖, ε) for x (N, D).</summary>
    public static double[] L2Normalize(double[] x, int rows, int dim, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, dim).Sum(d => x[r * dim + d] * x[r * dim + d]));
            for (int d = 0; d < dim; d++)
                y[r * dim + d] = x[r * dim + d] / Math.Max(norm, eps);
        }
        return y;
    }

    /// <summary>dx = (dy − y·⟨y, dy⟩)/‖x‖ per row.</summary>
    public static double[] L2NormalizeBackward(double[] x, double[] dY, int rows, int dim, double eps)
    {
        var y = L2Normalize(x, rows, dim, eps);
        var dX = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, dim).Sum(d => x[r * dim + d] * x[r * dim + d]));
            double dot = Enumerable.Range(0, dim).Sum(d => y[r * dim + d] * dY[r * dim + d]);
            for (int d = 0; d < dim; d++)
                dX[r * dim + d] = norm > eps ? (dY[r * dim + d] - y[r * dim + d] * dot) / norm : dY[r * dim + d] / eps;
        }
        return dX;
    }

    /// <summary>Per-row BYOL pair loss 2 − 2⟨p/‖p‖, z/‖z‖⟩ for p, z (N, D).</summary>
    public static double[] ByolPairLoss(double[] p, double[] z, int rows, int dim, double eps)
    {
        var pn = L2Normalize(p, rows, dim, eps);
        var zn = L2Normalize(z, rows, dim, eps);
        var loss = new double[rows];
        for (int r = 0; r < rows; r++)
            loss[r] = 2 - 2 * Enumerable.Range(0, dim).Sum(d => pn[r * dim + d] * zn[r * dim + d]);
        return loss;
    }

    /// <summary>∂(Σ_r g_r·ℓ_r)/∂p = g_r·(−2/‖p‖)·(ẑ − ⟨p̂, ẑ⟩·p̂) per row.</summary>
    public static double[] ByolPairLossBackward(double[] p, double[] z, double[] dLoss, int rows, int dim, double eps)
    {
        var pn = L2Normalize(p, rows, dim, eps);
        var zn = L2Normalize(z, rows, dim, eps);
        var dP = new double[p.Length];
        for (int r = 0; r < rows; r++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, dim).Sum(d => p[r * dim + d] * p[r * dim + d]));
            double cos = Enumerable.Range(0, dim).Sum(d => pn[r * dim + d] * zn[r * dim + d]);
            for (int d = 0; d < dim; d++)
                dP[r * dim + d] = dLoss[r] * (-2 / norm) * (zn[r * dim + d] - cos * pn[r * dim + d]);
        }
        return dP;
    }

    public static double Sum(double[] x) => x.Sum();

    public static double Mean(double[] x) => x.Sum() / x.Length;
}

/// <summary>Plain references of the classifier used by linear evaluation.</summary>
public static class Classifier
{
    /// <summary>ℓ_n = log Σ_j exp(z_nj) − z_n,y_n for logits (N, C).</summary>
    public static double[] CrossEntropy(double[] logits, int[] labels, int rows, int classes)
    {
        var loss = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double max = Enumerable.Range(0, classes).Max(j => logits[r * classes + j]);
            double sum = Enumerable.Range(0, classes).Sum(j => Math.Exp(logits[r * classes + j] - max));
            loss[r] = Math.Log(sum) + max - logits[r * classes + labels[r]];
        }
        return loss;
    }

    /// <summary>∂(Σ g_n ℓ_n)/∂z = g_n·(softmax(z_n) − onehot(y_n)).</summary>
    public static double[] CrossEntropyBackward(double[] logits, int[] labels, double[] dLoss, int rows, int classes)
    {
        var d = new double[logits.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = Enumerable.Range(0, classes).Max(j => logits[r * classes + j]);
            double sum = Enumerable.Range(0, classes).Sum(j => Math.Exp(logits[r * classes + j] - max));
            for (int j = 0; j < classes; j++)
                d[r * classes + j] = dLoss[r] * (Math.Exp(logits[r * classes + j] - max) / sum - (j == labels[r] ? 1 : 0));
        }
        return d;
    }
}
