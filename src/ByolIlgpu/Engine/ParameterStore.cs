using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>One learnable tensor: a named range of the store's flat buffers.</summary>
public sealed class Parameter
{
    internal Parameter(string name, int[] shape, bool decay, Action<float[], Random> init)
    {
        Name = name;
        Shape = shape;
        Length = Tensor.ShapeLength(shape);
        Decay = decay;
        Init = init;
    }

    public string Name { get; }
    public int[] Shape { get; }
    public int Length { get; }

    /// <summary>True for weights (weight decay, LARS adaptation); false for biases and BatchNorm γ, β.</summary>
    public bool Decay { get; }

    /// <summary>Offset of the first element in the flat buffers.</summary>
    public int Offset { get; internal set; }

    internal Action<float[], Random> Init { get; }

    /// <summary>The values (after <see cref="ParameterStore.Build"/>).</summary>
    public Tensor Value { get; internal set; } = null!;
}

/// <summary>A named non-learnable tensor (BatchNorm running statistics).</summary>
public sealed class StateBuffer
{
    internal StateBuffer(string name, int[] shape, float initial)
    {
        Name = name;
        Shape = shape;
        Length = Tensor.ShapeLength(shape);
        Initial = initial;
    }

    public string Name { get; }
    public int[] Shape { get; }
    public int Length { get; }
    public float Initial { get; }
    public int Offset { get; internal set; }
    public Tensor Value { get; internal set; } = null!;
}

/// <summary>
/// All parameters of a network in one flat device buffer, their gradients in a second of the same
/// layout, and the running statistics in a third. Parameters lie in registration order, so the
/// modules built first (backbone, projector) form a prefix that the EMA covers with one launch,
/// and an optimizer step is a single 2-D launch over the tensor table (offsets, decay flags).
/// Modules declare tensors while they are constructed; <see cref="Build"/> then allocates and
/// initialises them from one seeded generator, in order.
/// </summary>
public sealed class ParameterStore : IDisposable
{
    readonly List<Parameter> parameters = new();
    readonly List<StateBuffer> buffers = new();
    MemoryBuffer1D<float, Stride1D.Dense>? values, grads, state;
    MemoryBuffer1D<int, Stride1D.Dense>? offsets, decayFlags;

    public ParameterStore(ComputeDevice device, bool withGradients = true)
    {
        Device = device;
        WithGradients = withGradients;
    }

    public ComputeDevice Device { get; }
    public bool WithGradients { get; }
    public bool IsBuilt => values is not null;
    public IReadOnlyList<Parameter> Parameters => parameters;
    public IReadOnlyList<StateBuffer> Buffers => buffers;

    /// <summary>Total number of parameter elements.</summary>
    public int Count { get; private set; }

    public ArrayView<float> Values => Built(values).View;
    public ArrayView<float> Grads => WithGradients ? Built(grads).View : throw new InvalidOperationException("this parameter store keeps no gradients (a teacher network)");
    public ArrayView<float> StateValues => Built(state).View;

    /// <summary>(T + 1) offsets: tensor t is [offsets[t], offsets[t+1]).</summary>
    public ArrayView<int> TensorOffsets => Built(offsets).View;

    /// <summary>(T) 1 for tensors with weight decay and LARS adaptation, 0 for the excluded.</summary>
    public ArrayView<int> TensorDecayFlags => Built(decayFlags).View;

    /// <summary>Declares a parameter; its tensor exists after <see cref="Build"/>.</summary>
    public Parameter Add(string name, int[] shape, bool decay, Action<float[], Random> init)
    {
        if (IsBuilt)
            throw new InvalidOperationException($"parameter '{name}' declared after the store was built");
        if (parameters.Any(p => p.Name == name))
            throw new ArgumentException($"parameter '{name}' declared twice");
        var p = new Parameter(name, shape, decay, init);
        parameters.Add(p);
        return p;
    }

    /// <summary>Declares a running-statistics buffer filled with <paramref name="initial"/>.</summary>
    public StateBuffer AddBuffer(string name, int[] shape, float initial)
    {
        if (IsBuilt)
            throw new InvalidOperationException($"buffer '{name}' declared after the store was built");
        var b = new StateBuffer(name, shape, initial);
        buffers.Add(b);
        return b;
    }

    /// <summary>Allocates the flat buffers and initialises every tensor from <paramref name="seed"/>, in declaration order.</summary>
    public void Build(int seed)
    {
        if (IsBuilt)
            throw new InvalidOperationException("parameter store built twice");
        if (parameters.Count == 0)
            throw new InvalidOperationException("parameter store has no parameters");
        int offset = 0;
        foreach (var p in parameters) { p.Offset = offset; offset += p.Length; }
        Count = offset;
        int stateLength = 0;
        foreach (var b in buffers) { b.Offset = stateLength; stateLength += b.Length; }

        values = Device.Allocate<float>(Count);
        if (WithGradients)
        {
            grads = Device.Allocate<float>(Count);
            Device.MemSetToZero(grads.View);
        }
        state = Device.Allocate<float>(Math.Max(1, stateLength));

        var host = new float[Count];
        var rng = new Random(seed);
        foreach (var p in parameters)
        {
            var part = new float[p.Length];
            p.Init(part, rng);
            Array.Copy(part, 0, host, p.Offset, p.Length);
        }
        Device.CopyFromHost(values.View, host);
        var hostState = new float[Math.Max(1, stateLength)];
        foreach (var b in buffers)
            Array.Fill(hostState, b.Initial, b.Offset, b.Length);
        Device.CopyFromHost(state.View, hostState);

        offsets = Device.Allocate(parameters.Select(p => p.Offset).Append(Count).ToArray());
        decayFlags = Device.Allocate(parameters.Select(p => p.Decay ? 1 : 0).ToArray());

        foreach (var p in parameters)
        {
            p.Value = Tensor.View(Device, p.Name, values.View.SubView(p.Offset, p.Length), p.Shape);
            p.Value.RequiresGrad = WithGradients;
            if (WithGradients)
                p.Value.Grad = Tensor.View(Device, p.Name + ".grad", grads!.View.SubView(p.Offset, p.Length), p.Shape);
        }
        foreach (var b in buffers)
            b.Value = Tensor.View(Device, b.Name, state.View.SubView(b.Offset, b.Length), b.Shape);
    }

    /// <summary>Sets every gradient to zero (one memset over the flat buffer).</summary>
    public void ZeroGrad() => Device.MemSetToZero(Built(grads).View);

    /// <summary>Number of leading elements that belong to parameters whose names start with one of the prefixes.</summary>
    public int PrefixLength(params string[] namePrefixes)
    {
        int length = 0;
        foreach (var p in parameters)
        {
            if (!namePrefixes.Any(prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal)))
                break;
            length = p.Offset + p.Length;
        }
        return length;
    }

    public float[] ValuesToHost() => CopyToHost(Built(values));
    public float[] GradsToHost() => CopyToHost(Built(grads));
    public float[] StateToHost() => CopyToHost(Built(state));
    public void ValuesFromHost(float[] host)
    {
        Device.PreparedWeights.ThrowIfFrozen("loading parameter values");
        CopyFromHost(Built(values), host, "parameter values");
    }
    public void StateFromHost(float[] host) => CopyFromHost(Built(state), host, "running statistics");
    public void GradsFromHost(float[] host) => CopyFromHost(Built(grads), host, "gradients");

    float[] CopyToHost(MemoryBuffer1D<float, Stride1D.Dense> buffer) => Device.ToHost(buffer.View);

    void CopyFromHost(MemoryBuffer1D<float, Stride1D.Dense> buffer, float[] host, string what)
    {
        if (host.Length != buffer.Length)
            throw new ArgumentException($"{what}: {host.Length} values for a buffer of {buffer.Length}");
        Device.CopyFromHost(buffer.View, host);
    }

    T Built<T>(T? buffer) where T : class =>
        buffer ?? throw new InvalidOperationException("parameter store used before Build()");

    public void Dispose()
    {
        values?.Dispose();
        grads?.Dispose();
        state?.Dispose();
        offsets?.Dispose();
        decayFlags?.Dispose();
    }
}
