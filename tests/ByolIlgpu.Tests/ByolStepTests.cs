using ByolIlgpu.Byol;
using ByolIlgpu.Engine;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Tests;

/// <summary>The BYOL step: cross-view loss pairing, the teacher's EMA, and learning on fixed views.</summary>
public class ByolStepTests
{
    static readonly ByolArchitecture Tiny = new(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16);

    static (Tensor v1, Tensor v2) Views(ComputeDevice dev, int batch, int size, int seed)
    {
        var v1 = Tensor.FromHost(dev, "view1", Rand.UniformF(seed, batch * 3 * size * size).ToFloat(), batch, 3, size, size);
        var v2 = Tensor.FromHost(dev, "view2", Rand.UniformF(seed + 1, batch * 3 * size * size).ToFloat(), batch, 3, size, size);
        return (v1, v2);
    }

    static double[] D(Tensor t) => t.ToHost().Select(v => (double)v).ToArray();

    [Fact]
    public void TheLossPairsEachPredictionWithTheTeacherProjectionOfTheOtherView()
    {
        var dev = TestDevices.Cpu;
        using var model = new ByolModel(dev, Tiny, seed: 1);
        using var sgd = new Sgd(model.Student, momentum: 0.9f);
        var learner = new ByolLearner(model, sgd);
        dev.Pool.ReleaseAll();
        int b = 4, d = Tiny.ProjectorOut;
        var (v1, v2) = Views(dev, b, 8, 10);
        var r = learner.Step(v1, v2, lr: 0.01f, tau: 0.99f);
        double[] p1 = D(r.P1), p2 = D(r.P2), z1 = D(r.Z1), z2 = D(r.Z2);
        double Mean(double[] x) => x.Average();
        double crossed = Mean(Ref.ByolPairLoss(p1, z2, b, d, 1e-12)) + Mean(Ref.ByolPairLoss(p2, z1, b, d, 1e-12));
        double sameView = Mean(Ref.ByolPairLoss(p1, z1, b, d, 1e-12)) + Mean(Ref.ByolPairLoss(p2, z2, b, d, 1e-12));
        double loss = r.Loss.ToHost()[0];
        Assert.InRange(loss, 0, 8);
        Assert.Equal(crossed, loss, 4);
        // The two pairings must be distinguishable for this test to mean anything.
        Assert.True(Math.Abs(crossed - sameView) > 1e-3, $"crossed {crossed} vs same-view {sameView}");
        Assert.NotEqual(sameView, loss, 3);
    }

    [Fact]
    public void TheTeacherStartsAsTheStudentAndFollowsItByEma()
    {
        var dev = TestDevices.Cpu;
        using var model = new ByolModel(dev, Tiny, seed: 2);
        var teacher0 = model.Teacher.ValuesToHost();
        var student0 = model.Student.ValuesToHost();
        Assert.Equal(student0.Take(model.Teacher.Count), teacher0);
        Assert.Equal(model.Student.PrefixLength("conv1", "bn1", "layer", "projector"), model.Teacher.Count);

        using var sgd = new Sgd(model.Student, momentum: 0f);
        var learner = new ByolLearner(model, sgd);
        dev.Pool.ReleaseAll();
        var (v1, v2) = Views(dev, 4, 8, 20);
        learner.Step(v1, v2, lr: 0.1f, tau: 0.9f);
        var student1 = model.Student.ValuesToHost().Take(model.Teacher.Count).Select(v => (double)v).ToArray();
        var expected = Reference.Optimizers.Ema(teacher0.Select(v => (double)v).ToArray(), student1, 0.9);
        Check.Close(model.Teacher.ValuesToHost(), expected, "teacher after one step");
        Assert.NotEqual(teacher0, model.Teacher.ValuesToHost());
    }

    [Fact]
    public void TheLossFallsOverTwentyStepsOnFixedViews()
    {
        var dev = TestDevices.Cpu;
        using var model = new ByolModel(dev, Tiny, seed: 3);
        using var opt = new Adam(model.Student);
        var learner = new ByolLearner(model, opt);
        var host1 = Rand.UniformF(30, 8 * 3 * 8 * 8).ToFloat();
        var host2 = Rand.UniformF(31, 8 * 3 * 8 * 8).ToFloat();
        var losses = new List<float>();
        for (int step = 0; step < 20; step++)
        {
            dev.Pool.ReleaseAll();
            var v1 = Tensor.FromHost(dev, "v1", host1, 8, 3, 8, 8);
            var v2 = Tensor.FromHost(dev, "v2", host2, 8, 3, 8, 8);
            losses.Add(learner.Step(v1, v2, lr: 3e-3f, tau: 0.99f).Loss.ToHost()[0]);
        }
        Assert.True(losses.Skip(15).Average() < losses.Take(5).Average() * 0.8,
            $"loss did not fall: {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
    }

    [Fact]
    public void LearningRateWarmsUpThenFollowsACosine()
    {
        Assert.Equal(0, Schedules.WarmupCosine(2, 0, 10, 110));
        Assert.Equal(1, Schedules.WarmupCosine(2, 5, 10, 110), 12);
        Assert.Equal(2, Schedules.WarmupCosine(2, 10, 10, 110), 12);
        Assert.Equal(1, Schedules.WarmupCosine(2, 60, 10, 110), 12);
        Assert.Equal(0, Schedules.WarmupCosine(2, 110, 10, 110), 12);
        Assert.Equal(2.0, Schedules.ScaledLearningRate(1.0, 512), 12);
    }

    [Fact]
    public void ParameterCountsPerPart()
    {
        var a = new ByolArchitecture();
        Assert.Equal(11_168_832, a.BackboneParameters);
        Assert.Equal(3_158_272, a.ProjectorParameters);
        Assert.Equal(2_109_696, a.PredictorParameters);
    }
}
