using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Optimizers;

namespace ByolIlgpu.Tests;

/// <summary>
/// Optimizer and EMA kernels against the per-tensor references, on a store of mixed tensors
/// (weights with decay, biases without), for several steps with random gradients.
/// </summary>
public abstract class OptimizerTests : BackendTest
{
    int Scale => Large ? 37 : 1;

    /// <summary>A store of three tensors: a weight, a bias (no decay), another weight.</summary>
    ParameterStore NewStore(int seed, bool withGradients = true)
    {
        var store = new ParameterStore(Device, withGradients);
        store.Add("a.weight", [3 * Scale, 4], decay: true, Init.Uniform(1));
        store.Add("a.bias", [3 * Scale], decay: false, Init.Uniform(1));
        store.Add("b.weight", [5 * Scale, 2], decay: true, Init.Uniform(1));
        store.Build(seed);
        return store;
    }

    static double[] Slice(float[] flat, Parameter p) => flat.Skip(p.Offset).Take(p.Length).Select(v => (double)v).ToArray();

    /// <summary>Runs <paramref name="steps"/> steps of an optimizer and of its reference, comparing the weights after each.</summary>
    void CompareWithReference(Func<ParameterStore, Optimizer> create,
        Func<double[], double[], double[][], Parameter, long, (double[] w, double[][] state)> reference, int stateCount, float lr)
    {
        using var store = NewStore(100);
        using var opt = create(store);
        var w = store.Parameters.Select(p => Slice(store.ValuesToHost(), p)).ToArray();
        var state = store.Parameters.Select(p => Enumerable.Range(0, stateCount).Select(_ => new double[p.Length]).ToArray()).ToArray();
        for (int step = 1; step <= 3; step++)
        {
            var g = Rand.UniformF(200 + step, store.Count).ToFloat();
            store.GradsFromHost(g);
            opt.Step(lr);
            var got = store.ValuesToHost();
            for (int t = 0; t < store.Parameters.Count; t++)
            {
                var p = store.Parameters[t];
                (w[t], state[t]) = reference(w[t], Slice(g, p), state[t], p, step);
                Check.Close(Slice(got, p), w[t], $"{opt.GetType().Name} step {step}, tensor {p.Name}");
            }
        }
    }

    [Fact]
    public void SgdWithMomentumAndWeightDecay() => CompareWithReference(
        s => new Sgd(s, momentum: 0.9f, weightDecay: 0.1f),
        (w, g, st, p, _) => { var (nw, nv) = Ref.Sgd(w, g, st[0], 0.05, 0.9, 0.1, p.Decay); return (nw, [nv]); },
        1, 0.05f);

    [Fact]
    public void LarsWithTrustRatioClippingAndExclusions() => CompareWithReference(
        s => new Lars(s, momentum: 0.9f, weightDecay: 1e-2f, trustCoefficient: 0.02f),
        (w, g, st, p, _) => { var (nw, nv, _) = Ref.Lars(w, g, st[0], 0.5, 0.9, 1e-2, 0.02, p.Decay); return (nw, [nv]); },
        1, 0.5f);

    [Fact]
    public void LarsAtLearningRateZeroOnlyFillsTheMomentum()
    {
        using var store = NewStore(106);
        using var lars = new Lars(store);
        var before = store.ValuesToHost();
        store.GradsFromHost(Rand.UniformF(301, store.Count).ToFloat());
        lars.Step(0f);
        Assert.Equal(before, store.ValuesToHost());
        Assert.All(lars.LastScales(), s => Assert.Equal(1f, s));
        Assert.Contains(lars.ExportState()["velocity"], v => v != 0);
    }

    [Fact]
    public void LarsScaleIsClippedToOneWhenTrustExceedsTheLearningRate()
    {
        using var store = NewStore(101);
        using var lars = new Lars(store, trustCoefficient: 1000f);
        store.GradsFromHost(Rand.UniformF(300, store.Count, 0.01, 0.02).ToFloat());
        lars.Step(0.1f);
        Assert.All(lars.LastScales(), s => Assert.Equal(1f, s));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdamAndAdamW(bool decoupled) => CompareWithReference(
        s => new Adam(s, weightDecay: 0.05f, decoupled: decoupled),
        (w, g, st, p, step) => { var (nw, m, v) = Ref.Adam(w, g, st[0], st[1], step, 3e-3, 0.9, 0.999, 1e-8, 0.05, decoupled, p.Decay); return (nw, [m, v]); },
        2, 3e-3f);

    [Fact]
    public void EmaUpdatesTheTeacherPrefixOnly()
    {
        using var student = NewStore(102);
        // The teacher holds the student's first tensors (backbone + projector), not the predictor.
        using var teacher = new ParameterStore(Device, withGradients: false);
        teacher.Add("a.weight", [3 * Scale, 4], decay: true, Init.Uniform(1));
        teacher.Add("a.bias", [3 * Scale], decay: false, Init.Uniform(1));
        teacher.Build(103);
        var t0 = teacher.ValuesToHost().Select(v => (double)v).ToArray();
        var s0 = student.ValuesToHost().Select(v => (double)v).ToArray();
        Ema.Update(teacher, student, 0.99f);
        Check.Close(teacher.ValuesToHost(), Ref.Ema(t0, s0.Take(teacher.Count).ToArray(), 0.99), "ema");
        Check.Close(student.ValuesToHost(), s0, "student untouched", atol: 0, rtol: 0);
    }

    [Fact]
    public void EmaRefusesMismatchedLayouts()
    {
        using var student = NewStore(104);
        using var teacher = new ParameterStore(Device, withGradients: false);
        teacher.Add("b.weight", [5 * Scale, 2], decay: true, Init.Uniform(1));
        teacher.Build(105);
        var e = Assert.Throws<ArgumentException>(() => Ema.Update(teacher, student, 0.99f));
        Assert.Contains("b.weight", e.Message);
    }

    [Fact]
    public void CosineTauRisesFromTau0ToOne()
    {
        Assert.Equal(0.99, Ema.CosineTau(0.99, 0, 100), 12);
        Assert.Equal(0.995, Ema.CosineTau(0.99, 50, 100), 12);
        Assert.Equal(1.0, Ema.CosineTau(0.99, 100, 100), 12);
        for (int k = 1; k <= 100; k++)
            Assert.True(Ema.CosineTau(0.99, k, 100) >= Ema.CosineTau(0.99, k - 1, 100));
    }
}

public sealed class CpuOptimizerTests : OptimizerTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClOptimizerTests : OptimizerTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaOptimizerTests : OptimizerTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
