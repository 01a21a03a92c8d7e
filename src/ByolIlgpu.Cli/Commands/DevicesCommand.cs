using System.CommandLine;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>`byol devices`: every accelerator ILGPU finds, in the order `--device auto` prefers them.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the ILGPU devices found on this machine (CUDA, OpenCL, CPU) and how to select them with --device.");
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var devices = ComputeDevice.List();
            output.WriteLine($"{"device",-10} {"name",-44} {"memory",10} {"warp",6} {"max group",10} {"MPs",5}");
            foreach (var d in devices)
                output.WriteLine($"{d.Spec,-10} {Truncate(d.Name, 44),-44} {FormatBytes(d.MemoryBytes),10} {d.WarpSize,6} {d.MaxGroupSize,10} {d.Multiprocessors,5}");
            output.WriteLine();
            if (!devices.Any(d => d.Kind == DeviceKind.Cuda))
                output.WriteLine($"CUDA unavailable: {CudaAvailability.WhyNoDevice(0)}");
            output.WriteLine("Precision and kernel versions each device runs by default (--precision tf32|fp32 chooses):");
            foreach (var d in devices)
                output.WriteLine($"  {d.Spec,-10} {Details(d)}");
            if (devices.FirstOrDefault(d => d.Kind == DeviceKind.OpenCL && d.Name.StartsWith("cpu", StringComparison.OrdinalIgnoreCase)) is { } pocl)
                output.WriteLine($"FP32 peak of {pocl.Spec} (PoCL): {CpuPeak.ForThisMachine(pocl.Name).Describe()}");
            output.WriteLine($"FP32 peak of the CPU accelerator: {CpuPeak.ForThisMachine().Describe()}");
            output.WriteLine();
            output.WriteLine($"Fast versions are checked against v1 on the device at first use ({KernelVerification.Variable}=0: off; `byol bench` reports the checks).");
            output.WriteLine("Select one with --device auto|cuda|opencl|cpu[:INDEX]; auto takes CUDA, then OpenCL, then the CPU.");
            return CommandLine.Ok;
        });
        return command;
    }

    /// <summary>The device policy's kernel versions; for CUDA first the compute capability, driver and PTX ISA, or why it cannot run.</summary>
    static string Details(DeviceInfo d)
    {
        var precision = DevicePolicy.DefaultPrecision(d);
        var policy = DevicePolicy.For(d, d.WarpSize).WithPrecision(precision);
        string kernels = $"{precision.Name()}: {policy.Describe()}" + (policy.UsesRegisterBlocks ? $", {DevicePolicy.BlockLanesSource(d)}" : "");
        if (d.Cuda is not { } cuda)
            return kernels;
        string about = $"compute capability {cuda.Major}.{cuda.Minor}, CUDA driver {CudaProbe.FormatVersion(cuda.DriverVersion)}, PTX ISA {cuda.PtxIsa ?? "none"}";
        return CudaAvailability.ProblemOf(d) is { } problem ? $"{about}; unusable: {problem}" : $"{about}; {kernels}";
    }

    static string Truncate(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    static string FormatBytes(long bytes) => ComputeDevice.FormatBytes(bytes, gibDigits: 1);
}
