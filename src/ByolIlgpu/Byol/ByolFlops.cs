using ByolIlgpu.Layers;

namespace ByolIlgpu.Byol;

/// <summary>
/// Arithmetic of one BYOL step per image (FLOP = 2 × multiply-adds), convolutions and linear layers only:
/// per view, the student's forward (backbone + projector + predictor) and backward (≈ 2× forward:
/// input and weight gradients), and the teacher's forward (backbone + projector).
/// </summary>
public static class ByolFlops
{
    public static double PerImage(ByolArchitecture a)
    {
        double backbone = ResNet18.ConvMultiplyAdds(a.Width);
        double projector = (double)a.FeatureDim * a.ProjectorHidden + (double)a.ProjectorHidden * a.ProjectorOut;
        double predictor = (double)a.ProjectorOut * a.PredictorHidden + (double)a.PredictorHidden * a.ProjectorOut;
        double studentForward = backbone + projector + predictor;
        double teacherForward = backbone + projector;
        return 2 /* views */ * 2 /* FLOP per MAC */ * (3 * studentForward + teacherForward);
    }
}
