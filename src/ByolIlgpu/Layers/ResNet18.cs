using ByolIlgpu.Engine;

namespace ByolIlgpu.Layers;

/// <summary>
/// torchvision's BasicBlock: y = ReLU(BN(conv3×3(ReLU(BN(conv3×3_stride(x))))) + shortcut(x)), the
/// shortcut a 1×1 strided conv + BN where the shape changes (named downsample.0 / downsample.1).
/// </summary>
public sealed class BasicBlock
{
    public BasicBlock(ParameterStore store, string name, int inChannels, int outChannels, int stride)
    {
        Conv1 = new Conv2d(store, name + ".conv1", inChannels, outChannels, 3, stride, 1);
        Bn1 = new BatchNorm(store, name + ".bn1", outChannels);
        Conv2 = new Conv2d(store, name + ".conv2", outChannels, outChannels, 3, 1, 1);
        Bn2 = new BatchNorm(store, name + ".bn2", outChannels);
        if (stride != 1 || inChannels != outChannels)
        {
            DownsampleConv = new Conv2d(store, name + ".downsample.0", inChannels, outChannels, 1, stride, 0);
            DownsampleBn = new BatchNorm(store, name + ".downsample.1", outChannels);
        }
    }

    public Conv2d Conv1 { get; }
    public BatchNorm Bn1 { get; }
    public Conv2d Conv2 { get; }
    public BatchNorm Bn2 { get; }
    public Conv2d? DownsampleConv { get; }
    public BatchNorm? DownsampleBn { get; }

    public IEnumerable<BatchNorm> BatchNorms => DownsampleBn is null ? [Bn1, Bn2] : [Bn1, Bn2, DownsampleBn];

    public Tensor Forward(Tape tape, Tensor x, bool training)
    {
        var h = Bn1.ForwardRelu(tape, Conv1.Forward(tape, x), training);
        h = Conv2.Forward(tape, h);
        // The shortcut first, so that bn2, the join and its ReLU are one fused op.
        var shortcut = DownsampleConv is null ? x : DownsampleBn!.Forward(tape, DownsampleConv.Forward(tape, x), training);
        return Bn2.ForwardRelu(tape, h, training, residual: shortcut);
    }
}

/// <summary>
/// ResNet-18 with one of two stems. CIFAR (the usual variant for 32×32 images): conv1 3×3 stride 1 pad 1
/// without bias, BN, ReLU, no max-pool. ImageNet (torchvision's resnet18, for 64 px and up): conv1 7×7
/// stride 2 pad 3 without bias, BN, ReLU, max-pool 3×3 stride 2 pad 1 (a quarter of the side). Then four stages of two BasicBlocks at w, 2w, 4w, 8w channels
/// (stride 2 at the first block of stages 2–4); global average pooling to 8w features; no classifier.
/// Base width w = 64 gives the standard network (512-d features, 11,168,832 parameters); narrower
/// widths give the same network for tests and CPU runs. Tensor names follow torchvision.
/// </summary>
public sealed class ResNet18
{
    /// <summary>The stems: CIFAR's 3×3 stride-1 conv1 without max-pool; torchvision's ImageNet 7×7 stride-2 pad-3 conv1 and 3×3 stride-2 pad-1 max-pool.</summary>
    public const string CifarStem = "cifar", ImageNetStem = "imagenet";
    public static readonly string[] Stems = [CifarStem, ImageNetStem];

    public ResNet18(ParameterStore store, int width = 64, string prefix = "", string stem = CifarStem)
    {
        if (width < 1)
            throw new ArgumentOutOfRangeException(nameof(width), width, "the backbone's base width must be at least 1");
        if (!Stems.Contains(stem))
            throw new ArgumentOutOfRangeException(nameof(stem), stem, $"expected one of {string.Join(", ", Stems)}");
        Width = width;
        Stem = stem;
        Conv1 = stem == ImageNetStem
            ? new Conv2d(store, prefix + "conv1", 3, width, 7, 2, 3)
            : new Conv2d(store, prefix + "conv1", 3, width, 3, 1, 1);
        Bn1 = new BatchNorm(store, prefix + "bn1", width);
        var blocks = new List<BasicBlock>();
        int inChannels = width;
        for (int stage = 0; stage < 4; stage++)
        {
            int outChannels = width << stage;
            for (int b = 0; b < 2; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                blocks.Add(new BasicBlock(store, $"{prefix}layer{stage + 1}.{b}", inChannels, outChannels, stride));
                inChannels = outChannels;
            }
        }
        Blocks = blocks;
    }

    public int Width { get; }
    public string Stem { get; }
    public int FeatureDim => 8 * Width;
    public Conv2d Conv1 { get; }
    public BatchNorm Bn1 { get; }
    public IReadOnlyList<BasicBlock> Blocks { get; }

    public IEnumerable<BatchNorm> BatchNorms => Blocks.SelectMany(b => b.BatchNorms).Prepend(Bn1);

    /// <summary>(N, 3, H, W) images → (N, 8w) features.</summary>
    public Tensor Forward(Tape tape, Tensor images, bool training)
    {
        var h = Bn1.ForwardRelu(tape, Conv1.Forward(tape, images), training);
        if (Stem == ImageNetStem)
            h = Ops.Pool.MaxPool2d(tape, h, MaxPoolKernel, MaxPoolStride, MaxPoolPadding);
        foreach (var block in Blocks)
            h = block.Forward(tape, h, training);
        return Ops.Pool.GlobalAverage(tape, h);
    }

    /// <summary>The ImageNet stem's max-pool (torchvision's): 3×3, stride 2, padding 1.</summary>
    public const int MaxPoolKernel = 3, MaxPoolStride = 2, MaxPoolPadding = 1;

    /// <summary>conv1's filter size: 7 for the ImageNet stem, 3 for CIFAR's.</summary>
    public static int Conv1Kernel(string stem) => stem == ImageNetStem ? 7 : 3;

    /// <summary>Parameters of the backbone at base width w (conv weights + BN γ, β); the stems differ only in conv1 (3·w·9 or 3·w·49).</summary>
    public static long ParameterCount(int width, string stem = CifarStem)
    {
        int r = Conv1Kernel(stem);
        long count = 3L * width * r * r + 2L * width;   // conv1 + bn1
        int inChannels = width;
        for (int stage = 0; stage < 4; stage++)
        {
            int c = width << stage;
            for (int b = 0; b < 2; b++)
            {
                count += (long)inChannels * c * 9 + 2L * c + (long)c * c * 9 + 2L * c;
                if (inChannels != c)
                    count += (long)inChannels * c + 2L * c;
                inChannels = c;
            }
        }
        return count;
    }

    /// <summary>
    /// Multiply-adds of one forward pass of one H×W image through the convolutions. The CIFAR stem's conv1 keeps
    /// H×W; the ImageNet stem's 7×7 stride-2 conv1 gives ⌈H/2⌉×⌈W/2⌉ and its max-pool (no multiply-adds) ⌈·/2⌉ again.
    /// </summary>
    public static long ConvMultiplyAdds(int width, int height = 32, int imageWidth = 32, string stem = CifarStem)
    {
        if (height < 1 || imageWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(height), $"{height}×{imageWidth}: expected an image of at least 1×1");
        int h = height, w = imageWidth;
        long macs;
        if (stem == ImageNetStem)
        {
            h = (h + 2 * 3 - 7) / 2 + 1;
            w = (w + 2 * 3 - 7) / 2 + 1;
            macs = (long)h * w * 3 * width * 49;
            h = (h + 2 * MaxPoolPadding - MaxPoolKernel) / MaxPoolStride + 1;
            w = (w + 2 * MaxPoolPadding - MaxPoolKernel) / MaxPoolStride + 1;
        }
        else
            macs = (long)h * w * 3 * width * 9;
        int inChannels = width;
        for (int stage = 0; stage < 4; stage++)
        {
            int c = width << stage;
            for (int b = 0; b < 2; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
                macs += (long)oh * ow * c * inChannels * 9 + (long)oh * ow * c * c * 9;
                if (inChannels != c)
                    macs += (long)oh * ow * c * inChannels;
                inChannels = c;
                h = oh;
                w = ow;
            }
        }
        return macs;
    }
}
