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
    /// Peak FP32 GFLOP/s (null when unknown), and how it was obtained. CPU and PoCL: <see cref="CpuPeak"/>, cores × clock ×
    /// FP32 FLOP/cycle from the CPU model and the instruction set the code runs (PoCL's target). CUDA: multiprocessors ×
    /// 128 FP32 lanes × 2 × the boost clock ILGPU reports. An upper bound, not a measurement.
    /// </summary>
    public static (double? Gflops, string How) Peak => peak.Value;

    static readonly Lazy<(double?, string)> peak = new(() =>
    {
        var d = Current;
        if (d.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda)
        {
            double ghz = cuda.ClockRate / 1e6;   // kHz → GHz
            double gflops = d.Info.Multiprocessors * 128 * 2 * ghz;
            return (gflops, $"{gflops:F0} GFLOP/s: {d.Info.Multiprocessors} SMs × 128 lanes × 2 × {ghz:F2} GHz");
        }
        if (d.Kind == DeviceKind.OpenCL && !d.Info.Name.StartsWith("cpu", StringComparison.OrdinalIgnoreCase))
            return (null, $"unknown: OpenCL device {d.Info.Name} is not PoCL's CPU device");
        var cpu = CpuPeak.ForThisMachine(d.Kind == DeviceKind.OpenCL ? d.Info.Name : null);
        return (cpu.Gflops, cpu.Describe());
    });
}

/// <summary>What one invocation of a benchmark computes: FLOPs for compute-bound kernels, bytes moved for memory-bound ones.</summary>
public interface IWork
{
    double Flops { get; }
    double Bytes { get; }
}
