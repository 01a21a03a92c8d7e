using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// Trust, then verify: a fast version is checked once per device against version 1 before it first
/// runs; one that disagrees is replaced by its fallback, with one warning line. Each test takes a
/// fresh CPU device, whose checks have not run yet.
/// </summary>
public class KernelVerificationTests
{
    static (ComputeDevice Device, List<string> Warnings) FreshDevice()
    {
        var device = ComputeDevice.Create("cpu");
        var warnings = new List<string>();
        device.Verification.Enabled = true;   // whatever BYOL_VERIFY_KERNELS says in this process
        device.Verification.Warn = warnings.Add;
        return (device, warnings);
    }

    /// <summary>A stand-in for a kernel miscompiled on a device: one output of one pass off by 1 %.</summary>
    static Action<KernelCheckCase, int, float[]> Corrupt(int version, string pass) => (c, v, output) =>
    {
        if (v == version && c.Name.StartsWith(pass, StringComparison.Ordinal))
            output[output.Length / 2] *= 1.01f;
    };

    [Fact]
    public void CorrectFastVersionsPassTheirChecks()
    {
        var (device, warnings) = FreshDevice();
        using (device)
        {
            Assert.Equal(2, device.Verification.Trusted(DevicePolicy.Conv2dOp, 2));
            Assert.Equal(3, device.Verification.Trusted(DevicePolicy.Conv2dOp, 3));
            Assert.Equal(2, device.Verification.Trusted(DevicePolicy.MatmulOp, 2));
            Assert.Empty(warnings);
            Assert.Equal([(DevicePolicy.Conv2dOp, 2), (DevicePolicy.Conv2dOp, 3), (DevicePolicy.MatmulOp, 2)],
                device.Verification.Checks.Select(c => (c.Op, c.Version)));
            Assert.All(device.Verification.Checks, c =>
            {
                Assert.True(c.Passed, c.Describe());
                Assert.InRange(c.Worst.Ratio, 0, 1);
                Assert.Equal(c.Version, c.RunsInstead);
                Assert.Equal(Precision.Fp32, c.Precision);
            });
            Assert.Equal(1, device.Verification.Trusted(DevicePolicy.Conv2dOp, 1));   // version 1 is the oracle: never checked
            Assert.Equal(2, device.Verification.Trusted(DevicePolicy.BatchNormOp, 2)); // only conv2d and matmul have checks
            Assert.Equal(3, device.Verification.Checks.Count);
            Assert.Contains("conv2d v3 passed", device.Verification.Describe());
            Assert.Equal(0, device.Pool.BytesHeld);   // the launchers' operands came from the check's own pool
        }
    }

    [Theory]
    [InlineData(DevicePolicy.Conv2dOp, 3, "BackwardWeight", 2)]   // the family's FP32 default
    [InlineData(DevicePolicy.Conv2dOp, 3, "Forward", 2)]
    [InlineData(DevicePolicy.Conv2dOp, 2, "BackwardInput", 1)]
    [InlineData(DevicePolicy.MatmulOp, 2, "M=21", 1)]              // only the Bᵀ layout is wrong
    public void ABrokenFastVersionIsCaughtAndItsFallbackUsedWithOneWarning(string op, int broken, string brokenCase, int fallback)
    {
        var (device, warnings) = FreshDevice();
        using (device)
        {
            device.Verification.OutputHook = Corrupt(broken, brokenCase);
            Assert.Equal(fallback, device.Verification.Trusted(op, broken));
            var line = Assert.Single(warnings);
            Assert.StartsWith("warning: kernel check: ", line);
            Assert.DoesNotContain("\n", line);
            Assert.Contains($"{op} v{broken} disagrees with v1 on {device}", line);
            Assert.Contains(brokenCase, line);   // the worst mismatch: where, what, and the tolerance
            Assert.Contains("worst |Δ|", line);
            Assert.Contains($"using v{fallback} from now on", line);
            var failed = device.Verification.Checks.Single(c => c.Version == broken);
            Assert.False(failed.Passed);
            Assert.True(failed.Worst.Ratio > 1);
            Assert.Equal(fallback, failed.RunsInstead);
            // Later calls use the verdict without checking again.
            int checks = device.Verification.Checks.Count;
            Assert.Equal(fallback, device.Verification.Trusted(op, broken));
            Assert.Equal(checks, device.Verification.Checks.Count);
            Assert.Single(warnings);
        }
    }

    [Fact]
    public void TheLaunchersRunTheFallbackWhereThePolicyPicksTheBrokenVersion()
    {
        var (device, warnings) = FreshDevice();
        using (device)
        {
            device.Verification.OutputHook = Corrupt(3, "BackwardWeight");
            // The stem: C·R·S = 27 < 64, so the CPU table picks version 3 for its forward pass.
            var g = new Conv2dShape(2, 3, 8, 8, 4, 3, 3, 1, 1);
            Assert.Equal(3, device.Policy.Conv2dVersion(g, Conv2dPass.Forward));
            var rng = new Random(5);
            float[] Random(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            using var x = device.Allocate(Random(g.InputLength));
            using var w = device.Allocate(Random(g.WeightLength));
            using var y = device.Allocate<float>((long)g.N * g.K * g.P * g.Q);
            Conv2d.LaunchForward(device, x.View, w.View, y.View, g);
            Assert.Single(warnings);
            Assert.Equal(2, device.KernelLog.Ran[KernelSite.Conv2d(Conv2dPass.Forward, g)]);
            // And the result is version 2's: within FP32 rounding of version 1's.
            using var y1 = device.Allocate<float>(y.Length);
            Conv2d.LaunchForward(device, x.View, w.View, y1.View, g, version: 1);
            var got = device.ToHost(y.View);
            var reference = device.ToHost(y1.View);
            for (int i = 0; i < got.Length; i++)
                Assert.True(Math.Abs(got[i] - reference[i]) <= 1e-5f * (1 + Math.Abs(reference[i])), $"y[{i}] = {got[i]}, v1 {reference[i]}");
        }
    }

    [Fact]
    public void WhenTheFallbackFailsTooVersion1RunsAndEachFailureWarnsOnce()
    {
        var (device, warnings) = FreshDevice();
        using (device)
        {
            var three = Corrupt(3, "Forward");
            var two = Corrupt(2, "BackwardInput");
            device.Verification.OutputHook = (c, v, output) => { three(c, v, output); two(c, v, output); };
            Assert.Equal(1, device.Verification.Trusted(DevicePolicy.Conv2dOp, 3));
            Assert.Equal(2, warnings.Count);
            Assert.Contains(warnings, l => l.Contains("conv2d v3 disagrees") && l.Contains("using v1"));
            Assert.Contains(warnings, l => l.Contains("conv2d v2 disagrees") && l.Contains("using v1"));
            Assert.Equal(1, device.Verification.Trusted(DevicePolicy.Conv2dOp, 2));
            Assert.Equal(2, warnings.Count);
        }
    }

    [Fact]
    public void TheChecksAreOffUnderTheVariable()
    {
        var saved = Environment.GetEnvironmentVariable(KernelVerification.Variable);
        try
        {
            Environment.SetEnvironmentVariable(KernelVerification.Variable, "0");
            using var device = ComputeDevice.Create("cpu");
            Assert.False(device.Verification.Enabled);
            device.Verification.OutputHook = Corrupt(3, "Forward");
            Assert.Equal(3, device.Verification.Trusted(DevicePolicy.Conv2dOp, 3));
            Assert.Empty(device.Verification.Checks);
            Assert.Equal($"off ({KernelVerification.Variable}=0)", device.Verification.Describe());
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelVerification.Variable, saved);
        }
    }

    [Fact]
    public void TheTolerancesFollowTheMantissaAndTheReductionLength()
    {
        double fp32 = KernelVerification.RelativeTolerance(Precision.Fp32, 72);
        double tf32 = KernelVerification.RelativeTolerance(Precision.Tf32, 72);
        // FP32: 2γ(n), γ(n) = n·u/(1 − n·u), n = 72 + 2, u = 2⁻²⁴.
        double u = Math.ScaleB(1, -24);
        Assert.Equal(2 * 74 * u / (1 - 74 * u), fp32, 1e-15);
        Assert.True(KernelVerification.RelativeTolerance(Precision.Fp32, 4608) > 60 * fp32);   // grows with the reduction
        // TF32: each product carries up to 2⁻¹⁰ of operand rounding, far above FP32's sums …
        Assert.InRange(tf32, Math.ScaleB(1, -10), Math.ScaleB(1, -10) * 1.05);
        // … so an FP32 version that rounded its operands to TF32 by mistake would fail its check.
        Assert.True(fp32 < Math.ScaleB(1, -11) / 50);
    }

    [Fact]
    public void TheCheckCasesCoverEveryConvPassAndEveryMatmulLayout()
    {
        var conv = KernelVerification.Cases(DevicePolicy.Conv2dOp);
        Assert.All(Enum.GetValues<Conv2dPass>(), pass => Assert.Equal(3, conv.Count(c => c.Name.StartsWith(pass + " ", StringComparison.Ordinal))));
        Assert.Equal(6, conv.Count(c => c.Name.Contains("stride=2")));   // backward-input's parity classes
        var matmul = KernelVerification.Cases(DevicePolicy.MatmulOp);
        Assert.Equal(["M=19 N=23 K=45 α=1 β=0", "M=21 N=18 K=70 Bᵀ α=1 β=1", "M=17 N=29 K=26 Aᵀ α=0.5 β=1"], matmul.Select(c => c.Name));
        Assert.All(conv.Concat(matmul), c => Assert.True(c.ReductionLength > 1, c.Name));
    }
}
