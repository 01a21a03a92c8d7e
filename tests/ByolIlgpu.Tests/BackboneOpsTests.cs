using ByolIlgpu.Engine;
using ByolIlgpu.Ops;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>Global average pooling and the fused residual add + ReLU against references and finite differences.</summary>
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
