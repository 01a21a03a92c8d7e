using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Reference;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The whole backbone through the tape against the plain double-precision ResNet-18.</summary>
public abstract class ResNet18Tests : BackendTest
{
    [Fact]
    public void ParameterCountsAtWidth64()
    {
        Assert.Equal(11_168_832, ResNet18.ParameterCount(64));
        using var store = new ParameterStore(Device);
        _ = new ResNet18(store, width: 64);
        Assert.Equal(11_168_832, store.Parameters.Sum(p => (long)p.Length));
        Assert.Equal(555_417_600, ResNet18.ConvMultiplyAdds(64));   // ≈ 0.555 GMAC per 32×32 image
    }

    [Fact]
    public void TensorNamesFollowTorchvision()
    {
        using var store = new ParameterStore(Device);
        _ = new ResNet18(store, width: 4);
        var names = store.Parameters.Select(p => p.Name).Concat(store.Buffers.Select(b => b.Name)).ToHashSet();
        foreach (var expected in new[] { "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                     "layer1.0.conv1.weight", "layer1.1.bn2.bias", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                     "layer4.1.conv2.weight" })
            Assert.Contains(expected, names);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", names);
        Assert.Equal(60, store.Parameters.Count);   // torchvision's 62 less fc.weight and fc.bias
    }

    [Theory]
    [InlineData(ResNet18.CifarStem)]
    [InlineData(ResNet18.ImageNetStem)]
    public void ForwardAndBackwardMatchTheDoubleReference(string stem)
    {
        // The ImageNet stem quarters the side before layer1: 36 px (ragged: 18 after conv1, 9 after the pool) leaves 2×2 at layer4.
        int width = Large ? 8 : 4, batch = 2, size = stem == ResNet18.ImageNetStem ? (Large ? 72 : 36) : (Large ? 32 : 16);
        using var store = new ParameterStore(Device);
        var net = new ResNet18(store, width, stem: stem);
        store.Build(seed: 11);
        var host = store.ValuesToHost();
        var parameters = store.Parameters.ToDictionary(p => p.Name, p => host.Skip(p.Offset).Take(p.Length).Select(v => (double)v).ToArray());
        var images = Rand.UniformF(1, batch * 3 * size * size);
        var dFeatures = Rand.UniformF(2, batch * net.FeatureDim);

        var reference = new ResNet18Reference(parameters, batch, width, stem);
        var expected = reference.Forward(images, size, size);
        reference.Backward(dFeatures);

        var tape = NewTape();
        store.ZeroGrad();
        var features = net.Forward(tape, Tensor.FromHost(Device, "images", images.ToFloat(), batch, 3, size, size), training: true);
        Check.Close(features.ToHost(), expected, "resnet18 features", atol: 1e-3, rtol: 1e-3);
        // Backward of the fake loss Σ features·dF.
        tape.Backward(features, Tensor.FromHost(Device, "dF", dFeatures.ToFloat(), batch, net.FeatureDim));
        var grads = store.GradsToHost();
        foreach (var p in store.Parameters)
        {
            var got = grads.Skip(p.Offset).Take(p.Length).ToArray();
            var want = reference.Grads[p.Name];
            // Twenty layers of float sums and BN divisions: relative error ~1e-4 of the gradient's scale.
            double scale = want.Max(Math.Abs);
            Check.Close(got, want, $"gradient of {p.Name}", atol: 2e-3 * scale + 1e-6, rtol: 2e-3);
        }
        Check.NotAllZero(reference.Grads["conv1.weight"], "conv1 gradient");
    }
}

public sealed class CpuResNet18Tests : ResNet18Tests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClResNet18Tests : ResNet18Tests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

/// <summary>
/// At realistic size (OpenCL, CUDA): the full-width ResNet-18 forward and backward at batch 8 with the
/// device's default (fast) kernels against the same network run on the version-1 kernels.
/// </summary>
public abstract class FullWidthResNet18Tests
{
    protected abstract ComputeDevice Device { get; }

    [Fact]
    public void FastKernelsMatchTheNaiveKernelsAtFullWidth()
    {
        var device = Device;
        const int batch = 8;
        using var store = new ParameterStore(device);
        var net = new ResNet18(store, width: 64);
        store.Build(seed: 12);
        var images = Rand.UniformF(1, batch * 3 * 32 * 32).ToFloat();
        var dFeatures = Rand.UniformF(2, batch * net.FeatureDim).ToFloat();

        (float[] features, float[] grads) Run(bool naive)
        {
            device.ForcedVersions.Clear();
            if (naive)
                foreach (var family in new[] { "conv2d", "matmul", "batchnorm" })
                    device.ForcedVersions[family] = 1;
            try
            {
                device.Pool.ReleaseAll();
                var tape = new Tape(device);
                store.ZeroGrad();
                var f = net.Forward(tape, Tensor.FromHost(device, "images", images, batch, 3, 32, 32), training: true);
                var features = f.ToHost();
                tape.Backward(f, Tensor.FromHost(device, "dF", dFeatures, batch, net.FeatureDim));
                return (features, store.GradsToHost());
            }
            finally
            {
                device.ForcedVersions.Clear();
            }
        }

        var naive = Run(naive: true);
        var fast = Run(naive: false);
        Check.Close(fast.features, naive.features.Select(v => (double)v).ToArray(), "features, fast vs naive kernels", atol: 1e-3, rtol: 1e-3);
        // Gradients: element-wise bounds fail on a few elements from rounding alone (see Check.RelativeL2).
        var errors = store.Parameters.Select(p => (p.Name, error: Check.RelativeL2(
            fast.grads.Skip(p.Offset).Take(p.Length).ToArray(),
            naive.grads.Skip(p.Offset).Take(p.Length).Select(v => (double)v).ToArray(),
            $"gradient of {p.Name}, fast vs naive", 1e-2))).ToList();
        var worst = errors.MaxBy(e => e.error);
        TestContext.Current.SendDiagnosticMessage($"worst relative L2 gradient error: {worst.Name} {worst.error:G3}");
    }
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClFullWidthResNet18Tests : FullWidthResNet18Tests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
}

[Trait("Backend", "CUDA")]
public sealed class CudaFullWidthResNet18Tests : FullWidthResNet18Tests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
}

[Trait("Backend", "CUDA")]
public sealed class CudaResNet18Tests : ResNet18Tests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
