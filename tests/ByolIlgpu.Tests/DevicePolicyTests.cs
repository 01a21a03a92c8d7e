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
    [InlineData(DeviceFamily.CpuAccelerator, 2, 2, 1)]
    [InlineData(DeviceFamily.CpuLikeOpenCl, 2, 2, 1)]
    [InlineData(DeviceFamily.GpuOpenCl, 4, 3, 2)]
    [InlineData(DeviceFamily.Cuda, 4, 3, 2)]
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
        Assert.All(Enum.GetValues<Conv2dPass>(), pass => Assert.Equal(4, DevicePolicy.Table[DeviceFamily.Cuda].Conv2dVersion(stem, pass)));
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
            new Dictionary<string, int> { [DevicePolicy.BatchNormOp] = 3 }, () => 1));
        Assert.Contains("expected one of 1, 2", e.Message);
    }

    [Fact]
    public void TheCpuDeviceRunsItsFamilysVersionsUnlessForced()
    {
        var device = TestDevices.Cpu;
        Assert.Equal(DeviceFamily.CpuAccelerator, device.Policy.Family);
        Assert.Equal(2, Matmul.DefaultVersion(device));
        Assert.Equal(1, BatchNorm.DefaultVersion(device, 16));
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
