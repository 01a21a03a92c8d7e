using System.Diagnostics;
using System.Runtime.InteropServices;
using ByolIlgpu.Cli;
using ByolIlgpu.Engine;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// Why CUDA is unavailable, named: the probe in-process against stand-in drivers (<see cref="FakeCuda"/>),
/// and the `byol` program end to end in a subprocess whose loader finds the stand-in first.
/// </summary>
public class CudaProbeTests
{
    static CudaProbeResult Probe(params string[] defines) => CudaProbe.Run(Path.Combine(FakeCuda.Folder(defines), "libcuda.so.1"));

    [Fact]
    public void AMissingLibraryIsNamed()
    {
        var r = CudaProbe.Run("/nonexistent/libcuda.so.1");
        Assert.Equal(CudaProbeOutcome.NoLibrary, r.Outcome);
        Assert.False(r.LibraryPresent);
        Assert.Contains("tried /nonexistent/libcuda.so.1", r.Cause);
    }

    [Fact]
    public void AFileThatIsNoLibraryOrNoDriverIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("byol-not-cuda-").FullName;
        try
        {
            var garbage = Path.Combine(dir, "libcuda.so.1");
            File.WriteAllText(garbage, "not an ELF file");
            var r = CudaProbe.Run(garbage);
            Assert.Equal(CudaProbeOutcome.LoadFailed, r.Outcome);
            Assert.True(r.LibraryPresent);
            Assert.Contains($"{garbage} exists but did not load", r.Cause);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        var unrelated = CudaProbe.Run(FakeCuda.Library("int unrelated(void) { return 0; }\n"));
        Assert.Equal(CudaProbeOutcome.LoadFailed, unrelated.Outcome);
        Assert.Contains("is not a CUDA driver library: it lacks cuInit, cuDriverGetVersion", unrelated.Cause);
    }

    [Theory]
    [InlineData(100, "cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected")]
    [InlineData(34, "cuInit failed: CUDA_ERROR_STUB_LIBRARY (34): CUDA driver is a stub library")]
    [InlineData(3, "cuInit failed: CUDA_ERROR_NOT_INITIALIZED (3): initialization error")]
    [InlineData(35, "cuInit failed: CUDA error (35)")]   // not a driver-API code: the driver names it nothing
    public void ACuInitFailureIsNamedByTheDriver(int code, string expected)
    {
        var r = Probe($"FAKE_CUDA_INIT={code}");
        Assert.Equal(CudaProbeOutcome.InitFailed, r.Outcome);
        Assert.StartsWith(expected, r.Cause);
    }

    [Fact]
    public void WithoutCuGetErrorNameTheProbeNamesTheCodeItself()
    {
        var r = Probe("FAKE_CUDA_INIT=100", "NO_ERROR_NAMES");
        Assert.Equal(CudaProbeOutcome.InitFailed, r.Outcome);
        Assert.StartsWith("cuInit failed: CUDA_ERROR_NO_DEVICE (100) (", r.Cause);
    }

    [Fact]
    public void ADriverOlderThanIlgpusPtxIsNamed()
    {
        var r = Probe("FAKE_CUDA_DRIVER_VERSION=8000");
        Assert.Equal(CudaProbeOutcome.DriverTooOld, r.Outcome);
        Assert.Equal(8000, r.DriverVersion);
        Assert.Contains("CUDA driver 8.0 (8000) is too old", r.Cause);
        Assert.Contains("needs driver 9.0 or newer", r.Cause);
    }

    [Fact]
    public void TheDriverMustAlsoKnowTheDevicesArchitecture()
    {
        // Driver 10.2 knows sm_75 but not sm_80 (ILGPU targets min(sm_80, device)).
        var tooOld = Probe("FAKE_CUDA_DRIVER_VERSION=10020", "FAKE_CUDA_CC=86");
        Assert.Equal(CudaProbeOutcome.DriverTooOld, tooOld.Outcome);
        Assert.Contains("cuda:0 (Fake CUDA device 0, sm_86) needs CUDA driver 11.0 or newer for ILGPU 1.5.3's PTX, found 10.2", tooOld.Cause);
        var fine = Probe("FAKE_CUDA_DRIVER_VERSION=10020", "FAKE_CUDA_CC=75");
        Assert.Equal(CudaProbeOutcome.Available, fine.Outcome);
        Assert.Null(fine.Devices.Single().Problem);
        var ancient = Probe("FAKE_CUDA_CC=21");
        Assert.Equal(CudaProbeOutcome.DriverTooOld, ancient.Outcome);
        Assert.Contains("compute capability 2.1; ILGPU 1.5.3 supports sm_30 and newer", ancient.Cause);
    }

    [Theory]
    [InlineData(2, 0, 9000)]
    [InlineData(6, 1, 9000)]
    [InlineData(7, 0, 9000)]
    [InlineData(7, 2, 9010)]
    [InlineData(7, 5, 10000)]
    [InlineData(8, 0, 11000)]
    [InlineData(8, 6, 11000)]
    [InlineData(9, 0, 11000)]
    [InlineData(12, 0, 11000)]
    public void MinimumDriverFollowsIlgpusTables(int major, int minor, int expected) =>
        Assert.Equal(expected, CudaProbe.MinimumDriverFor(major, minor));

    [Fact]
    public void ADriverWithoutDevicesIsNamed()
    {
        var r = Probe("FAKE_CUDA_DEVICES=0");
        Assert.Equal(CudaProbeOutcome.NoDevices, r.Outcome);
        Assert.Contains("the CUDA driver 12.4 reports no devices (cuDeviceGetCount = 0)", r.Cause);
    }

    [Fact]
    public void AWorkingDriverListsItsDevices()
    {
        var r = Probe("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_CC=90", "FAKE_CUDA_DRIVER_VERSION=12040");
        Assert.Equal(CudaProbeOutcome.Available, r.Outcome);
        Assert.Null(r.Cause);
        Assert.Equal(12040, r.DriverVersion);
        Assert.Equal(["Fake CUDA device 0", "Fake CUDA device 1"], r.Devices.Select(d => d.Name));
        Assert.All(r.Devices, d => Assert.Equal("9.0", d.ComputeCapability));
        Assert.All(r.Devices, d => Assert.Equal(11000, d.MinimumDriverVersion));
    }

    /// <summary>This machine (no NVIDIA driver): the cause is the missing library, and `--device cuda` says so.</summary>
    [Fact]
    public void WithoutADriverHereTheMissingLibraryIsTheCause()
    {
        var probe = CudaProbe.System;
        if (probe.LibraryPresent)
            Assert.Skip($"a CUDA driver library is present here ({probe.LibraryPath ?? probe.Cause}): this test is for machines without one");
        Assert.Equal(CudaProbeOutcome.NoLibrary, probe.Outcome);
        Assert.Contains("no CUDA driver library (libcuda) found: tried libcuda.so.1", probe.Cause);
        var e = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Create("cuda"));
        Assert.Equal($"device 'cuda' is not available: {probe.Cause}", e.Message);

        var output = new StringWriter();
        Assert.Equal(0, CommandLine.Run(ByolProgram.CreateRoot(), ["devices"], output, new StringWriter()));
        Assert.Contains($"CUDA unavailable: {probe.Cause}", output.ToString());
    }

    // ---- end to end: `byol` in a subprocess whose loader finds the stand-in libcuda.so.1 first ----

    /// <summary>Runs `dotnet byol.dll ARGS` from the test's output folder with the loader looking in <paramref name="libraryFolder"/> first; BYOL_REQUIRE_CUDA only when asked.</summary>
    static (int Code, string Output, string Error) Byol(string libraryFolder, Dictionary<string, string> environment, params string[] args)
    {
        var start = Infrastructure.ByolProcess.StartInfo(args);
        start.Environment["LD_LIBRARY_PATH"] = libraryFolder;
        start.Environment.Remove(CudaAvailability.RequireVariable);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"byol {string.Join(' ', args)} did not finish in 2 minutes");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    static string[] Train(string runDir, string device) =>
        ["train", "--synthetic", "8", "--epochs", "1", "--batch-size", "4", "--width", "2", "--proj-hidden", "8", "--proj-out", "4",
            "--pred-hidden", "8", "--device", device, "--run-dir", runDir];

    static void AssertOneLineUsageError((int Code, string Output, string Error) r, string cause)
    {
        Assert.True(r.Code == 2, $"exit code {r.Code}, expected 2; stderr: {r.Error}");
        var lines = r.Error.TrimEnd().Split('\n');
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{r.Error}");
        Assert.StartsWith("byol: ", lines[0]);
        Assert.Contains(cause, lines[0]);
    }

    [Theory]
    [InlineData("FAKE_CUDA_INIT", "100", "cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected")]
    [InlineData("FAKE_CUDA_DRIVER_VERSION", "8000", "CUDA driver 8.0 (8000) is too old")]
    [InlineData("FAKE_CUDA_DEVICES", "0", "the CUDA driver 12.4 reports no devices (cuDeviceGetCount = 0)")]
    public void DeviceCudaThatCannotBeMetExitsTwoNamingTheCause(string variable, string value, string cause)
    {
        var folder = FakeCuda.Folder();
        var env = new Dictionary<string, string> { [variable] = value };
        var runDir = Directory.CreateTempSubdirectory("byol-cuda-").FullName;
        try
        {
            AssertOneLineUsageError(Byol(folder, env, Train(runDir, "cuda")), $"device 'cuda' is not available: {cause}");
            var devices = Byol(folder, env, "devices");
            Assert.True(devices.Code == 0, devices.Error);
            Assert.Contains($"CUDA unavailable: ", devices.Output);
            Assert.Contains(cause, devices.Output);
            Assert.Contains($"({Path.Combine(folder, "libcuda.so.1")})", devices.Output);   // which library answered
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>A driver that works up to context creation: ILGPU lists the device, and its exception is the cause.</summary>
    [Fact]
    public void IlgpusAcceleratorFailureIsTheCause()
    {
        var folder = FakeCuda.Folder();
        var env = new Dictionary<string, string> { ["FAKE_CUDA_CTX_CREATE"] = "2" };
        var devices = Byol(folder, env, "devices");
        Assert.True(devices.Code == 0, devices.Error);
        Assert.Contains("cuda:0", devices.Output);
        Assert.Contains("Fake CUDA device 0", devices.Output);
        Assert.Contains("compute capability 9.0, CUDA driver 12.4, PTX ISA ", devices.Output);
        Assert.Contains("conv2d v5, matmul v4, batchnorm2d v2 (1d v1)", devices.Output);   // compute capability 9.0: tf32
        Assert.DoesNotContain("CUDA unavailable", devices.Output);

        var runDir = Directory.CreateTempSubdirectory("byol-cuda-").FullName;
        try
        {
            var r = Byol(folder, env, Train(runDir, "cuda"));
            AssertOneLineUsageError(r, "device 'cuda' is not available: ILGPU could not create the accelerator for cuda:0 (Fake CUDA device 0): ");
            Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY: out of memory", r.Error);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>The driver is fine by the probe, but ILGPU drops the device: ILGPU's own exception is the cause.</summary>
    [Fact]
    public void ADeviceIlgpuDropsIsExplainedByIlgpusException()
    {
        var folder = FakeCuda.Folder();
        var env = new Dictionary<string, string> { ["FAKE_CUDA_TOTAL_MEM"] = "999" };
        var runDir = Directory.CreateTempSubdirectory("byol-cuda-").FullName;
        try
        {
            AssertOneLineUsageError(Byol(folder, env, Train(runDir, "cuda")),
                "device 'cuda' is not available: the CUDA driver 12.4 reports 1 device(s) (Fake CUDA device 0, sm_90), but ILGPU 1.5.3 lists none: CUDA_ERROR_UNKNOWN: unknown error");
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void DeviceAutoFallsBackWithOneWarningUnlessCudaIsRequired()
    {
        var folder = FakeCuda.Folder();
        var outDir = Directory.CreateTempSubdirectory("byol-auto-").FullName;
        try
        {
            string[] augment = ["augment", "--synthetic", "4", "--count", "1", "--device", "auto", "--out", Path.Combine(outDir, "grid.png")];
            var failing = new Dictionary<string, string> { ["FAKE_CUDA_INIT"] = "100" };
            var r = Byol(folder, failing, augment);
            Assert.True(r.Code == 0, r.Error);
            var warning = Assert.Single(r.Error.TrimEnd().Split('\n'));
            Assert.StartsWith("warning: CUDA is unavailable, device 'auto' falls back to ", warning);
            Assert.Contains("CUDA_ERROR_NO_DEVICE (100)", warning);

            // Under BYOL_REQUIRE_CUDA=1 (the GPU runs) auto refuses to fall back.
            AssertOneLineUsageError(Byol(folder, new(failing) { [CudaAvailability.RequireVariable] = "1" }, augment),
                "device 'auto': CUDA is required (BYOL_REQUIRE_CUDA=1) but unavailable: cuInit failed: CUDA_ERROR_NO_DEVICE (100)");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public void DeviceAutoIsSilentWithoutADriver()
    {
        if (CudaProbe.System.LibraryPresent)
            Assert.Skip($"a CUDA driver library is present here ({CudaProbe.System.LibraryPath ?? CudaProbe.System.Cause}): the loader would find it");
        var empty = Directory.CreateTempSubdirectory("byol-no-cuda-").FullName;
        try
        {
            var r = Byol(empty, [], "augment", "--synthetic", "4", "--count", "1", "--device", "auto", "--out", Path.Combine(empty, "grid.png"));
            Assert.True(r.Code == 0, r.Error);
            Assert.Equal("", r.Error);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }
}
