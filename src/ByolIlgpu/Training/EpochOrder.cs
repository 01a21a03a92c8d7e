namespace ByolIlgpu.Training;

/// <summary>
/// The order of the training images in an epoch: a Fisher–Yates shuffle driven by SplitMix64 keyed
/// by (seed, epoch), so a resumed run sees exactly the batches an uninterrupted one would.
/// </summary>
public static class EpochOrder
{
    public static int[] Permutation(int count, int seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        ulong state = Mix(((ulong)(uint)seed << 32) ^ (uint)epoch ^ 0x5851F42D4C957F2DUL);
        for (int i = count - 1; i > 0; i--)
        {
            state += 0x9E3779B97F4A7C15UL;
            // Lemire's multiply-shift maps 64 random bits to [0, i] without modulo bias worth noting at these sizes.
            int j = (int)(((UInt128)Mix(state) * (ulong)(i + 1)) >> 64);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>SplitMix64's finaliser.</summary>
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
