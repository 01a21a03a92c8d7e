using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ByolIlgpu.Bench.Torch;

/// <summary>Which operand of C = A·B is stored transposed: A (M,K)·B (K,N), A (M,K)·Bᵀ with B (N,K), or Aᵀ·B with A (K,M).</summary>
public enum MatmulLayout { AB, ABt, AtB }

/// <summary>A parameter tensor of the BYOL student: its name (torchvision's), shape, and whether it gets weight decay and LARS adaptation.</summary>
public sealed record TorchParameterShape(string Name, long[] Shape, bool Decay)
{
    public long Length => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// libtorch (through TorchSharp, CPU build) as the peer that ByolIlgpu's benchmarks compare against.
/// Every factory builds its inputs once (float32, CPU, from a fixed seed) and returns a
/// <see cref="TorchOp"/> whose <see cref="TorchOp.Run"/> executes exactly one operation.
///
/// Backward passes are timed on their own: the forward graph is built once in the factory and each run
/// calls torch.autograd.grad(outputs, inputs, dOut, retain_graph: true), which runs only the backward
/// node(s) and returns fresh gradients (nothing accumulates into .grad). Autograd asks a node only for
/// the gradients that are needed, so with requires_grad on x alone the convolution computes dX alone.
///
/// TorchSharp needs GCC 13's libstdc++ (GLIBCXX_3.4.32): on Debian 12 run the process under
/// /work/shared/opencl/with-pocl dotnet X.dll (which loads Debian 13's C/C++ runtimes); elsewhere it
/// fails in torch's type initialiser with a misleading "doesn't contain a reference to libtorch-cpu-linux-x64".
///
/// Dimensions: N batch, C in-channels, K out-channels, H W input spatial, R filter size (R×R), OH OW output spatial.
/// </summary>
public static partial class TorchPeer
{
    public const int DefaultSeed = 1234;

    /// <summary>ByolIlgpu's default architecture: ResNet-18 width 64, heads 512→4096→256 and 256→4096→256.</summary>
    public const long BackboneParameters = 11_168_832, ProjectorParameters = 3_158_272, PredictorParameters = 2_109_696;

    /// <summary>The teacher (backbone + projector: the EMA's length) and the student (the optimizer's length) at the defaults.</summary>
    public const long TeacherParameters = BackboneParameters + ProjectorParameters, StudentParameters = TeacherParameters + PredictorParameters;

    static readonly object Gate = new();
    static bool initialized;

    /// <summary>libtorch's version, e.g. "2.10.0".</summary>
    public static string Version => torch.__version__;

    /// <summary>libtorch's intra-op thread count.</summary>
    public static int Threads => torch.get_num_threads();

    /// <summary>
    /// Sets libtorch's intra-op threads (default: Environment.ProcessorCount) and returns the count in
    /// effect. Every factory calls it with the default the first time unless it was called before.
    /// </summary>
    public static int Initialize(int? threads = null)
    {
        lock (Gate)
        {
            int n = threads ?? Environment.ProcessorCount;
            if (n < 1)
                throw new ArgumentOutOfRangeException(nameof(threads), n, "libtorch needs at least one thread");
            torch.set_num_threads(n);
            initialized = true;
            return torch.get_num_threads();
        }
    }

    /// <summary>Sets the default thread count unless <see cref="Initialize"/> ran before; returns the count in effect.</summary>
    internal static int EnsureInitialized()
    {
        lock (Gate)
            return initialized ? torch.get_num_threads() : Initialize();
    }

    static Generator Seeded(int seed) => new((ulong)seed, CPU);

    static Tensor Randn(Generator g, params long[] shape) => randn(shape, ScalarType.Float32, CPU, generator: g);

    static void Positive(string what, params (string Name, long Value)[] dims)
    {
        foreach (var (name, value) in dims)
            if (value < 1)
                throw new ArgumentOutOfRangeException(name, value, $"{what}: {name} must be at least 1");
    }

    // ---------------------------------------------------------------- matmul

    /// <summary>C (M,N) = A·B, A·Bᵀ or Aᵀ·B (see <see cref="MatmulLayout"/>); transposes are strided views, not copies.</summary>
    public static TorchOp Matmul(int m, int n, int k, MatmulLayout layout = MatmulLayout.AB, int seed = DefaultSeed)
    {
        Positive("matmul", ("m", m), ("n", n), ("k", k));
        EnsureInitialized();
        var g = Seeded(seed);
        var a = layout == MatmulLayout.AtB ? Randn(g, k, m) : Randn(g, m, k);   // (M, K) or (K, M)
        var b = layout == MatmulLayout.ABt ? Randn(g, n, k) : Randn(g, k, n);   // (K, N) or (N, K)
        var left = layout == MatmulLayout.AtB ? a.t() : a;
        var right = layout == MatmulLayout.ABt ? b.t() : b;
        string formula = layout switch { MatmulLayout.AB => "A·B", MatmulLayout.ABt => "A·Bᵀ", _ => "Aᵀ·B" };
        return new TorchOp($"matmul {formula} M{m} N{n} K{k}", $"torch.mm({formula}) into a new (M,N) tensor",
            2.0 * m * n * k, 4.0 * ((double)m * k + (double)k * n + (double)m * n),
            () => left.mm(right), a, b, left, right, g);
    }

    // ---------------------------------------------------------------- conv2d

    static long OutSize(long size, int r, int stride, int pad) => (size + 2L * pad - r) / stride + 1;

    static (long OH, long OW, double Flops) ConvShape(string what, int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        Positive(what, ("n", n), ("c", c), ("h", h), ("w", w), ("k", k), ("r", r), ("stride", stride));
        if (pad < 0)
            throw new ArgumentOutOfRangeException(nameof(pad), pad, $"{what}: pad must be zero or positive");
        long oh = OutSize(h, r, stride, pad), ow = OutSize(w, r, stride, pad);
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{what}: a {r}×{r} filter with pad {pad} does not fit a {h}×{w} input");
        return (oh, ow, 2.0 * n * k * oh * ow * c * r * r);
    }

    static string ConvName(string pass, int n, int c, int h, int w, int k, int r, int stride, int pad) =>
        $"conv2d {pass} N{n} C{c} H{h} W{w} K{k} R{r} s{stride} p{pad}";

    /// <summary>Y (N,K,OH,OW) = conv2d(X (N,C,H,W), W (K,C,R,R)), no bias.</summary>
    public static TorchOp Conv2dForward(int n, int c, int h, int w, int k, int r, int stride, int pad, int seed = DefaultSeed)
    {
        var (oh, ow, flops) = ConvShape("conv2d forward", n, c, h, w, k, r, stride, pad);
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w);   // (N, C, H, W)
        var wt = Randn(g, k, c, r, r);  // (K, C, R, R)
        long[] strides = [stride, stride], padding = [pad, pad];
        return new TorchOp(ConvName("forward", n, c, h, w, k, r, stride, pad),
            "F.conv2d(x, w) without autograd (no input requires grad), into a new Y",
            flops, 4.0 * (x.numel() + wt.numel() + (double)n * k * oh * ow),
            () => F.conv2d(x, wt, strides: strides, padding: padding), x, wt, g);
    }

    /// <summary>dX (N,C,H,W) from dY (N,K,OH,OW) and W: the backward of conv2d to its input only.</summary>
    public static TorchOp Conv2dBackwardInput(int n, int c, int h, int w, int k, int r, int stride, int pad, int seed = DefaultSeed)
    {
        var (oh, ow, flops) = ConvShape("conv2d backward-input", n, c, h, w, k, r, stride, pad);
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w).requires_grad_();   // (N, C, H, W)
        var wt = Randn(g, k, c, r, r);                   // (K, C, R, R), no grad
        var dY = Randn(g, n, k, oh, ow);                 // (N, K, OH, OW)
        var y = F.conv2d(x, wt, strides: [stride, stride], padding: [pad, pad]);
        return new TorchOp(ConvName("backward-input", n, c, h, w, k, r, stride, pad),
            "autograd.grad(y, [x], dY, retain_graph) on a forward built in setup: the convolution backward node for dX only",
            flops, 4.0 * (dY.numel() + wt.numel() + x.numel()),
            () => torch.autograd.grad([y], [x], [dY], retain_graph: true), x, wt, dY, y, g);
    }

    /// <summary>dW (K,C,R,R) from dY (N,K,OH,OW) and X: the backward of conv2d to its weight only.</summary>
    public static TorchOp Conv2dBackwardWeight(int n, int c, int h, int w, int k, int r, int stride, int pad, int seed = DefaultSeed)
    {
        var (oh, ow, flops) = ConvShape("conv2d backward-weight", n, c, h, w, k, r, stride, pad);
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w);                    // (N, C, H, W), no grad
        var wt = Randn(g, k, c, r, r).requires_grad_();  // (K, C, R, R)
        var dY = Randn(g, n, k, oh, ow);                 // (N, K, OH, OW)
        var y = F.conv2d(x, wt, strides: [stride, stride], padding: [pad, pad]);
        return new TorchOp(ConvName("backward-weight", n, c, h, w, k, r, stride, pad),
            "autograd.grad(y, [w], dY, retain_graph) on a forward built in setup: the convolution backward node for dW only",
            flops, 4.0 * (dY.numel() + x.numel() + wt.numel()),
            () => torch.autograd.grad([y], [wt], [dY], retain_graph: true), x, wt, dY, y, g);
    }

    // ---------------------------------------------------------------- batchnorm2d

    /// <summary>
    /// Training-mode BatchNorm2d forward on X (N,C,H,W): batch mean and biased variance per channel,
    /// y = γ·(x − μ)·rstd + β, running statistics updated (momentum 0.1, ε 1e-5).
    /// </summary>
    public static TorchOp BatchNorm2dForward(int n, int c, int h, int w, int seed = DefaultSeed)
    {
        Positive("batchnorm2d forward", ("n", n), ("c", c), ("h", h), ("w", w));
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w);        // (N, C, H, W)
        var gamma = Randn(g, c).add_(2.0);   // (C)
        var beta = Randn(g, c);              // (C)
        var runningMean = zeros(c);          // (C)
        var runningVar = ones(c);            // (C)
        return new TorchOp($"batchnorm2d forward N{n} C{c} H{h} W{w}",
            "F.batch_norm(training: true) without autograd: statistics, normalised output, running-statistics update",
            0, 4.0 * 2 * x.numel(),
            () => F.batch_norm(x, runningMean, runningVar, gamma, beta, training: true, momentum: 0.1, eps: 1e-5),
            x, gamma, beta, runningMean, runningVar, g);
    }

    /// <summary>dX (N,C,H,W), dγ (C), dβ (C) of training-mode BatchNorm2d from dY (N,C,H,W).</summary>
    public static TorchOp BatchNorm2dBackward(int n, int c, int h, int w, int seed = DefaultSeed)
    {
        Positive("batchnorm2d backward", ("n", n), ("c", c), ("h", h), ("w", w));
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w).requires_grad_();        // (N, C, H, W)
        var gamma = Randn(g, c).add_(2.0).requires_grad_();   // (C)
        var beta = Randn(g, c).requires_grad_();              // (C)
        var dY = Randn(g, n, c, h, w);                        // (N, C, H, W)
        var runningMean = zeros(c);
        var runningVar = ones(c);
        var y = F.batch_norm(x, runningMean, runningVar, gamma, beta, training: true, momentum: 0.1, eps: 1e-5);
        return new TorchOp($"batchnorm2d backward N{n} C{c} H{h} W{w}",
            "autograd.grad(y, [x, γ, β], dY, retain_graph) on a training-mode forward built in setup: dX, dγ, dβ",
            0, 4.0 * 3 * x.numel(),
            () => torch.autograd.grad([y], [x, gamma, beta], [dY], retain_graph: true),
            x, gamma, beta, dY, runningMean, runningVar, y, g);
    }

    // ---------------------------------------------------------------- global average pooling

    /// <summary>Y (N,C) = mean over H, W of X (N,C,H,W), as torchvision's ResNet: adaptive_avg_pool2d(x, 1).flatten(1).</summary>
    public static TorchOp GlobalAvgPoolForward(int n, int c, int h, int w, int seed = DefaultSeed)
    {
        Positive("global average pool forward", ("n", n), ("c", c), ("h", h), ("w", w));
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w);   // (N, C, H, W)
        return new TorchOp($"global average pool forward N{n} C{c} H{h} W{w}",
            "F.adaptive_avg_pool2d(x, 1).flatten(1) without autograd",
            0, 4.0 * (x.numel() + (double)n * c),
            () => F.adaptive_avg_pool2d(x, 1).flatten(1), x, g);
    }

    /// <summary>dX (N,C,H,W) = dY (N,C) / (H·W) broadcast over H, W.</summary>
    public static TorchOp GlobalAvgPoolBackward(int n, int c, int h, int w, int seed = DefaultSeed)
    {
        Positive("global average pool backward", ("n", n), ("c", c), ("h", h), ("w", w));
        EnsureInitialized();
        var g = Seeded(seed);
        var x = Randn(g, n, c, h, w).requires_grad_();   // (N, C, H, W)
        var dY = Randn(g, n, c);                         // (N, C)
        var y = F.adaptive_avg_pool2d(x, 1).flatten(1);
        return new TorchOp($"global average pool backward N{n} C{c} H{h} W{w}",
            "autograd.grad(y, [x], dY, retain_graph) on a forward built in setup",
            0, 4.0 * (x.numel() + (double)n * c),
            () => torch.autograd.grad([y], [x], [dY], retain_graph: true), x, dY, y, g);
    }

    // ---------------------------------------------------------------- BYOL loss

    /// <summary>
    /// ℓ(p, z) = 2 − 2⟨p/‖p‖, z/‖z‖⟩ per row of p (B,D) and z (B,D): the BYOL pair loss as torch code writes it
    /// (F.normalize then a row sum).
    /// </summary>
    public static Tensor PairLoss(Tensor p, Tensor z) =>
        F.normalize(p, dim: 1).mul(F.normalize(z, dim: 1)).sum(1).mul(-2.0).add(2.0);

    /// <summary>Forward and backward of mean_b ℓ(p_b, z_b) to p (B,D); z (B,D) is a constant (the teacher's projection).</summary>
    public static TorchOp ByolPairLoss(int batch, int dim, int seed = DefaultSeed)
    {
        Positive("BYOL pair loss", ("batch", batch), ("dim", dim));
        EnsureInitialized();
        var g = Seeded(seed);
        var p = Randn(g, batch, dim).requires_grad_();   // (B, D)
        var z = Randn(g, batch, dim);                    // (B, D)
        return new TorchOp($"BYOL pair loss B{batch} D{dim}",
            "loss = mean_b(2 − 2⟨F.normalize(p), F.normalize(z)⟩) then autograd.grad(loss, [p]): forward + backward",
            0, 4.0 * 3 * p.numel(),
            () => torch.autograd.grad([PairLoss(p, z).mean()], [p]), p, z, g);
    }

    // ---------------------------------------------------------------- EMA and optimizers on flat tensors

    /// <summary>
    /// ξ ← τ·ξ + (1 − τ)·θ over one flat tensor of <paramref name="count"/> floats (ByolIlgpu's flat teacher,
    /// 14,327,104 at the defaults). Two in-place passes (mul_, add_) or, <paramref name="fused"/>, one lerp_.
    /// </summary>
    public static TorchOp Ema(long count = TeacherParameters, double tau = 0.99, bool fused = false, int seed = DefaultSeed)
    {
        Positive("EMA", ("count", count));
        EnsureInitialized();
        var g = Seeded(seed);
        var teacher = Randn(g, count);   // (P)
        var student = Randn(g, count);   // (P)
        var weight = tensor(1 - tau);    // 0-d
        return fused
            ? new TorchOp($"EMA fused P{count}", "teacher.lerp_(student, 1 − τ) on flat float32 tensors", 0, 4.0 * 3 * count,
                () => TorchOptim.EmaFused(teacher, student, weight), teacher, student, weight, g)
            : new TorchOp($"EMA P{count}", "teacher.mul_(τ).add_(student, alpha: 1 − τ) on flat float32 tensors", 0, 4.0 * 3 * count,
                () => TorchOptim.Ema(teacher, student, tau), teacher, student, weight, g);
    }

    /// <summary>
    /// One SGD-with-momentum step over one flat tensor of <paramref name="count"/> floats (the student,
    /// 16,436,800 at the defaults), as torch.optim.SGD's single-tensor path; weight decay, when non-zero,
    /// applies to every element (a flat tensor has no per-tensor exclusions).
    /// </summary>
    public static TorchOp SgdMomentum(long count = StudentParameters, double lr = 0.1, double momentum = 0.9, double weightDecay = 0, int seed = DefaultSeed)
    {
        Positive("SGD", ("count", count));
        EnsureInitialized();
        var gen = Seeded(seed);
        var w = Randn(gen, count);       // (P)
        var grad = Randn(gen, count);    // (P)
        var v = zeros(count);            // (P)
        return new TorchOp($"SGD momentum P{count}",
            weightDecay != 0 ? "g' = g + λw; v.mul_(μ).add_(g'); w.add_(v, −lr) on flat tensors" : "v.mul_(μ).add_(g); w.add_(v, −lr) on flat tensors",
            0, 4.0 * (weightDecay != 0 ? 7 : 5) * count,
            () => TorchOptim.Sgd(w, grad, v, lr, momentum, weightDecay), w, grad, v, gen);
    }

    /// <summary>
    /// One LARS step (ByolIlgpu's formula, see <see cref="TorchOptim.Lars"/>) over the BYOL student's
    /// parameter tensors (<see cref="ByolParameterShapes"/>), each a view into flat w, g, v buffers as in
    /// ByolIlgpu's layout: per-tensor norms, one tensor after another.
    /// </summary>
    public static TorchOp Lars(int width = 64, int projHidden = 4096, int projOut = 256, int predHidden = 4096,
        double lr = 0.1, double momentum = 0.9, double weightDecay = 1e-5, double eta = 0.02, int seed = DefaultSeed)
    {
        var shapes = ByolParameterShapes(width, projHidden, projOut, predHidden);
        EnsureInitialized();
        long total = shapes.Sum(s => s.Length);
        var gen = Seeded(seed);
        var w = Randn(gen, total);      // (P)
        var grad = Randn(gen, total);   // (P)
        var v = zeros(total);           // (P)
        var one = tensor(1f);           // 0-d
        var views = new List<(Tensor W, Tensor G, Tensor V, bool Adapt)>();
        long offset = 0;
        foreach (var s in shapes)
        {
            views.Add((w.narrow(0, offset, s.Length).view(s.Shape), grad.narrow(0, offset, s.Length).view(s.Shape),
                v.narrow(0, offset, s.Length).view(s.Shape), s.Decay));
            offset += s.Length;
        }
        var owned = new List<IDisposable> { w, grad, v, one, gen };
        foreach (var (vw, vg, vv, _) in views)
            owned.AddRange([vw, vg, vv]);
        return new TorchOp($"LARS {shapes.Count} tensors P{total} (width {width})",
            "per tensor: u = g + λw, ‖w‖, ‖u‖, scale = where(both > 0, min(η‖w‖/‖u‖/lr, 1), 1), v.mul_(μ).add_(scale·u), w.add_(v, −lr); excluded tensors v.mul_(μ).add_(g)",
            0, 4.0 * 5 * total,
            () =>
            {
                foreach (var (vw, vg, vv, adapt) in views)
                    TorchOptim.Lars(vw, vg, vv, adapt, lr, momentum, weightDecay, eta, one);
                return w;
            }, owned.ToArray());
    }

    // ---------------------------------------------------------------- the BYOL student's tensors

    /// <summary>
    /// The BYOL student's parameter tensors in registration order, with torchvision's names: the CIFAR
    /// ResNet-18 backbone at base width w (no classifier), "projector" (8w → projHidden → projOut) and
    /// "predictor" (projOut → predHidden → projOut), each Linear → BatchNorm1d → ReLU → Linear with biases.
    /// Weights (conv, linear) get decay and adaptation; biases and BatchNorm γ, β do not.
    /// </summary>
    public static IReadOnlyList<TorchParameterShape> ByolParameterShapes(int width = 64, int projHidden = 4096, int projOut = 256, int predHidden = 4096)
    {
        Positive("BYOL architecture", ("width", width), ("projHidden", projHidden), ("projOut", projOut), ("predHidden", predHidden));
        var list = new List<TorchParameterShape>();
        void Conv(string name, long k, long c, long r) => list.Add(new(name + ".weight", [k, c, r, r], true));
        void Bn(string name, long c)
        {
            list.Add(new(name + ".weight", [c], false));
            list.Add(new(name + ".bias", [c], false));
        }
        void Head(string name, long inF, long hidden, long outF)
        {
            list.Add(new(name + ".0.weight", [hidden, inF], true));
            list.Add(new(name + ".0.bias", [hidden], false));
            Bn(name + ".1", hidden);
            list.Add(new(name + ".3.weight", [outF, hidden], true));
            list.Add(new(name + ".3.bias", [outF], false));
        }
        Conv("conv1", width, 3, 3);
        Bn("bn1", width);
        long inC = width;
        for (int stage = 0; stage < 4; stage++)
        {
            long c = (long)width << stage;
            for (int b = 0; b < 2; b++)
            {
                string name = $"layer{stage + 1}.{b}";
                Conv(name + ".conv1", c, inC, 3);
                Bn(name + ".bn1", c);
                Conv(name + ".conv2", c, c, 3);
                Bn(name + ".bn2", c);
                if (inC != c)
                {
                    Conv(name + ".downsample.0", c, inC, 1);
                    Bn(name + ".downsample.1", c);
                }
                inC = c;
            }
        }
        Head("projector", 8L * width, projHidden, projOut);
        Head("predictor", projOut, predHidden, projOut);
        return list;
    }
}
