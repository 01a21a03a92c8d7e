using ByolIlgpu.Layers;

namespace ByolIlgpu.Byol;

/// <summary>
/// Arithmetic of one BYOL step per image (FLOP = 2 × multiply-adds), convolutions and linear layers only:
/// per view, the student's forward (backbone + projector + predictor) and backward (≈ 2× forward:
/// input and weight gradients), and the teacher's forward (backbone + projector). The backbone's share
/// depends on the image size and the stem (<see cref="ResNet18.ConvMultiplyAdds"/>); the heads' does not.
/// </summary>
public static class ByolFlops
{
    /// <summary>FLOP of one BYOL step per image of <paramref name="height"/>×<paramref name="width"/> pixels.</summary>
    public static double PerImage(ByolArchitecture a, int height = 32, int width = 32)
    {
        double backbone = ResNet18.ConvMultiplyAdds(a.Width, height, width, a.Stem);
        double projector = (double)a.FeatureDim * a.ProjectorHidden + (double)a.ProjectorHidden * a.ProjectorOut;
        double predictor = (double)a.ProjectorOut * a.PredictorHidden + (double)a.PredictorHidden * a.ProjectorOut;
        double studentForward = backbone + projector + predictor;
        double teacherForward = backbone + projector;
        return 2 /* views */ * 2 /* FLOP per MAC */ * (3 * studentForward + teacherForward);
    }
}
