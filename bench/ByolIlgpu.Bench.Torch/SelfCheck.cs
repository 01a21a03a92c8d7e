using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace ByolIlgpu.Bench.Torch;

public static partial class TorchPeer
{
    /// <summary>
    /// Checks the peer and prints what it measures: libtorch's version and threads; every operation's
    /// result on a tiny shape against a plain double-precision loop (matmul in its three layouts, conv2d
    /// forward, backward-input and backward-weight, BatchNorm2d forward, pooling backward, the BYOL pair
    /// loss gradient, EMA, SGD, LARS); the BYOL model's tensors and parameter counts; then Stopwatch
    /// timings (median of runs after warm-up): matmul 1024³, conv2d 64→64 3×3 on 32×32 at batch 32
    /// (forward, backward-input, backward-weight), BatchNorm2d, the flat EMA / SGD / LARS updates, and
    /// the BYOL step at batch 32 width 64 and batch 128 width 16 (heads 512→128), whose first loss must
    /// be finite and in [0, 8]. Returns true when every check passed.
    /// </summary>
    public static bool SelfCheck(TextWriter output, bool timings = true)
    {
        var failures = new List<string>();
        int threads = EnsureInitialized();
        output.WriteLine($"libtorch {Version} (TorchSharp {typeof(torch).Assembly.GetName().Version}), threads {threads} (Environment.ProcessorCount {Environment.ProcessorCount})");

        output.WriteLine("-- numerics against double-precision loops (|got − ref| ≤ 1e-4 + 1e-3·|ref|)");
        using (var scope = NewDisposeScope())
        {
            foreach (var layout in Enum.GetValues<MatmulLayout>())
                CheckMatmul(output, failures, 5, 7, 3, layout);
            foreach (var (r, stride, pad) in new[] { (3, 1, 1), (3, 2, 1), (1, 2, 0) })
                CheckConv(output, failures, 2, 3, 5, 6, 4, r, stride, pad);
            CheckBatchNorm(output, failures, 3, 4, 3, 5);
            CheckPoolBackward(output, failures, 2, 3, 4, 5);
            CheckPairLoss(output, failures, 4, 6);
            CheckFlatUpdates(output, failures);
            CheckLars(output, failures);
        }

        output.WriteLine("-- the BYOL model");
        var shapes = ByolParameterShapes();
        Expect(output, failures, "ByolParameterShapes() total", shapes.Sum(s => s.Length), StudentParameters);
        using (var model = new TorchByol(batch: 2))
        {
            try
            {
                model.CheckParameters();
                var (b, pj, pd) = model.ParameterCounts();
                output.WriteLine($"TorchByol defaults: backbone {b:N0}, projector {pj:N0}, predictor {pd:N0} parameters ({shapes.Count} tensors): OK");
            }
            catch (InvalidOperationException e)
            {
                failures.Add(e.Message);
                output.WriteLine("FAIL " + e.Message);
            }
        }

        if (timings)
            Timings(output, failures);

        output.WriteLine(failures.Count == 0 ? "SELF-CHECK OK" : $"SELF-CHECK FAILED ({failures.Count}): " + string.Join("; ", failures));
        return failures.Count == 0;
    }

    // ---------------------------------------------------------------- timings

    /// <summary>Median and best seconds per call over at least <paramref name="minRuns"/> calls and <paramref name="minSeconds"/>, after warm-up.</summary>
    public static (double Median, double Best, int Runs) Time(Action action, double minSeconds = 1.0, int warmup = 2, int minRuns = 3)
    {
        for (int i = 0; i < warmup; i++)
            action();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minRuns || total.Elapsed.TotalSeconds < minSeconds)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return (times[times.Count / 2], times[0], times.Count);
    }

    static void TimeOp(TextWriter output, TorchOp op)
    {
        var (median, best, runs) = Time(op.Run);
        string rate = op.Flops > 0 ? $"{op.Gflops(median),8:F1} GFLOP/s" : $"{op.GigabytesPerSecond(median),8:F1} GB/s   ";
        output.WriteLine($"{op.Name,-56} {median * 1e3,9:F3} ms (best {best * 1e3:F3}, {runs} runs) {rate}");
    }

    static void Timings(TextWriter output, List<string> failures)
    {
        output.WriteLine($"-- timings (median per call; {Threads} threads)");
        var ops = new List<Func<TorchOp>>
        {
            () => Matmul(1024, 1024, 1024),
            () => Matmul(1024, 1024, 1024, MatmulLayout.ABt),
            () => Matmul(1024, 1024, 1024, MatmulLayout.AtB),
            () => Conv2dForward(32, 64, 32, 32, 64, 3, 1, 1),
            () => Conv2dBackwardInput(32, 64, 32, 32, 64, 3, 1, 1),
            () => Conv2dBackwardWeight(32, 64, 32, 32, 64, 3, 1, 1),
            () => BatchNorm2dForward(32, 64, 32, 32),
            () => BatchNorm2dBackward(32, 64, 32, 32),
            () => GlobalAvgPoolForward(32, 512, 4, 4),
            () => GlobalAvgPoolBackward(32, 512, 4, 4),
            () => ByolPairLoss(256, 256),
            () => Ema(),
            () => Ema(fused: true),
            () => SgdMomentum(),
            () => Lars(),
        };
        foreach (var make in ops)
        {
            using var op = make();
            TimeOp(output, op);
        }
        foreach (var (width, hidden, outDim, batch, steps) in new[] { (64, 4096, 256, 32, 3), (16, 512, 128, 128, 3) })
        {
            using var byol = new TorchByol(width, hidden, outDim, hidden, batch, seed: 0);
            var clock = Stopwatch.StartNew();
            float first = byol.Step();
            double firstSeconds = clock.Elapsed.TotalSeconds;
            string what = $"BYOL step batch {batch} width {width} heads {hidden}→{outDim} (LARS)";
            if (!float.IsFinite(first) || first < 0 || first > 8)
            {
                failures.Add($"{what}: first loss {first} is not finite in [0, 8]");
                output.WriteLine($"FAIL {what}: first loss {first}");
                continue;
            }
            var (median, best, runs) = Time(() => byol.Step(), minSeconds: 0, warmup: 1, minRuns: steps);
            output.WriteLine($"{what}: loss {first:F4} → {byol.LastLoss:F4} over {byol.Steps} steps; first step {firstSeconds:F2} s; " +
                $"{median:F3} s/step (best {best:F3}, {runs} runs) = {batch / median:F1} images/s");
        }
    }

    // ---------------------------------------------------------------- numerics helpers

    static float[] Host(Tensor t) => t.contiguous().data<float>().ToArray();

    static Tensor At(TorchOp op, int i) => (Tensor)op.Owned[i];

    static Tensor Result(object r) => r is Tensor t ? t : ((IList<Tensor>)r)[0];

    static void Expect(TextWriter output, List<string> failures, string what, long got, long expected)
    {
        if (got == expected)
            output.WriteLine($"{what} = {got:N0}: OK");
        else
        {
            failures.Add($"{what} = {got:N0}, expected {expected:N0}");
            output.WriteLine($"FAIL {what} = {got:N0}, expected {expected:N0}");
        }
    }

    static void Compare(TextWriter output, List<string> failures, string what, float[] got, double[] expected, double atol = 1e-4, double rtol = 1e-3)
    {
        if (got.Length != expected.Length)
        {
            failures.Add($"{what}: {got.Length} values, expected {expected.Length}");
            output.WriteLine($"FAIL {what}: {got.Length} values, expected {expected.Length}");
            return;
        }
        double maxDiff = 0;
        int bad = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double diff = Math.Abs(got[i] - expected[i]);
            maxDiff = Math.Max(maxDiff, diff);
            if (!(diff <= atol + rtol * Math.Abs(expected[i])))
            {
                if (bad < 5)
                    output.WriteLine($"  {what}[{i}]: got {got[i]}, expected {expected[i]}");
                bad++;
            }
        }
        if (bad == 0)
            output.WriteLine($"{what}: OK ({got.Length} values, maxdiff {maxDiff:E2})");
        else
        {
            failures.Add($"{what}: {bad} of {got.Length} values off");
            output.WriteLine($"FAIL {what}: {bad} of {got.Length} values off (maxdiff {maxDiff:E2})");
        }
    }

    // ---------------------------------------------------------------- numerics

    static void CheckMatmul(TextWriter output, List<string> failures, int m, int n, int k, MatmulLayout layout)
    {
        using var op = Matmul(m, n, k, layout);
        float[] a = Host(At(op, 0)), b = Host(At(op, 1));
        double A(int i, int l) => layout == MatmulLayout.AtB ? a[l * m + i] : a[i * k + l];
        double B(int l, int j) => layout == MatmulLayout.ABt ? b[j * k + l] : b[l * n + j];
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int l = 0; l < k; l++)
                    s += A(i, l) * B(l, j);
                expected[i * n + j] = s;
            }
        Compare(output, failures, op.Name, Host(Result(op.Evaluate())), expected);
    }

    static void CheckConv(TextWriter output, List<string> failures, int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        int oh = (h + 2 * pad - r) / stride + 1, ow = (w + 2 * pad - r) / stride + 1;
        using var fwd = Conv2dForward(n, c, h, w, k, r, stride, pad);
        using var bwdIn = Conv2dBackwardInput(n, c, h, w, k, r, stride, pad);
        using var bwdW = Conv2dBackwardWeight(n, c, h, w, k, r, stride, pad);
        // Same seed, same draw order: x, w (and dY) are the same in all three.
        float[] x = Host(At(fwd, 0)), wt = Host(At(fwd, 1)), dY = Host(At(bwdIn, 2));
        var y = new double[n * k * oh * ow];          // (N, K, OH, OW)
        var dX = new double[n * c * h * w];           // (N, C, H, W)
        var dW = new double[k * c * r * r];           // (K, C, R, R)
        for (int b = 0; b < n; b++)
            for (int ko = 0; ko < k; ko++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        int yi = ((b * k + ko) * oh + i) * ow + j;
                        double s = 0;
                        for (int ci = 0; ci < c; ci++)
                            for (int rr = 0; rr < r; rr++)
                                for (int ss = 0; ss < r; ss++)
                                {
                                    int ih = i * stride + rr - pad, iw = j * stride + ss - pad;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                                        continue;
                                    int xi = ((b * c + ci) * h + ih) * w + iw, wi = ((ko * c + ci) * r + rr) * r + ss;
                                    s += (double)x[xi] * wt[wi];
                                    dX[xi] += (double)dY[yi] * wt[wi];
                                    dW[wi] += (double)dY[yi] * x[xi];
                                }
                        y[yi] = s;
                    }
        Compare(output, failures, fwd.Name, Host(Result(fwd.Evaluate())), y);
        Compare(output, failures, bwdIn.Name, Host(Result(bwdIn.Evaluate())), dX);
        Compare(output, failures, bwdW.Name, Host(Result(bwdW.Evaluate())), dW);
    }

    static void CheckBatchNorm(TextWriter output, List<string> failures, int n, int c, int h, int w)
    {
        using var op = BatchNorm2dForward(n, c, h, w);
        float[] x = Host(At(op, 0)), gamma = Host(At(op, 1)), beta = Host(At(op, 2));
        var expected = new double[x.Length];
        int hw = h * w, count = n * hw;
        for (int ci = 0; ci < c; ci++)
        {
            double mean = 0, var = 0;
            for (int b = 0; b < n; b++)
                for (int s = 0; s < hw; s++)
                    mean += x[(b * c + ci) * hw + s];
            mean /= count;
            for (int b = 0; b < n; b++)
                for (int s = 0; s < hw; s++)
                    var += Math.Pow(x[(b * c + ci) * hw + s] - mean, 2);
            double rstd = 1 / Math.Sqrt(var / count + 1e-5);
            for (int b = 0; b < n; b++)
                for (int s = 0; s < hw; s++)
                {
                    int i = (b * c + ci) * hw + s;
                    expected[i] = gamma[ci] * (x[i] - mean) * rstd + beta[ci];
                }
        }
        Compare(output, failures, op.Name, Host(Result(op.Evaluate())), expected);
    }

    static void CheckPoolBackward(TextWriter output, List<string> failures, int n, int c, int h, int w)
    {
        using var op = GlobalAvgPoolBackward(n, c, h, w);
        float[] dY = Host(At(op, 1));
        var expected = new double[n * c * h * w];
        for (int i = 0; i < expected.Length; i++)
            expected[i] = dY[i / (h * w)] / (double)(h * w);
        Compare(output, failures, op.Name, Host(Result(op.Evaluate())), expected);
    }

    static void CheckPairLoss(TextWriter output, List<string> failures, int batch, int dim)
    {
        // ∂/∂p of mean_b ℓ: −(2/‖p‖)(ẑ − ⟨p̂, ẑ⟩p̂) / B per row.
        using var op = ByolPairLoss(batch, dim);
        float[] p = Host(At(op, 0)), z = Host(At(op, 1));
        var expected = new double[p.Length];
        for (int b = 0; b < batch; b++)
        {
            double pn = 0, zn = 0, dot = 0;
            for (int d = 0; d < dim; d++)
            {
                pn += (double)p[b * dim + d] * p[b * dim + d];
                zn += (double)z[b * dim + d] * z[b * dim + d];
            }
            pn = Math.Sqrt(pn);
            zn = Math.Sqrt(zn);
            for (int d = 0; d < dim; d++)
                dot += p[b * dim + d] / pn * (z[b * dim + d] / zn);
            for (int d = 0; d < dim; d++)
                expected[b * dim + d] = -(2 / pn) * (z[b * dim + d] / zn - dot * p[b * dim + d] / pn) / batch;
        }
        Compare(output, failures, op.Name + " dP", Host(Result(op.Evaluate())), expected);
    }

    static void CheckFlatUpdates(TextWriter output, List<string> failures)
    {
        const int count = 1000;
        const double tau = 0.9, lr = 0.1, mu = 0.9, wd = 0.01;
        // The small size, and the timed size (the teacher's 14,327,104 floats) on every 1009th element.
        foreach (var (size, stride) in new[] { ((long)count, 1), (TeacherParameters, 1009) })
            foreach (bool fused in new[] { false, true })
            {
                using var op = Ema(size, tau, fused);
                float[] t = Host(At(op, 0)), s = Host(At(op, 1));
                float[] got = Host(Result(op.Evaluate()));
                var idx = Enumerable.Range(0, (int)((size + stride - 1) / stride)).Select(i => i * stride).ToArray();
                Compare(output, failures, op.Name + (stride > 1 ? $" (every {stride}th)" : ""),
                    idx.Select(i => got[i]).ToArray(), idx.Select(i => tau * t[i] + (1 - tau) * s[i]).ToArray());
            }
        using var sgd = SgdMomentum(count, lr, mu, wd);
        float[] w = Host(At(sgd, 0)), g = Host(At(sgd, 1));
        sgd.Evaluate();
        // v starts at 0; twice: v₁ = g + λw₀, w₁ = w₀ − lr·v₁; v₂ = μv₁ + g + λw₁, w₂ = w₁ − lr·v₂.
        var expected = new double[count];
        for (int i = 0; i < count; i++)
        {
            double v1 = g[i] + wd * w[i], w1 = w[i] - lr * v1;
            double v2 = mu * v1 + g[i] + wd * w1;
            expected[i] = w1 - lr * v2;
        }
        Compare(output, failures, sgd.Name + " (2 steps)", Host(Result(sgd.Evaluate())), expected);
    }

    static void CheckLars(TextWriter output, List<string> failures)
    {
        const double lr = 0.5, mu = 0.9, wd = 0.01, eta = 0.02;
        var shapes = ByolParameterShapes(2, 8, 4, 8);
        using var op = Lars(2, 8, 4, 8, lr, mu, wd, eta);
        float[] w = Host(At(op, 0)), g = Host(At(op, 1));   // v starts at 0
        var expected = new double[w.Length];
        long offset = 0;
        foreach (var s in shapes)
        {
            double wSq = 0, uSq = 0;
            for (long i = offset; i < offset + s.Length; i++)
            {
                wSq += (double)w[i] * w[i];
                uSq += Math.Pow(g[i] + wd * w[i], 2);
            }
            double scale = s.Decay && wSq > 0 && uSq > 0 ? Math.Min(eta * Math.Sqrt(wSq) / Math.Sqrt(uSq) / lr, 1) : 1;
            for (long i = offset; i < offset + s.Length; i++)
                expected[i] = w[i] - lr * (s.Decay ? scale * (g[i] + wd * w[i]) : g[i]);
            offset += s.Length;
        }
        Compare(output, failures, op.Name, Host(Result(op.Evaluate())), expected);
    }
}
