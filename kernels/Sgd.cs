using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Optimizer kernels walk every parameter tensor in one launch: the flat parameter buffer is cut by a
/// table of offsets (T + 1 entries, tensor t is [offsets[t], offsets[t+1])) and a flag per tensor
/// (1: weights, which get weight decay and LARS adaptation; 0: biases and BatchNorm parameters).
/// The launch is 2-D: Grid.IdxY is the tensor, X strides over its elements.
///
/// SGD with momentum and weight decay, as torch.optim.SGD (dampening 0, no Nesterov):
/// g' = g + λ_t·w, v ← μ·v + g', w ← w − lr·v, with λ_t = λ for weights, 0 for excluded tensors.
/// </summary>
public static class SgdKernels
{
    public static void SgdUpdateKernel(
        ArrayView<float> w,          // (P) parameters
        ArrayView<float> g,          // (P) gradients
        ArrayView<float> velocity,   // (P) momentum buffer
        ArrayView<int> offsets,      // (T + 1)
        ArrayView<int> decayFlags,   // (T)
        float lr, float momentum, float weightDecay)
    {
        int t = Grid.IdxY;
        int end = offsets[t + 1];
        float lambda = decayFlags[t] != 0 ? weightDecay : 0f;
        for (int i = offsets[t] + GridStride.Start; i < end; i += GridStride.Step)
        {
            float v = momentum * velocity[i] + g[i] + lambda * w[i];
            velocity[i] = v;
            w[i] -= lr * v;
        }
    }
}
