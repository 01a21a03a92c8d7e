namespace ByolIlgpu.Reference;

/// <summary>
/// The MLP head (Linear → BatchNorm1d (training) → ReLU → Linear) forward and backward in plain
/// double precision, composed from <see cref="Dense"/>: the oracle for the tape's version.
/// </summary>
public static class MlpHead
{
    public sealed record Weights(double[] W1, double[] B1, double[] Gamma, double[] Beta, double[] W2, double[] B2);

    public sealed record Gradients(double[] DX, double[] DW1, double[] DB1, double[] DGamma, double[] DBeta, double[] DW2, double[] DB2);

    public static double[] Forward(Weights w, double[] x, int n, int inF, int hidden, int outF, double eps = 1e-5)
    {
        var h1 = Dense.LinearForward(x, w.W1, w.B1, n, inF, hidden);
        var (h2, _, _) = Dense.BatchNormTrain(h1, w.Gamma, w.Beta, n, hidden, 1, eps);
        var h3 = Dense.Relu(h2);
        return Dense.LinearForward(h3, w.W2, w.B2, n, hidden, outF);
    }

    /// <summary>Gradients of Σ y·dY with respect to the input and every parameter.</summary>
    public static Gradients Backward(Weights w, double[] x, double[] dY, int n, int inF, int hidden, int outF, double eps = 1e-5)
    {
        var h1 = Dense.LinearForward(x, w.W1, w.B1, n, inF, hidden);
        var (h2, _, _) = Dense.BatchNormTrain(h1, w.Gamma, w.Beta, n, hidden, 1, eps);
        var h3 = Dense.Relu(h2);
        var (dH3, dW2, dB2) = Dense.LinearBackward(h3, w.W2, dY, n, hidden, outF);
        var dH2 = Dense.ReluBackward(h3, dH3);
        var (dH1, dGamma, dBeta) = Dense.BatchNormBackward(h1, w.Gamma, dH2, n, hidden, 1, eps);
        var (dX, dW1, dB1) = Dense.LinearBackward(x, w.W1, dH1, n, inF, hidden);
        return new Gradients(dX, dW1, dB1, dGamma, dBeta, dW2, dB2);
    }
}
