namespace ByolIlgpu.Reference;

/// <summary>
/// Brute-force weighted kNN in double precision, as BYOL and solo-learn monitor training: cosine
/// similarity of L2-normalised features, the k most similar bank items (ties: lower index first),
/// each voting for its class with weight exp(sim/T); prediction = the highest total (ties: lower class).
/// </summary>
public static class Knn
{
    /// <summary>Class scores (Q, C) of every query.</summary>
    public static double[] Scores(double[] bank, int[] bankLabels, double[] queries, int dim, int classes, int k, double temperature)
    {
        int m = bankLabels.Length, q = queries.Length / dim;
        k = Math.Min(k, m);
        var bn = Dense.L2Normalize(bank, m, dim, 1e-12);
        var qn = Dense.L2Normalize(queries, q, dim, 1e-12);
        var scores = new double[q * classes];
        for (int i = 0; i < q; i++)
        {
            var sims = new (double Sim, int Index)[m];
            for (int j = 0; j < m; j++)
            {
                double s = 0;
                for (int d = 0; d < dim; d++)
                    s += qn[i * dim + d] * bn[j * dim + d];
                sims[j] = (s, j);
            }
            foreach (var (sim, index) in sims.OrderByDescending(t => t.Sim).ThenBy(t => t.Index).Take(k))
                scores[i * classes + bankLabels[index]] += Math.Exp(sim / temperature);
        }
        return scores;
    }

    /// <summary>argmax of each row of scores (Q, C), the lowest class on ties.</summary>
    public static int[] Predict(double[] scores, int classes)
    {
        int q = scores.Length / classes;
        var predictions = new int[q];
        for (int i = 0; i < q; i++)
            for (int c = 1; c < classes; c++)
                if (scores[i * classes + c] > scores[i * classes + predictions[i]])
                    predictions[i] = c;
        return predictions;
    }
}
