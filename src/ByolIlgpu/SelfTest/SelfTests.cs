using System.Diagnostics;
using ByolIlgpu.Engine;

namespace ByolIlgpu.SelfTest;

/// <summary>
/// What a check family sees: the device, whether to run realistic shapes (ResNet-18's, on GPUs and
/// PoCL) or tiny ones (the CPU accelerator runs each GPU thread as an OS thread), and a hook that
/// sees every kernel output before it is compared (tests corrupt one there, as a miscompiled kernel).
/// </summary>
public sealed class SelfTestContext
{
    public SelfTestContext(ComputeDevice device, Action<string, string, float[]>? outputHook = null)
    {
        Device = device;
        Large = device.Kind != DeviceKind.Cpu;
        OutputHook = outputHook;
    }

    public ComputeDevice Device { get; }

    /// <summary>Realistic shapes: every device but the CPU accelerator.</summary>
    public bool Large { get; }

    /// <summary>(op, version, output): sees each kernel's output on the host before it is compared.</summary>
    public Action<string, string, float[]>? OutputHook { get; }

    public List<SelfTestRow> Rows { get; } = new();

    public List<string> Skipped { get; } = new();

    /// <summary>A kernel's output, through the hook.</summary>
    public float[] Seen(string op, string version, float[] output)
    {
        OutputHook?.Invoke(op, version, output);
        return output;
    }

    /// <summary>Random values of either sign with magnitudes in [0.25, 1] (never zero), from a fixed seed.</summary>
    public static double[] NonZero(int seed, int length, double scale = 1)
    {
        var rng = new Random(seed);
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)(scale * (rng.Next(2) * 2 - 1) * (0.25 + 0.75 * rng.NextDouble()));   // exactly representable in FP32
        return values;
    }

    /// <summary>Uniform in [lo, hi), rounded to FP32.</summary>
    public static double[] Uniform(int seed, int length, double lo, double hi)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (double)(float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }
}

/// <summary>
/// `byol selftest`: every op family's check on one device. Each family compares every kernel version
/// the device can run with version 1 and with the double reference (src/ByolIlgpu/Reference), and
/// each backward with central finite differences of the reference (in double, at tiny shapes).
/// </summary>
public static class SelfTests
{
    /// <summary>One entry per op family, in the order a BYOL step meets them from the pixels to the update.</summary>
    public static IReadOnlyList<(string Name, Action<SelfTestContext> Run)> Families { get; } =
    [
        ("augment", OtherChecks.Augment),
        ("conv2d", GemmChecks.Conv2d),
        ("batchnorm", LayerChecks.BatchNorm),
        ("relu", LayerChecks.Relu),
        ("residual", LayerChecks.Residual),
        ("maxpool", LayerChecks.MaxPool),
        ("avgpool", LayerChecks.GlobalAverage),
        ("matmul", GemmChecks.Matmul),
        ("linear", GemmChecks.Linear),
        ("l2normalize", LayerChecks.L2Normalize),
        ("byol-loss", LayerChecks.ByolLoss),
        ("cross-entropy", LayerChecks.CrossEntropy),
        ("reduce", LayerChecks.Reduce),
        ("elementwise", LayerChecks.Elementwise),
        ("sgd", OtherChecks.Sgd),
        ("lars", OtherChecks.Lars),
        ("adam", OtherChecks.Adam),
        ("ema", OtherChecks.Ema),
        ("knn", OtherChecks.Knn),
    ];

    /// <summary>The families whose name contains <paramref name="pattern"/> (all of them for null); none is an <see cref="ArgumentException"/>.</summary>
    public static IReadOnlyList<(string Name, Action<SelfTestContext> Run)> Select(string? pattern)
    {
        var chosen = Families.Where(f => pattern is null || pattern.Split(',').Any(p => f.Name.Contains(p.Trim(), StringComparison.OrdinalIgnoreCase))).ToList();
        if (chosen.Count == 0)
            throw new ArgumentException($"--only '{pattern}': no check family's name contains it (expected one of {string.Join(", ", Families.Select(f => f.Name))})");
        return chosen;
    }

    /// <summary>Runs the chosen families on the device; <paramref name="progress"/> hears each family's name and seconds as it ends.</summary>
    public static SelfTestReport Run(ComputeDevice device, string? only = null, Action<string, string, float[]>? outputHook = null, Action<string>? progress = null)
    {
        var families = Select(only);
        var clock = Stopwatch.StartNew();
        var context = new SelfTestContext(device, outputHook);
        bool verifying = device.Verification.Enabled;
        device.Verification.Enabled = false;   // explicit versions run as asked: the self-test is the check
        try
        {
            foreach (var (name, run) in families)
            {
                var started = clock.Elapsed;
                device.Pool.ReleaseAll();
                run(context);
                device.Synchronize();
                progress?.Invoke(FormattableString.Invariant($"{name}: {(clock.Elapsed - started).TotalSeconds:F1} s"));
            }
        }
        finally
        {
            device.Verification.Enabled = verifying;
            device.Pool.ReleaseAll();
        }
        return new SelfTestReport(device.ToString(), context.Rows, context.Skipped, clock.Elapsed);
    }

    /// <summary>
    /// The versions of a GEMM op family (conv2d, matmul) this device can launch: the 16×16 tiles need
    /// groups of 256 threads, the tensor-core versions 128 (4 warps; emulated off CUDA) and on CUDA
    /// compute capability 8.0. Those it cannot are listed in <paramref name="skipped"/>.
    /// </summary>
    public static IReadOnlyList<int> RunnableVersions(ComputeDevice device, string op, List<string> skipped)
    {
        int Threads(int version) => (op, version) switch
        {
            (DevicePolicy.Conv2dOp, 4 or 6) or (DevicePolicy.MatmulOp, 3 or 5) => 256,
            (DevicePolicy.Conv2dOp, DevicePolicy.Tf32Conv2d) or (DevicePolicy.MatmulOp, DevicePolicy.Tf32Matmul) => Kernels.Conv2dKernels.TcThreads,
            _ => 1,
        };
        var runnable = new List<int>();
        foreach (int v in DevicePolicy.VersionsOf[op])
        {
            bool tf32 = DevicePolicy.PrecisionOf(op, v) == Precision.Tf32;
            if (Threads(v) > device.Info.MaxGroupSize)
                skipped.Add($"{op} v{v}: needs groups of {Threads(v)} threads, {device.Info.Spec} runs at most {device.Info.MaxGroupSize}");
            else if (tf32 && device.Info.Cuda is { } cuda && cuda.Major < DevicePolicy.Tf32MinComputeMajor)
                skipped.Add($"{op} v{v}: TF32 tensor cores need compute capability {DevicePolicy.Tf32MinComputeMajor}.0, {device.Info.Spec} is {cuda.Major}.{cuda.Minor}");
            else
                runnable.Add(v);
        }
        return runnable;
    }
}
