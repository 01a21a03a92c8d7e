using ByolIlgpu.Engine;

namespace ByolIlgpu.SelfTest;

/// <summary>An input of a tape op: its values (FP32-representable doubles), shape, and whether its gradient is checked.</summary>
public sealed record TapeInput(string Name, double[] Values, int[] Shape, bool Grad = true);

/// <summary>
/// The check of an op on the tape, as the tests do it: the forward against the reference; the
/// backward, fed a random non-zero upstream gradient dY, against the reference backward and (at tiny
/// shapes) against central differences of the fake loss Σ reference(x)·dY, in double.
/// </summary>
public static class TapeChecks
{
    public static void Run(SelfTestContext context, string family, string op, string shape, TapeInput[] inputs,
        Func<Tape, Tensor[], Tensor> forward, Func<double[][], double[]> reference, Func<double[][], double[], double[][]>? referenceBackward,
        Tolerance forwardTolerance, Tolerance backwardTolerance, bool finiteDifferences, string version = "v1")
    {
        var device = context.Device;
        device.Pool.ReleaseAll();
        var tape = new Tape(device);
        var tensors = inputs.Select(i =>
        {
            var t = Tensor.FromHost(device, i.Name, Array.ConvertAll(i.Values, v => (float)v), i.Shape);
            t.RequiresGrad = i.Grad;
            return t;
        }).ToArray();
        var values = inputs.Select(i => i.Values).ToArray();
        var y = forward(tape, tensors);
        var expected = reference(values);
        context.Rows.Add(Compare.Elements(family, op, version, "reference", shape, context.Seen(op, version, y.ToHost()), expected, forwardTolerance));
        if (!inputs.Any(i => i.Grad))
            return;

        var dY = SelfTestContext.NonZero(7001, y.Length);
        tape.Backward(y, Tensor.FromHost(device, "dY", Array.ConvertAll(dY, v => (float)v), y.Shape));
        var expectedGrads = referenceBackward?.Invoke(values, dY);
        for (int k = 0; k < inputs.Length; k++)
        {
            if (!inputs[k].Grad)
                continue;
            string gradOp = $"{op} d{inputs[k].Name}";
            var got = context.Seen(gradOp, version, tensors[k].Grad?.ToHost() ?? new float[tensors[k].Length]);
            if (expectedGrads is not null)
                context.Rows.Add(Compare.Elements(family, gradOp, version, "reference", shape, got, expectedGrads[k], backwardTolerance));
            if (finiteDifferences)
            {
                int at = k;
                var numeric = FiniteDifference.Gradient(v =>
                {
                    var probe = (double[][])values.Clone();
                    probe[at] = v;
                    return FiniteDifference.Dot(reference(probe), dY);
                }, values[k]);
                context.Rows.Add(Compare.Elements(family, gradOp, version, "finite-d", shape, got, numeric, Tolerance.FiniteDifferences));
            }
        }
    }
}
