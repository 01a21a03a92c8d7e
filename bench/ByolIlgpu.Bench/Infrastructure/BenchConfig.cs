using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace ByolIlgpu.Bench;

/// <summary>
/// One short in-process job (no SDK needed, so it also runs from a self-contained publish on a GPU
/// machine): 1 warm-up, 5 measured iterations, each invocation synchronises the accelerator.
/// BYOL_BENCH_LONG=1 uses BenchmarkDotNet's default iteration counts.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        var job = Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithLaunchCount(1);
        if (Environment.GetEnvironmentVariable("BYOL_BENCH_LONG") != "1")
            job = job.WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1);
        AddJob(job);
        AddColumn(WorkColumn.Gflops, WorkColumn.GBps, WorkColumn.PeakFraction, new PeerRatioColumn());
        AddColumnProvider(DefaultColumnProviders.Instance);
        WithOptions(ConfigOptions.DisableOptimizationsValidator | ConfigOptions.JoinSummary);
    }
}
