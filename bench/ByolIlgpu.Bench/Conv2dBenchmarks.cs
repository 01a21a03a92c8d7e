using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ByolIlgpu.Engine;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Bench;

/// <summary>
/// Conv2d passes over the distinct ResNet-18 CIFAR conv shapes at batch 32 (env BYOL_BENCH_BATCH),
/// base width 64 (env BYOL_BENCH_WIDTH), on the device in env BYOL_BENCH_DEVICE (default opencl);
/// versions 0 (the default choice), 2 and 3 unless env BYOL_BENCH_VERSIONS lists others (e.g. "1,4"),
/// all layers unless env BYOL_BENCH_LAYERS lists indices into <see cref="ConvLayer.ResNet18"/> (e.g. "1,3").
/// Each case's version is compiled and checked against version 1 in the setup; the accelerator is
/// synchronised inside the measured method. Runs in-process (PoCL lives in this process's
/// environment: run under ../shared/opencl/with-pocl dotnet ByolIlgpu.Bench.dll conv).
/// The GFLOP/s column is 2·MACs / mean time.
/// </summary>
public class Conv2dBenchmarks
{
    static readonly Lazy<ComputeDevice> device = new(() =>
        ComputeDevice.Create(Environment.GetEnvironmentVariable("BYOL_BENCH_DEVICE") ?? "opencl"));

    static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : fallback;

    static IEnumerable<int> List(string name, string fallback) =>
        (Environment.GetEnvironmentVariable(name) ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(v => int.Parse(v, CultureInfo.InvariantCulture));

    public static IEnumerable<ConvLayer> Layers
    {
        get
        {
            var all = ConvLayer.ResNet18(Env("BYOL_BENCH_WIDTH", 64));
            return List("BYOL_BENCH_LAYERS", string.Join(',', Enumerable.Range(0, all.Count))).Select(i => all[i]);
        }
    }

    public static IEnumerable<int> VersionValues => List("BYOL_BENCH_VERSIONS", "0,2,3");

    [ParamsSource(nameof(Layers))]
    public ConvLayer Layer { get; set; } = null!;

    [ParamsAllValues]
    public Conv2dPass Pass { get; set; }

    [ParamsSource(nameof(VersionValues))]
    public int Version { get; set; }

    ConvProblem? problem;

    [GlobalSetup]
    public void Setup()
    {
        var dev = device.Value;
        problem = new ConvProblem(dev, Layer.Shape(Env("BYOL_BENCH_BATCH", 32)));
        var oracle = problem.Result(Pass, 1);
        double diff = ConvProblem.MaxRelativeDifference(problem.Result(Pass, Version), oracle);
        if (diff > 1e-3)
            throw new InvalidOperationException($"conv2d {Pass} v{Version} on {Layer}: max relative difference to v1 {diff:G3}");
    }

    [Benchmark]
    public void Run()
    {
        problem!.Run(Pass, Version);
        device.Value.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => problem?.Dispose();

    /// <summary>In-process short runs with the GFLOP/s column.</summary>
    public static IConfig Config() => DefaultConfig.Instance
        .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
        .AddColumn(new GflopsColumn())
        .WithOptions(ConfigOptions.DisableOptimizationsValidator);

    /// <summary>2·MACs of the case's conv pass divided by its mean time.</summary>
    sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOPs";
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2·multiply-adds of the pass / mean time, in 10⁹ per second";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats is null || benchmarkCase.Parameters["Layer"] is not ConvLayer layer)
                return "-";
            double flops = 2.0 * layer.Shape(Env("BYOL_BENCH_BATCH", 32)).MultiplyAdds;
            return (flops / stats.Mean).ToString("F1", CultureInfo.InvariantCulture);   // Mean is in ns: flops/ns = GFLOP/s
        }
    }
}
