using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using RefHead = ByolIlgpu.Reference.MlpHead;

namespace ByolIlgpu.Tests;

/// <summary>The MLP head through the tape against the plain C# composition of the references.</summary>
public abstract class MlpHeadTests : BackendTest
{
    (int n, int inF, int hidden, int outF) Sizes => Large ? (16, 64, 96, 32) : (4, 5, 6, 3);

    static double[] Slice(float[] flat, Parameter p) => flat.Skip(p.Offset).Take(p.Length).Select(v => (double)v).ToArray();

    [Fact]
    public void ForwardAndBackwardMatchThePlainReference() => CheckAgainstTheReference(finiteDifferences: false);

    [Fact]
    public void TheReferenceBackwardMatchesFiniteDifferences()
    {
        SkipUnlessTiny("the reference's dW1");
        CheckAgainstTheReference(finiteDifferences: true);
    }

    void CheckAgainstTheReference(bool finiteDifferences)
    {
        var (n, inF, hidden, outF) = Sizes;
        using var store = new ParameterStore(Device);
        var head = new MlpHead(store, "projector", inF, hidden, outF);
        store.Build(7);
        var host = store.ValuesToHost();
        var w = new RefHead.Weights(Slice(host, head.First.Weight), Slice(host, head.First.Bias!), Slice(host, head.Norm.Gamma),
            Slice(host, head.Norm.Beta), Slice(host, head.Second.Weight), Slice(host, head.Second.Bias!));
        var x = Rand.UniformF(1, n * inF);
        var dY = Rand.UniformF(2, n * outF);

        var tape = NewTape();
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, inF);
        tx.RequiresGrad = true;
        var y = head.Forward(tape, tx);
        Check.Close(y.ToHost(), RefHead.Forward(w, x, n, inF, hidden, outF), "mlp head forward", atol: 2e-4);
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, outF));

        var g = RefHead.Backward(w, x, dY, n, inF, hidden, outF);
        var grads = store.GradsToHost();
        Check.Close(tx.Grad!.ToHost(), g.DX, "mlp head dX", atol: 2e-4);
        Check.Close(Slice(grads, head.First.Weight), g.DW1, "dW1", atol: 2e-4);
        Check.Close(Slice(grads, head.First.Bias!), g.DB1, "db1 (zero in exact arithmetic: BN removes it)", atol: 2e-4);
        Check.Close(Slice(grads, head.Norm.Gamma), g.DGamma, "dγ", atol: 2e-4);
        Check.Close(Slice(grads, head.Norm.Beta), g.DBeta, "dβ", atol: 2e-4);
        Check.Close(Slice(grads, head.Second.Weight), g.DW2, "dW2", atol: 2e-4);
        Check.Close(Slice(grads, head.Second.Bias!), g.DB2, "db2", atol: 2e-4);
        Check.NotAllZero(g.DW1, "dW1");

        if (!finiteDifferences)
            return;
        // The reference's backward itself, against finite differences of its forward.
        var numeric = FiniteDifference.Gradient(v => FiniteDifference.Dot(RefHead.Forward(w with { W1 = v }, x, n, inF, hidden, outF), dY), w.W1);
        Check.Close(g.DW1, numeric, "reference dW1 vs finite differences", FiniteDifference.Atol, FiniteDifference.Rtol);
    }

    [Fact]
    public void ParameterCountsOfTheDefaultHeads()
    {
        Assert.Equal(3_158_272, MlpHead.ParameterCount(512, 4096, 256));   // projector
        Assert.Equal(2_109_696, MlpHead.ParameterCount(256, 4096, 256));   // predictor
        using var store = new ParameterStore(Device);
        _ = new MlpHead(store, "projector", 8, 16, 4);
        Assert.Equal(MlpHead.ParameterCount(8, 16, 4), store.Parameters.Sum(p => (long)p.Length));
    }

    [Fact]
    public void TrainingStepsAllocateNoDeviceMemoryAfterTheFirst()
    {
        var (n, inF, hidden, outF) = Sizes;
        using var store = new ParameterStore(Device);
        var head = new MlpHead(store, "projector", inF, hidden, outF);
        store.Build(8);
        using var sgd = new Sgd(store, momentum: 0.9f, weightDecay: 1e-4f);
        var x = Rand.UniformF(3, n * inF).ToFloat();
        var z = Rand.UniformF(4, n * outF).ToFloat();
        int allocationsAfterFirst = -1;
        var losses = new List<float>();
        for (int step = 0; step < 4; step++)
        {
            var tape = NewTape();
            store.ZeroGrad();
            var tx = Tensor.FromHost(Device, "x", x, n, inF);
            var target = Tensor.FromHost(Device, "z", z, n, outF);
            var p = head.Forward(tape, tx);
            var loss = Ops.Reduce.Mean(tape, Ops.ByolLoss.PairLoss(tape, p, target));
            tape.Backward(loss);
            sgd.Step(0.05f);
            losses.Add(loss.ToHost()[0]);
            if (step == 0)
                allocationsAfterFirst = Device.Pool.Allocations;
        }
        Assert.Equal(allocationsAfterFirst, Device.Pool.Allocations);
        Assert.True(losses[^1] < losses[0], $"loss did not fall: {string.Join(", ", losses)}");
    }

    [Fact]
    public void TemporariesOfAReleasedStepCannotBeRead()
    {
        var tape = NewTape();
        var t = Tensor.FromHost(Device, "x", [1f, 2f], 2);
        Device.Pool.ReleaseAll();
        var e = Assert.Throws<InvalidOperationException>(() => t.ToHost());
        Assert.Contains("earlier step", e.Message);
        _ = tape;
    }
}

public sealed class CpuMlpHeadTests : MlpHeadTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClMlpHeadTests : MlpHeadTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaMlpHeadTests : MlpHeadTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
