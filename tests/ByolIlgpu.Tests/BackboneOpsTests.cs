using ByolIlgpu.Engine;
using ByolIlgpu.Ops;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Tests;

/// <summary>
/// Global average pooling, the fused residual add + ReLU, and BatchNorm fused with the ReLU (and residual
/// add) after it, against references, finite differences and the unfused ops.
/// </summary>
public abstract class BackboneOpsTests : BackendTest
{
    static double[] AvgPoolRef(double[] x, int planes, int spatial) =>
        Enumerable.Range(0, planes).Select(p => Enumerable.Range(0, spatial).Sum(s => x[p * spatial + s]) / spatial).ToArray();

    [Fact]
    public void GlobalAveragePoolForwardAndBackward()
    {
        int n = Large ? 8 : 2, c = Large ? 64 : 3, h = Large ? 8 : 3, w = Large ? 8 : 5;
        var tape = NewTape();
        var x = Rand.UniformF(1, n * c * h * w);
        var dY = Rand.UniformF(2, n * c);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, c, h, w);
        tx.RequiresGrad = true;
        var y = Pool.GlobalAverage(tape, tx);
        Check.Close(y.ToHost(), AvgPoolRef(x, n * c, h * w), "avg pool forward");
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, c));
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(AvgPoolRef(v, n * c, h * w), dY), x, "avg pool dX");
    }

    [Fact]
    public void ResidualAddReluForwardAndBackward()
    {
        int len = Large ? 4096 : 24;
        var tape = NewTape();
        var a = Rand.UniformF(3, len);
        // Keep a + b away from the kink at 0.
        var b = Rand.UniformF(4, len).Select((v, i) => Math.Abs(v + a[i]) < 0.05 ? v + 0.1 : v).ToArray();
        var dY = Rand.UniformF(5, len);
        double[] Ref(double[] av, double[] bv) => av.Select((v, i) => Math.Max(v + bv[i], 0)).ToArray();
        var ta = Tensor.FromHost(Device, "a", a.ToFloat(), 2, len / 2);
        var tb = Tensor.FromHost(Device, "b", b.ToFloat(), 2, len / 2);
        ta.RequiresGrad = tb.RequiresGrad = true;
        var y = Residual.AddRelu(tape, ta, tb);
        Check.Close(y.ToHost(), Ref(a, b), "add relu forward");
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), 2, len / 2));
        FiniteDifference.Assert(ta.Grad!.ToHost(), v => FiniteDifference.Dot(Ref(v, b), dY), a, "add relu dA");
        FiniteDifference.Assert(tb.Grad!.ToHost(), v => FiniteDifference.Dot(Ref(a, v), dY), b, "add relu dB");
    }

    const double Eps = 1e-5, Momentum = 0.1;

    /// <summary>
    /// x nudged until every pre-activation BN(x) + r is at least 0.05 from ReLU's kink (γ &gt; 0, so raising
    /// x_i raises its own): finite differences with step 1e-3 then see a smooth function.
    /// </summary>
    static double[] AwayFromKink(double[] x, double[] gamma, double[] beta, double[]? r, int n, int c, int s)
    {
        x = (double[])x.Clone();
        for (int round = 0; round < 100; round++)
        {
            var (pre, _, _) = Ref.BatchNormTrain(x, gamma, beta, n, c, s, Eps);
            bool moved = false;
            for (int i = 0; i < x.Length; i++)
                if (Math.Abs(pre[i] + (r?[i] ?? 0)) < 0.05)
                {
                    x[i] += 0.3;
                    moved = true;
                }
            if (!moved)
                return x;
        }
        throw new InvalidOperationException("inputs kept landing on ReLU's kink");
    }

    [Theory]
    [InlineData(4, 3, 1, 1, false)]    // BatchNorm1d → ReLU (the heads)
    [InlineData(4, 3, 1, 2, false)]
    [InlineData(2, 3, 10, 1, false)]   // BatchNorm2d → ReLU (the stem, a block's first BN)
    [InlineData(2, 3, 10, 2, false)]
    [InlineData(2, 3, 10, 1, true)]    // BatchNorm2d → + shortcut → ReLU (a block's join)
    [InlineData(2, 3, 10, 2, true)]
    [InlineData(1, 2, 7, 2, true)]     // batch 1: statistics over the positions alone
    [InlineData(2, 3, 10, 3, false)]   // version 3: 8-lane plane sums and a tail
    [InlineData(2, 3, 20, 3, true)]
    [InlineData(1, 2, 16, 3, true)]
    public void BatchNormReluForwardBackwardAndRunningStatistics(int n, int c, int s, int version, bool residual) =>
        CheckBatchNormRelu(n, c, s, version, residual, finiteDifferences: false);

    [Theory]
    [InlineData(4, 3, 1, 1, false)]
    [InlineData(2, 3, 10, 2, false)]
    [InlineData(2, 3, 10, 1, true)]
    [InlineData(2, 3, 10, 2, true)]
    [InlineData(2, 3, 10, 3, false)]
    [InlineData(2, 3, 12, 3, true)]
    public void BatchNormReluBackwardMatchesFiniteDifferences(int n, int c, int s, int version, bool residual)
    {
        SkipUnlessTiny("batch norm + relu dX, dγ, dβ, dr");
        CheckBatchNormRelu(n, c, s, version, residual, finiteDifferences: true);
    }

    void CheckBatchNormRelu(int n, int c, int s, int version, bool withResidual, bool finiteDifferences)
    {
        if (Large) (n, c, s) = (n * 4, c * 11, s * 3);
        int[] shape = s == 1 ? [n, c] : [n, c, s];
        var gamma = Rand.UniformF(51, c, 0.5, 1.5);
        var beta = Rand.UniformF(52, c, -0.5, 0.5);
        var rm = Rand.UniformF(53, c, -0.5, 0.5);
        var rv = Rand.UniformF(54, c, 0.5, 2);
        var r = withResidual ? Rand.UniformF(55, n * c * s) : null;
        var x = AwayFromKink(Rand.UniformF(50, n * c * s, -3, 3), gamma, beta, r, n, c, s);
        var dY = Rand.UniformF(56, n * c * s);
        string what = $"batch norm v{version} + {(withResidual ? "residual + " : "")}relu";

        // The fused op, then the unfused BatchNorm → (add +) ReLU on copies of the same inputs.
        var runs = new List<(float[] Y, float[] Rm, float[] Rv, float[] DX, float[] DGamma, float[] DBeta, float[]? DR)>();
        foreach (bool fused in new[] { true, false })
        {
            var tape = NewTape();
            var tx = Tensor.FromHost(Device, "x", x.ToFloat(), shape);
            var tg = Tensor.FromHost(Device, "gamma", gamma.ToFloat(), c);
            var tb = Tensor.FromHost(Device, "beta", beta.ToFloat(), c);
            var trm = Tensor.FromHost(Device, "running_mean", rm.ToFloat(), c);
            var trv = Tensor.FromHost(Device, "running_var", rv.ToFloat(), c);
            var tr = r is null ? null : Tensor.FromHost(Device, "r", r.ToFloat(), shape);
            tx.RequiresGrad = tg.RequiresGrad = tb.RequiresGrad = true;
            if (tr is not null) tr.RequiresGrad = true;
            Tensor y;
            if (fused)
                y = BatchNorm.ForwardRelu(tape, tx, tg, tb, trm, trv, training: true, residual: tr, version: version);
            else
            {
                var bn = BatchNorm.Forward(tape, tx, tg, tb, trm, trv, training: true, version: version);
                y = tr is null ? Relu.Forward(tape, bn) : Residual.AddRelu(tape, bn, tr);
            }
            var yHost = y.ToHost();
            tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), shape));
            runs.Add((yHost, trm.ToHost(), trv.ToHost(), tx.Grad!.ToHost(), tg.Grad!.ToHost(), tb.Grad!.ToHost(), tr?.Grad!.ToHost()));
        }
        var got = runs[0];

        Check.Close(got.Y, Ref.BatchNormReluTrain(x, gamma, beta, r, n, c, s, Eps), what + " forward");
        var (_, mean, variance) = Ref.BatchNormTrain(x, gamma, beta, n, c, s, Eps);
        var (rmRef, rvRef) = Ref.BatchNormRunningUpdate(rm, rv, mean, variance, n * s, Momentum);
        Check.Close(got.Rm, rmRef, what + " running mean");
        Check.Close(got.Rv, rvRef, what + " running var (unbiased)");
        var (dX, dGamma, dBeta, dR) = Ref.BatchNormReluBackward(x, gamma, beta, r, dY, n, c, s, Eps);
        Check.NotAllZero(dR, what + " masked gradient");
        Check.Close(got.DX, dX, what + " dX");
        Check.Close(got.DGamma, dGamma, what + " dγ", atol: 1e-5 * n * s);
        Check.Close(got.DBeta, dBeta, what + " dβ", atol: 1e-5 * n * s);
        if (r is not null)
            Check.Close(got.DR!, dR, what + " dr");

        // Fusing changes the number of passes, not one operation: the same bits as the unfused ops.
        var plain = runs[1];
        Assert.Equal(plain.Y, got.Y);
        Assert.Equal(plain.Rm, got.Rm);
        Assert.Equal(plain.Rv, got.Rv);
        Assert.Equal(plain.DX, got.DX);
        Assert.Equal(plain.DGamma, got.DGamma);
        Assert.Equal(plain.DBeta, got.DBeta);
        Assert.Equal(plain.DR, got.DR);

        if (!finiteDifferences)
            return;
        double FakeLoss(double[] xv, double[] g, double[] b, double[]? rv2) => FiniteDifference.Dot(Ref.BatchNormReluTrain(xv, g, b, rv2, n, c, s, Eps), dY);
        FiniteDifference.Assert(got.DX, v => FakeLoss(v, gamma, beta, r), x, what + " dX");
        FiniteDifference.Assert(got.DGamma, v => FakeLoss(x, v, beta, r), gamma, what + " dγ");
        FiniteDifference.Assert(got.DBeta, v => FakeLoss(x, gamma, v, r), beta, what + " dβ");
        if (r is not null)
            FiniteDifference.Assert(got.DR!, v => FakeLoss(x, gamma, beta, v), r, what + " dr");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void BatchNormBackwardWritesAFreshGradientAndAddsIntoAnExistingOne(int version)
    {
        // y = max(BN(x) + x, 0): the join's backward reaches x first (creating x.grad), the BatchNorm's second (adding into it).
        int n = 2, c = 3, s = Large ? 40 : 10;
        var gamma = Rand.UniformF(81, c, 0.5, 1.5);
        var beta = Rand.UniformF(82, c, -0.5, 0.5);
        var x = Rand.UniformF(80, n * c * s, -3, 3);
        var dY = Rand.UniformF(83, n * c * s);
        var tape = NewTape();
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, c, s);
        tx.RequiresGrad = true;
        var bn = BatchNorm.Forward(tape, tx, Tensor.FromHost(Device, "g", gamma.ToFloat(), c), Tensor.FromHost(Device, "b", beta.ToFloat(), c),
            Tensor.FromHost(Device, "rm", new float[c], c), Tensor.FromHost(Device, "rv", new float[c], c), training: true, version: version);
        var y = Residual.AddRelu(tape, bn, tx);
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, c, s));
        var (dX, _, _, g) = Ref.BatchNormReluBackward(x, gamma, beta, x, dY, n, c, s, Eps);
        Check.NotAllZero(g, "masked gradient");
        Check.Close(tx.Grad!.ToHost(), dX.Select((v, i) => v + g[i]).ToArray(), $"batch norm v{version} dX added to the join's");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BatchNormReluEvaluationUsesRunningStatistics(bool withResidual)
    {
        int n = 3, c = 4, s = Large ? 64 : 5;
        var tape = NewTape();
        var x = Rand.UniformF(60, n * c * s);
        var gamma = Rand.UniformF(61, c, 0.5, 1.5);
        var beta = Rand.UniformF(62, c);
        var rm = Rand.UniformF(63, c);
        var rv = Rand.UniformF(64, c, 0.5, 2);
        var r = withResidual ? Rand.UniformF(65, n * c * s) : null;
        var y = BatchNorm.ForwardRelu(tape, Tensor.FromHost(Device, "x", x.ToFloat(), n, c, s), Tensor.FromHost(Device, "g", gamma.ToFloat(), c),
            Tensor.FromHost(Device, "b", beta.ToFloat(), c), Tensor.FromHost(Device, "rm", rm.ToFloat(), c), Tensor.FromHost(Device, "rv", rv.ToFloat(), c),
            training: false, residual: r is null ? null : Tensor.FromHost(Device, "r", r.ToFloat(), n, c, s));
        var pre = Ref.BatchNormEval(x, gamma, beta, rm, rv, n, c, s, Eps);
        if (r is not null)
            for (int i = 0; i < pre.Length; i++)
                pre[i] += r[i];
        var expected = Ref.Relu(pre);
        Assert.Contains(expected, v => v == 0);
        Check.Close(y.ToHost(), expected, "batch norm + relu eval");
    }
}

public sealed class CpuBackboneOpsTests : BackboneOpsTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClBackboneOpsTests : BackboneOpsTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaBackboneOpsTests : BackboneOpsTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
