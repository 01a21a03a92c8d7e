using System.Text;
using Xunit;

namespace ByolIlgpu.Tests.Infrastructure;

/// <summary>
/// Comparisons in llm.c's manner: |got − ref| ≤ atol + rtol·|ref| element by element; a failure
/// lists the first few mismatches as (index, got, expected) and how many there were.
/// </summary>
public static class Check
{
    public const double Atol = 1e-4, Rtol = 1e-3;

    public static void Close(float[] got, double[] expected, string what, double atol = Atol, double rtol = Rtol) =>
        Close(got.Select(v => (double)v).ToArray(), expected, what, atol, rtol);

    public static void Close(double[] got, double[] expected, string what, double atol = Atol, double rtol = Rtol)
    {
        Assert.True(got.Length == expected.Length, $"{what}: {got.Length} values, expected {expected.Length}");
        var report = new StringBuilder();
        int faults = 0;
        double maxDiff = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double diff = Math.Abs(got[i] - expected[i]);
            maxDiff = Math.Max(maxDiff, double.IsNaN(diff) ? double.PositiveInfinity : diff);
            if (!(diff <= atol + rtol * Math.Abs(expected[i])))
            {
                if (faults < 8)
                    report.AppendLine($"  [{i}] got {got[i]:G9}, expected {expected[i]:G9}");
                faults++;
            }
        }
        if (faults > 0)
            Assert.Fail($"{what}: {faults} of {got.Length} values outside atol {atol:G3} + rtol {rtol:G3}·|ref| (max diff {maxDiff:G3}):\n{report}");
    }

    /// <summary>got and expected hold the same floats bit for bit; the first differences listed.</summary>
    public static void BitIdentical(float[] got, float[] expected, string what)
    {
        Assert.True(got.Length == expected.Length, $"{what}: {got.Length} values, expected {expected.Length}");
        var report = new StringBuilder();
        int faults = 0;
        for (int i = 0; i < got.Length; i++)
            if (BitConverter.SingleToInt32Bits(got[i]) != BitConverter.SingleToInt32Bits(expected[i]))
            {
                if (faults < 8)
                    report.AppendLine($"  [{i}] got {got[i]:G9}, expected {expected[i]:G9}");
                faults++;
            }
        if (faults > 0)
            Assert.Fail($"{what}: {faults} of {got.Length} values differ in their bits:\n{report}");
    }

    /// <summary>|got − ref| ≤ bound element by element, for errors derived per element (e.g. TF32's, from Σ|a·b|); the first mismatches listed.</summary>
    public static void WithinBound(float[] got, double[] expected, double[] bound, string what)
    {
        Assert.True(got.Length == expected.Length && bound.Length == expected.Length, $"{what}: {got.Length} values, expected {expected.Length}");
        var report = new StringBuilder();
        int faults = 0;
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double diff = Math.Abs(got[i] - expected[i]);
            worst = Math.Max(worst, double.IsNaN(diff) ? double.PositiveInfinity : diff / bound[i]);
            if (!(diff <= bound[i]))
            {
                if (faults < 8)
                    report.AppendLine($"  [{i}] got {got[i]:G9}, expected {expected[i]:G9}, bound {bound[i]:G3}");
                faults++;
            }
        }
        if (faults > 0)
            Assert.Fail($"{what}: {faults} of {got.Length} values outside their bound (worst at {worst:G3}× its bound):\n{report}");
    }

    /// <summary>
    /// ‖got − ref‖₂ / ‖ref‖₂ ≤ tolerance: for gradients deep in a network, where float rounding in
    /// 20 layers of BatchNorm backward (differences of nearly equal terms) scatters single elements
    /// but leaves the vector as a whole close. Returns the relative error.
    /// </summary>
    public static double RelativeL2(float[] got, double[] expected, string what, double tolerance)
    {
        Assert.True(got.Length == expected.Length, $"{what}: {got.Length} values, expected {expected.Length}");
        double diff = 0, norm = 0;
        for (int i = 0; i < got.Length; i++)
        {
            diff += (got[i] - expected[i]) * (got[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        double relative = Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-30);
        Assert.True(relative <= tolerance, $"{what}: relative L2 error {relative:G3} > {tolerance:G3}");
        return relative;
    }

    /// <summary>Fails if every value is (nearly) zero: a comparison against zeros proves nothing.</summary>
    public static void NotAllZero(double[] values, string what) =>
        Assert.True(values.Any(v => Math.Abs(v) > 1e-6), $"{what}: the reference is all zeros, so the test could not fail");
}

/// <summary>Seeded random inputs in [lo, hi) (never zeros, as tinygrad's tests draw them).</summary>
public static class Rand
{
    public static double[] Uniform(int seed, int n, double lo = -2, double hi = 2)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * rng.NextDouble()).ToArray();
    }

    /// <summary>Values rounded to float, so the kernel and the double reference see the same inputs.</summary>
    public static double[] UniformF(int seed, int n, double lo = -2, double hi = 2) =>
        Uniform(seed, n, lo, hi).Select(v => (double)(float)v).ToArray();

    public static float[] ToFloat(this double[] x) => x.Select(v => (float)v).ToArray();
}

/// <summary>Central finite differences of a double-precision scalar function.</summary>
public static class FiniteDifference
{
    public const double Step = 1e-3, Rtol = 1e-2, Atol = 1e-4;

    /// <summary>∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i))/(2h) for every i: the same code `byol selftest` ships (<see cref="ByolIlgpu.SelfTest.FiniteDifference"/>).</summary>
    public static double[] Gradient(Func<double[], double> f, double[] x, double h = Step) => ByolIlgpu.SelfTest.FiniteDifference.Gradient(f, x, h);

    /// <summary>Σ_i out_i·w_i: the "fake loss" whose gradient is the backward of an op fed w as upstream gradient.</summary>
    public static double Dot(double[] output, double[] weights) => ByolIlgpu.SelfTest.FiniteDifference.Dot(output, weights);

    /// <summary>Asserts a kernel gradient against central differences of the reference.</summary>
    public static void Assert(float[] got, Func<double[], double> f, double[] x, string what, double h = Step, double rtol = Rtol, double atol = Atol)
    {
        var numeric = Gradient(f, x, h);
        Check.NotAllZero(numeric, what);
        Check.Close(got, numeric, what + " vs finite differences", atol, rtol);
    }
}
