using ByolIlgpu.Byol;
using ByolIlgpu.Kernels;

namespace ByolIlgpu.Engine;

/// <summary>
/// One row of a step's work: <see cref="Launches"/> launches of one kernel at one shape, each doing
/// <see cref="FlopsPerLaunch"/> floating-point operations (GEMMs only; 0 for the memory-bound kernels) and moving
/// at least <see cref="BytesPerLaunch"/> bytes of DRAM (each operand read once and each result written once:
/// perfect cache reuse), in <see cref="BlocksPerLaunch"/> thread blocks (0 where the model does not know the grid).
/// </summary>
public sealed record KernelWork(string Kernel, string What, int Launches, double FlopsPerLaunch, double BytesPerLaunch, long BlocksPerLaunch)
{
    /// <summary>The FLOPs the tiles execute, padding included (rows and columns to whole tiles, the reduction to whole strips); the true FLOPs where unknown.</summary>
    public double ExecutedFlopsPerLaunch { get; init; } = FlopsPerLaunch;

    /// <summary>
    /// Bytes the GEMM's blocks load from global memory (through L2) per launch: every block its operand strips over
    /// its whole reduction, less the gathered operand's reuse across filter taps (served by L1); 0 for other kernels.
    /// </summary>
    public double TileLoadBytesPerLaunch { get; init; }

    /// <summary>Bytes one block of the GEMM loads per reduction strip: what its register prefetch keeps in flight.</summary>
    public double StripLoadBytes { get; init; }

    public bool IsGemm => FlopsPerLaunch > 0;
    public double Flops => FlopsPerLaunch * Launches;
    public double Bytes => BytesPerLaunch * Launches;
}

/// <summary>
/// The tiles of one GEMM kernel version: <see cref="Rows"/> × <see cref="Columns"/> outputs per block, reduction
/// strips of <see cref="Strip"/>, groups of <see cref="Threads"/>; the convolutions' B operands and dYᵀ have their
/// columns padded to a multiple of <see cref="Columns"/> (MPad, KPad in Ops/Conv2d.cs).
/// </summary>
public readonly record struct GemmTiling(int Rows, int Columns, int Strip, int Threads)
{
    /// <summary>Conv2d versions 4 (FP32 4×4 per thread), 5 (TF32 tensor cores) and 6 (FP32 8×8 per thread), as Ops/Conv2d.cs launches them.</summary>
    public static GemmTiling Conv(int version) => version switch
    {
        4 => new(Conv2dKernels.Tile, Conv2dKernels.Tile, Conv2dKernels.TileK, Conv2dKernels.TileThreads * Conv2dKernels.TileThreads),
        5 => new(Conv2dKernels.TcTile, Conv2dKernels.TcTile, Conv2dKernels.TcStrip, Conv2dKernels.TcThreads),
        6 => new(Conv2dKernels.Tile6, Conv2dKernels.Tile6, Conv2dKernels.TileK6, Conv2dKernels.TileThreads6 * Conv2dKernels.TileThreads6),
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, "the model knows the GPU Conv2d versions 4, 5 and 6"),
    };

    /// <summary>Matmul versions 3 (FP32 4×4), 4 (TF32 tensor cores) and 5 (FP32 8×8), as Ops/Matmul.cs launches them.</summary>
    public static GemmTiling Matmul(int version) => version switch
    {
        3 => new(MatmulKernels.Tile3, MatmulKernels.Tile3, MatmulKernels.Tile3K, MatmulKernels.Threads3 * MatmulKernels.Threads3),
        4 => new(MatmulKernels.Tile4, MatmulKernels.Tile4, MatmulKernels.Tile4K, MatmulKernels.Threads4),
        5 => new(MatmulKernels.Tile5, MatmulKernels.Tile5, MatmulKernels.Tile5K, MatmulKernels.Threads5 * MatmulKernels.Threads5),
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, "the model knows the GPU Matmul versions 3, 4 and 5"),
    };

    /// <summary>Bytes one block loads per strip: a strip of each operand.</summary>
    public double StripBytes => (double)(Rows + Columns) * Strip * sizeof(float);
}

/// <summary>
/// Every kernel launch of one BYOL training step on a CUDA device (<see cref="Training.TrainingStep"/>:
/// both views augmented, student forward on each view, teacher forward on each view, the symmetric loss,
/// the student's backward, LARS, EMA), listed from the layer shapes the way the launchers in Ops/ issue them:
/// the GPU Conv2d version's operand preparation (zero-padded copies of x and dY, the filters re-laid out once per
/// weight update — Engine/PreparedWeights.cs —, dYᵀ, partial sums; the weight gradient reads the forward's padded
/// x), its tiles, grids and chunks, one GEMM per stride-parity class of dX; BatchNorm2d version 2 (3 launches
/// forward, 2 backward) with the ReLU after it, and the BasicBlock's residual add + ReLU, fused in; BatchNorm1d
/// version 1 with its ReLU; Matmul one launch per product. PerformanceModelTests checks the launch counts per
/// kernel against the engine's counters on PoCL, for each GPU GEMM version.
/// </summary>
public static class ByolStepWork
{
    const double F = sizeof(float);

    /// <summary>A convolution of the backbone: C → K channels, R×R filter, on H×H inputs.</summary>
    public sealed record ConvLayer(string Name, int C, int K, int H, int R, int Stride, int Pad)
    {
        public Conv2dShape Shape(int batch) => new(batch, C, H, H, K, R, R, Stride, Pad);
        public bool IsStem => Name == "conv1";
    }

    /// <summary>ResNet-18's 20 convolutions for 32×32 images at base width w (<see cref="Layers.ResNet18"/>), in forward order.</summary>
    public static IReadOnlyList<ConvLayer> Convolutions(int width)
    {
        var convs = new List<ConvLayer> { new("conv1", 3, width, 32, 3, 1, 1) };
        int inChannels = width, h = 32;
        for (int stage = 0; stage < 4; stage++)
        {
            int c = width << stage;
            for (int b = 0; b < 2; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1, oh = (h - 1) / stride + 1;
                string name = $"layer{stage + 1}.{b}";
                convs.Add(new($"{name}.conv1", inChannels, c, h, 3, stride, 1));
                convs.Add(new($"{name}.conv2", c, c, oh, 3, 1, 1));
                if (inChannels != c || stride != 1)
                    convs.Add(new($"{name}.downsample", inChannels, c, h, 1, stride, 0));
                inChannels = c;
                h = oh;
            }
        }
        return convs;
    }

    sealed class Rows
    {
        readonly Dictionary<(string, string), KernelWork> rows = [];
        readonly List<(string, string)> order = [];

        public void Add(string kernel, string what, int launches, double flops, double bytes, long blocks = 0, double executed = 0,
            double tileLoads = 0, double stripLoads = 0)
        {
            var key = (kernel, what);
            if (rows.TryGetValue(key, out var row))
            {
                rows[key] = row with { Launches = row.Launches + launches };
                return;
            }
            rows[key] = new KernelWork(kernel, what, launches, flops, bytes, blocks) 
            {
                ExecutedFlopsPerLaunch = executed > 0 ? executed : flops, TileLoadBytesPerLaunch = tileLoads, StripLoadBytes = stripLoads,
            };
            order.Add(key);
        }

        public List<KernelWork> ToList() => order.Select(k => rows[k]).ToList();
    }

    static int RoundUp(int v, int m) => (v + m - 1) / m * m;
    static long Blocks(long a, int tile) => (a + tile - 1) / tile;

    /// <summary>What follows a backbone BatchNorm in the same kernel (Ops/BatchNorm.cs's epilogues).</summary>
    enum Epilogue { Plain, Relu, AddRelu }

    /// <summary>The epilogue of the BatchNorm after each convolution: ReLU after the stem and each block's conv1, the join after conv2.</summary>
    static Epilogue EpilogueAfter(ConvLayer layer) =>
        layer.IsStem || layer.Name.EndsWith(".conv1", StringComparison.Ordinal) ? Epilogue.Relu
        : layer.Name.EndsWith(".conv2", StringComparison.Ordinal) ? Epilogue.AddRelu
        : Epilogue.Plain;

    /// <summary>
    /// Distinct source elements per channel that a block gathering <paramref name="positions"/> consecutive
    /// output positions (n, oy, ox) of an <paramref name="oh"/> × <paramref name="ow"/> output reads through
    /// <paramref name="ri"/> × <paramref name="sj"/> taps at <paramref name="stride"/>: the bounding box of the rows it
    /// spans (whole images when it spans more than one; a whole number of rows is taken as aligned, as the tiles are,
    /// else one row more), never more than the elements it gathers. Repeated reads inside the box are assumed to hit L1.
    /// </summary>
    public static double GatherFootprint(double positions, int oh, int ow, int ri, int sj, int stride)
    {
        double rowLength = (double)(ow - 1) * stride + sj;
        double box = positions >= (double)oh * ow
            ? positions / ((double)oh * ow) * (((double)oh - 1) * stride + ri) * rowLength
            : ((Math.Min(oh, Math.Ceiling(positions / ow) + (positions % ow == 0 ? 0 : 1)) - 1) * stride + ri) * rowLength;
        return Math.Min(box, positions * ri * sj);
    }

    /// <summary>
    /// The launches of one step at <paramref name="batch"/> images per view on a GPU with
    /// <paramref name="multiprocessors"/> SMs (the weight gradient's chunk count depends on it), with the given
    /// Conv2d and Matmul GEMM kernel versions, each with its own tiles (<see cref="GemmTiling"/>).
    /// </summary>
    public static List<KernelWork> Enumerate(ByolArchitecture a, int batch, int multiprocessors, int convVersion, int matmulVersion)
    {
        var rows = new Rows();
        int n = batch;
        const int forwards = 4, backwards = 2;   // student and teacher on two views; the student's backward on both
        const int weightForms = 2;               // filter re-layouts per step: the student's and the teacher's weights, once each
        string conv = $"v{convVersion}";
        var tiling = GemmTiling.Conv(convVersion);
        int tr = tiling.Rows, tc = tiling.Columns, strip = tiling.Strip;

        // Augmentation, per view.
        rows.Add("AugmentDrawKernel", "augmentation parameters", 2, 0, n * 64 * F);
        rows.Add("AugmentApplyKernel", "augment (N, 3, 32, 32) uint8 → float", 2, 0, n * 3 * 32 * 32 * (1 + F));

        foreach (var layer in Convolutions(a.Width))
        {
            var g = layer.Shape(n);
            string at = $"{layer.Name} {g.C}→{g.K} {g.R}×{g.S}/{g.Stride} {g.H}²";
            int hp = g.H + 2 * g.Pad, crs = g.C * g.R * g.S, positions = g.N * g.P * g.Q;
            double x = g.InputLength * F, xPad = (double)g.N * g.C * hp * hp * F, y = g.OutputLength * F, w = g.WeightLength * F;

            // Forward: padded X (kept for the weight gradient), Wᵀ (C·R·S, MPad) once per weight update, the GEMM.
            int mPad = RoundUp(g.K, tc);
            if (g.Pad > 0)
                rows.Add("Conv2dPadKernel", "pad X " + at, forwards, 0, x + xPad);
            rows.Add("Conv2dForwardWeightsKernel", "Wᵀ " + at, weightForms, 0, w + crs * mPad * F);
            long forwardBlocks = Blocks(positions, tr) * (mPad / tc);
            double forwardStrips = Math.Ceiling((double)crs / strip);
            rows.Add($"Conv2dForwardKernel{convVersion}", $"forward {conv} " + at, forwards,
                2.0 * g.MultiplyAdds, xPad + crs * mPad * F + y, forwardBlocks,
                2.0 * forwardBlocks * tr * tc * forwardStrips * strip,
                forwardBlocks * (forwardStrips * strip * tc + Math.Min(forwardStrips * strip * tr, g.C * GatherFootprint(tr, g.P, g.Q, g.R, g.S, g.Stride))) * F,
                tiling.StripBytes);

            // BatchNorm2d v2 after every convolution, on its output (E elements), with its epilogue fused in.
            double e = y;
            var epilogue = EpilogueAfter(layer);
            string bn = epilogue switch { Epilogue.Relu => "BN + ReLU ", Epilogue.AddRelu => "BN + add + ReLU ", _ => "BN " };
            rows.Add("BatchNormSumPartialsKernel2", bn + "sums " + at, forwards, 0, e);
            rows.Add("BatchNormCenteredSquarePartialsKernel2", bn + "variance sums " + at, forwards, 0, e);
            rows.Add("BatchNormNormalizeKernel2", bn + "normalize " + at, forwards, 0, (epilogue == Epilogue.AddRelu ? 3 : 2) * e);
            rows.Add("BatchNormBackwardPartialsKernel2", bn + "backward sums " + at, backwards, 0, (epilogue == Epilogue.Plain ? 2 : 3) * e);
            rows.Add("BatchNormBackwardInputKernel2", bn + "backward dX " + at, backwards, 0,
                epilogue switch { Epilogue.Plain => 3, Epilogue.Relu => 4, _ => 6 } * e);

            // Backward to the input (not for the stem: the images need no gradient), one GEMM per stride-parity class.
            if (!layer.IsStem)
            {
                var classes = ParityClasses(g);
                int top = Math.Max(0, -classes.Min(c => c.Eh - c.RI + 1));
                int bottom = Math.Max(0, classes.Max(c => c.OH - 1 + c.Eh) - (g.P - 1));
                int left = Math.Max(0, -classes.Min(c => c.Ew - c.SJ + 1));
                int right = Math.Max(0, classes.Max(c => c.OW - 1 + c.Ew) - (g.Q - 1));
                double dyPad = (double)g.N * g.K * (g.P + top + bottom) * (g.Q + left + right) * F;
                if (top + bottom + left + right > 0)
                    rows.Add("Conv2dPadKernel", "pad dY " + at, backwards, 0, y + dyPad);
                int cPad = RoundUp(g.C, tc);
                foreach (var c in classes)
                {
                    int t = g.K * c.RI * c.SJ;
                    long classPositions = (long)g.N * c.OH * c.OW;
                    string cls = classes.Count == 1 ? "" : $" class {c.Ph}{c.Pw}";
                    rows.Add("Conv2dClassWeightsKernel", "W class " + at + cls, 1, 0, w + t * cPad * F);   // the student's, once per step
                    long blocks = Blocks(classPositions, tr) * (cPad / tc);
                    double strips = Math.Ceiling((double)t / strip);
                    rows.Add($"Conv2dBackwardInputKernel{convVersion}", $"dX {conv} " + at + cls, backwards,
                        2.0 * classPositions * g.C * t, dyPad + t * cPad * F + 2 * classPositions * g.C * F, blocks,
                        2.0 * blocks * tr * tc * strips * strip,
                        blocks * (strips * strip * tc + Math.Min(strips * strip * tr, g.K * GatherFootprint(tr, c.OH, c.OW, c.RI, c.SJ, 1))) * F,
                        tiling.StripBytes);
                }
            }

            // Backward to the weights: the forward's padded X, dYᵀ (N·P·Q, KPad), the GEMM over chunks of positions, their sum.
            int kPad = RoundUp(g.K, tc);
            int tiles = (crs + tc - 1) / tc * (kPad / tc);
            int wanted = Math.Max(1, 4 * Math.Max(1, multiprocessors) / tiles);
            int chunk = Math.Max(256, RoundUp((positions + wanted - 1) / wanted, strip));
            int chunks = (positions + chunk - 1) / chunk;
            int lastChunk = positions - (chunks - 1) * chunk;
            double chunkStrips = (chunks - 1) * Math.Ceiling((double)chunk / strip) + Math.Ceiling((double)lastChunk / strip);
            rows.Add("Conv2dTransposeOutputGradKernel", "dYᵀ " + at, backwards, 0, y + (double)positions * kPad * F);
            // A block's taps span tc / (R·S) channels, each read over the footprint of the chunk's positions.
            double chunkFootprint = (chunks - 1) * GatherFootprint(chunk, g.P, g.Q, g.R, g.S, g.Stride)
                + GatherFootprint(lastChunk, g.P, g.Q, g.R, g.S, g.Stride);
            rows.Add($"Conv2dBackwardWeightKernel{convVersion}", $"dW {conv} " + at, backwards,
                2.0 * g.MultiplyAdds, xPad + (double)positions * kPad * F + chunks * w + (chunks == 1 ? w : 0), (long)tiles * chunks,
                2.0 * tiles * tc * tc * chunkStrips * strip,
                tiles * (chunkStrips * strip * tc + Math.Min(chunkStrips * strip * tc, (double)Math.Min(tc, crs) / (g.R * g.S) * chunkFootprint)) * F,
                tiling.StripBytes);
            if (chunks > 1)
                rows.Add("Conv2dSumPartialsKernel", "dW partials " + at, backwards, 0, chunks * w + 2 * w);
        }

        double features = (double)n * a.FeatureDim;
        rows.Add("GlobalAvgPoolForwardKernel", "average pool", forwards, 0, features * 16 * F + features * F);
        rows.Add("GlobalAvgPoolBackwardKernel", "average pool backward", backwards, 0, features * F + features * 16 * F);

        // The heads: projector on student and teacher, predictor on the student.
        Head(rows, "projector", n, a.FeatureDim, a.ProjectorHidden, a.ProjectorOut, forwards, backwards, matmulVersion);
        Head(rows, "predictor", n, a.ProjectorOut, a.PredictorHidden, a.ProjectorOut, backwards, backwards, matmulVersion);

        // Loss (two pairs), its mean and backward seed, the running loss sum, the optimizer and the EMA.
        double pairs = (double)n * a.ProjectorOut * F;
        rows.Add("ByolLossForwardKernel", "BYOL pair loss", 2, 0, 2 * pairs);
        rows.Add("ByolLossBackwardKernel", "BYOL pair loss backward", 2, 0, 3 * pairs);
        rows.Add("SumPartialsKernel", "loss mean partials", 2, 0, n * F);
        rows.Add("SumFinalizeKernel", "loss mean", 2, 0, 64 * F);
        rows.Add("AddScalarFromBufferKernel", "loss mean backward", 2, 0, n * F);
        rows.Add("AxpbyKernel", "loss sum, its backward, the epoch's loss sum", 5, 0, 3 * F);
        rows.Add("FillKernel", "backward seed", 1, 0, F);
        double student = a.BackboneParameters + a.ProjectorParameters + a.PredictorParameters;
        double teacher = a.BackboneParameters + a.ProjectorParameters;
        rows.Add("LarsNormPartialsKernel", "LARS norms (parameters, gradients)", 1, 0, 2 * student * F);
        rows.Add("LarsScaleKernel", "LARS trust ratios", 1, 0, 1024 * F);
        rows.Add("LarsUpdateKernel", "LARS update (parameters, gradients, momentum)", 1, 0, 5 * student * F);
        rows.Add("EmaUpdateKernel", "teacher EMA", 1, 0, 3 * teacher * F);
        return rows.ToList();
    }

    /// <summary>Linear(in → hidden) → BatchNorm1d → ReLU → Linear(hidden → out), on <paramref name="forwards"/> passes, backward on <paramref name="backwards"/>.</summary>
    static void Head(Rows rows, string name, int n, int inF, int hidden, int outF, int forwards, int backwards, int matmulVersion)
    {
        string mm = $"MatmulKernel{matmulVersion}";
        var tiling = GemmTiling.Matmul(matmulVersion);
        double h = (double)n * hidden * F;
        void Gemm(string what, int launches, int m, int cols, int k, bool accumulate)
        {
            long blocks = Blocks(cols, tiling.Columns) * Blocks(m, tiling.Rows);
            double reduction = RoundUp(k, tiling.Strip);
            rows.Add(mm, $"{name} {what} ({m}×{cols}×{k})", launches, 2.0 * m * cols * k,
                ((double)m * k + (double)k * cols + (accumulate ? 2.0 : 1.0) * m * cols) * F, blocks,
                2.0 * RoundUp(m, tiling.Rows) * RoundUp(cols, tiling.Columns) * reduction,
                blocks * reduction * (tiling.Rows + tiling.Columns) * F, tiling.StripBytes);
        }
        Gemm("first linear", forwards, n, hidden, inF, false);
        rows.Add("LinearBiasForwardKernel", $"{name} bias {hidden}", forwards, 0, 2 * h);
        rows.Add("BatchNormForwardTrainKernel1", $"{name} BatchNorm1d + ReLU {hidden}", forwards, 0, 4 * h);
        Gemm("second linear", forwards, n, outF, hidden, false);
        rows.Add("LinearBiasForwardKernel", $"{name} bias {outF}", forwards, 0, 2.0 * n * outF * F);
        rows.Add("LinearBiasBackwardKernel", $"{name} bias backward {outF}", backwards, 0, (double)n * outF * F);
        Gemm("second linear dX", backwards, n, hidden, outF, true);
        Gemm("second linear dW", backwards, outF, hidden, n, true);
        rows.Add("BatchNormBackwardKernel1", $"{name} BatchNorm1d + ReLU backward {hidden}", backwards, 0, 6 * h);
        rows.Add("LinearBiasBackwardKernel", $"{name} bias backward {hidden}", backwards, 0, h);
        Gemm("first linear dX", backwards, n, inF, hidden, true);
        Gemm("first linear dW", backwards, hidden, inF, n, true);
    }

    /// <summary>One stride-parity class of dX positions, as Ops/Conv2d.cs computes them (LaunchBackwardInput).</summary>
    readonly record struct ParityClass(int Ph, int Pw, int OH, int OW, int RI, int SJ, int Eh, int Ew);

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
                    continue;
                classes.Add(new ParityClass(ph, pw, (g.H - ph + st - 1) / st, (g.W - pw + st - 1) / st,
                    ri, sj, (ph + g.Pad - rc) / st, (pw + g.Pad - sc) / st));
            }
        return classes;
    }
}
