using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Optim;

/// <summary>
/// The teacher update ξ ← τ·ξ + (1 − τ)·θ over the teacher's whole parameter buffer, whose layout
/// is the prefix of the student's (backbone, projector; the predictor follows and is left out),
/// and the cosine schedule τ_k = 1 − (1 − τ₀)·(cos(πk/K) + 1)/2 rising from τ₀ to 1.
/// </summary>
public static class Ema
{
    public static void Update(ParameterStore teacher, ParameterStore student, float tau)
    {
        CheckLayout(teacher, student);
        Update(teacher.Device, teacher.Values, student.Values.SubView(0, teacher.Count), tau);
    }

    public static void Update(ComputeDevice dev, ArrayView<float> teacher, ArrayView<float> student, float tau)
    {
        Ops.Elementwise.CheckSameLength(teacher, student, "ema");
        dev.PreparedWeights.ThrowIfFrozen("EMA update");
        var k = dev.Kernel(nameof(EmaKernels.EmaUpdateKernel),
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float>(EmaKernels.EmaUpdateKernel));
        k(dev.GridStrideConfig(teacher.Length), teacher, student, (int)teacher.Length, tau);
    }

    /// <summary>τ at step k of K: τ₀ at k = 0, 1 at k = K.</summary>
    public static double CosineTau(double tau0, long step, long totalSteps)
    {
        if (totalSteps <= 0)
            return tau0;
        double progress = Math.Clamp((double)step / totalSteps, 0, 1);
        return 1 - (1 - tau0) * (Math.Cos(Math.PI * progress) + 1) / 2;
    }

    /// <summary>The teacher's tensors must be the student's first tensors, same names and shapes.</summary>
    public static void CheckLayout(ParameterStore teacher, ParameterStore student)
    {
        if (teacher.Parameters.Count > student.Parameters.Count)
            throw new ArgumentException($"EMA: the teacher has {teacher.Parameters.Count} tensors, the student only {student.Parameters.Count}");
        for (int i = 0; i < teacher.Parameters.Count; i++)
        {
            var t = teacher.Parameters[i];
            var s = student.Parameters[i];
            if (t.Name != s.Name || !t.Shape.SequenceEqual(s.Shape) || t.Offset != s.Offset)
                throw new ArgumentException($"EMA: teacher tensor {i} '{t.Name}' {Tensor.Format(t.Shape)} does not match student tensor '{s.Name}' {Tensor.Format(s.Shape)}");
        }
    }

    /// <summary>Copies the student's leading parameters (and matching running statistics) into the teacher: the start of BYOL.</summary>
    public static void CopyStudentToTeacher(ParameterStore teacher, ParameterStore student)
    {
        CheckLayout(teacher, student);
        Ops.Elementwise.Axpby(teacher.Device, student.Values.SubView(0, teacher.Count), teacher.Values, 1f, 0f);
        var studentState = student.StateToHost();
        var teacherState = new float[teacher.StateValues.Length];
        Array.Copy(studentState, teacherState, Math.Min(studentState.Length, teacherState.Length));
        teacher.StateFromHost(teacherState);
    }
}
