using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Training;

/// <summary>
/// The trainer's step, on the device from end to end: the epoch's order is uploaded once
/// (<see cref="BeginEpoch"/>), a step takes its slice of it, makes both augmented views from the
/// uint8 images already on the device, runs the BYOL step and adds the loss into a device-side sum.
/// No host synchronisation per step: the loss is read only when <see cref="ReadLossSum"/> asks.
/// `byol train` and `byol bench` run this same class.
/// </summary>
public sealed class TrainingStep : IDisposable
{
    readonly ComputeDevice device;
    readonly ArrayView<byte> pixels;                                  // (N, 3, H, W) uint8, on the device
    readonly int imageCount;
    readonly int height, width, viewSize;                             // H, W of the data set; the views' side
    readonly MemoryBuffer1D<int, Stride1D.Dense> epochOrder;         // (steps·B): this epoch's data-set rows
    readonly MemoryBuffer1D<float, Stride1D.Dense> lossSum;          // (1): running sum of this epoch's losses
    readonly AugmentationConfig view1Config, view2Config;
    readonly ulong seed;
    int epoch = -1;

    /// <summary>A step on <paramref name="imageCount"/> images of <paramref name="height"/>×<paramref name="width"/>, making views of <paramref name="viewSize"/>×<paramref name="viewSize"/>.</summary>
    public TrainingStep(ComputeDevice device, ByolLearner learner, ArrayView<byte> pixels, int imageCount, int batchSize, int seed, bool blur,
        int height = 32, int width = 32, int viewSize = 32)
    {
        if (imageCount < batchSize)
            throw new ArgumentException($"--batch-size {batchSize} is larger than the training set ({imageCount} images)");
        this.device = device;
        Learner = learner;
        this.pixels = pixels;
        this.imageCount = imageCount;
        this.height = height;
        this.width = width;
        this.viewSize = viewSize;
        BatchSize = batchSize;
        this.seed = (ulong)seed;
        view1Config = AugmentationConfig.ByolCifar(view: 1, blur: blur, imageSize: viewSize);
        view2Config = AugmentationConfig.ByolCifar(view: 2, blur: blur, imageSize: viewSize);
        view1Config.Validate();
        view2Config.Validate();
        epochOrder = device.Allocate<int>((long)StepsPerEpoch * batchSize);
        lossSum = device.Allocate<float>(1);
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
        device.CopyFromHost(epochOrder.View, order.AsSpan(0, (int)epochOrder.Length));
        device.MemSetToZero(lossSum.View);
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
        var v1 = Tensor.Temp(device, "view1", BatchSize, 3, viewSize, viewSize);
        var v2 = Tensor.Temp(device, "view2", BatchSize, 3, viewSize, viewSize);
        Augmentation.Apply(device, pixels, indices, v1, view1Config, seed, epoch, view: 1, height, width);
        Augmentation.Apply(device, pixels, indices, v2, view2Config, seed, epoch, view: 2, height, width);
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
        var model = Learner.Model;
        var studentState = model.Student.StateToHost();
        var teacherState = model.Teacher.StateToHost();
        var tracked = model.StudentBatchNorms.Concat(model.TeacherBatchNorms).Select(b => b.BatchesTracked).ToArray();
        device.Pool.ReleaseAll();
        using var indices = device.Allocate(Enumerable.Range(0, batch).Select(i => i % imageCount).ToArray());   // (b)
        var v1 = Tensor.Temp(device, "view1", batch, 3, viewSize, viewSize);
        var v2 = Tensor.Temp(device, "view2", batch, 3, viewSize, viewSize);
        Augmentation.Apply(device, pixels, indices.View, v1, view1Config, seed, 0, view: 1, height, width);
        Augmentation.Apply(device, pixels, indices.View, v2, view2Config, seed, 0, view: 2, height, width);
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
        return bytes;
    }

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
        throw new DeviceMemoryException(MemoryMessage(device, BatchSize, needed, available, LargestBatch(BatchSize, needed, half, neededHalf, available)), needed);
    }

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
        epochOrder.Dispose();
        lossSum.Dispose();
    }
}
