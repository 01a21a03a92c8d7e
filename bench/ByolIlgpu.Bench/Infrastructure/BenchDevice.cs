using ByolIlgpu.Engine;

namespace ByolIlgpu.Bench;

/// <summary>
/// The device every benchmark runs on, chosen once per process by BYOL_BENCH_DEVICE (auto, cpu,
/// opencl, cuda[:i]); benchmarks run in-process (no SDK needed on the GPU machine), so one device
/// and its compiled kernels serve the whole run.
/// </summary>
public static class BenchDevice
{
    static readonly Lazy<ComputeDevice> device = new(() =>
        ComputeDevice.Create(Environment.GetEnvironmentVariable("BYOL_BENCH_DEVICE") ?? "auto"));

    public static ComputeDevice Current => device.Value;

    /// <summary>True on ILGPU's CPU accelerator, where only small shapes are affordable.</summary>
    public static bool IsCpuAccelerator => Current.Kind == DeviceKind.Cpu;

    /// <summary>
    /// Peak FP32 GFLOP/s, and how it was obtained. CPU and PoCL: cores × nominal clock × 64 FLOP/cycle (two
    /// 16-wide AVX-512 FMA pipes; /proc/cpuinfo's MHz; turbo clocks exceed it). CUDA: multiprocessors × 128 FP32 lanes × 2 × the
    /// boost clock ILGPU reports. An upper bound, not a measurement.
    /// </summary>
    public static (double Gflops, string How) Peak
    {
        get
        {
            var d = Current;
            if (d.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda)
            {
                double ghz = cuda.ClockRate / 1e6;   // kHz → GHz
                return (d.Info.Multiprocessors * 128 * 2 * ghz, $"{d.Info.Multiprocessors} SMs × 128 lanes × 2 × {ghz:F2} GHz");
            }
            double mhz = CpuMegahertz();
            int cores = Environment.ProcessorCount;
            return (cores * mhz / 1000 * 64, $"{cores} cores × {mhz / 1000:F2} GHz (nominal) × 64 FLOP/cycle");
        }
    }

    static double CpuMegahertz()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("cpu MHz", StringComparison.Ordinal))
                    return double.Parse(line.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return 2000;
    }
}

/// <summary>What one invocation of a benchmark computes: FLOPs for compute-bound kernels, bytes moved for memory-bound ones.</summary>
public interface IWork
{
    double Flops { get; }
    double Bytes { get; }
}
