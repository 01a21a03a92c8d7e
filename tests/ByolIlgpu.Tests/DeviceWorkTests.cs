using System.Text.RegularExpressions;
using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Optim;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// What the engine issues to the device: the counters are complete and exact, the trainer's step
/// issues no host synchronisation, and a step that does not fit the device's memory stops before it
/// starts, with the largest batch that fits.
/// </summary>
public class DeviceWorkTests
{
    static readonly ByolArchitecture TinyArchitecture = new(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16);

    static string SourceRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "src"));

    [Fact]
    public void NoSourceFileBypassesTheCountedDeviceCalls()
    {
        // ILGPU's own launch, memset, copy, allocation and wait calls are allowed only in the file that counts them.
        var raw = new Regex(@"(?<!\b(?:dev|device|Device|ByteString))\.(MemSetToZero|CopyFromCPU|CopyToCPU|CopyFrom|CopyFromPageLockedAsync|CopyToPageLockedAsync|GetAsArray1D|Allocate1D|AllocatePageLocked1D|Synchronize)\s*[<(]");
        Assert.Matches(raw, "buffer.MemSetToZero();");
        Assert.Matches(raw, "stream.Synchronize();");
        Assert.Matches(raw, "acc.Allocate1D<float>(n)");
        Assert.Matches(raw, "acc.AllocatePageLocked1D<byte>(n)");
        Assert.Matches(raw, "target.CopyFrom(stream, staging.ArrayView)");
        Assert.DoesNotMatch(raw, "dev.MemSetToZero(view);");
        Assert.DoesNotMatch(raw, "Store.Device.Synchronize();");
        Assert.DoesNotMatch(raw, "ByteString.CopyFrom(bytes)");   // protobuf's, host memory only
        var counted = Path.Combine("Engine", "ComputeDevice.Transfers.cs");
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(SourceRoot(), "*.cs", SearchOption.AllDirectories))
        {
            if (file.EndsWith(counted, StringComparison.Ordinal) || file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                || file.Contains($"{Path.DirectorySeparatorChar}Reference{Path.DirectorySeparatorChar}"))
                continue;
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                var line = lines[i];
                if (raw.IsMatch(line))
                    offenders.Add($"{Path.GetRelativePath(SourceRoot(), file)}:{i + 1}: {line.Trim()}");
            }
        }
        Assert.True(offenders.Count == 0, "device calls that bypass ComputeDevice's counters:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void EachCallCountsOnce()
    {
        var dev = TestDevices.Cpu;
        using var buffer = dev.Allocate<float>(64);
        var before = dev.Counters;
        Ops.Elementwise.Fill(dev, buffer.View, 3f);
        Ops.Elementwise.Axpby(dev, buffer.View, buffer.View, 1f, 1f);
        Assert.Equal(new DeviceCounters(2, 0, 0, 0, 0), dev.Counters - before);
        before = dev.Counters;
        var host = dev.ToHost(buffer.View);
        Assert.All(host, v => Assert.Equal(6f, v));
        dev.MemSetToZero(buffer.View);
        dev.CopyFromHost(buffer.View, new float[64]);
        dev.Synchronize();
        Assert.Equal(new DeviceCounters(0, 1, 2, 3, 0), dev.Counters - before);
        before = dev.Counters;
        using var other = dev.Allocate<int>(8);
        Assert.Equal(1, (dev.Counters - before).Allocations);
    }

    /// <summary>
    /// Profiling (`byol bench --profile`) adds each launch's time to its kernel and counts nothing
    /// extra: the same launches, no host synchronisation in the counters; off again, the times stand still.
    /// </summary>
    [Fact]
    public void ProfiledLaunchesAddTheirTimeAndNothingElse()
    {
        var dev = TestDevices.Cpu;
        using var buffer = dev.Allocate<float>(1 << 16);
        Ops.Elementwise.Fill(dev, buffer.View, 1f);   // compiled before the measurement
        const string key = nameof(Kernels.ElementwiseKernels.AxpbyKernel);
        double Seconds() => dev.SecondsByKernel.GetValueOrDefault(key);
        var before = dev.Counters;
        double start = Seconds();
        try
        {
            dev.ProfileKernels = true;
            for (int i = 0; i < 3; i++)
                Ops.Elementwise.Axpby(dev, buffer.View, buffer.View, 1f, 1f);
        }
        finally
        {
            dev.ProfileKernels = false;
        }
        double profiled = Seconds();
        Assert.True(profiled > start, $"{key}: {profiled - start} s after three profiled launches");
        Assert.Equal(new DeviceCounters(3, 0, 0, 0, 0), dev.Counters - before);
        Ops.Elementwise.Axpby(dev, buffer.View, buffer.View, 1f, 1f);
        dev.Synchronize();
        Assert.Equal(profiled, Seconds());
        Assert.All(dev.ToHost(buffer.View), v => Assert.Equal(16f, v));
    }

    sealed class TinyStep : IDisposable
    {
        public readonly ByolModel Model;
        public readonly Optimizer Optimizer;
        public readonly ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense> Pixels;
        public readonly TrainingStep Step;
        public readonly int Images;

        public TinyStep(ComputeDevice dev, int batch, int images = 48, int seed = 3)
        {
            Images = images;
            var data = SyntheticDataset.Generate(images, seed);
            Pixels = dev.Allocate(data.Pixels);
            Model = new ByolModel(dev, TinyArchitecture, seed);
            Optimizer = new Lars(Model.Student);
            Step = new TrainingStep(dev, new ByolLearner(Model, Optimizer), Pixels.View, images, batch, seed, blur: true);
        }

        public void Dispose()
        {
            Step.Dispose();
            Optimizer.Dispose();
            Model.Dispose();
            Pixels.Dispose();
        }
    }

    [Fact]
    public void TheTrainingStepIssuesNoHostSynchronisation()
    {
        var dev = TestDevices.Cpu;
        dev.Pool.ReleaseAll();
        using var tiny = new TinyStep(dev, batch: 8);
        var start = dev.Counters;
        tiny.Step.BeginEpoch(0, EpochOrder.Permutation(tiny.Images, 0, 0));
        var epochStart = dev.Counters - start;
        Assert.Equal(1, epochStart.Copies);   // the epoch's order, once
        tiny.Step.Run(0, 0.1f, 0.99f);        // the first step fills the pool
        var before = dev.Counters;
        var kernelsBefore = dev.LaunchesByKernel;
        var memSetsBefore = dev.MemSetsByCaller;
        tiny.Step.Run(1, 0.1f, 0.99f);
        tiny.Step.Run(2, 0.1f, 0.99f);
        var two = dev.Counters - before;
        Assert.Equal(0, two.HostSyncs);
        Assert.Equal(0, two.Copies);
        Assert.Equal(0, two.Allocations);
        Assert.True(two.Launches > 100 && two.Launches % 2 == 0, $"{two.Launches} launches in two identical steps");
        // The per-kernel tally is complete, and every ReLU of the network runs inside a fused BatchNorm.
        var byKernel = ComputeDevice.CountsBetween(kernelsBefore, dev.LaunchesByKernel);
        Assert.Equal(two.Launches, byKernel.Values.Sum());
        Assert.Equal(two.MemSets, ComputeDevice.CountsBetween(memSetsBefore, dev.MemSetsByCaller).Values.Sum());
        foreach (var unfused in new[] { "ReluForwardKernel", "ReluBackwardKernel", "AddReluForwardKernel", "AddReluBackwardKernel" })
            Assert.False(byKernel.ContainsKey(unfused), $"a training step launched {unfused} {byKernel.GetValueOrDefault(unfused)} times");
        double loss = tiny.Step.ReadLossSum() / 3;
        Assert.InRange(loss, 0.0, 8.0);
    }

    [Fact]
    public void TheKernelChecksRunInTheFirstStepAloneAndAddNothingToTheStepsAfterIt()
    {
        using var dev = ComputeDevice.Create("cpu");
        dev.Verification.Enabled = true;
        using var tiny = new TinyStep(dev, batch: 8);
        tiny.Step.BeginEpoch(0, EpochOrder.Permutation(tiny.Images, 0, 0));
        var before = dev.Counters;
        tiny.Step.Run(0, 0.1f, 0.99f);
        var first = dev.Counters - before;
        // The fast versions the CPU table picks (conv2d 2 and 3, matmul 2), each checked once, waiting for its results.
        Assert.Equal([(DevicePolicy.Conv2dOp, 2), (DevicePolicy.Conv2dOp, 3), (DevicePolicy.MatmulOp, 2)],
            dev.Verification.Checks.Select(c => (c.Op, c.Version)).Order());
        Assert.All(dev.Verification.Checks, c => Assert.True(c.Passed, c.Describe()));
        Assert.True(first.HostSyncs > 0, $"first step: {first}");
        before = dev.Counters;
        tiny.Step.Run(1, 0.1f, 0.99f);
        tiny.Step.Run(2, 0.1f, 0.99f);
        var two = dev.Counters - before;
        Assert.Equal(3, dev.Verification.Checks.Count);
        Assert.Equal(new DeviceCounters(two.Launches, two.MemSets, 0, 0, 0), two);
    }

    [Fact]
    public void TheMeasuredPoolIsWhatARealStepHoldsAndMeasuringChangesNothing()
    {
        var dev = TestDevices.Cpu;
        using var measured = new TinyStep(dev, batch: 8);
        using var plain = new TinyStep(dev, batch: 8);
        dev.Pool.ReleaseAll();
        measured.Step.MeasurePoolBytes(8);
        // As `byol train` does: a fresh device measures, and a fresh device's pool after one real step holds
        // exactly what the measurement said. (Both fresh: the shared test device has run other tests'
        // first-use kernel checks already, a fresh one runs them in its first step.)
        long bytes;
        using (var measuring = ComputeDevice.Create("cpu"))
        using (var tiny = new TinyStep(measuring, batch: 8))
            bytes = tiny.Step.MeasurePoolBytes(8);
        using (var fresh = ComputeDevice.Create("cpu"))
        using (var tiny = new TinyStep(fresh, batch: 8))
        {
            tiny.Step.BeginEpoch(0, EpochOrder.Permutation(tiny.Images, 0, 0));
            tiny.Step.Run(0, 0.1f, 0.99f);
            Assert.Equal(bytes, fresh.Pool.BytesHeld);
        }
        // Measuring left the model as it was: the next steps match a model that was never measured, bit for bit.
        foreach (var t in new[] { measured, plain })
        {
            t.Step.BeginEpoch(0, EpochOrder.Permutation(t.Images, 0, 0));
            t.Step.Run(0, 0.1f, 0.99f);
            t.Step.Run(1, 0.1f, 0.99f);
        }
        Assert.Equal(plain.Model.Student.ValuesToHost(), measured.Model.Student.ValuesToHost());
        Assert.Equal(plain.Model.Student.StateToHost(), measured.Model.Student.StateToHost());
        Assert.Equal(plain.Model.Teacher.ValuesToHost(), measured.Model.Teacher.ValuesToHost());
        Assert.Equal(plain.Model.Teacher.StateToHost(), measured.Model.Teacher.StateToHost());
        Assert.Equal(plain.Step.ReadLossSum(), measured.Step.ReadLossSum());
    }

    [Fact]
    public void ABatchThatDoesNotFitTheCappedPoolStopsWithTheLargestBatchThatFits()
    {
        using var dev = ComputeDevice.Create("cpu");
        using var tiny = new TinyStep(dev, batch: 16);
        long at16 = tiny.Step.MeasurePoolBytes(16), at8 = tiny.Step.MeasurePoolBytes(8);
        Assert.True(at16 > at8 && at8 > 0, $"pool bytes {at8} at batch 8, {at16} at batch 16");
        long perImage = (at16 - at8) / 8;
        long cap = at8 + 3 * perImage + perImage / 2;   // batch 11 fits, 12 does not
        dev.Pool.LimitBytes = cap;
        var e = Assert.Throws<DeviceMemoryException>(() => tiny.Step.CheckMemory());
        Assert.DoesNotContain("\n", e.Message);
        Assert.Contains("--batch-size 16 needs", e.Message);
        Assert.Contains(ComputeDevice.FormatBytes(at16), e.Message);
        Assert.Contains($"{ComputeDevice.FormatBytes(cap)} available", e.Message);
        Assert.Contains("the largest batch that fits is 11", e.Message);
        // The batch it names does fit: its check passes and a real step runs within the cap — on a fresh
        // device, as a run at that batch would start (this one's pool still holds the measured batches' views).
        using var freshDev = ComputeDevice.Create("cpu");
        freshDev.Pool.LimitBytes = cap;
        using var fits = new TinyStep(freshDev, batch: 11);
        fits.Step.CheckMemory();
        fits.Step.BeginEpoch(0, EpochOrder.Permutation(fits.Images, 0, 0));
        fits.Step.Run(0, 0.1f, 0.99f);
        Assert.True(freshDev.Pool.BytesHeld <= cap, $"batch 11 held {freshDev.Pool.BytesHeld} bytes over the cap of {cap}");
        // Past the cap, any rent fails with the same kind of message, not ILGPU's exception.
        var over = Assert.Throws<DeviceMemoryException>(() => freshDev.Pool.Rent(cap));
        Assert.Contains("over its limit", over.Message);
    }

    [Theory]
    [InlineData(16, 1600, 8, 1000, 1300, 12)]   // 75 bytes per image, 400 fixed: (1300 − 400) / 75 = 12
    [InlineData(16, 1600, 8, 1000, 1299, 11)]   // one byte less: 11.99 → 11
    [InlineData(8, 1000, 16, 1600, 100000, 1328)]   // the order of the two measurements does not matter
    [InlineData(16, 1600, 8, 1000, 500, 0)]      // (500 − 400) / 75 = 1.3: not even a batch of 2
    public void TheLargestBatchFollowsTheLinearFit(int batch, long bytes, int other, long otherBytes, long available, int expected) =>
        Assert.Equal(expected, TrainingStep.LargestBatch(batch, bytes, other, otherBytes, available));
}
