using ILGPU;
using ILGPU.Algorithms;

namespace ByolIlgpu.Kernels;

// BYOL's image augmentations on the device, following torchvision's definitions on float images in [0, 1].
//
// Legend: N images in the data set, B samples in the batch, H W the stored image size, OH OW the
// output size, P = AugmentLayout.Count parameters per sample, G threads per group.
//
// Two kernels make one augmented view:
//   AugmentDrawKernel   one thread per sample: draws every random choice of the sample from the
//                       counter-based RNG (AugmentRng) into its row of a (B, P) parameter buffer;
//   AugmentApplyKernel  one group per sample: crop + resize + flip, colour jitter, grayscale, blur,
//                       solarise and normalise, reading the parameters of its sample.
// AugmentEvalKernel is the evaluation transform: uint8 → [0, 1] → normalised, no augmentation;
// AugmentEvalResizeKernel the same at another size: torchvision's Resize(S) (shorter side, bilinear with
// antialias) and CenterCrop(S) in one pass.
//
// Randomness is a pure function of (seed, epoch, sample, view, slot) — Philox4x32-10 keyed by the
// seed with counter (slot/4, sample, epoch, view) — so a sample's augmentation depends neither on its
// position in the batch nor on which thread or device draws it.

/// <summary>The four uint32 words of one Philox4x32 block.</summary>
public struct Philox4
{
    public uint X, Y, Z, W;

    public Philox4(uint x, uint y, uint z, uint w)
    {
        X = x;
        Y = y;
        Z = z;
        W = w;
    }
}

/// <summary>
/// Counter-based random numbers usable inside kernels and in plain C# alike (integer arithmetic
/// only, so both give the same bits). Philox4x32-10 (Salmon et al., SC'11, as Random123): ten rounds of
/// (c0, c1, c2, c3) ← (hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0)), the key
/// bumped by the Weyl constants (W0, W1) between rounds.
/// </summary>
public static class AugmentRng
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1).</summary>
    public static Philox4 Philox4x32_10(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint)p1;
            c3 = (uint)p0;
            c0 = n0;
            c2 = n2;
        }
        return new Philox4(c0, c1, c2, c3);
    }

    /// <summary>
    /// The 32 random bits of draw <paramref name="slot"/> for (seed, epoch, sample, view): word
    /// slot mod 4 of Philox4x32-10(counter (slot/4, sample, epoch, view), key (seedLo, seedHi)).
    /// </summary>
    public static uint Bits(uint seedLo, uint seedHi, int sample, int epoch, int view, int slot)
    {
        var r = Philox4x32_10((uint)(slot >> 2), (uint)sample, (uint)epoch, (uint)view, seedLo, seedHi);
        int lane = slot & 3;
        return lane == 0 ? r.X : lane == 1 ? r.Y : lane == 2 ? r.Z : r.W;
    }

    /// <summary>u = ⌊bits/2⁸⌋·2⁻²⁴ ∈ [0, 1): exact in float, so kernels and references see the same u.</summary>
    public static float ToUniform(uint bits) => (bits >> 8) * (1f / 16777216f);

    /// <summary>An integer in [0, n): ⌊bits·n/2³²⌋ (exact integer arithmetic).</summary>
    public static int ToIndex(uint bits, int n) => (int)(((ulong)bits * (ulong)n) >> 32);
}

/// <summary>
/// What the augmentation kernels need of <c>AugmentationConfig</c>, as a kernel argument. Probabilities
/// are compared as u &lt; p with u from <see cref="AugmentRng.ToUniform"/>; a strength of 0 disables the
/// jitter component (torchvision's None).
/// </summary>
public struct AugmentSettings
{
    public float ScaleMin, ScaleMax;          // crop area fraction range
    public float RatioMin, RatioMax;          // crop aspect-ratio (w/h) range
    public float LogRatioMin, LogRatioMax;    // their logarithms (ratio is drawn log-uniformly)
    public float FlipP;
    public float JitterP, Brightness, Contrast, Saturation, Hue;
    public float GrayP;
    public float BlurP, SigmaMin, SigmaMax;
    public int BlurKernelSize;                // odd
    public float SolarizeP;
}

/// <summary>Per-channel normalisation y = (x − mean_c)/std_c (a kernel argument).</summary>
public struct ChannelNorm
{
    public float MeanR, MeanG, MeanB, StdR, StdG, StdB;
}

/// <summary>Sizes of one augmentation launch.</summary>
public struct AugmentShape
{
    public int Batch;                 // B
    public int Images;                // N
    public int Height, Width;         // H, W of the stored images
    public int OutHeight, OutWidth;   // OH, OW of the output
}

/// <summary>
/// Columns of the (B, P) parameter buffer and the RNG slot of every draw. Whole numbers (crop box,
/// flags, jitter order) are stored as exact floats.
/// </summary>
public static class AugmentLayout
{
    public const int Top = 0, Left = 1, CropHeight = 2, CropWidth = 3;   // crop box in the stored image
    public const int Flip = 4;                                           // 1: mirror left-right
    public const int Jitter = 5;                                         // 1: apply colour jitter
    public const int Brightness = 6, Contrast = 7, Saturation = 8, Hue = 9;   // factors, indexed Brightness + op
    public const int Order = 10;                                         // 10..13: op applied at stage k (0 b, 1 c, 2 s, 3 h)
    public const int Gray = 14, Blur = 15, Sigma = 16, Solarize = 17;
    public const int Tries = 18;                                         // accepted crop try 0..9, 10 = fallback, −1 = bad index
    public const int Count = 20;                                         // P (column 19 unused)

    // RNG slots: crop try t uses 2t (area) and 2t + 1 (log-ratio), t < 10.
    public const int SlotTop = 20, SlotLeft = 21, SlotFlip = 22, SlotJitter = 23;
    public const int SlotFactors = 24;                                   // 24..27: brightness, contrast, saturation, hue
    public const int SlotShuffle = 28;                                   // 28..30: Fisher–Yates draws for i = 3, 2, 1
    public const int SlotGray = 31, SlotBlur = 32, SlotSigma = 33, SlotSolarize = 34;
}

/// <summary>An RGB triple (a kernel-local value).</summary>
public struct Rgb
{
    public float R, G, B;

    public Rgb(float r, float g, float b)
    {
        R = r;
        G = g;
        B = b;
    }
}

/// <summary>
/// The augmentation kernels (see the file header). Per sample and view, in order:
/// <list type="number">
/// <item>RandomResizedCrop(scale, ratio): up to 10 tries of area a = H·W·U(scale), aspect
/// r = exp(U(log ratio)), w = round(√(a·r)), h = round(√(a/r)) (round half to even, as Python),
/// accepted if 0 &lt; w ≤ W and 0 &lt; h ≤ H, then top = randint(0, H − h), left = randint(0, W − w);
/// otherwise torchvision's fallback (ratio clamped to the range, box centred). The box is resized to
/// OH×OW by bilinear interpolation with align_corners = False: src = (dst + ½)·(h/OH) − ½, clamped
/// below at 0, taps ⌊src⌋ and min(⌊src⌋ + 1, h − 1). No antialiasing: for 32×32 images the box is never
/// larger than the output, so this is torchvision's result exactly (antialias only acts when
/// downsampling); when a stored image is larger than the output and the box is downsampled, this is
/// antialias = False, not torchvision v2's default antialias = True.</item>
/// <item>Horizontal flip with probability FlipP.</item>
/// <item>ColorJitter with probability JitterP: factors b, c, s ∈ [1 − x, 1 + x], hue ∈ [−x, x], applied
/// in a random order: brightness x ← clamp(b·x); contrast x ← clamp(c·x + (1 − c)·mean(gray));
/// saturation x ← clamp(s·x + (1 − s)·gray); hue: RGB → HSV, h ← (h + hue) mod 1, HSV → RGB. Gray is
/// torchvision's 0.2989·R + 0.587·G + 0.114·B; clamp is to [0, 1].</item>
/// <item>Grayscale with probability GrayP (three equal channels).</item>
/// <item>Gaussian blur with probability BlurP: σ ∈ U(SigmaMin, SigmaMax), k taps
/// w_t ∝ exp(−½((t − k/2)/σ)²), normalised, reflect padding, applied separably (rows, then columns).</item>
/// <item>Solarise with probability SolarizeP: x ← 1 − x where x ≥ ½.</item>
/// <item>Normalise: y = (x − mean_c)/std_c.</item>
/// </list>
/// Images are uint8 (N, 3, H, W) converted to x/255 before anything else; everything after is float
/// with no rounding back to uint8 between steps (torchvision on float tensors).
/// </summary>
public static class AugmentKernels
{
    const float GrayR = 0.2989f, GrayG = 0.587f, GrayB = 0.114f;

    /// <summary>Python's round(): nearest integer, halves to even.</summary>
    public static int RoundHalfEven(float x)
    {
        float f = XMath.Floor(x);
        float d = x - f;
        int i = (int)f;
        if (d > 0.5f || (d == 0.5f && (i & 1) != 0))
            i++;
        return i;
    }

    static float U(uint seedLo, uint seedHi, int sample, int epoch, int view, int slot) =>
        AugmentRng.ToUniform(AugmentRng.Bits(seedLo, seedHi, sample, epoch, view, slot));

    /// <summary>
    /// Draws the parameters of every sample (see <see cref="AugmentLayout"/> for the columns): one thread
    /// per batch row b, keyed by the data-set index indices[b], never by b. An index outside [0, N) gets a
    /// row of NaN with Tries = −1, which the apply kernel turns into a NaN image.
    /// </summary>
    public static void AugmentDrawKernel(
        ArrayView<int> indices,    // (B) data-set index of each batch row
        ArrayView<float> prm,      // (B, P) drawn parameters
        AugmentSettings s, AugmentShape shape, uint seedLo, uint seedHi, int epoch, int view)
    {
        const int P = AugmentLayout.Count;
        for (int b = GridStride.Start; b < shape.Batch; b += GridStride.Step)
        {
            int row = b * P;
            int n = indices[b];
            if (n < 0 || n >= shape.Images)
            {
                for (int k = 0; k < P; k++)
                    prm[row + k] = float.NaN;
                prm[row + AugmentLayout.Tries] = -1f;
                continue;
            }

            // 1. RandomResizedCrop box.
            int height = shape.Height, width = shape.Width;
            float area = height * width;
            int cropH = 0, cropW = 0, tries = 10;
            for (int t = 0; t < 10; t++)
            {
                float target = area * (s.ScaleMin + U(seedLo, seedHi, n, epoch, view, 2 * t) * (s.ScaleMax - s.ScaleMin));
                float aspect = XMath.Exp(s.LogRatioMin + U(seedLo, seedHi, n, epoch, view, 2 * t + 1) * (s.LogRatioMax - s.LogRatioMin));
                int w = RoundHalfEven(XMath.Sqrt(target * aspect));
                int h = RoundHalfEven(XMath.Sqrt(target / aspect));
                if (w > 0 && w <= width && h > 0 && h <= height)
                {
                    cropW = w;
                    cropH = h;
                    tries = t;
                    break;
                }
            }
            int top, left;
            if (tries < 10)
            {
                top = AugmentRng.ToIndex(AugmentRng.Bits(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotTop), height - cropH + 1);
                left = AugmentRng.ToIndex(AugmentRng.Bits(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotLeft), width - cropW + 1);
            }
            else
            {
                float inRatio = (float)width / height;
                if (inRatio < s.RatioMin)
                {
                    cropW = width;
                    cropH = RoundHalfEven(cropW / s.RatioMin);
                }
                else if (inRatio > s.RatioMax)
                {
                    cropH = height;
                    cropW = RoundHalfEven(cropH * s.RatioMax);
                }
                else
                {
                    cropW = width;
                    cropH = height;
                }
                top = (height - cropH) / 2;
                left = (width - cropW) / 2;
            }
            prm[row + AugmentLayout.Top] = top;
            prm[row + AugmentLayout.Left] = left;
            prm[row + AugmentLayout.CropHeight] = cropH;
            prm[row + AugmentLayout.CropWidth] = cropW;
            prm[row + AugmentLayout.Tries] = tries;

            // 2. Flip.
            prm[row + AugmentLayout.Flip] = U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotFlip) < s.FlipP ? 1f : 0f;

            // 3. Colour jitter: whether, the four factors and the order (Fisher–Yates on 2-bit fields).
            prm[row + AugmentLayout.Jitter] = U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotJitter) < s.JitterP ? 1f : 0f;
            prm[row + AugmentLayout.Brightness] = 1f - s.Brightness + 2f * s.Brightness * U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotFactors);
            prm[row + AugmentLayout.Contrast] = 1f - s.Contrast + 2f * s.Contrast * U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotFactors + 1);
            prm[row + AugmentLayout.Saturation] = 1f - s.Saturation + 2f * s.Saturation * U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotFactors + 2);
            prm[row + AugmentLayout.Hue] = -s.Hue + 2f * s.Hue * U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotFactors + 3);
            int order = 0 | (1 << 2) | (2 << 4) | (3 << 6);
            for (int i = 3; i >= 1; i--)
            {
                int j = AugmentRng.ToIndex(AugmentRng.Bits(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotShuffle + 3 - i), i + 1);
                int vi = (order >> (2 * i)) & 3, vj = (order >> (2 * j)) & 3;
                order &= ~((3 << (2 * i)) | (3 << (2 * j)));
                order |= (vj << (2 * i)) | (vi << (2 * j));
            }
            for (int k = 0; k < 4; k++)
                prm[row + AugmentLayout.Order + k] = (order >> (2 * k)) & 3;

            // 4.–6. Grayscale, blur (and its σ), solarise.
            prm[row + AugmentLayout.Gray] = U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotGray) < s.GrayP ? 1f : 0f;
            prm[row + AugmentLayout.Blur] = U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotBlur) < s.BlurP ? 1f : 0f;
            prm[row + AugmentLayout.Sigma] = s.SigmaMin + (s.SigmaMax - s.SigmaMin) * U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotSigma);
            prm[row + AugmentLayout.Solarize] = U(seedLo, seedHi, n, epoch, view, AugmentLayout.SlotSolarize) < s.SolarizeP ? 1f : 0f;
            prm[row + AugmentLayout.Count - 1] = 0f;
        }
    }

    /// <summary>Gray level 0.2989·R + 0.587·G + 0.114·B (torchvision's rgb_to_grayscale).</summary>
    public static float Gray(Rgb c) => GrayR * c.R + GrayG * c.G + GrayB * c.B;

    static float Clamp01(float x) => x < 0f ? 0f : x > 1f ? 1f : x;

    /// <summary>clamp(f·x + (1 − f)·other) per channel (torchvision's _blend on [0, 1] images).</summary>
    public static Rgb Blend(Rgb c, float other, float f) => new(
        Clamp01(f * c.R + (1f - f) * other),
        Clamp01(f * c.G + (1f - f) * other),
        Clamp01(f * c.B + (1f - f) * other));

    /// <summary>
    /// torchvision's adjust_hue on one pixel: _rgb2hsv, h ← (h + shift) mod 1, _hsv2rgb.
    /// </summary>
    public static Rgb ShiftHue(Rgb c, float shift)
    {
        float maxc = XMath.Max(c.R, XMath.Max(c.G, c.B));
        float minc = XMath.Min(c.R, XMath.Min(c.G, c.B));
        bool eqc = maxc == minc;
        float cr = maxc - minc;
        float sat = cr / (eqc ? 1f : maxc);
        float crd = eqc ? 1f : cr;
        float rc = (maxc - c.R) / crd, gc = (maxc - c.G) / crd, bc = (maxc - c.B) / crd;
        float h = maxc == c.R ? bc - gc : maxc == c.G ? 2f + rc - bc : 4f + gc - rc;
        h = h / 6f + 1f;
        h = h >= 1f ? h - 1f : h;                     // fmod(h/6 + 1, 1), h/6 + 1 ∈ [5/6, 11/6]
        h += shift;
        h -= XMath.Floor(h);                          // Python's % 1.0
        float v = maxc;
        float h6 = h * 6f;
        float fi = XMath.Floor(h6);
        float f = h6 - fi;
        int i = ((int)fi) % 6;
        float p = Clamp01(v * (1f - sat));
        float q = Clamp01(v * (1f - sat * f));
        float t = Clamp01(v * (1f - sat * (1f - f)));
        return i == 0 ? new Rgb(v, t, p)
             : i == 1 ? new Rgb(q, v, p)
             : i == 2 ? new Rgb(p, v, t)
             : i == 3 ? new Rgb(p, q, v)
             : i == 4 ? new Rgb(t, p, v)
             : new Rgb(v, p, q);
    }

    /// <summary>Reflect padding ("reflect", no edge repeat): −1 → 1, n → n − 2.</summary>
    static int Reflect(int i, int n) => i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;

    /// <summary>
    /// Mean of the gray levels of one image held in out[o …], over the whole group: each thread sums its
    /// own pixels, the G partial sums go through partial[pb …], and every thread adds them in the same
    /// order (same result in every thread, deterministic for a given G).
    /// </summary>
    static float GroupGrayMean(ArrayView<float> output, int o, int plane, ArrayView<float> partial, int pb)
    {
        float sum = 0f;
        for (int p = Group.IdxX; p < plane; p += Group.DimX)
            sum += Gray(new Rgb(output[o + p], output[o + plane + p], output[o + 2 * plane + p]));
        Group.Barrier();
        partial[pb + Group.IdxX] = sum;
        Group.Barrier();
        float total = 0f;
        for (int t = 0; t < Group.DimX; t++)
            total += partial[pb + t];
        return total / plane;
    }

    /// <summary>
    /// Applies the drawn parameters (see the class summary for the steps): one group per sample
    /// (grid-stride over samples), its G threads striding over the OH·OW output pixels. Thread-to-thread
    /// exchange goes through global memory only (partial, scratch) with group barriers, whose branches are
    /// uniform over the group (they depend on the sample's parameters only).
    /// </summary>
    public static void AugmentApplyKernel(
        ArrayView<byte> images,     // (N, 3, H, W) uint8
        ArrayView<int> indices,     // (B)
        ArrayView<float> prm,       // (B, P) from AugmentDrawKernel
        ArrayView<float> output,    // (B, 3, OH, OW)
        ArrayView<float> scratch,   // (B, 3, OH, OW) the blur's row pass
        ArrayView<float> partial,   // (B, G) partial sums of the contrast mean
        AugmentSettings s, ChannelNorm norm, AugmentShape shape)
    {
        const int P = AugmentLayout.Count;
        int outH = shape.OutHeight, outW = shape.OutWidth, plane = outH * outW;
        int inPlane = shape.Height * shape.Width;
        for (int b = Grid.IdxX; b < shape.Batch; b += Grid.DimX)
        {
            int row = b * P;
            int o = b * 3 * plane;
            int pb = b * Group.DimX;
            int n = indices[b];
            if (n < 0 || n >= shape.Images)
            {
                for (int p = Group.IdxX; p < 3 * plane; p += Group.DimX)
                    output[o + p] = float.NaN;
                continue;
            }

            // 1.–2. Crop, bilinear resize (align_corners = False), flip; uint8 → [0, 1] first.
            int top = (int)prm[row + AugmentLayout.Top], left = (int)prm[row + AugmentLayout.Left];
            int cropH = (int)prm[row + AugmentLayout.CropHeight], cropW = (int)prm[row + AugmentLayout.CropWidth];
            bool flip = prm[row + AugmentLayout.Flip] != 0f;
            float scaleY = (float)cropH / outH, scaleX = (float)cropW / outW;
            int src = n * 3 * inPlane;
            for (int p = Group.IdxX; p < plane; p += Group.DimX)
            {
                int y = p / outW, x = p - (p / outW) * outW;
                int xs = flip ? outW - 1 - x : x;
                float sy = XMath.Max((y + 0.5f) * scaleY - 0.5f, 0f);
                float sx = XMath.Max((xs + 0.5f) * scaleX - 0.5f, 0f);
                int y0 = (int)sy, x0 = (int)sx;
                int y1 = y0 < cropH - 1 ? y0 + 1 : y0, x1 = x0 < cropW - 1 ? x0 + 1 : x0;
                float ly = sy - y0, lx = sx - x0;
                int r0 = (top + y0) * shape.Width + left, r1 = (top + y1) * shape.Width + left;
                for (int c = 0; c < 3; c++)
                {
                    int ic = src + c * inPlane;
                    float v00 = images[ic + r0 + x0] / 255f, v01 = images[ic + r0 + x1] / 255f;
                    float v10 = images[ic + r1 + x0] / 255f, v11 = images[ic + r1 + x1] / 255f;
                    output[o + c * plane + p] = (1f - ly) * ((1f - lx) * v00 + lx * v01) + ly * ((1f - lx) * v10 + lx * v11);
                }
            }

            // 3. Colour jitter in the drawn order (contrast needs the whole image's mean gray level).
            if (prm[row + AugmentLayout.Jitter] != 0f)
            {
                for (int k = 0; k < 4; k++)
                {
                    int op = (int)prm[row + AugmentLayout.Order + k];
                    float factor = prm[row + AugmentLayout.Brightness + op];
                    bool enabled = op == 0 ? s.Brightness > 0f : op == 1 ? s.Contrast > 0f : op == 2 ? s.Saturation > 0f : s.Hue > 0f;
                    if (!enabled)
                        continue;
                    float mean = 0f;
                    if (op == 1)
                        mean = GroupGrayMean(output, o, plane, partial, pb);
                    for (int p = Group.IdxX; p < plane; p += Group.DimX)
                    {
                        var c = new Rgb(output[o + p], output[o + plane + p], output[o + 2 * plane + p]);
                        c = op == 0 ? Blend(c, 0f, factor)
                          : op == 1 ? Blend(c, mean, factor)
                          : op == 2 ? Blend(c, Gray(c), factor)
                          : ShiftHue(c, factor);
                        output[o + p] = c.R;
                        output[o + plane + p] = c.G;
                        output[o + 2 * plane + p] = c.B;
                    }
                }
            }

            // 4. Grayscale.
            if (prm[row + AugmentLayout.Gray] != 0f)
            {
                for (int p = Group.IdxX; p < plane; p += Group.DimX)
                {
                    float l = Gray(new Rgb(output[o + p], output[o + plane + p], output[o + 2 * plane + p]));
                    output[o + p] = l;
                    output[o + plane + p] = l;
                    output[o + 2 * plane + p] = l;
                }
            }

            // 5. Gaussian blur, separable: rows into scratch, then columns back into output.
            if (prm[row + AugmentLayout.Blur] != 0f)
            {
                float sigma = prm[row + AugmentLayout.Sigma];
                int k = s.BlurKernelSize, half = k / 2;
                float wsum = 0f;
                for (int t = 0; t < k; t++)
                {
                    float d = (t - half) / sigma;
                    wsum += XMath.Exp(-0.5f * d * d);
                }
                Group.Barrier();
                for (int p = Group.IdxX; p < plane; p += Group.DimX)
                {
                    int y = p / outW, x = p - (p / outW) * outW;
                    for (int c = 0; c < 3; c++)
                    {
                        int oc = o + c * plane + y * outW;
                        float acc = 0f;
                        for (int t = 0; t < k; t++)
                        {
                            float d = (t - half) / sigma;
                            acc += XMath.Exp(-0.5f * d * d) / wsum * output[oc + Reflect(x + t - half, outW)];
                        }
                        scratch[o + c * plane + p] = acc;
                    }
                }
                Group.Barrier();
                for (int p = Group.IdxX; p < plane; p += Group.DimX)
                {
                    int y = p / outW, x = p - (p / outW) * outW;
                    for (int c = 0; c < 3; c++)
                    {
                        int oc = o + c * plane + x;
                        float acc = 0f;
                        for (int t = 0; t < k; t++)
                        {
                            float d = (t - half) / sigma;
                            acc += XMath.Exp(-0.5f * d * d) / wsum * scratch[oc + Reflect(y + t - half, outH) * outW];
                        }
                        output[o + c * plane + p] = acc;
                    }
                }
            }

            // 6.–7. Solarise, normalise.
            bool solarize = prm[row + AugmentLayout.Solarize] != 0f;
            for (int p = Group.IdxX; p < plane; p += Group.DimX)
            {
                for (int c = 0; c < 3; c++)
                {
                    float v = output[o + c * plane + p];
                    if (solarize && v >= 0.5f)
                        v = 1f - v;
                    float mean = c == 0 ? norm.MeanR : c == 1 ? norm.MeanG : norm.MeanB;
                    float std = c == 0 ? norm.StdR : c == 1 ? norm.StdG : norm.StdB;
                    output[o + c * plane + p] = (v - mean) / std;
                }
            }
        }
    }

    /// <summary>
    /// Evaluation transform (kNN, linear probe): y[b, c, i] = (images[indices[b], c, i]/255 − mean_c)/std_c,
    /// no augmentation; an index outside [0, N) gives NaN.
    /// </summary>
    public static void AugmentEvalKernel(
        ArrayView<byte> images,     // (N, 3, H, W) uint8
        ArrayView<int> indices,     // (B)
        ArrayView<float> output,    // (B, 3, H, W)
        ChannelNorm norm, AugmentShape shape)
    {
        int plane = shape.Height * shape.Width;
        int total = shape.Batch * 3 * plane;
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int b = i / (3 * plane);
            int rest = i - b * 3 * plane;
            int c = rest / plane;
            int n = indices[b];
            if (n < 0 || n >= shape.Images)
            {
                output[i] = float.NaN;
                continue;
            }
            float mean = c == 0 ? norm.MeanR : c == 1 ? norm.MeanG : norm.MeanB;
            float std = c == 0 ? norm.StdR : c == 1 ? norm.StdG : norm.StdB;
            output[i] = (images[n * 3 * plane + rest] / 255f - mean) / std;
        }
    }

    /// <summary>
    /// Evaluation transform at another size (torchvision's Resize(S) then CenterCrop(S), antialiased bilinear as
    /// torch's resize with antialias = True): the image is resized to RH×RW (shorter side S) and the S×S window at
    /// (Top, Left) kept. Along each axis, with scale = in/RH, support σ = max(scale, 1), centre m = (Y + ½)·scale for
    /// resized row Y = Top + y, the taps j ∈ [max(⌊m − σ + ½⌋, 0), min(⌊m + σ + ½⌋, H)) weigh
    /// w_j = max(0, 1 − |(j + ½ − m)/σ|), normalised to sum 1 (plain bilinear when upsampling, a triangle filter
    /// over the source pixels when downsampling); y[b, c] = (Σ_j Σ_i w_j·w_i·x[j, i]/255 − mean_c)/std_c.
    /// One thread per output element; an index outside [0, N) gives NaN.
    /// </summary>
    public static void AugmentEvalResizeKernel(
        ArrayView<byte> images,     // (N, 3, H, W) uint8
        ArrayView<int> indices,     // (B)
        ArrayView<float> output,    // (B, 3, S, S)
        ChannelNorm norm, AugmentShape shape, EvalResize resize)
    {
        int outPlane = shape.OutHeight * shape.OutWidth, inPlane = shape.Height * shape.Width;
        int total = shape.Batch * 3 * outPlane;
        float scaleY = (float)shape.Height / resize.ResizedHeight, scaleX = (float)shape.Width / resize.ResizedWidth;
        float supportY = XMath.Max(scaleY, 1f), supportX = XMath.Max(scaleX, 1f);
        for (int i = GridStride.Start; i < total; i += GridStride.Step)
        {
            int b = i / (3 * outPlane);
            int rest = i - b * 3 * outPlane;
            int c = rest / outPlane;
            int p = rest - c * outPlane;
            int y = p / shape.OutWidth, x = p - y * shape.OutWidth;
            int n = indices[b];
            if (n < 0 || n >= shape.Images)
            {
                output[i] = float.NaN;
                continue;
            }
            float centerY = (resize.Top + y + 0.5f) * scaleY, centerX = (resize.Left + x + 0.5f) * scaleX;
            int y0 = XMath.Max((int)(centerY - supportY + 0.5f), 0), y1 = XMath.Min((int)(centerY + supportY + 0.5f), shape.Height);
            int x0 = XMath.Max((int)(centerX - supportX + 0.5f), 0), x1 = XMath.Min((int)(centerX + supportX + 0.5f), shape.Width);
            int src = (n * 3 + c) * inPlane;
            float acc = 0f, wy = 0f, wx = 0f;
            for (int j = y0; j < y1; j++)
            {
                float a = XMath.Max(1f - XMath.Abs((j + 0.5f - centerY) / supportY), 0f);
                wy += a;
                float row = 0f;
                for (int t = x0; t < x1; t++)
                    row += XMath.Max(1f - XMath.Abs((t + 0.5f - centerX) / supportX), 0f) * images[src + j * shape.Width + t];
                acc += a * row;
            }
            for (int t = x0; t < x1; t++)
                wx += XMath.Max(1f - XMath.Abs((t + 0.5f - centerX) / supportX), 0f);
            float mean = c == 0 ? norm.MeanR : c == 1 ? norm.MeanG : norm.MeanB;
            float std = c == 0 ? norm.StdR : c == 1 ? norm.StdG : norm.StdB;
            output[i] = (acc / (wy * wx * 255f) - mean) / std;
        }
    }
}

/// <summary>The evaluation resize: the image resized to ResizedHeight×ResizedWidth, the output window's top-left corner in it.</summary>
public struct EvalResize
{
    public int ResizedHeight, ResizedWidth, Top, Left;
}
