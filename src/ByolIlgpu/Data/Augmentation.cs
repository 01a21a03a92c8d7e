using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Data;

/// <summary>Per-channel normalisation y = (x − mean_c)/std_c of images in [0, 1].</summary>
public readonly record struct ChannelNormalization(float MeanR, float MeanG, float MeanB, float StdR, float StdG, float StdB)
{
    /// <summary>CIFAR-10's channel means and standard deviations (the usual constants).</summary>
    public static ChannelNormalization Cifar10 { get; } = new(0.4914f, 0.4822f, 0.4465f, 0.2470f, 0.2435f, 0.2616f);

    /// <summary>No normalisation: y = x.</summary>
    public static ChannelNormalization Identity { get; } = new(0f, 0f, 0f, 1f, 1f, 1f);

    public float Mean(int channel) => channel switch { 0 => MeanR, 1 => MeanG, _ => MeanB };
    public float Std(int channel) => channel switch { 0 => StdR, 1 => StdG, _ => StdB };

    internal ChannelNorm ToKernel() => new() { MeanR = MeanR, MeanG = MeanG, MeanB = MeanB, StdR = StdR, StdG = StdG, StdB = StdB };
}

/// <summary>
/// One view's augmentation pipeline (torchvision's names and defaults of BYOL): RandomResizedCrop(scale,
/// ratio) → RandomHorizontalFlip(p) → RandomApply(ColorJitter(b, c, s, h), p) → RandomGrayscale(p) →
/// RandomApply(GaussianBlur(k, σ), p) → RandomSolarize(½, p) → Normalize. The output size is the output
/// tensor's. See <see cref="AugmentKernels"/> for the exact definitions.
/// </summary>
public sealed record AugmentationConfig(
    float ScaleMin = 0.08f, float ScaleMax = 1f,
    float RatioMin = 3f / 4f, float RatioMax = 4f / 3f,
    float FlipProbability = 0.5f,
    float JitterProbability = 0.8f, float Brightness = 0.4f, float Contrast = 0.4f, float Saturation = 0.2f, float Hue = 0.1f,
    float GrayscaleProbability = 0.2f,
    float BlurProbability = 0f, float SigmaMin = 0.1f, float SigmaMax = 2f, int BlurKernelSize = 3,
    float SolarizeProbability = 0f)
{
    /// <summary>Normalisation applied last (CIFAR-10's by default).</summary>
    public ChannelNormalization Normalization { get; init; } = ChannelNormalization.Cifar10;

    /// <summary>
    /// BYOL's view 1 or view 2 (Grill et al. 2020, table 6) for views of <paramref name="imageSize"/> px: view 1
    /// blurs with p = 1 and never solarises, view 2 blurs with p = 0.1 and solarises with p = 0.2. The blur is
    /// off unless <paramref name="blur"/> is set (the CIFAR recipes leave it off at 32×32; the trainer turns it on
    /// from <see cref="BlurFromSize"/> px); its kernel is <see cref="BlurTaps"/>(size) taps, σ ∈ [0.1, 2.0].
    /// </summary>
    public static AugmentationConfig ByolCifar(int view, bool blur = false, int imageSize = 32) => view switch
    {
        1 => new AugmentationConfig(BlurProbability: blur ? 1f : 0f, BlurKernelSize: BlurTaps(imageSize), SolarizeProbability: 0f),
        2 => new AugmentationConfig(BlurProbability: blur ? 0.1f : 0f, BlurKernelSize: BlurTaps(imageSize), SolarizeProbability: 0.2f),
        _ => throw new ArgumentOutOfRangeException(nameof(view), view, "BYOL has views 1 and 2"),
    };

    /// <summary>The image size from which BYOL's blur is on by default (below it, CIFAR recipes leave it off).</summary>
    public const int BlurFromSize = 64;

    /// <summary>
    /// The blur's taps at an image size: odd and ≈ 10% of the side, 2·⌊size/20⌋ + 1 — BYOL's 23 at 224 px,
    /// 3 at 32, 7 at 64, 9 at 96.
    /// </summary>
    public static int BlurTaps(int imageSize)
    {
        if (imageSize < 1)
            throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected an image size of at least 1 px");
        return 2 * (imageSize / 20) + 1;
    }

    /// <summary>No augmentation: the whole image, no random step (output = the evaluation transform when sizes match).</summary>
    public static AugmentationConfig None { get; } = new(ScaleMin: 1f, ScaleMax: 1f, RatioMin: 1f, RatioMax: 1f,
        FlipProbability: 0f, JitterProbability: 0f, GrayscaleProbability: 0f, BlurProbability: 0f, SolarizeProbability: 0f);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        static void Require(bool ok, string field, float value, string expected)
        {
            if (!ok)
                throw new ArgumentException($"augmentation config: {field} = {value}, expected {expected}");
        }
        static void Probability(float p, string field) => Require(p >= 0f && p <= 1f, field, p, "a probability in [0, 1]");

        Require(ScaleMin > 0f && float.IsFinite(ScaleMin), nameof(ScaleMin), ScaleMin, "a positive area fraction");
        Require(ScaleMax >= ScaleMin && float.IsFinite(ScaleMax), nameof(ScaleMax), ScaleMax, $"≥ ScaleMin ({ScaleMin})");
        Require(RatioMin > 0f && float.IsFinite(RatioMin), nameof(RatioMin), RatioMin, "a positive aspect ratio");
        Require(RatioMax >= RatioMin && float.IsFinite(RatioMax), nameof(RatioMax), RatioMax, $"≥ RatioMin ({RatioMin})");
        Probability(FlipProbability, nameof(FlipProbability));
        Probability(JitterProbability, nameof(JitterProbability));
        Require(Brightness >= 0f && Brightness <= 1f, nameof(Brightness), Brightness, "a strength in [0, 1] (factor in [1 − x, 1 + x])");
        Require(Contrast >= 0f && Contrast <= 1f, nameof(Contrast), Contrast, "a strength in [0, 1] (factor in [1 − x, 1 + x])");
        Require(Saturation >= 0f && Saturation <= 1f, nameof(Saturation), Saturation, "a strength in [0, 1] (factor in [1 − x, 1 + x])");
        Require(Hue >= 0f && Hue <= 0.5f, nameof(Hue), Hue, "a strength in [0, 0.5] (shift in [−x, x])");
        Probability(GrayscaleProbability, nameof(GrayscaleProbability));
        Probability(BlurProbability, nameof(BlurProbability));
        Require(SigmaMin > 0f && float.IsFinite(SigmaMin), nameof(SigmaMin), SigmaMin, "a positive σ");
        Require(SigmaMax >= SigmaMin && float.IsFinite(SigmaMax), nameof(SigmaMax), SigmaMax, $"≥ SigmaMin ({SigmaMin})");
        Require(BlurKernelSize >= 1 && BlurKernelSize % 2 == 1, nameof(BlurKernelSize), BlurKernelSize, "an odd number of taps ≥ 1");
        Probability(SolarizeProbability, nameof(SolarizeProbability));
        var n = Normalization;
        for (int c = 0; c < 3; c++)
        {
            Require(float.IsFinite(n.Mean(c)), $"Normalization.Mean[{c}]", n.Mean(c), "a finite mean");
            Require(n.Std(c) > 0f && float.IsFinite(n.Std(c)), $"Normalization.Std[{c}]", n.Std(c), "a positive standard deviation");
        }
    }

    /// <summary>The kernel-side settings.</summary>
    public AugmentSettings ToKernel() => new()
    {
        ScaleMin = ScaleMin, ScaleMax = ScaleMax,
        RatioMin = RatioMin, RatioMax = RatioMax,
        LogRatioMin = (float)Math.Log(RatioMin), LogRatioMax = (float)Math.Log(RatioMax),
        FlipP = FlipProbability,
        JitterP = JitterProbability, Brightness = Brightness, Contrast = Contrast, Saturation = Saturation, Hue = Hue,
        GrayP = GrayscaleProbability,
        BlurP = BlurProbability, SigmaMin = SigmaMin, SigmaMax = SigmaMax, BlurKernelSize = BlurKernelSize,
        SolarizeP = SolarizeProbability,
    };
}

/// <summary>
/// Launchers of the augmentation kernels. Images stay on the device as uint8 (N, 3, H, W) (upload the data
/// set once); a batch is an index buffer (B) of data-set rows. The random choices of a sample are a pure
/// function of (seed, epoch, data-set index, view): reproducible, and independent of the batch order.
/// </summary>
public static class Augmentation
{
    /// <summary>Floats per sample in the parameter buffer (<see cref="AugmentLayout"/>).</summary>
    public const int ParameterCount = AugmentLayout.Count;

    /// <summary>
    /// Augments the images indices[b] into output (B, 3, OH, OW) (normalised), drawing the random choices
    /// for (seed, epoch, indices[b], view). Returns the drawn parameters (B, P) (a pooled temporary). An
    /// index outside [0, N) gives a NaN image.
    /// </summary>
    public static Tensor Apply(ComputeDevice dev, ArrayView<byte> images, ArrayView<int> indices, Tensor output,
        AugmentationConfig config, ulong seed, int epoch, int view, int height = 32, int width = 32)
    {
        var shape = ShapeOf(images, indices, output, height, width, "augmentation");
        var prm = DrawParameters(dev, indices, config, seed, epoch, view, shape.Images, height, width);
        ApplyParameters(dev, images, indices, prm, output, config, height, width);
        return prm;
    }

    /// <summary>The random choices only: a pooled (B, P) tensor laid out as <see cref="AugmentLayout"/>.</summary>
    public static Tensor DrawParameters(ComputeDevice dev, ArrayView<int> indices, AugmentationConfig config,
        ulong seed, int epoch, int view, int imageCount, int height = 32, int width = 32)
    {
        config.Validate();
        if (epoch < 0)
            throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "augmentation: the epoch must be ≥ 0");
        if (view < 0)
            throw new ArgumentOutOfRangeException(nameof(view), view, "augmentation: the view must be ≥ 0");
        if (indices.Length < 1 || indices.Length > int.MaxValue / AugmentLayout.Count)
            throw new ArgumentException($"augmentation: {indices.Length} batch indices, expected at least 1");
        if (height < 1 || width < 1 || imageCount < 1)
            throw new ArgumentException($"augmentation: {imageCount} images of {height}×{width}, expected at least one image of at least 1×1");
        int batch = (int)indices.Length;
        var prm = Tensor.Temp(dev, "augment.params", batch, AugmentLayout.Count);
        var shape = new AugmentShape { Batch = batch, Images = imageCount, Height = height, Width = width };
        var k = dev.Kernel(nameof(AugmentKernels.AugmentDrawKernel),
            a => a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, AugmentSettings, AugmentShape, uint, uint, int, int>(AugmentKernels.AugmentDrawKernel));
        k(dev.GridStrideConfig(batch), indices, prm.Data, config.ToKernel(), shape, (uint)seed, (uint)(seed >> 32), epoch, view);
        return prm;
    }

    /// <summary>Applies drawn parameters (B, P) to the images indices[b], writing output (B, 3, OH, OW).</summary>
    public static void ApplyParameters(ComputeDevice dev, ArrayView<byte> images, ArrayView<int> indices, Tensor parameters,
        Tensor output, AugmentationConfig config, int height = 32, int width = 32)
    {
        config.Validate();
        var shape = ShapeOf(images, indices, output, height, width, "augmentation");
        if (parameters.Rank != 2 || parameters.Dim(0) != shape.Batch || parameters.Dim(1) != AugmentLayout.Count)
            throw new ArgumentException($"augmentation: parameters {Tensor.Format(parameters.Shape)}, expected ({shape.Batch}, {AugmentLayout.Count})");
        int half = config.BlurKernelSize / 2;
        if (config.BlurProbability > 0f && (half >= shape.OutHeight || half >= shape.OutWidth))
            throw new ArgumentException($"augmentation config: BlurKernelSize = {config.BlurKernelSize}, expected BlurKernelSize/2 < the output size {shape.OutHeight}×{shape.OutWidth} (reflect padding)");
        var launch = PerSampleConfig(dev, shape.Batch);
        int group = launch.GroupDim.X;
        var partial = dev.Pool.Rent((long)shape.Batch * group);
        var scratch = config.BlurProbability > 0f ? dev.Pool.Rent(output.Length) : dev.Pool.Rent(1);
        var k = dev.Kernel(nameof(AugmentKernels.AugmentApplyKernel),
            a => a.LoadStreamKernel<ArrayView<byte>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                AugmentSettings, ChannelNorm, AugmentShape>(AugmentKernels.AugmentApplyKernel));
        k(launch, images, indices, parameters.Data, output.Data, scratch, partial, config.ToKernel(), config.Normalization.ToKernel(), shape);
    }

    /// <summary>
    /// The evaluation transform (kNN, linear probe): output (B, 3, H, W) = (images[indices[b]]/255 − mean)/std,
    /// CIFAR-10's statistics unless <paramref name="normalization"/> says otherwise.
    /// </summary>
    public static void Normalize(ComputeDevice dev, ArrayView<byte> images, ArrayView<int> indices, Tensor output,
        ChannelNormalization? normalization = null, int height = 32, int width = 32)
    {
        var shape = ShapeOf(images, indices, output, height, width, "evaluation transform");
        if (shape.OutHeight != height || shape.OutWidth != width)
            throw new ArgumentException($"evaluation transform: output {Tensor.Format(output.Shape)}, expected ({shape.Batch}, 3, {height}, {width}) (no resizing)");
        var norm = normalization ?? ChannelNormalization.Cifar10;
        new AugmentationConfig { Normalization = norm }.Validate();
        var k = dev.Kernel(nameof(AugmentKernels.AugmentEvalKernel),
            a => a.LoadStreamKernel<ArrayView<byte>, ArrayView<int>, ArrayView<float>, ChannelNorm, AugmentShape>(AugmentKernels.AugmentEvalKernel));
        k(dev.GridStrideConfig(output.Length), images, indices, output.Data, norm.ToKernel(), shape);
    }

    /// <summary>
    /// The evaluation transform at size S = output's side (kNN, linear probe, feature extraction): torchvision's
    /// Resize(S) (the shorter side to S, antialiased bilinear) then CenterCrop(S), then (x/255 − mean)/std. Images
    /// already S×S take <see cref="Normalize"/> (the same values: the resize is then the identity).
    /// </summary>
    public static void EvalTransform(ComputeDevice dev, ArrayView<byte> images, ArrayView<int> indices, Tensor output,
        int height, int width, ChannelNormalization? normalization = null)
    {
        var shape = ShapeOf(images, indices, output, height, width, "evaluation transform");
        if (shape.OutHeight != shape.OutWidth)
            throw new ArgumentException($"evaluation transform: output {Tensor.Format(output.Shape)}, expected square views (B, 3, S, S)");
        if (height == shape.OutHeight && width == shape.OutWidth)
        {
            Normalize(dev, images, indices, output, normalization, height, width);
            return;
        }
        var norm = normalization ?? ChannelNormalization.Cifar10;
        new AugmentationConfig { Normalization = norm }.Validate();
        var k = dev.Kernel(nameof(AugmentKernels.AugmentEvalResizeKernel),
            a => a.LoadStreamKernel<ArrayView<byte>, ArrayView<int>, ArrayView<float>, ChannelNorm, AugmentShape, EvalResize>(AugmentKernels.AugmentEvalResizeKernel));
        k(dev.GridStrideConfig(output.Length), images, indices, output.Data, norm.ToKernel(), shape, CenterCropResize(height, width, shape.OutHeight));
    }

    /// <summary>
    /// torchvision's Resize(size) + CenterCrop(size) on an H×W image: the shorter side becomes size, the longer
    /// ⌊size·long/short⌋; the crop's corner is round((resized − size)/2) (half to even, as Python's round).
    /// </summary>
    public static EvalResize CenterCropResize(int height, int width, int size)
    {
        int resizedH, resizedW;
        if (width <= height)
        {
            resizedW = size;
            resizedH = (int)((long)size * height / width);
        }
        else
        {
            resizedH = size;
            resizedW = (int)((long)size * width / height);
        }
        return new EvalResize
        {
            ResizedHeight = resizedH, ResizedWidth = resizedW,
            Top = (int)Math.Round((resizedH - size) / 2.0), Left = (int)Math.Round((resizedW - size) / 2.0),
        };
    }

    /// <summary>
    /// One group per sample (grid-stride over samples): groups of 256 on a GPU, 64 on PoCL, a warp on the CPU
    /// accelerator (each thread an OS thread).
    /// </summary>
    public static KernelConfig PerSampleConfig(ComputeDevice dev, int batch)
    {
        int group = dev.GroupSize(dev.Policy.Launch.PerSampleGroup);
        long cap = dev.GridCap(dev.Policy.Launch.PerSampleGroupsPerMultiprocessor);
        return new KernelConfig((int)Math.Min(batch, cap), group);
    }

    static AugmentShape ShapeOf(ArrayView<byte> images, ArrayView<int> indices, Tensor output, int height, int width, string what)
    {
        if (height < 1 || width < 1)
            throw new ArgumentException($"{what}: image size {height}×{width}, expected at least 1×1");
        long perImage = 3L * height * width;
        if (images.Length == 0 || images.Length % perImage != 0)
            throw new ArgumentException($"{what}: {images.Length} image bytes, expected a whole number of (3, {height}, {width}) images ({perImage} bytes each)");
        if (images.Length / perImage > int.MaxValue || images.Length > int.MaxValue)
            throw new ArgumentException($"{what}: {images.Length} image bytes, expected at most 2^31 − 1");
        if (indices.Length < 1)
            throw new ArgumentException($"{what}: an empty index buffer, expected at least one sample");
        if (output.Rank != 4 || output.Dim(0) != indices.Length || output.Dim(1) != 3)
            throw new ArgumentException($"{what}: output {Tensor.Format(output.Shape)}, expected ({indices.Length}, 3, OH, OW)");
        return new AugmentShape
        {
            Batch = (int)indices.Length,
            Images = (int)(images.Length / perImage),
            Height = height, Width = width,
            OutHeight = output.Dim(2), OutWidth = output.Dim(3),
        };
    }
}
