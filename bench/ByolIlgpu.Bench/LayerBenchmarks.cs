using BenchmarkDotNet.Attributes;
using ByolIlgpu.Engine;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Bench;

/// <summary>Shared setup of the memory-bound layer benchmarks: a ResNet-18 activation shape "N,C,H,W".</summary>
public abstract class ActivationBenchmark : IWork, IMethodAware
{
    public static IEnumerable<string> Shapes => BenchDevice.IsCpuAccelerator
        ? ["8,16,16,16"]
        : ["32,64,32,32", "32,128,16,16", "32,256,8,8", "32,512,4,4"];

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "8,16,16,16";

    public string Method { protected get; set; } = "";

    protected int[] Dims => Shape.Split(',').Select(int.Parse).ToArray();
    protected int Count => Dims.Aggregate(1, (a, b) => a * b);

    public double Flops => 0;

    /// <summary>Bytes a pass must move at least: reads and writes of whole activations.</summary>
    public abstract double Bytes { get; }

    protected ComputeDevice Dev = null!;

    protected Tensor Random(string name, int seed, params int[] shape)
    {
        var rng = new Random(seed);
        return Tensor.FromHost(Dev, name, Enumerable.Range(0, Tensor.ShapeLength(shape)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), shape);
    }
}

/// <summary>BatchNorm2d training forward and backward, versions 1 (thread per channel) and 2 (split sums).</summary>
[Config(typeof(BenchConfig))]
public class BatchNormBenchmarks : ActivationBenchmark
{
    Tensor x = null!, y = null!, dy = null!, dx = null!, gamma = null!, beta = null!, rm = null!, rv = null!, mean = null!, rstd = null!, dg = null!, db = null!;

    // Forward: read x twice for the statistics, once to normalise, write y; backward: read x, dy twice, write dx.
    public override double Bytes => 4.0 * Count * (Method.StartsWith("Forward") ? 4 : 5);

    [GlobalSetup]
    public void Setup()
    {
        Dev = BenchDevice.Current;
        Dev.Pool.ReleaseAll();
        var d = Dims;
        x = Random("x", 1, d);
        dy = Random("dy", 2, d);
        y = Tensor.Temp(Dev, "y", d);
        dx = Tensor.Zeros(Dev, "dx", d);
        gamma = Random("gamma", 3, d[1]);
        beta = Random("beta", 4, d[1]);
        rm = Tensor.Zeros(Dev, "rm", d[1]);
        rv = Tensor.Zeros(Dev, "rv", d[1]);
        mean = Tensor.Temp(Dev, "mean", d[1]);
        rstd = Tensor.Temp(Dev, "rstd", d[1]);
        dg = Tensor.Zeros(Dev, "dg", d[1]);
        db = Tensor.Zeros(Dev, "db", d[1]);
        Forward(1);
        var oracle = y.ToHost();
        Forward(2);
        Verify.Close(y.ToHost(), oracle, $"batch norm v2 {Shape}");
        Backward(1);
        Backward(2);
    }

    void Forward(int version)
    {
        var d = Dims;
        BatchNorm.ForwardTrain(Dev, x.Data, gamma.Data, beta.Data, y.Data, mean.Data, rstd.Data, rm.Data, rv.Data, d[0], d[1], d[2] * d[3], 1e-5f, 0.1f, version);
        Dev.Synchronize();
    }

    void Backward(int version)
    {
        var d = Dims;
        BatchNorm.Backward(Dev, x.Data, gamma.Data, mean.Data, rstd.Data, dy.Data, dx.Data, dg.Data, db.Data, d[0], d[1], d[2] * d[3], version);
        Dev.Synchronize();
    }

    [Benchmark(Baseline = true)] public void ForwardV1() => Forward(1);
    [Benchmark] public void ForwardV2() => Forward(2);
    [Benchmark] public void BackwardV1() => Backward(1);
    [Benchmark] public void BackwardV2() => Backward(2);

#if WITH_TORCH
    ByolIlgpu.Bench.Torch.TorchOp? torchForward, torchBackward;

    [Benchmark] public void TorchForward() => (torchForward ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.BatchNorm2dForward(Dims[0], Dims[1], Dims[2], Dims[3]))).Run();
    [Benchmark] public void TorchBackward() => (torchBackward ??= TorchPeerSetup.Op(() => ByolIlgpu.Bench.Torch.TorchPeer.BatchNorm2dBackward(Dims[0], Dims[1], Dims[2], Dims[3]))).Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        torchForward?.Dispose();
        torchBackward?.Dispose();
    }
#endif
}

/// <summary>Global average pooling forward and backward, and the fused residual add + ReLU.</summary>
[Config(typeof(BenchConfig))]
public class PoolAndResidualBenchmarks : ActivationBenchmark
{
    Tensor x = null!, other = null!;
    Tape tape = null!;

    public override double Bytes => Method switch
    {
        "PoolForward" => 4.0 * Count,
        "PoolBackward" => 4.0 * Count * 2,
        _ => 4.0 * Count * 3,
    };

    [GlobalSetup]
    public void Setup()
    {
        Dev = BenchDevice.Current;
        Dev.Pool.ReleaseAll();
        x = Random("x", 1, Dims);
        other = Random("other", 2, Dims);
        x.RequiresGrad = true;
        tape = new Tape(Dev);
    }

    [Benchmark]
    public void PoolForward()
    {
        using (tape.NoGrad())
            Pool.GlobalAverage(tape, x);
        Dev.Synchronize();
    }

    [Benchmark]
    public void PoolBackward()
    {
        var y = Pool.GlobalAverage(tape, x);
        tape.Backward(y, y);   // upstream = the output itself: any values do
        Dev.Synchronize();
    }

    [Benchmark]
    public void AddReluForward()
    {
        using (tape.NoGrad())
            Residual.AddRelu(tape, x, other);
        Dev.Synchronize();
    }

    [IterationCleanup]
    public void Release()
    {
        Dev.Pool.ReleaseAll();
        x = Random("x", 1, Dims);
        other = Random("other", 2, Dims);
        x.RequiresGrad = true;
    }
}
