namespace ByolIlgpu.Bench;

/// <summary>The one-time result check of a benchmark's setup: |got − ref| ≤ atol + rtol·|ref|, else the run stops.</summary>
public static class Verify
{
    public static void Close(float[] got, float[] reference, string what, double atol = 1e-3, double rtol = 1e-3)
    {
        if (got.Length != reference.Length)
            throw new InvalidOperationException($"{what}: {got.Length} values, expected {reference.Length}");
        for (int i = 0; i < got.Length; i++)
            if (!(Math.Abs(got[i] - reference[i]) <= atol + rtol * Math.Abs(reference[i])))
                throw new InvalidOperationException($"{what}: element {i} is {got[i]}, the oracle says {reference[i]}: not benchmarking a wrong kernel");
    }
}
