using ByolIlgpu.Optim;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// An optimizer's state buffers (<see cref="Optimizer.State"/>: "velocity", or "exp_avg" and
/// "exp_avg_sq") as flat F32 tensors named <paramref name="prefix"/> + key, each of the store's
/// flat length. Scalar state (step count, hyper-parameters) belongs in the checkpoint's
/// <c>byol.optimizer</c> JSON; <see cref="Import"/> takes the step count back from it.
/// </summary>
public static class OptimizerCheckpoint
{
    public static IReadOnlyList<NamedTensor> Export(Optimizer optimizer, string prefix = TrainingCheckpoint.OptimizerPrefix)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var result = new List<NamedTensor>();
        foreach (var (key, buffer) in optimizer.State)
        {
            var host = optimizer.Store.Device.ToHost(buffer.View);
            result.Add(NamedTensor.F32(prefix + key, [host.Length], host));
        }
        return result;
    }

    /// <summary>
    /// Loads every state buffer; all must be present as F32 of the store's flat length, or nothing
    /// is loaded and the error names the file and the tensor.
    /// </summary>
    public static void Import(Optimizer optimizer, TensorMap tensors, long steps, string prefix = TrainingCheckpoint.OptimizerPrefix)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(tensors);
        // Every tensor is fetched (and checked) before anything is loaded.
        var loaded = optimizer.State.ToDictionary(kv => kv.Key, kv => tensors.GetFloat32(prefix + kv.Key, [checked((int)kv.Value.Length)]));
        optimizer.ImportState(loaded, steps);
    }
}
