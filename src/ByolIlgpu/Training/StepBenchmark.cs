using System.Diagnostics;
using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Training;

/// <summary>
/// Result of timing the trainer's step: throughput, achieved arithmetic rate, and what the engine
/// issued to the device per step (launches, memsets, copies, host synchronisations, allocations).
/// </summary>
public sealed record StepTiming(int BatchSize, int Steps, double SecondsPerStep, double ImagesPerSecond, double GflopPerImage, double Gflops,
    DeviceCounters TimedSteps, long PoolBytes)
{
    /// <summary>Where the images were (device, or host and streamed) and why.</summary>
    public PlacementDecision? Placement { get; init; }

    /// <summary>Seconds per timed step the host waited for its own gather of the next streamed batch (0 when resident).</summary>
    public double GatherWaitSecondsPerStep { get; init; }

    /// <summary>Seconds per timed step the host spent blocked waiting for a staging slot's previous copy.</summary>
    public double CopyWaitSecondsPerStep { get; init; }

    /// <summary>Seconds per step in each kernel key's launches, when the device profiled them (<see cref="ComputeDevice.ProfileKernels"/>); empty otherwise.</summary>
    public IReadOnlyDictionary<string, double> KernelSecondsPerStep { get; init; } = new Dictionary<string, double>();

    /// <summary>Launches of the timed steps per kernel key (<see cref="ComputeDevice.LaunchesByKernel"/>).</summary>
    public IReadOnlyDictionary<string, long> LaunchesByKernel { get; init; } = new Dictionary<string, long>();

    /// <summary>Memsets of the timed steps per calling source line (<see cref="ComputeDevice.MemSetsByCaller"/>).</summary>
    public IReadOnlyDictionary<string, long> MemSetsByCaller { get; init; } = new Dictionary<string, long>();

    /// <summary>A counter of the timed steps per step (every step issues the same work, so these are whole numbers).</summary>
    public double PerStep(Func<DeviceCounters, long> counter) => counter(TimedSteps) / (double)Steps;
}

/// <summary>
/// Times the trainer's own step (<see cref="TrainingStep"/>: both views augmented on the device from
/// uint8 images already there, student forward and backward, teacher forward, loss, the optimizer, EMA,
/// the loss added into the device-side sum) after warm-up steps that compile every kernel and fill the
/// memory pool. The timed steps run back to back with no host synchronisation; the device is
/// synchronised once before the clock stops.
/// </summary>
public static class StepBenchmark
{
    public static StepTiming Run(ComputeDevice device, ByolArchitecture architecture, int batchSize, int steps, int warmup = 2, int seed = 0,
        string optimizerName = "lars", DataPlacement placement = DataPlacement.Device)
    {
        if (steps < 1 || warmup < 0)
            throw new ArgumentOutOfRangeException(nameof(steps), $"steps {steps}, warm-up {warmup}: expected at least one timed step");
        // One epoch holds every step, so no order upload falls inside the timed steps.
        var images = SyntheticDataset.Generate(batchSize * (warmup + steps), seed);
        var config = new TrainingConfig { Architecture = architecture, BatchSize = batchSize, Optimizer = optimizerName, Seed = seed };
        using var model = new ByolModel(device, architecture, seed);
        using var optimizer = Trainer.CreateOptimizer(config, model.Student);
        var learner = new ByolLearner(model, optimizer);
        // As the trainer decides: auto measures the step on the streamed path, then moves the images if they fit.
        IBatchSource source = placement == DataPlacement.Device
            ? new ResidentBatchSource(device, images.PixelSource)                       // (N, 3, 32, 32) uint8
            : new StreamedBatchSource(device, images.PixelSource, batchSize);
        using var step = new TrainingStep(device, learner, source, batchSize, seed, blur: false, images.Height, images.Width);
        long stepBytes = placement == DataPlacement.Auto ? step.MeasurePoolBytes(batchSize) : 0;
        var decision = DataPlacements.Choose(placement, (long)images.Count * images.ImageBytes, stepBytes, device.Pool.CapacityBytes, device.Pool.LimitBytes is not null);
        if (decision.Placement == DataPlacement.Device && step.Source is not ResidentBatchSource)
            step.UseSource(new ResidentBatchSource(device, images.PixelSource));
        step.CheckMemory();
        step.BeginEpoch(0, EpochOrder.Permutation(images.Count, seed, 0));
        float lr = (float)config.PeakLearningRate, tau = 0.99f;
        for (int i = 0; i < warmup; i++)
            step.Run(i, lr, tau);
        device.Synchronize();
        long poolBytes = device.Pool.BytesHeld;
        var before = device.Counters;
        var kernelsBefore = device.LaunchesByKernel;
        var secondsBefore = device.SecondsByKernel;
        var memSetsBefore = device.MemSetsByCaller;
        var gatherBefore = (step.Source as StreamedBatchSource)?.GatherWait ?? TimeSpan.Zero;
        var copyWaitBefore = device.CopyWaitTime;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
            step.Run(warmup + i, lr, tau);
        var gatherWait = ((step.Source as StreamedBatchSource)?.GatherWait ?? TimeSpan.Zero) - gatherBefore;
        var copyWait = device.CopyWaitTime - copyWaitBefore;
        var issued = device.Counters - before;
        var byKernel = ComputeDevice.CountsBetween(kernelsBefore, device.LaunchesByKernel);
        var byCaller = ComputeDevice.CountsBetween(memSetsBefore, device.MemSetsByCaller);
        var secondsAfter = device.SecondsByKernel;
        var secondsByKernel = secondsAfter.Select(e => (e.Key, Seconds: e.Value - secondsBefore.GetValueOrDefault(e.Key)))
            .Where(e => e.Seconds > 0).ToDictionary(e => e.Key, e => e.Seconds / steps);
        device.Synchronize();
        double seconds = clock.Elapsed.TotalSeconds / steps;
        double gflopPerImage = ByolFlops.PerImage(architecture) / 1e9;
        double imagesPerSecond = batchSize / seconds;
        return new StepTiming(batchSize, steps, seconds, imagesPerSecond, gflopPerImage, gflopPerImage * imagesPerSecond, issued, poolBytes)
        {
            LaunchesByKernel = byKernel,
            MemSetsByCaller = byCaller,
            KernelSecondsPerStep = secondsByKernel,
            Placement = decision,
            GatherWaitSecondsPerStep = gatherWait.TotalSeconds / steps,
            CopyWaitSecondsPerStep = copyWait.TotalSeconds / steps,
        };
    }
}
