using ILGPU;
using ILGPU.Runtime.Cuda;

namespace ByolIlgpu.Kernels;

/// <summary>
/// NVIDIA's TF32 tensor-core instruction, and an emulation of it for every other accelerator:
///   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32  D = A·B + C
/// one warp of 32 lanes multiplies A (16×8) by B (8×8) into C/D (16×8), every operand spread over
/// the lanes' registers as the PTX ISA's "Matrix Fragments for mma.m16n8k8" (.tf32) lays them out,
/// with groupID = lane / 4 and threadID_in_group = lane mod 4:
///   A: a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)      (row, column)
///   B: b0 (t, g)  b1 (t + 4, g)
///   C: c0 (g, 2t) c1 (g, 2t + 1)  c2 (g + 8, 2t)  c3 (g + 8, 2t + 1)
/// TF32 keeps float's 8-bit exponent and 10 of its 23 mantissa bits; operands are rounded to it with
/// cvt.rna.tf32.f32 (to nearest, ties away from zero) and the instruction reads only those bits.
/// The products of two TF32 values are exact in FP32; the hardware's summation order is unspecified.
///
/// On CUDA (<see cref="CudaAsm.IsSupported"/>, decided when ILGPU compiles the kernel) the PTX
/// instruction is emitted inline; elsewhere <see cref="MmaEmulated"/> gives the same result from the
/// same registers: each lane puts its fragment in a per-warp scratch in shared memory, and reads back
/// the rows of A and columns of B its four outputs need, lane for lane as the layout above says.
/// A "lane" is the thread's index in its group mod 32: groups are 1-D and a multiple of 32 threads,
/// which on CUDA makes it the hardware lane. The emulation synchronises the group (it needs the other
/// lanes' registers), so, like mma.sync, every thread of the group must reach every call.
/// </summary>
public static class TensorCore
{
    public const int WarpLanes = 32;

    /// <summary>
    /// Floats of emulation scratch per warp: each lane's registers of one <see cref="WarpTileStep"/>
    /// (2 × a0..a3, 4 × b0, b1; one instruction uses the first 6). The kernels allocate it on
    /// every backend (ILGPU needs a shared allocation's size to be a plain constant: one chosen by
    /// <see cref="CudaAsm.IsSupported"/> fails to compile); on CUDA its 3 KB per group sit unused and
    /// do not limit occupancy, which registers do (8 KB per group of 4 warps).
    /// </summary>
    public const int ScratchPerWarp = WarpLanes * 16;

    // ---- the fragment layout (which lane holds which element), shared by kernels and tests --------

    /// <summary>Row of A held by register a<paramref name="reg"/> (0..3) of <paramref name="lane"/>.</summary>
    public static int ARow(int lane, int reg) => (lane >> 2) + 8 * (reg & 1);

    /// <summary>Column (k) of A held by register a<paramref name="reg"/> of <paramref name="lane"/>.</summary>
    public static int ACol(int lane, int reg) => (lane & 3) + 4 * (reg >> 1);

    /// <summary>Row (k) of B held by register b<paramref name="reg"/> (0..1) of <paramref name="lane"/>.</summary>
    public static int BRow(int lane, int reg) => (lane & 3) + 4 * reg;

    /// <summary>Column of B held by both B registers of <paramref name="lane"/>.</summary>
    public static int BCol(int lane) => lane >> 2;

    /// <summary>Row of C/D held by register c<paramref name="reg"/> (0..3) of <paramref name="lane"/>.</summary>
    public static int CRow(int lane, int reg) => (lane >> 2) + 8 * (reg >> 1);

    /// <summary>Column of C/D held by register c<paramref name="reg"/> of <paramref name="lane"/>.</summary>
    public static int CCol(int lane, int reg) => 2 * (lane & 3) + (reg & 1);

    // ---- rounding ---------------------------------------------------------------------------------

    /// <summary>x rounded to TF32 (cvt.rna.tf32.f32: nearest, ties away from zero), as a float whose low 13 mantissa bits are 0.</summary>
    public static float RoundToTf32(float x)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out uint rounded, x);
            return Interop.IntAsFloat(rounded);
        }
        return RoundToTf32Emulated(x);
    }

    /// <summary>
    /// cvt.rna.tf32.f32 in integer arithmetic: adding half a TF32 unit (bit 12) to the magnitude and
    /// clearing the 13 bits below TF32's mantissa rounds to nearest with ties away from zero (a carry
    /// into the exponent is the correct next binade, or infinity). Infinities and NaNs pass unchanged.
    /// </summary>
    public static float RoundToTf32Emulated(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) == 0x7F800000u)
            return x;
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }

    /// <summary>What the tensor core reads of a .tf32 operand register: its sign, exponent and 10 mantissa bits.</summary>
    static float Tf32Bits(float x) => Interop.IntAsFloat(Interop.FloatAsInt(x) & 0xFFFFE000u);

    // ---- the instruction ----------------------------------------------------------------------------

    /// <summary>
    /// D = A·B + C for one warp (see the class summary for which lane holds what); d0..d3 hold C on
    /// entry and D on return. <paramref name="scratch"/> is this warp's <see cref="ScratchPerWarp"/>
    /// floats of shared memory (used by the emulation only).
    /// </summary>
    public static void Mma(
        ref float d0, ref float d1, ref float d2, ref float d3,
        float a0, float a1, float a2, float a3, float b0, float b1,
        ArrayView<float> scratch, int lane)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> c0 = d0, c1 = d1, c2 = d2, c3 = d3;
            Input<uint> ia0 = Interop.FloatAsInt(a0), ia1 = Interop.FloatAsInt(a1), ia2 = Interop.FloatAsInt(a2), ia3 = Interop.FloatAsInt(a3);
            Input<uint> ib0 = Interop.FloatAsInt(b0), ib1 = Interop.FloatAsInt(b1);
            CudaAsm.EmitRef(
                "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
                ref c0, ref c1, ref c2, ref c3, ref ia0, ref ia1, ref ia2, ref ia3, ref ib0, ref ib1);
            d0 = c0.Value; d1 = c1.Value; d2 = c2.Value; d3 = c3.Value;
        }
        else
        {
            MmaEmulated(ref d0, ref d1, ref d2, ref d3, a0, a1, a2, a3, b0, b1, scratch, lane);
        }
    }

    /// <summary>
    /// The instruction on any accelerator: lane ℓ stores a0..a3, b0, b1 at scratch[6ℓ .. 6ℓ + 5]; after
    /// a barrier, output c_r at (i, j) = (CRow(ℓ, r), CCol(ℓ, r)) becomes c_r + Σ_{k<8} A[i, k]·B[k, j]
    /// (FP32 sum in k order), where A[i, k] is register (i div 8) + 2·(k div 4) of lane 4·(i mod 8) + k mod 4
    /// and B[k, j] register k div 4 of lane 4·j + k mod 4; a second barrier frees the scratch.
    /// </summary>
    public static void MmaEmulated(
        ref float d0, ref float d1, ref float d2, ref float d3,
        float a0, float a1, float a2, float a3, float b0, float b1,
        ArrayView<float> scratch, int lane)
    {
        int mine = lane * 6;
        scratch[mine + 0] = Tf32Bits(a0);
        scratch[mine + 1] = Tf32Bits(a1);
        scratch[mine + 2] = Tf32Bits(a2);
        scratch[mine + 3] = Tf32Bits(a3);
        scratch[mine + 4] = Tf32Bits(b0);
        scratch[mine + 5] = Tf32Bits(b1);
        Group.Barrier();
        d0 += EmulatedDot(scratch, CRow(lane, 0), CCol(lane, 0));
        d1 += EmulatedDot(scratch, CRow(lane, 1), CCol(lane, 1));
        d2 += EmulatedDot(scratch, CRow(lane, 2), CCol(lane, 2));
        d3 += EmulatedDot(scratch, CRow(lane, 3), CCol(lane, 3));
        Group.Barrier();
    }

    /// <summary>Σ_{k&lt;8} A[i, k]·B[k, j] read from the lanes' registers in the scratch.</summary>
    static float EmulatedDot(ArrayView<float> scratch, int i, int j)
    {
        float sum = 0f;
        for (int k = 0; k < 8; k++)
        {
            float a = scratch[((i & 7) * 4 + (k & 3)) * 6 + (i >> 3) + 2 * (k >> 2)];
            float b = scratch[(j * 4 + (k & 3)) * 6 + 4 + (k >> 2)];
            sum += a * b;
        }
        return sum;
    }

    // ---- a warp's 32×32 tile of a block GEMM --------------------------------------------------------

    /// <summary>
    /// One k8 step of a warp's 32×32 outputs (2 m16 × 4 n8 instructions) from k-major tiles in shared
    /// memory: A at tileA[aOff + k·stride + row] (rows 0..31 of the warp), B at tileB[bOff + k·stride + col].
    /// With a stride ≡ 8 (mod 32) every fragment load is free of bank conflicts (lane ℓ reads bank 8t + g).
    /// </summary>
    public static void WarpTileStep(
        ref WarpTile acc,
        ArrayView<float> tileA, int aOff,
        ArrayView<float> tileB, int bOff,
        int stride, ArrayView<float> scratch, int lane)
    {
        int g = lane >> 2, t = lane & 3;
        int ra = aOff + t * stride + g, rb = bOff + t * stride + g, four = 4 * stride;
        float a00 = tileA[ra], a01 = tileA[ra + 8], a02 = tileA[ra + four], a03 = tileA[ra + four + 8];
        float a10 = tileA[ra + 16], a11 = tileA[ra + 24], a12 = tileA[ra + four + 16], a13 = tileA[ra + four + 24];
        float b00 = tileB[rb], b01 = tileB[rb + four];
        float b10 = tileB[rb + 8], b11 = tileB[rb + four + 8];
        float b20 = tileB[rb + 16], b21 = tileB[rb + four + 16];
        float b30 = tileB[rb + 24], b31 = tileB[rb + four + 24];
        if (!CudaAsm.IsSupported)
        {
            WarpTileStepEmulated(ref acc, a00, a01, a02, a03, a10, a11, a12, a13, b00, b01, b10, b11, b20, b21, b30, b31, scratch, lane);
            return;
        }
        Mma(ref acc.C000, ref acc.C001, ref acc.C002, ref acc.C003, a00, a01, a02, a03, b00, b01, scratch, lane);
        Mma(ref acc.C010, ref acc.C011, ref acc.C012, ref acc.C013, a00, a01, a02, a03, b10, b11, scratch, lane);
        Mma(ref acc.C020, ref acc.C021, ref acc.C022, ref acc.C023, a00, a01, a02, a03, b20, b21, scratch, lane);
        Mma(ref acc.C030, ref acc.C031, ref acc.C032, ref acc.C033, a00, a01, a02, a03, b30, b31, scratch, lane);
        Mma(ref acc.C100, ref acc.C101, ref acc.C102, ref acc.C103, a10, a11, a12, a13, b00, b01, scratch, lane);
        Mma(ref acc.C110, ref acc.C111, ref acc.C112, ref acc.C113, a10, a11, a12, a13, b10, b11, scratch, lane);
        Mma(ref acc.C120, ref acc.C121, ref acc.C122, ref acc.C123, a10, a11, a12, a13, b20, b21, scratch, lane);
        Mma(ref acc.C130, ref acc.C131, ref acc.C132, ref acc.C133, a10, a11, a12, a13, b30, b31, scratch, lane);
    }

    /// <summary>
    /// The 8 instructions of <see cref="WarpTileStep"/> emulated at once, with 2 barriers instead of 16:
    /// lane ℓ stores its registers a0..a3 of both m16 tiles and b0, b1 of the four n8 tiles at
    /// scratch[16ℓ .. 16ℓ + 15]; then every output register of tile (m, n) adds Σ_{k&lt;8} A_m[i, k]·B_n[k, j]
    /// exactly as <see cref="MmaEmulated"/> computes it (the same lanes' registers, the same order).
    /// </summary>
    static void WarpTileStepEmulated(
        ref WarpTile acc,
        float a00, float a01, float a02, float a03, float a10, float a11, float a12, float a13,
        float b00, float b01, float b10, float b11, float b20, float b21, float b30, float b31,
        ArrayView<float> scratch, int lane)
    {
        int mine = lane * 16;
        scratch[mine + 0] = Tf32Bits(a00); scratch[mine + 1] = Tf32Bits(a01); scratch[mine + 2] = Tf32Bits(a02); scratch[mine + 3] = Tf32Bits(a03);
        scratch[mine + 4] = Tf32Bits(a10); scratch[mine + 5] = Tf32Bits(a11); scratch[mine + 6] = Tf32Bits(a12); scratch[mine + 7] = Tf32Bits(a13);
        scratch[mine + 8] = Tf32Bits(b00); scratch[mine + 9] = Tf32Bits(b01); scratch[mine + 10] = Tf32Bits(b10); scratch[mine + 11] = Tf32Bits(b11);
        scratch[mine + 12] = Tf32Bits(b20); scratch[mine + 13] = Tf32Bits(b21); scratch[mine + 14] = Tf32Bits(b30); scratch[mine + 15] = Tf32Bits(b31);
        Group.Barrier();
        acc.C000 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 0, 0);
        acc.C001 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 0, 0);
        acc.C002 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 0, 0);
        acc.C003 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 0, 0);
        acc.C010 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 0, 1);
        acc.C011 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 0, 1);
        acc.C012 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 0, 1);
        acc.C013 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 0, 1);
        acc.C020 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 0, 2);
        acc.C021 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 0, 2);
        acc.C022 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 0, 2);
        acc.C023 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 0, 2);
        acc.C030 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 0, 3);
        acc.C031 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 0, 3);
        acc.C032 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 0, 3);
        acc.C033 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 0, 3);
        acc.C100 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 1, 0);
        acc.C101 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 1, 0);
        acc.C102 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 1, 0);
        acc.C103 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 1, 0);
        acc.C110 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 1, 1);
        acc.C111 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 1, 1);
        acc.C112 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 1, 1);
        acc.C113 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 1, 1);
        acc.C120 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 1, 2);
        acc.C121 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 1, 2);
        acc.C122 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 1, 2);
        acc.C123 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 1, 2);
        acc.C130 += EmulatedDot16(scratch, CRow(lane, 0), CCol(lane, 0), 1, 3);
        acc.C131 += EmulatedDot16(scratch, CRow(lane, 1), CCol(lane, 1), 1, 3);
        acc.C132 += EmulatedDot16(scratch, CRow(lane, 2), CCol(lane, 2), 1, 3);
        acc.C133 += EmulatedDot16(scratch, CRow(lane, 3), CCol(lane, 3), 1, 3);
        Group.Barrier();
    }

    /// <summary>Σ_{k&lt;8} A_m[i, k]·B_n[k, j] from the lanes' registers of one <see cref="WarpTileStep"/> in the scratch.</summary>
    static float EmulatedDot16(ArrayView<float> scratch, int i, int j, int m, int n)
    {
        float sum = 0f;
        for (int k = 0; k < 8; k++)
        {
            float a = scratch[((i & 7) * 4 + (k & 3)) * 16 + 4 * m + (i >> 3) + 2 * (k >> 2)];
            float b = scratch[(j * 4 + (k & 3)) * 16 + 8 + 2 * n + (k >> 2)];
            sum += a * b;
        }
        return sum;
    }

    /// <summary>Stores a thread's 8 staged strip values, rounded to TF32, at at + u·step (u &lt; 8) of a shared tile.</summary>
    public static void StoreRounded(ArrayView<float> tile, int at, int step, float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        tile[at] = RoundToTf32(v0);
        tile[at + step] = RoundToTf32(v1);
        tile[at + 2 * step] = RoundToTf32(v2);
        tile[at + 3 * step] = RoundToTf32(v3);
        tile[at + 4 * step] = RoundToTf32(v4);
        tile[at + 5 * step] = RoundToTf32(v5);
        tile[at + 6 * step] = RoundToTf32(v6);
        tile[at + 7 * step] = RoundToTf32(v7);
    }

    /// <summary>
    /// Writes one m16 × n8 tile of a warp's outputs: dst[row + col] = α·c + β·dst[row + col] (β = 0 does
    /// not read dst) at rows (lo, hi) = tile rows g, g + 8 and columns (col0, col1) = 2t, 2t + 1, each
    /// given as its term of the output index and whether it is inside the output.
    /// </summary>
    public static void StoreTile(
        ArrayView<float> dst,
        int lo, bool loInside, int hi, bool hiInside, int col0, bool col0Inside, int col1, bool col1Inside,
        float c0, float c1, float c2, float c3, float alpha, float beta)
    {
        if (loInside && col0Inside) Store(dst, lo + col0, c0, alpha, beta);
        if (loInside && col1Inside) Store(dst, lo + col1, c1, alpha, beta);
        if (hiInside && col0Inside) Store(dst, hi + col0, c2, alpha, beta);
        if (hiInside && col1Inside) Store(dst, hi + col1, c3, alpha, beta);
    }

    /// <summary>
    /// Writes a warp's 32×32 outputs (see <see cref="StoreTile"/>): this lane's rows g, g + 8, g + 16, g + 24
    /// given by their index terms r0..r3, its columns column + 2t-offset + 8n for n &lt; 4 (and the next one)
    /// with index term column·<paramref name="stride"/>, inside while below <paramref name="limit"/>.
    /// </summary>
    public static void StoreWarpTile(
        ArrayView<float> dst, ref WarpTile acc,
        int r0, bool in0, int r1, bool in1, int r2, bool in2, int r3, bool in3,
        int column, int limit, int stride, float alpha, float beta)
    {
        int c0 = column + 0;
        int c1 = column + 8;
        int c2 = column + 16;
        int c3 = column + 24;
        StoreTile(dst, r0, in0, r1, in1, c0 * stride, c0 < limit, (c0 + 1) * stride, c0 + 1 < limit, acc.C000, acc.C001, acc.C002, acc.C003, alpha, beta);
        StoreTile(dst, r2, in2, r3, in3, c0 * stride, c0 < limit, (c0 + 1) * stride, c0 + 1 < limit, acc.C100, acc.C101, acc.C102, acc.C103, alpha, beta);
        StoreTile(dst, r0, in0, r1, in1, c1 * stride, c1 < limit, (c1 + 1) * stride, c1 + 1 < limit, acc.C010, acc.C011, acc.C012, acc.C013, alpha, beta);
        StoreTile(dst, r2, in2, r3, in3, c1 * stride, c1 < limit, (c1 + 1) * stride, c1 + 1 < limit, acc.C110, acc.C111, acc.C112, acc.C113, alpha, beta);
        StoreTile(dst, r0, in0, r1, in1, c2 * stride, c2 < limit, (c2 + 1) * stride, c2 + 1 < limit, acc.C020, acc.C021, acc.C022, acc.C023, alpha, beta);
        StoreTile(dst, r2, in2, r3, in3, c2 * stride, c2 < limit, (c2 + 1) * stride, c2 + 1 < limit, acc.C120, acc.C121, acc.C122, acc.C123, alpha, beta);
        StoreTile(dst, r0, in0, r1, in1, c3 * stride, c3 < limit, (c3 + 1) * stride, c3 + 1 < limit, acc.C030, acc.C031, acc.C032, acc.C033, alpha, beta);
        StoreTile(dst, r2, in2, r3, in3, c3 * stride, c3 < limit, (c3 + 1) * stride, c3 + 1 < limit, acc.C130, acc.C131, acc.C132, acc.C133, alpha, beta);
    }

    static void Store(ArrayView<float> dst, int index, float value, float alpha, float beta) =>
        dst[index] = beta == 0f ? alpha * value : alpha * value + beta * dst[index];
}

/// <summary>
/// A warp's 32×32 accumulators: C{m}{n}{r} is register c_r of the m16 × n8 tile (m, n), m &lt; 2, n &lt; 4,
/// at tile row <see cref="TensorCore.CRow"/>(lane, r) + 16m and column <see cref="TensorCore.CCol"/>(lane, r) + 8n.
/// </summary>
public struct WarpTile
{
    public float C000, C001, C002, C003, C010, C011, C012, C013, C020, C021, C022, C023, C030, C031, C032, C033;
    public float C100, C101, C102, C103, C110, C111, C112, C113, C120, C121, C122, C123, C130, C131, C132, C133;
}

/// <summary>
/// A kernel whose PTX needs at least this compute capability (the TF32 tensor cores: 8.0). Below it the
/// kernel is not assembled (ptxas rejects it) and the engine does not launch it on CUDA.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresComputeCapabilityAttribute(int major, int minor) : Attribute
{
    public int Major { get; } = major;
    public int Minor { get; } = minor;
}
