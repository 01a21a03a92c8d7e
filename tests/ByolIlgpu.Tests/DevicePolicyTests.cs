using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The one table of default kernel versions and launch shapes per device family.</summary>
public class DevicePolicyTests
{
    /// <summary>ResNet-18's CIFAR conv shapes at width 64 (stem, the 3×3 convs of each stage, the 1×1 stride-2 shortcuts), batch 2.</summary>
    static IEnumerable<Conv2dShape> ResNet18Shapes()
    {
        yield return new Conv2dShape(2, 3, 32, 32, 64, 3, 3, 1, 1);
        foreach (var (c, k, hw, stride) in new[] { (64, 64, 32, 1), (64, 128, 32, 2), (128, 128, 16, 1), (128, 256, 16, 2), (256, 256, 8, 1), (256, 512, 8, 2), (512, 512, 4, 1) })
        {
            yield return new Conv2dShape(2, c, hw, hw, k, 3, 3, stride, 1);
            if (stride == 2)
                yield return new Conv2dShape(2, c, hw, hw, k, 1, 1, 2, 0);
        }
    }

    [Fact]
    public void EveryFamilyHasAVersionForEveryOp()
    {
        foreach (var family in Enum.GetValues<DeviceFamily>())
        {
            Assert.True(DevicePolicy.Table.TryGetValue(family, out var policy), $"no policy for {family}");
            Assert.Equal(family, policy.Family);
            Assert.All(policy.Conv2dCandidates, v => Assert.Contains(v, DevicePolicy.VersionsOf[DevicePolicy.Conv2dOp]));
            foreach (var g in ResNet18Shapes())
                foreach (var pass in Enum.GetValues<Conv2dPass>())
                    Assert.Contains(policy.Conv2dVersion(g, pass), policy.Conv2dCandidates);
            Assert.Contains(policy.Matmul, DevicePolicy.VersionsOf[DevicePolicy.MatmulOp]);
            Assert.Contains(policy.BatchNormVersion(1), DevicePolicy.VersionsOf[DevicePolicy.BatchNormOp]);
            Assert.Contains(policy.BatchNormVersion(64), DevicePolicy.VersionsOf[DevicePolicy.BatchNormOp]);
            var launch = policy.Launch;
            foreach (var group in new[] { launch.GridStrideGroup, launch.ExactThreadsGroup, launch.PerSampleGroup })
                Assert.True(group == DevicePolicy.OneWarp || group >= 16, $"{family}: group of {group}");
            Assert.Equal(DevicePolicy.OpFamilies.Order(), DevicePolicy.VersionsOf.Keys.Order());
        }
        // ILGPU's CPU accelerator runs at most 16 threads per group: never the 256-thread tiles.
        Assert.All(DevicePolicy.Table[DeviceFamily.CpuAccelerator].Conv2dCandidates, v => Assert.Contains(v, Conv2d.CpuVersions));
        Assert.Equal(2, DevicePolicy.Table[DeviceFamily.CpuAccelerator].Matmul);
    }

    /// <summary>The versions each family ran before the table existed: the same choices keep results bit-identical.</summary>
    [Theory]
    [InlineData(DeviceFamily.CpuAccelerator, 2, 2, 3)]   // batch norm 3 since issue 14 (runs resumed from older checkpoints keep their pinned 1)
    [InlineData(DeviceFamily.CpuLikeOpenCl, 2, 2, 3)]
    [InlineData(DeviceFamily.GpuOpenCl, 4, 3, 2)]
    [InlineData(DeviceFamily.Cuda, DevicePolicy.CudaFp32Conv2d, DevicePolicy.CudaFp32Matmul, 2)]   // FP32 on CUDA: the 8×8 tiles (6, 5)
    public void TheTableKeepsEachFamilysVersions(DeviceFamily family, int conv2d, int matmul, int batchNorm2d)
    {
        var policy = DevicePolicy.Table[family];
        Assert.Equal((conv2d, matmul, batchNorm2d, 1), (policy.Conv2d, policy.Matmul, policy.BatchNormVersion(16), policy.BatchNormVersion(1)));
    }

    [Fact]
    public void RegisterBlockedFamiliesPickVersion3ForNarrowLayers()
    {
        var policy = DevicePolicy.Table[DeviceFamily.CpuLikeOpenCl];
        var stem = new Conv2dShape(2, 3, 32, 32, 64, 3, 3, 1, 1);
        var stage3 = new Conv2dShape(2, 128, 16, 16, 256, 3, 3, 2, 1);
        var shortcut = new Conv2dShape(2, 64, 32, 32, 128, 1, 1, 2, 0);
        Assert.Equal(3, policy.Conv2dVersion(stem, Conv2dPass.Forward));             // C·R·S = 27 < 64
        Assert.Equal(2, policy.Conv2dVersion(stage3, Conv2dPass.Forward));           // stride 2, wide
        Assert.Equal(2, policy.Conv2dVersion(stage3, Conv2dPass.BackwardInput));     // H < 32, C ≥ 64
        Assert.Equal(3, policy.Conv2dVersion(shortcut, Conv2dPass.BackwardInput));   // H ≥ 32
        Assert.Equal(2, policy.Conv2dVersion(shortcut, Conv2dPass.BackwardWeight));  // the 1×1 stride-2 shortcut keeps v2
        Assert.All(Enum.GetValues<Conv2dPass>(), pass => Assert.Equal(DevicePolicy.CudaFp32Conv2d, DevicePolicy.Table[DeviceFamily.Cuda].Conv2dVersion(stem, pass)));
    }

    [Theory]
    [InlineData(DeviceKind.Cpu, 4, DeviceFamily.CpuAccelerator)]
    [InlineData(DeviceKind.OpenCL, 4096, DeviceFamily.CpuLikeOpenCl)]
    [InlineData(DeviceKind.OpenCL, 1024, DeviceFamily.CpuLikeOpenCl)]
    [InlineData(DeviceKind.OpenCL, 64, DeviceFamily.GpuOpenCl)]
    [InlineData(DeviceKind.Cuda, 32, DeviceFamily.Cuda)]
    public void FamiliesAreToldApartByKindAndWarpSize(DeviceKind kind, int warpSize, DeviceFamily expected) =>
        Assert.Equal(expected, DevicePolicy.FamilyOf(kind, warpSize));

    [Fact]
    public void AForcedVersionOverridesTheTableAndTheCallersOverridesBoth()
    {
        var none = new Dictionary<string, int>();
        var forced = new Dictionary<string, int> { [DevicePolicy.Conv2dOp] = 1 };
        Assert.Equal(4, DevicePolicy.Resolve(DevicePolicy.Conv2dOp, 0, none, () => 4));
        Assert.Equal(1, DevicePolicy.Resolve(DevicePolicy.Conv2dOp, 0, forced, () => 4));
        Assert.Equal(3, DevicePolicy.Resolve(DevicePolicy.Conv2dOp, 3, forced, () => 4));
        Assert.Equal(3, DevicePolicy.Resolve(DevicePolicy.MatmulOp, 0, forced, () => 3));   // forced per family only
        Assert.Throws<ArgumentException>(() => DevicePolicy.Resolve("conv3d", 0, none, () => 1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DevicePolicy.Resolve(DevicePolicy.BatchNormOp, 0,
            new Dictionary<string, int> { [DevicePolicy.BatchNormOp] = 4 }, () => 1));
        Assert.Contains("expected one of 1, 2, 3", e.Message);
    }

    [Fact]
    public void TheCpuDeviceRunsItsFamilysVersionsUnlessForced()
    {
        var device = TestDevices.Cpu;
        Assert.Equal(DeviceFamily.CpuAccelerator, device.Policy.Family);
        Assert.Equal(2, Matmul.DefaultVersion(device));
        Assert.Equal(3, BatchNorm.DefaultVersion(device, 16));   // plane sums for BatchNorm2d
        Assert.Equal(1, BatchNorm.DefaultVersion(device, 1));    // a thread per channel for BatchNorm1d
        try
        {
            device.ForcedVersions[DevicePolicy.MatmulOp] = 1;
            Assert.Equal(1, device.ResolveVersion(DevicePolicy.MatmulOp, 0, () => Matmul.DefaultVersion(device)));
            Assert.Equal(2, device.ResolveVersion(DevicePolicy.MatmulOp, 2, () => Matmul.DefaultVersion(device)));
        }
        finally
        {
            device.ForcedVersions.Clear();
        }
        // One warp-sized group per core, as before the table.
        var config = device.GridStrideConfig(1_000_000);
        Assert.Equal(device.Accelerator.WarpSize, config.GroupDim.X);
        Assert.Equal(device.Accelerator.NumMultiprocessors, config.GridDim.X);
    }

    [Fact]
    public void AnotherFamilysVersionsRunWithThisDevicesLaunchShapes()
    {
        using var device = ComputeDevice.Create("cpu");
        var own = device.Policy;
        device.UseKernelVersionsOf(DeviceFamily.Cuda);
        var cuda = DevicePolicy.Table[DeviceFamily.Cuda];
        Assert.Equal((cuda.Conv2d, cuda.Matmul, cuda.BatchNorm2d), (device.Policy.Conv2d, device.Policy.Matmul, device.Policy.BatchNorm2d));
        Assert.Equal(own.Launch, device.Policy.Launch);
        Assert.Equal(own.Family, device.Policy.Family);
        Assert.NotEqual(own.Conv2d, device.Policy.Conv2d);
        Assert.Equal(1, device.Policy.BatchNormVersion(spatial: 1));   // BatchNorm1d stays a thread per channel
    }
}

/// <summary>--precision: which versions each precision runs, the default per device, and what a resume pins.</summary>
public class PrecisionPolicyTests
{
    static DeviceInfo Cuda(int major, int minor, string name = "NVIDIA H100 80GB HBM3") =>
        new(DeviceKind.Cuda, 0, name, 80L << 30, 32, 1024, 132) { Cuda = new CudaDeviceDetails(0, major, minor, 12040, "8.3") };

    static readonly DeviceInfo Cpu = new(DeviceKind.Cpu, 0, "CPUAccelerator", 8L << 30, 4, 16, 2);
    static readonly DeviceInfo CpuWarps32 = new(DeviceKind.Cpu, 0, "CPUAccelerator", 8L << 30, 32, 256, 2);
    static readonly DeviceInfo Pocl = new(DeviceKind.OpenCL, 0, "cpu-haswell", 8L << 30, 4096, 4096, 2);

    [Fact]
    public void Tf32RunsTheTensorCoreVersionsOnEveryFamilyAndFp32TheFamilysOwn()
    {
        var shape = new Conv2dShape(2, 64, 32, 32, 64, 3, 3, 1, 1);
        foreach (var (family, table) in DevicePolicy.Table)
        {
            var tf32 = table.WithPrecision(Precision.Tf32);
            Assert.Equal((DevicePolicy.Tf32Conv2d, DevicePolicy.Tf32Matmul), (tf32.Conv2d, tf32.Matmul));
            Assert.All(Enum.GetValues<Conv2dPass>(), pass => Assert.Equal(DevicePolicy.Tf32Conv2d, tf32.Conv2dVersion(shape, pass)));
            Assert.Equal(table.Launch, tf32.Launch);
            Assert.Equal(table.BatchNorm2d, tf32.BatchNorm2d);   // batch norm has no TF32 arithmetic
            Assert.Same(table, table.WithPrecision(Precision.Fp32));
        }
        var cuda = DevicePolicy.Table[DeviceFamily.Cuda];
        Assert.Equal((DevicePolicy.CudaFp32Conv2d, DevicePolicy.CudaFp32Matmul), (cuda.Conv2d, cuda.Matmul));
        Assert.Equal(Precision.Tf32, DevicePolicy.PrecisionOf(DevicePolicy.Conv2dOp, DevicePolicy.Tf32Conv2d));
        Assert.Equal(Precision.Tf32, DevicePolicy.PrecisionOf(DevicePolicy.MatmulOp, DevicePolicy.Tf32Matmul));
        Assert.Equal(Precision.Fp32, DevicePolicy.PrecisionOf(DevicePolicy.Conv2dOp, DevicePolicy.Tf32Matmul));   // conv2d v4 is FP32
        Assert.Equal(Precision.Fp32, DevicePolicy.PrecisionOf(DevicePolicy.MatmulOp, 1));
    }

    [Fact]
    public void Fp32IsTheDefaultOffCudaAndOnGpusWithoutTf32()
    {
        Assert.Equal(Precision.Fp32, DevicePolicy.DefaultPrecision(Cpu));
        Assert.Equal(Precision.Fp32, DevicePolicy.DefaultPrecision(Pocl));
        Assert.Equal(Precision.Fp32, DevicePolicy.DefaultPrecision(Cuda(7, 5, "Tesla T4")));
        Assert.Equal(Precision.Fp32, DevicePolicy.DefaultPrecision(Cuda(7, 0, "Tesla V100-SXM2-16GB")));
        Assert.Equal(Precision.Fp32, DevicePolicy.ChoosePrecision(Cuda(9, 0), Precision.Fp32));   // asked for: always possible
    }

    /// <summary>Needs the TF32 versions (conv2d 5, matmul 4) in DevicePolicy.VersionsOf.</summary>
    [Fact]
    public void Tf32IsTheDefaultOnCudaGpusOfComputeCapability8AndNewer()
    {
        Assert.SkipUnless(DevicePolicy.HasTf32Versions, "the TF32 versions (conv2d 5, matmul 4) are not in this build yet");
        Assert.Equal(Precision.Tf32, DevicePolicy.DefaultPrecision(Cuda(8, 0, "NVIDIA A100-SXM4-40GB")));
        Assert.Equal(Precision.Tf32, DevicePolicy.DefaultPrecision(Cuda(8, 6, "NVIDIA GeForce RTX 3090")));
        Assert.Equal(Precision.Tf32, DevicePolicy.DefaultPrecision(Cuda(9, 0)));
        Assert.Equal(Precision.Tf32, DevicePolicy.ChoosePrecision(CpuWarps32, Precision.Tf32));    // the emulation
        Assert.Equal(Precision.Tf32, DevicePolicy.ChoosePrecision(Pocl, Precision.Tf32));
    }

    /// <summary>The emulation runs the tensor-core kernels as written, 128 threads a group: the default CPU device's 16 cannot.</summary>
    [Fact]
    public void Tf32OnADeviceWithSmallGroupsIsOneLineSayingWhy()
    {
        Assert.SkipUnless(DevicePolicy.HasTf32Versions, "the TF32 versions are not in this build");
        var e = Assert.Throws<UnsupportedPrecisionException>(() => DevicePolicy.ChoosePrecision(Cpu, Precision.Tf32));
        Assert.DoesNotContain("\n", e.Message);
        Assert.Contains("at most 16 threads", e.Message);
        Assert.Contains("need 128", e.Message);
    }

    [Fact]
    public void Tf32BelowSm80IsOneLineNamingTheGpuAndItsComputeCapability()
    {
        var e = Assert.Throws<UnsupportedPrecisionException>(() => DevicePolicy.ChoosePrecision(Cuda(7, 5, "Tesla T4"), Precision.Tf32));
        Assert.DoesNotContain("\n", e.Message);
        Assert.Contains("cuda:0 (Tesla T4)", e.Message);
        Assert.Contains("compute capability 7.5", e.Message);
        Assert.Contains("--precision fp32", e.Message);
        Assert.IsAssignableFrom<ArgumentException>(e);
    }

    [Fact]
    public void Tf32WithoutTheTensorCoreVersionsSaysSo()
    {
        Assert.SkipWhen(DevicePolicy.HasTf32Versions, "the TF32 versions are in this build (Tf32IsTheDefaultOnCudaGpusOfComputeCapability8AndNewer covers tf32)");
        var e = Assert.Throws<UnsupportedPrecisionException>(() => DevicePolicy.ChoosePrecision(Cpu, Precision.Tf32));
        Assert.Contains("no TF32 kernels", e.Message);
    }

    [Theory]
    [InlineData("tf32", Precision.Tf32)]
    [InlineData("FP32", Precision.Fp32)]
    [InlineData("auto", null)]
    [InlineData(null, null)]
    public void PrecisionNamesParse(string? name, Precision? expected) => Assert.Equal(expected, Precisions.Parse(name));

    [Fact]
    public void AnUnknownPrecisionNameIsRefused() =>
        Assert.Contains("expected tf32, fp32 or auto", Assert.Throws<ArgumentException>(() => Precisions.Parse("bf16")).Message);

    [Theory]
    [InlineData(DeviceFamily.Cuda, "conv2d", 5, 6)]          // TF32 → the FP32 default (8×8 tiles)
    [InlineData(DeviceFamily.Cuda, "conv2d", 6, 4)]          // → the 4×4 tiles
    [InlineData(DeviceFamily.Cuda, "conv2d", 4, 1)]
    [InlineData(DeviceFamily.Cuda, "matmul", 4, 5)]
    [InlineData(DeviceFamily.Cuda, "matmul", 5, 3)]
    [InlineData(DeviceFamily.Cuda, "matmul", 3, 1)]
    [InlineData(DeviceFamily.CpuAccelerator, "conv2d", 3, 2)]
    [InlineData(DeviceFamily.CpuAccelerator, "conv2d", 2, 1)]
    [InlineData(DeviceFamily.CpuLikeOpenCl, "conv2d", 5, 2)]   // the emulation on PoCL → PoCL's own
    [InlineData(DeviceFamily.CpuLikeOpenCl, "matmul", 2, 1)]
    public void AFailedVersionFallsBackToTheFamilysFp32DefaultThenToVersion1(DeviceFamily family, string op, int failed, int expected) =>
        Assert.Equal(expected, DevicePolicy.FallbackOf(family, op, failed));

    [Fact]
    public void TheDevicesPrecisionSelectsItsVersionsWithEitherFamilysTable()
    {
        using var device = ComputeDevice.CreateCpu(threadsPerWarp: 32, warpsPerGroup: 8);   // groups of 128 for the TF32 emulation
        Assert.Equal(Precision.Fp32, device.Precision);
        var own = device.Policy;
        device.UsePrecision(Precision.Fp32);
        Assert.Equal(own, device.Policy);
        device.UseKernelVersionsOf(DeviceFamily.Cuda);
        Assert.Equal((DevicePolicy.CudaFp32Conv2d, DevicePolicy.CudaFp32Matmul), (device.Policy.Conv2d, device.Policy.Matmul));
        if (DevicePolicy.HasTf32Versions)
        {
            device.UsePrecision(Precision.Tf32);
            Assert.Equal((DevicePolicy.Tf32Conv2d, DevicePolicy.Tf32Matmul), (device.Policy.Conv2d, device.Policy.Matmul));
            Assert.Equal(own.Launch, device.Policy.Launch);
        }
    }

    [Fact]
    public void APinnedVersionOverridesTheTableButNotAForcedOrExplicitOne()
    {
        using var device = ComputeDevice.Create("cpu");
        device.Verification.Enabled = false;   // this test is about the order of choices, not the checks
        var pinnedSite = KernelSite.Conv2d(Conv2dPass.Forward, new Conv2dShape(2, 3, 32, 32, 64, 3, 3, 1, 1));
        var otherSite = KernelSite.Conv2d(Conv2dPass.BackwardWeight, new Conv2dShape(2, 3, 32, 32, 64, 3, 3, 1, 1));
        var missing = device.KernelLog.Pin(new Dictionary<KernelSite, int> { [pinnedSite] = 1, [otherSite] = 9 });
        Assert.Equal([$"{otherSite} v9"], missing);   // a version this build lacks is not pinned
        Assert.Equal(1, device.ResolveVersion(pinnedSite, 0, () => 3));
        Assert.Equal(3, device.ResolveVersion(otherSite, 0, () => 3));
        Assert.Equal(2, device.ResolveVersion(pinnedSite, 2, () => 3));   // the caller's own
        device.ForcedVersions[DevicePolicy.Conv2dOp] = 4;
        Assert.Equal(4, device.ResolveVersion(pinnedSite, 0, () => 3));
        device.ForcedVersions.Clear();
        Assert.Equal(4, device.KernelLog.Ran[pinnedSite]);   // the log holds what ran
        device.ResolveVersion(pinnedSite, 0, () => 3);
        Assert.Equal(1, device.KernelLog.Ran[pinnedSite]);
        device.KernelLog.Unpin();
        Assert.Equal(3, device.ResolveVersion(pinnedSite, 0, () => 3));
        Assert.Equal(3, device.KernelLog.Ran[pinnedSite]);
    }

    [Fact]
    public void KernelSitesAndRecordsRoundTripThroughText()
    {
        var g = new Conv2dShape(7, 64, 16, 15, 128, 3, 1, 2, 1);
        foreach (var site in new[] { KernelSite.Conv2d(Conv2dPass.BackwardInput, g), KernelSite.Matmul, KernelSite.BatchNorm(1), KernelSite.BatchNorm(64) })
            Assert.Equal(site, KernelSite.Parse(site.ToString()));
        Assert.Equal("conv2d.backward-input C=64 H=16 W=15 K=128 R=3 S=1 stride=2 pad=1", KernelSite.Conv2d(Conv2dPass.BackwardInput, g).ToString());
        Assert.Equal(KernelSite.Conv2d(Conv2dPass.Forward, g), KernelSite.Conv2d(Conv2dPass.Forward, g with { N = 256 }));   // the batch does not choose
        var record = new KernelRecord(Precision.Tf32, "cuda:0 NVIDIA H100", DeviceFamily.Cuda, new Dictionary<KernelSite, int>
        {
            [KernelSite.Conv2d(Conv2dPass.Forward, g)] = 5, [KernelSite.Matmul] = 4, [KernelSite.BatchNorm(64)] = 2,
        });
        var back = KernelRecord.FromJson(record.ToJson(), "test");
        Assert.Equal((record.Precision, record.Device, record.Family), (back.Precision, back.Device, back.Family));
        Assert.Equal(record.Versions.OrderBy(kv => kv.Key.ToString()), back.Versions.OrderBy(kv => kv.Key.ToString()));
        Assert.Equal("conv2d forward v5; matmul v4; batchnorm 2d v2", record.Summary());
        var e = Assert.Throws<InvalidDataException>(() => KernelRecord.FromJson("""{"precision": "fp16", "device": "x", "family": "Cuda", "versions": {}}""", "ckpt.safetensors"));
        Assert.Contains("ckpt.safetensors", e.Message);
        Assert.Throws<InvalidDataException>(() => KernelRecord.FromJson("""{"precision": "fp32", "device": "x", "family": "Cuda", "versions": {"conv3d.forward": 1}}""", "x"));
    }

    static DeviceInfo OpenCl(string name, int? native, int? preferred = null) =>
        new(DeviceKind.OpenCL, 0, name, 1L << 33, 4096, 4096, 2) { VectorWidths = native is { } n ? new OpenClVectorWidths(preferred ?? n, n) : null };

    /// <summary>
    /// PoCL's register blocks follow the narrower of its reported float vector width and the target in
    /// its device name: held to haswell it still reports the host's 16 lanes, and must get the AVX2 set.
    /// </summary>
    [Theory]
    [InlineData("cpu-skylake-avx512-AMD EPYC", 16, 16)]        // this machine, native
    [InlineData("cpu-haswell-AMD EPYC", 16, 8)]                // this machine held to AVX2 (POCL_LLVM_CPU_NAME=haswell)
    [InlineData("cpu-haswell-AMD EPYC 7B13", 8, 8)]            // the AVX2-only EPYC of issue 14
    [InlineData("cpu-znver4-AMD Ryzen 9 7950X", 16, 16)]
    [InlineData("cpu-x86-64-v2-Intel Xeon", 4, 8)]             // SSE only: the narrowest set there is
    [InlineData("Some OpenCL CPU", 8, 8)]                      // no target in the name: the reported width
    [InlineData("Some OpenCL CPU", null, 16)]                  // nothing reported: the widest set
    [InlineData("cpu-haswell-Intel Core i7-4770", null, 8)]    // no width reported: the target alone
    public void CpuLikeOpenClTakesTheBlocksOfItsVectorWidth(string name, int? native, int expectedLanes)
    {
        var policy = DevicePolicy.For(OpenCl(name, native), warpSize: 4096);
        Assert.Equal(DeviceFamily.CpuLikeOpenCl, policy.Family);
        Assert.Equal(expectedLanes, policy.Blocks.Lanes);
        Assert.Contains($"register blocks for {expectedLanes} float lanes", policy.Describe());
        Assert.Contains(native is { } n ? $"native {n}" : "no OpenCL vector width", DevicePolicy.BlockLanesSource(OpenCl(name, native)));
    }

    [Fact]
    public void OtherFamiliesKeepTheWidestBlocks()
    {
        var cpu = new DeviceInfo(DeviceKind.Cpu, 0, "CPUAccelerator", 1L << 33, 4, 16, 2);
        Assert.Equal(RegisterBlockSet.Widest, DevicePolicy.For(cpu, 4).Blocks);
        // A GPU OpenCL device runs the shared-memory tiles; its blocks are never used, and not described.
        var gpu = DevicePolicy.For(OpenCl("NVIDIA H200", 1), warpSize: 32);
        Assert.Equal(DeviceFamily.GpuOpenCl, gpu.Family);
        Assert.Equal(RegisterBlockSet.Widest, gpu.Blocks);
        Assert.DoesNotContain("register blocks", gpu.Describe());
    }

    [Fact]
    public void BlockSetsAreChosenByLanesAndNamedWhenMissing()
    {
        Assert.Equal(16, RegisterBlockSet.ForLanes(32).Lanes);
        Assert.Equal(16, RegisterBlockSet.ForLanes(16).Lanes);
        Assert.Equal(8, RegisterBlockSet.ForLanes(12).Lanes);
        Assert.Equal(8, RegisterBlockSet.ForLanes(2).Lanes);
        Assert.Equal(16, RegisterBlockSet.ForLanes(null).Lanes);
        Assert.Equal([3, 1], RegisterBlockSet.All.Select(s => s.GatherPositions));
        var e = Assert.Throws<ArgumentException>(() => RegisterBlockSet.Exactly(4));
        Assert.Contains("expected one of 16, 8", e.Message);
    }
}
