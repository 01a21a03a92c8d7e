using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ByolIlgpu.SelfTest;

/// <summary>
/// One row of `byol selftest`: an op's output (or gradient) from one kernel version, compared with
/// version 1, the double reference, or finite differences of the reference. MaxError and Tolerance
/// are those of the element closest to (or furthest beyond) its own bound |got − ref| ≤ atol + rtol·|ref|.
/// </summary>
public sealed record SelfTestRow(string Family, string Op, string Version, string Against, string Shape,
    double MaxError, double Tolerance, bool Passed, int Mismatches, long Count, IReadOnlyList<string> FirstMismatches, string? Note = null)
{
    public JsonObject ToJson() => new()
    {
        ["family"] = Family, ["op"] = Op, ["version"] = Version, ["against"] = Against, ["shape"] = Shape,
        ["max_error"] = double.IsFinite(MaxError) ? MaxError : null, ["tolerance"] = Tolerance, ["passed"] = Passed,
        ["mismatches"] = Mismatches, ["count"] = Count, ["first_mismatches"] = new JsonArray([.. FirstMismatches.Select(m => (JsonNode)m)]),
        ["note"] = Note,
    };
}

/// <summary>An element-wise bound atol + rtol·|ref|.</summary>
public readonly record struct Tolerance(double Atol, double Rtol)
{
    /// <summary>The tests' bound for FP32 ops that are not long sums (elementwise, per-row and per-channel reductions).</summary>
    public static Tolerance Fp32Op => new(1e-4, 1e-3);

    /// <summary>Central differences of the double reference with step 1e-3 (as the tests).</summary>
    public static Tolerance FiniteDifferences => new(1e-4, 1e-2);

    /// <summary>Bit for bit.</summary>
    public static Tolerance Exact => new(0, 0);

    public double Of(double reference) => Atol + Rtol * Math.Abs(reference);
}

/// <summary>llm.c's validate_result: every element against its bound, the first few mismatches kept as (index, got, ref).</summary>
public static class Compare
{
    public const int ListedMismatches = 5;

    /// <summary>
    /// got against reference with bound[i] per element. A reference of only zeros proves nothing:
    /// the row fails saying so (inputs are random and non-zero, so it means a broken check).
    /// </summary>
    public static SelfTestRow Elements(string family, string op, string version, string against, string shape,
        ReadOnlySpan<float> got, ReadOnlySpan<double> reference, Func<long, double> bound, string? note = null)
    {
        if (got.Length != reference.Length)
            return new(family, op, version, against, shape, double.PositiveInfinity, 0, false, got.Length, reference.Length,
                [$"{got.Length} values, expected {reference.Length}"], note);
        var first = new List<string>();
        int mismatches = 0;
        long worst = 0;
        double worstRatio = -1, worstError = 0, worstBound = 0;
        bool anyNonZero = false;
        for (int i = 0; i < got.Length; i++)
        {
            anyNonZero |= Math.Abs(reference[i]) > 1e-12;
            double error = Math.Abs(got[i] - reference[i]), b = bound(i);
            double ratio = !double.IsFinite(error) ? double.PositiveInfinity : b > 0 ? error / b : error == 0 ? 0 : double.PositiveInfinity;
            if (ratio > worstRatio)
                (worst, worstRatio, worstError, worstBound) = (i, ratio, double.IsFinite(error) ? error : double.PositiveInfinity, b);
            if (!(ratio <= 1))
            {
                if (first.Count < ListedMismatches)
                    first.Add(FormattableString.Invariant($"[{i}] got {got[i]:G9}, ref {reference[i]:G9}, bound {b:G3}"));
                mismatches++;
            }
        }
        if (!anyNonZero && got.Length > 0)
            return new(family, op, version, against, shape, worstError, worstBound, false, got.Length, got.Length, ["the reference is all zeros: the check proves nothing"], note);
        return new(family, op, version, against, shape, worstError, worstBound, mismatches == 0, mismatches, got.Length, first, note);
    }

    public static SelfTestRow Elements(string family, string op, string version, string against, string shape,
        ReadOnlySpan<float> got, ReadOnlySpan<double> reference, Tolerance tolerance, string? note = null)
    {
        var copy = reference.ToArray();
        return Elements(family, op, version, against, shape, got, reference, i => tolerance.Of(copy[i]), note);
    }
}

/// <summary>Central differences of a function of doubles: ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i))/(2h).</summary>
public static class FiniteDifference
{
    public const double Step = 1e-3;

    public static double[] Gradient(Func<double[], double> f, double[] x, double h = Step)
    {
        var g = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            double keep = probe[i];
            probe[i] = keep + h;
            double up = f(probe);
            probe[i] = keep - h;
            double down = f(probe);
            probe[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /// <summary>Σ out_i·w_i: the fake loss whose gradient is the op's backward fed w as its upstream gradient.</summary>
    public static double Dot(double[] output, double[] weights)
    {
        double s = 0;
        for (int i = 0; i < output.Length; i++)
            s += output[i] * weights[i];
        return s;
    }
}

/// <summary>Everything one `byol selftest` run found.</summary>
public sealed record SelfTestReport(string Device, IReadOnlyList<SelfTestRow> Rows, IReadOnlyList<string> Skipped, TimeSpan Elapsed)
{
    public int Failed => Rows.Count(r => !r.Passed);

    public bool Passed => Failed == 0 && Rows.Count > 0;

    /// <summary>The table: one line per row; under a failing row its first mismatches.</summary>
    public string Format()
    {
        var text = new StringBuilder();
        int opWidth = Math.Max(2, Rows.Select(r => r.Op.Length).DefaultIfEmpty(0).Max());
        int shapeWidth = Math.Max(5, Rows.Select(r => r.Shape.Length).DefaultIfEmpty(0).Max());
        int versionWidth = Math.Max(7, Rows.Select(r => r.Version.Length).DefaultIfEmpty(0).Max());
        text.AppendLine($"{"op".PadRight(opWidth)}  {"version".PadRight(versionWidth)}  {"against",-9}  {"shape".PadRight(shapeWidth)}  {"max error",10}  {"tolerance",10}  pass");
        foreach (var r in Rows)
        {
            text.AppendLine(FormattableString.Invariant(
                $"{r.Op.PadRight(opWidth)}  {r.Version.PadRight(versionWidth)}  {r.Against,-9}  {r.Shape.PadRight(shapeWidth)}  {r.MaxError,10:0.00e+00}  {r.Tolerance,10:0.00e+00}  {(r.Passed ? "ok" : "FAIL")}"));
            if (!r.Passed)
            {
                text.AppendLine($"    {r.Mismatches} of {r.Count} values outside their bound{(r.Note is null ? "" : "; " + r.Note)}:");
                foreach (var m in r.FirstMismatches)
                    text.AppendLine("    " + m);
            }
        }
        foreach (var s in Skipped)
            text.AppendLine($"skipped: {s}");
        return text.ToString();
    }

    /// <summary>"selftest: 212 checks passed on cpu:0 CPUAccelerator in 9.1 s" or the failures by op.</summary>
    public string Summary()
    {
        string seconds = FormattableString.Invariant($"{Elapsed.TotalSeconds:F1} s");
        if (Failed == 0)
            return $"selftest: all {Rows.Count} checks passed on {Device} in {seconds}";
        var ops = Rows.Where(r => !r.Passed).Select(r => $"{r.Op} {r.Version}").Distinct();
        return $"selftest: {Failed} of {Rows.Count} checks FAILED on {Device} in {seconds}: {string.Join(", ", ops)}";
    }

    public string ToJson() => new JsonObject
    {
        ["device"] = Device,
        ["seconds"] = Elapsed.TotalSeconds,
        ["passed"] = Passed,
        ["failed"] = Failed,
        ["rows"] = new JsonArray([.. Rows.Select(r => (JsonNode)r.ToJson())]),
        ["skipped"] = new JsonArray([.. Skipped.Select(s => (JsonNode)s)]),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
