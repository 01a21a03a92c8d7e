using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Eval;

/// <summary>kNN accuracies: weighted k (top-1, top-5) and k = 1 (top-1), as fractions; per-query predictions for tests.</summary>
public sealed record KnnResult(int K, double Top1, double Top5, double Top1K1, int[] Predictions, int[] PredictionsK1);

/// <summary>
/// Weighted kNN on the device: features L2-normalised, cosine similarities of a chunk of queries
/// against the whole bank by one matmul, top-k by <see cref="KnnKernels.TopKKernel"/>; the k
/// neighbours then vote on the host with weights exp(sim/T) (k·Q values: negligible work).
/// </summary>
public static class Knn
{
    public static KnnResult Evaluate(ComputeDevice dev, Tensor bankFeatures, int[] bankLabels, Tensor queryFeatures, int[] queryLabels,
        int classes = 10, int k = 200, float temperature = 0.1f, int queryChunk = 512)
    {
        int m = bankFeatures.Dim(0), dim = bankFeatures.Dim(1), q = queryFeatures.Dim(0);
        if (queryFeatures.Dim(1) != dim)
            throw new ArgumentException($"kNN: bank features {bankFeatures} and queries {queryFeatures} differ in dimension");
        if (bankLabels.Length != m || queryLabels.Length != q)
            throw new ArgumentException($"kNN: {bankLabels.Length} bank labels for {m} features, {queryLabels.Length} query labels for {q}");
        foreach (var label in bankLabels.Concat(queryLabels))
            if (label < 0 || label >= classes)
                throw new ArgumentException($"kNN: label {label} outside the {classes} classes");
        if (k < 1)
            throw new ArgumentException($"kNN: k must be at least 1, got {k}");
        k = Math.Min(k, m);

        using var bank = dev.Allocate<float>((long)m * dim);
        using var norms = dev.Allocate<float>(Math.Max(m, q));
        Normalize(dev, bankFeatures.Data, bank.View, norms.View, m, dim);
        using var queries = dev.Allocate<float>((long)q * dim);
        Normalize(dev, queryFeatures.Data, queries.View, norms.View, q, dim);

        // (D, M): the bank transposed once, so each chunk's matmul reads it row-major (no per-chunk copies).
        using var bankT = dev.Allocate<float>((long)m * dim);
        Ops.Elementwise.Transpose(dev, bank.View, bankT.View, m, dim);

        int chunk = Math.Min(queryChunk, q);
        using var similarity = dev.Allocate<float>((long)chunk * m);
        using var topValues = dev.Allocate<float>((long)chunk * k);
        using var topIndices = dev.Allocate<int>((long)chunk * k);
        var topK = dev.Kernel(nameof(KnnKernels.TopKKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(KnnKernels.TopKKernel));

        var predictions = new int[q];
        var predictionsK1 = new int[q];
        int top1 = 0, top5 = 0, top1K1 = 0;
        var values = new float[chunk * k];
        var indices = new int[chunk * k];
        for (int start = 0; start < q; start += chunk)
        {
            int n = Math.Min(chunk, q - start);
            var sim = similarity.View.SubView(0, (long)n * m);
            // S = Q_chunk · Bankᵀ: (n, D)·(D, M).
            Ops.Matmul.Gemm(dev, queries.View.SubView((long)start * dim, (long)n * dim), bankT.View, sim, n, m, dim, false, false, 1f, 0f);
            topK(dev.GridStrideConfig(n), sim, topValues.View, topIndices.View, n, m, k);
            dev.CopyToHost(topValues.View.SubView(0, (long)n * k), values.AsSpan(0, n * k));
            dev.CopyToHost(topIndices.View.SubView(0, (long)n * k), indices.AsSpan(0, n * k));
            var scores = new double[classes];
            for (int i = 0; i < n; i++)
            {
                Array.Clear(scores);
                for (int j = 0; j < k; j++)
                    scores[bankLabels[indices[i * k + j]]] += Math.Exp(values[i * k + j] / temperature);
                int truth = queryLabels[start + i];
                var ranked = Enumerable.Range(0, classes).OrderByDescending(c => scores[c]).ThenBy(c => c).ToArray();
                predictions[start + i] = ranked[0];
                predictionsK1[start + i] = bankLabels[indices[i * k]];
                if (ranked[0] == truth) top1++;
                if (ranked.Take(5).Contains(truth)) top5++;
                if (predictionsK1[start + i] == truth) top1K1++;
            }
        }
        return new KnnResult(k, (double)top1 / q, (double)top5 / q, (double)top1K1 / q, predictions, predictionsK1);
    }

    static void Normalize(ComputeDevice dev, ArrayView<float> x, ArrayView<float> y, ArrayView<float> norms, int rows, int dim)
    {
        var k = dev.Kernel(nameof(L2NormalizeKernels.L2NormalizeForwardKernel), a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(L2NormalizeKernels.L2NormalizeForwardKernel));
        k(dev.GridStrideConfig(rows), x, y, norms.SubView(0, rows), rows, dim, Ops.L2Normalize.DefaultEps);
    }
}
