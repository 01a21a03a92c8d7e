using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Training;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// The performance model (`byol kernels --model`): its launch list against what the engine issues, its FLOPs
/// against ByolFlops, its bounds against inputs that must flip them, its version choice and SASS loop reading.
/// </summary>
public class PerformanceModelTests
{
    static readonly ByolArchitecture Tiny = new(Width: 4, ProjectorHidden: 32, ProjectorOut: 16, PredictorHidden: 32);

    /// <summary>A loop of <paramref name="ffma"/> FFMA, <paramref name="hmma"/> HMMA, LDS by width and <paramref name="total"/> instructions.</summary>
    static SassCounts Loop(int ffma, int lds32, int total, int hmma = 0, int lds128 = 0) =>
        new(ffma, 0, 0, hmma, lds32, 0, lds128, 0, 0, 0, 0, 0, total);

    static KernelFigures Figures(string kernel, SassCounts loop) => new(kernel, 128, 8192, 256, 1, 0.125, loop, true);

    /// <summary>Figures for every GEMM kernel of one Conv2d and one Matmul version (an FP32 4×4 loop as today's).</summary>
    static Dictionary<string, KernelFigures> FiguresFor(int conv, int matmul, SassCounts loop) =>
        PerformanceModel.ConvKernels(conv).Concat(PerformanceModel.MatmulKernels(matmul)).ToDictionary(k => k, k => Figures(k, loop));

    [Theory]
    [InlineData(64, 256, 4, 3)]
    [InlineData(8, 32, 4, 3)]
    [InlineData(64, 256, 5, 4)]
    [InlineData(64, 256, 6, 5)]
    [InlineData(8, 32, 6, 5)]
    public void TheStepsFlopsAreByolFlopsLessTheStemsInputGradient(int width, int batch, int conv, int matmul)
    {
        var a = new ByolArchitecture(Width: width);
        var work = ByolStepWork.Enumerate(a, batch, multiprocessors: 132, convVersion: conv, matmulVersion: matmul);
        double modelled = work.Sum(w => w.Flops);
        double expected = ByolFlops.PerImage(a) * batch - PerformanceModel.SkippedStemInputGradientFlops(a, batch);
        Assert.True(Math.Abs(modelled - expected) <= 1e-9 * expected, $"model {modelled:E6} FLOP per step, ByolFlops less the stem's dX {expected:E6}");
        // 20 convolutions: 4 forward passes and 2 weight gradients each; the stem has no input gradient.
        Assert.Equal(80, work.Where(w => w.Kernel == $"Conv2dForwardKernel{conv}").Sum(w => w.Launches));
        Assert.Equal(40, work.Where(w => w.Kernel == $"Conv2dBackwardWeightKernel{conv}").Sum(w => w.Launches));
        Assert.DoesNotContain(work, w => w.Kernel == $"Conv2dBackwardInputKernel{conv}" && w.What.Contains("conv1 3→"));
        // The tiles execute at least the true FLOPs, and load at least one operand strip per block per strip.
        Assert.All(work.Where(w => w.IsGemm), w =>
        {
            Assert.True(w.ExecutedFlopsPerLaunch >= w.FlopsPerLaunch, $"{w.What}: executes {w.ExecutedFlopsPerLaunch:E3} of {w.FlopsPerLaunch:E3} FLOP");
            Assert.True(w.TileLoadBytesPerLaunch > 0 && w.StripLoadBytes > 0, w.What);
        });
    }

    [Fact]
    public void EachVersionHasItsOwnTilesPaddingAndGrids()
    {
        var a = new ByolArchitecture();
        KernelWork Row(int conv, int matmul, string kernel, string what) =>
            ByolStepWork.Enumerate(a, 256, 132, conv, matmul).Single(w => w.Kernel == kernel && w.What.Contains(what));
        // layer1's 64→64 3×3 forward at batch 256: 262,144 positions, K = 64.
        var v4 = Row(4, 3, "Conv2dForwardKernel4", "layer1.0.conv1 ");
        var v5 = Row(5, 4, "Conv2dForwardKernel5", "layer1.0.conv1 ");
        var v6 = Row(6, 5, "Conv2dForwardKernel6", "layer1.0.conv1 ");
        Assert.Equal(4096L * 1, v4.BlocksPerLaunch);    // 64×64 tiles, MPad 64
        Assert.Equal(4096L * 1, v5.BlocksPerLaunch);
        Assert.Equal(2048L * 1, v6.BlocksPerLaunch);    // 128×128 tiles, MPad 128
        // v6 pads K = 64 to 128 columns: twice the true FLOPs; 576 = 36 strips of 16 or 72 of 8, no reduction padding.
        Assert.Equal(v6.FlopsPerLaunch * 2, v6.ExecutedFlopsPerLaunch, 1e-6 * v6.FlopsPerLaunch);
        Assert.Equal(v5.FlopsPerLaunch, v5.ExecutedFlopsPerLaunch, 1e-6 * v5.FlopsPerLaunch);
        // Its B operand (C·R·S, MPad) is twice v4's in DRAM; a block's strip is (64 + 64)·16 or (128 + 128)·8 floats.
        Assert.Equal(576.0 * 64 * 4, Row(6, 5, "Conv2dForwardWeightsKernel", "layer1.0.conv1 ").BytesPerLaunch - Row(4, 3, "Conv2dForwardWeightsKernel", "layer1.0.conv1 ").BytesPerLaunch);
        Assert.Equal(128 * 16 * 4, v5.StripLoadBytes);
        Assert.Equal(256 * 8 * 4, v6.StripLoadBytes);
        // The heads' 256×4096×512 product: 64×64 tiles give 4 × 64 blocks, 128×128 ones 2 × 32.
        Assert.Equal(256L, Row(5, 4, "MatmulKernel4", "projector first linear (256×4096×512)").BlocksPerLaunch);
        Assert.Equal(64L, Row(6, 5, "MatmulKernel5", "projector first linear (256×4096×512)").BlocksPerLaunch);
        // The weight gradient's chunks follow the tiles: fewer, larger tiles want more chunks of positions.
        var dw4 = Row(4, 3, "Conv2dBackwardWeightKernel4", "layer4.1.conv2 ");
        var dw6 = Row(6, 5, "Conv2dBackwardWeightKernel6", "layer4.1.conv2 ");
        Assert.Equal(72L * 8 * 1, dw4.BlocksPerLaunch);   // 4608 / 64 taps × 512 / 64 k, one chunk (4,096 positions, 576 tiles ≥ 4 per SM)
        Assert.Equal(36L * 4 * 3, dw6.BlocksPerLaunch);   // 36 × 4 tiles want 3 chunks (of 1,368 positions)
    }

    [Fact]
    public void TheGatheredOperandsFootprintIsItsBoundingBoxAtMost()
    {
        // 64 positions of a 32×32 output, 3×3 stride 1: two output rows read 4 padded input rows of 34 (of the 576 values gathered).
        Assert.Equal(4 * 34, ByolStepWork.GatherFootprint(64, 32, 32, 3, 3, 1));
        // Over whole images (4×4 outputs, 64 positions = 4 images of 6×6 inputs).
        Assert.Equal(4 * 36, ByolStepWork.GatherFootprint(64, 4, 4, 3, 3, 1));
        // A 1×1 stride-2 gather has no reuse: what it gathers, not its (larger) box.
        Assert.Equal(64, ByolStepWork.GatherFootprint(64, 16, 16, 1, 1, 2));
    }

    [Fact]
    public void EachLimitBecomesTheBoundWhenItsInputGrows()
    {
        var gpu = GpuSpec.H100Sxm;
        var gemm = new KernelWork("G", "gemm", 1, 2e10, 1e6, 132 * 8);
        // Today's 4×4 loop: 256 FFMA of 764 instructions, 128 LDS → issue-bound (191 issue clocks > 128 + 8 wavefronts).
        var today = KernelEstimate.Of(gemm, Figures("G", Loop(256, 128, 764)), gpu);
        Assert.Equal(Bound.Issue, today.Bound);
        Assert.Equal(2e10 / (67e12 * 256 / 764), today.Issue, 1e-12);
        // The same FFMAs in a tight loop but 2 FFMA per LDS: shared memory binds (128 wavefronts > 300 / 4 issue clocks).
        Assert.Equal(Bound.SharedMemory, KernelEstimate.Of(gemm, Figures("G", Loop(256, 128, 300)), gpu).Bound);
        // 8×8 from LDS.128: 256 FFMA per 16 LDS.128 = 64 wavefronts, 280 instructions → back to issue.
        Assert.Equal(Bound.Issue, KernelEstimate.Of(gemm, Figures("G", Loop(256, 0, 280, lds128: 16)), gpu).Bound);
        // Tensor cores: few instructions per HMMA, so the mma.sync rate binds.
        var mma = KernelEstimate.Of(gemm, Figures("G", Loop(0, 8, 40, hmma: 32, lds128: 0)), gpu);
        Assert.Equal(Bound.Tensor, mma.Bound);
        Assert.Equal(2e10 / (gpu.Tf32MmaSyncTflops * 1e12), mma.Tensor, 1e-12);
        // A GEMM with a huge operand is DRAM-bound, and faster on an H200 by the bandwidths' ratio.
        var big = gemm with { BytesPerLaunch = 1e10 };   // 3 ms of DRAM against 0.9 ms of FMA issue
        var h100 = KernelEstimate.Of(big, Figures("G", Loop(256, 128, 764)), gpu);
        var h200 = KernelEstimate.Of(big, Figures("G", Loop(256, 128, 764)), GpuSpec.H200);
        Assert.Equal(Bound.Dram, h100.Bound);
        Assert.Equal(4.8 / 3.35, h100.PerLaunch / h200.PerLaunch, 1e-9);
        // Loads of 1e10 bytes through L2 (1.4 ms at 7 TB/s) bind before the loop does.
        var loads = KernelEstimate.Of(gemm with { TileLoadBytesPerLaunch = 1e10, StripLoadBytes = 8192 }, Figures("G", Loop(256, 128, 764)), gpu);
        Assert.Equal(Bound.L2, loads.Bound);
        Assert.Equal(1e10 / 7e12, loads.L2, 1e-12);
        // Little's law: 1e10 B in 1.43 ms over 132 SMs is 53 B per ns per SM; 300 clocks at 1.98 GHz = 151.5 ns → 8.0 KB in flight needed;
        // one resident block (Figures: 1 per SM) keeps its 8 KB strip in flight.
        Assert.Equal(1e10 / loads.PerLaunch / 132 * 300 / 1.98e9, loads.NeededInFlightBytesPerSm(gpu), 1e-6);
        Assert.Equal(8192, loads.InFlightBytesPerSm(gpu));
        // A tiny kernel costs its launch.
        Assert.Equal(Bound.Launch, KernelEstimate.Of(new KernelWork("E", "small", 3, 0, 1e3, 0), null, gpu).Bound);
        Assert.Equal(3 * 4e-6, KernelEstimate.Of(new KernelWork("E", "small", 3, 0, 1e3, 0), null, gpu).Seconds, 1e-15);
        // 16 blocks on 132 SMs keep 16/132 of them busy: the compute limits grow by 132/16.
        var small = KernelEstimate.Of(gemm with { BlocksPerLaunch = 16 }, Figures("G", Loop(256, 128, 764)), gpu);
        Assert.Equal(today.Issue * 132 / 16, small.Issue, 1e-12);
    }

    [Fact]
    public void TensorCoreVersionsAreChosenForTf32WhenTheBuildHasThem()
    {
        var fp32Loop = Loop(256, 128, 764);
        var figures = FiguresFor(4, 3, fp32Loop);
        var notes = new List<string>();
        Assert.Equal((4, 3), PerformanceModel.ChooseVersions(PerformanceModel.Tf32, figures, 4, 3, notes));
        Assert.Contains(notes, n => n.StartsWith("Conv2d tf32: no tensor-core version"));
        // Conv2d v5 with HMMA and v6 without, Matmul v4 with HMMA: tf32 takes 5 and 4, fp32 takes 6 and 3.
        foreach (var (k, v) in FiguresFor(5, 4, Loop(0, 0, 60, hmma: 16, lds128: 8)))
            figures[k] = v;
        foreach (var k in PerformanceModel.ConvKernels(6))
            figures[k] = Figures(k, Loop(512, 0, 560, lds128: 32));
        notes.Clear();
        Assert.Equal((5, 4), PerformanceModel.ChooseVersions(PerformanceModel.Tf32, figures, 4, 3, notes));
        Assert.Empty(notes);
        Assert.Equal((6, 3), PerformanceModel.ChooseVersions(PerformanceModel.Fp32, figures, 4, 3, notes));
        // The tensor-core step is faster than today's, and its rows are the new kernels'.
        var today = PerformanceModel.Predict(GpuSpec.H100Sxm, new ByolArchitecture(), 256, PerformanceModel.Fp32, 4, 3, figures, []);
        var tf32 = PerformanceModel.Predict(GpuSpec.H100Sxm, new ByolArchitecture(), 256, PerformanceModel.Tf32, 5, 4, figures, []);
        Assert.True(tf32.Seconds < today.Seconds, $"tf32 {tf32.Seconds} s, today {today.Seconds} s");
        Assert.Contains(tf32.Kernels, k => k.Work.Kernel == "Conv2dForwardKernel5");
        Assert.DoesNotContain(tf32.Kernels, k => k.Work.Kernel == "Conv2dForwardKernel4");
        Assert.Equal(today.Flops, tf32.Flops, 1e-6 * today.Flops);
    }

    [Fact]
    public void TheInnerLoopIsTheInnermostLoopWithTheMostFloatingPointWork()
    {
        const string sass = """
                /*0000*/                   MOV R1, c[0x0][0x28] ;
                /*0010*/                   LDS R2, [R0] ;
                /*0020*/                   FFMA R3, R2, R2, R3 ;
                /*0030*/                   LDS.128 R4, [R0+0x10] ;
                /*0040*/                   FFMA R3, R4, R5, R3 ;
                /*0050*/                   FFMA R3, R6, R7, R3 ;
                /*0060*/                   IADD3 R0, R0, 0x4, RZ ;
                /*0070*/              @!P1 BRA 0x30 ;
                /*0080*/                   FFMA R9, R3, R3, R9 ;
                /*0090*/              @P0 BRA 0x10 ;
                /*00a0*/                   EXIT ;
                /*00b0*/                   BRA 0xb0;
                /*00c0*/                   NOP;
            """;
        var loop = SassCounts.InnerLoop(sass);
        Assert.NotNull(loop);
        // The outer loop 0x10–0x90 has 4 FFMA; the inner one, 0x30–0x70, half of them: one LDS.128, two FFMA, five instructions.
        Assert.Equal(4, SassCounts.Count(sass).Ffma);
        Assert.Equal(2, loop!.Ffma);
        Assert.Equal(1, loop.Lds128);
        Assert.Equal(0, loop.Lds32);
        Assert.Equal(5, loop.Total);
        Assert.Null(SassCounts.InnerLoop("        /*0000*/                   EXIT ;"));
    }

    /// <summary>
    /// Launches per kernel of one training step (after a warm-up step) with the CUDA kernel versions, or the given
    /// GEMM versions, on PoCL.
    /// </summary>
    static (Dictionary<string, long> Launches, int Multiprocessors) OneStepLaunches(ByolArchitecture a, int batch, int conv, int matmul)
    {
        _ = TestDevices.OpenCl;   // skips without PoCL; the step gets a device of its own, whose versions it changes
        using var device = ComputeDevice.Create("opencl");
        device.UseKernelVersionsOf(DeviceFamily.Cuda);
        device.ForcedVersions[DevicePolicy.Conv2dOp] = conv;
        device.ForcedVersions[DevicePolicy.MatmulOp] = matmul;
        var images = SyntheticDataset.Generate(batch * 2, 0);
        var config = new TrainingConfig { Architecture = a, BatchSize = batch, Optimizer = "lars", Seed = 0 };
        using var pixels = device.Allocate(images.Pixels);
        using var model = new ByolModel(device, a, 0);
        using var optimizer = Trainer.CreateOptimizer(config, model.Student);
        var learner = new ByolLearner(model, optimizer);
        using var step = new TrainingStep(device, learner, pixels.View, images.Count, batch, 0, blur: false);
        step.BeginEpoch(0, EpochOrder.Permutation(images.Count, 0, 0));
        step.Run(0, 0.1f, 0.99f);
        var before = device.LaunchesByKernel;
        step.Run(1, 0.1f, 0.99f);
        device.Synchronize();
        var launches = device.LaunchesByKernel.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
        return (launches.Where(kv => kv.Value != 0).ToDictionary(), device.Accelerator.NumMultiprocessors);
    }

    /// <summary>
    /// The model's launches per kernel are the engine's, for each GPU GEMM version: CUDA's defaults (Conv2d 4, Matmul 3),
    /// the TF32 tensor-core versions (5, 4, emulated here) and the FP32 8×8 tiles (6, 5), whose tiles change the weight
    /// gradient's chunks.
    /// </summary>
    [Theory, Trait("Backend", "OpenCL")]
    [InlineData(4, 3)]
    [InlineData(5, 4)]
    [InlineData(6, 5)]
    public void TheLaunchListIsWhatTheEngineIssuesInAStep(int conv, int matmul)
    {
        const int batch = 4;
        var (engine, sms) = OneStepLaunches(Tiny, batch, conv, matmul);
        var model = ByolStepWork.Enumerate(Tiny, batch, sms, conv, matmul)
            .GroupBy(w => w.Kernel).ToDictionary(g => g.Key, g => (long)g.Sum(w => w.Launches));
        var differences = engine.Keys.Union(model.Keys).Order()
            .Where(k => engine.GetValueOrDefault(k) != model.GetValueOrDefault(k))
            .Select(k => $"{k}: engine {engine.GetValueOrDefault(k)}, model {model.GetValueOrDefault(k)}").ToList();
        Assert.True(differences.Count == 0, "the model's launches differ from the engine's:\n" + string.Join("\n", differences));
        // The step ran the versions asked for: 20 convolutions on 4 forward passes, 7 products per head pass.
        Assert.Equal(80, engine.GetValueOrDefault($"Conv2dForwardKernel{conv}"));
        Assert.Equal(28, engine.GetValueOrDefault($"MatmulKernel{matmul}"));
    }

    [Fact]
    public void AnUnknownGpuIsAUsageError()
    {
        var (code, _, error) = InProcessCli.Run("kernels", "--model", "--gpu", "a100");
        Assert.Equal(2, code);
        Assert.Contains("h100-sxm", error);
        Assert.Contains("h200", error);
    }
}

/// <summary>The model on the real audit: needs NVIDIA's ptxas and cuobjdump (skips without, fails under BYOL_REQUIRE_PTXAS=1).</summary>
public class PerformanceModelAuditTests
{
    static void RequireTools()
    {
        var tools = NvidiaTools.Locate(out var reason);
        if (tools is { Cuobjdump: not null })
            return;
        reason ??= "cuobjdump not found next to ptxas";
        if (Environment.GetEnvironmentVariable("BYOL_REQUIRE_PTXAS") == "1")
            Assert.Fail($"BYOL_REQUIRE_PTXAS=1 but {reason}");
        Assert.Skip(reason);
    }

    [Fact]
    public void TheConvolutionsInnerLoopIsFoundInItsSass()
    {
        RequireTools();
        var tools = NvidiaTools.Locate(out _)!;
        var kernel = KernelCatalog.All.Single(k => k.Name == "Conv2dForwardKernel4");
        var audit = PtxAudit.Run(tools, [kernel], [CudaTarget.H100], sass: true).Single();
        Assert.NotNull(audit.Loop);
        // The 16-deep strip: 16 × 16 FFMA and 16 × 8 LDS per iteration; the loop is part of the kernel, not all of it.
        Assert.Equal(256, audit.Loop!.Ffma);
        Assert.Equal(128, audit.Loop.Lds);
        Assert.InRange(audit.Loop.Total, 256 + 128, audit.Sass!.Total - 1);
    }

    [Theory]
    [InlineData("Conv2dForwardKernel5"), InlineData("Conv2dBackwardInputKernel5"), InlineData("Conv2dBackwardWeightKernel5"), InlineData("MatmulKernel4")]
    public void TheTensorCoreKernelsInnerLoopIsOneStripOf16Hmma(string name)
    {
        RequireTools();
        var tools = NvidiaTools.Locate(out _)!;
        var audit = PtxAudit.Run(tools, [KernelCatalog.All.Single(k => k.Name == name)], [CudaTarget.H100], sass: true).Single();
        Assert.NotNull(audit.Loop);
        // One 16-deep strip per iteration: a warp's 32×32 quarter is 2 × 4 m16n8 tiles, two k = 8 steps (16 HMMA);
        // the emulation is compiled out on CUDA (no FFMA in the loop), and the whole kernel has no more HMMA than the loop.
        Assert.Equal(16, audit.Loop!.Hmma);
        Assert.Equal(16, audit.Sass!.Hmma);
        Assert.Equal(0, audit.Loop.Ffma);
        Assert.InRange(audit.Loop.Lds, 32, 48);   // 16 fragment loads per k step (+ the gather offsets)
        Assert.InRange(audit.Loop.Total, 16 + 32, audit.Sass.Total - 1);
    }

    [Theory]
    [InlineData("Conv2dForwardKernel6"), InlineData("MatmulKernel5")]
    public void TheFp32TilesInnerLoopIsOneStripOf8(string name)
    {
        RequireTools();
        var tools = NvidiaTools.Locate(out _)!;
        var audit = PtxAudit.Run(tools, [KernelCatalog.All.Single(k => k.Name == name)], [CudaTarget.H100], sass: true).Single();
        Assert.NotNull(audit.Loop);
        // 8 reduction steps of an 8×8 outer product (64 FFMA each) from 2 + 2 LDS.128 per step.
        Assert.Equal(512, audit.Loop!.Ffma);
        Assert.Equal(32, audit.Loop.Lds128);
        Assert.Equal(0, audit.Loop.Hmma);
    }

    [Fact]
    public void TheModelCommandSaysItIsAModelAndWhatHoldsTheStepBack()
    {
        RequireTools();
        var (code, output, error) = InProcessCli.Run("kernels", "--model", "--gpu", "h200", "--markdown");
        Assert.True(code == 0, error);
        Assert.StartsWith("MODEL, not a measurement: one BYOL step on an H200", output);
        // tf32 runs the tensor-core versions, fp32 the FP32 8×8 tiles: two different steps, each with its own launch count.
        var arch = new ByolArchitecture();
        int tf32 = ByolStepWork.Enumerate(arch, 256, GpuSpec.H200.Multiprocessors, 5, 4).Sum(w => w.Launches);
        int fp32 = ByolStepWork.Enumerate(arch, 256, GpuSpec.H200.Multiprocessors, 6, 5).Sum(w => w.Launches);
        Assert.Contains($"tf32: Conv2d v5, Matmul v4: {tf32} launches", output);
        Assert.Contains($"fp32: Conv2d v6, Matmul v5: {fp32} launches", output);
        Assert.DoesNotContain("its tables stand", output);
        Assert.Contains("| this engine, tf32 (model) |", output);
        Assert.Contains("| this engine, fp32 (model) |", output);
        Assert.Contains("| measured (bench/gpu/run-gpu.sh: summary.md) |", output);
        Assert.Contains("| FLOP bound at the FP32 peak | 34.244 |", output);
        Assert.Contains("L2 latency hidden by the register prefetch", output);
    }
}
