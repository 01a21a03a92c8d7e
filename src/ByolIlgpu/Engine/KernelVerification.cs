using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using ILGPU;

namespace ByolIlgpu.Engine;

/// <summary>
/// Trust, then verify: a GPU model the tests never ran on may still miscompile a kernel. The first
/// time the engine picks a fast conv2d or matmul version on a device, it runs that version once at
/// small ragged shapes (<see cref="Cases"/>) beside version 1 on the same device, from random non-zero
/// inputs, and compares with |got − ref| ≤ atol + rtol·Σ|terms| (<see cref="RelativeTolerance"/>).
/// A version that disagrees is replaced by its fallback (<see cref="DevicePolicy.FallbackOf"/>, itself
/// checked) with one warning line; later launches use the verdict without checking again, so a
/// training step adds no synchronisation after its first. BYOL_VERIFY_KERNELS=0 turns the checks off.
/// </summary>
public sealed class KernelVerification
{
    public const string Variable = "BYOL_VERIFY_KERNELS";

    readonly ComputeDevice device;
    readonly Dictionary<(string Op, int Version), int> verdicts = new();   // version → the version that runs in its place (itself when it passed)
    readonly List<KernelCheck> checks = new();

    internal KernelVerification(ComputeDevice device)
    {
        this.device = device;
        Enabled = Environment.GetEnvironmentVariable(Variable) != "0";
    }

    /// <summary>False under BYOL_VERIFY_KERNELS=0: every version is trusted unchecked.</summary>
    public bool Enabled { get; set; }

    /// <summary>Where the one-line warning of a failed check goes: standard error.</summary>
    public Action<string> Warn { get; set; } = line => Console.Error.WriteLine(line);

    /// <summary>
    /// For tests: sees, and may change, each checked version's output (on the host) before it is
    /// compared: a stand-in for a kernel that a device's compiler got wrong.
    /// </summary>
    public Action<KernelCheckCase, int, float[]>? OutputHook { get; set; }

    /// <summary>Every check run on this device, in order.</summary>
    public IReadOnlyList<KernelCheck> Checks => checks;

    /// <summary>One line per check, for `byol bench`.</summary>
    public string Describe() =>
        !Enabled ? $"off ({Variable}=0)"
        : checks.Count == 0 ? "none run"
        : string.Join("; ", checks.Select(c => c.Describe()));

    /// <summary>The version to run in place of <paramref name="version"/>: itself once it has passed its check here, else its fallback.</summary>
    public int Trusted(string op, int version)
    {
        if (version == 1 || !Enabled || op is not (DevicePolicy.Conv2dOp or DevicePolicy.MatmulOp))
            return version;
        if (verdicts.TryGetValue((op, version), out int runs))
            return runs;
        var worst = Compare(op, version);
        bool passed = worst.Ratio <= 1;
        runs = passed ? version : Trusted(op, DevicePolicy.FallbackOf(device.Policy.Family, op, version));
        verdicts[(op, version)] = runs;
        var check = new KernelCheck(op, version, DevicePolicy.PrecisionOf(op, version), device.ToString(), passed, worst, runs);
        checks.Add(check);
        if (!passed)
            Warn(check.Warning());
        return runs;
    }

    /// <summary>The worst element over every case of the op: the version against version 1, here.</summary>
    KernelMismatch Compare(string op, int version)
    {
        // The launchers' prepared operands come from a pool of the check's own: the step's pool
        // (perhaps only measuring, see BufferPool.BeginMeasure) is left exactly as it was.
        using var scratch = device.ScratchPool();
        KernelMismatch? worst = null;
        foreach (var c in Cases(op))
        {
            var m = c.Compare(device, version, OutputHook);
            if (worst is null || m.Ratio > worst.Ratio)
                worst = m;
        }
        return worst!;
    }

    /// <summary>
    /// The check's shapes: ragged (no dimension a multiple of a tile), every conv2d pass at a 3×3
    /// stride-2 layer (the parity classes of backward-input), a 3×3 stride-1 layer whose reduction
    /// spans several 16-deep strips, and a 1×1 stride-2 shortcut; matmul in the three layouts the
    /// tape uses, with β = 0, β = 1 (accumulating) and α ≠ 1.
    /// </summary>
    public static IReadOnlyList<KernelCheckCase> Cases(string op)
    {
        var rng = new Random(20240611);
        var cases = new List<KernelCheckCase>();
        if (op == DevicePolicy.Conv2dOp)
        {
            foreach (var g in new[]
            {
                new Conv2dShape(2, 3, 9, 9, 5, 3, 3, 2, 1),
                new Conv2dShape(2, 8, 6, 5, 12, 3, 3, 1, 1),
                new Conv2dShape(2, 6, 8, 8, 7, 1, 1, 2, 0),
            })
                foreach (var pass in Enum.GetValues<Conv2dPass>())
                    cases.Add(KernelCheckCase.Conv2d(g, pass, rng));
        }
        else if (op == DevicePolicy.MatmulOp)
        {
            cases.Add(KernelCheckCase.Matmul(19, 23, 45, transA: false, transB: false, alpha: 1f, beta: 0f, rng));
            cases.Add(KernelCheckCase.Matmul(21, 18, 70, transA: false, transB: true, alpha: 1f, beta: 1f, rng));
            cases.Add(KernelCheckCase.Matmul(17, 29, 26, transA: true, transB: false, alpha: 0.5f, beta: 1f, rng));
        }
        else
            throw new ArgumentException($"no kernel check for '{op}': expected {DevicePolicy.Conv2dOp} or {DevicePolicy.MatmulOp}");
        return cases;
    }

    /// <summary>FP32's unit roundoff.</summary>
    static readonly double Unit = Math.ScaleB(1.0, -24);

    /// <summary>For outputs with no terms at all (dX where no filter tap lands): they must match exactly.</summary>
    public const double AbsoluteTolerance = 1e-30;

    /// <summary>
    /// rtol of a check, relative to Σ|terms| of each output (a bound that cancellation cannot shrink,
    /// unlike |ref|). A sum of n terms in FP32, in any order, lies within γn·Σ|terms| of the exact
    /// sum, γn = n·u/(1 − n·u), u = 2⁻²⁴; n is the reduction length plus 2 (α's product and the
    /// β·C or dX += term). FP32 versions: 2γn (both results). TF32 versions: each operand is rounded
    /// to a 10-bit mantissa (relative error ≤ 2⁻¹¹), so each product is off by ≤ 2⁻¹⁰ + 2⁻²²; the
    /// tensor core's summation order and rounding are unspecified, so its sums get 2γn beside version 1's γn.
    /// </summary>
    public static double RelativeTolerance(Precision precision, int reductionLength)
    {
        int n = reductionLength + 2;
        double gamma = n * Unit / (1 - n * Unit);
        return precision == Precision.Tf32 ? Math.ScaleB(1.0, -10) + Math.ScaleB(1.0, -22) + 3 * gamma : 2 * gamma;
    }
}

/// <summary>The element of a check furthest outside (or closest to) its tolerance.</summary>
public sealed record KernelMismatch(string Case, long Index, float Got, double Reference, double Tolerance)
{
    public double Error => Math.Abs((double)Got - Reference);

    /// <summary>Error over tolerance: at most 1 passes; NaN or infinity never does.</summary>
    public double Ratio => double.IsFinite(Error) ? Error / Tolerance : double.PositiveInfinity;
}

/// <summary>The outcome of one version's check on one device.</summary>
public sealed record KernelCheck(string Op, int Version, Precision Precision, string Device, bool Passed, KernelMismatch Worst, int RunsInstead)
{
    /// <summary>"conv2d v2 passed (worst |Δ| 2.4e-07, 3% of its fp32 tolerance)".</summary>
    public string Describe() => Passed
        ? $"{Op} v{Version} passed (worst |Δ| {Worst.Error:0.0e+00}, {100 * Worst.Ratio:F0}% of its {Precision.Name()} tolerance)"
        : $"{Op} v{Version} FAILED (worst |Δ| {Worst.Error:0.0e+00}, {Worst.Ratio:0.0e+00}× its tolerance): v{RunsInstead} runs instead";

    /// <summary>The one warning line of a failed check.</summary>
    public string Warning() =>
        $"warning: kernel check: {Op} v{Version} disagrees with v1 on {Device}: worst |Δ| {Worst.Error:G3} > tolerance {Worst.Tolerance:G3} " +
        $"({Worst.Case}, element {Worst.Index}: {Worst.Got:G7} vs {Worst.Reference:G7}); using v{RunsInstead} from now on";
}

/// <summary>
/// One small launch of a check: operands A and B, the output's prior contents (the launchers
/// accumulate into dX and dW, and matmul adds β·C), and how to launch a version on them.
/// </summary>
public sealed class KernelCheckCase
{
    public delegate void Launcher(ComputeDevice device, ArrayView<float> a, ArrayView<float> b, ArrayView<float> output, int version, bool magnitude);

    public string Op { get; }
    public string Name { get; }

    /// <summary>Terms per output element: what the tolerance grows with.</summary>
    public int ReductionLength { get; }

    /// <summary>The output in double from the operands (signed, or their magnitudes: then Σ|terms|), by src/ByolIlgpu/Reference.</summary>
    public delegate double[] ReferenceOf(double[] a, double[] b, double[] prior, bool magnitude);

    readonly float[] a, b, prior;
    readonly Launcher launch;
    readonly ReferenceOf reference;

    KernelCheckCase(string op, string name, int reductionLength, float[] a, float[] b, float[] prior, Launcher launch, ReferenceOf reference)
    {
        Op = op;
        Name = name;
        ReductionLength = reductionLength;
        this.a = a;
        this.b = b;
        this.prior = prior;
        this.launch = launch;
        this.reference = reference;
    }

    /// <summary>
    /// The exact output (double, from the same FP32 operands) and Σ|terms| of each element: what
    /// `byol selftest` compares every version with, beside version 1.
    /// </summary>
    public (double[] Value, double[] Terms) ExactReference()
    {
        static double[] D(float[] v, bool abs) => Array.ConvertAll(v, x => abs ? Math.Abs((double)x) : x);
        return (reference(D(a, false), D(b, false), D(prior, false), false), reference(D(a, true), D(b, true), D(prior, true), true));
    }

    /// <summary>Random values of either sign with magnitudes in [0.25, 1]: never zero, so every term counts.</summary>
    static float[] NonZero(Random rng, long length)
    {
        var values = new float[length];
        for (long i = 0; i < length; i++)
            values[i] = (float)((rng.Next(2) * 2 - 1) * (0.25 + 0.75 * rng.NextDouble()));
        return values;
    }

    public static KernelCheckCase Conv2d(Conv2dShape g, Conv2dPass pass, Random rng)
    {
        string name = $"{pass} N={g.N} C={g.C} H={g.H} W={g.W} K={g.K} R={g.R} S={g.S} stride={g.Stride} pad={g.Pad}";
        long outputLength = (long)g.N * g.K * g.P * g.Q;
        static double[] Plus(double[] prior, double[] sum) { for (int i = 0; i < sum.Length; i++) sum[i] += prior[i]; return sum; }
        return pass switch
        {
            // y = Σ x·w over (c, r, s); the launcher overwrites y.
            Conv2dPass.Forward => new(DevicePolicy.Conv2dOp, name, g.C * g.R * g.S, NonZero(rng, g.InputLength), NonZero(rng, g.WeightLength), NonZero(rng, outputLength),
                (d, x, w, y, v, _) => Ops.Conv2d.LaunchForward(d, x, w, y, g, v),
                (x, w, _, _) => global::ByolIlgpu.Reference.Conv.Conv2dForward(x, w, g)),
            // dX += Σ dY·w over (k, r, s).
            Conv2dPass.BackwardInput => new(DevicePolicy.Conv2dOp, name, g.K * g.R * g.S, NonZero(rng, outputLength), NonZero(rng, g.WeightLength), NonZero(rng, g.InputLength),
                (d, dy, w, dx, v, _) => Ops.Conv2d.LaunchBackwardInput(d, dy, w, dx, g, v),
                (dy, w, dx, _) => Plus(dx, global::ByolIlgpu.Reference.Conv.Conv2dBackward(new double[g.InputLength], w, dy, g).dX)),
            // dW += Σ x·dY over (n, p, q).
            _ => new(DevicePolicy.Conv2dOp, name, g.N * g.P * g.Q, NonZero(rng, g.InputLength), NonZero(rng, outputLength), NonZero(rng, g.WeightLength),
                (d, x, dy, dw, v, _) => Ops.Conv2d.LaunchBackwardWeight(d, x, dy, dw, g, v),
                (x, dy, dw, _) => Plus(dw, global::ByolIlgpu.Reference.Conv.Conv2dBackward(x, new double[g.WeightLength], dy, g).dW)),
        };
    }

    public static KernelCheckCase Matmul(int m, int n, int k, bool transA, bool transB, float alpha, float beta, Random rng) =>
        new(DevicePolicy.MatmulOp, FormattableString.Invariant($"M={m} N={n} K={k}{(transA ? " Aᵀ" : "")}{(transB ? " Bᵀ" : "")} α={alpha} β={beta}"), k,
            NonZero(rng, (long)m * k), NonZero(rng, (long)k * n), NonZero(rng, (long)m * n),
            (d, x, y, c, v, magnitude) => Ops.Matmul.Gemm(d, x, y, c, m, n, k, transA, transB,
                magnitude ? Math.Abs(alpha) : alpha, magnitude ? Math.Abs(beta) : beta, v),
            (x, y, c, magnitude) => global::ByolIlgpu.Reference.Dense.Matmul(x, y, c, m, n, k, transA, transB,
                magnitude ? Math.Abs(alpha) : alpha, magnitude ? Math.Abs(beta) : beta));

    /// <summary>The output of <paramref name="version"/>; with <paramref name="magnitude"/> of |A|, |B| and |prior|, which version 1 turns into Σ|terms|.</summary>
    public float[] Run(ComputeDevice device, int version, bool magnitude)
    {
        float[] Signed(float[] v) => magnitude ? Array.ConvertAll(v, Math.Abs) : v;
        using var da = device.Allocate(Signed(a));
        using var db = device.Allocate(Signed(b));
        using var output = device.Allocate(Signed(prior));
        launch(device, da.View, db.View, output.View, version, magnitude);
        return device.ToHost(output.View);   // waits for the launch: the buffers may go
    }

    /// <summary><paramref name="version"/> against version 1 on the same device: the element with the largest error over tolerance.</summary>
    public KernelMismatch Compare(ComputeDevice device, int version, Action<KernelCheckCase, int, float[]>? hook = null)
    {
        var got = Run(device, version, magnitude: false);
        hook?.Invoke(this, version, got);
        return Compare(got, Run(device, 1, magnitude: false), Run(device, 1, magnitude: true), version);
    }

    /// <summary>
    /// <paramref name="version"/>'s output against <paramref name="reference"/> (version 1's, or the
    /// double reference), with the tolerance of <paramref name="version"/>'s precision times Σ|terms|.
    /// </summary>
    public KernelMismatch Compare<T>(float[] got, T[] reference, T[] terms, int version) where T : struct, IConvertible
    {
        double rtol = KernelVerification.RelativeTolerance(DevicePolicy.PrecisionOf(Op, version), ReductionLength);
        double R(long i) => reference[i].ToDouble(null);
        double Terms(long i) => terms[i].ToDouble(null);
        long worst = 0;
        double worstRatio = -1;
        for (long i = 0; i < got.Length; i++)
        {
            double error = Math.Abs((double)got[i] - R(i));
            double ratio = double.IsFinite(error) ? error / (KernelVerification.AbsoluteTolerance + rtol * Terms(i)) : double.PositiveInfinity;
            if (ratio > worstRatio)
                (worst, worstRatio) = (i, ratio);
        }
        return new KernelMismatch(Name, worst, got[worst], R(worst), KernelVerification.AbsoluteTolerance + rtol * Terms(worst));
    }
}
