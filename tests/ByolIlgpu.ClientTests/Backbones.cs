using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.ClientTests;

/// <summary>
/// A BYOL model at a small width whose backbones are far from their initial state (every BatchNorm's
/// γ, β, running mean and variance drawn at random, different in student and teacher, and a
/// num_batches_tracked count), saved as a training checkpoint as the trainer saves one; the images
/// to run, and our evaluation-mode features of them (fp32, the CPU accelerator).
/// </summary>
public sealed class TestBackbone : IDisposable
{
    /// <summary>One CPU accelerator for the run, fp32 (the default there; set anyway: the reference precision).</summary>
    static readonly Lazy<ComputeDevice> cpu = new(() =>
    {
        var device = ComputeDevice.Create("cpu");
        device.UsePrecision(Precision.Fp32);
        return device;
    });

    public static ComputeDevice Device => cpu.Value;

    public TestBackbone(string checkpointPath, int width, string stem, int imageSize, int seed)
    {
        Architecture = new ByolArchitecture(width, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16) { Stem = stem };
        ImageSize = imageSize;
        CheckpointPath = checkpointPath;
        Model = new ByolModel(Device, Architecture, seed);
        var rng = new Random(seed);
        Perturb(Model.Student, Model.StudentBackbone, rng);
        Perturb(Model.Teacher, Model.TeacherBackbone, rng);

        var checkpoint = new TrainingCheckpoint
        {
            Epoch = 3,
            Step = 42,
            Seed = seed,
            // As the trainer writes it: the image size resolved (the field the export reads for the ONNX input's H and W).
            Config = new TrainingConfig { Synthetic = 64, Architecture = Architecture, Seed = seed, ImageSize = imageSize }.ToJson(),
            Kernels = KernelRecord.Of(Device).ToJson(),
        };
        checkpoint.Tensors.AddRange(ParameterStoreCheckpoint.Export(Model.Student, "", Model.StudentBatchNorms.ToDictionary(b => b.Name, b => b.BatchesTracked)));
        checkpoint.Tensors.AddRange(ParameterStoreCheckpoint.Export(Model.Teacher, TrainingCheckpoint.TeacherPrefix, Model.TeacherBatchNorms.ToDictionary(b => b.Name, b => b.BatchesTracked)));
        checkpoint.Save(checkpointPath);
    }

    public ByolArchitecture Architecture { get; }
    public int ImageSize { get; }
    public string CheckpointPath { get; }
    public ByolModel Model { get; }

    static void Perturb(ParameterStore store, ResNet18 backbone, Random rng)
    {
        var values = store.ValuesToHost();
        var state = store.StateToHost();
        long tracked = 7;
        foreach (var bn in backbone.BatchNorms)
        {
            for (int c = 0; c < bn.Channels; c++)
            {
                values[bn.Gamma.Offset + c] = 0.5f + rng.NextSingle();
                values[bn.Beta.Offset + c] = 0.2f * (rng.NextSingle() - 0.5f);
                state[bn.RunningMean.Offset + c] = 0.2f * (rng.NextSingle() - 0.5f);
                state[bn.RunningVar.Offset + c] = 0.5f + rng.NextSingle();
            }
            bn.BatchesTracked = tracked++;
        }
        store.ValuesFromHost(values);
        store.StateFromHost(state);
    }

    /// <summary>
    /// <paramref name="count"/> images (N, 3, S, S) as the evaluation transform makes them: random
    /// pixels with some structure (a per-image colour and gradient), /255, normalised with CIFAR-10's mean and std.
    /// </summary>
    public float[] Images(int count, int seed)
    {
        var rng = new Random(seed);
        var n = ChannelNormalization.Cifar10;
        int s = ImageSize;
        var images = new float[count * 3 * s * s];
        for (int i = 0; i < count; i++)
            for (int c = 0; c < 3; c++)
            {
                double tint = rng.NextDouble();
                for (int y = 0; y < s; y++)
                    for (int x = 0; x < s; x++)
                    {
                        double pixel = Math.Clamp(255 * (0.5 * tint + 0.3 * x / s + 0.2 * rng.NextDouble()), 0, 255);
                        images[((i * 3 + c) * s + y) * s + x] = ((float)Math.Round(pixel) / 255f - n.Mean(c)) / n.Std(c);
                    }
            }
        return images;
    }

    public int[] ImageShape(int count) => [count, 3, ImageSize, ImageSize];

    /// <summary>Our evaluation-mode features (N, 8w) of <paramref name="images"/> through the student's or the teacher's backbone.</summary>
    public float[] Features(float[] images, int count, bool teacher = false)
    {
        Device.Pool.ReleaseAll();
        var tape = new Tape(Device);
        using var _ = tape.NoGrad();
        var x = Tensor.FromHost(Device, "images", images, ImageShape(count));
        var features = (teacher ? Model.TeacherBackbone : Model.StudentBackbone).Forward(tape, x, training: false).ToHost();
        Device.Pool.ReleaseAll();
        return features;
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>Per-image relative differences ‖ours − theirs‖ / ‖theirs‖ (double sums), and the checks on them.</summary>
public static class FeatureComparison
{
    public const double Tolerance = 1e-4;

    public static double[] Relative(float[] ours, float[] theirs, int count)
    {
        Assert.Equal(theirs.Length, ours.Length);
        int dim = ours.Length / count;
        var result = new double[count];
        for (int i = 0; i < count; i++)
        {
            double diff = 0, norm = 0;
            for (int d = 0; d < dim; d++)
            {
                double t = theirs[i * dim + d], o = ours[i * dim + d];
                diff += (o - t) * (o - t);
                norm += t * t;
            }
            Assert.True(norm > 0, $"image {i}: the client's features are all zero");
            result[i] = Math.Sqrt(diff / norm);
        }
        return result;
    }

    /// <summary>Asserts every image within the tolerance and logs the largest difference; returns it.</summary>
    public static double AssertClose(string what, float[] ours, float[] theirs, int count)
    {
        // Distinct images must give distinct features: a constant output would match a constant output.
        int dim = ours.Length / count;
        Assert.True(count < 2 || Relative(theirs.AsSpan(0, dim).ToArray(), theirs.AsSpan(dim, dim).ToArray(), 1)[0] > 1e-3,
            $"{what}: the first two images give (nearly) the same features; the comparison would not see a wrong network");
        var relative = Relative(ours, theirs, count);
        double max = relative.Max();
        Clients.Log($"{what}: max over {count} images of ‖ours − theirs‖/‖theirs‖ = {max:E2} (tolerance {Tolerance:E0})");
        for (int i = 0; i < count; i++)
            Assert.True(relative[i] <= Tolerance, $"{what}: image {i}: ‖ours − theirs‖/‖theirs‖ = {relative[i]:E3} > {Tolerance:E0}");
        return max;
    }
}
