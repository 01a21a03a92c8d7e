namespace ByolIlgpu.Engine;

/// <summary>
/// Reverse-mode autograd in the micrograd manner. Each op, as it runs forward, records a closure
/// that adds its inputs' gradients from its output's gradient (always +=, so a tensor used twice
/// gets both contributions). <see cref="Backward"/> seeds the loss gradient and runs the closures
/// in reverse order. Inside <see cref="NoGrad"/> nothing is recorded (the teacher network).
/// </summary>
public sealed class Tape
{
    readonly List<Action> backward = new();
    int pauses;

    public Tape(ComputeDevice device) => Device = device;

    public ComputeDevice Device { get; }

    /// <summary>Number of recorded backward steps.</summary>
    public int Count => backward.Count;

    /// <summary>True when an op with any of these inputs requiring gradients must record its backward.</summary>
    public bool ShouldRecord(params Tensor?[] inputs)
    {
        if (pauses > 0)
            return false;
        foreach (var t in inputs)
            if (t is { RequiresGrad: true })
                return true;
        return false;
    }

    /// <summary>Records a backward closure and marks the op's output as needing a gradient.</summary>
    public void Record(Tensor output, Action backwardStep)
    {
        output.RequiresGrad = true;
        backward.Add(backwardStep);
    }

    /// <summary>A scope in which ops record nothing (the teacher's forward passes).</summary>
    public IDisposable NoGrad()
    {
        pauses++;
        return new Resume(this);
    }

    /// <summary>Runs every recorded step in reverse with d(loss)/d(loss) = <paramref name="seed"/>, then forgets them.</summary>
    public void Backward(Tensor loss, float seed = 1f)
    {
        if (loss.Length != 1)
            throw new ArgumentException($"backward needs a scalar loss, got {loss}");
        var grad = loss.GradToWrite(out _);   // the fill writes it whole
        Ops.Elementwise.Fill(grad, seed);
        RunReverse();
    }

    /// <summary>
    /// Runs every recorded step in reverse with the gradient of <paramref name="output"/> set to
    /// <paramref name="upstream"/> (a vector-Jacobian product; tests use it for "fake losses" Σ y·dy).
    /// </summary>
    public void Backward(Tensor output, Tensor upstream)
    {
        if (!output.Shape.SequenceEqual(upstream.Shape))
            throw new ArgumentException($"backward: upstream gradient {upstream} does not match output {output}");
        Ops.Elementwise.Axpby(Device, upstream.Data, output.GradOrZeros().Data, 1f, 0f);
        RunReverse();
    }

    void RunReverse()
    {
        for (int i = backward.Count - 1; i >= 0; i--)
            backward[i]();
        backward.Clear();
    }

    /// <summary>Forgets recorded steps without running them (e.g. after an evaluation pass).</summary>
    public void Clear() => backward.Clear();

    sealed class Resume(Tape tape) : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (!done) { tape.pauses--; done = true; }
        }
    }
}
