using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Eval;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// The streamed data path: images kept in host memory, a batch per step through page-locked staging
/// and one asynchronous copy, give the resident run bit for bit, with no host synchronisation and no
/// allocation per step; a capped budget smaller than the data set streams and still trains.
/// </summary>
public class StreamingTests
{
    static readonly ByolArchitecture TinyArchitecture = new(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16);

    /// <summary>A tiny BYOL step over resident or streamed images of one synthetic set.</summary>
    sealed class Stepper : IDisposable
    {
        public readonly ByolModel Model;
        public readonly Optimizer Optimizer;
        public readonly TrainingStep Step;
        public readonly int Images;

        public Stepper(ComputeDevice dev, bool streamed, int batch = 8, int images = 48, int seed = 5, int depth = StreamedBatchSource.DefaultDepth)
        {
            Images = images;
            var data = SyntheticDataset.Generate(images, seed);
            Model = new ByolModel(dev, TinyArchitecture, seed);
            Optimizer = new Lars(Model.Student);
            IBatchSource source = streamed
                ? new StreamedBatchSource(dev, data.PixelSource, batch, depth)
                : new ResidentBatchSource(dev, data.PixelSource);
            Step = new TrainingStep(dev, new ByolLearner(Model, Optimizer), source, batch, seed, blur: true);
        }

        /// <summary>Steps 0..steps−1 of each epoch in turn.</summary>
        public void Train(params int[] stepsPerEpoch)
        {
            for (int epoch = 0; epoch < stepsPerEpoch.Length; epoch++)
            {
                Step.BeginEpoch(epoch, EpochOrder.Permutation(Images, 5, epoch));
                for (int s = 0; s < stepsPerEpoch[epoch]; s++)
                    Step.Run(s, 0.1f, 0.99f);
            }
        }

        public void Dispose()
        {
            Step.Dispose();
            Optimizer.Dispose();
            Model.Dispose();
        }
    }

    static void AssertSameState(Stepper expected, Stepper actual)
    {
        Assert.Equal(expected.Step.ReadLossSum(), actual.Step.ReadLossSum());
        Assert.Equal(expected.Model.Student.ValuesToHost(), actual.Model.Student.ValuesToHost());
        Assert.Equal(expected.Model.Student.StateToHost(), actual.Model.Student.StateToHost());
        Assert.Equal(expected.Model.Teacher.ValuesToHost(), actual.Model.Teacher.ValuesToHost());
        Assert.Equal(expected.Model.Teacher.StateToHost(), actual.Model.Teacher.StateToHost());
    }

    internal static void StreamedEqualsResident(ComputeDevice dev, int depth)
    {
        using var resident = new Stepper(dev, streamed: false);
        using var streamed = new Stepper(dev, streamed: true, depth: depth);
        // Across an epoch boundary and past a full turn of the ring.
        resident.Train(4, 2);
        streamed.Train(4, 2);
        AssertSameState(resident, streamed);
        Assert.Equal(0, ((StreamedBatchSource)streamed.Step.Source).OutOfSequence);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void AStreamedRunIsTheResidentRunBitForBit(int depth) => StreamedEqualsResident(TestDevices.Cpu, depth);

    [Fact]
    public void AStreamedStepIssuesOneAsynchronousCopyAndNoHostSynchronisationOrAllocation() => StreamedStepCounts(TestDevices.Cpu);

    internal static void StreamedStepCounts(ComputeDevice dev)
    {
        using var streamed = new Stepper(dev, streamed: true);
        streamed.Step.BeginEpoch(0, EpochOrder.Permutation(streamed.Images, 5, 0));
        for (int s = 0; s < 3; s++)
            streamed.Step.Run(s, 0.1f, 0.99f);   // the first step fills the pool; by the third the ring has turned once
        var before = dev.Counters;
        streamed.Step.Run(3, 0.1f, 0.99f);
        streamed.Step.Run(4, 0.1f, 0.99f);
        var two = dev.Counters - before;
        Assert.Equal(0, two.HostSyncs);
        Assert.Equal(0, two.Allocations);
        Assert.Equal(2, two.AsyncCopies);
        Assert.Equal(2, two.Copies);   // the asynchronous copies and nothing else
        // Each step reuses a staging slot whose last copy is three steps old: one wait for that copy. It never
        // blocks on the CPU accelerator (its copies are done when they return); on OpenCL it may, when the
        // host has run ahead of the device.
        Assert.Equal(2, two.CopyWaits);
        if (dev.Kind == DeviceKind.Cpu)
            Assert.Equal(0, two.CopyWaitsBlocked);
        else
            Assert.InRange(two.CopyWaitsBlocked, 0, two.CopyWaits);
        Assert.Equal(0, ((StreamedBatchSource)streamed.Step.Source).OutOfSequence);
        Assert.InRange(streamed.Step.ReadLossSum() / 5, 0.0, 8.0);
    }

    [Fact]
    public void AResidentStepIssuesNoCopyAtAll()
    {
        var dev = TestDevices.Cpu;
        using var resident = new Stepper(dev, streamed: false);
        resident.Train(2);
        var before = dev.Counters;
        resident.Step.Run(2, 0.1f, 0.99f);
        var one = dev.Counters - before;
        Assert.Equal(new DeviceCounters(one.Launches, one.MemSets, 0, 0, 0), one);
    }

    /// <summary>Synthesises pixel (index, offset) without storing a byte: a set of any size, for the index arithmetic past 2^31.</summary>
    sealed class SynthesisedPixels(long count, int imageBytes) : PixelSource
    {
        public override long Count => count;
        public override int ImageBytes => imageBytes;

        public static byte Value(long index, int offset) => (byte)((index * 2654435761L + offset * 40503L) >> 7);

        public override void Read(long index, Span<byte> destination)
        {
            if (index < 0 || index >= count)
                throw new ArgumentOutOfRangeException(nameof(index));
            long byteOffset = index * imageBytes;   // past int.MaxValue for the last images
            Assert.True(byteOffset >= 0);
            for (int i = 0; i < imageBytes; i++)
                destination[i] = Value(index, i);
        }
    }

    [Fact]
    public void TheGatherAddressesASetLargerThan2GiB()
    {
        const int imageBytes = 3 * 96 * 96;
        const long count = 100_000;   // 2.76 GB: the last images start past int.MaxValue
        Assert.True(count * imageBytes > int.MaxValue);
        var pixels = new SynthesisedPixels(count, imageBytes);
        var set = new ImageDataset(pixels, [], [], 96, 96, "synthesised");
        Assert.Throws<InvalidOperationException>(() => set.Pixels);   // nothing asks for the whole set in one array
        int[] rows = [99_999, 0, 77_778, 80_000, 99_998];
        var dev = TestDevices.Cpu;
        using var source = new StreamedBatchSource(dev, set.PixelSource, batchCapacity: 3, depth: 2);
        source.Begin(rows, 3);
        using var indices = dev.Allocate(rows);
        var received = new List<byte[]>();
        for (int k = 0; k < 2; k++)
        {
            int n = Math.Min(3, rows.Length - 3 * k);
            var batch = source.Batch(k, indices.View.SubView(3 * k, n));
            Assert.Equal(Enumerable.Range(0, n).ToArray(), dev.ToHost(batch.Rows));
            var bytes = dev.ToHost(batch.Pixels.SubView(0, (long)n * imageBytes));
            for (int i = 0; i < n; i++)
                received.Add(bytes[(i * imageBytes)..((i + 1) * imageBytes)]);
        }
        for (int r = 0; r < rows.Length; r++)
            for (int offset = 0; offset < imageBytes; offset += 997)
                Assert.True(SynthesisedPixels.Value(rows[r], offset) == received[r][offset], $"row {rows[r]}, byte {offset}");
        // Such a set cannot be resident: auto streams it, device says why not.
        var decision = DataPlacements.Choose(DataPlacement.Auto, count * imageBytes, 0, long.MaxValue / 2, capped: false);
        Assert.Equal(DataPlacement.Host, decision.Placement);
        var e = Assert.Throws<ArgumentException>(() => DataPlacements.Choose(DataPlacement.Device, count * imageBytes, 0, long.MaxValue / 2, capped: false));
        Assert.Contains("--data-placement host", e.Message);
    }

    [Theory]
    [InlineData(1000, 500, 2000, true)]    // 1500 ≤ 90% of 2000
    [InlineData(1000, 900, 2000, false)]   // 1900 > 1800
    [InlineData(0, 1800, 2000, true)]
    public void AutoPlacesTheDataOnTheDeviceWhenItAndTheStepFitTheBudgetLessAMargin(long data, long step, long budget, bool device)
    {
        var decision = DataPlacements.Choose(DataPlacement.Auto, data, step, budget, capped: true);
        Assert.Equal(device ? DataPlacement.Device : DataPlacement.Host, decision.Placement);
        Assert.Contains(BufferPool.LimitVariable, decision.Reason);
        Assert.Equal(DataPlacement.Host, DataPlacements.Choose(DataPlacement.Host, data, step, budget, capped: true).Placement);
        Assert.Equal(DataPlacement.Device, DataPlacements.Choose(DataPlacement.Device, data, step, budget, capped: true).Placement);
        Assert.Throws<ArgumentException>(() => DataPlacements.Parse("gpu"));
    }

    static TrainingConfig TinyRun(string runDir, string placement) => new()
    {
        Synthetic = 48,
        Epochs = 2,
        BatchSize = 16,
        Architecture = TinyArchitecture,
        WarmupEpochs = 1,
        Device = "cpu",
        KnnEvery = 0,   // kNN once, at the end
        KnnK = 5,
        CheckpointEvery = 0,
        RunDir = runDir,
        DataPlacement = placement,
    };

    static (TrainingResult Result, string Log, PlacementDecision Placement) Train(TrainingConfig config, ComputeDevice device)
    {
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        var log = new StringWriter();
        using var trainer = new Trainer(config, device, train, test, new PlainProgress(log));
        var result = trainer.Run();
        return (result, log.ToString(), trainer.Placement);
    }

    [Fact]
    public void ACappedBudgetSmallerThanTheDataStreamsAndTrainsToTheResidentRunsEnd()
    {
        using var residentDir = new Data.Scratch();
        using var streamedDir = new Data.Scratch();
        using var residentDevice = ComputeDevice.Create("cpu");
        var resident = Train(TinyRun(residentDir.Path, "device"), residentDevice);
        Assert.Equal(DataPlacement.Device, resident.Placement.Placement);

        // The cap holds a step and the streamed ring, not the images as well.
        long stepBytes;
        using (var measuring = ComputeDevice.Create("cpu"))
        using (var tiny = new Stepper(measuring, streamed: true, batch: 16, images: 48))
            stepBytes = tiny.Step.MeasurePoolBytes(16);
        var config = TinyRun(streamedDir.Path, "auto");
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        long dataBytes = (long)(train.Count + test.Count) * train.ImageBytes;
        long cap = stepBytes + StreamedBatchSource.RingBytes(16, train.ImageBytes) + 4096;
        Assert.True(dataBytes + stepBytes > cap * (1 - DataPlacements.Margin), $"{dataBytes} bytes of images and a step of {stepBytes} fit the cap of {cap}");
        using var capped = ComputeDevice.Create("cpu");
        capped.Pool.LimitBytes = cap;
        var streamed = Train(config, capped);

        Assert.Equal(DataPlacement.Host, streamed.Placement.Placement);
        Assert.StartsWith("data placement: host (auto: ", streamed.Log);
        Assert.Contains(BufferPool.LimitVariable, streamed.Log);
        Assert.Equal(cap, capped.Pool.LimitBytes);   // given back
        var json = File.ReadAllText(Path.Combine(streamedDir.Path, "config.json"));
        Assert.Contains("\"data-placement\": \"auto\"", json);
        Assert.Contains("\"data-placement-chosen\": \"host\"", json);
        // The same run, bit for bit: losses, kNN (streamed feature extraction) and final weights.
        Assert.Equal(resident.Result.FinalLoss, streamed.Result.FinalLoss);
        Assert.Equal(resident.Result.FinalKnn!.Predictions, streamed.Result.FinalKnn!.Predictions);
        Assert.Equal(MetricsLog.Read(Path.Combine(residentDir.Path, "metrics.jsonl")).Select(r => r.Loss),
            MetricsLog.Read(Path.Combine(streamedDir.Path, "metrics.jsonl")).Select(r => r.Loss));
        var expected = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(residentDir.Path)!).Tensors;
        var actual = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(streamedDir.Path)!).Tensors;
        foreach (var name in expected.Names)
            Assert.True(expected[name].Bytes.AsSpan().SequenceEqual(actual[name].Bytes), $"{name} differs between the resident and the streamed run");
    }

    [Fact]
    public void StreamedFeatureExtractionIsTheResidentOneIncludingThePartialLastBatch()
    {
        var dev = TestDevices.Cpu;
        var set = SyntheticDataset.Generate(37, seed: 2);
        using var model = new ByolModel(dev, TinyArchitecture, 1);
        using var resident = new ResidentBatchSource(dev, set.PixelSource);
        using var a = FeatureExtractor.Extract(dev, model, set, resident.Pixels, batch: 8);
        var before = dev.Counters;
        using var b = FeatureExtractor.Extract(dev, model, set, null, batch: 8);
        var issued = dev.Counters - before;
        Assert.Equal(5, issued.AsyncCopies);   // ⌈37/8⌉ batches, one copy each
        Assert.Equal(dev.ToHost(a.View), dev.ToHost(b.View));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheLinearProbeOnStreamedImagesIsTheResidentOne(bool augment)
    {
        var dev = TestDevices.Cpu;
        var train = SyntheticDataset.Generate(40, seed: 3);
        var test = SyntheticDataset.Generate(20, seed: 4);
        using var model = new ByolModel(dev, TinyArchitecture, 2);
        var config = new LinearProbeConfig(Epochs: 2, BatchSize: 8, Seed: 6);
        var resident = Evaluation.Linear(dev, model, train, test, config, augment, placement: DataPlacement.Device);
        var before = dev.Counters;
        var streamed = Evaluation.Linear(dev, model, train, test, config, augment, placement: DataPlacement.Host);
        var issued = dev.Counters - before;
        Assert.Equal(resident, streamed);
        // Feature extraction batches by 256, so the test set is one copy; then either the cached train features
        // (one more) or every augmented step (2 epochs × 5 batches of 8).
        Assert.Equal(augment ? 1 + 10 : 1 + 1, issued.AsyncCopies);
    }

    [Trait("Backend", "OpenCL")]
    public sealed class OnOpenCl
    {
        [Fact]
        public void AStreamedRunIsTheResidentRunBitForBit() => StreamedEqualsResident(TestDevices.OpenCl, StreamedBatchSource.DefaultDepth);

        [Fact]
        public void AStreamedStepIssuesOneAsynchronousCopyAndNoHostSynchronisationOrAllocation() => StreamedStepCounts(TestDevices.OpenCl);
    }
}
