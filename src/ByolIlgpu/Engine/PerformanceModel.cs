using System.Globalization;
using System.Text;
using ByolIlgpu.Byol;

namespace ByolIlgpu.Engine;

/// <summary>
/// A GPU's published peak rates, as the performance model uses them. Sources: NVIDIA's H100 datasheet
/// (SXM5: 67 TFLOP/s FP32, 495 TFLOP/s dense TF32 — 989 with sparsity —, 3.35 TB/s HBM3) and H200
/// datasheet (the same GH100 compute, 4.8 TB/s HBM3e); 132 SMs at a 1.98 GHz boost clock
/// (132 SMs × 128 FP32 lanes × 2 FLOP × 1.98 GHz = 66.9 TFLOP/s).
/// </summary>
/// <param name="Tf32MmaSyncTflops">
/// What `mma.sync` (the warp-level MMA ILGPU can emit; sm_90's 495 TFLOP/s needs the warpgroup `wgmma`)
/// reaches: an ASSUMPTION of half the wgmma rate. Public reports point that way (e.g. "WGMMA has 2× the
/// throughput of WMMA on H100", r/CUDA; Luo et al., "Dissecting the NVIDIA Hopper Architecture through
/// Microbenchmarking", arXiv:2501.12084, measure the legacy mma path well below wgmma's) but none gives
/// m16n8k8 TF32 on an H100 SXM; a measurement on a lent GPU replaces it.
/// </param>
/// <param name="L2TBps">
/// What the SMs can draw from L2 together: an ASSUMPTION of 7 TB/s (NVIDIA publishes none; public estimates for
/// the H100 run from about 5.5 to 12 TB/s); the H200 has the same die and L2.
/// </param>
/// <param name="L2LatencyClocks">An L2 hit's latency, an ASSUMPTION of 300 clocks (public measurements of recent NVIDIA GPUs: about 200–340).</param>
/// <param name="LaunchMicroseconds">Host-side cost of one launch through ILGPU's CUDA path (~3–5 µs; the model takes 4).</param>
public sealed record GpuSpec(string Key, string Name, int Multiprocessors, double ClockGhz, double Fp32Tflops,
    double Tf32WgmmaTflops, double Tf32MmaSyncTflops, double DramTBps, double L2TBps, double L2LatencyClocks, double LaunchMicroseconds)
{
    public static GpuSpec H100Sxm { get; } = new("h100-sxm", "H100 SXM5 80 GB", 132, 1.98, 67, 495, 495 / 2.0, 3.35, 7, 300, 4);
    public static GpuSpec H200 { get; } = new("h200", "H200 SXM 141 GB", 132, 1.98, 67, 495, 495 / 2.0, 4.8, 7, 300, 4);

    public static IReadOnlyList<GpuSpec> All { get; } = [H100Sxm, H200];

    public static GpuSpec? FromKey(string key) => All.FirstOrDefault(g => string.Equals(g.Key, key.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>Warp instructions issued per second: 4 schedulers per SM, one each per clock.</summary>
    public double IssueSlotsPerSecond => Multiprocessors * 4.0 * ClockGhz * 1e9;

    /// <summary>Shared-memory wavefronts per second: one warp-wide 32-bit load (128 bytes) per clock per SM.</summary>
    public double SharedWavefrontsPerSecond => Multiprocessors * ClockGhz * 1e9;

    /// <summary>The L2 hit latency in seconds.</summary>
    public double L2LatencySeconds => L2LatencyClocks / (ClockGhz * 1e9);
}

/// <summary>
/// What the ptxas audit says of one GEMM kernel (sm_90): its registers and shared memory, the blocks of
/// its group size one SM holds, and one iteration of its inner loop in SASS (<see cref="SassCounts.InnerLoop"/>;
/// the whole kernel's static counts when no loop was found, which <see cref="LoopFound"/> says).
/// </summary>
public sealed record KernelFigures(string Kernel, int Registers, int SharedBytes, int GroupThreads, int BlocksPerSm, double Occupancy, SassCounts Loop, bool LoopFound)
{
    public bool UsesTensorCores => Loop.Hmma > 0;

    /// <summary>The figures of an audited kernel; null when it did not assemble or has no SASS counts.</summary>
    public static KernelFigures? FromAudit(KernelAudit audit, SmLimits limits)
    {
        if (audit.Ptxas is not { Failed: false } p || audit.Sass is null)
            return null;
        var launch = GpuGroups.LaunchOf(audit.Kernel);
        int group = launch is null ? GpuGroups.GridStride : Math.Max(1, GpuGroups.Threads(launch.Value));
        var occ = limits.OccupancyAt(p.Registers, p.SharedBytes, group);
        return new KernelFigures(audit.Kernel.Name, p.Registers, p.SharedBytes, group, occ.BlocksPerSm, occ.Fraction, audit.Loop ?? audit.Sass, audit.Loop is not null);
    }
}

/// <summary>The limits a kernel's time is the largest of (<see cref="Issue"/>: instruction issue, FFMA or tensor-core loop).</summary>
public enum Bound { Issue, Tensor, SharedMemory, L2, Dram, Launch }

/// <summary>
/// The model's time for one <see cref="KernelWork"/> row, per launch, for each limit (seconds):
/// <list type="bullet">
/// <item>instruction issue (<see cref="KernelEstimate.Issue"/>): for FFMA loops, the FLOPs the tiles execute (padding
///   included) at the FP32 peak scaled by the inner loop's FFMA share of its instructions (an SM issues 4 warp
///   instructions per clock and needs all 4 to be FFMAs for the peak); for tensor-core loops, the loop's instructions
///   at 4 per clock per SM;</item>
/// <item>tensor: the HMMAs' FLOPs (2,048 per m16n8k8) at the mma.sync TF32 rate;</item>
/// <item>shared memory: the loop's LDS wavefronts (LDS 1, LDS.64 2, LDS.128 4; STS 1) at one per clock per SM;</item>
/// <item>L2: the bytes the tiles load (<see cref="KernelWork.TileLoadBytesPerLaunch"/>) at the L2's bandwidth;</item>
/// <item>the four divided by the share of SM time the grid keeps busy (<see cref="WaveShare"/>);</item>
/// <item>DRAM: <see cref="KernelWork.BytesPerLaunch"/> at the GPU's bandwidth;</item>
/// <item>launch: a launch never takes less than the host's cost of issuing it.</item>
/// </list>
/// Latency is not charged but checked (<see cref="InFlightBytesPerSm"/> against <see cref="NeededInFlightBytesPerSm"/>).
/// Not modelled: bank conflicts, sector waste of strided gathers, L2 misses beyond one pass over each operand,
/// overlap between consecutive kernels.
/// </summary>
public sealed record KernelEstimate(KernelWork Work, KernelFigures? Figures, double Issue, double Tensor, double Shared, double L2, double Dram, double Launch,
    double WaveEfficiency)
{
    public double PerLaunch => Math.Max(Math.Max(Math.Max(Issue, Tensor), Math.Max(Shared, L2)), Math.Max(Dram, Launch));
    public double Seconds => PerLaunch * Work.Launches;

    public Bound Bound
    {
        get
        {
            double t = PerLaunch;
            return t == Launch ? Bound.Launch : t == Dram ? Bound.Dram : t == L2 ? Bound.L2 : t == Shared ? Bound.SharedMemory
                : t == Tensor ? Bound.Tensor : Bound.Issue;
        }
    }

    /// <summary>Blocks of this launch one SM runs at once: what occupancy allows, at most its share of the grid.</summary>
    public double ResidentBlocksPerSm(GpuSpec gpu) =>
        Figures is null || Work.BlocksPerLaunch <= 0 ? 0 : Math.Min(Figures.BlocksPerSm, Math.Ceiling((double)Work.BlocksPerLaunch / gpu.Multiprocessors));

    /// <summary>Bytes an SM keeps in flight: each resident block prefetches one strip of operands into registers while it computes the last.</summary>
    public double InFlightBytesPerSm(GpuSpec gpu) => ResidentBlocksPerSm(gpu) * Work.StripLoadBytes;

    /// <summary>
    /// Bytes an SM must keep in flight to hide an L2 hit's latency at the rate this launch loads at (Little's law:
    /// rate × latency); when <see cref="InFlightBytesPerSm"/> is at least this, latency costs nothing and deeper
    /// pipelines (cp.async stages) cannot speed the loads up.
    /// </summary>
    public double NeededInFlightBytesPerSm(GpuSpec gpu)
    {
        if (Work.TileLoadBytesPerLaunch <= 0 || PerLaunch <= 0)
            return 0;
        double busy = Math.Min(gpu.Multiprocessors, Math.Max(1, Work.BlocksPerLaunch));
        return Work.TileLoadBytesPerLaunch / PerLaunch / busy * gpu.L2LatencySeconds;
    }

    public static KernelEstimate Of(KernelWork work, KernelFigures? figures, GpuSpec gpu)
    {
        double dram = work.BytesPerLaunch / (gpu.DramTBps * 1e12), launch = gpu.LaunchMicroseconds * 1e-6;
        if (!work.IsGemm)
            return new KernelEstimate(work, null, 0, 0, 0, 0, dram, launch, 1);
        if (figures is null)
            throw new ArgumentException($"no ptxas figures for {work.Kernel}: the model needs its inner loop");
        var loop = figures.Loop;
        double flopsPerWarpIteration = 64.0 * loop.Ffma + 2048.0 * loop.Hmma;
        if (flopsPerWarpIteration == 0)
            throw new ArgumentException($"{work.Kernel}: its SASS has neither FFMA nor HMMA, so it cannot be a GEMM");
        double executed = work.ExecutedFlopsPerLaunch, warpIterations = executed / flopsPerWarpIteration;
        double waves = WaveShare(work.BlocksPerLaunch, gpu.Multiprocessors);
        double issue = loop.Hmma > 0
            ? warpIterations * loop.Total / gpu.IssueSlotsPerSecond
            : executed / (gpu.Fp32Tflops * 1e12 * loop.Ffma / loop.Total);
        double tensor = loop.Hmma == 0 ? 0 : warpIterations * 2048.0 * loop.Hmma / (gpu.Tf32MmaSyncTflops * 1e12);
        double shared = warpIterations * (loop.Lds32 + 2.0 * loop.Lds64 + 4.0 * loop.Lds128 + loop.Sts) / gpu.SharedWavefrontsPerSecond;
        double l2 = work.TileLoadBytesPerLaunch / (gpu.L2TBps * 1e12);
        return new KernelEstimate(work, figures, issue / waves, tensor / waves, shared / waves, l2 / waves, dram, launch, waves);
    }

    /// <summary>
    /// The share of the SMs' time a grid keeps busy: blocks spread evenly, the busiest SM holds ⌈blocks / SMs⌉ of them
    /// (an SM with any block counts as running at full rate: latency is not modelled); 1 when the grid is unknown.
    /// </summary>
    public static double WaveShare(long blocks, int multiprocessors) =>
        blocks <= 0 || multiprocessors <= 0 ? 1 : (double)blocks / (Math.Ceiling((double)blocks / multiprocessors) * multiprocessors);
}

/// <summary>The model's BYOL step on one GPU at one precision.</summary>
public sealed record StepPrediction(GpuSpec Gpu, string Precision, int Batch, int ConvVersion, int MatmulVersion,
    IReadOnlyList<KernelEstimate> Kernels, IReadOnlyList<string> Notes)
{
    /// <summary>CIFAR-10's 50,000 training images in steps of the batch, the last partial batch dropped (195 at 256).</summary>
    public const int TrainImages = 50_000;

    public double Seconds => Kernels.Sum(k => k.Seconds);
    public int Launches => Kernels.Sum(k => k.Work.Launches);
    public double Flops => Kernels.Sum(k => k.Work.Flops);
    public double Bytes => Kernels.Sum(k => k.Work.Bytes);
    public double ImagesPerSecond => Batch / Seconds;
    public int StepsPerEpoch => TrainImages / Batch;
    public double EpochSeconds => StepsPerEpoch * Seconds;

    /// <summary>Seconds per kernel name, largest first: which kernel holds the step back.</summary>
    public IReadOnlyList<(string Kernel, double Seconds, int Launches, Bound Bound)> ByKernel =>
        Kernels.GroupBy(k => k.Work.Kernel)
            .Select(g => (g.Key, g.Sum(k => k.Seconds), g.Sum(k => k.Work.Launches),
                g.GroupBy(k => k.Bound).OrderByDescending(b => b.Sum(k => k.Seconds)).First().Key))
            .OrderByDescending(k => k.Item2).ToList();
}

/// <summary>
/// The performance model of a BYOL step on an H100 SXM or H200 (a model, not a measurement): every launch of
/// the step (<see cref="ByolStepWork"/>) timed by the limit it hits (<see cref="KernelEstimate"/>), the GEMM
/// kernels' inner loops read from NVIDIA's assembler (<see cref="PtxAudit"/>). `byol kernels --model` prints it;
/// bench/README.md records it beside the measurement `bench/gpu/run-gpu.sh` makes when a GPU is lent.
/// </summary>
public static class PerformanceModel
{
    public const string Tf32 = "tf32", Fp32 = "fp32";

    /// <summary>The GEMM kernels of one op family and version, by name (the catalog's naming: &lt;Layer&gt;&lt;Pass&gt;Kernel&lt;N&gt;).</summary>
    public static IReadOnlyList<string> ConvKernels(int version) =>
        [$"Conv2dForwardKernel{version}", $"Conv2dBackwardInputKernel{version}", $"Conv2dBackwardWeightKernel{version}"];

    public static IReadOnlyList<string> MatmulKernels(int version) => [$"MatmulKernel{version}"];

    /// <summary>
    /// The GEMM versions a precision runs, from what this build has (<paramref name="figures"/>: the audited
    /// kernels of every GPU version, from the CUDA default up): fp32 takes the highest version whose kernels
    /// have no HMMA, tf32 the highest whose kernels all have HMMA, else the fp32 one, with a note saying so.
    /// </summary>
    public static (int Conv, int Matmul) ChooseVersions(string precision, IReadOnlyDictionary<string, KernelFigures> figures,
        int convDefault, int matmulDefault, List<string> notes)
    {
        int conv = Choose("Conv2d", ConvKernels, convDefault, precision, figures, notes);
        int matmul = Choose("Matmul", MatmulKernels, matmulDefault, precision, figures, notes);
        return (conv, matmul);
    }

    static int Choose(string family, Func<int, IReadOnlyList<string>> kernels, int first, string precision,
        IReadOnlyDictionary<string, KernelFigures> figures, List<string> notes)
    {
        var versions = Enumerable.Range(first, 32).Where(v => kernels(v).All(figures.ContainsKey)).ToList();
        if (versions.Count == 0)
            throw new ArgumentException($"no audited {family} GPU version (from {first} up): the model needs their ptxas figures");
        int fp32 = versions.Where(v => kernels(v).All(k => !figures[k].UsesTensorCores)).DefaultIfEmpty(first).Max();
        if (precision == Fp32)
        {
            if (fp32 == first)
                notes.Add($"{family} fp32: version {first}, the CUDA default (no newer FP32 GPU version in this build)");
            return fp32;
        }
        var tf32 = versions.Where(v => kernels(v).All(k => figures[k].UsesTensorCores)).ToList();
        if (tf32.Count > 0)
            return tf32.Max();
        notes.Add($"{family} tf32: no tensor-core version in this build (no HMMA in any kernel's SASS): modelled with the fp32 version {fp32}");
        return fp32;
    }

    /// <summary>The step at one precision: its launches, each timed by its bound.</summary>
    public static StepPrediction Predict(GpuSpec gpu, ByolArchitecture a, int batch, string precision, int convVersion, int matmulVersion,
        IReadOnlyDictionary<string, KernelFigures> figures, IEnumerable<string> notes)
    {
        var work = ByolStepWork.Enumerate(a, batch, gpu.Multiprocessors, convVersion, matmulVersion);
        var estimates = work.Select(w => KernelEstimate.Of(w, w.IsGemm ? figures.GetValueOrDefault(w.Kernel) : null, gpu)).ToList();
        var all = notes.ToList();
        foreach (var f in estimates.Where(e => e.Figures is { LoopFound: false }).Select(e => e.Figures!.Kernel).Distinct())
            all.Add($"{f}: no inner loop found in its SASS; the whole kernel's static counts stand in for it");
        return new StepPrediction(gpu, precision, batch, convVersion, matmulVersion, estimates, all);
    }

    /// <summary>What the engine computes that <see cref="ByolFlops"/> counts differently: the stem's input gradient (the images need none).</summary>
    public static double SkippedStemInputGradientFlops(ByolArchitecture a, int batch) =>
        2 /* views */ * 2.0 * batch * 32 * 32 * a.Width * 3 * 9;

    // ---- text ------------------------------------------------------------------------------------

    static string Ms(double s) => (s * 1e3).ToString("0.000", CultureInfo.InvariantCulture);
    static string Us(double s) => (s * 1e6).ToString("0.0", CultureInfo.InvariantCulture);
    static string N(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>
    /// The report: per kernel (grouped by name) launches, GFLOP, DRAM, time and bound; the GEMM rows per layer;
    /// the step and epoch beside PyTorch's anchors. <paramref name="detail"/> adds every row.
    /// </summary>
    public static string Format(IReadOnlyList<StepPrediction> predictions, ByolArchitecture a, bool markdown, bool detail = false)
    {
        var o = new StringBuilder();
        var first = predictions[0];
        var gpu = first.Gpu;
        o.AppendLine($"MODEL, not a measurement: one BYOL step on an {gpu.Name} ({gpu.Multiprocessors} SMs, {N(gpu.Fp32Tflops, "0")} TFLOP/s FP32, "
            + $"{N(gpu.Tf32WgmmaTflops, "0")} TFLOP/s dense TF32 with wgmma, mma.sync assumed {N(gpu.Tf32MmaSyncTflops, "0.#")}, {N(gpu.DramTBps, "0.00")} TB/s DRAM, "
            + $"L2 assumed {N(gpu.L2TBps, "0.#")} TB/s and {N(gpu.L2LatencyClocks, "0")} clocks, "
            + $"{N(gpu.LaunchMicroseconds, "0")} µs per launch), batch {first.Batch} per view, ResNet-18 width {a.Width}, heads {a.ProjectorHidden}→{a.ProjectorOut}.");
        o.AppendLine();
        for (int i = 0; i < predictions.Count; i++)
        {
            var p = predictions[i];
            o.AppendLine($"{p.Precision}: Conv2d v{p.ConvVersion}, Matmul v{p.MatmulVersion}: {p.Launches} launches, {N(p.Flops / 1e12, "0.000")} TFLOP, "
                + $"{N(p.Bytes / 1e9, "0.00")} GB DRAM (at least), {Ms(p.Seconds)} ms per step");
            if (predictions.Take(i).FirstOrDefault(q => q.ConvVersion == p.ConvVersion && q.MatmulVersion == p.MatmulVersion) is { } same)
            {
                o.AppendLine($"(the same kernels as {same.Precision}: its tables stand)");
                o.AppendLine();
                continue;
            }
            o.AppendLine("time by bound: " + string.Join(", ", p.Kernels.GroupBy(k => k.Bound).OrderByDescending(g => g.Sum(k => k.Seconds))
                .Select(g => $"{g.Key} {Ms(g.Sum(k => k.Seconds))} ms ({g.Sum(k => k.Work.Launches)} launches)")));
            Table(o, markdown, ["kernel", "launches", "time ms", "share", "bound"],
                p.ByKernel.Take(detail ? int.MaxValue : 12).Select(k => new[] { k.Kernel, k.Launches.ToString(CultureInfo.InvariantCulture), Ms(k.Seconds),
                    N(100 * k.Seconds / p.Seconds, "0.0") + "%", k.Bound.ToString() }).ToList());
            if (!detail && p.ByKernel.Count > 12)
                o.AppendLine($"({p.ByKernel.Count - 12} more kernels, {Ms(p.ByKernel.Skip(12).Sum(k => k.Seconds))} ms together)");
            o.AppendLine();
            var gemms = p.Kernels.Where(k => k.Work.IsGemm).OrderByDescending(k => k.Seconds).ToList();
            o.AppendLine($"{p.Precision}: the GEMM launches (per launch: each limit in µs; waves: the share of SM time the grid keeps busy; "
                + "in flight: KB of loads an SM's blocks keep in flight / KB it needs to hide the L2's latency)");
            Table(o, markdown, ["kernel", "what", "launches", "GFLOP", "issue µs", "tensor µs", "smem µs", "L2 µs", "DRAM µs", "waves", "in flight", "time ms", "bound"],
                gemms.Take(detail ? int.MaxValue : 10).Select(k => new[] { k.Work.Kernel, k.Work.What, k.Work.Launches.ToString(CultureInfo.InvariantCulture),
                    N(k.Work.FlopsPerLaunch / 1e9, "0.00"), Us(k.Issue), Us(k.Tensor), Us(k.Shared), Us(k.L2), Us(k.Dram), N(k.WaveEfficiency, "0.00"),
                    $"{N(k.InFlightBytesPerSm(p.Gpu) / 1024, "0")}/{N(k.NeededInFlightBytesPerSm(p.Gpu) / 1024, "0.0")}", Ms(k.Seconds), k.Bound.ToString() }).ToList());
            var gemmSeconds = gemms.Sum(k => k.Seconds);
            var hidden = gemms.Where(k => k.InFlightBytesPerSm(p.Gpu) >= k.NeededInFlightBytesPerSm(p.Gpu)).Sum(k => k.Seconds);
            o.AppendLine($"L2 latency hidden by the register prefetch (in flight ≥ needed) in {N(100 * hidden / gemmSeconds, "0")}% of the GEMM time; "
                + "GEMM time by bound: " + string.Join(", ", gemms.GroupBy(k => k.Bound).OrderByDescending(g => g.Sum(k => k.Seconds))
                    .Select(g => $"{g.Key} {N(100 * g.Sum(k => k.Seconds) / gemmSeconds, "0")}%")));
            if (!detail && gemms.Count > 10)
                o.AppendLine($"({gemms.Count - 10} more GEMM rows, {Ms(gemms.Skip(10).Sum(k => k.Seconds))} ms together; --detail lists them)");
            foreach (var f in p.Kernels.Select(k => k.Figures).OfType<KernelFigures>().DistinctBy(f => f.Kernel))
                o.AppendLine($"  {f.Kernel}: {f.Registers} registers, {f.SharedBytes} B shared, {f.BlocksPerSm} blocks of {f.GroupThreads} per SM "
                    + $"({N(100 * f.Occupancy, "0.#")}% occupancy); {(f.LoopFound ? "inner loop" : "whole kernel")}: {f.Loop.Ffma} FFMA, {f.Loop.Hmma} HMMA, "
                    + $"{f.Loop.Lds32}/{f.Loop.Lds64}/{f.Loop.Lds128} LDS/LDS.64/LDS.128, {f.Loop.Sts} STS of {f.Loop.Total} instructions");
            o.AppendLine();
        }
        // The step beside PyTorch's anchors.
        double flopsPerImage = ByolFlops.PerImage(a);
        double perStepFlops = flopsPerImage * first.Batch;
        var rows = predictions.Select(p => new[] { $"this engine, {p.Precision} (model)", Ms(p.Seconds), N(p.ImagesPerSecond, "0"), N(p.EpochSeconds, "0.0"),
            $"{p.ByKernel[0].Kernel} ({p.ByKernel[0].Bound}, {N(100 * p.ByKernel[0].Seconds / p.Seconds, "0")}%)" }).ToList();
        foreach (var (what, tflops) in new[] { ("FLOP bound at the FP32 peak", gpu.Fp32Tflops), ("FLOP bound at the dense TF32 peak (wgmma)", gpu.Tf32WgmmaTflops) })
        {
            double s = perStepFlops / (tflops * 1e12);
            rows.Add([what, Ms(s), N(first.Batch / s, "0"), N(first.StepsPerEpoch * s, "0.0"), "—"]);
        }
        rows.Add(["measured (bench/gpu/run-gpu.sh: summary.md)", "—", "—", "—", "where a GPU is lent"]);
        o.AppendLine($"The step: {N(flopsPerImage / 1e9, "0.00")} GFLOP per image (ByolFlops), {first.StepsPerEpoch} steps per CIFAR-10 epoch of {StepPrediction.TrainImages:N0} images");
        Table(o, markdown, ["", "ms per step", "images/s", "epoch s", "held back by"], rows);
        o.AppendLine();
        o.AppendLine("PyTorch's anchors: cuDNN runs these convolutions in TF32 by default (torch.backends.cudnn.allow_tf32); a public BYOL CIFAR-10 "
            + "ResNet-18 (github.com/philippmwirth/byol, built on lightly) reports about 1 minute per epoch on a V100 at batch 512; no H100 figure was found. "
            + "The FLOP bounds above are what no implementation passes.");
        foreach (var note in predictions.SelectMany(p => p.Notes).Distinct())
            o.AppendLine("Note: " + note);
        return o.ToString();
    }

    static void Table(StringBuilder o, bool markdown, string[] header, List<string[]> rows)
    {
        if (markdown)
        {
            o.AppendLine("| " + string.Join(" | ", header) + " |");
            o.AppendLine("| " + string.Join(" | ", header.Select((_, i) => i == 0 ? "---" : "---:")) + " |");
            foreach (var r in rows)
                o.AppendLine("| " + string.Join(" | ", r) + " |");
            return;
        }
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) =>
            o.AppendLine(string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd());
        Line(header);
        foreach (var r in rows)
            Line(r);
    }
}
