using ByolIlgpu.Byol;
using ByolIlgpu.Cli;
using ByolIlgpu.Checkpoints;
using ILGPU;
using ILGPU.Runtime;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using Xunit;
using PoolRef = ByolIlgpu.Reference.Pool;

namespace ByolIlgpu.Tests;

/// <summary>
/// The ImageNet stem's max-pool against the double reference (ragged sizes, ties, padding that never wins, finite
/// differences, a bit-for-bit repeatable backward) and the evaluation transform at another size (Resize + CenterCrop).
/// </summary>
public abstract class MaxPoolTests : BackendTest
{
    /// <summary>Distinct values, ≥ 4/length apart, in random order: no two taps of a window within a finite-difference step.</summary>
    static double[] DistinctValues(int seed, int length)
    {
        var order = Enumerable.Range(0, length).ToArray();
        new Random(seed).Shuffle(order);
        return order.Select(i => (double)(float)((i - length / 2.0) * 4.0 / length + 0.5 / length)).ToArray();   // exact in float
    }

    [Theory]
    [InlineData(2, 3, 7, 5, 3, 2, 1)]    // torchvision's stem pool, odd sides
    [InlineData(2, 2, 8, 6, 3, 2, 1)]    // even sides
    [InlineData(1, 3, 5, 9, 2, 2, 0)]    // floor mode drops the last row and column
    [InlineData(2, 2, 6, 7, 3, 1, 1)]    // stride 1: every input in up to 9 windows
    [InlineData(1, 2, 9, 4, 3, 3, 0)]    // stride = window, no overlap
    [InlineData(1, 1, 4, 5, 4, 1, 2)]    // padding half the window: corner windows hold one input
    public void MaxPoolMatchesTheReferenceForwardAndBackward(int n, int c, int h, int w, int k, int s, int p)
    {
        if (Large) { n *= 4; c *= 8; h *= 3; w *= 3; }
        var tape = NewTape();
        var x = DistinctValues(1, n * c * h * w);
        int outH = PoolRef.OutputSize(h, k, s, p), outW = PoolRef.OutputSize(w, k, s, p);
        var dY = Rand.UniformF(2, n * c * outH * outW);
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, c, h, w);
        tx.RequiresGrad = true;
        var y = Ops.Pool.MaxPool2d(tape, tx, k, s, p);
        Assert.Equal([n, c, outH, outW], y.Shape);
        var (expected, argmax) = PoolRef.MaxPool2dForward(x, n * c, h, w, k, s, p);
        Check.Close(y.ToHost(), expected, "max pool forward", 0, 0);   // a max of floats is exact
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, c, outH, outW));
        var dX = tx.Grad!.ToHost();
        var dXRef = PoolRef.MaxPool2dBackward(argmax, dY, n * c, h, w, outH, outW);
        Check.Close(dX, dXRef, "max pool dX", 1e-6, 1e-6);
        Check.NotAllZero(dXRef, "max pool dX");
        if (!Large)
            FiniteDifference.Assert(dX, v => FiniteDifference.Dot(PoolRef.MaxPool2dForward(v, n * c, h, w, k, s, p).y, dY), x, "max pool dX (finite differences)");
    }

    [Fact]
    public void TiesGoToTheFirstMaximumAndPaddingNeverWins()
    {
        int n = 2, c = 2, h = 7, w = 6;
        // Three levels only, all negative: windows full of ties, and a zero from padding would win every border window.
        var x = Enumerable.Range(0, n * c * h * w).Select(i => -1.0 - 0.5 * (i * 7 % 3)).ToArray();
        var dY = Rand.UniformF(3, n * c * 4 * 3);
        var tape = NewTape();
        var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, c, h, w);
        tx.RequiresGrad = true;
        var y = Ops.Pool.MaxPool2d(tape, tx, 3, 2, 1);
        var (expected, argmax) = PoolRef.MaxPool2dForward(x, n * c, h, w, 3, 2, 1);
        var got = y.ToHost();
        Check.Close(got, expected, "max pool of ties", 0, 0);
        Assert.All(got, v => Assert.True(v < 0, $"padding won: {v}"));
        tape.Backward(y, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, c, 4, 3));
        // Each window's gradient lands on its first maximum in scan order, nowhere else.
        Check.Close(tx.Grad!.ToHost(), PoolRef.MaxPool2dBackward(argmax, dY, n * c, h, w, 4, 3), "max pool dX with ties", 1e-6, 1e-6);
        // Window (0, 0) holds rows 0–1, columns 0–1 of plane 0: −1, −1.5 / −1, −1.5; the tie at −1 goes to (0, 0), not (1, 0).
        Assert.Equal((-1.0, -1.0, 0), (x[0], x[w], argmax[0]));
    }

    [Fact]
    public void TheBackwardIsRepeatableBitForBitAndAddsIntoAnExistingGradient()
    {
        int n = 2, c = 3, h = 9, w = 8;
        var x = DistinctValues(4, n * c * h * w);
        var dY = Rand.UniformF(5, n * c * 5 * 4);
        float[] Backward(bool twice)
        {
            var tape = NewTape();
            var tx = Tensor.FromHost(Device, "x", x.ToFloat(), n, c, h, w);
            tx.RequiresGrad = true;
            var y = Ops.Pool.MaxPool2d(tape, tx, 3, 2, 1);
            // Used twice, x's gradient is written by one backward and added to by the other.
            var sum = twice ? Ops.Residual.AddRelu(tape, y, Ops.Pool.MaxPool2d(tape, tx, 3, 2, 1)) : y;
            tape.Backward(sum, Tensor.FromHost(Device, "dY", dY.ToFloat(), n, c, 5, 4));
            return tx.Grad!.ToHost();
        }
        var first = Backward(false);
        Assert.Equal(first, Backward(false));
        var doubled = Backward(true);
        var (y, argmax) = PoolRef.MaxPool2dForward(x, n * c, h, w, 3, 2, 1);
        var masked = dY.Select((d, i) => 2 * y[i] > 0 ? d : 0).ToArray();
        var once = PoolRef.MaxPool2dBackward(argmax, masked, n * c, h, w, 5, 4);
        Check.Close(doubled, once.Select(v => 2 * v).ToArray(), "max pool dX, x used twice", 1e-6, 1e-6);
    }

    [Fact]
    public void BadWindowsAreOneLineErrors()
    {
        var tape = NewTape();
        var x = Tensor.FromHost(Device, "x", Rand.UniformF(6, 2 * 3 * 4 * 4).ToFloat(), 2, 3, 4, 4);
        Assert.Contains("padding 2 exceeds half the kernel 3", Assert.Throws<ArgumentException>(() => Ops.Pool.MaxPool2d(tape, x, 3, 2, 2)).Message);
        Assert.Contains("smaller than the 7×7 window", Assert.Throws<ArgumentException>(() => Ops.Pool.MaxPool2d(tape, x, 7, 1, 1)).Message);
    }

    [Theory]
    [InlineData(13, 9, 8)]     // downscale, portrait: the centre crop cuts rows
    [InlineData(7, 12, 10)]    // upscale, landscape
    [InlineData(20, 20, 8)]    // square downscale: no crop
    [InlineData(10, 10, 10)]   // same size: the plain evaluation transform
    public void TheEvaluationTransformResizesByTheShorterSideAndCentreCrops(int height, int width, int size)
    {
        int count = 3;
        var images = new byte[count * 3 * height * width];
        new Random(height * 100 + width).NextBytes(images);
        int[] indices = [2, 0, 1, 2];
        Device.Pool.ReleaseAll();
        using var img = Device.Accelerator.Allocate1D(images);
        using var idx = Device.Accelerator.Allocate1D(indices);
        var output = Tensor.Temp(Device, "eval", indices.Length, 3, size, size);
        Augmentation.EvalTransform(Device, img.View, idx.View, output, height, width);
        var got = output.ToHost();
        int plane = 3 * size * size;
        for (int b = 0; b < indices.Length; b++)
            Check.Close(got.AsSpan(b * plane, plane).ToArray(),
                Reference.Augment.EvalResized(images, indices[b], height, width, size, ChannelNormalization.Cifar10), $"eval transform of sample {b}", 1e-4, 1e-4);
    }

    [Fact]
    public void TheReferenceResizeIsTorchvisionsAntialiasedBilinear()
    {
        // A 4×4 image halved: along each axis the first output pixel averages source 0, 1, 2 with weights (¾, ¾, ¼)/1.75.
        var images = new byte[3 * 4 * 4];
        for (int i = 0; i < 16; i++)
            images[i] = (byte)(10 * (i / 4) + i % 4);   // channel 0 = 10·row + column
        var y = Reference.Augment.EvalResized(images, 0, 4, 4, 2, ChannelNormalization.Identity);
        double[] w = [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75];
        double row = w[0] * 0 + w[1] * 10 + w[2] * 20, col = w[0] * 0 + w[1] * 1 + w[2] * 2;
        Assert.Equal((row + col) / 255, y[0], 12);
        // Resize(8) + CenterCrop(8) of 13×9: the shorter side 9 → 8, the longer ⌊8·13/9⌋ = 11, crop rows from round(1.5) = 2.
        var r = Augmentation.CenterCropResize(13, 9, 8);
        Assert.Equal((11, 8, 2, 0), (r.ResizedHeight, r.ResizedWidth, r.Top, r.Left));
        var same = Augmentation.CenterCropResize(12, 12, 12);
        Assert.Equal((12, 12, 0, 0), (same.ResizedHeight, same.ResizedWidth, same.Top, same.Left));
    }
}

public sealed class CpuMaxPoolTests : MaxPoolTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClMaxPoolTests : MaxPoolTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

/// <summary>The image size, the stem and the blur: defaults, arithmetic, the command line, and a run at 64 px.</summary>
public class ImageSizeTests
{
    [Theory]
    [InlineData(32, 0, "cifar", false, 3)]
    [InlineData(32, 48, "cifar", false, 5)]
    [InlineData(96, 0, "imagenet", true, 9)]
    [InlineData(96, 64, "imagenet", true, 7)]
    [InlineData(32, 64, "imagenet", true, 7)]
    [InlineData(224, 0, "imagenet", true, 23)]
    public void TheStemAndTheBlurFollowTheImageSizeUnlessGiven(int dataSize, int imageSize, string stem, bool blur, int taps)
    {
        var config = new TrainingConfig { ImageSize = imageSize, AutoStem = true }.ResolveFor(dataSize, dataSize);
        Assert.Equal(imageSize > 0 ? imageSize : dataSize, config.ImageSize);
        Assert.Equal(stem, config.Architecture.Stem);
        Assert.Equal(blur, config.Blur);
        Assert.False(config.AutoStem);
        Assert.Equal(taps, AugmentationConfig.BlurTaps(config.ImageSize));
        Assert.Equal(config, config.ResolveFor(7, 7));   // resolved once, recorded: a second resolution changes nothing
        // Given explicitly, they stay.
        var given = new TrainingConfig { ImageSize = imageSize, Blur = !blur, Architecture = new ByolArchitecture { Stem = "cifar" } }.ResolveFor(dataSize, dataSize);
        Assert.Equal(("cifar", !blur), (given.Architecture.Stem, given.Blur));
    }

    [Fact]
    public void AConfigurationWrittenBeforeTheFieldsExistedRunsTheCifarStemAtTheDataSizeWithoutBlur()
    {
        var old = TrainingConfig.FromJson("""{ "synthetic": 10, "blur": false, "architecture": { "width": 4 } }""", "old.json");
        Assert.Equal(0, old.ImageSize);
        var resolved = old.ResolveFor(32, 32);
        Assert.Equal(("cifar", false, 32), (resolved.Architecture.Stem, resolved.Blur, resolved.ImageSize));
        var roundTrip = TrainingConfig.FromJson(resolved.ToJson(), "config.json");
        Assert.Equal(resolved, roundTrip);
        Assert.Contains("\"image-size\": 32", resolved.ToJson());
        Assert.Contains("\"stem\": \"cifar\"", resolved.ToJson());
    }

    [Fact]
    public void ConvolutionArithmeticMatchesAHandCount()
    {
        // CIFAR stem at 32 px, width 64: conv1 32²·3·64·9 = 1,769,472; stage 1 four 3×3 64→64 at 32²: 4·32²·64·64·9 = 150,994,944;
        // stages 2–4 (16², 8², 4²): 16²·128·(64 + 3·128)·9 + 16²·128·64, and so on; 555,417,600 in all.
        long Stage(int side, int cin, int c) => (long)side * side * c * 9 * (cin + 3 * c) + (long)side * side * c * cin;
        long cifar32 = 32L * 32 * 3 * 64 * 9 + 4L * 32 * 32 * 64 * 64 * 9 + Stage(16, 64, 128) + Stage(8, 128, 256) + Stage(4, 256, 512);
        Assert.Equal(555_417_600, cifar32);
        Assert.Equal(cifar32, ResNet18.ConvMultiplyAdds(64, 32, 32, ResNet18.CifarStem));
        // ImageNet stem at 224 px: conv1 112²·3·64·49, max-pool to 56², then the stages at 56², 28², 14², 7²:
        // 1,813,561,344: torchvision's "1.81 GFLOPS" for resnet18 (its table counts multiply-adds; the 512·1000 classifier adds 0.03%).
        long imagenet224 = 112L * 112 * 3 * 64 * 49 + 4L * 56 * 56 * 64 * 64 * 9 + Stage(28, 64, 128) + Stage(14, 128, 256) + Stage(7, 256, 512);
        Assert.Equal(1_813_561_344, imagenet224);
        Assert.Equal(imagenet224, ResNet18.ConvMultiplyAdds(64, 224, 224, ResNet18.ImageNetStem));
        // 64 px: conv1 to 32², pool to 16², stages at 16², 8², 4², 2²; 96 px: 48², 24², then 24², 12², 6², 3².
        long imagenet64 = 32L * 32 * 3 * 64 * 49 + 4L * 16 * 16 * 64 * 64 * 9 + Stage(8, 64, 128) + Stage(4, 128, 256) + Stage(2, 256, 512);
        Assert.Equal(imagenet64, ResNet18.ConvMultiplyAdds(64, 64, 64, ResNet18.ImageNetStem));
        long imagenet96 = 48L * 48 * 3 * 64 * 49 + 4L * 24 * 24 * 64 * 64 * 9 + Stage(12, 64, 128) + Stage(6, 128, 256) + Stage(3, 256, 512);
        Assert.Equal(imagenet96, ResNet18.ConvMultiplyAdds(64, 96, 96, ResNet18.ImageNetStem));
        // Odd sides round up at each stride-2 step (⌊(H − 1)/2⌋ + 1): 33 px CIFAR → 33², 17², 9², 5².
        long cifar33 = 33L * 33 * 3 * 64 * 9 + 4L * 33 * 33 * 64 * 64 * 9 + Stage(17, 64, 128) + Stage(9, 128, 256) + Stage(5, 256, 512);
        Assert.Equal(cifar33, ResNet18.ConvMultiplyAdds(64, 33, 33, ResNet18.CifarStem));

        var cifar = new ByolArchitecture();
        var imagenet = cifar with { Stem = ResNet18.ImageNetStem };
        Assert.Equal(11_168_832, cifar.BackboneParameters);
        Assert.Equal(11_168_832 + 3L * 64 * (49 - 9), imagenet.BackboneParameters);   // torchvision's 11,689,512 less fc's 513,000
        Assert.Equal(11_689_512 - 513_000, imagenet.BackboneParameters);
        // A BYOL step: 2 views × 2 FLOP per MAC × (3 × student forward + teacher forward); the heads' share does not change with the size.
        double heads = 512.0 * 4096 + 4096.0 * 256, predictor = 256.0 * 4096 + 4096.0 * 256;
        Assert.Equal(4 * (3 * (imagenet96 + heads + predictor) + imagenet96 + heads), ByolFlops.PerImage(imagenet, 96, 96));
        Assert.Equal(4 * (3 * (cifar32 + heads + predictor) + cifar32 + heads), ByolFlops.PerImage(cifar));
        using var store = new ParameterStore(TestDevices.Cpu);
        _ = new ResNet18(store, width: 64, stem: ResNet18.ImageNetStem);
        Assert.Equal(imagenet.BackboneParameters, store.Parameters.Sum(p => (long)p.Length));
        Assert.Equal([64, 3, 7, 7], store.Parameters.Single(p => p.Name == "conv1.weight").Shape);
    }

    [Theory]
    [InlineData(new[] { "--image-size", "96" }, "imagenet stem) for 96×96", "0.333 GMAC")]
    [InlineData(new[] { "--image-size", "96", "--stem", "cifar" }, "cifar stem) for 96×96", "4.999 GMAC")]
    [InlineData(new[] { "--image-size", "64" }, "imagenet stem) for 64×64", "0.148 GMAC")]
    [InlineData(new string[0], "cifar stem) for 32×32", "0.555 GMAC")]
    [InlineData(new[] { "--stem", "imagenet" }, "imagenet stem) for 32×32", "0.037 GMAC")]
    public void InfoShowsTheArithmeticAtTheChosenSizeAndStem(string[] args, string header, string macs)
    {
        var (code, output, error) = InProcessCli.Run(["info", .. args]);
        Assert.True(code == 0, error);
        Assert.Contains(header, output);
        Assert.Contains(macs, output);
        Assert.Contains("GFLOP per image", output);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("info")]
    public void HelpExplainsTheSizeTheStemAndTheBlur(string command)
    {
        var (code, output, _) = InProcessCli.Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("--image-size", output);
        Assert.Contains("--stem", output);
        Assert.Contains("imagenet from 64 px", output);
        if (command == "train")
            Assert.Contains("on from 64 px", output);   // the blur's default
    }

    [Theory]
    [InlineData("train", "--image-size", "4", "--synthetic", "10")]
    [InlineData("train", "--stem", "vgg", "--synthetic", "10")]
    [InlineData("train", "--blur", "maybe", "--synthetic", "10")]
    [InlineData("info", "--image-size", "0")]
    public void BadSizesStemsAndBlursAreUsageErrors(params string[] args)
    {
        var (code, _, error) = InProcessCli.Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("byol: ", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void TrainRecordsTheResolvedSizeStemAndBlurAndEvalUsesThem()
    {
        // --blur alone means true, --blur false off, and without it the run decides (null).
        var train = TrainCommand.Create();
        bool? Blur(string args) => train.Parse(args).GetValue<bool?>("--blur");
        Assert.Equal((true, false, (bool?)null), (Blur("--blur"), Blur("--blur false"), Blur("--synthetic 4")));
        Assert.Null(train.Parse("--synthetic 4").GetValue<string?>("--stem"));

        using var dir = new Data.Scratch();
        var (code, output, error) = InProcessCli.Run("train", "--synthetic", "8", "--image-size", "64", "--blur", "false", "--run-dir", dir.Path,
            "--epochs", "1", "--batch-size", "4", "--width", "2", "--proj-hidden", "8", "--proj-out", "4", "--pred-hidden", "8",
            "--device", "cpu", "--knn-every", "0", "--checkpoint-every", "0", "--knn-k", "5");
        Assert.True(code == 0, error);
        Assert.Contains("imagenet stem, 64 px views, batch", output);
        var saved = TrainingConfig.FromJson(File.ReadAllText(Path.Combine(dir.Path, "config.json")), "config.json");
        Assert.Equal((64, "imagenet", false), (saved.ImageSize, saved.Architecture.Stem, saved.Blur));
        // The checkpoint's size and stem: eval on 32-px synthetic images resizes them to 64 px for the imagenet-stem network.
        (code, output, error) = InProcessCli.Run("eval", "knn", "--checkpoint", dir.Path, "--synthetic", "10", "--k", "3", "--device", "cpu");
        Assert.True(code == 0, error);
        Assert.Contains("knn top1", output);
    }

    [Fact]
    public void TheAugmentationPreviewShowsViewsAtTheImageSize()
    {
        using var dir = new Data.Scratch();
        var png = Path.Combine(dir.Path, "grid.png");
        var (code, _, error) = InProcessCli.Run("augment", "--synthetic", "4", "--count", "3", "--image-size", "48", "--blur", "--device", "cpu", "--out", png);
        Assert.True(code == 0, error);
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        // Cells of 48 px at scale ⌊128/48⌋ = 2, with 4-px gaps: 3 columns, 3 rows (original, view 1, view 2).
        Assert.Equal((3 * (96 + 4) + 4, 3 * (96 + 4) + 4), (bitmap.Width, bitmap.Height));
    }

    [Fact]
    public void AShortRunAt64PxWithTheImageNetStemTrainsResumesAndEvaluates()
    {
        using var dir = new Data.Scratch();
        var config = new TrainingConfig
        {
            Synthetic = 16,
            ImageSize = 64,
            AutoStem = true,
            Epochs = 2,
            BatchSize = 8,
            Architecture = new ByolArchitecture(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16),
            WarmupEpochs = 1,
            Device = "cpu",
            KnnEvery = 0,
            KnnK = 5,
            CheckpointEvery = 1,
            RunDir = dir.Path,
        };
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        Assert.Equal((64, 64), (train.Height, train.Width));
        TrainingResult Run(int? stopAfter, string? resumeFrom)
        {
            using var trainer = new Trainer(config, TestDevices.Cpu, train, test, new PlainProgress(TextWriter.Null));
            Assert.Equal(ResNet18.ImageNetStem, trainer.Model.Architecture.Stem);
            if (resumeFrom is not null)
                trainer.Resume(resumeFrom);
            return trainer.Run(stopAfter);
        }
        var whole = Run(null, null);
        Assert.Equal(2, whole.EpochsDone);
        Assert.InRange(whole.FinalLoss, 0, 8);
        Assert.NotNull(whole.FinalKnn);
        var final = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(dir.Path)!).Tensors;
        Assert.Equal([2, 3, 7, 7], final["conv1.weight"].Shape);
        // Stopped after epoch 1 and resumed: the same final weights, bit for bit (the max-pool's backward is a gather).
        using var dir2 = new Data.Scratch();
        config = config with { RunDir = dir2.Path };
        Run(1, null);
        var resumed = Run(null, CheckpointFolder.List(dir2.Path).Single(c => c.Epoch == 1).Path);
        Assert.Equal(whole.FinalLoss, resumed.FinalLoss);
        var again = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(dir2.Path)!).Tensors;
        foreach (var name in final.Names)
            Assert.True(final[name].Bytes.AsSpan().SequenceEqual(again[name].Bytes), $"{name} differs after the resume");
    }
}
