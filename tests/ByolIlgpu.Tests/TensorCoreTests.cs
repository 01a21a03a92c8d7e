using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;
using Xunit;
using ConvRef = ByolIlgpu.Reference.Conv;
using DenseRef = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Tests;

/// <summary>
/// The TF32 tensor-core kernels (Conv2d version 5, Matmul version 4) and the instruction they are
/// built on. Without a GPU, their emulation of mma.sync runs: checked against the PTX ISA's fragment
/// figures, then the kernels against the double reference within TF32's error bound
/// (<see cref="Tf32Bound"/>), on the CPU accelerator with 32-lane warps at tiny ragged shapes and on
/// OpenCL at ResNet-18's shapes. What the hardware returns waits for a GPU (the CUDA class).
/// </summary>
public abstract class TensorCoreTests : BackendTest
{
    /// <summary>
    /// The bound on |TF32 result − exact| for one output of a reduction of length T: each operand
    /// rounded to 11 significant bits is off by at most 2⁻¹¹ relatively, so each product by 2⁻¹⁰ + 2⁻²²
    /// (TF32 products are exact in FP32); summing T of them (and the output's old value) in FP32, in
    /// whatever order the tensor core uses, adds at most (T + 1)·2⁻²³ relatively (2⁻²³ rather than 2⁻²⁴
    /// allows truncating adders). Relative to Σ|a·b| (+|c|), the magnitude reference.
    /// </summary>
    public static double Tf32Bound(double magnitude, int reduction) =>
        (Math.Pow(2, -10) + Math.Pow(2, -22) + (reduction + 1) * Math.Pow(2, -23)) * magnitude + 1e-7;

    static double[] Abs(double[] v) => v.Select(Math.Abs).ToArray();

    // ---- the convolution, all three passes ----------------------------------------------------------

    /// <summary>(N, C, H, W, K, R, stride, pad): ragged tiny shapes (partial tiles, partial strips, stride 2, 1×1).</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> TinyConvCases => new()
    {
        { 1, 3, 5, 7, 4, 3, 1, 1 },
        { 2, 5, 7, 6, 3, 3, 2, 1 },
        { 2, 4, 6, 5, 6, 1, 2, 0 },
        { 3, 2, 5, 5, 5, 3, 1, 0 },
        { 1, 7, 9, 9, 70, 3, 1, 1 },   // 81 positions, 70 channels: two tiles each way, 63 reduction rows
    };

    /// <summary>Every distinct convolution of the CIFAR ResNet-18 (stem, four stages, their stride-2 and 1×1 shortcuts), batch 2.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> ResNet18ConvCases => new()
    {
        { 2, 3, 32, 32, 64, 3, 1, 1 },
        { 2, 64, 32, 32, 64, 3, 1, 1 },
        { 2, 64, 32, 32, 128, 3, 2, 1 },
        { 2, 64, 32, 32, 128, 1, 2, 0 },
        { 2, 128, 16, 16, 128, 3, 1, 1 },
        { 2, 128, 16, 16, 256, 3, 2, 1 },
        { 2, 128, 16, 16, 256, 1, 2, 0 },
        { 2, 256, 8, 8, 256, 3, 1, 1 },
        { 2, 256, 8, 8, 512, 3, 2, 1 },
        { 2, 256, 8, 8, 512, 1, 2, 0 },
        { 2, 512, 4, 4, 512, 3, 1, 1 },
    };

    [Theory, MemberData(nameof(TinyConvCases))]
    public void ConvolutionMatchesTheReferenceAtTinyShapes(int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        if (Large)
            Assert.Skip("tiny shapes: the CPU accelerator's case (ResNet-18's shapes run here)");
        CheckConvolution(new Conv2dShape(n, c, h, w, k, r, r, stride, pad));
    }

    [Theory, MemberData(nameof(ResNet18ConvCases))]
    public void ConvolutionMatchesTheReferenceAtResNet18Shapes(int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        if (!Large)
            Assert.Skip("ResNet-18's shapes: the OpenCL and CUDA backends' case");
        CheckConvolution(new Conv2dShape(n, c, h, w, k, r, r, stride, pad));
    }

    void CheckConvolution(Conv2dShape g)
    {
        var x = Rand.UniformF(21, (int)g.InputLength);
        var wt = Rand.UniformF(22, (int)g.WeightLength);
        var dY = Rand.UniformF(23, (int)g.OutputLength);
        var seedX = Rand.UniformF(24, (int)g.InputLength);
        var seedW = Rand.UniformF(25, (int)g.WeightLength);
        var yRef = ConvRef.Conv2dForward(x, wt, g);
        var (dXRef, dWRef) = ConvRef.Conv2dBackward(x, wt, dY, g);
        var yMag = ConvRef.Conv2dForward(Abs(x), Abs(wt), g);
        var (dXMag, dWMag) = ConvRef.Conv2dBackward(Abs(x), Abs(wt), Abs(dY), g);
        Check.NotAllZero(yRef, "forward reference");

        Device.Pool.ReleaseAll();
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), g.N, g.C, g.H, g.W);
        var tw = Tensor.FromHost(Device, "w", wt.ToFloat(), g.K, g.C, g.R, g.S);
        var tdy = Tensor.FromHost(Device, "dY", dY.ToFloat(), g.N, g.K, g.P, g.Q);
        var y = Tensor.Temp(Device, "y", g.N, g.K, g.P, g.Q);
        var dx = Tensor.FromHost(Device, "dX", seedX.ToFloat(), g.N, g.C, g.H, g.W);
        var dw = Tensor.FromHost(Device, "dW", seedW.ToFloat(), g.K, g.C, g.R, g.S);
        Ops.Conv2d.LaunchForward(Device, tx.Data, tw.Data, y.Data, g, version: 5);
        Ops.Conv2d.LaunchBackwardInput(Device, tdy.Data, tw.Data, dx.Data, g, version: 5);
        Ops.Conv2d.LaunchBackwardWeight(Device, tx.Data, tdy.Data, dw.Data, g, version: 5);

        int crs = g.C * g.R * g.S, krs = g.K * g.R * g.S, npq = g.N * g.P * g.Q;
        Check.WithinBound(y.ToHost(), yRef, yMag.Select(m => Tf32Bound(m, crs)).ToArray(), $"conv2d v5 forward {g}");
        Check.WithinBound(dx.ToHost(), dXRef.Select((v, i) => v + seedX[i]).ToArray(),
            dXMag.Select((m, i) => Tf32Bound(m + Math.Abs(seedX[i]), krs)).ToArray(), $"conv2d v5 backward-input {g}");
        Check.WithinBound(dw.ToHost(), dWRef.Select((v, i) => v + seedW[i]).ToArray(),
            dWMag.Select((m, i) => Tf32Bound(m + Math.Abs(seedW[i]), npq)).ToArray(), $"conv2d v5 backward-weight {g}");
    }

    /// <summary>TF32 is not FP32: on random inputs the version-5 forward must differ from the FP32 reference by more than FP32 rounding would (else the operands were not rounded).</summary>
    [Fact]
    public void ConvolutionRoundsItsOperandsToTf32()
    {
        var g = Large ? new Conv2dShape(2, 64, 8, 8, 64, 3, 3, 1, 1) : new Conv2dShape(1, 7, 9, 9, 70, 3, 3, 1, 1);
        var x = Rand.UniformF(26, (int)g.InputLength);
        var wt = Rand.UniformF(27, (int)g.WeightLength);
        var yRef = ConvRef.Conv2dForward(x, wt, g);
        var yTf32 = ConvRef.Conv2dForward(x.Select(Tf32).ToArray(), wt.Select(Tf32).ToArray(), g);
        Device.Pool.ReleaseAll();
        var y = Tensor.Temp(Device, "y", g.N, g.K, g.P, g.Q);
        Ops.Conv2d.LaunchForward(Device, Tensor.FromHost(Device, "x", x.ToFloat(), g.N, g.C, g.H, g.W).Data,
            Tensor.FromHost(Device, "w", wt.ToFloat(), g.K, g.C, g.R, g.S).Data, y.Data, g, version: 5);
        var got = y.ToHost();
        double fromExact = got.Select((v, i) => Math.Abs(v - yRef[i])).Max();
        double fromTf32 = got.Select((v, i) => Math.Abs(v - yTf32[i])).Max();
        Assert.True(fromTf32 < fromExact / 4, $"conv2d v5 {g}: max |got − TF32-operand reference| {fromTf32:G3} should be far below max |got − exact| {fromExact:G3}");
    }

    static double Tf32(double v) => TensorCore.RoundToTf32Emulated((float)v);

    [Fact]
    public void ConvolutionIsBitwiseRepeatable()
    {
        var g = Large ? new Conv2dShape(3, 24, 12, 10, 40, 3, 3, 1, 1) : new Conv2dShape(2, 3, 6, 5, 6, 3, 3, 2, 1);
        var x = Rand.UniformF(12, (int)g.InputLength).ToFloat();
        var wt = Rand.UniformF(13, (int)g.WeightLength).ToFloat();
        var dY = Rand.UniformF(14, (int)g.OutputLength).ToFloat();
        float[] Run()
        {
            Device.Pool.ReleaseAll();
            var tx = Tensor.FromHost(Device, "x", x, g.N, g.C, g.H, g.W);
            var tw = Tensor.FromHost(Device, "w", wt, g.K, g.C, g.R, g.S);
            var tdy = Tensor.FromHost(Device, "dY", dY, g.N, g.K, g.P, g.Q);
            var y = Tensor.Temp(Device, "y", g.N, g.K, g.P, g.Q);
            var dx = Tensor.Zeros(Device, "dX", g.N, g.C, g.H, g.W);
            var dw = Tensor.Zeros(Device, "dW", g.K, g.C, g.R, g.S);
            Ops.Conv2d.LaunchForward(Device, tx.Data, tw.Data, y.Data, g, 5);
            Ops.Conv2d.LaunchBackwardInput(Device, tdy.Data, tw.Data, dx.Data, g, 5);
            Ops.Conv2d.LaunchBackwardWeight(Device, tx.Data, tdy.Data, dw.Data, g, 5);
            return [.. y.ToHost(), .. dx.ToHost(), .. dw.ToHost()];
        }
        Assert.True(Run().AsSpan().SequenceEqual(Run()), $"conv2d v5 {g}: two runs differ");
    }

    // ---- the matrix product ---------------------------------------------------------------------------

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { true, false }, { false, true }, { true, true } };

    (int m, int n, int k)[] MatmulShapes => Large
        ? [(67, 200, 45), (256, 512, 512), (130, 4096, 512), (64, 256, 4096), (1, 130, 300)]
        : [(5, 70, 9), (70, 65, 33), (1, 3, 2)];

    [Theory, MemberData(nameof(Transposes))]
    public void MatmulMatchesTheReference(bool transA, bool transB)
    {
        foreach (var (m, n, k) in MatmulShapes)
        {
            Device.Pool.ReleaseAll();
            var a = Rand.UniformF(31, m * k);
            var b = Rand.UniformF(32, k * n);
            var c = Rand.UniformF(33, m * n);
            var expected = DenseRef.Matmul(a, b, c, m, n, k, transA, transB, alpha: 0.75, beta: 0.5);
            var magnitude = DenseRef.Matmul(Abs(a), Abs(b), Abs(c), m, n, k, transA, transB, alpha: 0.75, beta: 0.5);
            var tc = Tensor.FromHost(Device, "c", c.ToFloat(), m * n);
            Ops.Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
                tc.Data, m, n, k, transA, transB, 0.75f, 0.5f, version: 4);
            Check.WithinBound(tc.ToHost(), expected, magnitude.Select(v => Tf32Bound(v, k)).ToArray(), $"matmul v4 {m}×{n}×{k} transA={transA} transB={transB}");
        }
    }

    [Fact]
    public void MatmulWithBetaZeroIgnoresGarbageInC()
    {
        int m = Large ? 67 : 5, n = Large ? 130 : 70, k = Large ? 45 : 9;
        Device.Pool.ReleaseAll();
        var a = Rand.UniformF(34, m * k);
        var b = Rand.UniformF(35, k * n);
        var c = Tensor.FromHost(Device, "c", Enumerable.Repeat(float.NaN, m * n).ToArray(), m * n);
        Ops.Matmul.Gemm(Device, Tensor.FromHost(Device, "a", a.ToFloat(), m * k).Data, Tensor.FromHost(Device, "b", b.ToFloat(), k * n).Data,
            c.Data, m, n, k, false, false, 1f, 0f, version: 4);
        var magnitude = DenseRef.Matmul(Abs(a), Abs(b), null, m, n, k, false, false);
        Check.WithinBound(c.ToHost(), DenseRef.Matmul(a, b, null, m, n, k, false, false), magnitude.Select(v => Tf32Bound(v, k)).ToArray(), "matmul v4 with β = 0 over NaN");
    }

    // ---- the instruction's emulation, one warp -----------------------------------------------------------

    /// <summary>One warp: lane ℓ loads its fragments of A (16×8), B (8×8) and C (16×8) by the layout functions, runs Mma once, stores D.</summary>
    static void OneMmaKernel(
        ArrayView<float> a,     // (16, 8)
        ArrayView<float> b,     // (8, 8)
        ArrayView<float> c,     // (16, 8), D on return
        int unused)
    {
        var scratch = SharedMemory.Allocate<float>(TensorCore.ScratchPerWarp);
        int lane = Group.IdxX;
        float a0 = a[TensorCore.ARow(lane, 0) * 8 + TensorCore.ACol(lane, 0)], a1 = a[TensorCore.ARow(lane, 1) * 8 + TensorCore.ACol(lane, 1)];
        float a2 = a[TensorCore.ARow(lane, 2) * 8 + TensorCore.ACol(lane, 2)], a3 = a[TensorCore.ARow(lane, 3) * 8 + TensorCore.ACol(lane, 3)];
        float b0 = b[TensorCore.BRow(lane, 0) * 8 + TensorCore.BCol(lane)], b1 = b[TensorCore.BRow(lane, 1) * 8 + TensorCore.BCol(lane)];
        float d0 = c[TensorCore.CRow(lane, 0) * 8 + TensorCore.CCol(lane, 0)], d1 = c[TensorCore.CRow(lane, 1) * 8 + TensorCore.CCol(lane, 1)];
        float d2 = c[TensorCore.CRow(lane, 2) * 8 + TensorCore.CCol(lane, 2)], d3 = c[TensorCore.CRow(lane, 3) * 8 + TensorCore.CCol(lane, 3)];
        TensorCore.Mma(ref d0, ref d1, ref d2, ref d3, a0, a1, a2, a3, b0, b1, scratch, lane);
        Group.Barrier();
        c[TensorCore.CRow(lane, 0) * 8 + TensorCore.CCol(lane, 0)] = d0;
        c[TensorCore.CRow(lane, 1) * 8 + TensorCore.CCol(lane, 1)] = d1;
        c[TensorCore.CRow(lane, 2) * 8 + TensorCore.CCol(lane, 2)] = d2;
        c[TensorCore.CRow(lane, 3) * 8 + TensorCore.CCol(lane, 3)] = d3;
    }

    [Fact]
    public void OneInstructionComputesAbPlusCOverTheWarp()
    {
        // Operands already in TF32 (so the instruction's only rounding is the FP32 sum of 8 exact products).
        var a = Rand.UniformF(41, 16 * 8).Select(Tf32).ToArray();
        var b = Rand.UniformF(42, 8 * 8).Select(Tf32).ToArray();
        var c = Rand.UniformF(43, 16 * 8);
        var expected = DenseRef.Matmul(a, b, c, 16, 8, 8, false, false, alpha: 1, beta: 1);
        var magnitude = DenseRef.Matmul(Abs(a), Abs(b), Abs(c), 16, 8, 8, false, false, alpha: 1, beta: 1);
        Device.Pool.ReleaseAll();
        var ta = Tensor.FromHost(Device, "a", a.ToFloat(), 16 * 8);
        var tb = Tensor.FromHost(Device, "b", b.ToFloat(), 8 * 8);
        var tc = Tensor.FromHost(Device, "c", c.ToFloat(), 16 * 8);
        var kernel = Device.Kernel("TensorCoreTests.OneMma", acc => ComputeDevice.LoadInlinePtxKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(acc, OneMmaKernel));
        kernel(new KernelConfig(1, TensorCore.WarpLanes), ta.Data, tb.Data, tc.Data, 0);
        Check.WithinBound(tc.ToHost(), expected, magnitude.Select(m => 9 * Math.Pow(2, -24) * m + 1e-7).ToArray(), "one mma.m16n8k8");
    }
}

/// <summary>The PTX ISA's layout, independent of the kernels: its figures for mma.m16n8k8 with .tf32, typed as text.</summary>
public sealed class TensorCoreFragmentTests
{
    // "MMA .m16n8k8 fragment layout for matrix A with .tf32 type": element (row, column) is register aN of thread TL.
    const string FigureA = """
        T0:a0   T1:a0   T2:a0   T3:a0   T0:a2   T1:a2   T2:a2   T3:a2
        T4:a0   T5:a0   T6:a0   T7:a0   T4:a2   T5:a2   T6:a2   T7:a2
        T8:a0   T9:a0   T10:a0  T11:a0  T8:a2   T9:a2   T10:a2  T11:a2
        T12:a0  T13:a0  T14:a0  T15:a0  T12:a2  T13:a2  T14:a2  T15:a2
        T16:a0  T17:a0  T18:a0  T19:a0  T16:a2  T17:a2  T18:a2  T19:a2
        T20:a0  T21:a0  T22:a0  T23:a0  T20:a2  T21:a2  T22:a2  T23:a2
        T24:a0  T25:a0  T26:a0  T27:a0  T24:a2  T25:a2  T26:a2  T27:a2
        T28:a0  T29:a0  T30:a0  T31:a0  T28:a2  T29:a2  T30:a2  T31:a2
        T0:a1   T1:a1   T2:a1   T3:a1   T0:a3   T1:a3   T2:a3   T3:a3
        T4:a1   T5:a1   T6:a1   T7:a1   T4:a3   T5:a3   T6:a3   T7:a3
        T8:a1   T9:a1   T10:a1  T11:a1  T8:a3   T9:a3   T10:a3  T11:a3
        T12:a1  T13:a1  T14:a1  T15:a1  T12:a3  T13:a3  T14:a3  T15:a3
        T16:a1  T17:a1  T18:a1  T19:a1  T16:a3  T17:a3  T18:a3  T19:a3
        T20:a1  T21:a1  T22:a1  T23:a1  T20:a3  T21:a3  T22:a3  T23:a3
        T24:a1  T25:a1  T26:a1  T27:a1  T24:a3  T25:a3  T26:a3  T27:a3
        T28:a1  T29:a1  T30:a1  T31:a1  T28:a3  T29:a3  T30:a3  T31:a3
        """;

    // "... for matrix B with .tf32 type" (8 × 8).
    const string FigureB = """
        T0:b0   T4:b0   T8:b0   T12:b0  T16:b0  T20:b0  T24:b0  T28:b0
        T1:b0   T5:b0   T9:b0   T13:b0  T17:b0  T21:b0  T25:b0  T29:b0
        T2:b0   T6:b0   T10:b0  T14:b0  T18:b0  T22:b0  T26:b0  T30:b0
        T3:b0   T7:b0   T11:b0  T15:b0  T19:b0  T23:b0  T27:b0  T31:b0
        T0:b1   T4:b1   T8:b1   T12:b1  T16:b1  T20:b1  T24:b1  T28:b1
        T1:b1   T5:b1   T9:b1   T13:b1  T17:b1  T21:b1  T25:b1  T29:b1
        T2:b1   T6:b1   T10:b1  T14:b1  T18:b1  T22:b1  T26:b1  T30:b1
        T3:b1   T7:b1   T11:b1  T15:b1  T19:b1  T23:b1  T27:b1  T31:b1
        """;

    // "... for accumulator matrix C/D with .f32 type" (16 × 8).
    const string FigureC = """
        T0:c0   T0:c1   T1:c0   T1:c1   T2:c0   T2:c1   T3:c0   T3:c1
        T4:c0   T4:c1   T5:c0   T5:c1   T6:c0   T6:c1   T7:c0   T7:c1
        T8:c0   T8:c1   T9:c0   T9:c1   T10:c0  T10:c1  T11:c0  T11:c1
        T12:c0  T12:c1  T13:c0  T13:c1  T14:c0  T14:c1  T15:c0  T15:c1
        T16:c0  T16:c1  T17:c0  T17:c1  T18:c0  T18:c1  T19:c0  T19:c1
        T20:c0  T20:c1  T21:c0  T21:c1  T22:c0  T22:c1  T23:c0  T23:c1
        T24:c0  T24:c1  T25:c0  T25:c1  T26:c0  T26:c1  T27:c0  T27:c1
        T28:c0  T28:c1  T29:c0  T29:c1  T30:c0  T30:c1  T31:c0  T31:c1
        T0:c2   T0:c3   T1:c2   T1:c3   T2:c2   T2:c3   T3:c2   T3:c3
        T4:c2   T4:c3   T5:c2   T5:c3   T6:c2   T6:c3   T7:c2   T7:c3
        T8:c2   T8:c3   T9:c2   T9:c3   T10:c2  T10:c3  T11:c2  T11:c3
        T12:c2  T12:c3  T13:c2  T13:c3  T14:c2  T14:c3  T15:c2  T15:c3
        T16:c2  T16:c3  T17:c2  T17:c3  T18:c2  T18:c3  T19:c2  T19:c3
        T20:c2  T20:c3  T21:c2  T21:c3  T22:c2  T22:c3  T23:c2  T23:c3
        T24:c2  T24:c3  T25:c2  T25:c3  T26:c2  T26:c3  T27:c2  T27:c3
        T28:c2  T28:c3  T29:c2  T29:c3  T30:c2  T30:c3  T31:c2  T31:c3
        """;

    static (int Lane, int Register)[,] Parse(string figure, int rows, char register)
    {
        var lines = figure.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(rows, lines.Length);
        var cells = new (int, int)[rows, 8];
        for (int r = 0; r < rows; r++)
        {
            var entries = lines[r].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(8, entries.Length);
            for (int c = 0; c < 8; c++)
            {
                var parts = entries[c].Split(':');
                Assert.StartsWith("T", parts[0]);
                Assert.Equal(register, parts[1][0]);
                cells[r, c] = (int.Parse(parts[0][1..]), int.Parse(parts[1][1..]));
            }
        }
        return cells;
    }

    [Fact]
    public void TheLayoutFunctionsAreTheIsaFigures()
    {
        var a = Parse(FigureA, 16, 'a');
        var b = Parse(FigureB, 8, 'b');
        var c = Parse(FigureC, 16, 'c');
        for (int lane = 0; lane < 32; lane++)
        {
            for (int reg = 0; reg < 4; reg++)
            {
                Assert.Equal((lane, reg), a[TensorCore.ARow(lane, reg), TensorCore.ACol(lane, reg)]);
                Assert.Equal((lane, reg), c[TensorCore.CRow(lane, reg), TensorCore.CCol(lane, reg)]);
            }
            for (int reg = 0; reg < 2; reg++)
                Assert.Equal((lane, reg), b[TensorCore.BRow(lane, reg), TensorCore.BCol(lane)]);
        }
        // Every element held exactly once: 32 lanes × 4 registers cover A's 128 and C's 128, × 2 B's 64.
        Assert.Equal(128, Enumerable.Range(0, 32).SelectMany(l => Enumerable.Range(0, 4).Select(r => (TensorCore.ARow(l, r), TensorCore.ACol(l, r)))).Distinct().Count());
        Assert.Equal(64, Enumerable.Range(0, 32).SelectMany(l => Enumerable.Range(0, 2).Select(r => (TensorCore.BRow(l, r), TensorCore.BCol(l)))).Distinct().Count());
        Assert.Equal(128, Enumerable.Range(0, 32).SelectMany(l => Enumerable.Range(0, 4).Select(r => (TensorCore.CRow(l, r), TensorCore.CCol(l, r)))).Distinct().Count());
    }

    [Theory]
    [InlineData(1.0f, 1.0f)]
    [InlineData(1.00048828125f, 1.0009765625f)]        // 1 + 2⁻¹¹, a tie: away from zero, to 1 + 2⁻¹⁰
    [InlineData(-1.00048828125f, -1.0009765625f)]
    [InlineData(1.0004882f, 1.0f)]                     // just below the tie: down
    [InlineData(1.0014648438f, 1.0019531250f)]         // 1 + 3·2⁻¹¹, a tie between 1 + 2⁻¹⁰ and 1 + 2⁻⁹: away
    [InlineData(3.4028235e38f, float.PositiveInfinity)] // the largest float rounds up past TF32's largest finite value
    public void RoundingIsToNearestWithTiesAwayFromZero(float x, float expected)
    {
        float got = TensorCore.RoundToTf32Emulated(x);
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(got) & 0x1FFFu);
        Assert.Equal(expected, got);
    }

    [Fact]
    public void InfinitiesAndNaNsPassThrough()
    {
        Assert.Equal(float.PositiveInfinity, TensorCore.RoundToTf32Emulated(float.PositiveInfinity));
        Assert.Equal(float.NegativeInfinity, TensorCore.RoundToTf32Emulated(float.NegativeInfinity));
        Assert.True(float.IsNaN(TensorCore.RoundToTf32Emulated(float.NaN)));
    }
}

public sealed class CpuTensorCoreTests : TensorCoreTests
{
    protected override ComputeDevice Device => TestDevices.CpuWarps32;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClTensorCoreTests : TensorCoreTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaTensorCoreTests : TensorCoreTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
