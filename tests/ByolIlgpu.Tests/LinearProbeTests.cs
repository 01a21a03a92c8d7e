using ByolIlgpu.Engine;
using ByolIlgpu.Eval;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using ILGPU;
using ILGPU.Runtime;
using Xunit;
using Ref = ByolIlgpu.Reference;

namespace ByolIlgpu.Tests;

/// <summary>Cross-entropy kernels and the linear evaluation against plain references.</summary>
public abstract class LinearProbeTests : BackendTest
{
    [Fact]
    public void CrossEntropyForwardAndBackward() => CheckCrossEntropy(finiteDifferences: false);

    [Fact]
    public void CrossEntropyBackwardMatchesFiniteDifferences()
    {
        SkipUnlessTiny("cross entropy dZ");
        CheckCrossEntropy(finiteDifferences: true);
    }

    void CheckCrossEntropy(bool finiteDifferences)
    {
        int rows = Large ? 300 : 4, classes = 10;
        var tape = NewTape();
        var z = Rand.UniformF(1, rows * classes, -4, 4);
        var labels = Enumerable.Range(0, rows).Select(i => (i * 7) % classes).ToArray();
        var dL = Rand.UniformF(2, rows, 0.5, 1.5);
        using var labelBuffer = Device.Accelerator.Allocate1D(labels);
        var tz = Tensor.FromHost(Device, "logits", z.ToFloat(), rows, classes);
        tz.RequiresGrad = true;
        var loss = Ops.CrossEntropy.Forward(tape, tz, labelBuffer.View);
        Check.Close(loss.ToHost(), Ref.Classifier.CrossEntropy(z, labels, rows, classes), "cross entropy");
        tape.Backward(loss, Tensor.FromHost(Device, "dL", dL.ToFloat(), rows));
        Check.Close(tz.Grad!.ToHost(), Ref.Classifier.CrossEntropyBackward(z, labels, dL, rows, classes), "cross entropy dZ");
        if (finiteDifferences)
            FiniteDifference.Assert(tz.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.Classifier.CrossEntropy(v, labels, rows, classes), dL), z, "cross entropy dZ");
    }

    /// <summary>Gaussian clusters around well-separated centres: linearly separable.</summary>
    static (double[] x, int[] y) Clusters(int count, int dim, int classes, int seed)
    {
        var rng = new Random(seed);
        var centres = Rand.Uniform(seed + 100, classes * dim, -3, 3);
        var x = new double[count * dim];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            y[i] = i % classes;
            for (int d = 0; d < dim; d++)
                x[i * dim + d] = (float)(centres[y[i] * dim + d] + 0.3 * (rng.NextDouble() * 2 - 1));
        }
        return (x, y);
    }

    (LinearProbeResult, float[]) Probe(double[] x, int[] y, double[] tx, int[] ty, int dim, int classes, LinearProbeConfig config)
    {
        Device.Pool.ReleaseAll();
        using var train = Device.Accelerator.Allocate1D(x.ToFloat());
        using var test = Device.Accelerator.Allocate1D(tx.ToFloat());
        var testFeatures = Tensor.View(Device, "test", test.View, ty.Length, dim);
        var (result, store) = LinearProbe.Train(Device, y.Length, dim, y,
            (_, indices, b) =>
            {
                var batch = Tensor.Temp(Device, "batch", b, dim);
                Ops.Elementwise.GatherRows(Device, train.View, indices, batch.Data, dim);
                return batch;
            },
            testFeatures, ty, classes, config);
        using (store)
            return (result, store.ValuesToHost());
    }

    [Fact]
    public void LearnsASeparableSet()
    {
        int dim = 8, classes = 4;
        var (x, y) = Clusters(Large ? 2000 : 200, dim, classes, 3);
        var (tx, ty) = Clusters(100, dim, classes, 3);
        var (result, _) = Probe(x, y, tx, ty, dim, classes, new LinearProbeConfig(Epochs: 10, BatchSize: 32));
        Assert.True(result.Top1 >= 0.95, $"top-1 {result.Top1} on a separable set");
        Assert.Equal(1.0, result.Top5);
    }

    [Fact]
    public void MatchesAPlainSgdReference()
    {
        int dim = 5, classes = 3, count = 40, batch = 8, epochs = 2;
        var (x, y) = Clusters(count, dim, classes, 4);
        var config = new LinearProbeConfig(Epochs: epochs, BatchSize: batch, Seed: 9);
        var (_, weights) = Probe(x, y, x, y, dim, classes, config);

        // The same procedure in double precision: identical init (the store's seeded draw), order and schedule.
        using var init = new ParameterStore(Device);
        _ = new ByolIlgpu.Layers.Linear(init, "classifier", dim, classes);
        init.Build(config.Seed);
        var start = init.ValuesToHost().Select(v => (double)v).ToArray();
        var w = start.Take(classes * dim).ToArray();
        var b = start.Skip(classes * dim).ToArray();
        double[] vw = new double[w.Length], vb = new double[b.Length];
        int steps = count / batch;
        long step = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var order = EpochOrder.Permutation(count, config.Seed, epoch);
            for (int s = 0; s < steps; s++, step++)
            {
                var idx = order.Skip(s * batch).Take(batch).ToArray();
                var xb = idx.SelectMany(i => x.Skip(i * dim).Take(dim)).ToArray();
                var yb = idx.Select(i => y[i]).ToArray();
                var logits = Ref.Dense.LinearForward(xb, w, b, batch, dim, classes);
                var dLogits = Ref.Classifier.CrossEntropyBackward(logits, yb, Enumerable.Repeat(1.0 / batch, batch).ToArray(), batch, classes);
                var (_, dW, dB) = Ref.Dense.LinearBackward(xb, w, dLogits, batch, dim, classes);
                double lr = config.BaseLr * batch / 256.0 * (1 + Math.Cos(Math.PI * step / (steps * epochs))) / 2;
                (w, vw) = Ref.Optimizers.Sgd(w, dW, vw, lr, 0.9, 0, decay: true);
                (b, vb) = Ref.Optimizers.Sgd(b, dB, vb, lr, 0.9, 0, decay: false);
            }
        }
        Check.Close(weights, w.Concat(b).ToArray(), "classifier after two epochs");
        Assert.NotEqual(start, weights.Select(v => (double)v).ToArray());
    }
}

public sealed class CpuLinearProbeTests : LinearProbeTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClLinearProbeTests : LinearProbeTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaLinearProbeTests : LinearProbeTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
