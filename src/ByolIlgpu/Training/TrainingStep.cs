using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Training;

/// <summary>
/// The trainer's step, on the device from end to end: the epoch's order is uploaded once
/// (<see cref="BeginEpoch"/>), a step takes its slice of it, makes both augmented views from uint8 images
/// on the device, runs the BYOL step and adds the loss into a device-side sum. Where the images come
/// from is the <see cref="IBatchSource"/>: the whole set resident on the device
/// (<see cref="ResidentBatchSource"/>), or streamed from host memory a batch per step through
/// page-locked staging and one asynchronous copy (<see cref="StreamedBatchSource"/>). The augmentation's
/// random parameters are drawn from the data-set indices either way, and applied to the batch's rows, so
/// the two give the same run bit for bit.
/// No host synchronisation per step: the loss is read only when <see cref="ReadLossSum"/> asks.
/// `byol train` and `byol bench` run this same class.
/// </summary>
public sealed class TrainingStep : IDisposable
{
    readonly ComputeDevice device;
    IBatchSource source;
    readonly int imageCount, height, width, viewSize;                 // the data set's images: (N, 3, H, W) uint8; the views' side
    readonly MemoryBuffer1D<int, Stride1D.Dense> epochOrder;         // (steps·B): this epoch's data-set rows
    readonly MemoryBuffer1D<float, Stride1D.Dense> lossSum;          // (1): running sum of this epoch's losses
    readonly AugmentationConfig view1Config, view2Config;
    readonly ulong seed;
    int epoch = -1;
    int[] epochRows = [];
    (int Batch, long Bytes)? measured;

    /// <summary>A step over images already on the device (N, 3, H, W), making views of <paramref name="viewSize"/>² (0: the images' side); the caller keeps them.</summary>
    public TrainingStep(ComputeDevice device, ByolLearner learner, ArrayView<byte> pixels, int imageCount, int batchSize, int seed, bool blur,
        int height = 32, int width = 32, int viewSize = 0)
        : this(device, learner, new ResidentBatchSource(pixels, imageCount), batchSize, seed, blur, height, width, viewSize)
    {
    }

    /// <summary>A step over a batch source of images (N, 3, <paramref name="height"/>, <paramref name="width"/>); the step owns the source.</summary>
    public TrainingStep(ComputeDevice device, ByolLearner learner, IBatchSource source, int batchSize, int seed, bool blur, int height = 32, int width = 32, int viewSize = 0)
    {
        int imageCount = source.ImageCount;
        if (imageCount < batchSize)
            throw new ArgumentException($"--batch-size {batchSize} is larger than the training set ({imageCount} images)");
        this.device = device;
        Learner = learner;
        this.source = source;
        this.imageCount = imageCount;
        this.height = height;
        this.width = width;
        this.viewSize = viewSize > 0 ? viewSize : Math.Min(height, width);
        BatchSize = batchSize;
        this.seed = (ulong)seed;
        view1Config = AugmentationConfig.ByolCifar(view: 1, blur: blur, imageSize: this.viewSize);
        view2Config = AugmentationConfig.ByolCifar(view: 2, blur: blur, imageSize: this.viewSize);
        view1Config.Validate();
        view2Config.Validate();
        epochOrder = device.Allocate<int>((long)StepsPerEpoch * batchSize);
        lossSum = device.Allocate<float>(1);
    }

    /// <summary>Where the step's images come from (the step owns it).</summary>
    public IBatchSource Source => source;

    /// <summary>Replaces the batch source (e.g. resident once the budget is known to hold the set); the old one is disposed.</summary>
    public void UseSource(IBatchSource replacement)
    {
        if (replacement.ImageCount != imageCount)
            throw new ArgumentException($"a batch source of {replacement.ImageCount} images for a step over {imageCount}");
        if (!ReferenceEquals(replacement, source))
            source.Dispose();
        source = replacement;
        epoch = -1;
    }

    public ByolLearner Learner { get; }
    public int BatchSize { get; }

    /// <summary>Whole batches per epoch: the last partial batch is dropped.</summary>
    public int StepsPerEpoch => imageCount / BatchSize;

    /// <summary>Uploads the epoch's order (one copy) and zeroes the loss sum; <paramref name="order"/> is a permutation of the data set.</summary>
    public void BeginEpoch(int epochIndex, int[] order)
    {
        if (order.Length != imageCount)
            throw new ArgumentException($"epoch order of {order.Length} rows for {imageCount} images");
        epoch = epochIndex;
        epochRows = order.AsSpan(0, (int)epochOrder.Length).ToArray();
        device.CopyFromHost(epochOrder.View, epochRows);
        device.MemSetToZero(lossSum.View);
        source.Begin(epochRows, BatchSize);
    }

    /// <summary>Step <paramref name="stepInEpoch"/> of the current epoch: views, BYOL step with lr and τ, loss added to the sum.</summary>
    public void Run(int stepInEpoch, float lr, float tau)
    {
        var (v1, v2) = MakeViews(stepInEpoch);
        var result = Learner.Step(v1, v2, lr, tau);
        Ops.Elementwise.Axpby(device, result.Loss.Data, lossSum.View, 1f, 1f);
    }

    /// <summary>Releases the pool and makes both augmented views of the step's batch: (B, 3, S, S) each.</summary>
    (Tensor View1, Tensor View2) MakeViews(int stepInEpoch)
    {
        if (epoch < 0)
            throw new InvalidOperationException("TrainingStep.Run before BeginEpoch");
        if (stepInEpoch < 0 || stepInEpoch >= StepsPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(stepInEpoch), stepInEpoch, $"expected a step in [0, {StepsPerEpoch})");
        device.Pool.ReleaseAll();
        var indices = epochOrder.View.SubView((long)stepInEpoch * BatchSize, BatchSize);   // (B)
        return Augment(source.Batch(stepInEpoch, indices), indices, BatchSize, epoch);
    }

    /// <summary>Both views (b, 3, S, S) of a batch: parameters drawn for the data-set indices, applied to the batch's rows.</summary>
    (Tensor View1, Tensor View2) Augment(DeviceBatch batch, ArrayView<int> datasetIndices, int b, int epochIndex)
    {
        var v1 = Tensor.Temp(device, "view1", b, 3, viewSize, viewSize);
        var v2 = Tensor.Temp(device, "view2", b, 3, viewSize, viewSize);
        foreach (var (view, output, config) in new[] { (1, v1, view1Config), (2, v2, view2Config) })
        {
            var prm = Augmentation.DrawParameters(device, datasetIndices, config, seed, epochIndex, view, imageCount, height, width);
            Augmentation.ApplyParameters(device, batch.Pixels, batch.Rows, prm, output, config, height, width);
        }
        return (v1, v2);
    }

    /// <summary>The sum of the losses of this epoch's steps so far (waits for the device).</summary>
    public double ReadLossSum() => device.ToHost(lossSum.View)[0];

    /// <summary>
    /// Device memory the pool must hold for one step at batch <paramref name="batch"/>: the step's views are
    /// made for real, then forward and backward run once with the pool measuring
    /// (<see cref="BufferPool.BeginMeasure"/>), and the BatchNorm running statistics that pass moved are
    /// put back, so training continues bit for bit. The optimizer and the EMA rent nothing from the pool
    /// and are not run.
    /// </summary>
    public long MeasurePoolBytes(int batch)
    {
        if (batch < 2)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "BatchNorm needs a batch of at least 2");
        if (batch > BatchSize)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"measure at most the step's batch of {BatchSize}");
        if (measured is { } m && m.Batch == batch)
            return m.Bytes;   // the same shapes rent the same buffers: measuring again would change nothing
        var model = Learner.Model;
        var studentState = model.Student.StateToHost();
        var teacherState = model.Teacher.StateToHost();
        var tracked = model.StudentBatchNorms.Concat(model.TeacherBatchNorms).Select(b => b.BatchesTracked).ToArray();
        device.Pool.ReleaseAll();
        var rows = Enumerable.Range(0, batch).Select(i => i % imageCount).ToArray();
        using var indices = device.Allocate(rows);   // (b)
        source.Begin(rows, batch);
        var (v1, v2) = Augment(source.Batch(0, indices.View), indices.View, batch, 0);
        long bytes = device.Pool.BytesRented;
        device.Pool.BeginMeasure();
        try
        {
            Learner.ForwardBackward(v1, v2);
        }
        finally
        {
            bytes += device.Pool.EndMeasure();
            device.Pool.ReleaseAll();
            model.Student.StateFromHost(studentState);
            model.Teacher.StateFromHost(teacherState);
            int i = 0;
            foreach (var bn in model.StudentBatchNorms.Concat(model.TeacherBatchNorms))
                bn.BatchesTracked = tracked[i++];
        }
        measured = (batch, bytes);
        if (epoch >= 0)
            source.Begin(epochRows, BatchSize);   // the epoch's sequence again (a streamed source prefetches its step 0)
        return bytes;
    }

    /// <summary>Measure again next time (the kernel versions changed: a resumed run pins its recorded ones).</summary>
    public void ForgetMeasurement() => measured = null;

    /// <summary>
    /// Stops with one line before the first step when the device cannot hold a step at this batch size:
    /// needed against available, and the largest batch that fits (the pool grows linearly with the batch,
    /// so a second measurement at half the batch gives the slope).
    /// </summary>
    public void CheckMemory()
    {
        long needed = MeasurePoolBytes(BatchSize);
        long available = device.Pool.CapacityBytes;
        if (needed <= available)
            return;
        int half = Math.Max(2, BatchSize / 2);
        long neededHalf = half == BatchSize ? needed : MeasurePoolBytes(half);
        var message = MemoryMessage(device, BatchSize, needed, available, LargestBatch(BatchSize, needed, half, neededHalf, available));
        if (BudgetBytes is long budget)
            message = message.Replace($"{ComputeDevice.FormatBytes(available)} available;",
                $"{ComputeDevice.FormatBytes(available)} available (of a {ComputeDevice.FormatBytes(budget)} budget, the rest holding the {source.Placement}-placed images);");
        throw new DeviceMemoryException(message, needed);
    }

    /// <summary>The whole capped budget when the pool's share is what is left of it after the images (set by the trainer; named in the message).</summary>
    public long? BudgetBytes { get; set; }

    /// <summary>The largest batch b with fixed + b·perImage ≤ available, from measurements at two batch sizes (0 if none fits).</summary>
    public static int LargestBatch(int batch, long bytes, int otherBatch, long otherBytes, long available)
    {
        if (batch == otherBatch)
            return bytes <= available ? batch : 0;
        double perImage = (double)(bytes - otherBytes) / (batch - otherBatch);
        double fixedBytes = bytes - perImage * batch;
        if (perImage <= 0)
            return bytes <= available ? int.MaxValue : 0;
        long largest = (long)Math.Floor((available - fixedBytes) / perImage);
        return (int)Math.Clamp(largest < 2 ? 0 : largest, 0, int.MaxValue);
    }

    public static string MemoryMessage(ComputeDevice device, int batch, long needed, long available, int largest) =>
        $"not enough device memory on {device.Info.Spec} ({device.Info.Name}): a training step at --batch-size {batch} needs " +
        $"{ComputeDevice.FormatBytes(needed)}, {ComputeDevice.FormatBytes(available)} available; " +
        (largest >= 2 ? $"the largest batch that fits is {largest} (--batch-size {largest})" : "not even a batch of 2 fits (try a smaller --width)");

    public void Dispose()
    {
        source.Dispose();
        epochOrder.Dispose();
        lossSum.Dispose();
    }
}
