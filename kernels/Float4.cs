namespace ByolIlgpu.Kernels;

/// <summary>
/// Four contiguous floats, read as one value: a shared-memory view cast to it
/// (<c>view.Cast&lt;Float4&gt;()</c>, 16-byte aligned) makes ILGPU's PTX backend emit one
/// <c>ld.shared.v4.f32</c> (SASS <c>LDS.128</c>) per read instead of four 32-bit loads. The
/// other backends read the four fields as they would any struct.
/// </summary>
public struct Float4
{
    public float X, Y, Z, W;
}
