using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// <see cref="PtxDepotPromotion"/>, the pass that gives ILGPU's inline-assembly operands back to
/// registers, and the hook that hands the rewritten PTX to ILGPU's CUDA loader.
/// </summary>
public sealed class InlinePtxTests
{
    const string TwoDepots = """
        .visible .entry Kernel_X(
        	.param .u64 p0
        )
        {
        	.local .align 4 .b8 __local_depot0[4];
        	.local .align 4 .b8 __local_depot1[4];
        	.reg .b32	%r<9>;
        	.reg .b64	%rd<9>;
        	.reg .f32	%f<9>;

        	mov.b64	%rd1, __local_depot0;
        	mov.b64	%rd2, __local_depot1;
        	st.local.f32	[%rd1], %f1;
        	mov.b32	%r1, 7;
        	st.local.b32	[%rd2], %r1;
        	ld.local.f32	%f2, [%rd1];
        	ld.local.b32	%r2, [%rd2];
        	cvt.rna.tf32.f32 %r3, %f2;
        	st.local.b32	[%rd2], %r3;
        	ld.local.b32	%r4, [%rd2];
        	ret;
        }
        """;

    [Fact]
    public void DepotsUsedOnlyByLoadsAndStoresBecomeRegisters()
    {
        var ptx = PtxDepotPromotion.Promote(TwoDepots, out int promoted);
        Assert.Equal(2, promoted);
        Assert.DoesNotContain(".local", ptx);
        Assert.DoesNotContain("__local_depot", ptx);
        Assert.Contains("\t.reg .b32 %dp0;", ptx);
        Assert.Contains("\t.reg .b32 %dp1;", ptx);
        Assert.Contains("\tmov.b32\t%dp0, %f1;", ptx);
        Assert.Contains("\tmov.b32\t%f2, %dp0;", ptx);
        Assert.Contains("\tmov.b32\t%dp1, %r3;", ptx);
        Assert.Contains("\tmov.b32\t%r4, %dp1;", ptx);
        Assert.Contains("cvt.rna.tf32.f32 %r3, %f2;", ptx);   // everything else untouched
    }

    [Fact]
    public void ADepotWhoseAddressIsUsedOtherwiseIsKept()
    {
        var escaped = TwoDepots.Replace("\tret;", "\tadd.s64\t%rd3, %rd1, 4;\n\tret;");
        var ptx = PtxDepotPromotion.Promote(escaped, out int promoted);
        Assert.Equal(1, promoted);
        Assert.Contains("__local_depot0[4]", ptx);
        Assert.Contains("st.local.f32\t[%rd1], %f1;", ptx);
        Assert.DoesNotContain("__local_depot1", ptx);
        // A 4-byte depot accessed as 8 bytes is not a scalar of its size either.
        var wide = TwoDepots.Replace("ld.local.f32\t%f2, [%rd1];", "ld.local.b64\t%rd5, [%rd1];");
        PtxDepotPromotion.Promote(wide, out promoted);
        Assert.Equal(1, promoted);
    }

    [Fact]
    public void PtxWithoutDepotsIsReturnedUnchanged()
    {
        var plain = TwoDepots.Replace("\t.local .align 4 .b8 __local_depot0[4];\n", "").Replace("\t.local .align 4 .b8 __local_depot1[4];\n", "");
        Assert.Same(plain, PtxDepotPromotion.Promote(plain, out int promoted));
        Assert.Equal(0, promoted);
    }

    /// <summary>The tensor-core kernels' PTX, as the CUDA path and the audit produce it, has no local memory left.</summary>
    [Fact]
    public void TheTensorCoreKernelsKeepNoLocalMemory()
    {
        foreach (var kernel in KernelCatalog.All.Where(k => KernelCatalog.RequiredComputeCapability(k) is not null))
        {
            var ptx = KernelCatalog.CompilePtx(kernel);
            Assert.Contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", ptx);
            Assert.DoesNotContain(".local", ptx);
        }
    }

    /// <summary>ILGPU 1.5.3's compiled kernel takes the rewritten PTX (the loader's one use of ILGPU internals).</summary>
    [Fact]
    public void IlgpusCompiledKernelAcceptsRewrittenPtx()
    {
        var kernel = KernelCatalog.All.First(k => k.Name == "MatmulKernel4");
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O1));
        var target = CudaTarget.H100;
        using var backend = new PTXBackend(context, target.Capabilities, target.Architecture, target.InstructionSet, null);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
        ComputeDevice.SetPtx(compiled, "// rewritten\n" + compiled.PTXAssembly);
        Assert.StartsWith("// rewritten\n", compiled.PTXAssembly);
    }
}
