using ILGPU.Runtime;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;
using RefAugment = ByolIlgpu.Reference.Augment;
using RefKnn = ByolIlgpu.Reference.Knn;
using RefOpt = ByolIlgpu.Reference.Optimizers;

namespace ByolIlgpu.SelfTest;

/// <summary>The parameter updates (three steps each, against Reference/Optimizers), the EMA teacher, the augmentations and the kNN.</summary>
public static class OtherChecks
{
    /// <summary>A weight, a bias (no decay) and another weight; at realistic sizes on large devices.</summary>
    static ParameterStore NewStore(SelfTestContext context, int seed, bool withGradients = true)
    {
        int scale = context.Large ? 64 : 1;
        var store = new ParameterStore(context.Device, withGradients);
        store.Add("a.weight", [3 * scale, 4 * scale], decay: true, Init.Uniform(1));
        store.Add("a.bias", [3 * scale], decay: false, Init.Uniform(1));
        store.Add("b.weight", [5 * scale, 2], decay: true, Init.Uniform(1));
        store.Build(seed);
        return store;
    }

    static double[] Slice(float[] flat, Parameter p) => flat.Skip(p.Offset).Take(p.Length).Select(v => (double)v).ToArray();

    /// <summary>Three steps of an optimizer beside its reference, each tensor's weights compared after each step.</summary>
    static void Steps(SelfTestContext context, string family, string name, Func<ParameterStore, Optimizer> create,
        Func<double[], double[], double[][], Parameter, long, (double[] w, double[][] state)> reference, int stateCount, float lr)
    {
        using var store = NewStore(context, 100);
        using var optimizer = create(store);
        var w = store.Parameters.Select(p => Slice(store.ValuesToHost(), p)).ToArray();
        var state = store.Parameters.Select(p => Enumerable.Range(0, stateCount).Select(_ => new double[p.Length]).ToArray()).ToArray();
        for (int step = 1; step <= 3; step++)
        {
            var g = Array.ConvertAll(SelfTestContext.NonZero(200 + step, store.Count, 0.1), v => (float)v);
            store.GradsFromHost(g);
            optimizer.Step(lr);
            var got = context.Seen(name, "v1", store.ValuesToHost());
            for (int t = 0; t < store.Parameters.Count; t++)
            {
                var p = store.Parameters[t];
                (w[t], state[t]) = reference(w[t], Slice(g, p), state[t], p, step);
                context.Rows.Add(Compare.Elements(family, $"{name} step {step}", "v1", "reference", $"{p.Name} {Tensor.Format(p.Shape)}",
                    got.AsSpan(p.Offset, p.Length), w[t], Tolerance.Fp32Op));
            }
        }
    }

    public static void Sgd(SelfTestContext context) => Steps(context, "sgd", "sgd",
        s => new Sgd(s, momentum: 0.9f, weightDecay: 0.1f),
        (w, g, st, p, _) => { var (nw, nv) = RefOpt.Sgd(w, g, st[0], 0.05, 0.9, 0.1, p.Decay); return (nw, [nv]); }, 1, 0.05f);

    public static void Lars(SelfTestContext context) => Steps(context, "lars", "lars",
        s => new Lars(s, momentum: 0.9f, weightDecay: 1e-2f, trustCoefficient: 0.02f),
        (w, g, st, p, _) => { var (nw, nv, _) = RefOpt.Lars(w, g, st[0], 0.5, 0.9, 1e-2, 0.02, p.Decay); return (nw, [nv]); }, 1, 0.5f);

    public static void Adam(SelfTestContext context)
    {
        foreach (bool decoupled in new[] { false, true })
            Steps(context, "adam", decoupled ? "adamw" : "adam",
                s => new Adam(s, weightDecay: 0.05f, decoupled: decoupled),
                (w, g, st, p, step) => { var (nw, m, v) = RefOpt.Adam(w, g, st[0], st[1], step, 3e-3, 0.9, 0.999, 1e-8, 0.05, decoupled, p.Decay); return (nw, [m, v]); },
                2, 3e-3f);
    }

    /// <summary>ξ ← τξ + (1 − τ)θ over the teacher's prefix of the student's parameters.</summary>
    public static void Ema(SelfTestContext context)
    {
        using var student = NewStore(context, 102);
        using var teacher = NewStore(context, 103, withGradients: false);
        var t0 = teacher.ValuesToHost().Select(v => (double)v).ToArray();
        var s0 = student.ValuesToHost().Select(v => (double)v).ToArray();
        Optim.Ema.Update(teacher, student, 0.99f);
        context.Rows.Add(Compare.Elements("ema", "ema", "v1", "reference", $"L={teacher.Count} τ=0.99",
            context.Seen("ema", "v1", teacher.ValuesToHost()), RefOpt.Ema(t0, s0, 0.99), Tolerance.Fp32Op));
    }

    /// <summary>
    /// Both BYOL views (crop, flip, colour jitter, grayscale, blur, solarise) and the evaluation
    /// transform, each sample against Reference/Augment fed the kernel's own drawn parameters.
    /// </summary>
    public static void Augment(SelfTestContext context)
    {
        int count = context.Large ? 64 : 3, size = 32;
        var images = new byte[count * 3 * size * size];
        new Random(1).NextBytes(images);
        var indices = Enumerable.Range(0, count).Select(i => (i * 7 + 1) % count).ToArray();
        var device = context.Device;
        using var img = device.Allocate(images);
        using var idx = device.Allocate(indices);
        foreach (int view in new[] { 1, 2 })
        {
            device.Pool.ReleaseAll();
            var cfg = AugmentationConfig.ByolCifar(view, blur: true) with { SolarizeProbability = view == 2 ? 0.5f : 0f };
            var output = Tensor.Temp(device, "augmented", count, 3, size, size);
            var parameters = Augmentation.Apply(device, img.View, idx.View, output, cfg, 20240614, 3, view, size, size).ToHost();
            var got = context.Seen("augment", $"view {view}", output.ToHost());
            int length = 3 * size * size, p = Augmentation.ParameterCount;
            var expected = new double[got.Length];
            for (int b = 0; b < count; b++)
                RefAugment.Apply(images, indices[b], size, size, parameters.Skip(b * p).Take(p).Select(v => (double)v).ToArray(), cfg, size, size)
                    .CopyTo(expected, b * length);
            context.Rows.Add(Compare.Elements("augment", $"augment.byol view {view}", "v1", "reference", $"B={count} 3×{size}×{size}", got, expected, Tolerance.Fp32Op));
        }
        device.Pool.ReleaseAll();
        var eval = Tensor.Temp(device, "eval", count, 3, size, size);
        Augmentation.Normalize(device, img.View, idx.View, eval, ChannelNormalization.Cifar10, size, size);
        var evalGot = context.Seen("augment", "eval", eval.ToHost());
        var evalExpected = indices.SelectMany(i => RefAugment.Eval(images, i, size, size, ChannelNormalization.Cifar10)).ToArray();
        context.Rows.Add(Compare.Elements("augment", "augment.eval", "v1", "reference", $"B={count} 3×{size}×{size}", evalGot, evalExpected, Tolerance.Fp32Op));
    }

    /// <summary>
    /// Weighted kNN predictions against the brute-force reference, away from near ties (float and
    /// double may rank a near tie differently); the error is the share of clear queries predicted differently.
    /// </summary>
    public static void Knn(SelfTestContext context)
    {
        int m = context.Large ? 2000 : 40, q = context.Large ? 300 : 16, dim = context.Large ? 128 : 8, classes = 4, k = context.Large ? 200 : 10;
        var centres = SelfTestContext.NonZero(50, classes * dim);
        (double[] X, int[] Y) Points(int count, int seed)
        {
            var rng = new Random(seed);
            var x = new double[count * dim];
            var y = new int[count];
            for (int i = 0; i < count; i++)
            {
                y[i] = rng.Next(classes);
                for (int d = 0; d < dim; d++)
                    x[i * dim + d] = (float)(centres[y[i] * dim + d] + 2.0 * (rng.NextDouble() * 2 - 1));
            }
            return (x, y);
        }
        var (bank, bankLabels) = Points(m, 51);
        var (queries, queryLabels) = Points(q, 52);
        var device = context.Device;
        device.Pool.ReleaseAll();
        var tb = Tensor.FromHost(device, "bank", Array.ConvertAll(bank, v => (float)v), m, dim);
        var tq = Tensor.FromHost(device, "queries", Array.ConvertAll(queries, v => (float)v), q, dim);
        var result = Eval.Knn.Evaluate(device, tb, bankLabels, tq, queryLabels, classes, k, queryChunk: context.Large ? 128 : 7);
        var scores = RefKnn.Scores(bank, bankLabels, queries, dim, classes, k, 0.1);
        var expected = RefKnn.Predict(scores, classes);
        var got = new List<float>();
        var want = new List<double>();
        for (int i = 0; i < q; i++)
        {
            var row = scores.Skip(i * classes).Take(classes).OrderDescending().ToArray();
            if (row[0] - row[1] <= 1e-3 * row[0])
                continue;
            got.Add(result.Predictions[i]);
            want.Add(expected[i]);
        }
        context.Rows.Add(Compare.Elements("knn", "knn.predict", "v1", "reference", $"bank {m}×{dim} queries {q} k={k}",
            context.Seen("knn.predict", "v1", [.. got]), [.. want], Tolerance.Exact, note: $"{q - got.Count} near ties left out"));
    }
}
