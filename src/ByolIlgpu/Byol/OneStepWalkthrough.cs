using System.Globalization;
using System.Text;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Kernels;
using ByolIlgpu.Optim;
using Dense = ByolIlgpu.Reference.Dense;

namespace ByolIlgpu.Byol;

/// <summary>
/// docs/maths/one-step.md: one BYOL step on four fixed 8×8 images through a width-1 ResNet-18 and heads
/// 8 → 4 → 3, with the engine's FP32 values (CPU accelerator with fixed grid sizes) beside the double
/// references'. The numbers of p, z, the loss, the gradients, the LARS update and the EMA come from
/// <see cref="ByolLearner.Step"/> itself; the heads' inner values from a second, identical model run layer by
/// layer, checked to give the learner's p and z bit for bit (else the page is refused, not written).
/// </summary>
public static class OneStepWalkthrough
{
    public const int Seed = 7, Images = 4, Size = 8;   // 4, not 2: BatchNorm over two samples makes every normalised value ±1 (p₁ = p₂, vanishing gradients)
    public const float LearningRate = 0.2f, Tau = 0.99f;
    public static readonly ByolArchitecture Architecture = new(Width: 1, ProjectorHidden: 4, ProjectorOut: 3, PredictorHidden: 4);

    /// <summary>Significant digits printed: few enough that a last-bit difference of libm's expf/logf between CPUs does not show.</summary>
    public const int Digits = 4;

    /// <summary>The CPU accelerator the page is computed on: 4 lanes × 4 warps, one multiprocessor whatever the core count.</summary>
    public static ComputeDevice CreateDevice() => ComputeDevice.CreateCpu(threadsPerWarp: 4, warpsPerGroup: 4, multiprocessors: 1);

    /// <summary>Pixel (n, c, h, w) of the images: smooth ramps with a per-image twist, in [0, 255].</summary>
    public static byte Pixel(int n, int c, int h, int w) => (byte)((40 * c + 23 * h + 11 * w + 97 * n + 7 * h * w * (n + 1)) % 256);

    public static string Generate(ComputeDevice dev)
    {
        var page = new Page();
        var arch = Architecture;
        int b = Images, s = Size, f = arch.FeatureDim, hid = arch.ProjectorHidden, o = arch.ProjectorOut, ph = arch.PredictorHidden;
        var images = new byte[b * 3 * s * s];   // (N, 3, H, W)
        for (int n = 0; n < b; n++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < s; h++)
                    for (int w = 0; w < s; w++)
                        images[((n * 3 + c) * s + h) * s + w] = Pixel(n, c, h, w);

        // 1. The two views, drawn and applied by the kernels; the reference redoes each from its parameters.
        dev.Pool.ReleaseAll();
        var configs = new[] { AugmentationConfig.ByolCifar(1, imageSize: s), AugmentationConfig.ByolCifar(2, imageSize: s) };
        var viewHost = new float[2][];
        var prmHost = new float[2][];
        using (var img = dev.Allocate(images))
        using (var idx = dev.Allocate(Enumerable.Range(0, b).ToArray()))
            for (int v = 0; v < 2; v++)
            {
                var view = Tensor.Temp(dev, $"view{v + 1}", b, 3, s, s);
                var prm = Augmentation.Apply(dev, img.View, idx.View, view, configs[v], (ulong)Seed, epoch: 0, view: v + 1, s, s);
                viewHost[v] = view.ToHost();
                prmHost[v] = prm.ToHost();
            }

        // 2. The heads layer by layer on a probe model (same seed as the learner's).
        dev.Pool.ReleaseAll();
        var probe = new Dictionary<string, float[]>();
        using (var model = new ByolModel(dev, arch, Seed))
        {
            var tape = new Tape(dev);
            using var _ = tape.NoGrad();
            for (int v = 0; v < 2; v++)
            {
                var x = Tensor.FromHost(dev, "view", viewHost[v], b, 3, s, s);
                var feat = model.StudentBackbone.Forward(tape, x, training: true);
                probe[$"h{v}"] = feat.ToHost();
                var u = model.StudentProjector.First.Forward(tape, feat);
                probe[$"u{v}"] = u.ToHost();
                var a = model.StudentProjector.Norm.ForwardRelu(tape, u, training: true);
                probe[$"a{v}"] = a.ToHost();
                var y = model.StudentProjector.Second.Forward(tape, a);
                probe[$"y{v}"] = y.ToHost();
                var q = model.StudentPredictor.First.Forward(tape, y);
                probe[$"q{v}"] = q.ToHost();
                var r = model.StudentPredictor.Norm.ForwardRelu(tape, q, training: true);
                probe[$"r{v}"] = r.ToHost();
                probe[$"p{v}"] = model.StudentPredictor.Second.Forward(tape, r).ToHost();
            }
            probe["running_mean"] = model.StudentProjector.Norm.RunningMean.Value.ToHost();
            probe["running_var"] = model.StudentProjector.Norm.RunningVar.Value.ToHost();
        }

        // 3. The step itself.
        dev.Pool.ReleaseAll();
        using var learnerModel = new ByolModel(dev, arch, Seed);
        using var lars = new Lars(learnerModel.Student);
        var learner = new ByolLearner(learnerModel, lars);
        var student = learnerModel.Student;
        var w0 = student.ValuesToHost();
        var t0 = learnerModel.Teacher.ValuesToHost();
        var v1 = Tensor.FromHost(dev, "view1", viewHost[0], b, 3, s, s);
        var v2 = Tensor.FromHost(dev, "view2", viewHost[1], b, 3, s, s);
        var step = learner.Step(v1, v2, LearningRate, Tau);
        float loss = step.Loss.ToHost()[0];
        float[] p1 = step.P1.ToHost(), p2 = step.P2.ToHost(), z1 = step.Z1.ToHost(), z2 = step.Z2.ToHost();
        float[] dp1 = step.P1.Grad!.ToHost(), dp2 = step.P2.Grad!.ToHost();
        var grads = student.GradsToHost();
        var w1 = student.ValuesToHost();
        var t1 = learnerModel.Teacher.ValuesToHost();
        var scales = lars.LastScales();
        if (!p1.SequenceEqual(probe["p0"]) || !p2.SequenceEqual(probe["p1"]) || !z1.SequenceEqual(probe["y0"]) || !z2.SequenceEqual(probe["y1"]))
            throw new InvalidOperationException("one-step page: the layer-by-layer probe no longer reproduces ByolLearner.Step's p and z bit for bit; update OneStepWalkthrough to follow ByolModel");

        Parameter P(string name) => student.Parameters.Single(p => p.Name == name);
        double[] W(string name) { var p = P(name); return w0.AsSpan(p.Offset, p.Length).ToArray().Select(x => (double)x).ToArray(); }

        // 4. The double reference of the same forward and backward, from the same weights and views.
        var weights = student.Parameters.ToDictionary(p => p.Name, p => W(p.Name));
        var refGrads = new Dictionary<string, double[]>();
        void AddGrad(string name, double[] g)
        {
            if (!refGrads.TryGetValue(name, out var acc)) refGrads[name] = acc = new double[g.Length];
            for (int i = 0; i < g.Length; i++) acc[i] += g[i];
        }
        var backbones = new Reference.ResNet18Reference[2];
        var rf = new Dictionary<string, double[]>();
        Reference.MlpHead.Weights Head(string name) => new(weights[name + ".0.weight"], weights[name + ".0.bias"], weights[name + ".1.weight"],
            weights[name + ".1.bias"], weights[name + ".3.weight"], weights[name + ".3.bias"]);
        var projW = Head("projector");
        var predW = Head("predictor");
        for (int v = 0; v < 2; v++)
        {
            backbones[v] = new Reference.ResNet18Reference(weights, b, arch.Width);
            rf[$"h{v}"] = backbones[v].Forward(viewHost[v].Select(x => (double)x).ToArray(), s, s);
            rf[$"u{v}"] = Dense.LinearForward(rf[$"h{v}"], projW.W1, projW.B1, b, f, hid);
            var (bn, mean, variance) = Dense.BatchNormTrain(rf[$"u{v}"], projW.Gamma, projW.Beta, b, hid, 1, 1e-5);
            rf[$"mean{v}"] = mean;
            rf[$"var{v}"] = variance;
            rf[$"bn{v}"] = bn;
            rf[$"a{v}"] = Dense.Relu(bn);
            rf[$"y{v}"] = Dense.LinearForward(rf[$"a{v}"], projW.W2, projW.B2, b, hid, o);
            rf[$"q{v}"] = Dense.LinearForward(rf[$"y{v}"], predW.W1, predW.B1, b, o, ph);
            rf[$"r{v}"] = Dense.Relu(Dense.BatchNormTrain(rf[$"q{v}"], predW.Gamma, predW.Beta, b, ph, 1, 1e-5).y);
            rf[$"p{v}"] = Reference.MlpHead.Forward(predW, rf[$"y{v}"], b, o, ph, o);
        }
        double eps = 1e-12;   // BYOL's normalisation ε (F.normalize's); irrelevant here, every norm is far above it
        var dLoss = Enumerable.Repeat(1.0 / b, b).ToArray();
        var pairLoss12 = Dense.ByolPairLoss(rf["p0"], rf["y1"], b, o, eps);
        var pairLoss21 = Dense.ByolPairLoss(rf["p1"], rf["y0"], b, o, eps);
        double refLoss = Dense.Mean(pairLoss12) + Dense.Mean(pairLoss21);
        rf["dp0"] = Dense.ByolPairLossBackward(rf["p0"], rf["y1"], dLoss, b, o, eps);
        rf["dp1"] = Dense.ByolPairLossBackward(rf["p1"], rf["y0"], dLoss, b, o, eps);
        for (int v = 0; v < 2; v++)
        {
            var gPred = Reference.MlpHead.Backward(predW, rf[$"y{v}"], rf[$"dp{v}"], b, o, ph, o);
            var gProj = Reference.MlpHead.Backward(projW, rf[$"h{v}"], gPred.DX, b, f, hid, o);
            foreach (var (head, g) in new[] { ("predictor", gPred), ("projector", gProj) })
            {
                AddGrad(head + ".0.weight", g.DW1); AddGrad(head + ".0.bias", g.DB1);
                AddGrad(head + ".1.weight", g.DGamma); AddGrad(head + ".1.bias", g.DBeta);
                AddGrad(head + ".3.weight", g.DW2); AddGrad(head + ".3.bias", g.DB2);
            }
            backbones[v].Backward(gProj.DX);
            foreach (var (name, g) in backbones[v].Grads)
                AddGrad(name, g);
        }

        // The page.
        page.Line("# One BYOL step, in numbers");
        page.Line();
        page.Line("_Generated by `byol one-step --out docs/maths/one-step.md`; do not edit by hand (a test regenerates it and compares byte for byte)._");
        page.Line();
        page.Line($"This page follows one optimisation step of BYOL (see the [index](index.md) for the whole picture) on an example small enough to print: " +
            $"{b} images of {s}×{s} px, a ResNet-18 of base width {arch.Width} ({f} features), a projector {f} → {hid} → {o} and a predictor {o} → {ph} → {o}, " +
            $"seed {Seed}, LARS at learning rate {LearningRate.ToString(CultureInfo.InvariantCulture)}, EMA τ = {Tau.ToString(CultureInfo.InvariantCulture)}. " +
            "Every \"engine\" number is what the FP32 kernels computed on ILGPU's CPU accelerator (4 lanes × 4 warps, one multiprocessor, so every grid and summation order is fixed); " +
            "every \"reference\" number is the plain double-precision code of `src/ByolIlgpu/Reference` run on the same weights and views. " +
            $"Numbers are printed to {Digits} significant digits: the kernels are plain IL (the .NET JIT contracts no multiply-add into an FMA), but the augmentation calls `expf`/`logf`/`cosf` " +
            "from the C library, whose last bit may differ between x86 CPUs; a last-bit difference cannot reach the 4th digit except at a rounding boundary.");
        page.Line();

        page.Line("## 1. The images");
        page.Line();
        page.Line("The images are fixed byte patterns, $x_{n,c,h,w} = (40c + 23h + 11w + 97n + 7hw(n+1)) \\bmod 256$ for image $n$, channel $c$ (R, G, B), row $h$ and column $w$. Row 0 and row 7 of image 0, channel R:");
        page.Line();
        page.Table(["row", .. Enumerable.Range(0, s).Select(w => $"w={w}")],
            new[] { 0, 7 }.Select(h => (string[])[$"h={h}", .. Enumerable.Range(0, s).Select(w => Pixel(0, 0, h, w).ToString(CultureInfo.InvariantCulture))]));

        page.Line("## 2. Two augmented views");
        page.Line();
        page.Line("Each image gets two random views with BYOL's two pipelines (view 1 never solarises, view 2 solarises with probability 0.2; the blur is off at this size, as in the CIFAR recipe). " +
            "The random choices are a pure function of (seed, epoch, image, view), drawn by `AugmentDrawKernel`; then `AugmentApplyKernel` crops the box (top, left, height, width) and resizes it bilinearly to " +
            $"{s}×{s}, flips, applies the colour-jitter factors in the drawn order, grayscale and solarise, and normalises each channel with CIFAR-10's mean and standard deviation, $(x/255 - \\mu_c)/\\sigma_c$. " +
            "See [augmentations.md](augmentations.md) for each formula. The drawn parameters:");
        page.Line();
        var prmRows = new List<string[]>();
        for (int v = 0; v < 2; v++)
            for (int n = 0; n < b; n++)
            {
                var p = prmHost[v].AsSpan(n * Augmentation.ParameterCount, Augmentation.ParameterCount).ToArray();
                string jitter = p[AugmentLayout.Jitter] != 0
                    ? $"b {F(p[AugmentLayout.Brightness])}, c {F(p[AugmentLayout.Contrast])}, s {F(p[AugmentLayout.Saturation])}, h {F(p[AugmentLayout.Hue])}; order " +
                      string.Concat(Enumerable.Range(0, 4).Select(k => "bcsh"[(int)p[AugmentLayout.Order + k]]))
                    : "off";
                prmRows.Add([$"{v + 1}", $"{n}", $"({p[AugmentLayout.Top]}, {p[AugmentLayout.Left]}, {p[AugmentLayout.CropHeight]}, {p[AugmentLayout.CropWidth]})",
                    p[AugmentLayout.Flip] != 0 ? "yes" : "no", jitter, p[AugmentLayout.Gray] != 0 ? "yes" : "no", p[AugmentLayout.Solarize] != 0 ? "yes" : "no"]);
            }
        page.Table(["view", "image", "crop (top, left, h, w)", "flip", "colour jitter", "gray", "solarise"], prmRows);
        page.Line("The first four normalised pixels of row 0, channel R, of each view, engine beside the reference (`Augment.Apply` redoing the pipeline from the drawn parameters):");
        page.Line();
        var pixRows = new List<string[]>();
        for (int v = 0; v < 2; v++)
            for (int n = 0; n < b; n++)
            {
                var p = prmHost[v].AsSpan(n * Augmentation.ParameterCount, Augmentation.ParameterCount).ToArray().Select(x => (double)x).ToArray();
                var refView = Reference.Augment.Apply(images, n, s, s, p, configs[v], s, s);
                int at = n * 3 * s * s;
                pixRows.Add([$"{v + 1}", $"{n}", .. Enumerable.Range(0, 4).Select(w => $"{F(viewHost[v][at + w])} / {F(refView[w])}")]);
            }
        page.Table(["view", "image", "w=0", "w=1", "w=2", "w=3"], pixRows);

        page.Line("## 3. The backbone's features");
        page.Line();
        page.Line("The student's ResNet-18 maps each view (N, 3, 8, 8) to features $h$ (N, 8): the stem conv and BatchNorm, four stages of two residual blocks " +
            "(8×8, 4×4, 2×2, 1×1 spatially, 1, 2, 4, 8 channels), then the global average over the remaining positions. Every convolution is an implicit GEMM " +
            "([conv2d.md](conv2d.md)), every BatchNorm uses the batch's statistics ([batchnorm.md](batchnorm.md)), every block ends $\\max(\\mathrm{BN}(\\cdot) + \\text{shortcut}, 0)$ " +
            "([relu-and-residual.md](relu-and-residual.md), [pooling.md](pooling.md)). View 1, engine:");
        page.Line();
        page.Matrix("h (view 1)", probe["h0"], b, f);
        page.Compare("view 1 and view 2 features", [(probe["h0"], rf["h0"]), (probe["h1"], rf["h1"])]);

        page.Line("## 4. The projector");
        page.Line();
        page.Line($"A linear layer $u = h W_1^\\top + b_1$ (W₁ of shape ({hid}, {f}); [linear-and-gemm.md](linear-and-gemm.md)), a BatchNorm over the batch for each of the {hid} hidden units, " +
            "$\\mu_j = \\frac{1}{N}\\sum_n u_{n,j}$, $\\sigma_j^2 = \\frac{1}{N}\\sum_n (u_{n,j} - \\mu_j)^2$, $\\hat u_{n,j} = (u_{n,j} - \\mu_j)/\\sqrt{\\sigma_j^2 + \\epsilon}$, " +
            $"$a = \\max(\\gamma_j \\hat u_{{n,j}} + \\beta_j, 0)$ (γ = 1, β = 0 at the start), and a second linear layer $y = a W_2^\\top + b_2$ to {o} outputs. View 1:");
        page.Line();
        page.Matrix("u = pre-BN (engine)", probe["u0"], b, hid);
        page.Vector("batch mean μ (reference)", rf["mean0"]);
        page.Vector("batch variance σ² (reference, biased: divides by N)", rf["var0"]);
        page.Line();
        page.Matrix("γ·û + β (reference)", rf["bn0"], b, hid);
        page.Matrix("a = post-ReLU (engine)", probe["a0"], b, hid);
        page.Matrix("y = projection (engine)", probe["y0"], b, o);
        page.Line($"The batch has N = {b} images, not 2: over two samples BatchNorm maps every unit to $\\pm 1$ (it keeps only their order), so both views would give the same $p$ and almost no gradient would reach the backbone. " +
            "The forward also moves the running statistics (momentum 0.1): after the two student passes of this page's probe, the projector's " +
            "$\\text{running\\_mean} = 0.9\\,(0.1\\,\\mu^{(1)}) + 0.1\\,\\mu^{(2)}$ and the running variance uses the *unbiased* $\\frac{N}{N-1}\\sigma^2$ (why: [batchnorm.md](batchnorm.md)):");
        page.Line();
        page.Vector("running_mean (engine)", probe["running_mean"]);
        page.Vector("running_var (engine)", probe["running_var"]);
        page.Line();
        page.Compare("projector values, both views", [(probe["u0"], rf["u0"]), (probe["u1"], rf["u1"]), (probe["a0"], rf["a0"]), (probe["a1"], rf["a1"]), (probe["y0"], rf["y0"]), (probe["y1"], rf["y1"])]);

        page.Line("## 5. The predictor and the teacher");
        page.Line();
        page.Line($"The predictor has the same form ({o} → {ph} → {o}) and gives the student's prediction $p$. The teacher (backbone + projector only) starts as an exact copy of the student, " +
            "so at this first step its projection $z$ of a view equals the student's projection $y$ of the same view bit for bit; it runs without recording anything for backward (the stop-gradient, [ema-teacher.md](ema-teacher.md)).");
        page.Line();
        page.Matrix("q = predictor pre-BN, view 1 (engine)", probe["q0"], b, ph);
        page.Matrix("r = predictor post-ReLU, view 1 (engine)", probe["r0"], b, ph);
        page.Matrix("p₁ (engine)", p1, b, o);
        page.Matrix("p₂ (engine)", p2, b, o);
        page.Matrix("z₁ (engine)", z1, b, o);
        page.Matrix("z₂ (engine)", z2, b, o);
        page.Compare("predictions", [(p1, rf["p0"]), (p2, rf["p1"]), (probe["q0"], rf["q0"]), (probe["r0"], rf["r0"])]);

        page.Line("## 6. Normalisation and the loss");
        page.Line();
        page.Line("Each prediction is compared with the teacher's projection of the *other* view: $\\hat p = p/\\lVert p\\rVert$, $\\hat z = z/\\lVert z\\rVert$, " +
            "$\\ell(p, z) = \\lVert \\hat p - \\hat z\\rVert^2 = 2 - 2\\langle \\hat p, \\hat z\\rangle$, and " +
            "$L = \\frac{1}{N}\\sum_n \\ell(p_{1,n}, z_{2,n}) + \\frac{1}{N}\\sum_n \\ell(p_{2,n}, z_{1,n})$ ([l2-normalize-and-byol-loss.md](l2-normalize-and-byol-loss.md)).");
        page.Line();
        var lossRows = new List<string[]>();
        foreach (var (label, pp, zz, refPair) in new[] { ("ℓ(p₁, z₂)", p1, z2, pairLoss12), ("ℓ(p₂, z₁)", p2, z1, pairLoss21) })
            for (int n = 0; n < b; n++)
            {
                double pn = Norm(pp, n, o), zn = Norm(zz, n, o);
                double cos = Enumerable.Range(0, o).Sum(d => pp[n * o + d] / pn * zz[n * o + d] / zn);
                lossRows.Add([label, $"{n}", F(pn), F(zn), F(cos), F(2 - 2 * cos), F(refPair[n])]);
            }
        page.Table(["pair", "image", "‖p‖", "‖z‖", "⟨p̂, ẑ⟩", "ℓ (from engine p, z)", "ℓ (reference)"], lossRows);
        page.Line($"Total: engine $L$ = {F(loss)}, reference {F(refLoss)}.");
        page.Line();

        page.Line("## 7. The gradient with respect to p");
        page.Line();
        page.Line("Since $z$ is a constant (stop-gradient), the whole gradient of $L$ starts at $p$: with the $1/N$ of the mean, " +
            "$\\partial L/\\partial p_n = \\frac{1}{N}\\cdot\\frac{-2}{\\lVert p_n\\rVert}\\,(\\hat z_n - \\langle \\hat p_n, \\hat z_n\\rangle\\,\\hat p_n)$, " +
            "which is orthogonal to $p_n$: moving along $p$ changes nothing, only the direction is learned.");
        page.Line();
        page.Matrix("∂L/∂p₁ (engine)", dp1, b, o);
        page.Matrix("∂L/∂p₁ (reference)", rf["dp0"], b, o);
        page.Line($"Check of the orthogonality: $\\langle \\partial L/\\partial p_{{1,n}}, p_{{1,n}}\\rangle$ = " +
            string.Join(", ", Enumerable.Range(0, b).Select(n => FE(Enumerable.Range(0, o).Sum(d => (double)dp1[n * o + d] * p1[n * o + d])))) + " (engine, exactly 0 up to rounding).");
        page.Line();
        page.Compare("∂L/∂p", [(dp1, rf["dp0"]), (dp2, rf["dp1"])]);

        page.Line("## 8. A few weight gradients");
        page.Line();
        page.Line("Backward runs the tape in reverse: each linear layer gives $\\partial L/\\partial W = \\delta^\\top x$ and $\\partial L/\\partial x = \\delta W$, each BatchNorm " +
            "$dx = \\mathrm{rstd}\\,(\\gamma\\,dy - \\overline{\\gamma\\,dy} - \\hat x\\,\\overline{\\gamma\\,dy\\,\\hat x})$, each convolution its backward-input and backward-weight GEMMs, " +
            "summed over both views (each view's contribution adds into the same gradient buffer).");
        page.Line();
        string[] shown = ["predictor.3.weight", "predictor.3.bias", "predictor.1.weight", "projector.0.weight", "layer1.0.conv1.weight", "conv1.weight"];
        var gradRows = new List<string[]>();
        foreach (var name in shown)
        {
            var p = P(name);
            for (int i = 0; i < Math.Min(2, p.Length); i++)
                gradRows.Add([$"`{name}`[{i}]", F(grads[p.Offset + i]), F(refGrads[name][i])]);
        }
        page.Table(["parameter", "engine", "reference"], gradRows);
        page.Compare("every gradient", student.Parameters.Select(p => (grads.AsSpan(p.Offset, p.Length).ToArray(), refGrads[p.Name])).ToArray());

        page.Line("## 9. The LARS update");
        page.Line();
        page.Line($"LARS ([optimizers.md](optimizers.md)), momentum μ = {F(lars.Momentum)}, weight decay λ = {F(lars.WeightDecay)} (weights only, not biases or BatchNorm), trust coefficient η = {F(lars.TrustCoefficient)}: " +
            "per tensor $u = g + \\lambda w$, $s = \\min(\\eta\\lVert w\\rVert / \\lVert u\\rVert / \\mathrm{lr}, 1)$ (1 for excluded tensors), $v \\leftarrow \\mu v + s\\,u$ (v starts at 0), $w \\leftarrow w - \\mathrm{lr}\\,v$. " +
            "The reference column runs `Optimizers.Lars` on the engine's weights and gradients.");
        page.Line();
        var updRows = new List<string[]>();
        foreach (var name in shown)
        {
            var p = P(name);
            int tensor = student.Parameters.ToList().IndexOf(p);
            var g = grads.AsSpan(p.Offset, p.Length).ToArray().Select(x => (double)x).ToArray();
            var (wRef, _, sRef) = Reference.Optimizers.Lars(W(name), g, new double[p.Length], LearningRate, lars.Momentum, lars.WeightDecay, lars.TrustCoefficient, p.Decay);
            updRows.Add([$"`{name}`[0]", F(w0[p.Offset]), F(grads[p.Offset]), $"{F(scales[tensor])} / {F(sRef)}", F(w1[p.Offset]), F(wRef[0])]);
        }
        page.Table(["weight", "w before", "g", "s (engine / reference)", "w after (engine)", "w after (reference)"], updRows);

        page.Line("## 10. The teacher's EMA");
        page.Line();
        page.Line("Last, the teacher follows the updated student: $\\xi \\leftarrow \\tau\\,\\xi + (1 - \\tau)\\,\\theta$ over the backbone and projector (the teacher has no predictor), " +
            "one launch over the teacher's store, which is the prefix of the student's ([ema-teacher.md](ema-teacher.md)).");
        page.Line();
        var emaRows = new List<string[]>();
        foreach (var name in shown.Where(n => !n.StartsWith("predictor", StringComparison.Ordinal)))
        {
            var p = P(name);
            double refT = Reference.Optimizers.Ema([t0[p.Offset]], [w1[p.Offset]], Tau)[0];
            emaRows.Add([$"`{name}`[0]", F(t0[p.Offset]), F(w1[p.Offset]), F(t1[p.Offset]), F(refT)]);
        }
        page.Table(["weight", "ξ before", "θ after the update", "ξ after (engine)", "ξ after (reference)"], emaRows);

        page.Line("## Where it lives");
        page.Line();
        page.Table(["what", "code"],
        [
            ["this page's generator", "[`OneStepWalkthrough.Generate`](../../src/ByolIlgpu/Byol/OneStepWalkthrough.cs)"],
            ["the command", "[`OneStepCommand.Create`](../../src/ByolIlgpu.Cli/Commands/OneStepCommand.cs)"],
            ["the step", "[`ByolLearner.Step`](../../src/ByolIlgpu/Byol/ByolLearner.cs)"],
            ["the loss", "[`ByolLossFunction.Symmetric`](../../src/ByolIlgpu/Byol/ByolLossFunction.cs), [`ByolLossKernels.ByolLossForwardKernel`](../../kernels/ByolLoss.cs), [`ByolLossKernels.ByolLossBackwardKernel`](../../kernels/ByolLoss.cs)"],
            ["views", "[`Augmentation.Apply`](../../src/ByolIlgpu/Data/Augmentation.cs), [`AugmentKernels.AugmentDrawKernel`](../../kernels/Augment.cs), [`AugmentKernels.AugmentApplyKernel`](../../kernels/Augment.cs)"],
            ["backbone and heads", "[`ResNet18.Forward`](../../src/ByolIlgpu/Layers/ResNet18.cs), [`MlpHead.Forward`](../../src/ByolIlgpu/Layers/MlpHead.cs)"],
            ["LARS and EMA", "[`Lars.Step`](../../src/ByolIlgpu/Optim/Lars.cs), [`LarsKernels.LarsUpdateKernel`](../../kernels/Lars.cs), [`Ema.Update`](../../src/ByolIlgpu/Optim/Ema.cs), [`EmaKernels.EmaUpdateKernel`](../../kernels/Ema.cs)"],
            ["references", "[`Augment.Apply`](../../src/ByolIlgpu/Reference/Augment.cs), [`ResNet18Reference.Forward`](../../src/ByolIlgpu/Reference/ResNet18.cs), [`MlpHead.Backward`](../../src/ByolIlgpu/Reference/MlpHead.cs), [`Dense.ByolPairLossBackward`](../../src/ByolIlgpu/Reference/Dense.cs), [`Optimizers.Lars`](../../src/ByolIlgpu/Reference/Optimizers.cs)"],
            ["the test", "[`OneStepPageTests.TheCommittedPageIsWhatTheCommandWrites`](../../tests/ByolIlgpu.Tests/OneStepPageTests.cs)"],
        ]);
        return page.ToString();
    }

    static double Norm(float[] x, int row, int dim) => Math.Sqrt(Enumerable.Range(0, dim).Sum(d => (double)x[row * dim + d] * x[row * dim + d]));

    /// <summary>A number to <see cref="Digits"/> significant digits, invariant culture, no negative zero.</summary>
    public static string F(double x)
    {
        if (x == 0 || !double.IsFinite(x)) return x == 0 ? "0" : x.ToString(CultureInfo.InvariantCulture);
        double a = Math.Abs(x);
        if (a >= 1e-3 && a < 1e3)
        {
            int decimals = Digits - 1 - (int)Math.Floor(Math.Log10(a));
            double rounded = Math.Round(x, decimals, MidpointRounding.AwayFromZero);
            if (Math.Abs(rounded) >= Math.Pow(10, Digits - decimals))   // 0.99999 → 1.000, not 1.0000
                rounded = Math.Round(x, --decimals, MidpointRounding.AwayFromZero);
            string s = rounded.ToString("F" + decimals, CultureInfo.InvariantCulture);
            return s.TrimStart('-').Trim('0', '.').Length == 0 ? "0" : s;
        }
        return FE(x);
    }

    /// <summary>Scientific notation with <see cref="Digits"/> significant digits (1.234e-05).</summary>
    public static string FE(double x) => x == 0 ? "0" : x.ToString("0.000e+00", CultureInfo.InvariantCulture);

    /// <summary>An upper bound on |d| as a power of ten (stable across machines where |d| itself is not).</summary>
    static string Bound(double d) => d == 0 ? "0 (identical)" : $"< 1e{(int)Math.Floor(Math.Log10(d)) + 1}";

    sealed class Page
    {
        readonly StringBuilder text = new();
        public void Line(string line = "") => text.Append(line).Append('\n');

        public override string ToString() => text.ToString();

        public void Table(string[] header, IEnumerable<string[]> rows)
        {
            Line("| " + string.Join(" | ", header) + " |");
            Line("|" + string.Concat(header.Select(_ => "---|")));
            foreach (var row in rows)
                Line("| " + string.Join(" | ", row) + " |");
            Line();
        }

        public void Matrix(string title, IReadOnlyList<float> m, int rows, int cols) =>
            Matrix(title, m.Select(v => (double)v).ToArray(), rows, cols);

        public void Matrix(string title, double[] m, int rows, int cols)
        {
            Line($"{title}, rows n = 0…{rows - 1}:");
            Line();
            Table(["n", .. Enumerable.Range(0, cols).Select(j => $"j={j}")],
                Enumerable.Range(0, rows).Select(r => (string[])[$"{r}", .. Enumerable.Range(0, cols).Select(j => F(m[r * cols + j]))]));
        }

        public void Vector(string title, IReadOnlyList<float> v) => Vector(title, v.Select(x => (double)x).ToArray());

        public void Vector(string title, double[] v) => Line($"- {title}: " + string.Join(", ", v.Select(x => F(x))));

        /// <summary>The largest |engine − reference| over the pairs, relative to the largest |reference|.</summary>
        public void Compare(string what, (float[] Engine, double[] Reference)[] pairs)
        {
            double diff = 0, scale = 0;
            foreach (var (e, r) in pairs)
                for (int i = 0; i < e.Length; i++)
                {
                    diff = Math.Max(diff, Math.Abs(e[i] - r[i]));
                    scale = Math.Max(scale, Math.Abs(r[i]));
                }
            Line();
            Line($"Engine against the double reference, {what}: max |engine − reference| / max |reference| {Bound(scale == 0 ? diff : diff / scale)}.");
            Line();
        }
    }
}
