using ByolIlgpu.Data;
using ByolIlgpu.Kernels;

namespace ByolIlgpu.Reference;

/// <summary>
/// Plain C# of BYOL's augmentations in double precision, step by step as torchvision defines them on
/// float images (see <see cref="AugmentKernels"/>). Images are (3, H, W) arrays in [0, 1] (normalised
/// ones after <see cref="Normalize"/>). The random choices come from the same counter-based RNG as the
/// kernels (<see cref="AugmentRng"/>), so <see cref="DrawParameters"/> reproduces the kernel's draws; the
/// parameter rows use the kernel's layout (<see cref="AugmentLayout"/>).
/// </summary>
public static class Augment
{
    const double GrayR = 0.2989, GrayG = 0.587, GrayB = 0.114;

    /// <summary>A sample's drawn parameters, and whether a crop size fell within 1e-4 of a rounding tie
    /// (where float and double arithmetic may round differently).</summary>
    public sealed record Draw(double[] Parameters, bool CropNearTie);

    /// <summary>The parameters of data-set sample <paramref name="sample"/> (one row of the (B, P) buffer).</summary>
    public static Draw DrawParameters(AugmentationConfig cfg, ulong seed, int epoch, int view, int sample, int height, int width)
    {
        uint lo = (uint)seed, hi = (uint)(seed >> 32);
        uint Bits(int slot) => AugmentRng.Bits(lo, hi, sample, epoch, view, slot);
        double U(int slot) => AugmentRng.ToUniform(Bits(slot));
        var p = new double[AugmentLayout.Count];
        bool nearTie = false;

        // RandomResizedCrop.get_params
        double area = height * width;
        double logMin = Math.Log(cfg.RatioMin), logMax = Math.Log(cfg.RatioMax);
        int cropH = 0, cropW = 0, tries = 10;
        for (int t = 0; t < 10; t++)
        {
            double target = area * (cfg.ScaleMin + U(2 * t) * ((double)cfg.ScaleMax - cfg.ScaleMin));
            double aspect = Math.Exp(logMin + U(2 * t + 1) * (logMax - logMin));
            double wd = Math.Sqrt(target * aspect), hd = Math.Sqrt(target / aspect);
            nearTie |= NearHalf(wd) || NearHalf(hd);
            int w = (int)Math.Round(wd, MidpointRounding.ToEven), h = (int)Math.Round(hd, MidpointRounding.ToEven);
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                (cropW, cropH, tries) = (w, h, t);
                break;
            }
        }
        int top, left;
        if (tries < 10)
        {
            top = AugmentRng.ToIndex(Bits(AugmentLayout.SlotTop), height - cropH + 1);
            left = AugmentRng.ToIndex(Bits(AugmentLayout.SlotLeft), width - cropW + 1);
        }
        else
        {
            double inRatio = (double)width / height;
            if (inRatio < cfg.RatioMin)
            {
                cropW = width;
                cropH = (int)Math.Round(cropW / (double)cfg.RatioMin, MidpointRounding.ToEven);
            }
            else if (inRatio > cfg.RatioMax)
            {
                cropH = height;
                cropW = (int)Math.Round(cropH * (double)cfg.RatioMax, MidpointRounding.ToEven);
            }
            else
                (cropW, cropH) = (width, height);
            top = (height - cropH) / 2;
            left = (width - cropW) / 2;
        }
        p[AugmentLayout.Top] = top;
        p[AugmentLayout.Left] = left;
        p[AugmentLayout.CropHeight] = cropH;
        p[AugmentLayout.CropWidth] = cropW;
        p[AugmentLayout.Tries] = tries;

        p[AugmentLayout.Flip] = U(AugmentLayout.SlotFlip) < cfg.FlipProbability ? 1 : 0;

        // ColorJitter.get_params: a random order, then the factors.
        p[AugmentLayout.Jitter] = U(AugmentLayout.SlotJitter) < cfg.JitterProbability ? 1 : 0;
        p[AugmentLayout.Brightness] = 1 - (double)cfg.Brightness + 2.0 * cfg.Brightness * U(AugmentLayout.SlotFactors);
        p[AugmentLayout.Contrast] = 1 - (double)cfg.Contrast + 2.0 * cfg.Contrast * U(AugmentLayout.SlotFactors + 1);
        p[AugmentLayout.Saturation] = 1 - (double)cfg.Saturation + 2.0 * cfg.Saturation * U(AugmentLayout.SlotFactors + 2);
        p[AugmentLayout.Hue] = -(double)cfg.Hue + 2.0 * cfg.Hue * U(AugmentLayout.SlotFactors + 3);
        int[] order = [0, 1, 2, 3];
        for (int i = 3; i >= 1; i--)   // Fisher–Yates
        {
            int j = AugmentRng.ToIndex(Bits(AugmentLayout.SlotShuffle + 3 - i), i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        for (int k = 0; k < 4; k++)
            p[AugmentLayout.Order + k] = order[k];

        p[AugmentLayout.Gray] = U(AugmentLayout.SlotGray) < cfg.GrayscaleProbability ? 1 : 0;
        p[AugmentLayout.Blur] = U(AugmentLayout.SlotBlur) < cfg.BlurProbability ? 1 : 0;
        p[AugmentLayout.Sigma] = cfg.SigmaMin + ((double)cfg.SigmaMax - cfg.SigmaMin) * U(AugmentLayout.SlotSigma);
        p[AugmentLayout.Solarize] = U(AugmentLayout.SlotSolarize) < cfg.SolarizeProbability ? 1 : 0;
        return new Draw(p, nearTie);
    }

    static bool NearHalf(double x) => Math.Abs(x - Math.Floor(x) - 0.5) < 1e-4;

    /// <summary>The whole pipeline for one sample given its parameter row: (3, OH, OW) normalised.</summary>
    public static double[] Apply(byte[] images, int sample, int height, int width, double[] p, AugmentationConfig cfg, int outH, int outW)
    {
        var x = ToUnit(images, sample, height, width);
        x = ResizedCrop(x, height, width, (int)p[AugmentLayout.Top], (int)p[AugmentLayout.Left],
            (int)p[AugmentLayout.CropHeight], (int)p[AugmentLayout.CropWidth], outH, outW);
        if (p[AugmentLayout.Flip] != 0)
            x = FlipHorizontal(x, outH, outW);
        if (p[AugmentLayout.Jitter] != 0)
            for (int k = 0; k < 4; k++)
            {
                int op = (int)p[AugmentLayout.Order + k];
                double f = p[AugmentLayout.Brightness + op];
                x = op switch
                {
                    0 when cfg.Brightness > 0 => AdjustBrightness(x, f),
                    1 when cfg.Contrast > 0 => AdjustContrast(x, f),
                    2 when cfg.Saturation > 0 => AdjustSaturation(x, f),
                    3 when cfg.Hue > 0 => AdjustHue(x, f),
                    _ => x,
                };
            }
        if (p[AugmentLayout.Gray] != 0)
            x = Grayscale(x);
        if (p[AugmentLayout.Blur] != 0)
            x = GaussianBlur(x, outH, outW, cfg.BlurKernelSize, p[AugmentLayout.Sigma]);
        if (p[AugmentLayout.Solarize] != 0)
            x = Solarize(x, 0.5);
        return Normalize(x, cfg.Normalization);
    }

    /// <summary>The evaluation transform of one sample: (3, H, W) = (x/255 − mean)/std.</summary>
    public static double[] Eval(byte[] images, int sample, int height, int width, ChannelNormalization norm) =>
        Normalize(ToUnit(images, sample, height, width), norm);

    /// <summary>
    /// The evaluation transform at size S: Resize(S) (antialiased bilinear: per axis, scale = in/resized, support
    /// σ = max(scale, 1), taps around m = (Y + ½)·scale weighted max(0, 1 − |(j + ½ − m)/σ|) and normalised), then
    /// the S×S centre crop, then normalised: (3, S, S).
    /// </summary>
    public static double[] EvalResized(byte[] images, int sample, int height, int width, int size, ChannelNormalization norm)
    {
        var x = ToUnit(images, sample, height, width);
        var r = Data.Augmentation.CenterCropResize(height, width, size);
        (int First, double[] Weights) Taps(int outIndex, int inSize, int resized)
        {
            double scale = (double)inSize / resized, support = Math.Max(scale, 1), center = (outIndex + 0.5) * scale;
            int first = Math.Max((int)(center - support + 0.5), 0), end = Math.Min((int)(center + support + 0.5), inSize);
            var w = Enumerable.Range(first, end - first).Select(j => Math.Max(1 - Math.Abs((j + 0.5 - center) / support), 0)).ToArray();
            double total = w.Sum();
            return (first, w.Select(v => v / total).ToArray());
        }
        var y = new double[3 * size * size];
        for (int c = 0; c < 3; c++)
            for (int oy = 0; oy < size; oy++)
            {
                var (y0, wy) = Taps(r.Top + oy, height, r.ResizedHeight);
                for (int ox = 0; ox < size; ox++)
                {
                    var (x0, wx) = Taps(r.Left + ox, width, r.ResizedWidth);
                    double acc = 0;
                    for (int j = 0; j < wy.Length; j++)
                        for (int i = 0; i < wx.Length; i++)
                            acc += wy[j] * wx[i] * x[(c * height + y0 + j) * width + x0 + i];
                    y[(c * size + oy) * size + ox] = acc;
                }
            }
        return Normalize(y, norm);
    }

    /// <summary>uint8 (3, H, W) of image <paramref name="sample"/> → x/255.</summary>
    public static double[] ToUnit(byte[] images, int sample, int height, int width)
    {
        int n = 3 * height * width;
        var x = new double[n];
        for (int i = 0; i < n; i++)
            x[i] = images[sample * n + i] / 255.0;
        return x;
    }

    /// <summary>
    /// Crop rows [top, top + h), columns [left, left + w), resized to OH×OW bilinearly with
    /// align_corners = False (PyTorch's upsample_bilinear2d: src = (dst + ½)·scale − ½, clamped at 0).
    /// </summary>
    public static double[] ResizedCrop(double[] x, int height, int width, int top, int left, int h, int w, int outH, int outW)
    {
        var y = new double[3 * outH * outW];
        double scaleY = (double)h / outH, scaleX = (double)w / outW;
        for (int c = 0; c < 3; c++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    double sy = Math.Max((oy + 0.5) * scaleY - 0.5, 0), sx = Math.Max((ox + 0.5) * scaleX - 0.5, 0);
                    int y0 = (int)sy, x0 = (int)sx;
                    int y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
                    double ly = sy - y0, lx = sx - x0;
                    double At(int yy, int xx) => x[(c * height + top + yy) * width + left + xx];
                    y[(c * outH + oy) * outW + ox] =
                        (1 - ly) * ((1 - lx) * At(y0, x0) + lx * At(y0, x1)) + ly * ((1 - lx) * At(y1, x0) + lx * At(y1, x1));
                }
        return y;
    }

    /// <summary>y[c, i, j] = x[c, i, W − 1 − j].</summary>
    public static double[] FlipHorizontal(double[] x, int height, int width)
    {
        var y = new double[x.Length];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < height; i++)
                for (int j = 0; j < width; j++)
                    y[(c * height + i) * width + j] = x[(c * height + i) * width + width - 1 - j];
        return y;
    }

    /// <summary>torchvision's rgb_to_grayscale: 0.2989·R + 0.587·G + 0.114·B per pixel, (HW).</summary>
    public static double[] GrayLevels(double[] x)
    {
        int plane = x.Length / 3;
        var l = new double[plane];
        for (int i = 0; i < plane; i++)
            l[i] = GrayR * x[i] + GrayG * x[plane + i] + GrayB * x[2 * plane + i];
        return l;
    }

    static double Clamp01(double v) => Math.Clamp(v, 0, 1);

    /// <summary>torchvision's _blend: clamp(f·x + (1 − f)·other), other per pixel (HW) or one value.</summary>
    static double[] Blend(double[] x, Func<int, double> other, double f)
    {
        int plane = x.Length / 3;
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = Clamp01(f * x[i] + (1 - f) * other(i % plane));
        return y;
    }

    /// <summary>adjust_brightness: clamp(f·x).</summary>
    public static double[] AdjustBrightness(double[] x, double f) => Blend(x, _ => 0, f);

    /// <summary>adjust_contrast: clamp(f·x + (1 − f)·mean(gray(x))), one mean over the image.</summary>
    public static double[] AdjustContrast(double[] x, double f)
    {
        double mean = GrayLevels(x).Average();
        return Blend(x, _ => mean, f);
    }

    /// <summary>adjust_saturation: clamp(f·x + (1 − f)·gray(x)) per pixel.</summary>
    public static double[] AdjustSaturation(double[] x, double f)
    {
        var gray = GrayLevels(x);
        return Blend(x, i => gray[i], f);
    }

    /// <summary>adjust_hue: RGB → HSV, h ← (h + f) mod 1, HSV → RGB, per pixel.</summary>
    public static double[] AdjustHue(double[] x, double f)
    {
        int plane = x.Length / 3;
        var y = new double[x.Length];
        for (int i = 0; i < plane; i++)
        {
            var (h, s, v) = RgbToHsv(x[i], x[plane + i], x[2 * plane + i]);
            h = (h + f) - Math.Floor(h + f);
            (y[i], y[plane + i], y[2 * plane + i]) = HsvToRgb(h, s, v);
        }
        return y;
    }

    /// <summary>torchvision's _rgb2hsv for one pixel: h ∈ [0, 1), s, v = max.</summary>
    public static (double H, double S, double V) RgbToHsv(double r, double g, double b)
    {
        double maxc = Math.Max(r, Math.Max(g, b)), minc = Math.Min(r, Math.Min(g, b));
        bool eqc = maxc == minc;
        double cr = maxc - minc;
        double s = cr / (eqc ? 1 : maxc);
        double crd = eqc ? 1 : cr;
        double rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
        double h = maxc == r ? bc - gc : maxc == g ? 2 + rc - bc : 4 + gc - rc;
        h = (h / 6 + 1) % 1.0;   // fmod of a positive number
        return (h, s, maxc);
    }

    /// <summary>torchvision's _hsv2rgb for one pixel.</summary>
    public static (double R, double G, double B) HsvToRgb(double h, double s, double v)
    {
        double fi = Math.Floor(h * 6);
        double f = h * 6 - fi;
        int i = (int)fi % 6;
        double p = Clamp01(v * (1 - s)), q = Clamp01(v * (1 - s * f)), t = Clamp01(v * (1 - s * (1 - f)));
        return i switch
        {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
    }

    /// <summary>rgb_to_grayscale with three output channels.</summary>
    public static double[] Grayscale(double[] x)
    {
        var l = GrayLevels(x);
        int plane = l.Length;
        var y = new double[x.Length];
        for (int c = 0; c < 3; c++)
            Array.Copy(l, 0, y, c * plane, plane);
        return y;
    }

    /// <summary>torchvision's 1-D Gaussian kernel: exp(−½((t − k/2)/σ)²), t = 0 … k − 1, normalised.</summary>
    public static double[] GaussianKernel(int k, double sigma)
    {
        var w = new double[k];
        for (int t = 0; t < k; t++)
            w[t] = Math.Exp(-0.5 * Math.Pow((t - k / 2) / sigma, 2));
        double sum = w.Sum();
        return w.Select(v => v / sum).ToArray();
    }

    /// <summary>
    /// gaussian_blur: reflect padding by k/2, then the 2-D kernel w_i·w_j in one pass (as torchvision's conv2d;
    /// the kernel applies it separably).
    /// </summary>
    public static double[] GaussianBlur(double[] x, int height, int width, int k, double sigma)
    {
        var w = GaussianKernel(k, sigma);
        int half = k / 2;
        static int Reflect(int i, int n) => i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
        var y = new double[x.Length];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < height; i++)
                for (int j = 0; j < width; j++)
                {
                    double acc = 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                            acc += w[a] * w[b] * x[(c * height + Reflect(i + a - half, height)) * width + Reflect(j + b - half, width)];
                    y[(c * height + i) * width + j] = acc;
                }
        return y;
    }

    /// <summary>solarize: x ← 1 − x where x ≥ threshold.</summary>
    public static double[] Solarize(double[] x, double threshold) => x.Select(v => v >= threshold ? 1 - v : v).ToArray();

    /// <summary>normalize: (x − mean_c)/std_c.</summary>
    public static double[] Normalize(double[] x, ChannelNormalization norm)
    {
        int plane = x.Length / 3;
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / plane;
            y[i] = (x[i] - norm.Mean(c)) / norm.Std(c);
        }
        return y;
    }
}
