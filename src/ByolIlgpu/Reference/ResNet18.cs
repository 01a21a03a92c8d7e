using ByolIlgpu.Kernels;

namespace ByolIlgpu.Reference;

/// <summary>
/// ResNet-18 (the CIFAR stem, or torchvision's ImageNet stem: 7×7 stride-2 conv1 and 3×3 stride-2 max-pool), forward and backward, in plain double precision: the maths of the
/// whole backbone in one file. Each layer computes its output and records a closure that, given the
/// output's gradient, adds into its input's and parameters' gradients; <see cref="Backward"/> runs
/// them in reverse (the engine's tape, without a device). BatchNorm is in training mode.
/// Parameters are looked up by torchvision name (conv1.weight, layer2.0.downsample.1.bias, …).
/// </summary>
public sealed class ResNet18Reference
{
    /// <summary>An activation (N, C, H, W) and its gradient buffer.</summary>
    sealed record Activation(double[] Value, int C, int H, int W)
    {
        public double[] Grad { get; } = new double[Value.Length];
    }

    readonly IReadOnlyDictionary<string, double[]> parameters;
    readonly List<Action> backward = new();
    readonly int n, width;
    readonly string stem;
    const double Eps = 1e-5;
    Activation? output;

    public ResNet18Reference(IReadOnlyDictionary<string, double[]> parameters, int batch, int width, string stem = Layers.ResNet18.CifarStem)
    {
        this.parameters = parameters;
        this.stem = stem;
        n = batch;
        this.width = width;
    }

    /// <summary>Gradients by parameter name, filled by <see cref="Backward"/>.</summary>
    public Dictionary<string, double[]> Grads { get; } = new();

    /// <summary>Images (N, 3, H, W) → features (N, 8w).</summary>
    public double[] Forward(double[] images, int height, int imageWidth)
    {
        var x = new Activation(images, 3, height, imageWidth);
        var h = stem == Layers.ResNet18.ImageNetStem
            ? MaxPool(Relu(BatchNorm(Conv(x, "conv1", width, 7, 2, 3), "bn1")), 3, 2, 1)
            : Relu(BatchNorm(Conv(x, "conv1", width, 3, 1, 1), "bn1"));
        int inChannels = width;
        for (int stage = 0; stage < 4; stage++)
        {
            int channels = width << stage;
            for (int b = 0; b < 2; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                string name = $"layer{stage + 1}.{b}";
                var branch = Relu(BatchNorm(Conv(h, name + ".conv1", channels, 3, stride, 1), name + ".bn1"));
                branch = BatchNorm(Conv(branch, name + ".conv2", channels, 3, 1, 1), name + ".bn2");
                var shortcut = inChannels == channels && stride == 1
                    ? h
                    : BatchNorm(Conv(h, name + ".downsample.0", channels, 1, stride, 0), name + ".downsample.1");
                h = AddRelu(branch, shortcut);
                inChannels = channels;
            }
        }
        output = GlobalAveragePool(h);
        return output.Value;
    }

    /// <summary>Backpropagates d(loss)/d(features) through every recorded layer.</summary>
    public void Backward(double[] dFeatures)
    {
        var last = output ?? throw new InvalidOperationException("Forward first");
        Array.Copy(dFeatures, last.Grad, dFeatures.Length);
        for (int i = backward.Count - 1; i >= 0; i--)
            backward[i]();
    }

    double[] GradOf(string name)
    {
        if (!Grads.TryGetValue(name, out var g))
            Grads[name] = g = new double[parameters[name].Length];
        return g;
    }

    static void AddInto(double[] target, double[] values)
    {
        for (int i = 0; i < target.Length; i++)
            target[i] += values[i];
    }

    Activation Conv(Activation x, string name, int outChannels, int kernel, int stride, int pad)
    {
        var g = new Conv2dShape(n, x.C, x.H, x.W, outChannels, kernel, kernel, stride, pad);
        var w = parameters[name + ".weight"];
        var y = new Activation(Reference.Conv.Conv2dForward(x.Value, w, g), outChannels, g.P, g.Q);
        backward.Add(() =>
        {
            var (dX, dW) = Reference.Conv.Conv2dBackward(x.Value, w, y.Grad, g);
            AddInto(x.Grad, dX);
            AddInto(GradOf(name + ".weight"), dW);
        });
        return y;
    }

    Activation BatchNorm(Activation x, string name)
    {
        var gamma = parameters[name + ".weight"];
        var beta = parameters[name + ".bias"];
        int spatial = x.H * x.W;
        var (value, _, _) = Dense.BatchNormTrain(x.Value, gamma, beta, n, x.C, spatial, Eps);
        var y = new Activation(value, x.C, x.H, x.W);
        backward.Add(() =>
        {
            var (dX, dGamma, dBeta) = Dense.BatchNormBackward(x.Value, gamma, y.Grad, n, x.C, spatial, Eps);
            AddInto(x.Grad, dX);
            AddInto(GradOf(name + ".weight"), dGamma);
            AddInto(GradOf(name + ".bias"), dBeta);
        });
        return y;
    }

    Activation Relu(Activation x)
    {
        var y = new Activation(Dense.Relu(x.Value), x.C, x.H, x.W);
        backward.Add(() => AddInto(x.Grad, Dense.ReluBackward(y.Value, y.Grad)));
        return y;
    }

    /// <summary>y = max(a + b, 0): the gradient passes to both branches where y > 0.</summary>
    Activation AddRelu(Activation a, Activation b)
    {
        var y = new Activation(a.Value.Select((v, i) => Math.Max(v + b.Value[i], 0)).ToArray(), a.C, a.H, a.W);
        backward.Add(() =>
        {
            var d = Dense.ReluBackward(y.Value, y.Grad);
            AddInto(a.Grad, d);
            AddInto(b.Grad, d);
        });
        return y;
    }

    Activation MaxPool(Activation x, int kernel, int stride, int pad)
    {
        int planes = n * x.C;
        var (value, argmax) = Pool.MaxPool2dForward(x.Value, planes, x.H, x.W, kernel, stride, pad);
        var y = new Activation(value, x.C, Pool.OutputSize(x.H, kernel, stride, pad), Pool.OutputSize(x.W, kernel, stride, pad));
        backward.Add(() => AddInto(x.Grad, Pool.MaxPool2dBackward(argmax, y.Grad, planes, x.H, x.W, y.H, y.W)));
        return y;
    }

    Activation GlobalAveragePool(Activation x)
    {
        int spatial = x.H * x.W, planes = n * x.C;
        var value = new double[planes];
        for (int p = 0; p < planes; p++)
            for (int s = 0; s < spatial; s++)
                value[p] += x.Value[p * spatial + s] / spatial;
        var y = new Activation(value, x.C, 1, 1);
        backward.Add(() =>
        {
            for (int p = 0; p < planes; p++)
                for (int s = 0; s < spatial; s++)
                    x.Grad[p * spatial + s] += y.Grad[p] / spatial;
        });
        return y;
    }
}
