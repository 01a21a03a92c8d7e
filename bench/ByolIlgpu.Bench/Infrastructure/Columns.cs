using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ByolIlgpu.Bench;

/// <summary>
/// Columns computed from each case's mean time and its <see cref="IWork"/>: GFLOP/s (or GB/s for
/// memory-bound kernels), the fraction of the device's peak, and the speed ratio to the peer case
/// (the method named "Torch…" with the same parameters, measured in the same run).
/// </summary>
public sealed class WorkColumn(string name, Func<IWork, double, double?> value, string legend) : IColumn
{
    public static readonly WorkColumn Gflops = new("GFLOP/s", (w, ns) => w.Flops > 0 ? w.Flops / ns : null, "FP32 operations per second (2 per multiply-add)");
    public static readonly WorkColumn GBps = new("GB/s", (w, ns) => w.Bytes > 0 ? w.Bytes / ns : null, "bytes read and written per second (memory-bound kernels)");
    public static readonly WorkColumn PeakFraction = new("Peak", (w, ns) => w.Flops > 0 && BenchDevice.Peak.Gflops is double peak ? w.Flops / ns / peak : null,
        "fraction of the device's FP32 peak (BenchDevice.Peak says how it is obtained; - when the peak is unknown)");

    public string Id => "Work." + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var work = WorkOf(benchmarkCase);
        if (report?.ResultStatistics is null || work is null)
            return "-";
        var v = value(work, report.ResultStatistics.Mean);
        return v is null ? "-" : name == "Peak" ? $"{v:P1}" : $"{v:F1}";
    }

    /// <summary>Builds an instance of the benchmark class with the case's parameters to ask it for its work.</summary>
    public static IWork? WorkOf(BenchmarkCase c)
    {
        if (Activator.CreateInstance(c.Descriptor.Type) is not IWork work)
            return null;
        foreach (var p in c.Parameters.Items)
            c.Descriptor.Type.GetProperty(p.Name)?.SetValue(work, p.Value);
        // The work may depend on the method (e.g. forward vs backward): let the instance know.
        if (work is IMethodAware aware)
            aware.Method = c.Descriptor.WorkloadMethod.Name;
        return work;
    }
}

/// <summary>A benchmark class whose work differs between its methods.</summary>
public interface IMethodAware
{
    string Method { set; }
}

/// <summary>Our speed relative to the peer: peer time / our time (&gt; 1: faster than the peer).</summary>
public sealed class PeerRatioColumn : IColumn
{
    public string Id => "PeerRatio";
    public string ColumnName => "vs Torch";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "speed relative to TorchSharp-cpu (libtorch) on the same op and shape in this run: peer time / our time";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        if (method.StartsWith("Torch", StringComparison.Ordinal))
            return "peer";
        var peer = summary.Reports.Where(r => r.ResultStatistics is not null).Select(r => r.BenchmarkCase).FirstOrDefault(c =>
            c.Descriptor.Type == benchmarkCase.Descriptor.Type &&
            c.Descriptor.WorkloadMethod.Name.StartsWith("Torch", StringComparison.Ordinal) &&
            PeerPass(c.Descriptor.WorkloadMethod.Name) == PeerPass(method) &&
            SameParametersExceptVersion(c, benchmarkCase));
        var ours = summary[benchmarkCase]?.ResultStatistics;
        var theirs = peer is null ? null : summary[peer]?.ResultStatistics;
        return ours is null || theirs is null ? "-" : $"{theirs.Mean / ours.Mean:F2}x";
    }

    /// <summary>The peer runs once per shape (the Version-0 row); it pairs with every version's row.</summary>
    static bool SameParametersExceptVersion(BenchmarkCase a, BenchmarkCase b) =>
        a.Parameters.Items.Where(p => p.Name != "Version").Select(p => $"{p.Name}={p.Value}")
            .SequenceEqual(b.Parameters.Items.Where(p => p.Name != "Version").Select(p => $"{p.Name}={p.Value}"));

    /// <summary>"TorchForward" pairs with "Forward", "ForwardV2", …: the pass name after the prefix, without a version suffix.</summary>
    static string PeerPass(string method)
    {
        var name = method.StartsWith("Torch", StringComparison.Ordinal) ? method[5..] : method;
        int v = name.LastIndexOf('V');
        return v > 0 && v < name.Length - 1 && name[(v + 1)..].All(char.IsDigit) ? name[..v] : name;
    }
}
