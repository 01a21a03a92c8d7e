using ByolIlgpu.Engine;
using ByolIlgpu.Eval;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;
using RefKnn = ByolIlgpu.Reference.Knn;

namespace ByolIlgpu.Tests;

/// <summary>Weighted kNN on the device against the brute-force double reference.</summary>
public abstract class KnnTests : BackendTest
{
    /// <summary>Points around <paramref name="classes"/> random centres with noise: accuracy well above chance, not perfect.</summary>
    static (double[] x, int[] y) Clusters(int count, int dim, int classes, int seed, double noise)
    {
        var centres = Rand.Uniform(1000 + classes, classes * dim);
        var rng = new Random(seed);
        var x = new double[count * dim];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            y[i] = rng.Next(classes);
            for (int d = 0; d < dim; d++)
                x[i * dim + d] = (float)(centres[y[i] * dim + d] + noise * (rng.NextDouble() * 2 - 1));
        }
        return (x, y);
    }

    KnnResult Evaluate(double[] bank, int[] bankLabels, double[] queries, int[] queryLabels, int dim, int classes, int k)
    {
        Device.Pool.ReleaseAll();
        var tb = Tensor.FromHost(Device, "bank", bank.ToFloat(), bankLabels.Length, dim);
        var tq = Tensor.FromHost(Device, "queries", queries.ToFloat(), queryLabels.Length, dim);
        return Knn.Evaluate(Device, tb, bankLabels, tq, queryLabels, classes, k, queryChunk: Large ? 128 : 7);
    }

    [Fact]
    public void MatchesTheBruteForceReference()
    {
        int m = Large ? 3000 : 50, q = Large ? 500 : 20, dim = Large ? 64 : 8, classes = 3, k = Large ? 200 : 10;
        var (bank, bankLabels) = Clusters(m, dim, classes, 1, noise: 5.0);
        var (queries, queryLabels) = Clusters(q, dim, classes, 2, noise: 5.0);
        var result = Evaluate(bank, bankLabels, queries, queryLabels, dim, classes, k);
        var scores = RefKnn.Scores(bank, bankLabels, queries, dim, classes, k, 0.1);
        var expected = RefKnn.Predict(scores, classes);
        int compared = 0;
        for (int i = 0; i < q; i++)
        {
            var row = scores.Skip(i * classes).Take(classes).OrderDescending().ToArray();
            if (row[0] - row[1] <= 1e-3 * row[0])
                continue;   // a near tie: float and double may rank it differently
            Assert.True(expected[i] == result.Predictions[i], $"query {i}: predicted {result.Predictions[i]}, reference {expected[i]}");
            compared++;
        }
        Assert.True(compared >= q * 9 / 10, $"only {compared} of {q} queries were clear enough to compare");
        double accuracy = expected.Zip(queryLabels).Count(p => p.First == p.Second) / (double)q;
        Assert.Equal(accuracy, result.Top1, 1);
        Assert.InRange(result.Top1, 0.5, 0.999);   // the set is neither trivial nor hopeless
        Assert.Equal(1.0, result.Top5);            // 3 classes: always within the top 5
    }

    [Fact]
    public void KOneIsTheNearestNeighbourAndTiesKeepTheLowerIndex()
    {
        int dim = 4;
        // Bank items 1 and 2 are identical (a tie); the query is closest to them.
        double[] bank = [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
        int[] labels = [0, 2, 1, 0];
        double[] query = [0.1, 1, 0, 0];
        var result = Evaluate(bank, labels, query, [2], dim, 3, k: 1);
        Assert.Equal(2, result.PredictionsK1[0]);   // index 1 (label 2) precedes its twin, index 2 (label 1)
        Assert.Equal(1.0, result.Top1K1);
    }

    [Fact]
    public void KIsClampedToTheBankAndOneClassGivesEverythingRight()
    {
        int dim = 3;
        var (bank, _) = Clusters(6, dim, 2, 3, 1.0);
        var (queries, _) = Clusters(5, dim, 2, 4, 1.0);
        var result = Evaluate(bank, new int[6], queries, new int[5], dim, 4, k: 200);
        Assert.Equal(6, result.K);
        Assert.Equal(1.0, result.Top1);
    }

    [Fact]
    public void LabelsOutOfRangeAreClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => Evaluate([1, 2, 3, 4], [0, 7], [1, 2], [0], 2, 3, 1));
        Assert.Contains("label 7", e.Message);
    }
}

public sealed class CpuKnnTests : KnnTests
{
    protected override ComputeDevice Device => TestDevices.Cpu;
    protected override bool Large => false;
}

[Trait("Backend", "OpenCL")]
public sealed class OpenClKnnTests : KnnTests
{
    protected override ComputeDevice Device => TestDevices.OpenCl;
    protected override bool Large => true;
}

[Trait("Backend", "CUDA")]
public sealed class CudaKnnTests : KnnTests
{
    protected override ComputeDevice Device => TestDevices.Cuda;
    protected override bool Large => true;
}
