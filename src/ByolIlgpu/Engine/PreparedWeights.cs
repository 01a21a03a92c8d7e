using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>
/// Forms of weights that launchers derive from them (a convolution's filters re-laid out as a GEMM
/// operand), made once while the weights cannot change. Inside <see cref="Freeze"/> — a step's forward
/// and backward passes, between two updates: the student's backbone runs once per view, the teacher's
/// too — each form is computed on first use and then reused; outside, every request recomputes it, as
/// before. A reused form is only as good as the promise that the weights did not change, so the
/// writers of weights (the optimizers, the EMA, loading values from the host) refuse to run inside.
/// The forms are pooled temporaries: a pool release also drops them.
/// </summary>
public sealed class PreparedWeights(ComputeDevice device)
{
    readonly record struct Key(MemoryBuffer Buffer, long Index, long Length, string Layout);

    readonly Dictionary<Key, ArrayView<float>> forms = new();
    int depth, generation;

    /// <summary>True inside <see cref="Freeze"/>: weights must not change.</summary>
    public bool IsFrozen => depth > 0;

    /// <summary>Forms computed and forms reused inside freezes so far (for tests and `byol bench`).</summary>
    public long Computed { get; private set; }
    public long Reused { get; private set; }

    /// <summary>Declares the weights unchanging until the scope is disposed (scopes nest); the forms are dropped at its end.</summary>
    public IDisposable Freeze()
    {
        if (depth++ == 0)
        {
            forms.Clear();
            generation = device.Pool.Generation;
        }
        return new Thaw(this);
    }

    /// <summary>
    /// The form <paramref name="layout"/> (a name that also carries every size it depends on) of
    /// <paramref name="weights"/>: a pooled buffer of <paramref name="length"/> floats that
    /// <paramref name="fill"/> writes; reused inside a freeze, rebuilt on every call outside one.
    /// </summary>
    public ArrayView<float> Get(ArrayView<float> weights, string layout, long length, Action<ArrayView<float>> fill)
    {
        if (depth > 0 && generation != device.Pool.Generation)
        {
            forms.Clear();   // the pool was released inside the freeze: the stored forms' memory is reused
            generation = device.Pool.Generation;
        }
        var key = new Key(((IArrayView)weights).Buffer, ((IContiguousArrayView)weights).Index, weights.Length, layout);
        if (depth > 0 && forms.TryGetValue(key, out var form))
        {
            if (form.Length != length)
                throw new InvalidOperationException($"prepared weights '{layout}': stored with {form.Length} values, asked for {length}");
            Reused++;
            return form;
        }
        form = device.Pool.Rent(length);
        fill(form);
        if (depth > 0)
        {
            forms[key] = form;
            Computed++;
        }
        return form;
    }

    /// <summary>Throws when weights are about to be written inside a freeze (<paramref name="what"/> names the writer).</summary>
    public void ThrowIfFrozen(string what)
    {
        if (depth > 0)
            throw new InvalidOperationException($"{what} while the weights are frozen for a forward and backward pass: the prepared forms of the weights would go stale; update them after the pass");
    }

    sealed class Thaw(PreparedWeights owner) : IDisposable
    {
        bool done;

        public void Dispose()
        {
            if (done)
                return;
            done = true;
            if (--owner.depth == 0)
                owner.forms.Clear();
        }
    }
}

public sealed partial class ComputeDevice
{
    PreparedWeights? preparedWeights;

    /// <summary>Weight forms reused while the weights are frozen (<see cref="Engine.PreparedWeights"/>).</summary>
    public PreparedWeights PreparedWeights => preparedWeights ??= new PreparedWeights(this);
}
