using System.Diagnostics;
using ByolIlgpu.Byol;
using ByolIlgpu.Engine;
using ByolIlgpu.Optim;

namespace ByolIlgpu.Training;

/// <summary>Result of timing BYOL training steps: throughput and achieved arithmetic rate.</summary>
public sealed record StepTiming(int BatchSize, int Steps, double SecondsPerStep, double ImagesPerSecond, double GflopPerImage, double Gflops);

/// <summary>
/// Times the whole BYOL step (both views, student forward and backward, teacher forward, loss,
/// LARS, EMA) on fixed random views, after warm-up steps that compile every kernel and fill the
/// memory pool. The device is synchronised before the clock stops.
/// </summary>
public static class StepBenchmark
{
    public static StepTiming Run(ComputeDevice device, ByolArchitecture architecture, int batchSize, int steps, int warmup = 2, int seed = 0,
        Action<int, double>? onStep = null)
    {
        using var model = new ByolModel(device, architecture, seed);
        using var optimizer = new Lars(model.Student);
        var learner = new ByolLearner(model, optimizer);
        var rng = new Random(seed);
        var host1 = new float[batchSize * 3 * 32 * 32];
        var host2 = new float[host1.Length];
        for (int i = 0; i < host1.Length; i++)
        {
            host1[i] = (float)(rng.NextDouble() * 2 - 1);
            host2[i] = (float)(rng.NextDouble() * 2 - 1);
        }

        void Step()
        {
            device.Pool.ReleaseAll();
            var v1 = Tensor.FromHost(device, "view1", host1, batchSize, 3, 32, 32);
            var v2 = Tensor.FromHost(device, "view2", host2, batchSize, 3, 32, 32);
            learner.Step(v1, v2, lr: 0.1f, tau: 0.99f);
        }

        for (int i = 0; i < warmup; i++)
            Step();
        device.Synchronize();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            Step();
            if (onStep is not null)
            {
                device.Synchronize();
                onStep(i + 1, clock.Elapsed.TotalSeconds);
            }
        }
        device.Synchronize();
        double seconds = clock.Elapsed.TotalSeconds / steps;
        double gflopPerImage = ByolFlops.PerImage(architecture) / 1e9;
        double imagesPerSecond = batchSize / seconds;
        return new StepTiming(batchSize, steps, seconds, imagesPerSecond, gflopPerImage, gflopPerImage * imagesPerSecond);
    }
}
