using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;
using Ref = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.SelfTest;

/// <summary>
/// Conv2d (forward, backward-input, backward-weight) and matmul: each version the device can run, at
/// the cases of <see cref="KernelVerification"/> (ragged shapes) and on GPUs and PoCL also ResNet-18's
/// layers, against version 1 and against the double reference, both with <see cref="KernelVerification.RelativeTolerance"/>
/// of the version's precision times Σ|terms| (a bound cancellation cannot shrink). Linear's tape op
/// (matmul + bias) against the reference and its backward against finite differences.
/// </summary>
public static class GemmChecks
{
    /// <summary>ResNet-18 (CIFAR stem) layers at batch 2: the stem, a 3×3 stride-2 downsample, its 1×1 shortcut, a deep 3×3.</summary>
    static readonly Conv2dShape[] ResNet18Layers =
    [
        new(2, 3, 32, 32, 64, 3, 3, 1, 1),
        new(2, 64, 32, 32, 128, 3, 3, 2, 1),
        new(2, 128, 16, 16, 256, 1, 1, 2, 0),
        new(2, 256, 8, 8, 256, 3, 3, 1, 1),
    ];

    static readonly string[] PassNames = ["forward", "backward-input", "backward-weight"];

    public static void Conv2d(SelfTestContext context)
    {
        var versions = SelfTests.RunnableVersions(context.Device, DevicePolicy.Conv2dOp, context.Skipped);
        var cases = KernelVerification.Cases(DevicePolicy.Conv2dOp).ToList();
        if (context.Large)
        {
            var rng = new Random(20240612);
            foreach (var g in ResNet18Layers)
                foreach (var pass in Enum.GetValues<Conv2dPass>())
                    cases.Add(KernelCheckCase.Conv2d(g, pass, rng));
        }
        foreach (var c in cases)
        {
            string pass = PassNames[(int)Enum.Parse<Conv2dPass>(c.Name.Split(' ')[0])];
            RunVersions(context, c, "conv2d." + pass, c.Name[(c.Name.IndexOf(' ') + 1)..], versions);
        }
        // The tape op (forward, then both backward passes at the same version) against finite
        // differences of the reference, at a tiny 3×3 stride-2 layer; TF32's rounding (2⁻¹¹ per operand)
        // is beyond the finite differences' 1 % bound only where its Σ|terms| rows above would say so.
        var tiny = new Conv2dShape(2, 3, 5, 5, 4, 3, 3, 2, 1);
        var x = SelfTestContext.NonZero(60, (int)tiny.InputLength);
        var w = SelfTestContext.NonZero(61, (int)tiny.WeightLength);
        foreach (int version in versions)
        {
            var precision = DevicePolicy.PrecisionOf(DevicePolicy.Conv2dOp, version);
            var tolerance = precision == Precision.Tf32 ? new Tolerance(1e-2, 1e-2) : new Tolerance(1e-5 * tiny.C * tiny.R * tiny.S, 1e-4);
            TapeChecks.Run(context, DevicePolicy.Conv2dOp, "conv2d (tape)", $"N={tiny.N} C={tiny.C} H={tiny.H} W={tiny.W} K={tiny.K} R=3 S=3 stride=2 pad=1",
                [new("x", x, [tiny.N, tiny.C, tiny.H, tiny.W]), new("w", w, [tiny.K, tiny.C, tiny.R, tiny.S])],
                (tape, t) => Ops.Conv2d.Forward(tape, t[0], t[1], tiny.Stride, tiny.Pad, version),
                v => Reference.Conv.Conv2dForward(v[0], v[1], tiny),
                (v, dY) => { var (dX, dW) = Reference.Conv.Conv2dBackward(v[0], v[1], dY, tiny); return [dX, dW]; },
                tolerance, tolerance, finiteDifferences: precision == Precision.Fp32, version: $"v{version} {precision.Name()}");
        }
    }

    public static void Matmul(SelfTestContext context)
    {
        var versions = SelfTests.RunnableVersions(context.Device, DevicePolicy.MatmulOp, context.Skipped);
        var cases = KernelVerification.Cases(DevicePolicy.MatmulOp).ToList();
        if (context.Large)
        {
            var rng = new Random(20240613);
            // The projector's first layer (batch 256, 512 → 4096 as its Bᵀ product), its dW (Aᵀ), and a ragged MLP shape.
            cases.Add(KernelCheckCase.Matmul(256, 1024, 512, transA: false, transB: true, alpha: 1f, beta: 0f, rng));
            cases.Add(KernelCheckCase.Matmul(512, 256, 256, transA: true, transB: false, alpha: 1f, beta: 1f, rng));
            cases.Add(KernelCheckCase.Matmul(129, 250, 300, transA: false, transB: false, alpha: 0.5f, beta: 1f, rng));
        }
        foreach (var c in cases)
            RunVersions(context, c, "matmul", c.Name, versions);
    }

    /// <summary>Every version of one case: against the double reference, and (beyond version 1) against version 1.</summary>
    static void RunVersions(SelfTestContext context, KernelCheckCase c, string op, string shape, IReadOnlyList<int> versions)
    {
        var device = context.Device;
        var (exact, exactTerms) = c.ExactReference();
        float[]? v1 = null, v1Terms = null;
        foreach (int version in versions)
        {
            device.Pool.ReleaseAll();
            string label = $"v{version} {DevicePolicy.PrecisionOf(c.Op, version).Name()}";   // as the row shows it, and the hook sees it
            var got = context.Seen(op, label, c.Run(device, version, magnitude: false));
            double rtol = KernelVerification.RelativeTolerance(DevicePolicy.PrecisionOf(c.Op, version), c.ReductionLength);
            context.Rows.Add(Compare.Elements(c.Op, op, label, "reference", shape, got, exact,
                i => KernelVerification.AbsoluteTolerance + rtol * exactTerms[i]));
            if (version == 1)
            {
                (v1, v1Terms) = (got, c.Run(device, 1, magnitude: true));
                continue;
            }
            v1 ??= c.Run(device, 1, magnitude: false);
            v1Terms ??= c.Run(device, 1, magnitude: true);
            var terms = v1Terms;
            context.Rows.Add(Compare.Elements(c.Op, op, label, "v1", shape, got, Array.ConvertAll(v1, x => (double)x),
                i => KernelVerification.AbsoluteTolerance + rtol * terms[i]));
        }
    }

    /// <summary>Linear y = x·Wᵀ + b on the tape: forward and dX, dW, db against the reference; the backward against finite differences at a tiny shape.</summary>
    public static void Linear(SelfTestContext context)
    {
        foreach (var (n, inF, outF, fd) in context.Large ? [(256, 512, 256, false), (3, 5, 4, true)] : new[] { (3, 5, 4, true), (9, 33, 17, false) })
        {
            var x = SelfTestContext.NonZero(10, n * inF);
            var w = SelfTestContext.NonZero(11, outF * inF);
            var b = SelfTestContext.NonZero(12, outF);
            double rtol = KernelVerification.RelativeTolerance(Precision.Fp32, inF) + 1e-5;
            TapeChecks.Run(context, "linear", "linear", $"N={n} I={inF} O={outF}",
                [new("x", x, [n, inF]), new("w", w, [outF, inF]), new("b", b, [outF])],
                (tape, t) => Ops.Linear.Forward(tape, t[0], t[1], t[2]),
                v => Ref.LinearForward(v[0], v[1], v[2], n, inF, outF),
                (v, dY) => { var (dX, dW, dB) = Ref.LinearBackward(v[0], v[1], dY, n, inF, outF); return [dX, dW, dB]; },
                new Tolerance(1e-5 * inF, rtol), new Tolerance(1e-5 * Math.Max(n, outF), 1e-4), fd, version: $"v{context.Device.Policy.Matmul}");
        }
    }
}
