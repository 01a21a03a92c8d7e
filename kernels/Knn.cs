using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Top-k selection for kNN evaluation: for each query row q of the similarity matrix S (Q, M),
/// the k largest S[q, j] and their bank indices j, in descending order; equal similarities keep
/// the lower bank index first (deterministic, as the reference's stable sort).
/// One thread per query: it scans its row once and insertion-sorts into its (k) slots of the
/// output, which live in global memory (k = 200 does not fit in registers); after the first k
/// elements, an insertion is needed only when S[q, j] beats the current k-th value.
/// </summary>
public static class KnnKernels
{
    public static void TopKKernel(
        ArrayView<float> similarity,  // (Q, M)
        ArrayView<float> topValues,   // (Q, k)
        ArrayView<int> topIndices,    // (Q, k)
        int queries, int bank, int k)
    {
        for (int q = GridStride.Start; q < queries; q += GridStride.Step)
        {
            int row = q * bank, o = q * k;
            int filled = 0;
            for (int j = 0; j < bank; j++)
            {
                float s = similarity[row + j];
                if (filled == k && !(s > topValues[o + k - 1]))
                    continue;   // not better than the k-th (ties: the earlier index stays)
                // Shift smaller values down one slot, then place s after every value ≥ s.
                int pos = filled < k ? filled : k - 1;
                while (pos > 0 && topValues[o + pos - 1] < s)
                {
                    topValues[o + pos] = topValues[o + pos - 1];
                    topIndices[o + pos] = topIndices[o + pos - 1];
                    pos--;
                }
                topValues[o + pos] = s;
                topIndices[o + pos] = j;
                if (filled < k)
                    filled++;
            }
        }
    }
}
