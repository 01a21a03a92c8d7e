using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>The three passes of a convolution, for per-pass version choices.</summary>
public enum Conv2dPass { Forward, BackwardInput, BackwardWeight }

/// <summary>
/// x as a forward prepared it — zero-padded by Pad on every side (versions 2 and 4) or split into
/// stride parity planes (version 3) — for the weight gradient of the same layout to read again
/// instead of preparing it anew. Default: nothing kept.
/// </summary>
public readonly record struct Conv2dPreparedInput(ArrayView<float> View, bool RowPlanes)
{
    public bool IsPadded => View.Length != 0 && !RowPlanes;
    public bool IsRowPlanes => View.Length != 0 && RowPlanes;
}

/// <summary>
/// Launchers for <see cref="Conv2dKernels"/> and the differentiable Conv2d (no bias).
/// Version 0 picks per accelerator, pass and width (<see cref="VersionFor"/>); tests and
/// benchmarks force one. Versions 2–4 and 6 rent their prepared operands (padded source, transposed
/// weights or dY, partial sums) from the device's pool: they live until the pool's next release.
/// Version 6 also reads offset tables made once per layer geometry (<see cref="ComputeDevice.ConstantTable"/>).
/// </summary>
public static class Conv2d
{
    /// <summary>Every version number, for tests and benchmarks.</summary>
    public static IReadOnlyList<int> Versions { get; } = [1, 2, 3, 4, 5, 6];

    /// <summary>The versions that round their operands to TF32 (tensor cores): checked against a TF32 error bound, not FP32's.</summary>
    public static IReadOnlyList<int> Tf32Versions { get; } = [5];

    /// <summary>The versions that compute in full FP32.</summary>
    public static IReadOnlyList<int> Fp32Versions { get; } = [.. Versions.Except(Tf32Versions)];

    /// <summary>The versions with groups of 16×16 threads (GPU shared-memory tiles): they run on the CPU accelerator only with 256-thread groups.</summary>
    public static IReadOnlyList<int> GpuTileVersions { get; } = [4, 6];

    /// <summary>Versions whose groups fit ILGPU's CPU accelerator (at most 16 threads per group): all but the GPU tiles.</summary>
    public static IReadOnlyList<int> CpuVersions { get; } = [1, 2, 3];

    /// <summary>The version family for an accelerator: 4 (shared-memory tiles) on GPUs, 2 (register blocks, or 3 for narrow layers) on PoCL and ILGPU's CPU accelerator.</summary>
    public static int DefaultVersion(ComputeDevice dev) => dev.Policy.Conv2d;

    /// <summary>The version a pass of shape <paramref name="g"/> runs with version 0: the device policy's rule (<see cref="DevicePolicy.Conv2dVersion"/>).</summary>
    public static int VersionFor(ComputeDevice dev, Conv2dShape g, Conv2dPass pass) => dev.Policy.Conv2dVersion(g, pass);

    public static Conv2dShape ShapeOf(Tensor x, Tensor w, int stride, int pad)
    {
        if (x.Rank != 4 || w.Rank != 4)
            throw new ArgumentException($"conv2d: expected input (N, C, H, W) and weights (K, C, R, S), got {x} and {w}");
        if (w.Dim(1) != x.Dim(1))
            throw new ArgumentException($"conv2d: input {x} has {x.Dim(1)} channels but weights {w} expect {w.Dim(1)}");
        if (stride < 1 || pad < 0)
            throw new ArgumentException($"conv2d: stride must be ≥ 1 and padding ≥ 0, got stride {stride}, padding {pad}");
        var g = new Conv2dShape(x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3), w.Dim(0), w.Dim(2), w.Dim(3), stride, pad);
        if (g.P < 1 || g.Q < 1)
            throw new ArgumentException($"conv2d: a {g.R}×{g.S} filter with padding {pad} does not fit input {x}");
        return g;
    }

    public static Tensor Forward(Tape tape, Tensor x, Tensor w, int stride, int pad, int version = 0)
    {
        var g = ShapeOf(x, w, stride, pad);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "conv2d", g.N, g.K, g.P, g.Q);
        var prepared = LaunchForward(dev, x.Data, w.Data, y.Data, g, version, keepPreparedInput: true);
        if (tape.ShouldRecord(x, w))
            tape.Record(y, () =>
            {
                var dy = y.GradOrZeros().Data;
                if (x.RequiresGrad) LaunchBackwardInput(dev, dy, w.Data, x.GradOrZeros().Data, g, version);
                // The step's pool still holds the forward's padded copy of x: the weight gradient reads it again.
                if (w.RequiresGrad) LaunchBackwardWeight(dev, x.Data, dy, w.GradOrZeros().Data, g, version, prepared);
            });
        return y;
    }

    /// <summary>
    /// The caller's version, else one forced on the device (tests run whole networks on version 1), else
    /// one pinned to this pass and shape (a resumed run's), else the default; checked once on the device (<see cref="KernelVerification"/>).
    /// </summary>
    static int Resolve(ComputeDevice dev, Conv2dShape g, Conv2dPass pass, int version)
    {
        version = dev.ResolveVersion(KernelSite.Conv2d(pass, g), version, () => VersionFor(dev, g, pass));
        if (Tf32Versions.Contains(version))
            dev.RequireComputeCapability($"conv2d version {version}", 8, 0);
        return version;
    }

    /// <summary>Channels per block of versions 2, 4 and 6: their operands' columns are padded to a multiple of this.</summary>
    static int BlockWidth(int version) => version switch
    {
        2 => Conv2dKernels.Block2,
        6 => Conv2dKernels.Tile6,
        _ => Conv2dKernels.Tile,
    };

    static string VersionList => string.Join(", ", Versions);

    static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    static void CheckLengths(Conv2dShape g, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, string what)
    {
        if (x.Length != g.InputLength || w.Length != g.WeightLength || y.Length != g.OutputLength)
            throw new ArgumentException($"conv2d {what} ({g}): buffers of {x.Length}, {w.Length}, {y.Length} elements, expected input {g.InputLength}, weights {g.WeightLength}, output {g.OutputLength}");
    }

    /// <summary>
    /// Launch shape for the register-blocked kernels over <paramref name="blocks"/> work-items: on PoCL
    /// small groups with one block per work-item (<see cref="LaunchPolicy.RegisterBlockGroup"/>), elsewhere the usual grid-stride launch.
    /// </summary>
    static KernelConfig BlockConfig(ComputeDevice dev, long blocks)
    {
        int group = dev.Policy.Launch.RegisterBlockGroup;
        if (group != 0)
            return new KernelConfig((int)((blocks + group - 1) / group), group);
        return dev.GridStrideConfig(blocks);
    }

    /// <summary>A zero-padded copy of NCHW planes (or the buffer itself when nothing is padded).</summary>
    static ArrayView<float> Padded(ComputeDevice dev, ArrayView<float> src, int planes, int h, int w, int top, int bottom, int left, int right)
    {
        if (top == 0 && bottom == 0 && left == 0 && right == 0)
            return src;
        int hp = h + top + bottom, wp = w + left + right;
        return Planes(dev, src, planes, h, w, hp, wp, top, left, 1, (long)planes * hp * wp);
    }

    /// <summary>
    /// The padded source split into stride × stride parity planes (N·C, st, st, Hq, Wq), zeros up to
    /// <paramref name="length"/> (see <see cref="Conv2dKernels.Conv2dPadKernel"/>).
    /// </summary>
    static ArrayView<float> Planes(ComputeDevice dev, ArrayView<float> src, int planes, int h, int w, int hq, int wq, int top, int left, int st, long length)
    {
        var dst = dev.Pool.Rent(length);
        var k = dev.Kernel(nameof(Conv2dKernels.Conv2dPadKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int, int, int>(Conv2dKernels.Conv2dPadKernel));
        k(dev.GridStrideConfig((long)planes * st * st * hq), src, dst, planes, h, w, hq, wq, top, left, st, (int)length);
        return dst;
    }

    /// <summary>Rents and fills the GEMM operand of one parity class of filter taps (see <see cref="Conv2dKernels.Conv2dClassWeightsKernel"/>).</summary>
    static ArrayView<float> ClassWeights(ComputeDevice dev, ArrayView<float> w, Conv2dShape g, int rc, int sc, int ri, int sj, int mPad, bool forward, bool byColumn)
    {
        // Depends on the weights alone: made once per weight update inside a freeze (Engine/PreparedWeights.cs).
        string layout = $"conv2d.class {g.K}x{g.C}x{g.R}x{g.S}/{g.Stride} {rc},{sc},{ri},{sj} {mPad} {(forward ? "f" : "b")}{(byColumn ? "c" : "r")}";
        return dev.PreparedWeights.Get(w, layout, (long)(forward ? g.C : g.K) * ri * sj * mPad, b =>
        {
            var k = dev.Kernel(nameof(Conv2dKernels.Conv2dClassWeightsKernel), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, Conv2dShape, int, int, int, int, int, int, int>(Conv2dKernels.Conv2dClassWeightsKernel));
            k(dev.GridStrideConfig(byColumn ? mPad : (forward ? g.C : g.K) * ri * sj), w, b, g, rc, sc, ri, sj, mPad, forward ? 1 : 0, byColumn ? 1 : 0);
        });
    }

    static void LaunchGemm(ComputeDevice dev, int version, bool backwardInput, ArrayView<float> src, ArrayView<float> b, ArrayView<float> dst, Conv2dGemm gg)
    {
        if (version == 6)
        {
            var tiled = backwardInput
                ? TableGemmKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputKernel6), Conv2dKernels.Conv2dBackwardInputKernel6)
                : TableGemmKernel(dev, nameof(Conv2dKernels.Conv2dForwardKernel6), Conv2dKernels.Conv2dForwardKernel6);
            int t = Conv2dKernels.Tile6, th = Conv2dKernels.TileThreads6;
            tiled(new KernelConfig(new Index2D((gg.Positions + t - 1) / t, gg.MPad / t), new Index2D(th, th)), src, b, GatherOffsets(dev, gg), dst, gg);
            return;
        }
        var kernel = (version, backwardInput) switch
        {
            (2, false) when dev.Policy.Blocks.IsWidest => GemmKernel(dev, nameof(Conv2dKernels.Conv2dForwardKernel2), Conv2dKernels.Conv2dForwardKernel2),
            (2, true) when dev.Policy.Blocks.IsWidest => GemmKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputKernel2), Conv2dKernels.Conv2dBackwardInputKernel2),
            (2, false) => GemmKernel(dev, nameof(Conv2dKernels.Conv2dForwardFor8LanesKernel2), Conv2dKernels.Conv2dForwardFor8LanesKernel2),
            (2, true) => GemmKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputFor8LanesKernel2), Conv2dKernels.Conv2dBackwardInputFor8LanesKernel2),
            (4, false) => GemmKernel(dev, nameof(Conv2dKernels.Conv2dForwardKernel4), Conv2dKernels.Conv2dForwardKernel4),
            (5, false) => TensorCoreKernel<Conv2dGemm>(dev, nameof(Conv2dKernels.Conv2dForwardKernel5), Conv2dKernels.Conv2dForwardKernel5),
            (5, true) => TensorCoreKernel<Conv2dGemm>(dev, nameof(Conv2dKernels.Conv2dBackwardInputKernel5), Conv2dKernels.Conv2dBackwardInputKernel5),
            _ => GemmKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputKernel4), Conv2dKernels.Conv2dBackwardInputKernel4),
        };
        if (version == 4)
        {
            int t = Conv2dKernels.Tile, th = Conv2dKernels.TileThreads;
            kernel(new KernelConfig(new Index2D((gg.Positions + t - 1) / t, gg.MPad / t), new Index2D(th, th)), src, b, dst, gg);
            return;
        }
        if (version == 5)
        {
            int t = Conv2dKernels.TcTile;
            kernel(new KernelConfig(new Index2D((gg.Positions + t - 1) / t, gg.MPad / t), new Index2D(Conv2dKernels.TcThreads, 1)), src, b, dst, gg);
            return;
        }
        // Version 2: slices of the reduction whose B rows (slice × 64 floats per work-item) stay in cache.
        int positionsPerBlock = dev.Policy.Blocks.GatherPositions;
        var config = BlockConfig(dev, (long)((gg.Positions + positionsPerBlock - 1) / positionsPerBlock) * (gg.MPad / Conv2dKernels.Block2));
        int total = gg.T, accumulate = gg.Accumulate;
        for (int t0 = 0; t0 < total; t0 += SliceRows)
        {
            var slice = gg;
            slice.T0 = t0;
            slice.T = Math.Min(total, t0 + SliceRows);
            int a = t0 / (gg.RI * gg.SJ), i = t0 / gg.SJ % gg.RI, j = t0 % gg.SJ;
            slice.Off0 = a * gg.SrcA + gg.Dir * (i * gg.SrcRow + j);
            slice.I0 = i;
            slice.J0 = j;
            slice.Accumulate = t0 == 0 ? accumulate : 1;
            kernel(config, src, b, dst, slice);
        }
    }

    /// <summary>
    /// Reduction rows per launch of version 2's forward and backward-input: a 512 × 64 slice of B (128 KB)
    /// stays in a core's L2 (on PoCL, 256→256 8² went from 64 to 101 GFLOP/s; 256 and 1024 were no better).
    /// </summary>
    const int SliceRows = 512;

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, Conv2dGemm> TableGemmKernel(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, Conv2dGemm> kernel) =>
        dev.Kernel(name, a => a.LoadStreamKernel(kernel));

    /// <summary>
    /// Version 6's gather offsets off(t) = a·SrcA + Dir·(i·SrcRow + j) of <see cref="Conv2dGemm"/> for t = (a, i, j) &lt; T,
    /// made once per geometry and kept on the device (the kernel then needs no division by RI·SJ or SJ).
    /// </summary>
    internal static ArrayView<int> GatherOffsets(ComputeDevice dev, Conv2dGemm gg) =>
        dev.ConstantTable($"conv2d.off T={gg.T} RI={gg.RI} SJ={gg.SJ} SrcA={gg.SrcA} SrcRow={gg.SrcRow} Dir={gg.Dir}", () =>
        {
            var off = new int[gg.T];
            int rs = gg.RI * gg.SJ;
            for (int t = 0; t < gg.T; t++)
            {
                int a = t / rs, i = t % rs / gg.SJ, j = t % gg.SJ;
                off[t] = a * gg.SrcA + gg.Dir * (i * gg.SrcRow + j);
            }
            return off;
        });

    /// <summary>
    /// Version 6's position bases base(n, p, q) = n·SrcN + p·Stride·SrcRow + q·Stride of <see cref="Conv2dWeightGemm"/>
    /// for pos = (n, p, q) &lt; N·P·Q, made once per geometry and kept on the device.
    /// </summary>
    internal static ArrayView<int> PositionBases(ComputeDevice dev, Conv2dWeightGemm gw) =>
        dev.ConstantTable($"conv2d.base N·P·Q={gw.Positions} P={gw.P} Q={gw.Q} Stride={gw.Stride} SrcN={gw.SrcN} SrcRow={gw.SrcRow}", () =>
        {
            var bases = new int[gw.Positions];
            int pq = gw.P * gw.Q;
            for (int pos = 0; pos < gw.Positions; pos++)
            {
                int n = pos / pq, p = pos % pq / gw.Q, q = pos % gw.Q;
                bases[pos] = n * gw.SrcN + p * gw.Stride * gw.SrcRow + q * gw.Stride;
            }
            return bases;
        });

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGemm> GemmKernel(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGemm> kernel) =>
        dev.Kernel(name, a => a.LoadStreamKernel(kernel));

    /// <summary>Version 5's kernels carry inline PTX (tensor cores): loaded through <see cref="ComputeDevice.LoadInlinePtxKernel{T1, T2, T3, T4}"/>.</summary>
    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TGemm> TensorCoreKernel<TGemm>(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, TGemm> kernel) where TGemm : struct =>
        dev.Kernel(name, a => ComputeDevice.LoadInlinePtxKernel(a, kernel));

    public static void LaunchForward(ComputeDevice dev, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, Conv2dShape g, int version = 0) =>
        LaunchForward(dev, x, w, y, g, version, keepPreparedInput: false);

    /// <summary>The forward; returns x as it prepared it (see <see cref="Conv2dPreparedInput"/>), for <see cref="LaunchBackwardWeight"/>.</summary>
    static Conv2dPreparedInput LaunchForward(ComputeDevice dev, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, Conv2dShape g, int version,
        bool keepPreparedInput)
    {
        CheckLengths(g, x, w, y, "forward");
        var prepared = default(Conv2dPreparedInput);
        version = Resolve(dev, g, Conv2dPass.Forward, version);
        switch (version)
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dForwardKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dForwardKernel1));
                k(dev.GridStrideConfig(g.OutputLength), x, w, y, g);
                break;
            case 3:
                var planes = ForwardRows(dev, x, w, y, g);
                if (keepPreparedInput)
                    prepared = new Conv2dPreparedInput(planes, RowPlanes: true);
                break;
            case 2 or 4 or 5 or 6:
            {
                int hp = g.H + 2 * g.Pad, wp = g.W + 2 * g.Pad, crs = g.C * g.R * g.S;
                int mPad = RoundUp(g.K, BlockWidth(version));
                var xPad = Padded(dev, x, g.N * g.C, g.H, g.W, g.Pad, g.Pad, g.Pad, g.Pad);
                if (keepPreparedInput)
                    prepared = new Conv2dPreparedInput(xPad, RowPlanes: false);
                // (C·R·S, MPad), made once per weight update inside a freeze (Engine/PreparedWeights.cs).
                var b = dev.PreparedWeights.Get(w, $"conv2d.forward {g.K}x{crs} {mPad}", (long)crs * mPad, b =>
                {
                    var prep = dev.Kernel(nameof(Conv2dKernels.Conv2dForwardWeightsKernel), a => a.LoadStreamKernel<
                        ArrayView<float>, ArrayView<float>, int, int, int>(Conv2dKernels.Conv2dForwardWeightsKernel));
                    prep(dev.GridStrideConfig(crs), w, b, g.K, crs, mPad);
                });
                var gg = new Conv2dGemm
                {
                    Positions = g.N * g.P * g.Q, OH = g.P, OW = g.Q,
                    M = g.K, MPad = mPad, T = crs, RI = g.R, SJ = g.S,
                    SrcN = g.C * hp * wp, SrcA = hp * wp, SrcRow = wp, SrcStride = g.Stride, Y0 = 0, X0 = 0, Dir = 1,
                    OutN = g.K * g.P * g.Q, OutM = g.P * g.Q, OutRow = g.Q, OutSy = 1, OutY0 = 0, OutSx = 1, OutX0 = 0,
                    Accumulate = 0,
                };
                LaunchGemm(dev, version, backwardInput: false, xPad, b, y, gg);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, $"conv2d versions are {VersionList}");
        }
        return prepared;
    }

    /// <summary>
    /// One stride-parity class of dX positions h = st·oy + ph, w = st·ox + pw: its filter taps
    /// r = rc + st·i (i &lt; RI) and the dY row p = oy + E − i each tap reads (likewise for columns).
    /// </summary>
    readonly record struct ParityClass(int Ph, int Pw, int OH, int OW, int Rc, int Sc, int RI, int SJ, int Eh, int Ew);

    static List<ParityClass> ParityClasses(Conv2dShape g)
    {
        var classes = new List<ParityClass>();
        int st = g.Stride;
        for (int ph = 0; ph < st && ph < g.H; ph++)
            for (int pw = 0; pw < st && pw < g.W; pw++)
            {
                int rc = (ph + g.Pad) % st, sc = (pw + g.Pad) % st;
                int ri = rc < g.R ? (g.R - rc + st - 1) / st : 0, sj = sc < g.S ? (g.S - sc + st - 1) / st : 0;
                if (ri == 0 || sj == 0)
                    continue;   // no filter tap lands on these positions: nothing to add
                classes.Add(new ParityClass(ph, pw, (g.H - ph + st - 1) / st, (g.W - pw + st - 1) / st,
                    rc, sc, ri, sj, (ph + g.Pad - rc) / st, (pw + g.Pad - sc) / st));
            }
        return classes;
    }

    public static void LaunchBackwardInput(ComputeDevice dev, ArrayView<float> dY, ArrayView<float> w, ArrayView<float> dX, Conv2dShape g, int version = 0)
    {
        CheckLengths(g, dX, w, dY, "backward-input");
        version = Resolve(dev, g, Conv2dPass.BackwardInput, version);
        switch (version)
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dBackwardInputKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dBackwardInputKernel1));
                k(dev.GridStrideConfig(g.InputLength), dY, w, dX, g);
                break;
            case 2 or 3 or 4 or 5 or 6:
            {
                var classes = ParityClasses(g);
                if (classes.Count == 0)
                    return;
                // dY rows read: oy + Eh − i for oy < OH, i < RI; pad dY with zeros to cover them all.
                int top = Math.Max(0, -classes.Min(c => c.Eh - c.RI + 1));
                int bottom = Math.Max(0, classes.Max(c => c.OH - 1 + c.Eh) - (g.P - 1));
                int left = Math.Max(0, -classes.Min(c => c.Ew - c.SJ + 1));
                int right = Math.Max(0, classes.Max(c => c.OW - 1 + c.Ew) - (g.Q - 1));
                int pp = g.P + top + bottom, qp = g.Q + left + right;
                if (version == 3)
                {
                    BackwardInputRows(dev, dY, w, dX, g, classes, top, left, pp, qp);
                    break;
                }
                var dYPad = Padded(dev, dY, g.N * g.K, g.P, g.Q, top, bottom, left, right);
                int mPad = RoundUp(g.C, BlockWidth(version));
                foreach (var c in classes)
                {
                    var b = ClassWeights(dev, w, g, c.Rc, c.Sc, c.RI, c.SJ, mPad, forward: false, byColumn: false);
                    var gg = new Conv2dGemm
                    {
                        Positions = g.N * c.OH * c.OW, OH = c.OH, OW = c.OW,
                        M = g.C, MPad = mPad, T = g.K * c.RI * c.SJ, RI = c.RI, SJ = c.SJ,
                        SrcN = g.K * pp * qp, SrcA = pp * qp, SrcRow = qp, SrcStride = 1, Y0 = top + c.Eh, X0 = left + c.Ew, Dir = -1,
                        OutN = g.C * g.H * g.W, OutM = g.H * g.W, OutRow = g.W, OutSy = g.Stride, OutY0 = c.Ph, OutSx = g.Stride, OutX0 = c.Pw,
                        Accumulate = 1,
                    };
                    LaunchGemm(dev, version, backwardInput: true, dYPad, b, dX, gg);
                }
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, $"conv2d versions are {VersionList}");
        }
    }

    /// <summary>
    /// dW += the weight gradient; <paramref name="prepared"/>, when given, is x as a forward prepared it,
    /// read instead of preparing x again where its layout is the one this version reads.
    /// </summary>
    public static void LaunchBackwardWeight(ComputeDevice dev, ArrayView<float> x, ArrayView<float> dY, ArrayView<float> dW, Conv2dShape g, int version = 0,
        Conv2dPreparedInput prepared = default)
    {
        CheckLengths(g, x, dW, dY, "backward-weight");
        version = Resolve(dev, g, Conv2dPass.BackwardWeight, version);
        switch (version)
        {
            case 1:
                var k = dev.Kernel(nameof(Conv2dKernels.Conv2dBackwardWeightKernel1), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(Conv2dKernels.Conv2dBackwardWeightKernel1));
                k(dev.GridStrideConfig(g.WeightLength), x, dY, dW, g);
                break;
            case 3:
                WeightRows(dev, x, dY, dW, g, prepared.IsRowPlanes ? prepared.View : default);
                break;
            case 2 or 4 or 5 or 6:
                LaunchWeightGemm(dev, x, dY, dW, g, version, prepared.IsPadded ? prepared.View : default);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(version), version, $"conv2d versions are {VersionList}");
        }
    }

    /// <summary>Positions per chunk of the weight gradient's reduction (see <see cref="Conv2dWeightGemm"/>).</summary>
    static int ChunkLength(ComputeDevice dev, Conv2dShape g, int version, int kPad, int crs)
    {
        int positions = g.N * g.P * g.Q;
        if (version is 4 or 5 or 6)
        {
            // GPUs: enough groups for a few waves; chunks of at least 256 positions, whole strips.
            int tile = BlockWidth(version), strip = version == 6 ? Conv2dKernels.TileK6 : Conv2dKernels.TileK;
            int tiles = (crs + tile - 1) / tile * (kPad / tile);
            int wanted = Math.Max(1, 4 * Math.Max(1, dev.Accelerator.NumMultiprocessors) / tiles);
            return Math.Max(256, RoundUp((positions + wanted - 1) / wanted, strip));
        }
        // CPUs: a chunk of dYᵀ (length × block width) stays in the core's cache while every tap block reads it.
        return ChunkPositions;
    }

    const int ChunkPositions = 1024;   // best of 256–2048 measured on PoCL (a shared, noisy machine)

    static void LaunchWeightGemm(ComputeDevice dev, ArrayView<float> x, ArrayView<float> dY, ArrayView<float> dW, Conv2dShape g, int version,
        ArrayView<float> paddedInput)
    {
        int hp = g.H + 2 * g.Pad, wp = g.W + 2 * g.Pad, crs = g.C * g.R * g.S, positions = g.N * g.P * g.Q;
        int kPad = RoundUp(g.K, BlockWidth(version));
        if (paddedInput.Length != 0 && paddedInput.Length != (long)g.N * g.C * hp * wp)
            throw new ArgumentException($"conv2d backward-weight ({g}): a padded input of {paddedInput.Length} elements, expected {(long)g.N * g.C * hp * wp}");
        var xPad = paddedInput.Length != 0 ? paddedInput : Padded(dev, x, g.N * g.C, g.H, g.W, g.Pad, g.Pad, g.Pad, g.Pad);
        var dyT = dev.Pool.Rent((long)positions * kPad);   // (N·P·Q, KPad)
        var prep = dev.Kernel(nameof(Conv2dKernels.Conv2dTransposeOutputGradKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Conv2dKernels.Conv2dTransposeOutputGradKernel));
        prep(dev.GridStrideConfig((long)g.N * g.P), dY, dyT, g.N, g.K, g.P, g.Q, kPad);
        int chunk = ChunkLength(dev, g, version, kPad, crs);
        int chunks = (positions + chunk - 1) / chunk;
        long len = (long)g.K * crs;
        var dst = chunks == 1 ? dW : dev.Pool.Rent(chunks * len);   // (Chunks, K, C·R·S) partials
        var gg = new Conv2dWeightGemm
        {
            Positions = positions, P = g.P, Q = g.Q, Stride = g.Stride,
            K = g.K, KPad = kPad, CRS = crs, RS = g.R * g.S, S = g.S,
            SrcN = g.C * hp * wp, SrcA = hp * wp, SrcRow = wp,
            ChunkLength = chunk, Chunks = chunks, OutChunk = chunks == 1 ? 0 : (int)len, Accumulate = chunks == 1 ? 1 : 0,
        };
        if (version == 6)
        {
            var tiled = dev.Kernel(nameof(Conv2dKernels.Conv2dBackwardWeightKernel6), a => a.LoadStreamKernel<
                ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, Conv2dWeightGemm>(Conv2dKernels.Conv2dBackwardWeightKernel6));
            int t6 = Conv2dKernels.Tile6, th6 = Conv2dKernels.TileThreads6;
            tiled(new KernelConfig(new Index3D((crs + t6 - 1) / t6, kPad / t6, chunks), new Index3D(th6, th6, 1)), xPad, dyT, PositionBases(dev, gg), dst, gg);
            SumPartials(dev, dst, dW, chunks, len);
            return;
        }
        var kernel = version switch
        {
            2 when dev.Policy.Blocks.IsWidest => WeightKernel(dev, nameof(Conv2dKernels.Conv2dBackwardWeightKernel2), Conv2dKernels.Conv2dBackwardWeightKernel2),
            2 => WeightKernel(dev, nameof(Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel2), Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel2),
            4 => WeightKernel(dev, nameof(Conv2dKernels.Conv2dBackwardWeightKernel4), Conv2dKernels.Conv2dBackwardWeightKernel4),
            _ => TensorCoreKernel<Conv2dWeightGemm>(dev, nameof(Conv2dKernels.Conv2dBackwardWeightKernel5), Conv2dKernels.Conv2dBackwardWeightKernel5),
        };
        KernelConfig config;
        if (version == 4)
        {
            int t = Conv2dKernels.Tile, th = Conv2dKernels.TileThreads;
            config = new KernelConfig(new Index3D((crs + t - 1) / t, kPad / t, chunks), new Index3D(th, th, 1));
        }
        else if (version == 5)
        {
            int t = Conv2dKernels.TcTile;
            config = new KernelConfig(new Index3D((crs + t - 1) / t, kPad / t, chunks), new Index3D(Conv2dKernels.TcThreads, 1, 1));
        }
        else
        {
            int taps = dev.Policy.Blocks.WeightGradTaps;
            config = BlockConfig(dev, (long)chunks * (kPad / Conv2dKernels.Block2) * ((crs + taps - 1) / taps));
        }
        kernel(config, xPad, dyT, dst, gg);
        SumPartials(dev, dst, dW, chunks, len);
    }

    /// <summary>dW += the partial sums (chunks, len, lanes) in order (nothing to do when the kernel added into dW itself).</summary>
    static void SumPartials(ComputeDevice dev, ArrayView<float> partial, ArrayView<float> dW, int chunks, long len, int lanes = 1)
    {
        if (chunks == 1 && lanes == 1)
            return;
        var sum = dev.Kernel(nameof(Conv2dKernels.Conv2dSumPartialsKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int>(Conv2dKernels.Conv2dSumPartialsKernel));
        sum(dev.GridStrideConfig(len), partial, dW, chunks, (int)len, lanes);
    }

    // ---- version 3: runs of 64 positions along a stride-1 source row --------------------------------

    /// <summary>
    /// Geometry of version 3's source for the forward and the weight gradient: X zero-padded and split into
    /// stride × stride parity planes of Hq × Wq, so filter tap (r, s) of output (p, q) reads plane
    /// (r mod st, s mod st) at (p + r div st, q + s div st): output rows become runs of one plane row.
    /// </summary>
    readonly record struct RowSource(int Hq, int Wq, int Plane, int SrcA, int SrcN, int VBlocks, long Length);

    static RowSource RowSourceOf(Conv2dShape g)
    {
        int st = g.Stride;
        int hq = (g.H + 2 * g.Pad + st - 1) / st, wq = (g.W + 2 * g.Pad + st - 1) / st;
        int plane = hq * wq, srcA = st * st * plane, srcN = g.C * srcA;
        int vBlocks = (g.P * wq + Conv2dKernels.Run3 - 1) / Conv2dKernels.Run3;
        // Dropped positions past the last row read up to a run, a filter's rows and a row past the planes.
        long need = (long)(g.N - 1) * srcN + (long)g.C * srcA + (long)vBlocks * Conv2dKernels.Run3 + (long)g.R * wq + g.S;
        return new RowSource(hq, wq, plane, srcA, srcN, vBlocks, Math.Max((long)g.N * srcN, need));
    }

    /// <summary>Version 3's forward; returns the parity planes of x it made.</summary>
    static ArrayView<float> ForwardRows(ComputeDevice dev, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, Conv2dShape g)
    {
        var rs = RowSourceOf(g);
        int st = g.Stride;
        var xPlanes = Planes(dev, x, g.N * g.C, g.H, g.W, rs.Hq, rs.Wq, g.Pad, g.Pad, st, rs.Length);
        int channels = dev.Policy.Blocks.RowChannels, mPad = RoundUp(g.K, channels);
        var kernel = dev.Policy.Blocks.IsWidest
            ? RowKernel(dev, nameof(Conv2dKernels.Conv2dForwardKernel3), Conv2dKernels.Conv2dForwardKernel3)
            : RowKernel(dev, nameof(Conv2dKernels.Conv2dForwardFor8LanesKernel3), Conv2dKernels.Conv2dForwardFor8LanesKernel3);
        bool first = true;
        // Parity class (ph, pw): taps r = ph + st·i, s = pw + st·j, all read from plane (ph, pw). Classes add up in order.
        for (int ph = 0; ph < st && ph < g.R; ph++)
            for (int pw = 0; pw < st && pw < g.S; pw++)
            {
                int ri = (g.R - ph + st - 1) / st, sj = (g.S - pw + st - 1) / st;
                var b = ClassWeights(dev, w, g, ph, pw, ri, sj, mPad, forward: true, byColumn: true);
                var gg = new Conv2dRowGemm
                {
                    N = g.N, OH = g.P, OW = g.Q, VRow = rs.Wq, VBlocks = rs.VBlocks,
                    M = g.K, MPad = mPad, T = g.C * ri * sj, RI = ri, SJ = sj,
                    SrcN = rs.SrcN, SrcA = rs.SrcA, Base0 = (ph * st + pw) * rs.Plane, Dir = 1,
                    OutN = g.K * g.P * g.Q, OutM = g.P * g.Q, OutRow = g.Q, OutSy = 1, OutY0 = 0, OutSx = 1, OutX0 = 0,
                    Accumulate = first ? 0 : 1,
                };
                kernel(BlockConfig(dev, (long)g.N * rs.VBlocks * (mPad / channels)), xPlanes, b, y, gg);
                first = false;
            }
        return xPlanes;
    }

    static void BackwardInputRows(ComputeDevice dev, ArrayView<float> dY, ArrayView<float> w, ArrayView<float> dX, Conv2dShape g,
        List<ParityClass> classes, int top, int left, int pp, int qp)
    {
        int run = Conv2dKernels.Run3;
        int srcA = pp * qp, srcN = g.K * srcA;
        // Dropped positions read past the last row of the last plane: give the padded dY a zero tail.
        long length = (long)g.N * srcN;
        foreach (var c in classes)
            length = Math.Max(length, (long)(g.N - 1) * srcN + (long)(g.K - 1) * srcA + (top + c.Eh) * qp + left + c.Ew
                + (long)(c.OH * qp + run - 1) / run * run);
        var dYPad = Planes(dev, dY, g.N * g.K, g.P, g.Q, pp, qp, top, left, 1, length);
        int channels = dev.Policy.Blocks.RowChannels, mPad = RoundUp(g.C, channels);
        var kernel = dev.Policy.Blocks.IsWidest
            ? RowKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputKernel3), Conv2dKernels.Conv2dBackwardInputKernel3)
            : RowKernel(dev, nameof(Conv2dKernels.Conv2dBackwardInputFor8LanesKernel3), Conv2dKernels.Conv2dBackwardInputFor8LanesKernel3);
        foreach (var c in classes)
        {
            var b = ClassWeights(dev, w, g, c.Rc, c.Sc, c.RI, c.SJ, mPad, forward: false, byColumn: true);
            int vBlocks = (c.OH * qp + run - 1) / run;
            var gg = new Conv2dRowGemm
            {
                N = g.N, OH = c.OH, OW = c.OW, VRow = qp, VBlocks = vBlocks,
                M = g.C, MPad = mPad, T = g.K * c.RI * c.SJ, RI = c.RI, SJ = c.SJ,
                SrcN = srcN, SrcA = srcA, Base0 = (top + c.Eh) * qp + left + c.Ew, Dir = -1,
                OutN = g.C * g.H * g.W, OutM = g.H * g.W, OutRow = g.W, OutSy = g.Stride, OutY0 = c.Ph, OutSx = g.Stride, OutX0 = c.Pw,
                Accumulate = 1,
            };
            kernel(BlockConfig(dev, (long)g.N * vBlocks * (mPad / channels)), dYPad, b, dX, gg);
        }
    }

    /// <summary>Version 3's weight gradient; <paramref name="planes"/>, when given, are the forward's parity planes of x.</summary>
    static void WeightRows(ComputeDevice dev, ArrayView<float> x, ArrayView<float> dY, ArrayView<float> dW, Conv2dShape g, ArrayView<float> planes)
    {
        var rs = RowSourceOf(g);
        int run = Conv2dKernels.Run3, crs = g.C * g.R * g.S;
        if (planes.Length != 0 && planes.Length != rs.Length)
            throw new ArgumentException($"conv2d backward-weight ({g}): parity planes of {planes.Length} elements, expected {rs.Length}");
        var xPlanes = planes.Length != 0 ? planes : Planes(dev, x, g.N * g.C, g.H, g.W, rs.Hq, rs.Wq, g.Pad, g.Pad, g.Stride, rs.Length);
        int planeLength = rs.VBlocks * run;
        var dYRows = dev.Pool.Rent((long)g.N * g.K * planeLength);   // (N, K, VBlocks·64)
        var layout = dev.Kernel(nameof(Conv2dKernels.Conv2dRowLayoutKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Conv2dKernels.Conv2dRowLayoutKernel));
        layout(dev.GridStrideConfig((long)g.N * g.K * ((planeLength + rs.Wq - 1) / rs.Wq)), dY, dYRows, g.N * g.K, g.P, g.Q, rs.Wq, planeLength);
        int runs = g.N * rs.VBlocks;
        int chunkBlocks = Math.Max(1, RowChunkPositions / run);
        int chunks = (runs + chunkBlocks - 1) / chunkBlocks;
        long len = (long)g.K * crs;
        var partial = dev.Pool.Rent(chunks * len * 8);   // (Chunks, K, C·R·S, 8)
        var gg = new Conv2dRowWeightGemm
        {
            N = g.N, VBlocks = rs.VBlocks, VRow = rs.Wq, Stride = g.Stride, PlaneSize = rs.Plane,
            K = g.K, CRS = crs, RS = g.R * g.S, S = g.S,
            SrcN = rs.SrcN, SrcA = rs.SrcA, DyN = g.K * planeLength, DyK = planeLength,
            ChunkBlocks = chunkBlocks, Chunks = chunks,
        };
        var blocks = dev.Policy.Blocks;
        var kernel = blocks.IsWidest
            ? RowWeightKernel(dev, nameof(Conv2dKernels.Conv2dBackwardWeightKernel3), Conv2dKernels.Conv2dBackwardWeightKernel3)
            : RowWeightKernel(dev, nameof(Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel3), Conv2dKernels.Conv2dBackwardWeightFor8LanesKernel3);
        int rowsK = blocks.RowWeightGradRows, taps = blocks.RowWeightGradTaps;
        kernel(BlockConfig(dev, (long)chunks * ((g.K + rowsK - 1) / rowsK) * ((crs + taps - 1) / taps)), xPlanes, dYRows, partial, gg);
        SumPartials(dev, partial, dW, chunks, len, lanes: 8);
    }

    /// <summary>Positions per chunk of version 3's weight gradient (each chunk keeps 8 partial sums per weight).</summary>
    const int RowChunkPositions = 2048;   // best of 1024–8192 measured on PoCL (a shared, noisy machine)

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dRowGemm> RowKernel(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dRowGemm> kernel) =>
        dev.Kernel(name, a => a.LoadStreamKernel(kernel));

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dRowWeightGemm> RowWeightKernel(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dRowWeightGemm> kernel) =>
        dev.Kernel(name, a => a.LoadStreamKernel(kernel));

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dWeightGemm> WeightKernel(
        ComputeDevice dev, string name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dWeightGemm> kernel) =>
        dev.Kernel(name, a => a.LoadStreamKernel(kernel));
}
