using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using Ref = ByolIlgpu.Reference.Conv;

namespace ByolIlgpu.Tests;

/// <summary>
/// Every Conv2d version (forward, backward-input, backward-weight) against the double reference,
/// and the backward against finite differences, over strides 1 and 2, padding 0 and 1, 1×1 and 3×3
/// filters, odd non-square inputs, batch 1 and more, channel counts off the tile sizes.
/// </summary>
public abstract class Conv2dTests : BackendTest
{
    /// <summary>Versions to check on this backend (every version of every pass).</summary>
    protected abstract IReadOnlyList<int> Versions { get; }

    /// <summary>(N, C, H, W, K, R, stride, pad) cases.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> Cases => new()
    {
        { 1, 3, 5, 7, 4, 3, 1, 1 },   // conv1-like: 3×3, stride 1, pad 1, odd non-square
        { 2, 5, 7, 6, 3, 3, 2, 1 },   // stride 2, pad 1
        { 2, 4, 6, 5, 6, 1, 2, 0 },   // 1×1 stride-2 shortcut, pad 0
        { 3, 2, 5, 5, 5, 3, 1, 0 },   // 3×3 without padding
        { 1, 7, 4, 9, 9, 1, 1, 0 },   // 1×1 stride 1
    };

    Conv2dShape Scaled(int n, int c, int h, int w, int k, int r, int stride, int pad) => Large
        ? new Conv2dShape(n + 1, c * 7, h * 3, w * 3, k * 11, r, r, stride, pad)
        : new Conv2dShape(n, c, h, w, k, r, r, stride, pad);

    /// <summary>
    /// (N, C, H, W, K, R, stride, pad) cases, used as they are (not scaled), whose channel counts fill
    /// whole 64-channel blocks of versions 2 and 4 and whose rows fill several 64-position runs of
    /// version 3 (and leave partial blocks and runs), with reductions long enough for version 2's
    /// 512-row slices and several weight-gradient chunks: tiny ones for the CPU accelerator,
    /// ResNet-like ones with odd sizes and batches for OpenCL.
    /// </summary>
    public static TheoryData<bool, int, int, int, int, int, int, int, int> BlockCases => new()
    {
        { false, 1, 4, 5, 6, 16, 3, 1, 1 },
        { false, 2, 3, 6, 5, 64, 3, 2, 1 },
        { false, 1, 16, 4, 4, 8, 1, 2, 0 },
        { true, 3, 16, 9, 11, 64, 3, 1, 1 },
        { true, 2, 64, 8, 8, 128, 3, 2, 1 },
        { true, 2, 64, 9, 7, 128, 1, 2, 0 },
        { true, 5, 128, 4, 4, 96, 3, 1, 1 },
        { true, 33, 3, 6, 6, 16, 3, 1, 1 },
        { true, 2, 32, 7, 7, 32, 3, 2, 0 },
    };

    [Theory, MemberData(nameof(Cases))]
    public void EveryVersionMatchesTheReference(int n, int c, int h, int w, int k, int r, int stride, int pad) =>
        CheckEveryVersion(Scaled(n, c, h, w, k, r, stride, pad));

    [Theory, MemberData(nameof(BlockCases))]
    public void EveryVersionMatchesTheReferenceOnFullBlocks(bool large, int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        if (large != Large)
            Assert.Skip(large ? "a realistic-size case: it runs on the OpenCL and CUDA backends" : "a tiny case: it runs on the CPU backend");
        CheckEveryVersion(new Conv2dShape(n, c, h, w, k, r, r, stride, pad));
    }

    void CheckEveryVersion(Conv2dShape g) => CheckVersions(Device, Versions, g);

    /// <summary>Each version's three passes on <paramref name="device"/> against the double reference, atol scaled by the reduction length.</summary>
    internal static void CheckVersions(ComputeDevice device, IReadOnlyList<int> versions, Conv2dShape g)
    {
        var x = Rand.UniformF(1, (int)g.InputLength);
        var wt = Rand.UniformF(2, (int)g.WeightLength);
        var dY = Rand.UniformF(3, (int)g.OutputLength);
        var yRef = Ref.Conv2dForward(x, wt, g);
        var (dXRef, dWRef) = Ref.Conv2dBackward(x, wt, dY, g);
        // Sums of C·R·S (forward), K·R·S (input) and N·P·Q (weight) float products.
        double atolF = 1e-5 * g.C * g.R * g.S, atolI = 1e-5 * g.K * g.R * g.S, atolW = 1e-5 * g.N * g.P * g.Q;
        foreach (var version in versions)
        {
            device.Pool.ReleaseAll();
            var tx = Tensor.FromHost(device, "x", x.ToFloat(), g.N, g.C, g.H, g.W);
            var tw = Tensor.FromHost(device, "w", wt.ToFloat(), g.K, g.C, g.R, g.S);
            var tdy = Tensor.FromHost(device, "dY", dY.ToFloat(), g.N, g.K, g.P, g.Q);
            var y = Tensor.Temp(device, "y", g.N, g.K, g.P, g.Q);
            Ops.Conv2d.LaunchForward(device, tx.Data, tw.Data, y.Data, g, version);
            Check.Close(y.ToHost(), yRef, $"conv2d forward v{version} {g}", atol: atolF);

            // Backward kernels accumulate: start from a known non-zero gradient.
            var seedX = Rand.UniformF(4, (int)g.InputLength);
            var seedW = Rand.UniformF(5, (int)g.WeightLength);
            var dx = Tensor.FromHost(device, "dX", seedX.ToFloat(), g.N, g.C, g.H, g.W);
            var dw = Tensor.FromHost(device, "dW", seedW.ToFloat(), g.K, g.C, g.R, g.S);
            Ops.Conv2d.LaunchBackwardInput(device, tdy.Data, tw.Data, dx.Data, g, version);
            Ops.Conv2d.LaunchBackwardWeight(device, tx.Data, tdy.Data, dw.Data, g, version);
            Check.Close(dx.ToHost(), dXRef.Select((v, i) => v + seedX[i]).ToArray(), $"conv2d backward-input v{version} {g}", atol: atolI);
            Check.Close(dw.ToHost(), dWRef.Select((v, i) => v + seedW[i]).ToArray(), $"conv2d backward-weight v{version} {g}", atol: atolW);
        }
    }

    /// <summary>The same launch twice gives bit-identical results (fixed summation order, no atomics).</summary>
    [Fact]
    public void EveryVersionIsBitwiseRepeatable()
    {
        var g = Large ? new Conv2dShape(9, 24, 12, 10, 40, 3, 3, 1, 1) : new Conv2dShape(2, 3, 6, 5, 6, 3, 3, 2, 1);
        foreach (var version in Versions)
        {
            var first = AllPasses(Device, g, version);
            Assert.True(first.AsSpan().SequenceEqual(AllPasses(Device, g, version)), $"conv2d v{version} {g}: two runs differ");
        }
    }

    /// <summary>Forward, backward-input and backward-weight (from zero gradients) of fixed random operands, concatenated.</summary>
    static float[] AllPasses(ComputeDevice device, Conv2dShape g, int version)
    {
        device.Pool.ReleaseAll();
        var tx = Tensor.FromHost(device, "x", Rand.UniformF(12, (int)g.InputLength).ToFloat(), g.N, g.C, g.H, g.W);
        var tw = Tensor.FromHost(device, "w", Rand.UniformF(13, (int)g.WeightLength).ToFloat(), g.K, g.C, g.R, g.S);
        var tdy = Tensor.FromHost(device, "dY", Rand.UniformF(14, (int)g.OutputLength).ToFloat(), g.N, g.K, g.P, g.Q);
        var y = Tensor.Temp(device, "y", g.N, g.K, g.P, g.Q);
        var dx = Tensor.Zeros(device, "dX", g.N, g.C, g.H, g.W);
        var dw = Tensor.Zeros(device, "dW", g.K, g.C, g.R, g.S);
        Ops.Conv2d.LaunchForward(device, tx.Data, tw.Data, y.Data, g, version);
        Ops.Conv2d.LaunchBackwardInput(device, tdy.Data, tw.Data, dx.Data, g, version);
        Ops.Conv2d.LaunchBackwardWeight(device, tx.Data, tdy.Data, dw.Data, g, version);
        return [.. y.ToHost(), .. dx.ToHost(), .. dw.ToHost()];
    }

    /// <summary>
    /// Every register-block set (one per vector width; the policy picks one per device) gives the
    /// widest set's results bit for bit in every pass of versions 2 and 3, and matches the double
    /// reference: the sets sum each output in the same order, so a device's vector width never
    /// changes a run's numbers (a run resumed on an AVX2 machine continues an AVX-512 one exactly).
    /// </summary>
    [Theory, MemberData(nameof(BlockCases))]
    public void EveryBlockSetGivesTheWidestSetsBits(bool large, int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        if (large != Large)
            Assert.Skip(large ? "a realistic-size case: it runs on the OpenCL and CUDA backends" : "a tiny case: it runs on the CPU backend");
        var g = new Conv2dShape(n, c, h, w, k, r, r, stride, pad);
        var blockVersions = Versions.Where(v => v is 2 or 3).ToList();
        Assert.Equal([2, 3], blockVersions);
        try
        {
            Device.UseRegisterBlocks(RegisterBlockSet.Widest.Lanes);
            var widest = blockVersions.ToDictionary(v => v, v => AllPasses(Device, g, v));
            foreach (var set in RegisterBlockSet.All.Skip(1))
            {
                Device.UseRegisterBlocks(set.Lanes);
                Assert.Equal(set, Device.Policy.Blocks);
                foreach (var v in blockVersions)
                    Check.BitIdentical(AllPasses(Device, g, v), widest[v], $"conv2d v{v} {g}, blocks for {set.Lanes} lanes against {RegisterBlockSet.Widest.Lanes}");
                CheckVersions(Device, blockVersions, g);
            }
        }
        finally
        {
            Device.UseRegisterBlocks(null);
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void BackwardThroughTheTapeMatchesFiniteDifferences(int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        SkipUnlessTiny("conv2d dX and dW through the tape");
        var g = new Conv2dShape(n, c, h, w, k, r, r, stride, pad);
        var tape = NewTape();
        var x = Rand.UniformF(6, (int)g.InputLength);
        var wt = Rand.UniformF(7, (int)g.WeightLength);
        var dY = Rand.UniformF(8, (int)g.OutputLength);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), g.N, g.C, g.H, g.W);
        var tw = Tensor.FromHost(Device, "w", wt.ToFloat(), g.K, g.C, g.R, g.S);
        tx.RequiresGrad = tw.RequiresGrad = true;
        var y = Ops.Conv2d.Forward(tape, tx, tw, stride, pad);
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), g.N, g.K, g.P, g.Q));
        FiniteDifference.Assert(tx.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.Conv2dForward(v, wt, g), dY), x, $"conv2d dX {g}");
        FiniteDifference.Assert(tw.Grad!.ToHost(), v => FiniteDifference.Dot(Ref.Conv2dForward(x, v, g), dY), wt, $"conv2d dW {g}");
    }

    [Fact]
    public void ShapeErrorsNameTheTensors()
    {
        var tape = NewTape();
        var x = Tensor.FromHost(Device, "input", Rand.UniformF(9, 2 * 3 * 4 * 4).ToFloat(), 2, 3, 4, 4);
        var w = Tensor.FromHost(Device, "filters", Rand.UniformF(10, 5 * 2 * 3 * 3).ToFloat(), 5, 2, 3, 3);
        var e = Assert.Throws<ArgumentException>(() => Ops.Conv2d.Forward(tape, x, w, 1, 1));
        Assert.Contains("input", e.Message);
        Assert.Contains("filters", e.Message);
        var big = Tensor.FromHost(Device, "big", Rand.UniformF(11, 5 * 3 * 7 * 7).ToFloat(), 5, 3, 7, 7);
        Assert.Throws<ArgumentException>(() => Ops.Conv2d.Forward(tape, x, big, 1, 0));
    }
}

public sealed class CpuConv2dTests : Conv2dTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
    protected override IReadOnlyList<int> Versions => Ops.Conv2d.CpuVersions;   // no 256-thread groups here
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClConv2dTests : Conv2dTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
    protected override IReadOnlyList<int> Versions => Ops.Conv2d.Fp32Versions;   // TF32: TensorCoreTests
}

[Trait("Backend", "CUDA")]
public sealed class CudaConv2dTests : Conv2dTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
    protected override IReadOnlyList<int> Versions => Ops.Conv2d.Fp32Versions;   // TF32: TensorCoreTests
}
