using ILGPU;

namespace ByolIlgpu.Kernels;

/// <summary>
/// Index helpers for explicitly grouped kernels that walk their range with a grid-stride loop:
/// thread t of a launch with T threads in all visits t, t + T, t + 2T, … . Few large groups suit
/// ILGPU's CPU accelerator (each thread an OS thread); many groups suit a GPU. The launcher picks.
/// </summary>
public static class GridStride
{
    /// <summary>First index this thread visits along X: Grid.IdxX·Group.DimX + Group.IdxX.</summary>
    public static int Start => Grid.IdxX * Group.DimX + Group.IdxX;

    /// <summary>Distance between visits along X: the number of threads along X.</summary>
    public static int Step => Grid.DimX * Group.DimX;
}
