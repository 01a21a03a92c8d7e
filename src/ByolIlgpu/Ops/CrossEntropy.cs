using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>Per-row softmax cross-entropy of logits (N, C) against integer labels (N); backward softmax − one-hot.</summary>
public static class CrossEntropy
{
    public static Tensor Forward(Tape tape, Tensor logits, ArrayView<int> labels)
    {
        Elementwise.CheckRank(logits, "cross entropy", 2);
        int rows = logits.Dim(0), classes = logits.Dim(1);
        if (labels.Length != rows)
            throw new ArgumentException($"cross entropy: {labels.Length} labels for {rows} rows of logits");
        var dev = tape.Device;
        var loss = Tensor.Temp(dev, "cross_entropy", rows);
        var k = dev.Kernel(nameof(CrossEntropyKernels.CrossEntropyForwardKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(CrossEntropyKernels.CrossEntropyForwardKernel));
        k(dev.GridStrideConfig(rows), logits.Data, labels, loss.Data, rows, classes);
        if (tape.ShouldRecord(logits))
            tape.Record(loss, () =>
            {
                var kb = dev.Kernel(nameof(CrossEntropyKernels.CrossEntropyBackwardKernel), a => a.LoadStreamKernel<
                    ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(CrossEntropyKernels.CrossEntropyBackwardKernel));
                kb(dev.GridStrideConfig(rows), logits.Data, labels, loss.GradOrZeros().Data, logits.GradOrZeros().Data, rows, classes);
            });
        return loss;
    }
}
