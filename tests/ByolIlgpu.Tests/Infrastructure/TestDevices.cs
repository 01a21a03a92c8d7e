using ByolIlgpu.Engine;
using Xunit;


namespace ByolIlgpu.Tests.Infrastructure;

/// <summary>
/// One device per backend for the whole test run (kernels compile once per device; PoCL takes
/// 0.2–1 s per kernel). Tests run one at a time: an accelerator's default stream is shared.
/// </summary>
public static class TestDevices
{
    static readonly Lazy<ComputeDevice> cpu = new(() => ComputeDevice.Create("cpu"));
    static readonly Lazy<ComputeDevice?> openCl = new(() =>
    {
        try { return ComputeDevice.Create("opencl"); }
        catch (DeviceNotFoundException) { return null; }
    });

    /// <summary>The CUDA device, or why there is none (the driver's cause, from <see cref="CudaProbe"/>).</summary>
    static readonly Lazy<(ComputeDevice? Device, string? Why)> cuda = new(() =>
    {
        try { return (ComputeDevice.Create("cuda"), null); }
        catch (DeviceNotFoundException e) { return (null, e.Message); }
    });

    public static ComputeDevice Cpu => cpu.Value;

    static readonly Lazy<ComputeDevice> cpuWarps32 = new(() => ComputeDevice.CreateCpu(threadsPerWarp: 32, warpsPerGroup: 8));

    /// <summary>
    /// The CPU accelerator with NVIDIA's warp of 32 lanes and groups of up to 256 threads: the GPU
    /// kernels (tensor-core fragments span a warp) at tiny shapes. Each thread is an OS thread.
    /// </summary>
    public static ComputeDevice CpuWarps32 => cpuWarps32.Value;

    /// <summary>
    /// The CUDA device; when there is none a skipped test saying why, or under BYOL_REQUIRE_CUDA=1
    /// (the GPU runs) a failed one: a GPU run whose CUDA tests all skip would pass without testing anything.
    /// </summary>
    public static ComputeDevice Cuda => cuda.Value.Device ?? throw (CudaAvailability.Required
        ? new InvalidOperationException($"{CudaAvailability.RequireVariable}=1 but {cuda.Value.Why}")
        : Skip($"no CUDA device: {cuda.Value.Why}"));

    /// <summary>The OpenCL device, or a skipped test when there is none (run under ../shared/opencl/with-pocl).</summary>
    public static ComputeDevice OpenCl => openCl.Value ?? throw Skip("no OpenCL device: run the tests under ../shared/opencl/with-pocl");

    static Exception Skip(string why)
    {
        Assert.Skip(why);
        return new InvalidOperationException(why);
    }
}

/// <summary>
/// A test class written once and run per backend (as ILGPU's own tests do): subclasses say which
/// device and how large the shapes may be (tiny on the CPU accelerator, realistic on OpenCL).
/// </summary>
public abstract class BackendTest
{
    protected abstract ComputeDevice Device { get; }

    /// <summary>True where realistic shapes are affordable (OpenCL, GPUs).</summary>
    protected abstract bool Large { get; }

    /// <summary>Skips the test on backends with realistic shapes: finite differences cost a reference forward per input.</summary>
    protected void SkipUnlessTiny(string what)
    {
        if (Large)
            Assert.Skip($"{what}: finite differences run at the CPU backend's tiny shapes only (a reference forward per input)");
    }

    protected Tape NewTape()
    {
        Device.Pool.ReleaseAll();
        return new Tape(Device);
    }
}
