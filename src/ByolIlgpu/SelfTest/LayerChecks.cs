using ILGPU.Runtime;
using ByolIlgpu.Engine;
using Ref = ByolIlgpu.Reference.Dense;
using RefPool = ByolIlgpu.Reference.Pool;

namespace ByolIlgpu.SelfTest;

/// <summary>
/// The layers between the GEMMs and the losses, each on the tape against its double reference, the
/// backward against finite differences at a tiny shape; on GPUs and PoCL also at a ResNet-18 shape.
/// </summary>
public static class LayerChecks
{
    /// <summary>(shape, finite differences?) pairs: the tiny one always (with finite differences), a realistic one on large devices.</summary>
    static IEnumerable<(T Shape, bool FiniteDifferences)> Shapes<T>(SelfTestContext context, T tiny, T realistic) =>
        context.Large ? [(tiny, true), (realistic, false)] : [(tiny, true)];

    /// <summary>
    /// Training mode (y, the running statistics with the unbiased variance, dX, dγ, dβ), the fused
    /// ReLU and ReLU + residual epilogues, and evaluation mode; every version, BatchNorm1d and 2d.
    /// </summary>
    public static void BatchNorm(SelfTestContext context)
    {
        const float eps = 1e-5f, momentum = 0.1f;
        foreach (var ((n, c, s), fd) in Shapes(context, (3, 4, 6), (32, 64, 256)))
            foreach (int spatial in new[] { 1, s })
                foreach (int version in DevicePolicy.VersionsOf[DevicePolicy.BatchNormOp])
                {
                    string v = $"v{version}", shape = spatial == 1 ? $"N={n} C={c}" : $"N={n} C={c} S={spatial}";
                    int[] xShape = spatial == 1 ? [n, c] : [n, c, spatial, 1];
                    var x = SelfTestContext.Uniform(20, n * c * spatial, -3, 3);
                    var gamma = SelfTestContext.Uniform(21, c, 0.5, 1.5);
                    var beta = SelfTestContext.NonZero(22, c);
                    var residual = SelfTestContext.NonZero(23, n * c * spatial);
                    var runMean = SelfTestContext.NonZero(24, c);
                    var runVar = SelfTestContext.Uniform(25, c, 0.5, 2);
                    Tensor? rm = null, rv = null;
                    Tensor Stats(Tape tape, double[] values, string name) => Tensor.FromHost(tape.Device, name, Array.ConvertAll(values, f => (float)f), c);
                    TapeChecks.Run(context, "batchnorm", "batchnorm.train", shape,
                        [new("x", x, xShape), new("gamma", gamma, [c]), new("beta", beta, [c])],
                        (tape, t) => Ops.BatchNorm.Forward(tape, t[0], t[1], t[2], rm = Stats(tape, runMean, "rm"), rv = Stats(tape, runVar, "rv"), true, eps, momentum, version),
                        p => Ref.BatchNormTrain(p[0], p[1], p[2], n, c, spatial, eps).y,
                        (p, dY) => { var (dX, dG, dB) = Ref.BatchNormBackward(p[0], p[1], dY, n, c, spatial, eps); return [dX, dG, dB]; },
                        Tolerance.Fp32Op, Tolerance.Fp32Op, fd, v);
                    var (_, mean, variance) = Ref.BatchNormTrain(x, gamma, beta, n, c, spatial, eps);
                    var (expectedMean, expectedVar) = Ref.BatchNormRunningUpdate(runMean, runVar, mean, variance, n * spatial, momentum);
                    context.Rows.Add(Compare.Elements("batchnorm", "batchnorm.running_mean", v, "reference", shape, context.Seen("batchnorm.running_mean", v, rm!.ToHost()), expectedMean, Tolerance.Fp32Op));
                    context.Rows.Add(Compare.Elements("batchnorm", "batchnorm.running_var", v, "reference", shape, context.Seen("batchnorm.running_var", v, rv!.ToHost()), expectedVar, Tolerance.Fp32Op));

                    TapeChecks.Run(context, "batchnorm", "batchnorm+relu", shape,
                        [new("x", x, xShape), new("gamma", gamma, [c]), new("beta", beta, [c])],
                        (tape, t) => Ops.BatchNorm.ForwardRelu(tape, t[0], t[1], t[2], Stats(tape, runMean, "rm"), Stats(tape, runVar, "rv"), true, null, eps, momentum, version),
                        p => Ref.BatchNormReluTrain(p[0], p[1], p[2], null, n, c, spatial, eps),
                        (p, dY) => { var (dX, dG, dB, _) = Ref.BatchNormReluBackward(p[0], p[1], p[2], null, dY, n, c, spatial, eps); return [dX, dG, dB]; },
                        Tolerance.Fp32Op, Tolerance.Fp32Op, fd, v);
                    TapeChecks.Run(context, "batchnorm", "batchnorm+residual+relu", shape,
                        [new("x", x, xShape), new("gamma", gamma, [c]), new("beta", beta, [c]), new("residual", residual, xShape)],
                        (tape, t) => Ops.BatchNorm.ForwardRelu(tape, t[0], t[1], t[2], Stats(tape, runMean, "rm"), Stats(tape, runVar, "rv"), true, t[3], eps, momentum, version),
                        p => Ref.BatchNormReluTrain(p[0], p[1], p[2], p[3], n, c, spatial, eps),
                        (p, dY) => { var (dX, dG, dB, dR) = Ref.BatchNormReluBackward(p[0], p[1], p[2], p[3], dY, n, c, spatial, eps); return [dX, dG, dB, dR]; },
                        Tolerance.Fp32Op, Tolerance.Fp32Op, fd, v);
                    if (version == 1)   // evaluation mode has one kernel
                        TapeChecks.Run(context, "batchnorm", "batchnorm.eval", shape,
                            [new("x", x, xShape, false), new("gamma", gamma, [c], false), new("beta", beta, [c], false)],
                            (tape, t) => { using (tape.NoGrad()) return Ops.BatchNorm.Forward(tape, t[0], t[1], t[2], Stats(tape, runMean, "rm"), Stats(tape, runVar, "rv"), false, eps); },
                            p => Ref.BatchNormEval(p[0], p[1], p[2], runMean, runVar, n, c, spatial, eps),
                            null, Tolerance.Fp32Op, Tolerance.Fp32Op, false, v);
                }
    }

    public static void Relu(SelfTestContext context)
    {
        foreach (var (len, fd) in Shapes(context, 37, 32 * 64 * 32 * 32))
            TapeChecks.Run(context, "relu", "relu", $"L={len}", [new("x", SelfTestContext.NonZero(30, len), [len])],
                (tape, t) => Ops.Relu.Forward(tape, t[0]), p => Ref.Relu(p[0]),
                (p, dY) => [Ref.ReluBackward(Ref.Relu(p[0]), dY)], Tolerance.Exact, Tolerance.Exact, fd);
    }

    /// <summary>The BasicBlock's join y = max(a + b, 0).</summary>
    public static void Residual(SelfTestContext context)
    {
        foreach (var (len, fd) in Shapes(context, 29, 32 * 128 * 16 * 16))
        {
            var a = SelfTestContext.NonZero(31, len);
            var b = SelfTestContext.NonZero(32, len, 0.5);
            static double[] Sum(double[] p, double[] q) => p.Select((v, i) => v + q[i]).ToArray();
            TapeChecks.Run(context, "residual", "residual.add_relu", $"L={len}", [new("a", a, [len]), new("b", b, [len])],
                (tape, t) => Ops.Residual.AddRelu(tape, t[0], t[1]), p => Ref.Relu(Sum(p[0], p[1])),
                (p, dY) => { var g = Ref.ReluBackward(Ref.Relu(Sum(p[0], p[1])), dY); return [g, g]; },
                Tolerance.Fp32Op, Tolerance.Exact, fd);
        }
    }

    /// <summary>The ImageNet stem's 3×3 stride-2 pad-1 max-pool.</summary>
    public static void MaxPool(SelfTestContext context)
    {
        foreach (var ((n, c, h, w), fd) in Shapes(context, (2, 2, 7, 6), (8, 64, 32, 32)))
        {
            const int kernel = 3, stride = 2, pad = 1;
            int outH = RefPool.OutputSize(h, kernel, stride, pad), outW = RefPool.OutputSize(w, kernel, stride, pad);
            var x = SelfTestContext.Uniform(33, n * c * h * w, -2, 2);
            TapeChecks.Run(context, "maxpool", "maxpool2d", $"N={n} C={c} H={h} W={w} k=3 s=2 p=1", [new("x", x, [n, c, h, w])],
                (tape, t) => Ops.Pool.MaxPool2d(tape, t[0], kernel, stride, pad),
                p => RefPool.MaxPool2dForward(p[0], n * c, h, w, kernel, stride, pad).y,
                (p, dY) => [RefPool.MaxPool2dBackward(RefPool.MaxPool2dForward(p[0], n * c, h, w, kernel, stride, pad).argmax, dY, n * c, h, w, outH, outW)],
                Tolerance.Exact, Tolerance.Fp32Op, fd);
        }
    }

    public static void GlobalAverage(SelfTestContext context)
    {
        foreach (var ((n, c, h, w), fd) in Shapes(context, (2, 3, 4, 5), (256, 512, 4, 4)))
        {
            int s = h * w;
            TapeChecks.Run(context, "avgpool", "global_avgpool", $"N={n} C={c} H={h} W={w}", [new("x", SelfTestContext.NonZero(34, n * c * s), [n, c, h, w])],
                (tape, t) => Ops.Pool.GlobalAverage(tape, t[0]),
                p => Enumerable.Range(0, n * c).Select(i => p[0].Skip(i * s).Take(s).Sum() / s).ToArray(),
                (p, dY) => [Enumerable.Range(0, n * c * s).Select(i => dY[i / s] / s).ToArray()],
                Tolerance.Fp32Op, Tolerance.Fp32Op, fd);
        }
    }

    public static void L2Normalize(SelfTestContext context)
    {
        const double eps = Ops.L2Normalize.DefaultEps;
        foreach (var ((rows, dim), fd) in Shapes(context, (3, 7), (256, 256)))
            TapeChecks.Run(context, "l2normalize", "l2normalize", $"N={rows} D={dim}", [new("x", SelfTestContext.NonZero(35, rows * dim), [rows, dim])],
                (tape, t) => Ops.L2Normalize.Forward(tape, t[0]), p => Ref.L2Normalize(p[0], rows, dim, eps),
                (p, dY) => [Ref.L2NormalizeBackward(p[0], dY, rows, dim, eps)], Tolerance.Fp32Op, Tolerance.Fp32Op, fd);
    }

    /// <summary>ℓ = 2 − 2⟨p̂, ẑ⟩ per row; z is the teacher's (stop-gradient): only dp is checked.</summary>
    public static void ByolLoss(SelfTestContext context)
    {
        const double eps = Ops.ByolLoss.DefaultEps;
        foreach (var ((rows, dim), fd) in Shapes(context, (3, 6), (256, 256)))
            TapeChecks.Run(context, "byol-loss", "byol_pair_loss", $"N={rows} D={dim}",
                [new("p", SelfTestContext.NonZero(36, rows * dim), [rows, dim]), new("z", SelfTestContext.NonZero(37, rows * dim), [rows, dim], Grad: false)],
                (tape, t) => Ops.ByolLoss.PairLoss(tape, t[0], t[1]), p => Ref.ByolPairLoss(p[0], p[1], rows, dim, eps),
                (p, dY) => [Ref.ByolPairLossBackward(p[0], p[1], dY, rows, dim, eps), []], Tolerance.Fp32Op, Tolerance.Fp32Op, fd);
    }

    /// <summary>The linear probe's softmax cross-entropy, dlogits = g·(softmax − onehot).</summary>
    public static void CrossEntropy(SelfTestContext context)
    {
        foreach (var ((rows, classes), fd) in Shapes(context, (4, 5), (512, 10)))
        {
            var labels = Enumerable.Range(0, rows).Select(i => (i * 7 + 3) % classes).ToArray();
            using var deviceLabels = context.Device.Allocate(labels);
            TapeChecks.Run(context, "cross-entropy", "cross_entropy", $"N={rows} classes={classes}",
                [new("logits", SelfTestContext.Uniform(38, rows * classes, -3, 3), [rows, classes])],
                (tape, t) => Ops.CrossEntropy.Forward(tape, t[0], deviceLabels.View),
                p => ByolIlgpu.Reference.Classifier.CrossEntropy(p[0], labels, rows, classes),
                (p, dY) => [ByolIlgpu.Reference.Classifier.CrossEntropyBackward(p[0], labels, dY, rows, classes)],
                Tolerance.Fp32Op, Tolerance.Fp32Op, fd);
        }
    }

    /// <summary>The deterministic sum and mean (fixed partials): a long FP32 sum, hence atol scaled by its length.</summary>
    public static void Reduce(SelfTestContext context)
    {
        foreach (var (len, fd) in Shapes(context, 23, 1 << 20))
        {
            var x = SelfTestContext.NonZero(39, len);
            var tolerance = new Tolerance(1e-6 * len, 1e-5);
            TapeChecks.Run(context, "reduce", "reduce.sum", $"L={len}", [new("x", x, [len])],
                (tape, t) => Ops.Reduce.Sum(tape, t[0]), p => [p[0].Sum()],
                (p, dY) => [Enumerable.Repeat(dY[0], len).ToArray()], tolerance, Tolerance.Fp32Op, fd);
            TapeChecks.Run(context, "reduce", "reduce.mean", $"L={len}", [new("x", x, [len])],
                (tape, t) => Ops.Reduce.Mean(tape, t[0]), p => [p[0].Sum() / len],
                (p, dY) => [Enumerable.Repeat(dY[0] / len, len).ToArray()], tolerance, Tolerance.Fp32Op, fd);
        }
    }

    public static void Elementwise(SelfTestContext context)
    {
        foreach (var (len, fd) in Shapes(context, 19, 1 << 20))
        {
            var a = SelfTestContext.NonZero(40, len);
            var b = SelfTestContext.NonZero(41, len);
            TapeChecks.Run(context, "elementwise", "elementwise.add", $"L={len}", [new("a", a, [len]), new("b", b, [len])],
                (tape, t) => Ops.Elementwise.Add(tape, t[0], t[1]), p => p[0].Select((v, i) => v + p[1][i]).ToArray(),
                (p, dY) => [dY, dY], Tolerance.Fp32Op, Tolerance.Exact, fd);
            TapeChecks.Run(context, "elementwise", "elementwise.copy", $"L={len}", [new("x", a, [len])],
                (tape, t) => Ops.Elementwise.Copy(tape, t[0]), p => p[0], (p, dY) => [dY], Tolerance.Exact, Tolerance.Exact, fd);
        }
    }
}
