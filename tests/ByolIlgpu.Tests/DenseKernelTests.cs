using ByolIlgpu.Engine;
using ByolIlgpu.Ops;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Tests;

/// <summary>
/// Every dense kernel against its double-precision reference on random inputs, and every backward
/// against central finite differences of the reference (through a fake loss Σ y·dY).
/// </summary>
public abstract class DenseKernelTests : BackendTest
{
    /// <summary>Matmul versions this backend can run (version 3 needs groups of 256 threads).</summary>
    protected abstract int[] MatmulVersions { get; }

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { true, false }, { false, true }, { true, true } };

    (int m, int n, int k)[] MatmulShapes => Large
        ? [(67, 200, 45), (128, 256, 64), (1, 130, 300)]
        : [(5, 70, 9), (4, 128, 3), (1, 3, 2)];

    [Theory, MemberData(nameof(Transposes))]
    public void MatmulMatchesReferenceForEveryVersion(bool transA, bool transB)
    {
        foreach (var version in MatmulVersions)
            foreach (var (m, n, k) in MatmulShapes)
            {
                Device.Pool.ReleaseAll();
                var a = Rand.UniformF(1, m * k);
                var b = Rand.UniformF(2, k * n);
                var c = Rand.UniformF(3, m * n);
                var expected = Ref.Matmul(a, b, c, m, n, k, transA, transB, alpha: 0.75, beta: 0.5);
                var tc = Tensor.FromHost(Device, "c", c.ToFloat(), m * n);
                Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
                    tc.Data, m, n, k, transA, transB, 0.75f, 0.5f, version);
                // K-long float sums: the error grows with √K·|a||b|, hence the atol scaled by K.
                Check.Close(tc.ToHost(), expected, $"matmul v{version} ({m}×{n}×{k}, transA {transA}, transB {transB})", atol: 1e-5 * k);
            }
    }

    /// <summary>
    /// Matmul version 2 with every register-block set gives the widest set's bits and the reference,
    /// on edges the blocks cut (odd rows, columns off 64) and both layouts of A.
    /// </summary>
    [Theory, MemberData(nameof(Transposes))]
    public void MatmulBlockSetsGiveTheWidestSetsBits(bool transA, bool transB)
    {
        float[] Run(int m, int n, int k)
        {
            Device.Pool.ReleaseAll();
            var tc = Tensor.FromHost(Device, "c", Rand.UniformF(3, m * n).ToFloat(), m * n);
            Matmul.Gemm(Device, Tensor.FromHost(Device, "a", Rand.UniformF(1, m * k).ToFloat(), m * k).Data,
                Tensor.FromHost(Device, "b", Rand.UniformF(2, k * n).ToFloat(), k * n).Data, tc.Data, m, n, k, transA, transB, 0.75f, 0.5f, version: 2);
            return tc.ToHost();
        }
        try
        {
            foreach (var (m, n, k) in MatmulShapes)
            {
                Device.UseRegisterBlocks(RegisterBlockSet.Widest.Lanes);
                var widest = Run(m, n, k);
                var expected = Ref.Matmul(Rand.UniformF(1, m * k), Rand.UniformF(2, k * n), Rand.UniformF(3, m * n), m, n, k, transA, transB, alpha: 0.75, beta: 0.5);
                foreach (var set in RegisterBlockSet.All.Skip(1))
                {
                    Device.UseRegisterBlocks(set.Lanes);
                    var got = Run(m, n, k);
                    Check.BitIdentical(got, widest, $"matmul v2 ({m}×{n}×{k}, transA {transA}, transB {transB}), blocks for {set.Lanes} lanes");
                    Check.Close(got, expected, $"matmul v2 ({m}×{n}×{k}), blocks for {set.Lanes} lanes", atol: 1e-5 * k);
                }
            }
        }
        finally
        {
            Device.UseRegisterBlocks(null);
        }
    }

    [Fact]
    public void MatmulWithBetaZeroIgnoresGarbageInC()
    {
        foreach (var version in MatmulVersions)
        {
            Device.Pool.ReleaseAll();
            int m = 3, n = 66, k = 4;
            var a = Rand.UniformF(4, m * k);
            var b = Rand.UniformF(5, k * n);
            var c = Tensor.FromHost(Device, "c", Enumerable.Repeat(float.NaN, m * n).ToArray(), m * n);
            Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
                c.Data, m, n, k, false, false, 1f, 0f, version);
            Check.Close(c.ToHost(), Ref.Matmul(a, b, null, m, n, k, false, false), $"matmul v{version} with β = 0 over NaN");
        }
    }

    [Fact]
    public void MatmulBackwardMatchesFiniteDifferences()
    {
        int m = 3, n = 5, k = 4;
        var tape = NewTape();
        var a = Rand.UniformF(6, m * k);
        var b = Rand.UniformF(7, k * n);
        var dC = Rand.UniformF(8, m * n);
        var ta = Tensor.FromHost(Device, "a", a.ToFloat(), m, k);
        var tb = Tensor.FromHost(Device, "b", b.ToFloat(), k, n);
        ta.RequiresGrad = tb.RequiresGrad = true;
        var c = Matmul.MatMul(tape, ta, tb);
        tape.Backward(c, Tensor.FromHost(Device, "dC", dC.ToFloat(), m, n));
        FiniteDifference.Assert(ta.Grad!.ToHost(), x => FiniteDifference.Dot(Ref.Matmul(x, b, null, m, n, k, false, false), dC), a, "dA");
        FiniteDifference.Assert(tb.Grad!.ToHost(), x => FiniteDifference.Dot(Ref.Matmul(a, x, null, m, n, k, false, false), dC), b, "dB");
    }

    [Fact]
    public void LinearForwardAndBackward() => CheckLinear(finiteDifferences: false);

    [Fact]
    public void LinearBackwardMatchesFiniteDifferences()
    {
        SkipUnlessTiny("linear dX, dW, db");
        CheckLinear(finiteDifferences: true);
    }

    void CheckLinear(bool finiteDifferences)
    {
        int n = Large ? 33 : 3, inF = Large ? 70 : 5, outF = Large ? 130 : 4;
        var tape = NewTape();
        var x = Rand.UniformF(10, n * inF);
        var w = Rand.UniformF(11, outF * inF);
        var b = Rand.UniformF(12, outF);
        var dY = Rand.UniformF(13, n * outF);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, inF);
        var tw = Tensor.FromHost(Device, "w", w.ToFloat(), outF, inF);
        var tb = Tensor.FromHost(Device, "b", b.ToFloat(), outF);
        tx.RequiresGrad = tw.RequiresGrad = tb.RequiresGrad = true;
        var y = Ops.Linear.Forward(tape, tx, tw, tb);
        Check.Close(y.ToHost(), Ref.LinearForward(x, w, b, n, inF, outF), "linear forward", atol: 1e-5 * inF);

        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, outF));
        var (dX, dW, dB) = Ref.LinearBackward(x, w, dY, n, inF, outF);
        Check.Close(tx.Grad!.ToHost(), dX, "linear dX", atol: 1e-5 * outF);
        Check.Close(tw.Grad!.ToHost(), dW, "linear dW", atol: 1e-5 * n);
        Check.Close(tb.Grad!.ToHost(), dB, "linear db", atol: 1e-5 * n);
        if (!finiteDifferences)
            return;
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.LinearForward(v, w, b, n, inF, outF), dY), x, "linear dX");
        FiniteDifference.Assert(tw.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.LinearForward(x, v, b, n, inF, outF), dY), w, "linear dW");
        FiniteDifference.Assert(tb.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.LinearForward(x, w, v, n, inF, outF), dY), b, "linear db");
    }

    [Theory]
    [InlineData(4, 3, 1, 1)]    // BatchNorm1d (N, C)
    [InlineData(4, 3, 1, 2)]
    [InlineData(2, 3, 10, 1)]   // BatchNorm2d (N, C, H·W)
    [InlineData(2, 3, 10, 2)]
    [InlineData(1, 2, 7, 2)]    // batch 1: statistics over the positions alone
    [InlineData(2, 3, 10, 3)]   // version 3: one 8-lane step and a tail of 2
    [InlineData(3, 2, 20, 3)]   // two 8-lane steps and a tail of 4
    [InlineData(2, 3, 7, 3)]    // a tail only
    [InlineData(2, 2, 64, 3)]   // whole lane steps, no tail
    [InlineData(4, 3, 1, 3)]    // (N, C) through the plane walk
    [InlineData(1, 2, 12, 3)]
    public void BatchNormTrainingForwardBackwardAndRunningStatistics(int n, int c, int s, int version) =>
        CheckBatchNormTraining(n, c, s, version, finiteDifferences: false);

    [Theory]
    [InlineData(4, 3, 1, 1)]
    [InlineData(4, 3, 1, 2)]
    [InlineData(2, 3, 10, 1)]
    [InlineData(2, 3, 10, 2)]
    [InlineData(1, 2, 7, 2)]
    [InlineData(2, 3, 10, 3)]
    [InlineData(1, 2, 20, 3)]
    public void BatchNormBackwardMatchesFiniteDifferences(int n, int c, int s, int version)
    {
        SkipUnlessTiny("batch norm dX, dγ, dβ");
        CheckBatchNormTraining(n, c, s, version, finiteDifferences: true);
    }

    void CheckBatchNormTraining(int n, int c, int s, int version, bool finiteDifferences)
    {
        if (Large) (n, c, s) = (n * 4, c * 11, s * 3);
        const double eps = 1e-5, momentum = 0.1;
        var tape = NewTape();
        var x = Rand.UniformF(20, n * c * s, -3, 3);
        var gamma = Rand.UniformF(21, c, 0.5, 1.5);
        var beta = Rand.UniformF(22, c);
        var rm = Rand.UniformF(23, c, -0.5, 0.5);
        var rv = Rand.UniformF(24, c, 0.5, 2);
        var dY = Rand.UniformF(25, n * c * s);
        int[] shape = s == 1 ? [n, c] : [n, c, s];
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), shape);
        var tg = Tensor.FromHost(Device, "gamma", gamma.ToFloat(), c);
        var tb = Tensor.FromHost(Device, "beta", beta.ToFloat(), c);
        var trm = Tensor.FromHost(Device, "running_mean", rm.ToFloat(), c);
        var trv = Tensor.FromHost(Device, "running_var", rv.ToFloat(), c);
        tx.RequiresGrad = tg.RequiresGrad = tb.RequiresGrad = true;

        var y = BatchNorm.Forward(tape, tx, tg, tb, trm, trv, training: true, version: version);
        var (yRef, mean, variance) = Ref.BatchNormTrain(x, gamma, beta, n, c, s, eps);
        Check.Close(y.ToHost(), yRef, $"batch norm v{version} forward");
        var (rmRef, rvRef) = Ref.BatchNormRunningUpdate(rm, rv, mean, variance, n * s, momentum);
        Check.Close(trm.ToHost(), rmRef, "running mean");
        Check.Close(trv.ToHost(), rvRef, "running var (unbiased)");

        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), shape));
        var (dX, dGamma, dBeta) = Ref.BatchNormBackward(x, gamma, dY, n, c, s, eps);
        Check.Close(tx.Grad!.ToHost(), dX, "batch norm dX");
        Check.Close(tg.Grad!.ToHost(), dGamma, "batch norm dγ", atol: 1e-5 * n * s);
        Check.Close(tb.Grad!.ToHost(), dBeta, "batch norm dβ", atol: 1e-5 * n * s);
        if (!finiteDifferences)
            return;
        double FakeLoss(double[] xv, double[] g, double[] b) => FiniteDifference.Dot(Ref.BatchNormTrain(xv, g, b, n, c, s, eps).y, dY);
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FakeLoss(v, gamma, beta), x, "batch norm dX");
        FiniteDifference.Assert(tg.Grad!.ToHost(), v => FakeLoss(x, v, beta), gamma, "batch norm dγ");
        FiniteDifference.Assert(tb.Grad!.ToHost(), v => FakeLoss(x, gamma, v), beta, "batch norm dβ");
    }

    [Fact]
    public void BatchNormEvaluationUsesRunningStatistics()
    {
        int n = 3, c = 4, s = Large ? 64 : 5;
        var tape = NewTape();
        var x = Rand.UniformF(30, n * c * s);
        var gamma = Rand.UniformF(31, c, 0.5, 1.5);
        var beta = Rand.UniformF(32, c);
        var rm = Rand.UniformF(33, c);
        var rv = Rand.UniformF(34, c, 0.5, 2);
        var trm = Tensor.FromHost(Device, "running_mean", rm.ToFloat(), c);
        var trv = Tensor.FromHost(Device, "running_var", rv.ToFloat(), c);
        var y = BatchNorm.Forward(tape, Tensor.FromHost(Device, "x", x.ToFloat(), n, c, s), Tensor.FromHost(Device, "g", gamma.ToFloat(), c),
            Tensor.FromHost(Device, "b", beta.ToFloat(), c), trm, trv, training: false);
        Check.Close(y.ToHost(), Ref.BatchNormEval(x, gamma, beta, rm, rv, n, c, s, 1e-5), "batch norm eval");
        Check.Close(trm.ToHost(), rm, "running mean untouched in eval", atol: 0, rtol: 0);
    }

    [Fact]
    public void ReluForwardAndBackward()
    {
        int len = Large ? 10_000 : 37;
        var tape = NewTape();
        // Keep inputs away from the kink at 0, where the derivative is undefined.
        var x = Rand.UniformF(40, len).Select(v => Math.Abs(v) < 0.05 ? v + 0.1 : v).ToArray();
        var dY = Rand.UniformF(41, len);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), len);
        tx.RequiresGrad = true;
        var y = Ops.Relu.Forward(tape, tx);
        Check.Close(y.ToHost(), Ref.Relu(x), "relu forward");
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), len));
        Check.Close(tx.Grad!.ToHost(), Ref.ReluBackward(Ref.Relu(x), dY), "relu dX");
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.Relu(v), dY), x, "relu dX");
    }

    [Fact]
    public void L2NormalizeForwardAndBackward() => CheckL2Normalize(finiteDifferences: false);

    [Fact]
    public void L2NormalizeBackwardMatchesFiniteDifferences()
    {
        SkipUnlessTiny("l2 normalize dX");
        CheckL2Normalize(finiteDifferences: true);
    }

    void CheckL2Normalize(bool finiteDifferences)
    {
        int rows = Large ? 64 : 3, dim = Large ? 256 : 5;
        var tape = NewTape();
        var x = Rand.UniformF(50, rows * dim);
        var dY = Rand.UniformF(51, rows * dim);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), rows, dim);
        tx.RequiresGrad = true;
        var y = L2Normalize.Forward(tape, tx);
        Check.Close(y.ToHost(), Ref.L2Normalize(x, rows, dim, 1e-12), "l2 normalize forward");
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), rows, dim));
        Check.Close(tx.Grad!.ToHost(), Ref.L2NormalizeBackward(x, dY, rows, dim, 1e-12), "l2 normalize dX");
        if (finiteDifferences)
            FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.L2Normalize(v, rows, dim, 1e-12), dY), x, "l2 normalize dX");
    }

    [Fact]
    public void ByolPairLossForwardAndBackwardToPredictionOnly() => CheckByolPairLoss(finiteDifferences: false);

    [Fact]
    public void ByolPairLossBackwardMatchesFiniteDifferences()
    {
        SkipUnlessTiny("byol loss dP");
        CheckByolPairLoss(finiteDifferences: true);
    }

    void CheckByolPairLoss(bool finiteDifferences)
    {
        int rows = Large ? 128 : 4, dim = Large ? 256 : 6;
        var tape = NewTape();
        var p = Rand.UniformF(60, rows * dim);
        var z = Rand.UniformF(61, rows * dim);
        var dL = Rand.UniformF(62, rows, 0.5, 1.5);
        var tp = Tensor.FromHost(Device, "p", p.ToFloat(), rows, dim);
        var tz = Tensor.FromHost(Device, "z", z.ToFloat(), rows, dim);
        tp.RequiresGrad = true;
        tz.RequiresGrad = true;   // even so, the loss is stop-gradient in z
        var loss = ByolLoss.PairLoss(tape, tp, tz);
        var expected = Ref.ByolPairLoss(p, z, rows, dim, 1e-12);
        Check.Close(loss.ToHost(), expected, "byol loss");
        Assert.All(expected, v => Assert.InRange(v, 0, 4));
        tape.Backward(loss, Tensor.FromHost(Device, "dL", dL.ToFloat(), rows));
        Check.Close(tp.Grad!.ToHost(), Ref.ByolPairLossBackward(p, z, dL, rows, dim, 1e-12), "byol loss dP");
        Assert.Null(tz.Grad);
        if (finiteDifferences)
            FiniteDifference.Assert(tp.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.ByolPairLoss(v, z, rows, dim, 1e-12), dL), p, "byol loss dP");
    }

    [Fact]
    public void SumAndMeanForwardAndBackward()
    {
        int len = Large ? 100_003 : 301;
        var tape = NewTape();
        var x = Rand.UniformF(70, len);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), len);
        tx.RequiresGrad = true;
        var sum = Reduce.Sum(tape, tx);
        var mean = Reduce.Mean(tape, tx);
        // A sum of `len` floats: the rounding error grows with the length.
        Check.Close(sum.ToHost(), [Ref.Sum(x)], "sum", atol: 1e-6 * len);
        Check.Close(mean.ToHost(), [Ref.Mean(x)], "mean", atol: 1e-6);
        // Seeding the mean with 3 gives dx = 3/len; the sum's step also runs, with a zero gradient.
        tape.Backward(mean, Tensor.FromHost(Device, "dmean", [3f], 1));
        Check.Close(tx.Grad!.ToHost(), Enumerable.Repeat(3.0 / len, len).ToArray(), "mean backward");
        Elementwise.Fill(mean.Grad!, 0f);
        Assert.Equal(0, tape.Count);
    }

    [Fact]
    public void MeanBackwardMatchesFiniteDifferences()
    {
        int len = 17;
        var tape = NewTape();
        var x = Rand.UniformF(71, len);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), len);
        tx.RequiresGrad = true;
        var mean = Reduce.Mean(tape, tx);
        tape.Backward(mean);
        FiniteDifference.Assert(tx.Grad!.ToHost(), Ref.Mean, x, "mean dX");
    }

    [Fact]
    public void GradientsAccumulateWhenATensorIsUsedTwice()
    {
        // C = X·X uses X as both operands: dX = dC·Xᵀ + Xᵀ·dC arrives in two += contributions.
        int d = 4;
        var tape = NewTape();
        var x = Rand.UniformF(80, d * d);
        var dC = Rand.UniformF(81, d * d);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), d, d);
        tx.RequiresGrad = true;
        var c = Matmul.MatMul(tape, tx, tx);
        tape.Backward(c, Tensor.FromHost(Device, "dC", dC.ToFloat(), d, d));
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.Matmul(v, v, null, d, d, d, false, false), dC), x, "d(X·X)/dX");
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var tape = NewTape();
        var tx = Tensor.FromHost(Device, "x", Rand.UniformF(90, 6).ToFloat(), 2, 3);
        tx.RequiresGrad = true;
        using (tape.NoGrad())
        {
            var y = Ops.Relu.Forward(tape, tx);
            Assert.False(y.RequiresGrad);
        }
        Assert.Equal(0, tape.Count);
        Ops.Relu.Forward(tape, tx);
        Assert.Equal(1, tape.Count);
    }

    [Fact]
    public void ShapeMismatchesAreClearErrors()
    {
        var tape = NewTape();
        var x = Tensor.FromHost(Device, "x", Rand.UniformF(91, 6).ToFloat(), 2, 3);
        var w = Tensor.FromHost(Device, "w", Rand.UniformF(92, 8).ToFloat(), 2, 4);
        var e = Assert.Throws<ArgumentException>(() => Ops.Linear.Forward(tape, x, w, null));
        Assert.Contains("linear", e.Message);
        Assert.Contains("(2, 4)", e.Message);
        var z = Tensor.FromHost(Device, "z", Rand.UniformF(93, 4).ToFloat(), 2, 2);
        Assert.Throws<ArgumentException>(() => ByolLoss.PairLoss(tape, x, z));
    }
}

public sealed class CpuDenseKernelTests : DenseKernelTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
    protected override int[] MatmulVersions => [1, 2];
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClDenseKernelTests : DenseKernelTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
    protected override int[] MatmulVersions => [1, 2, 3, 5];
}

[Trait("Backend", "CUDA")]
public sealed class CudaDenseKernelTests : DenseKernelTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
    protected override int[] MatmulVersions => [1, 2, 3, 5];
}
