using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Engine;

/// <summary>
/// Constant tables the kernels read (e.g. a convolution's gather offsets for one layer geometry): made
/// on the host and uploaded on first request, then kept for the device's life, so the steps after the
/// first copy and allocate nothing for them. The accelerator frees them when it is disposed.
/// </summary>
public sealed partial class ComputeDevice
{
    readonly Dictionary<string, MemoryBuffer1D<int, Stride1D.Dense>> tables = new();

    /// <summary>The device copy of the table <paramref name="key"/> names, made by <paramref name="build"/> on first request only.</summary>
    public ArrayView<int> ConstantTable(string key, Func<int[]> build)
    {
        lock (tables)
        {
            if (!tables.TryGetValue(key, out var buffer))
                tables[key] = buffer = Allocate(build());
            return buffer.View;
        }
    }

    /// <summary>How many constant tables this device holds (one per distinct key requested).</summary>
    public int ConstantTableCount
    {
        get { lock (tables) return tables.Count; }
    }
}
