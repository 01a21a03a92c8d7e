using System.Diagnostics;
using System.Text.RegularExpressions;
using ByolIlgpu.Cli;
using ByolIlgpu.Engine;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// Every kernel through NVIDIA's assembler, as the CUDA driver would JIT it on each GPU, without a GPU;
/// and the parts of the audit that need no ptxas (the parsers, the occupancy arithmetic, the targets).
/// </summary>
public class PtxasTests
{
    /// <summary>ptxas, or a skip (a failure under BYOL_REQUIRE_PTXAS=1, as CI sets it) saying why there is none.</summary>
    internal static NvidiaTools RequireTools()
    {
        var tools = NvidiaTools.Locate(out var reason);
        if (tools is not null)
            return tools;
        if (Environment.GetEnvironmentVariable("BYOL_REQUIRE_PTXAS") == "1")
            Assert.Fail($"BYOL_REQUIRE_PTXAS=1 but {reason}");
        Assert.Skip(reason);
        return null!;
    }

    [Fact]
    public void EveryKernelAssemblesWithoutSpillsForEveryGpu()
    {
        var tools = RequireTools();
        var clock = Stopwatch.StartNew();
        var audits = PtxAudit.Run(tools, KernelCatalog.All, CudaTarget.All, sass: false);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{audits.Count} assemblies ({KernelCatalog.All.Count} kernels × {CudaTarget.All.Count} GPUs) in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(KernelCatalog.All.Count * CudaTarget.All.Count, audits.Count);
        var failures = audits.Where(a => a.Problem is not null).Select(a => $"{a.Name} on {a.Target.SmName}: {a.Problem}").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} kernels fail in ptxas or spill:\n" + string.Join("\n", failures));
        Assert.All(audits.Where(a => a.NotFor is null), a => Assert.InRange(a.Ptxas!.Registers, 1, 255));
        // Only the tensor-core kernels skip a GPU, and only those below sm_80.
        var skipped = audits.Where(a => a.NotFor is not null).ToList();
        Assert.All(skipped, a => Assert.True(a.Target.Architecture.Major < 8 && KernelCatalog.RequiredComputeCapability(a.Kernel) == (8, 0), $"{a.Name} skipped on {a.Target.SmName}"));
        Assert.Equal(KernelCatalog.All.Count(k => KernelCatalog.RequiredComputeCapability(k) is not null) * CudaTarget.All.Count(t => t.Architecture.Major < 8), skipped.Count);
    }

    /// <summary>
    /// The tensor-core kernels' SASS is tensor-core code: HMMA instructions, and no local memory (ILGPU's
    /// inline-assembly operands promoted to registers, <see cref="PtxDepotPromotion"/>) on sm_80 and sm_90.
    /// </summary>
    [Fact]
    public void TheTensorCoreKernelsRunHmmaWithoutLocalMemory()
    {
        var tools = RequireTools();
        var kernels = KernelCatalog.All.Where(k => KernelCatalog.RequiredComputeCapability(k) is not null).ToList();
        Assert.Equal(4, kernels.Count);
        var audits = PtxAudit.Run(tools, kernels, [CudaTarget.A100, CudaTarget.H100], sass: tools.Cuobjdump is not null);
        foreach (var a in audits)
        {
            Assert.True(a.Problem is null, $"{a.Name} on {a.Target.SmName}: {a.Problem}");
            Assert.Equal(0, a.Ptxas!.StackBytes);
            if (a.Sass is { } sass)
                Assert.True(sass.Hmma >= 16, $"{a.Name} on {a.Target.SmName}: {sass.Hmma} HMMA");
        }
    }

    [Fact]
    public void EveryKernelHasAGpuGroupSizeThatItsRegistersAllow()
    {
        var missing = KernelCatalog.All.Where(k => GpuGroups.LaunchOf(k) is null).Select(KernelCatalog.NameOf).ToList();
        Assert.True(missing.Count == 0, "kernels without a launch shape in GpuGroups:\n" + string.Join("\n", missing));
        Assert.Empty(GpuGroups.StaleEntries());
        Assert.Equal(256, GpuGroups.Conv2dTile);
        Assert.Equal(256, GpuGroups.MatmulTile);
    }

    [Fact]
    public void TheTargetsPickWhatIlgpusCudaAcceleratorPicks()
    {
        // ILGPU's capabilities need at most SM_80, so the H100's PTX says .target sm_80; a 12.4 driver gets ISA 8.4.
        Assert.Equal(CudaArchitecture.SM_80, CudaTarget.H100.PtxTarget);
        Assert.Equal(CudaArchitecture.SM_80, CudaTarget.A100.PtxTarget);
        Assert.Equal(CudaArchitecture.SM_75, CudaTarget.T4.PtxTarget);
        Assert.Equal(CudaArchitecture.SM_70, CudaTarget.V100.PtxTarget);
        Assert.All(CudaTarget.All, t => Assert.Equal(CudaInstructionSet.ISA_84, t.InstructionSet));
        var newer = CudaTarget.H100 with { Driver = CudaDriverVersion.FromMajorMinor(12, 8) };
        Assert.Equal(CudaInstructionSet.ISA_87, newer.InstructionSet);

        var kernel = KernelCatalog.All.Single(k => k.Name == "MatmulKernel3");
        var ptx = KernelCatalog.CompilePtx(kernel, CudaTarget.H100).Split('\n');
        Assert.Contains(".version 8.4", ptx);
        Assert.Contains(".target sm_80", ptx);
        // A newer driver's ISA changes the .version line and nothing else (names carry ILGPU's node numbers,
        // which differ from one compilation to the next).
        var newerPtx = KernelCatalog.CompilePtx(kernel, newer).Split('\n');
        Assert.Equal(ptx.Length, newerPtx.Length);
        static string Unnumbered(string line) => Regex.Replace(line, @"_\d+", "_#");
        var differing = ptx.Zip(newerPtx).Where(p => Unnumbered(p.First) != Unnumbered(p.Second)).ToList();
        Assert.Equal([(".version 8.4", ".version 8.7")], differing);
        Assert.Contains(".target sm_70", KernelCatalog.CompilePtx(kernel, CudaTarget.V100).Split('\n'));
    }

    // ptxas 12.4 -arch=sm_90 -v on Conv2dForwardKernel4's PTX (project at 4b2f659 + this branch).
    const string PtxasConv2dForward4 = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'Kernel_Conv2dForwardKernel4' for 'sm_90'
        ptxas info    : Function properties for Kernel_Conv2dForwardKernel4
            0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 168 registers, 8192 bytes smem
        """;

    [Fact]
    public void PtxasReportsParse()
    {
        var r = PtxasReport.Parse(PtxasConv2dForward4);
        Assert.Equal((168, 8192, 0, 0, 0), (r.Registers, r.SharedBytes, r.StackBytes, r.SpillStoreBytes, r.SpillLoadBytes));
        Assert.False(r.Failed);
        Assert.False(r.Spills);

        // Spills in a called function count; register and shared-memory lines with extra fields still parse.
        var spilling = PtxasReport.Parse("""
            ptxas info    : Compiling entry function 'Kernel_K' for 'sm_80'
            ptxas info    : Function properties for helper
                16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Function properties for Kernel_K
                32 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
            ptxas info    : Used 255 registers, used 1 barriers, 4096 bytes smem, 400 bytes cmem[0]
            """);
        Assert.Equal((255, 4096, 48, 12, 16), (spilling.Registers, spilling.SharedBytes, spilling.StackBytes, spilling.SpillStoreBytes, spilling.SpillLoadBytes));
        Assert.True(spilling.Spills);

        // The error ptxas 12.4 gives for sm_80 PTX assembled for sm_70, with its exit code 255.
        var failed = PtxasReport.Parse("ptxas fatal   : SM version specified by .target is higher than default SM version assumed\n", 255);
        Assert.True(failed.Failed);
        Assert.Contains("SM version", failed.Errors[0]);
        Assert.True(PtxasReport.Parse("", 0).Failed);   // no report at all is no pass
        Assert.True(PtxasReport.Parse("ptxas k.ptx, line 12; error   : Unknown symbol 'x'\n", 255).Failed);
        Assert.False(PtxasReport.Parse(PtxasConv2dForward4 + "\nptxas warning : Registers are spilled\n").Failed);
    }

    [Fact]
    public void SassCountsByOpcodeAndWidth()
    {
        // Lines from cuobjdump -sass of Conv2dForwardKernel4 for sm_90 (encoding comments as cuobjdump prints them) …
        const string real = """
            	code for sm_90
            		Function : Kernel_Conv2dForwardKernel4
            	.headerflags	@"EF_CUDA_TEXMODE_UNIFIED EF_CUDA_64BIT_ADDRESS EF_CUDA_SM90 EF_CUDA_VIRTUAL_SM(EF_CUDA_SM80)"
                    /*0000*/                   LDC R1, c[0x0][0x28] ;                       /* 0x00000a00ff017b82 */
                                                                                            /* 0x000e240000000800 */
                    /*0f50*/              @!P3 LD.E R150, desc[UR12][R82.64] ;              /* 0x0000000c5296b980 */
                    /*12d0*/                   STS [R153], R150 ;                           /* 0x0000009699007388 */
                    /*1f50*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;                /* 0x0000000000007b1d */
                    /*1f70*/                   LDS R146, [R82] ;                            /* 0x0000000052927984 */
                    /*1f80*/                   LDS R156, [R156] ;                           /* 0x000000009c9c7984 */
                    /*2040*/                   FFMA R16, R156, R146, R16 ;                  /* 0x000000929c107223 */
                    /*2070*/                   FFMA R147, R156.reuse, R160, R15 ;           /* 0x000000a09c937223 */
                    /*20a0*/                   FFMA R10, R156, R151, R10 ;                  /* 0x000000979c0a7223 */
                    /*4370*/                   FADD R15, R0, R15 ;                          /* 0x0000000f000f7221 */
                    /*5520*/               @P0 EXIT ;                                       /* 0x000000000000094d */
                    /*5ce0*/                   NOP;                                         /* 0x0000000000007918 */
            """;
        // … and, in the same format, written by hand: widths and forms these kernels do not use yet.
        const string handWritten = """
                    /*6000*/                   LDS.U.128 R4, [R2+0x10] ;
                    /*6010*/              @!PT LDS.64 R8, [R2] ;
                    /*6020*/                   LDS.U8 R9, [R2] ;
                    /*6030*/                   LDSM.16.M88.4 R12, [R2] ;
                    /*6040*/                   LDG.E.LTC128B.128 R16, desc[UR4][R6.64] ;
                    /*6050*/                   LDG.E.64.CONSTANT R20, desc[UR4][R6.64] ;
                    /*6060*/                   LDG.E.SYS R22, [R6] ;
                    /*6070*/                   HMMA.16816.F32 R24, R12, R14, R24 ;
                    /*6080*/                   FFMA.FTZ R1, R2, R3, R1 ;
                    /*6090*/                   FMUL R1, R2, R3 ;
                    /*60a0*/                   STS.128 [R2], R4 ;
            """;
        var c = SassCounts.Count(real + "\n" + handWritten);
        Assert.Equal(4, c.Ffma);
        Assert.Equal(1, c.Fmul);
        Assert.Equal(1, c.Fadd);
        Assert.Equal(1, c.Hmma);
        Assert.Equal((3, 1, 1), (c.Lds32, c.Lds64, c.Lds128));   // LDSM (ldmatrix) is not an LDS
        Assert.Equal(2, c.Sts);
        Assert.Equal((1, 1, 1), (c.Ldg32, c.Ldg64, c.Ldg128));
        Assert.Equal(1, c.Ld);
        Assert.Equal(11 + 11, c.Total);   // every instruction but the NOP
        Assert.Equal(4.0 / 5, c.FfmaPerLds!.Value, 9);
        Assert.Null(SassCounts.Count(real.Replace("LDS", "MOV")).FfmaPerLds);
    }

    [Theory]
    // registers → 256-register units per warp → warps per sub-partition (16384 registers) × 4 → largest group.
    [InlineData(168, 5376, 384)]    // ceil(168·32/256)·256 = 5376; 16384/5376 = 3 → 12 warps
    [InlineData(194, 6400, 256)]    // 6208 → 6400; 2 per sub-partition → 8 warps
    [InlineData(240, 7680, 256)]
    [InlineData(255, 8192, 256)]
    [InlineData(128, 4096, 512)]    // 4 per sub-partition → 16 warps
    [InlineData(40, 1280, 1024)]    // 12 per sub-partition → 48 warps ≥ 32 for 1024 threads
    [InlineData(32, 1024, 1024)]
    public void TheLargestGroupFollowsTheRegisterFile(int registers, int perWarp, int maxGroup)
    {
        var h100 = SmLimits.H100;
        Assert.Equal(perWarp, h100.RegistersPerWarp(registers));
        Assert.Equal(maxGroup, h100.MaxGroupSize(registers, 0));
        if (maxGroup < h100.MaxThreadsPerBlock)
            Assert.Equal(0, h100.BlocksByRegisters(registers, maxGroup + 32));
    }

    [Fact]
    public void OccupancyAtTheLaunchedGroupSize()
    {
        var h100 = SmLimits.H100;
        // Conv2d version 4: 168 registers, 8 KB static shared, 256 threads → 1 block of 8 warps = 8/64.
        var conv = h100.OccupancyAt(168, 8192, 256);
        Assert.Equal((1, 8, 8), (conv.BlocksPerSm, conv.WarpsPerBlock, conv.ActiveWarps));
        Assert.Equal("registers", conv.Limiter);
        Assert.Equal(0.125, conv.Fraction);
        // Matmul version 3: 40 registers → 48 warps by registers (not 65536/1280 = 51: whole warps per sub-partition).
        var matmul = h100.OccupancyAt(40, 8192, 256);
        Assert.Equal((6, 48), (matmul.BlocksPerSm, matmul.ActiveWarps));
        Assert.Equal(48, h100.BlocksByRegisters(40, 32));
        // 32 registers, no shared memory: 8 blocks of 8 warps, the whole SM.
        Assert.Equal((8, 64, 1.0), (h100.OccupancyAt(32, 0, 256).BlocksPerSm, h100.OccupancyAt(32, 0, 256).ActiveWarps, h100.OccupancyAt(32, 0, 256).Fraction));
        Assert.Equal("registers, warps", h100.OccupancyAt(32, 0, 256).Limiter);   // 16 warps per sub-partition: both at 64
        // One thread per group: the 32-block limit leaves 32 warps resident.
        Assert.Equal((32, 32, "blocks"), (h100.OccupancyAt(16, 0, 1).BlocksPerSm, h100.OccupancyAt(16, 0, 1).ActiveWarps, h100.OccupancyAt(16, 0, 1).Limiter));
        // Shared memory: 40000 + 1 KB reserved = 41024 → 41088 in 128-byte units; 233472 / 41088 = 5 blocks.
        Assert.Equal(41088, h100.SharedPerBlockAllocated(40000));
        Assert.Equal(5, h100.BlocksBySharedMemory(40000));
        Assert.Equal("shared memory", h100.OccupancyAt(16, 40000, 64).Limiter);
        Assert.Equal(25, h100.BlocksBySharedMemory(8192));
        // More than 48 KB of static shared memory cannot launch.
        Assert.Equal(0, h100.MaxGroupSize(32, 48 * 1024 + 1));
        // A T4 holds 32 warps: 256 threads at 32 registers → 4 blocks, all 32 warps.
        Assert.Equal((4, 32, 1.0), (SmLimits.T4.OccupancyAt(32, 0, 256).BlocksPerSm, SmLimits.T4.OccupancyAt(32, 0, 256).ActiveWarps, SmLimits.T4.OccupancyAt(32, 0, 256).Fraction));
    }

    static (int Code, string Output, string Error) Run(params string[] args) => Infrastructure.InProcessCli.Run(args);

    [Fact]
    public void KernelsListsEveryKernelWithItsGpuGroup()
    {
        var (code, output, _) = Run("kernels");
        Assert.Equal(0, code);
        Assert.Contains("Conv2dKernels.Conv2dForwardKernel4", output);
        Assert.Contains("Conv2dTile", output);
        Assert.DoesNotContain("not in GpuGroups", output);
    }

    [Fact]
    public void KernelsHelpExplainsEveryOption()
    {
        var (code, output, _) = Run("kernels", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--ptx-audit", "--arch", "--markdown", "sm_70", "BYOL_PTXAS" })
            Assert.Contains(option, output);
    }

    [Fact]
    public void AnUnknownArchIsAUsageError()
    {
        var (code, _, error) = Run("kernels", "--ptx-audit", "--arch", "sm_61");
        Assert.Equal(2, code);
        Assert.Contains("sm_61", error);
        Assert.Contains("sm_90", error);
    }

    [Fact]
    public void TheAuditWithoutPtxasIsAOneLineError()
    {
        var saved = Environment.GetEnvironmentVariable(NvidiaTools.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(NvidiaTools.EnvironmentVariable, "/nonexistent/cuda/bin");
            var (code, output, error) = Run("kernels", "--ptx-audit");
            Assert.Equal(1, code);
            Assert.Equal("", output);
            Assert.StartsWith("byol: BYOL_PTXAS=/nonexistent/cuda/bin: no executable ptxas", error);
            Assert.Single(error.TrimEnd().Split('\n'));
        }
        finally
        {
            Environment.SetEnvironmentVariable(NvidiaTools.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void TheAuditTableHasEveryKernelAndItsNumbers()
    {
        var tools = RequireTools();
        var kernels = KernelCatalog.All.Where(k => k.Name is "MatmulKernel3" or "FillKernel").ToList();
        var audits = PtxAudit.Run(tools, kernels, [CudaTarget.H100], sass: true);
        var markdown = PtxAudit.FormatTable(audits, SmLimits.H100, markdown: true).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2 + kernels.Count, markdown.Length);
        var matmul = markdown.Single(l => l.StartsWith("| MatmulKernel3 |")).Split('|', StringSplitOptions.TrimEntries);
        var header = markdown[0].Split('|', StringSplitOptions.TrimEntries);
        string Cell(string column) => matmul[Array.IndexOf(header, column)];
        Assert.Equal("256", Cell("group"));
        Assert.Equal("8192", Cell("smem B"));
        Assert.Equal("0/0", Cell("spill st/ld B"));
        Assert.True(int.Parse(Cell("FFMA")) > 0 && int.Parse(Cell("LDS")) + int.Parse(Cell("LDS.128")) > 0);
    }
}
