using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;
using Xunit;
using Ref = ByolIlgpu.Reference.Augment;

namespace ByolIlgpu.Tests;

/// <summary>
/// The augmentation kernels against the double-precision reference (which draws from the same RNG): the
/// drawn parameters, each step on its own and the whole BYOL pipeline; reproducibility, independence of
/// the batch order, the rates of the random steps, the output range, the evaluation transform and bad input.
/// </summary>
public abstract class AugmentTests : BackendTest
{
    const ulong Seed = 0x5EED_0000_1234_ABCDUL;

    /// <summary>Images in the data set and the batch (a repeated index included) at this backend's scale.</summary>
    int ImageCount => Large ? 40 : 4;
    int[] BatchIndices => Large
        ? Enumerable.Range(0, 64).Select(i => (i * 7 + 3) % ImageCount).ToArray()
        : [3, 0, 2, 3, 1];

    /// <summary>Random pixels, with every 5th gray (R = G = B, hue's undefined case) and every 7th with two equal channels.</summary>
    static byte[] RandomImages(int seed, int n, int height, int width)
    {
        var bytes = new byte[n * 3 * height * width];
        new Random(seed).NextBytes(bytes);
        int plane = height * width;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < plane; p++)
            {
                int r = i * 3 * plane + p;
                if (p % 5 == 0)
                    bytes[r + plane] = bytes[r + 2 * plane] = bytes[r];
                else if (p % 7 == 0)
                    bytes[r + plane] = bytes[r];
            }
        return bytes;
    }

    /// <summary>Uploads images and indices, runs the augmentation, returns (output, parameters) on the host.</summary>
    (float[] Output, float[] Params) Run(byte[] images, int[] indices, AugmentationConfig cfg, int height = 32, int width = 32,
        int outH = 32, int outW = 32, ulong seed = Seed, int epoch = 3, int view = 1)
    {
        Device.Pool.ReleaseAll();
        using var img = Device.Accelerator.Allocate1D(images);
        using var idx = Device.Accelerator.Allocate1D(indices);
        var output = Tensor.Temp(Device, "augmented", indices.Length, 3, outH, outW);
        var prm = Augmentation.Apply(Device, img.View, idx.View, output, cfg, seed, epoch, view, height, width);
        return (output.ToHost(), prm.ToHost());
    }

    static float[] Row(float[] values, int row, int length) => values.AsSpan(row * length, length).ToArray();

    static double[] RowD(float[] values, int row, int length) => Row(values, row, length).Select(v => (double)v).ToArray();

    static double MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    /// <summary>Every sample of a run against the reference pipeline fed the kernel's own parameter row.</summary>
    static void CheckAgainstReference(byte[] images, int[] indices, AugmentationConfig cfg, float[] output, float[] prm,
        int height, int width, int outH, int outW, string what)
    {
        int length = 3 * outH * outW;
        for (int b = 0; b < indices.Length; b++)
        {
            var expected = Ref.Apply(images, indices[b], height, width, RowD(prm, b, Augmentation.ParameterCount), cfg, outH, outW);
            Check.NotAllZero(expected, what);
            Check.Close(Row(output, b, length), expected, $"{what}, sample {b} (image {indices[b]})");
        }
    }

    [Fact]
    public void DrawnParametersMatchTheReference()
    {
        var cfg = AugmentationConfig.ByolCifar(2, blur: true) with { BlurProbability = 0.5f, SolarizeProbability = 0.5f };
        int n = Large ? 2000 : 200;
        Device.Pool.ReleaseAll();
        using var idx = Device.Accelerator.Allocate1D(Enumerable.Range(0, n).Select(i => (i * 37) % n).ToArray());
        var prm = Augmentation.DrawParameters(Device, idx.View, cfg, Seed, epoch: 5, view: 2, imageCount: n).ToHost();
        int P = Augmentation.ParameterCount, nearTies = 0;
        int[] exact = [AugmentLayout.Flip, AugmentLayout.Jitter, AugmentLayout.Order, AugmentLayout.Order + 1, AugmentLayout.Order + 2,
            AugmentLayout.Order + 3, AugmentLayout.Gray, AugmentLayout.Blur, AugmentLayout.Solarize];
        int[] crop = [AugmentLayout.Top, AugmentLayout.Left, AugmentLayout.CropHeight, AugmentLayout.CropWidth, AugmentLayout.Tries];
        int[] factors = [AugmentLayout.Brightness, AugmentLayout.Contrast, AugmentLayout.Saturation, AugmentLayout.Hue, AugmentLayout.Sigma];
        for (int b = 0; b < n; b++)
        {
            int sample = (b * 37) % n;
            var draw = Ref.DrawParameters(cfg, Seed, 5, 2, sample, 32, 32);
            var got = Row(prm, b, P);
            foreach (var k in exact)
                Assert.True(got[k] == draw.Parameters[k], $"sample {sample}, column {k}: got {got[k]}, expected {draw.Parameters[k]}");
            foreach (var k in factors)
                Assert.True(Math.Abs(got[k] - draw.Parameters[k]) <= 1e-5, $"sample {sample}, column {k}: got {got[k]}, expected {draw.Parameters[k]}");
            if (!crop.All(k => got[k] == draw.Parameters[k]))
            {
                // float and double may round a crop size differently only at a rounding tie.
                Assert.True(draw.CropNearTie, $"sample {sample}: crop ({string.Join(", ", crop.Select(k => got[k]))}), expected ({string.Join(", ", crop.Select(k => draw.Parameters[k]))})");
                nearTies++;
            }
        }
        Assert.True(nearTies <= n / 100, $"{nearTies} crops of {n} differ at rounding ties");
    }

    /// <summary>Configurations that switch on one step at a time (after the crop, which is always on).</summary>
    public static TheoryData<string> Steps => new() { "crop", "flip", "brightness", "contrast", "saturation", "hue", "jitter", "gray", "blur", "solarize", "byol1", "byol2" };

    static readonly AugmentationConfig CropOnly = AugmentationConfig.None with { ScaleMin = 0.08f, ScaleMax = 1f, RatioMin = 3f / 4f, RatioMax = 4f / 3f };

    static AugmentationConfig StepConfig(string step)
    {
        var jitter = CropOnly with { JitterProbability = 1f, Brightness = 0f, Contrast = 0f, Saturation = 0f, Hue = 0f };
        return step switch
        {
            "crop" => CropOnly,
            "flip" => CropOnly with { FlipProbability = 1f },
            "brightness" => jitter with { Brightness = 0.4f },
            "contrast" => jitter with { Contrast = 0.4f },
            "saturation" => jitter with { Saturation = 0.2f },
            "hue" => jitter with { Hue = 0.1f },
            "jitter" => CropOnly with { JitterProbability = 1f },
            "gray" => CropOnly with { GrayscaleProbability = 1f },
            "blur" => CropOnly with { BlurProbability = 1f },
            "solarize" => CropOnly with { SolarizeProbability = 1f },
            "byol1" => AugmentationConfig.ByolCifar(1, blur: true),
            "byol2" => AugmentationConfig.ByolCifar(2, blur: true) with { SolarizeProbability = 0.5f },
            _ => throw new ArgumentException(step),
        };
    }

    [Theory, MemberData(nameof(Steps))]
    public void EachStepMatchesTheReference(string step)
    {
        var images = RandomImages(1, ImageCount, 32, 32);
        var indices = BatchIndices;
        var cfg = StepConfig(step);
        var (output, prm) = Run(images, indices, cfg);
        CheckAgainstReference(images, indices, cfg, output, prm, 32, 32, 32, 32, step);

        // The step must change the image: compare with the step before it (the crop alone, same draws). A draw
        // close to the identity (factor ≈ 1, σ ≈ 0.1, a crop of the whole image) may leave a sample unchanged, most not.
        var (before, _) = Run(images, indices, step == "crop" ? AugmentationConfig.None : CropOnly);
        int length = 3 * 32 * 32;
        int changed = Enumerable.Range(0, indices.Length).Count(b => MaxAbsDiff(Row(output, b, length), Row(before, b, length)) > 1e-2);
        Assert.True(2 * changed > indices.Length, $"{step}: only {changed} of {indices.Length} samples changed by the step");
    }

    [Fact]
    public void CropResizesAnyImageSizeToAnyOutputSize()
    {
        // 20×28 images to 16×24: boxes larger than the output are downsampled (bilinear, no antialias).
        var images = RandomImages(2, ImageCount, 20, 28);
        var indices = BatchIndices;
        var cfg = AugmentationConfig.ByolCifar(1, blur: true) with { RatioMin = 0.5f, RatioMax = 3f };
        var (output, prm) = Run(images, indices, cfg, 20, 28, 16, 24);
        CheckAgainstReference(images, indices, cfg, output, prm, 20, 28, 16, 24, "20×28 → 16×24");
    }

    [Fact]
    public void CropFallsBackToTheCentredBoxAsTorchvision()
    {
        // No aspect ratio in [4, 5] fits a 32×32 image at any area ≥ 0.9: every try fails; the fallback clamps the
        // ratio to 4 (32 wide, round(32/4) = 8 high) and centres the box.
        var cfg = AugmentationConfig.None with { ScaleMin = 0.9f, ScaleMax = 1f, RatioMin = 4f, RatioMax = 5f };
        var images = RandomImages(3, ImageCount, 32, 32);
        var (output, prm) = Run(images, BatchIndices, cfg);
        for (int b = 0; b < BatchIndices.Length; b++)
        {
            var row = Row(prm, b, Augmentation.ParameterCount);
            Assert.Equal([12f, 0f, 8f, 32f, 10f], new[] { row[AugmentLayout.Top], row[AugmentLayout.Left], row[AugmentLayout.CropHeight], row[AugmentLayout.CropWidth], row[AugmentLayout.Tries] });
        }
        CheckAgainstReference(images, BatchIndices, cfg, output, prm, 32, 32, 32, 32, "fallback crop");
    }

    [Fact]
    public void NoAugmentationIsTheEvaluationTransform()
    {
        var images = RandomImages(4, ImageCount, 32, 32);
        var indices = BatchIndices;
        var (augmented, _) = Run(images, indices, AugmentationConfig.None);
        Device.Pool.ReleaseAll();
        using var img = Device.Accelerator.Allocate1D(images);
        using var idx = Device.Accelerator.Allocate1D(indices);
        var eval = Tensor.Temp(Device, "eval", indices.Length, 3, 32, 32);
        Augmentation.Normalize(Device, img.View, idx.View, eval);
        var evalHost = eval.ToHost();
        int length = 3 * 32 * 32;
        for (int b = 0; b < indices.Length; b++)
        {
            var expected = Ref.Eval(images, indices[b], 32, 32, ChannelNormalization.Cifar10);
            Check.Close(Row(evalHost, b, length), expected, $"eval transform, sample {b}");
            Check.Close(Row(augmented, b, length), expected, $"no augmentation, sample {b}");
        }
    }

    [Fact]
    public void FlipMirrorsTheImageExactly()
    {
        var images = RandomImages(5, ImageCount, 32, 32);
        var (plain, _) = Run(images, BatchIndices, AugmentationConfig.None);
        var (flipped, _) = Run(images, BatchIndices, AugmentationConfig.None with { FlipProbability = 1f });
        for (int b = 0; b < BatchIndices.Length; b++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        Assert.Equal(plain[((b * 3 + c) * 32 + y) * 32 + 31 - x], flipped[((b * 3 + c) * 32 + y) * 32 + x]);
    }

    [Fact]
    public void TheSameKeyGivesTheSameOutputAndAnotherKeyAnother()
    {
        var cfg = AugmentationConfig.ByolCifar(2, blur: true);
        // Every stored image identical: rows can differ only through their keys.
        var one = RandomImages(6, 1, 32, 32);
        var images = Enumerable.Repeat(one, ImageCount).SelectMany(x => x).ToArray();
        int[] indices = Enumerable.Range(0, ImageCount).ToArray();
        var (first, _) = Run(images, indices, cfg);
        var (again, _) = Run(images, indices, cfg);
        Assert.Equal(first, again);

        int length = 3 * 32 * 32;
        foreach (var (what, other) in new[]
        {
            ("epoch", Run(images, indices, cfg, epoch: 4).Output),
            ("view", Run(images, indices, cfg, view: 2).Output),
            ("seed", Run(images, indices, cfg, seed: Seed + 1).Output),
        })
            for (int b = 0; b < indices.Length; b++)
                Assert.True(MaxAbsDiff(Row(first, b, length), Row(other, b, length)) > 1e-3, $"another {what} left sample {b} unchanged");
        for (int a = 0; a < indices.Length; a++)
            for (int b = a + 1; b < indices.Length; b++)
                Assert.True(MaxAbsDiff(Row(first, a, length), Row(first, b, length)) > 1e-3, $"samples {a} and {b} of the same image were augmented alike");
    }

    [Fact]
    public void ASampleDoesNotDependOnItsPlaceInTheBatch()
    {
        var cfg = AugmentationConfig.ByolCifar(1, blur: true);
        var images = RandomImages(7, ImageCount, 32, 32);
        int[] forward = Enumerable.Range(0, ImageCount).ToArray();
        int[] shuffled = forward.OrderBy(i => (i * 5 + 2) % ImageCount).ToArray();
        Assert.NotEqual(forward, shuffled);
        var (a, _) = Run(images, forward, cfg);
        var (b, _) = Run(images, shuffled, cfg);
        int length = 3 * 32 * 32;
        for (int row = 0; row < shuffled.Length; row++)
            Assert.Equal(Row(a, shuffled[row], length), Row(b, row, length));
    }

    [Fact]
    public void RandomStepsHappenAtTheirRates()
    {
        // 2000 samples: a rate's standard error is at most 0.0112; the bounds are ≥ 4.5 standard errors wide,
        // and the seed is fixed, so the outcome is fixed too.
        const int n = 2000;
        var cfg = AugmentationConfig.ByolCifar(2, blur: true);
        Device.Pool.ReleaseAll();
        using var idx = Device.Accelerator.Allocate1D(Enumerable.Range(0, n).ToArray());
        var prm = Augmentation.DrawParameters(Device, idx.View, cfg, Seed, epoch: 0, view: 2, imageCount: n).ToHost();
        int P = Augmentation.ParameterCount;
        double Rate(int column) => Enumerable.Range(0, n).Average(b => prm[b * P + column]);
        void Near(double got, double expected, double tolerance, string what) =>
            Assert.True(Math.Abs(got - expected) <= tolerance, $"{what}: rate {got:F4}, expected {expected} ± {tolerance}");
        Near(Rate(AugmentLayout.Flip), 0.5, 0.06, "flip");
        Near(Rate(AugmentLayout.Jitter), 0.8, 0.045, "jitter");
        Near(Rate(AugmentLayout.Gray), 0.2, 0.045, "grayscale");
        Near(Rate(AugmentLayout.Blur), 0.1, 0.035, "blur");
        Near(Rate(AugmentLayout.Solarize), 0.2, 0.045, "solarize");
        for (int stage = 0; stage < 4; stage++)
            for (int op = 0; op < 4; op++)
                Near(Enumerable.Range(0, n).Average(b => prm[b * P + AugmentLayout.Order + stage] == op ? 1.0 : 0.0), 0.25, 0.05, $"op {op} at stage {stage}");

        for (int b = 0; b < n; b++)
        {
            var r = Row(prm, b, P);
            int top = (int)r[AugmentLayout.Top], left = (int)r[AugmentLayout.Left], h = (int)r[AugmentLayout.CropHeight], w = (int)r[AugmentLayout.CropWidth];
            Assert.True(top >= 0 && left >= 0 && h >= 1 && w >= 1 && top + h <= 32 && left + w <= 32, $"sample {b}: crop box ({top}, {left}, {h}, {w}) outside 32×32");
            Assert.True(w * h >= 0.08 * 1024 * 0.8, $"sample {b}: crop {h}×{w} smaller than the scale allows");
            Assert.True(w <= 4.0 / 3 * h * 1.25 + 1 && h <= 4.0 / 3 * w * 1.25 + 1, $"sample {b}: crop {h}×{w} outside the aspect range");
            Assert.Equal([0f, 1f, 2f, 3f], r.AsSpan(AugmentLayout.Order, 4).ToArray().Order().ToArray());
            Assert.InRange(r[AugmentLayout.Brightness], 0.6f, 1.4f);
            Assert.InRange(r[AugmentLayout.Contrast], 0.6f, 1.4f);
            Assert.InRange(r[AugmentLayout.Saturation], 0.8f, 1.2f);
            Assert.InRange(r[AugmentLayout.Hue], -0.1f, 0.1f);
            Assert.InRange(r[AugmentLayout.Sigma], 0.1f, 2f);
        }
        // torchvision's sampler on a 32×32 image (simulated, 2·10⁵ draws): mean area fraction 0.490 (sd 0.24, so a
        // standard error of 0.0054 here), 11.5% of crops need more than one try.
        double meanArea = Enumerable.Range(0, n).Average(b => prm[b * P + AugmentLayout.CropHeight] * prm[b * P + AugmentLayout.CropWidth] / 1024.0);
        Near(meanArea, 0.49, 0.03, "mean crop area fraction");
        Near(Enumerable.Range(0, n).Average(b => prm[b * P + AugmentLayout.Tries] > 0 ? 1.0 : 0.0), 0.115, 0.04, "crops needing a retry");
    }

    [Fact]
    public void OutputsAreNormalisedImagesInRange()
    {
        var images = RandomImages(8, ImageCount, 32, 32);
        var (output, _) = Run(images, BatchIndices, AugmentationConfig.ByolCifar(2, blur: true));
        var norm = ChannelNormalization.Cifar10;
        int plane = 32 * 32;
        for (int i = 0; i < output.Length; i++)
        {
            int c = i / plane % 3;
            double lo = (0 - norm.Mean(c)) / norm.Std(c) - 1e-5, hi = (1 - norm.Mean(c)) / norm.Std(c) + 1e-5;
            Assert.True(float.IsFinite(output[i]) && output[i] >= lo && output[i] <= hi, $"output[{i}] = {output[i]} outside [{lo}, {hi}] (channel {c})");
        }

        // A constant image stays constant through the geometric steps: (v/255 − mean)/std per channel.
        var flat = Enumerable.Repeat((byte)200, ImageCount * 3 * plane).ToArray();
        var (constant, _) = Run(flat, BatchIndices, CropOnly with { FlipProbability = 0.5f, BlurProbability = 1f });
        for (int i = 0; i < constant.Length; i++)
        {
            int c = i / plane % 3;
            Assert.True(Math.Abs(constant[i] - (200 / 255.0 - norm.Mean(c)) / norm.Std(c)) < 1e-5, $"constant image: output[{i}] = {constant[i]}");
        }
    }

    [Fact]
    public void AnIndexOutsideTheDataSetGivesNaNNotAnotherImage()
    {
        var images = RandomImages(9, ImageCount, 32, 32);
        int[] indices = [0, ImageCount, -1, 1];
        var (output, prm) = Run(images, indices, AugmentationConfig.ByolCifar(1));
        int length = 3 * 32 * 32;
        Assert.All(Row(output, 1, length), v => Assert.True(float.IsNaN(v)));
        Assert.All(Row(output, 2, length), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(-1f, prm[1 * Augmentation.ParameterCount + AugmentLayout.Tries]);
        Assert.All(Row(output, 0, length).Concat(Row(output, 3, length)), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void BadShapesAndSettingsAreClearErrors()
    {
        Device.Pool.ReleaseAll();
        using var img = Device.Accelerator.Allocate1D(RandomImages(10, 2, 32, 32));
        using var idx = Device.Accelerator.Allocate1D(new[] { 0, 1 });
        var cfg = AugmentationConfig.ByolCifar(1);
        var output = Tensor.Temp(Device, "out", 2, 3, 32, 32);

        var e = Assert.Throws<ArgumentException>(() => Augmentation.Apply(Device, img.View.SubView(0, 3000), idx.View, output, cfg, Seed, 0, 1));
        Assert.Contains("image bytes", e.Message);
        e = Assert.Throws<ArgumentException>(() => Augmentation.Apply(Device, img.View, idx.View, Tensor.Temp(Device, "out", 3, 3, 32, 32), cfg, Seed, 0, 1));
        Assert.Contains("(3, 3, 32, 32)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Augmentation.Apply(Device, img.View, idx.View, output, cfg with { FlipProbability = 1.5f }, Seed, 0, 1));
        Assert.Contains("FlipProbability", e.Message);
        e = Assert.Throws<ArgumentException>(() => Augmentation.Apply(Device, img.View, idx.View, output, cfg with { BlurKernelSize = 4 }, Seed, 0, 1));
        Assert.Contains("BlurKernelSize", e.Message);
        e = Assert.Throws<ArgumentException>(() => Augmentation.Apply(Device, img.View, idx.View, output, cfg with { RatioMax = 0.5f }, Seed, 0, 1));
        Assert.Contains("RatioMax", e.Message);
        e = Assert.Throws<ArgumentException>(() => Augmentation.Normalize(Device, img.View, idx.View, Tensor.Temp(Device, "out", 2, 3, 16, 16)));
        Assert.Contains("no resizing", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Augmentation.Apply(Device, img.View, idx.View, output, cfg, Seed, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AugmentationConfig.ByolCifar(3));
    }
}

public sealed class CpuAugmentTests : AugmentTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClAugmentTests : AugmentTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaAugmentTests : AugmentTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}

/// <summary>The RNG and the reference's steps on cases whose answers are known by hand.</summary>
public class AugmentReferenceTests
{
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint r0, uint r1, uint r2, uint r3)
    {
        var r = AugmentRng.Philox4x32_10(c0, c1, c2, c3, k0, k1);
        Assert.Equal((r0, r1, r2, r3), (r.X, r.Y, r.Z, r.W));
    }

    [Fact]
    public void UniformsAndIndicesStayInRange()
    {
        Assert.Equal(0f, AugmentRng.ToUniform(0));
        Assert.True(AugmentRng.ToUniform(uint.MaxValue) < 1f);
        Assert.Equal(0, AugmentRng.ToIndex(0, 7));
        Assert.Equal(6, AugmentRng.ToIndex(uint.MaxValue, 7));
        // Different slots, samples, epochs and views draw different bits.
        var bits = new HashSet<uint>();
        for (int slot = 0; slot < 8; slot++)
            for (int sample = 0; sample < 4; sample++)
                for (int epoch = 0; epoch < 3; epoch++)
                    for (int view = 1; view <= 2; view++)
                        bits.Add(AugmentRng.Bits(1, 2, sample, epoch, view, slot));
        Assert.Equal(8 * 4 * 3 * 2, bits.Count);
    }

    [Theory]
    [InlineData(0.5f, 0)]
    [InlineData(1.5f, 2)]
    [InlineData(2.5f, 2)]
    [InlineData(2.4999f, 2)]
    [InlineData(2.5001f, 3)]
    [InlineData(31.5f, 32)]
    [InlineData(7f, 7)]
    public void RoundingIsPythonsHalfToEven(float x, int expected) => Assert.Equal(expected, AugmentKernels.RoundHalfEven(x));

    [Fact]
    public void HueShiftsRotateTheColourWheel()
    {
        Assert.Equal((0.0, 1.0, 0.0), Round(Ref.HsvToRgb(Ref.RgbToHsv(1, 0, 0).H + 1.0 / 3, 1, 1)));
        Assert.Equal((0.0, 0.0, 1.0), Round(Ref.HsvToRgb(Ref.RgbToHsv(0, 1, 0).H + 1.0 / 3, 1, 1)));
        var (h, s, v) = Ref.RgbToHsv(0.2, 0.7, 0.4);
        Assert.Equal((0.2, 0.7, 0.4), Round(Ref.HsvToRgb(h, s, v)));
        var x = Rand.Uniform(1, 3 * 16, 0, 1);
        Check.Close(Ref.AdjustHue(x, 0), x, "hue shift 0", 1e-12, 0);
        Check.Close(Ref.AdjustHue(Ref.AdjustHue(x, 0.3), -0.3), x, "hue +0.3 then −0.3", 1e-12, 0);
    }

    static (double, double, double) Round((double, double, double) c) => (Math.Round(c.Item1, 12), Math.Round(c.Item2, 12), Math.Round(c.Item3, 12));

    [Fact]
    public void BlendsAndGraysFollowTheirFormulas()
    {
        double[] x = [0.2, 0.9, 0.5, 0.1, 0.4, 0.8];   // (3, 1, 2)
        Check.Close(Ref.AdjustBrightness(x, 1.5), [0.3, 1, 0.75, 0.15, 0.6, 1], "brightness 1.5", 1e-12, 0);
        var gray = Ref.GrayLevels(x);
        Check.Close(gray, [0.2989 * 0.2 + 0.587 * 0.5 + 0.114 * 0.4, 0.2989 * 0.9 + 0.587 * 0.1 + 0.114 * 0.8], "gray levels", 1e-12, 0);
        Check.Close(Ref.AdjustSaturation(x, 0), [gray[0], gray[1], gray[0], gray[1], gray[0], gray[1]], "saturation 0", 1e-12, 0);
        double mean = gray.Average();
        Check.Close(Ref.AdjustContrast(x, 0), Enumerable.Repeat(mean, 6).ToArray(), "contrast 0", 1e-12, 0);
        Check.Close(Ref.Solarize(x, 0.5), [0.2, 0.1, 0.5, 0.1, 0.4, 0.2], "solarize", 1e-12, 0);
    }

    [Fact]
    public void BlurKernelsAreNormalisedAndSymmetric()
    {
        var w = Ref.GaussianKernel(3, 1.0);
        Assert.Equal(1.0, w.Sum(), 12);
        Assert.Equal(w[0], w[2], 15);
        Assert.Equal(Math.Exp(-0.5) / (1 + 2 * Math.Exp(-0.5)), w[0], 12);
        var constant = Enumerable.Repeat(0.3, 3 * 5 * 4).ToArray();
        Check.Close(Ref.GaussianBlur(constant, 5, 4, 3, 1.7), constant, "blurred constant", 1e-12, 0);
    }

    [Fact]
    public void AWholeBoxResizedToItsOwnSizeIsUnchanged()
    {
        var x = Rand.Uniform(2, 3 * 6 * 5, 0, 1);
        Check.Close(Ref.ResizedCrop(x, 6, 5, 0, 0, 6, 5, 6, 5), x, "identity resize", 1e-12, 0);
        // Doubling a 1×2 box: PyTorch's align_corners = False weights (¼, ¾) inside, clamped at the edges.
        double[] row = [0, 1, 0, 0, 0, 0];   // (3, 1, 2): channel 0 is [0, 1]
        var up = Ref.ResizedCrop(row, 1, 2, 0, 0, 1, 2, 1, 4);
        Check.Close(up.Take(4).ToArray(), [0, 0.25, 0.75, 1], "upsampled row", 1e-12, 0);
    }
}
