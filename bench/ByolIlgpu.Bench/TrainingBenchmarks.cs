using BenchmarkDotNet.Attributes;
using ByolIlgpu.Byol;
using ByolIlgpu.Engine;
using ByolIlgpu.Optim;

namespace ByolIlgpu.Bench;

/// <summary>The BYOL pair loss forward + backward on (B, 256) predictions and projections.</summary>
[Config(typeof(BenchConfig))]
public class LossBenchmarks : IWork
{
    [Params(256)]
    public int Batch { get; set; }

    public double Flops => 0;
    public double Bytes => 4.0 * Batch * 256 * 5;   // p, z read twice (forward, backward), dP written

    ComputeDevice dev = null!;
    Tensor p = null!, z = null!;

    [GlobalSetup]
    public void Setup()
    {
        dev = BenchDevice.Current;
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var hp = R(Batch * 256);
        var hz = R(Batch * 256);
        dev.Pool.ReleaseAll();
        p = Tensor.FromHost(dev, "p", hp, Batch, 256);
        z = Tensor.FromHost(dev, "z", hz, Batch, 256);
        p.RequiresGrad = true;
        var loss = Ops.ByolLoss.PairLoss(new Tape(dev), p, z).ToHost();
        var expected = Reference.Dense.ByolPairLoss(hp.Select(v => (double)v).ToArray(), hz.Select(v => (double)v).ToArray(), Batch, 256, 1e-12);
        Verify.Close(loss, expected.Select(v => (float)v).ToArray(), "byol loss");
    }

    [Benchmark]
    public void ForwardBackward()
    {
        var tape = new Tape(dev);
        var loss = Ops.Reduce.Mean(tape, Ops.ByolLoss.PairLoss(tape, p, z));
        tape.Backward(loss);
        dev.Synchronize();
    }

    [IterationCleanup]
    public void Release()
    {
        // Keep p and z: re-upload nothing, only drop this iteration's temporaries.
        var hp = p.ToHost();
        var hz = z.ToHost();
        dev.Pool.ReleaseAll();
        p = Tensor.FromHost(dev, "p", hp, Batch, 256);
        z = Tensor.FromHost(dev, "z", hz, Batch, 256);
        p.RequiresGrad = true;
    }
}

/// <summary>EMA of the teacher and the optimizer steps over the full model's flat parameters.</summary>
[Config(typeof(BenchConfig))]
public class ParameterUpdateBenchmarks : IWork, IMethodAware
{
    public static IEnumerable<int> Widths => BenchDevice.IsCpuAccelerator ? [8] : [64];

    [ParamsSource(nameof(Widths))]
    public int Width { get; set; } = 8;

    public string Method { private get; set; } = "";

    ByolModel model = null!;
    Sgd sgd = null!;
    Lars lars = null!;
    Adam adam = null!;

    long StudentCount => new ByolArchitecture(Width).BackboneParameters + new ByolArchitecture(Width).ProjectorParameters + new ByolArchitecture(Width).PredictorParameters;
    long TeacherCount => new ByolArchitecture(Width).BackboneParameters + new ByolArchitecture(Width).ProjectorParameters;

    public double Flops => 0;

    /// <summary>Floats read + written per element: EMA 3, SGD 5 (w, g, v; w, v), LARS 5 + 2 reads for the norms, Adam 7.</summary>
    public double Bytes => Method switch
    {
        "Ema" => 4.0 * TeacherCount * 3,
        "SgdStep" => 4.0 * StudentCount * 5,
        "LarsStep" => 4.0 * StudentCount * 7,
        _ => 4.0 * StudentCount * 7,
    };

    [GlobalSetup]
    public void Setup()
    {
        var dev = BenchDevice.Current;
        model = new ByolModel(dev, new ByolArchitecture(Width), seed: 1);
        var g = new float[model.Student.Count];
        var rng = new Random(2);
        for (int i = 0; i < g.Length; i++) g[i] = (float)(rng.NextDouble() * 2e-3 - 1e-3);
        model.Student.GradsFromHost(g);
        sgd = new Sgd(model.Student, 0.9f, 1e-5f);
        lars = new Lars(model.Student);
        adam = new Adam(model.Student);
    }

    [Benchmark]
    public void Ema()
    {
        Optim.Ema.Update(model.Teacher, model.Student, 0.996f);
        model.Device.Synchronize();
    }

    [Benchmark]
    public void SgdStep()
    {
        sgd.Step(1e-3f);
        model.Device.Synchronize();
    }

    [Benchmark]
    public void LarsStep()
    {
        lars.Step(1e-3f);
        model.Device.Synchronize();
    }

    [Benchmark]
    public void AdamStep()
    {
        adam.Step(1e-6f);
        model.Device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        sgd.Dispose();
        lars.Dispose();
        adam.Dispose();
        model.Dispose();
    }
}

/// <summary>
/// The whole BYOL training step (both views, student forward and backward, teacher forward, loss,
/// LARS, EMA) on fixed random views: batch 32 at full width, batch 128 at width 16 (heads 512 → 128).
/// </summary>
[Config(typeof(BenchConfig))]
public class ByolStepBenchmarks : IWork
{
    public static IEnumerable<string> Configs => BenchDevice.IsCpuAccelerator
        ? ["w4-b8"]
        : Environment.GetEnvironmentVariable("BYOL_BENCH_GPU") == "1"
            ? ["w64-b128", "w64-b256"]
            : ["w64-b32", "w16-b128"];

    /// <summary>"w{width}-b{batch}".</summary>
    [ParamsSource(nameof(Configs))]
    public string Config { get; set; } = "w4-b8";

    int Width => int.Parse(Config.Split('-')[0][1..]);
    int Batch => int.Parse(Config.Split('-')[1][1..]);
    ByolArchitecture Architecture => Width >= 64 ? new ByolArchitecture(Width) : new ByolArchitecture(Width, 512, 128, 512);

    public double Flops => ByolFlops.PerImage(Architecture) * Batch;
    public double Bytes => 0;

    ByolModel model = null!;
    Lars lars = null!;
    ByolLearner learner = null!;
    float[] view1 = null!, view2 = null!;

    [GlobalSetup]
    public void Setup()
    {
        var dev = BenchDevice.Current;
        model = new ByolModel(dev, Architecture, seed: 1);
        lars = new Lars(model.Student);
        learner = new ByolLearner(model, lars);
        var rng = new Random(3);
        view1 = Enumerable.Range(0, Batch * 3 * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        view2 = Enumerable.Range(0, Batch * 3 * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        Step();   // compiles every kernel and fills the pool
        double loss = learner.Step(Upload(view1), Upload(view2), 0.1f, 0.99f).Loss.ToHost()[0];
        if (!(loss >= 0 && loss <= 8))
            throw new InvalidOperationException($"BYOL step loss {loss} outside [0, 8]");
    }

    Tensor Upload(float[] host) => Tensor.FromHost(model.Device, "view", host, Batch, 3, 32, 32);

    [Benchmark]
    public void Step()
    {
        model.Device.Pool.ReleaseAll();
        learner.Step(Upload(view1), Upload(view2), 0.1f, 0.99f);
        model.Device.Synchronize();
    }

#if WITH_TORCH
    ByolIlgpu.Bench.Torch.TorchByol? torch;

    /// <summary>The same step in libtorch: same model, LARS, EMA, fixed random views.</summary>
    [Benchmark]
    public void TorchStep()
    {
        torch ??= TorchPeerSetup.Op(() => Width >= 64
            ? new ByolIlgpu.Bench.Torch.TorchByol(Width, batch: Batch)
            : new ByolIlgpu.Bench.Torch.TorchByol(Width, 512, 128, 512, batch: Batch));
        torch.Step();
    }
#endif

    [GlobalCleanup]
    public void Cleanup()
    {
        lars.Dispose();
        model.Dispose();
#if WITH_TORCH
        torch?.Dispose();
#endif
    }
}
