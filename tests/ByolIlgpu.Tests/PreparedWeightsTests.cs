using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Conv;

namespace ByolIlgpu.Tests;

/// <summary>
/// The convolution's re-laid-out filters are made once per freeze and reused in it, never after the
/// weights changed: a weight updated between two freezes gives the new result, and the writers of
/// weights refuse to run inside one.
/// </summary>
public class PreparedWeightsTests
{
    // A stride-2 3×3 convolution: the backward input runs four parity classes, each with its own filter form.
    static readonly Conv2dShape G = new(2, 3, 6, 5, 5, 3, 3, 2, 1);

    [Theory]
    [InlineData(2)]   // forward filters (C·R·S, KPad); backward-input class filters by rows
    [InlineData(3)]   // forward and backward-input class filters by columns
    public void AFrozenFormIsReusedAndAnUpdatedWeightGivesTheUpdatedResult(int version)
    {
        var dev = TestDevices.Cpu;
        dev.Pool.ReleaseAll();
        var x = Rand.UniformF(70, (int)G.InputLength);
        var dY = Rand.UniformF(71, (int)G.OutputLength);
        var w1 = Rand.UniformF(72, (int)G.WeightLength);
        var w2 = Rand.UniformF(73, (int)G.WeightLength);
        using var w = dev.Allocate(w1.ToFloat());   // long-lived, as a parameter: the same buffer before and after the update
        var tx = Tensor.FromHost(dev, "x", x.ToFloat(), G.N, G.C, G.H, G.W);
        var tdY = Tensor.FromHost(dev, "dY", dY.ToFloat(), G.N, G.K, G.P, G.Q);
        var y = Tensor.Temp(dev, "y", G.N, G.K, G.P, G.Q);
        var dX = Tensor.Temp(dev, "dX", G.N, G.C, G.H, G.W);

        (float[] Y, float[] DX) Passes()
        {
            Ops.Conv2d.LaunchForward(dev, tx.Data, w.View, y.Data, G, version);
            dev.MemSetToZero(dX.Data);
            Ops.Conv2d.LaunchBackwardInput(dev, tdY.Data, w.View, dX.Data, G, version);
            return (y.ToHost(), dX.ToHost());
        }

        var prepared = dev.PreparedWeights;
        long computed = prepared.Computed, reused = prepared.Reused;
        (float[] Y, float[] DX) first, again, updated;
        using (prepared.Freeze())
        {
            first = Passes();
            long made = prepared.Computed - computed;
            Assert.True(made >= 2, $"{made} filter forms made in the first passes, expected the forward's and the backward-input's");
            again = Passes();
            Assert.Equal(computed + made, prepared.Computed);   // nothing made again…
            Assert.Equal(reused + made, prepared.Reused);       // …every form reused
        }
        Check.Close(first.Y, Ref.Conv2dForward(x, w1, G), $"v{version} forward, first");
        Check.Close(first.DX, Ref.Conv2dBackward(x, w1, dY, G).dX, $"v{version} dX, first");
        Assert.Equal(first.Y, again.Y);
        Assert.Equal(first.DX, again.DX);

        // The weights change between freezes (as the optimizer's update does between steps).
        dev.CopyFromHost(w.View, w2.ToFloat());
        using (prepared.Freeze())
            updated = Passes();
        Check.Close(updated.Y, Ref.Conv2dForward(x, w2, G), $"v{version} forward after the update");
        Check.Close(updated.DX, Ref.Conv2dBackward(x, w2, dY, G).dX, $"v{version} dX after the update");

        // A pool release inside a freeze (its forms' memory handed out again) drops the forms.
        using (prepared.Freeze())
        {
            Passes();
            long before = prepared.Computed;
            dev.Pool.ReleaseAll();
            tx = Tensor.FromHost(dev, "x", x.ToFloat(), G.N, G.C, G.H, G.W);
            tdY = Tensor.FromHost(dev, "dY", dY.ToFloat(), G.N, G.K, G.P, G.Q);
            y = Tensor.Temp(dev, "y", G.N, G.K, G.P, G.Q);
            dX = Tensor.Temp(dev, "dX", G.N, G.C, G.H, G.W);
            var afterRelease = Passes();
            Assert.True(prepared.Computed > before, "forms were reused across a pool release");
            Assert.Equal(updated.Y, afterRelease.Y);
            Assert.Equal(updated.DX, afterRelease.DX);
        }

        // Outside a freeze nothing is kept: every call prepares its filters.
        long outside = prepared.Reused;
        Passes();
        Assert.Equal(outside, prepared.Reused);
    }

    [Fact]
    public void TheWritersOfWeightsRefuseToRunInsideAFreeze()
    {
        var dev = TestDevices.Cpu;
        using var student = new ParameterStore(dev);
        student.Add("w", [4], decay: true, (v, _) => Array.Fill(v, 1f));
        student.Build(0);
        using var teacher = new ParameterStore(dev, withGradients: false);
        teacher.Add("w", [4], decay: true, (v, _) => Array.Fill(v, 1f));
        teacher.Build(0);
        using var sgd = new Sgd(student);
        using var lars = new Lars(student);
        using var adam = new Adam(student);
        using (dev.PreparedWeights.Freeze())
        {
            foreach (var write in new Action[] { () => sgd.Step(0.1f), () => lars.Step(0.1f), () => adam.Step(0.1f),
                () => Ema.Update(teacher, student, 0.99f), () => student.ValuesFromHost(new float[4]) })
            {
                var e = Assert.Throws<InvalidOperationException>(write);
                Assert.Contains("frozen", e.Message);
            }
            Assert.Equal(new float[] { 1, 1, 1, 1 }, student.ValuesToHost());
        }
        sgd.Step(0.1f);   // after the freeze, updates run again
        Assert.False(dev.PreparedWeights.IsFrozen);
    }
}
