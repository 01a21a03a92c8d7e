using ByolIlgpu.Optim;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// An optimizer's state buffers (<see cref="Optimizer.State"/>: "velocity", or "exp_avg" and
/// "exp_avg_sq") as flat F32 tensors named <paramref name="prefix"/> + key, each of the store's
/// flat length. Scalar state (step count, hyper-parameters) belongs in the checkpoint's
/// <c>byol.optimizer</c> JSON; the trainer restores it (e.g. <see cref="Adam.SetSteps"/>).
/// </summary>
public static class OptimizerCheckpoint
{
    public static IReadOnlyList<NamedTensor> Export(Optimizer optimizer, string prefix = TrainingCheckpoint.OptimizerPrefix)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        optimizer.Store.Device.Synchronize();
        var result = new List<NamedTensor>();
        foreach (var (key, buffer) in optimizer.State)
        {
            var host = new float[buffer.Length];
            buffer.CopyToCPU(host);
            result.Add(NamedTensor.F32(prefix + key, [host.Length], host));
        }
        return result;
    }

    /// <summary>
    /// Loads every state buffer; all must be present as F32 of the store's flat length, or nothing
    /// is loaded and the error names the file and the tensor.
    /// </summary>
    public static void Import(Optimizer optimizer, TensorMap tensors, string prefix = TrainingCheckpoint.OptimizerPrefix)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(tensors);
        var state = optimizer.State;
        var loaded = state.Select(kv => (Buffer: kv.Value, Values: tensors.GetFloat32(prefix + kv.Key, [checked((int)kv.Value.Length)]))).ToList();
        foreach (var (buffer, values) in loaded)
            buffer.CopyFromCPU(values);
    }
}
