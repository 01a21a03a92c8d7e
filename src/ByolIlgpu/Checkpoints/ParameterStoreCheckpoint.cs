using ByolIlgpu.Engine;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// Maps a <see cref="ParameterStore"/> to named tensors and back, through the store's public API
/// only. The store's names are already PyTorch's (<c>conv1.weight</c>, <c>layer1.0.bn1.running_mean</c>,
/// <c>projector.0.weight</c>); a prefix (<c>teacher.</c>) is put in front. Every BatchNorm module,
/// recognised by its <c>.running_mean</c> buffer, also gets PyTorch's <c>num_batches_tracked</c> as an
/// I64 scalar. Tensors come out in state-dict order: each module's parameters, then its buffers.
/// </summary>
public static class ParameterStoreCheckpoint
{
    public const string RunningMeanSuffix = ".running_mean";
    public const string BatchesTrackedSuffix = ".num_batches_tracked";

    /// <summary>The BatchNorm modules of the store ("bn1", "layer2.0.downsample.1"), in declaration order.</summary>
    public static IReadOnlyList<string> BatchNormModules(ParameterStore store) =>
        store.Buffers.Where(b => b.Name.EndsWith(RunningMeanSuffix, StringComparison.Ordinal))
            .Select(b => b.Name[..^RunningMeanSuffix.Length]).ToList();

    /// <summary>
    /// Parameters and running statistics as F32 tensors named <paramref name="prefix"/> + name, and
    /// <paramref name="prefix"/> + module + ".num_batches_tracked" (I64, shape []) from
    /// <paramref name="batchesTracked"/>, keyed by BatchNorm module name (<see cref="BatchNormModules"/>;
    /// every module must be given, and nothing else).
    /// </summary>
    public static IReadOnlyList<NamedTensor> Export(ParameterStore store, string prefix, IDictionary<string, long> batchesTracked)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(batchesTracked);
        if (!store.IsBuilt)
            throw new InvalidOperationException("export of a parameter store before Build()");
        var modules = BatchNormModules(store);
        foreach (var m in modules)
            if (!batchesTracked.ContainsKey(m))
                throw new ArgumentException($"num_batches_tracked of BatchNorm '{m}' not given");
        foreach (var key in batchesTracked.Keys)
            if (!modules.Contains(key))
                throw new ArgumentException($"num_batches_tracked given for '{key}', which is not a BatchNorm module of the store (expected one of: {string.Join(", ", modules)})");

        var values = store.ValuesToHost();
        var state = store.StateToHost();
        var result = new List<NamedTensor>();
        foreach (var group in Layout(store))
        {
            foreach (var p in group.Parameters)
                result.Add(NamedTensor.F32(prefix + p.Name, p.Shape, values.AsSpan(p.Offset, p.Length)));
            foreach (var b in group.Buffers)
                result.Add(NamedTensor.F32(prefix + b.Name, b.Shape, state.AsSpan(b.Offset, b.Length)));
            if (modules.Contains(group.Module))
                result.Add(NamedTensor.ScalarI64(prefix + group.Module + BatchesTrackedSuffix, batchesTracked[group.Module]));
        }
        return result;
    }

    /// <summary>
    /// Loads every parameter and buffer of the store from <paramref name="tensors"/>[<paramref name="prefix"/> + name]
    /// and returns num_batches_tracked per BatchNorm module. Every expected tensor must be present with
    /// its dtype and shape; otherwise nothing is loaded and the error lists each missing or mismatched
    /// tensor and the file. Tensors the store does not name are ignored (other prefixes share the file).
    /// </summary>
    public static Dictionary<string, long> Import(ParameterStore store, string prefix, TensorMap tensors)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!store.IsBuilt)
            throw new InvalidOperationException("import into a parameter store before Build()");

        var problems = new List<(string Name, string Problem)>();
        NamedTensor? Find(string name, SafeTensorsDType dtype, int[] shape)
        {
            if (!tensors.TryGet(name, out var t))
            {
                problems.Add((name, $"missing, expected {dtype} {NamedTensor.ShapeText(shape)}"));
                return null;
            }
            if (t.DType != dtype || !t.Shape.AsSpan().SequenceEqual(shape))
            {
                problems.Add((name, $"{t.DType} {NamedTensor.ShapeText(t.Shape)}, expected {dtype} {NamedTensor.ShapeText(shape)}"));
                return null;
            }
            return t;
        }

        var values = new float[store.Count];
        var state = store.StateToHost();   // keeps its length (at least 1 even without buffers)
        foreach (var p in store.Parameters)
            if (Find(prefix + p.Name, SafeTensorsDType.F32, p.Shape) is { } t)
                t.ToFloat32().CopyTo(values, p.Offset);
        foreach (var b in store.Buffers)
            if (Find(prefix + b.Name, SafeTensorsDType.F32, b.Shape) is { } t)
                t.ToFloat32().CopyTo(state, b.Offset);
        var tracked = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var m in BatchNormModules(store))
            if (Find(prefix + m + BatchesTrackedSuffix, SafeTensorsDType.I64, []) is { } t)
                tracked[m] = t.ToInt64()[0];

        if (problems.Count == 1)
            throw new CheckpointFormatException(tensors.Source, $"tensor '{problems[0].Name}'", problems[0].Problem);
        if (problems.Count > 1)
            throw new CheckpointFormatException(tensors.Source, $"{problems.Count} tensors of the store (prefix '{prefix}')",
                string.Join("; ", problems.Take(20).Select(p => $"'{p.Name}' {p.Problem}"))
                + (problems.Count > 20 ? $"; and {problems.Count - 20} more" : ""));
        store.ValuesFromHost(values);
        store.StateFromHost(state);
        return tracked;
    }

    sealed record Group(string Module, List<Parameter> Parameters, List<StateBuffer> Buffers);

    /// <summary>Parameters grouped by module in declaration order, each followed by its module's buffers (a state dict's order).</summary>
    static List<Group> Layout(ParameterStore store)
    {
        var groups = new List<Group>();
        var byModule = new Dictionary<string, Group>(StringComparer.Ordinal);
        Group For(string module)
        {
            if (!byModule.TryGetValue(module, out var g))
            {
                g = new Group(module, new(), new());
                byModule[module] = g;
                groups.Add(g);
            }
            return g;
        }
        foreach (var p in store.Parameters)
            For(ModuleOf(p.Name)).Parameters.Add(p);
        foreach (var b in store.Buffers)
            For(ModuleOf(b.Name)).Buffers.Add(b);
        return groups;
    }

    static string ModuleOf(string name)
    {
        int dot = name.LastIndexOf('.');
        return dot < 0 ? "" : name[..dot];
    }
}
