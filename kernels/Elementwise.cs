using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Small element-wise kernels the engine needs between layers: fill, scaled accumulate, add and
/// a 2-D transpose. Each is a grid-stride loop over n elements.
/// </summary>
public static class ElementwiseKernels
{
    /// <summary>y[i] = value.</summary>
    public static void FillKernel(ArrayView<float> y, int n, float value)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            y[i] = value;
    }

    /// <summary>y[i] = α·x[i] + β·y[i] (β = 0 ignores y, so garbage in y never leaks through).</summary>
    public static void AxpbyKernel(ArrayView<float> x, ArrayView<float> y, int n, float alpha, float beta)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            y[i] = beta == 0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
    }

    /// <summary>y[i] += α·s[0]: the backward of a sum (α = 1) or a mean (α = 1/n) into every element.</summary>
    public static void AddScalarFromBufferKernel(ArrayView<float> s, ArrayView<float> y, int n, float alpha)
    {
        float v = alpha * s[0];
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            y[i] += v;
    }

    /// <summary>xᵀ: y[c·rows + r] = x[r·cols + c] for x (rows, cols), y (cols, rows).</summary>
    public static void TransposeKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int n = rows * cols;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            // i walks y contiguously: y row c, column r.
            int c = i / rows;
            int r = i - c * rows;
            y[i] = x[r * cols + c];
        }
    }

    /// <summary>y[b, :] = x[indices[b], :]: the rows of a batch, for x (M, D), y (B, D).</summary>
    public static void GatherRowsKernel(ArrayView<float> x, ArrayView<int> indices, ArrayView<float> y, int rows, int dim)
    {
        int n = rows * dim;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            int b = i / dim;
            y[i] = x[indices[b] * dim + (i - b * dim)];
        }
    }

    /// <summary>y[b, c, r] = x[b, r, c]: B independent transposes of (rows, cols) matrices.</summary>
    public static void BatchedTransposeKernel(ArrayView<float> x, ArrayView<float> y, int batches, int rows, int cols)
    {
        int n = batches * rows * cols;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            // i walks y contiguously: batch b, y row c, column r.
            int b = i / (rows * cols);
            int rem = i - b * rows * cols;
            int c = rem / rows;
            int r = rem - c * rows;
            y[i] = x[(b * rows + r) * cols + c];
        }
    }
}
