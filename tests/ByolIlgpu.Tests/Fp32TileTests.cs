using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using DenseRef = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Tests;

/// <summary>
/// Conv2d version 6 (FP32 CUDA-core tiles, 256-thread groups) on the CPU accelerator with 32-lane warps
/// and 256-thread groups: the tiny cases of <see cref="Conv2dTests"/>, and shapes that span several 128×128
/// tiles in every direction with ragged edges. (Not a <see cref="Conv2dTests"/> subclass: its tape and
/// shape tests run the CPU's default versions, which <see cref="CpuConv2dTests"/> already covers.)
/// </summary>
public sealed class CpuWarps32Conv2dFp32Tests
{
    static ComputeDevice Device => TestDevices.CpuWarps32;

    static readonly IReadOnlyList<int> Versions = [6];

    [Theory, MemberData(nameof(Conv2dTests.Cases), MemberType = typeof(Conv2dTests))]
    public void Version6MatchesTheReference(int n, int c, int h, int w, int k, int r, int stride, int pad) =>
        Conv2dTests.CheckVersions(Device, Versions, new Conv2dShape(n, c, h, w, k, r, r, stride, pad));

    [Theory, MemberData(nameof(Conv2dTests.BlockCases), MemberType = typeof(Conv2dTests))]
    public void Version6MatchesTheReferenceOnFullBlocks(bool large, int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        if (large)
            Assert.Skip("a realistic-size case: it runs on the OpenCL and CUDA backends");
        Conv2dTests.CheckVersions(Device, Versions, new Conv2dShape(n, c, h, w, k, r, r, stride, pad));
    }

    /// <summary>(N, C, H, W, K, R, stride, pad): more than one tile of positions, columns or taps, partial strips.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> TileCases => new()
    {
        { 5, 2, 8, 8, 3, 1, 1, 0 },       // 320 positions: 3 tiles, 2 chunks of the weight gradient (partials summed in order)
        { 1, 16, 9, 9, 20, 3, 1, 1 },     // C·R·S = 144: 2 tap tiles, 18 strips; backward T = 180 (22 strips and 4 rows)
        { 2, 5, 11, 10, 130, 1, 2, 0 },   // K = 130: 2 column tiles of Y, 2 row tiles of dWt, backward T = 130 (16 strips and 2 rows)
        { 3, 130, 5, 4, 7, 1, 1, 0 },     // C = 130: 2 column tiles of dX, forward T = 130, 2 tap tiles
    };

    [Theory, MemberData(nameof(TileCases))]
    public void Version6MatchesTheReferenceAcrossTiles(int n, int c, int h, int w, int k, int r, int stride, int pad) =>
        Conv2dTests.CheckVersions(Device, Versions, new Conv2dShape(n, c, h, w, k, r, r, stride, pad));

    [Fact]
    public void Version6IsBitwiseRepeatable()
    {
        var g = new Conv2dShape(3, 9, 7, 6, 10, 3, 3, 1, 1);
        var x = Rand.UniformF(24, (int)g.InputLength).ToFloat();
        var wt = Rand.UniformF(25, (int)g.WeightLength).ToFloat();
        var dY = Rand.UniformF(26, (int)g.OutputLength).ToFloat();
        float[] Run()
        {
            Device.Pool.ReleaseAll();
            var y = Tensor.Temp(Device, "y", g.N, g.K, g.P, g.Q);
            var dx = Tensor.Zeros(Device, "dX", g.N, g.C, g.H, g.W);
            var dw = Tensor.Zeros(Device, "dW", g.K, g.C, g.R, g.S);
            var tx = Tensor.FromHost(Device, "x", x, g.N, g.C, g.H, g.W);
            var tw = Tensor.FromHost(Device, "w", wt, g.K, g.C, g.R, g.S);
            var tdy = Tensor.FromHost(Device, "dY", dY, g.N, g.K, g.P, g.Q);
            Conv2d.LaunchForward(Device, tx.Data, tw.Data, y.Data, g, 6);
            Conv2d.LaunchBackwardInput(Device, tdy.Data, tw.Data, dx.Data, g, 6);
            Conv2d.LaunchBackwardWeight(Device, tx.Data, tdy.Data, dw.Data, g, 6);
            return [.. y.ToHost(), .. dx.ToHost(), .. dw.ToHost()];
        }
        var first = Run();
        Assert.True(first.AsSpan().SequenceEqual(Run()), $"conv2d v6 {g}: two runs differ");
    }

    /// <summary>
    /// After the first call of each pass (which fills the pool and uploads the offset tables), the same
    /// passes copy nothing, allocate nothing and wait for nothing: the tables stay on the device.
    /// </summary>
    [Fact]
    public void Version6UploadsItsTablesOnceAndThenCopiesAndAllocatesNothing()
    {
        var dev = Device;
        var g = new Conv2dShape(1, 3, 7, 6, 5, 3, 3, 2, 1);   // a geometry no other test uses: its tables are new
        using var x = dev.Allocate(Rand.UniformF(21, (int)g.InputLength).ToFloat());     // (N, C, H, W)
        using var w = dev.Allocate(Rand.UniformF(22, (int)g.WeightLength).ToFloat());    // (K, C, R, S)
        using var dy = dev.Allocate(Rand.UniformF(23, (int)g.OutputLength).ToFloat());   // (N, K, P, Q)
        using var y = dev.Allocate<float>(g.OutputLength);                                // (N, K, P, Q)
        using var dx = dev.Allocate<float>(g.InputLength);                                // (N, C, H, W)
        using var dw = dev.Allocate<float>(g.WeightLength);                               // (K, C, R, S)
        void Passes()
        {
            dev.Pool.ReleaseAll();
            Conv2d.LaunchForward(dev, x.View, w.View, y.View, g, 6);
            Conv2d.LaunchBackwardInput(dev, dy.View, w.View, dx.View, g, 6);
            Conv2d.LaunchBackwardWeight(dev, x.View, dy.View, dw.View, g, 6);
        }
        int tablesBefore = dev.ConstantTableCount;
        var start = dev.Counters;
        Passes();
        var first = dev.Counters - start;
        // One offset table for the forward, one per parity class of the backward-input (4), one position table.
        Assert.Equal(tablesBefore + 6, dev.ConstantTableCount);
        Assert.True(first.Copies >= 6, $"first call: {first}");
        var before = dev.Counters;
        Passes();
        var again = dev.Counters - before;
        Assert.Equal(tablesBefore + 6, dev.ConstantTableCount);
        Assert.Equal((0L, 0L, 0L), (again.Copies, again.Allocations, again.HostSyncs));
        Assert.Equal(first.Launches, again.Launches);
    }
}

/// <summary>Matmul version 5 on the CPU accelerator with 256-thread groups: ragged shapes over several tiles, every transpose.</summary>
public sealed class CpuWarps32MatmulFp32Tests
{
    static ComputeDevice Device => TestDevices.CpuWarps32;

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { true, false }, { false, true }, { true, true } };

    [Theory, MemberData(nameof(Transposes))]
    public void Version5MatchesTheReference(bool transA, bool transB)
    {
        // (M, N, K): one partial tile; 2 × 2 tiles with 2 and 3 left over and a partial strip; a row; K past one tile.
        foreach (var (m, n, k) in new[] { (5, 70, 9), (130, 131, 17), (1, 3, 2), (129, 7, 130) })
        {
            Device.Pool.ReleaseAll();
            var a = Rand.UniformF(31, m * k);
            var b = Rand.UniformF(32, k * n);
            var c = Rand.UniformF(33, m * n);
            var expected = DenseRef.Matmul(a, b, c, m, n, k, transA, transB, alpha: 0.75, beta: 0.5);
            var tc = Tensor.FromHost(Device, "c", c.ToFloat(), m * n);
            Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
                tc.Data, m, n, k, transA, transB, 0.75f, 0.5f, version: 5);
            Check.Close(tc.ToHost(), expected, $"matmul v5 ({m}×{n}×{k}, transA {transA}, transB {transB})", atol: 1e-5 * k);
        }
    }

    [Fact]
    public void Version5WithBetaZeroIgnoresGarbageInC()
    {
        Device.Pool.ReleaseAll();
        int m = 3, n = 130, k = 4;
        var a = Rand.UniformF(34, m * k);
        var b = Rand.UniformF(35, k * n);
        var c = Tensor.FromHost(Device, "c", Enumerable.Repeat(float.NaN, m * n).ToArray(), m * n);
        Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
            c.Data, m, n, k, false, false, 1f, 0f, version: 5);
        Check.Close(c.ToHost(), DenseRef.Matmul(a, b, null, m, n, k, false, false), "matmul v5 with β = 0 over NaN");
    }
}

/// <summary>Conv2d version 6 and Matmul version 5 at the network's own shapes on OpenCL (PoCL), against the double reference.</summary>
[Trait("Backend", "OpenCL")]
public sealed class OpenClFp32TileTests
{
    static ComputeDevice Device => TestDevices.OpenCl;

    /// <summary>ResNet-18's CIFAR conv shapes at width 64 (stem, each stage's 3×3 convs, the 1×1 stride-2 shortcuts), batch 2.</summary>
    public static TheoryData<int, int, int, int, int> ResNet18Shapes()
    {
        var data = new TheoryData<int, int, int, int, int> { { 3, 64, 32, 3, 1 } };   // (C, K, H = W, R, stride)
        foreach (var (c, k, hw, stride) in new[] { (64, 64, 32, 1), (64, 128, 32, 2), (128, 128, 16, 1), (128, 256, 16, 2), (256, 256, 8, 1), (256, 512, 8, 2), (512, 512, 4, 1) })
        {
            data.Add(c, k, hw, 3, stride);
            if (stride == 2)
                data.Add(c, k, hw, 1, stride);
        }
        return data;
    }

    [Theory, MemberData(nameof(ResNet18Shapes))]
    public void Conv2dVersion6MatchesTheReferenceAtResNet18Shapes(int c, int k, int hw, int r, int stride) =>
        Conv2dTests.CheckVersions(Device, [6], new Conv2dShape(2, c, hw, hw, k, r, r, stride, r / 2));

    /// <summary>The BYOL heads' products at batch 16 (512 → 4096 → 256): forward, dA = dC·Bᵀ and dB = Aᵀ·dC.</summary>
    [Theory]
    [InlineData(16, 4096, 512, false, false)]
    [InlineData(16, 512, 4096, false, true)]
    [InlineData(4096, 256, 16, true, false)]
    public void MatmulVersion5MatchesTheReferenceAtHeadShapes(int m, int n, int k, bool transA, bool transB)
    {
        Device.Pool.ReleaseAll();
        var a = Rand.UniformF(41, m * k);
        var b = Rand.UniformF(42, k * n);
        var c = Rand.UniformF(43, m * n);
        var expected = DenseRef.Matmul(a, b, c, m, n, k, transA, transB, alpha: 1, beta: 1);
        var tc = Tensor.FromHost(Device, "c", c.ToFloat(), m * n);
        Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
            tc.Data, m, n, k, transA, transB, 1f, 1f, version: 5);
        Check.Close(tc.ToHost(), expected, $"matmul v5 ({m}×{n}×{k}, transA {transA}, transB {transB})", atol: 1e-5 * k);
    }
}

/// <summary>
/// What the FP32 tiles are for, read from the code the CUDA driver would run: 128-bit shared loads only,
/// at least 16 FMAs per shared-load instruction, no spills, two groups per H100 SM.
/// </summary>
public class Fp32TileAssemblyTests
{
    static readonly string[] Names = ["Conv2dForwardKernel6", "Conv2dBackwardInputKernel6", "Conv2dBackwardWeightKernel6", "MatmulKernel5"];

    static IReadOnlyList<System.Reflection.MethodInfo> Kernels => KernelCatalog.All.Where(k => Names.Contains(k.Name)).ToList();

    [Fact]
    public void TheirPtxReadsSharedMemoryOnlyAsFloat4s()
    {
        Assert.Equal(Names.Length, Kernels.Count);
        foreach (var kernel in Kernels)
        {
            var ptx = KernelCatalog.CompilePtx(kernel, CudaTarget.H100).Split('\n').Select(l => l.Trim()).ToList();
            // Per reduction step two float4s of each operand: 4 × 8 steps of a strip.
            int vector = ptx.Count(l => l.StartsWith("ld.shared.v4.f32", StringComparison.Ordinal));
            int scalar = ptx.Count(l => l.StartsWith("ld.shared.", StringComparison.Ordinal) && !l.StartsWith("ld.shared.v4.f32", StringComparison.Ordinal));
            Assert.True(vector == 4 * FmaTileStrip && scalar == 0, $"{kernel.Name}: {vector} ld.shared.v4.f32 and {scalar} other shared loads, expected {4 * FmaTileStrip} and 0");
        }
    }

    const int FmaTileStrip = Conv2dKernels.TileK6;

    [Fact]
    public void TheirSassDoesAtLeastSixteenFmasPerSharedLoadWithoutSpills()
    {
        var tools = PtxasTests.RequireTools();
        var audits = PtxAudit.Run(tools, Kernels, [CudaTarget.H100], sass: true);
        foreach (var a in audits)
        {
            Assert.Null(a.Problem);
            var s = a.Sass!;
            Assert.True(s.Lds32 == 0 && s.Lds64 == 0 && s.Lds128 >= 4 * FmaTileStrip, $"{a.Name}: LDS {s.Lds32}, LDS.64 {s.Lds64}, LDS.128 {s.Lds128}");
            Assert.True(s.FfmaPerLds >= 16, $"{a.Name}: {s.Ffma} FFMA over {s.Lds} shared loads");
            var occupancy = SmLimits.H100.OccupancyAt(a.Ptxas!.Registers, a.Ptxas.SharedBytes, GpuGroups.Threads(GpuGroups.LaunchOf(a.Kernel)!.Value));
            Assert.True(occupancy.ActiveWarps >= 16, $"{a.Name}: {a.Ptxas.Registers} registers leave {occupancy.ActiveWarps} warps per SM, expected two groups of 8");
        }
    }
}
