using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace ByolIlgpu.Bench.Torch;

/// <summary>
/// torchvision's BasicBlock: y = ReLU(BN(conv3×3(ReLU(BN(conv3×3_stride(x))))) + shortcut(x)), the shortcut
/// a 1×1 strided conv + BN (downsample.0 / downsample.1) where the shape changes. ReLUs and the residual
/// add are in place, as torchvision writes them.
/// </summary>
public sealed class TorchBasicBlock : Module<Tensor, Tensor>
{
    // Field names are the parameter names (RegisterComponents).
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Conv2d conv2;
    readonly BatchNorm2d bn2;
    readonly Sequential? downsample;

    public TorchBasicBlock(int inChannels, int outChannels, int stride) : base(nameof(TorchBasicBlock))
    {
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        conv2 = Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
            downsample = Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = F.relu(bn1.forward(conv1.forward(x)), inplace: true);
        h = bn2.forward(conv2.forward(h));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return F.relu(h.add_(shortcut), inplace: true);
    }
}

/// <summary>
/// ResNet-18 for 32×32 images (the CIFAR variant of torchvision's resnet18), ByolIlgpu's backbone:
/// conv1 3×3 stride 1 pad 1 without bias, BN, ReLU, no max-pool; four stages of two BasicBlocks at
/// w, 2w, 4w, 8w channels (stride 2 at the first block of stages 2–4); global average pooling to 8w
/// features; no classifier. (N, 3, H, W) → (N, 8w).
/// </summary>
public sealed class TorchResNet18 : Module<Tensor, Tensor>
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Sequential layer1, layer2, layer3, layer4;

    public TorchResNet18(int width = 64) : base(nameof(TorchResNet18))
    {
        if (width < 1)
            throw new ArgumentOutOfRangeException(nameof(width), width, "the backbone's base width must be at least 1");
        Width = width;
        conv1 = Conv2d(3, width, 3, stride: 1, padding: 1, bias: false);
        bn1 = BatchNorm2d(width);
        layer1 = Stage(width, width, 1);
        layer2 = Stage(width, 2 * width, 2);
        layer3 = Stage(2 * width, 4 * width, 2);
        layer4 = Stage(4 * width, 8 * width, 2);
        RegisterComponents();
    }

    static Sequential Stage(int inChannels, int outChannels, int stride) =>
        Sequential(new TorchBasicBlock(inChannels, outChannels, stride), new TorchBasicBlock(outChannels, outChannels, 1));

    public int Width { get; }
    public int FeatureDim => 8 * Width;

    public override Tensor forward(Tensor x)
    {
        var h = F.relu(bn1.forward(conv1.forward(x)), inplace: true);
        h = layer4.forward(layer3.forward(layer2.forward(layer1.forward(h))));
        return F.adaptive_avg_pool2d(h, 1).flatten(1);
    }
}

/// <summary>BYOL's projector / predictor: Linear(in → hidden) → BatchNorm1d(hidden) → ReLU → Linear(hidden → out), names 0, 1, 2, 3.</summary>
public static class TorchMlpHead
{
    public static Sequential Create(int inFeatures, int hidden, int outFeatures) =>
        Sequential(Linear(inFeatures, hidden), BatchNorm1d(hidden), ReLU(inplace: true), Linear(hidden, outFeatures));
}
