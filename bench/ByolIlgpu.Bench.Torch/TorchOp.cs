using TorchSharp;

namespace ByolIlgpu.Bench.Torch;

/// <summary>
/// One libtorch operation on inputs built once (float32, CPU, fixed seed), ready to be timed:
/// a benchmark calls <see cref="Run"/> in its measured method and <see cref="Dispose"/> in its cleanup.
/// libtorch's CPU operations are synchronous, so the work is done when <see cref="Run"/> returns.
/// Each run opens a dispose scope, so the tensors it allocates (outputs, gradients) are freed at once
/// instead of waiting for the garbage collector.
/// </summary>
public sealed class TorchOp : IDisposable
{
    readonly Func<object> run;
    readonly IDisposable[] owned;
    bool disposed;

    internal TorchOp(string name, string timed, double flops, double bytes, Func<object> run, params IDisposable[] owned)
    {
        Name = name;
        Timed = timed;
        Flops = flops;
        Bytes = bytes;
        this.run = run;
        this.owned = owned;
    }

    /// <summary>The operation and its shapes, e.g. "conv2d forward N32 C64 H32 W32 K64 R3 s1 p1".</summary>
    public string Name { get; }

    /// <summary>Exactly what one <see cref="Run"/> executes (and what it leaves out).</summary>
    public string Timed { get; }

    /// <summary>Floating-point operations of one run by the usual count (2 per multiply-add); 0 where not meaningful.</summary>
    public double Flops { get; }

    /// <summary>The least memory traffic of one run in bytes (each operand read or written once); 0 where not meaningful.</summary>
    public double Bytes { get; }

    /// <summary>Runs the operation once.</summary>
    public void Run()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var scope = torch.NewDisposeScope();
        run();
    }

    /// <summary>Runs once and returns the result (a tensor or a list of gradients) for checks; the caller owns its scope.</summary>
    internal object Evaluate()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return run();
    }

    /// <summary>The inputs and state the operation owns, in the factory's order, for checks.</summary>
    internal IReadOnlyList<IDisposable> Owned => owned;

    /// <summary>GFLOP/s for a run that took <paramref name="seconds"/>.</summary>
    public double Gflops(double seconds) => Flops / seconds / 1e9;

    /// <summary>GB/s of least traffic for a run that took <paramref name="seconds"/>.</summary>
    public double GigabytesPerSecond(double seconds) => Bytes / seconds / 1e9;

    public override string ToString() => Name;

    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (var d in owned)
            d.Dispose();
    }
}
