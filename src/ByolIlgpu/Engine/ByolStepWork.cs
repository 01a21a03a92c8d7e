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
    /// <summary>The FLOPs the tiles execute, padding included (rows and columns to whole 64-wide tiles, the reduction to whole 16-deep strips); the true FLOPs where unknown.</summary>
    public double ExecutedFlopsPerLaunch { get; init; } = FlopsPerLaunch;

    public bool IsGemm => FlopsPerLaunch > 0;
    public double Flops => FlopsPerLaunch * Launches;
    public double Bytes => BytesPerLaunch * Launches;
}

/// <summary>
/// Every kernel launch of one BYOL training step on a CUDA device (<see cref="Training.TrainingStep"/>:
/// both views augmented, student forward on each view, teacher forward on each view, the symmetric loss,
/// the student's backward, LARS, EMA), listed from the layer shapes the way the launchers in Ops/ issue them:
/// Conv2d version 4's operand preparation (zero-padded copies, weight re-layouts, dYᵀ, partial sums) and
/// parity classes, BatchNorm2d version 2 (5 launches forward, 3 backward), BatchNorm1d version 1, Matmul
/// one launch per product. Newer Conv2d versions are modelled with version 4's preparation and launches.
/// PerformanceModelTests checks the launch counts per kernel against the engine's counters on PoCL.
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

        public void Add(string kernel, string what, int launches, double flops, double bytes, long blocks = 0, double executed = 0)
        {
            var key = (kernel, what);
            if (rows.TryGetValue(key, out var row))
            {
                rows[key] = row with { Launches = row.Launches + launches };
                return;
            }
            rows[key] = new KernelWork(kernel, what, launches, flops, bytes, blocks) { ExecutedFlopsPerLaunch = executed > 0 ? executed : flops };
            order.Add(key);
        }

        public List<KernelWork> ToList() => order.Select(k => rows[k]).ToList();
    }

    static int RoundUp(int v, int m) => (v + m - 1) / m * m;
    static long Blocks(long a, int tile) => (a + tile - 1) / tile;

    /// <summary>
    /// The launches of one step at <paramref name="batch"/> images per view on a GPU with
    /// <paramref name="multiprocessors"/> SMs (the weight gradient's chunk count depends on it), with the given
    /// Conv2d and Matmul GEMM kernel versions.
    /// </summary>
    public static List<KernelWork> Enumerate(ByolArchitecture a, int batch, int multiprocessors, int convVersion, int matmulVersion)
    {
        var rows = new Rows();
        int n = batch;
        const int forwards = 4, backwards = 2;   // student and teacher on two views; the student's backward on both
        string conv = $"v{convVersion}";
        int tile = Conv2dKernels.Tile, strip = Conv2dKernels.TileK;

        // Augmentation, per view.
        rows.Add("AugmentDrawKernel", "augmentation parameters", 2, 0, n * 64 * F);
        rows.Add("AugmentApplyKernel", "augment (N, 3, 32, 32) uint8 → float", 2, 0, n * 3 * 32 * 32 * (1 + F));

        foreach (var layer in Convolutions(a.Width))
        {
            var g = layer.Shape(n);
            string at = $"{layer.Name} {g.C}→{g.K} {g.R}×{g.S}/{g.Stride} {g.H}²";
            int hp = g.H + 2 * g.Pad, crs = g.C * g.R * g.S, positions = g.N * g.P * g.Q;
            double x = g.InputLength * F, xPad = (double)g.N * g.C * hp * hp * F, y = g.OutputLength * F, w = g.WeightLength * F;

            // Forward: padded X, Wᵀ (C·R·S, MPad), the GEMM.
            int mPad = RoundUp(g.K, tile);
            if (g.Pad > 0)
                rows.Add("Conv2dPadKernel", "pad X " + at, forwards, 0, x + xPad);
            rows.Add("Conv2dForwardWeightsKernel", "Wᵀ " + at, forwards, 0, w + crs * mPad * F);
            rows.Add($"Conv2dForwardKernel{convVersion}", $"forward {conv} " + at, forwards,
                2.0 * g.MultiplyAdds, xPad + crs * mPad * F + y, Blocks(positions, tile) * (mPad / tile),
                2.0 * Blocks(positions, tile) * tile * mPad * RoundUp(crs, strip));

            // BatchNorm2d v2 after every convolution, on its output (E elements).
            double e = y;
            rows.Add("BatchNormSumPartialsKernel2", "BN sums " + at, forwards, 0, e);
            rows.Add("BatchNormMeanKernel2", "BN mean " + at, forwards, 0, g.K * 64 * F);
            rows.Add("BatchNormCenteredSquarePartialsKernel2", "BN variance sums " + at, forwards, 0, e);
            rows.Add("BatchNormVarianceKernel2", "BN variance " + at, forwards, 0, g.K * 64 * F);
            rows.Add("BatchNormNormalizeKernel2", "BN normalize " + at, forwards, 0, 2 * e);
            rows.Add("BatchNormBackwardPartialsKernel2", "BN backward sums " + at, backwards, 0, 2 * e);
            rows.Add("BatchNormBackwardReduceKernel2", "BN backward reduce " + at, backwards, 0, g.K * 128 * F);
            rows.Add("BatchNormBackwardInputKernel2", "BN backward dX " + at, backwards, 0, 3 * e);

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
                int cPad = RoundUp(g.C, tile);
                foreach (var c in classes)
                {
                    int t = g.K * c.RI * c.SJ;
                    long classPositions = (long)g.N * c.OH * c.OW;
                    string cls = classes.Count == 1 ? "" : $" class {c.Ph}{c.Pw}";
                    rows.Add("Conv2dClassWeightsKernel", "W class " + at + cls, backwards, 0, w + t * cPad * F);
                    rows.Add($"Conv2dBackwardInputKernel{convVersion}", $"dX {conv} " + at + cls, backwards,
                        2.0 * classPositions * g.C * t, dyPad + t * cPad * F + 2 * classPositions * g.C * F, Blocks(classPositions, tile) * (cPad / tile),
                        2.0 * Blocks(classPositions, tile) * tile * cPad * RoundUp(t, strip));
                }
            }

            // Backward to the weights: padded X, dYᵀ (N·P·Q, KPad), the GEMM over chunks of positions, their sum.
            int kPad = RoundUp(g.K, tile);
            int tiles = (crs + tile - 1) / tile * (kPad / tile);
            int wanted = Math.Max(1, 4 * Math.Max(1, multiprocessors) / tiles);
            int chunk = Math.Max(256, RoundUp((positions + wanted - 1) / wanted, Conv2dKernels.TileK));
            int chunks = (positions + chunk - 1) / chunk;
            if (g.Pad > 0)
                rows.Add("Conv2dPadKernel", "pad X (dW) " + at, backwards, 0, x + xPad);
            rows.Add("Conv2dTransposeOutputGradKernel", "dYᵀ " + at, backwards, 0, y + (double)positions * kPad * F);
            rows.Add($"Conv2dBackwardWeightKernel{convVersion}", $"dW {conv} " + at, backwards,
                2.0 * g.MultiplyAdds, xPad + (double)positions * kPad * F + chunks * w + (chunks == 1 ? w : 0), (long)tiles * chunks,
                2.0 * tiles * tile * tile * ((double)(chunks - 1) * RoundUp(chunk, strip) + RoundUp(positions - (chunks - 1) * chunk, strip)));
            if (chunks > 1)
                rows.Add("Conv2dSumPartialsKernel", "dW partials " + at, backwards, 0, chunks * w + 2 * w);
        }

        // The rest of the backbone per pass: ReLUs (stem + the first of each block), residual add + ReLU, pooling.
        foreach (var (what, elements) in ReluSites(a.Width, n))
        {
            rows.Add("ReluForwardKernel", "ReLU " + what, forwards, 0, 2 * elements * F);
            rows.Add("ReluBackwardKernel", "ReLU backward " + what, backwards, 0, 3 * elements * F);
        }
        foreach (var (what, elements) in ResidualSites(a.Width, n))
        {
            rows.Add("AddReluForwardKernel", "add + ReLU " + what, forwards, 0, 3 * elements * F);
            rows.Add("AddReluBackwardKernel", "add + ReLU backward " + what, backwards, 0, 4 * elements * F);
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
        double h = (double)n * hidden * F;
        void Gemm(string what, int launches, int m, int cols, int k, bool accumulate) =>
            rows.Add(mm, $"{name} {what} ({m}×{cols}×{k})", launches, 2.0 * m * cols * k,
                ((double)m * k + (double)k * cols + (accumulate ? 2.0 : 1.0) * m * cols) * F, Blocks(cols, MatmulKernels.Tile3) * Blocks(m, MatmulKernels.Tile3),
                2.0 * RoundUp(m, MatmulKernels.Tile3) * RoundUp(cols, MatmulKernels.Tile3) * RoundUp(k, MatmulKernels.Tile3K));
        Gemm("first linear", forwards, n, hidden, inF, false);
        rows.Add("LinearBiasForwardKernel", $"{name} bias {hidden}", forwards, 0, 2 * h);
        rows.Add("BatchNormForwardTrainKernel1", $"{name} BatchNorm1d {hidden}", forwards, 0, 4 * h);
        rows.Add("ReluForwardKernel", $"{name} ReLU {hidden}", forwards, 0, 2 * h);
        Gemm("second linear", forwards, n, outF, hidden, false);
        rows.Add("LinearBiasForwardKernel", $"{name} bias {outF}", forwards, 0, 2.0 * n * outF * F);
        rows.Add("LinearBiasBackwardKernel", $"{name} bias backward {outF}", backwards, 0, (double)n * outF * F);
        Gemm("second linear dX", backwards, n, hidden, outF, true);
        Gemm("second linear dW", backwards, outF, hidden, n, true);
        rows.Add("ReluBackwardKernel", $"{name} ReLU backward {hidden}", backwards, 0, 3 * h);
        rows.Add("BatchNormBackwardKernel1", $"{name} BatchNorm1d backward {hidden}", backwards, 0, 5 * h);
        rows.Add("LinearBiasBackwardKernel", $"{name} bias backward {hidden}", backwards, 0, h);
        Gemm("first linear dX", backwards, n, inF, hidden, true);
        Gemm("first linear dW", backwards, hidden, inF, n, true);
    }

    static IEnumerable<(string What, double Elements)> ReluSites(int width, int n)
    {
        yield return ($"stem {width}×32²", (double)n * width * 32 * 32);
        foreach (var (stage, b, c, h) in BasicBlocks(width))
            yield return ($"layer{stage + 1}.{b} {c}×{h}²", (double)n * c * h * h);
    }

    static IEnumerable<(string What, double Elements)> ResidualSites(int width, int n) =>
        BasicBlocks(width).Select(s => ($"layer{s.Stage + 1}.{s.Block} {s.C}×{s.H}²", (double)n * s.C * s.H * s.H));

    /// <summary>Each BasicBlock's output: stage, block, channels, side.</summary>
    static IEnumerable<(int Stage, int Block, int C, int H)> BasicBlocks(int width)
    {
        int h = 32;
        for (int stage = 0; stage < 4; stage++)
            for (int b = 0; b < 2; b++)
            {
                if (stage > 0 && b == 0)
                    h = (h - 1) / 2 + 1;
                yield return (stage, b, width << stage, h);
            }
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
