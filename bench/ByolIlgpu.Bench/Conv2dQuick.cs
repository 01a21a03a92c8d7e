using System.Diagnostics;
using System.Globalization;
using ByolIlgpu.Engine;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Bench;

/// <summary>
/// `conv --quick`: times every ResNet-18 conv shape, pass and version with a Stopwatch (one
/// warm-up launch, then the best of 5 rounds of at least 60 ms) and
/// prints GFLOP/s = 2·MACs / time per launch, plus the conv time per image of a full
/// forward + backward with the default versions. For fast iteration; BenchmarkDotNet
/// (`conv` without --quick) gives the careful numbers.
/// Options: --device SPEC (default opencl), --batch N (32), --width W (64), --versions 1,2,3
/// (default: the register-blocked or tiled ones for the device, and "0" = default choice),
/// --passes f,i,w, --layers 0,3 (indices), --check (compare each version with version 1 first),
/// --lanes 16|8 (the register blocks of that vector width, whatever the device reports).
/// </summary>
public static class Conv2dQuick
{
    public static void Run(string[] args)
    {
        string Opt(string name, string fallback)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        using var dev = ComputeDevice.Create(Opt("--device", "opencl"));
        if (Opt("--lanes", "") is { Length: > 0 } lanes)
            dev.UseRegisterBlocks(int.Parse(lanes, CultureInfo.InvariantCulture));
        int batch = int.Parse(Opt("--batch", "32"), CultureInfo.InvariantCulture);
        int width = int.Parse(Opt("--width", "64"), CultureInfo.InvariantCulture);
        var defaultVersions = string.Join(",", dev.Policy.Conv2dCandidates);
        var versions = Opt("--versions", defaultVersions).Split(',').Select(int.Parse).ToArray();
        var passes = Opt("--passes", "f,i,w").Split(',').Select(p => p switch
        {
            "f" => Conv2dPass.Forward,
            "i" => Conv2dPass.BackwardInput,
            "w" => Conv2dPass.BackwardWeight,
            _ => throw new ArgumentException($"--passes: expected f, i or w, got '{p}'"),
        }).ToArray();
        var layers = ConvLayer.ResNet18(width);
        var pick = Opt("--layers", "");
        var chosen = pick == "" ? layers : pick.Split(',').Select(i => layers[int.Parse(i, CultureInfo.InvariantCulture)]).ToList();
        bool check = args.Contains("--check");

        Console.WriteLine($"device {dev}, batch {batch}, width {width}, POCL_EXTRA_BUILD_FLAGS='{Environment.GetEnvironmentVariable("POCL_EXTRA_BUILD_FLAGS")}'");
        Console.WriteLine($"{dev.Policy.Blocks.Describe()}; {DevicePolicy.BlockLanesSource(dev.Info)}");
        Console.WriteLine($"{"layer",-24} {"pass",-15} " + string.Join(" ", versions.Select(v => $"{"v" + v,9}")) + "   (GFLOP/s; v0: the default choice, and which it is)");
        double perImage = 0;   // seconds of conv work per image, default versions, forward + backward
        bool complete = versions.Contains(0) && passes.Length == 3 && chosen.Count == layers.Count;
        foreach (var layer in chosen)
        {
            var g = layer.Shape(batch);
            using var problem = new ConvProblem(dev, g);
            foreach (var pass in passes)
            {
                float[]? oracle = check ? problem.Result(pass, 1) : null;
                var cells = new List<string>();
                foreach (var v in versions)
                {
                    if (oracle is not null)
                    {
                        double diff = ConvProblem.MaxRelativeDifference(problem.Result(pass, v), oracle);
                        if (diff > 1e-3)
                            Console.WriteLine($"  !! {layer} {pass} v{v}: max relative difference to v1 {diff:G3}");
                    }
                    double seconds = Time(dev, () => problem.Run(pass, v));
                    cells.Add(v == 0
                        ? $"{problem.Flops / seconds / 1e9,6:F1} v{Conv2d.VersionFor(dev, g, pass)}"
                        : $"{problem.Flops / seconds / 1e9,9:F1}");
                    if (v == 0 && !(layer.Name.StartsWith("conv1") && pass == Conv2dPass.BackwardInput))
                        perImage += seconds * layer.Count / batch;
                }
                Console.WriteLine($"{layer.Name,-24} {pass,-15} " + string.Join(" ", cells));
            }
        }
        if (complete)
            Console.WriteLine($"conv time per image, forward + backward (no dX for the stem), default versions: {perImage * 1e3:F2} ms " +
                $"({ConvLayer.ResNet18(width).Sum(l => (double)l.Shape(1).MultiplyAdds * l.Count) / 1e9:F3} GMAC forward per image)");
    }

    /// <summary>
    /// Seconds per launch: one warm-up, then 5 rounds of launches of at least 60 ms each (at least
    /// 2 launches); the best round counts (the machine is shared: the minimum is the steadiest figure).
    /// </summary>
    static double Time(ComputeDevice dev, Action launch)
    {
        launch();
        dev.Synchronize();
        double best = double.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            while (n < 2 || sw.Elapsed.TotalSeconds < 0.06)
            {
                launch();
                dev.Synchronize();
                n++;
            }
            best = Math.Min(best, sw.Elapsed.TotalSeconds / n);
        }
        return best;
    }
}
