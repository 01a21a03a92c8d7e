using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Ops;

/// <summary>Launchers for <see cref="ElementwiseKernels"/>.</summary>
public static class Elementwise
{
    public static void Fill(ComputeDevice dev, ArrayView<float> y, float value)
    {
        var k = dev.Kernel(nameof(ElementwiseKernels.FillKernel),
            a => a.LoadStreamKernel<ArrayView<float>, int, float>(ElementwiseKernels.FillKernel));
        k(dev.GridStrideConfig(y.Length), y, (int)y.Length, value);
    }

    public static void Fill(Tensor t, float value) => Fill(t.Device, t.Data, value);

    /// <summary>y = α·x + β·y.</summary>
    public static void Axpby(ComputeDevice dev, ArrayView<float> x, ArrayView<float> y, float alpha, float beta)
    {
        CheckSameLength(x, y, "axpby");
        var k = dev.Kernel(nameof(ElementwiseKernels.AxpbyKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float, float>(ElementwiseKernels.AxpbyKernel));
        k(dev.GridStrideConfig(x.Length), x, y, (int)x.Length, alpha, beta);
    }

    /// <summary>y[i] += α·s[0] for every i.</summary>
    public static void AddScalarFromBuffer(ComputeDevice dev, ArrayView<float> s, ArrayView<float> y, float alpha)
    {
        var k = dev.Kernel(nameof(ElementwiseKernels.AddScalarFromBufferKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float>(ElementwiseKernels.AddScalarFromBufferKernel));
        k(dev.GridStrideConfig(y.Length), s, y, (int)y.Length, alpha);
    }

    /// <summary>y = xᵀ for x (rows, cols), y (cols, rows).</summary>
    public static void Transpose(ComputeDevice dev, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (x.Length != (long)rows * cols || y.Length != x.Length)
            throw new ArgumentException($"transpose: buffers of {x.Length} and {y.Length} elements for ({rows}, {cols})");
        var k = dev.Kernel(nameof(ElementwiseKernels.TransposeKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.TransposeKernel));
        k(dev.GridStrideConfig(x.Length), x, y, rows, cols);
    }

    /// <summary>y[b, :] = x[indices[b], :] for x (M, D) and B indices (no gradient: used on frozen features).</summary>
    public static void GatherRows(ComputeDevice dev, ArrayView<float> x, ArrayView<int> indices, ArrayView<float> y, int dim)
    {
        int rows = (int)indices.Length;
        if (y.Length != (long)rows * dim || x.Length % dim != 0)
            throw new ArgumentException($"gather rows: {rows} indices of {dim}-d rows into {y.Length} elements from {x.Length}");
        var k = dev.Kernel(nameof(ElementwiseKernels.GatherRowsKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(ElementwiseKernels.GatherRowsKernel));
        k(dev.GridStrideConfig(y.Length), x, indices, y, rows, dim);
    }

    /// <summary>A copy of x on the tape: y = x, dx += dy (so a tensor can be used as a fresh output).</summary>
    public static Tensor Copy(Tape tape, Tensor x)
    {
        var dev = tape.Device;
        var y = Tensor.Temp(dev, x.Name + ".copy", x.Shape);
        Axpby(dev, x.Data, y.Data, 1f, 0f);
        if (tape.ShouldRecord(x))
            tape.Record(y, () => Axpby(dev, y.GradOrZeros().Data, x.GradOrZeros().Data, 1f, 1f));
        return y;
    }

    /// <summary>y = a + b on the tape; backward da += dy, db += dy.</summary>
    public static Tensor Add(Tape tape, Tensor a, Tensor b)
    {
        CheckShape(b, "add", a.Shape);
        var dev = tape.Device;
        var y = Tensor.Temp(dev, "add", a.Shape);
        Axpby(dev, a.Data, y.Data, 1f, 0f);
        Axpby(dev, b.Data, y.Data, 1f, 1f);
        if (tape.ShouldRecord(a, b))
            tape.Record(y, () =>
            {
                var dy = y.GradOrZeros().Data;
                if (a.RequiresGrad) Axpby(dev, dy, a.GradOrZeros().Data, 1f, 1f);
                if (b.RequiresGrad) Axpby(dev, dy, b.GradOrZeros().Data, 1f, 1f);
            });
        return y;
    }

    internal static void CheckSameLength(ArrayView<float> x, ArrayView<float> y, string op)
    {
        if (x.Length != y.Length)
            throw new ArgumentException($"{op}: buffers of {x.Length} and {y.Length} elements");
    }

    internal static void CheckShape(Tensor t, string op, params int[] expected)
    {
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"{op}: '{t.Name}' has shape {Tensor.Format(t.Shape)}, expected {Tensor.Format(expected)}");
    }

    internal static void CheckRank(Tensor t, string op, int rank)
    {
        if (t.Rank != rank)
            throw new ArgumentException($"{op}: '{t.Name}' has shape {Tensor.Format(t.Shape)}, expected {rank} dimensions");
    }
}
