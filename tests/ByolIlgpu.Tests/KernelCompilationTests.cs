using ByolIlgpu.Engine;
using ByolIlgpu.Tests.Infrastructure;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>Every kernel must compile for CUDA (PTX, no device needed) and for OpenCL (under with-pocl).</summary>
public class KernelCompilationTests
{
    [Fact]
    public void TheCatalogFindsTheKernels()
    {
        var names = KernelCatalog.All.Select(KernelCatalog.NameOf).ToList();
        Assert.Contains("MatmulKernels.MatmulKernel1", names);
        Assert.Contains("MatmulKernels.MatmulKernel3", names);
        Assert.Contains("AdamKernels.AdamUpdateKernel", names);
        Assert.DoesNotContain(names, n => n.Contains("DotRowColumn"));
    }

    [Fact]
    public void EveryKernelCompilesForPtx()
    {
        var failures = new List<string>();
        foreach (var kernel in KernelCatalog.All)
        {
            try
            {
                var ptx = KernelCatalog.CompilePtx(kernel);
                if (!ptx.Contains(".entry"))
                    failures.Add($"{KernelCatalog.NameOf(kernel)}: no .entry in the PTX");
            }
            catch (Exception e)
            {
                failures.Add($"{KernelCatalog.NameOf(kernel)}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(failures.Count == 0, "kernels that do not compile for PTX:\n" + string.Join("\n", failures));
    }

    [Fact]
    [Trait("Backend", "OpenCL")]
    public void EveryKernelCompilesForOpenCl()
    {
        var device = TestDevices.OpenCl;
        var failures = KernelCatalog.All
            .Select(k => (k, error: KernelCatalog.TryCompile(device.Accelerator, k)))
            .Where(r => r.error is not null)
            .Select(r => $"{KernelCatalog.NameOf(r.k)}: {r.error}")
            .ToList();
        Assert.True(failures.Count == 0, "kernels that do not compile for OpenCL:\n" + string.Join("\n", failures));
    }
}

public class DeviceTests
{
    [Fact]
    public void CpuIsAlwaysListed()
    {
        var devices = ComputeDevice.List();
        Assert.Contains(devices, d => d.Kind == DeviceKind.Cpu && d.MaxGroupSize >= 1);
    }

    [Theory]
    [InlineData("auto", null, 0)]
    [InlineData("cpu", DeviceKind.Cpu, 0)]
    [InlineData("OpenCL:1", DeviceKind.OpenCL, 1)]
    [InlineData("cuda:0", DeviceKind.Cuda, 0)]
    public void SpecsParse(string spec, DeviceKind? kind, int index) =>
        Assert.Equal((kind, index), ComputeDevice.ParseSpec(spec));

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("cpu:0:1")]
    [InlineData("auto:1")]
    public void BadSpecsAreClearErrors(string spec)
    {
        var e = Assert.Throws<InvalidDeviceSpecException>(() => ComputeDevice.ParseSpec(spec));
        Assert.Contains(spec, e.Message);
    }

    [Fact]
    public void AMissingDeviceNamesWhatIsThere()
    {
        var e = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Create("cpu:7"));
        Assert.Contains("cpu:7", e.Message);
        Assert.Contains("cpu:0", e.Message);
    }
}
