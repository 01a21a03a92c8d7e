using ByolIlgpu.Engine;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The FP32 peak rule (<see cref="CpuPeak"/>) on /proc/cpuinfo fixtures of the CPUs it has to tell apart.</summary>
public class CpuPeakTests
{
    const string Avx2Flags = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2";
    const string Avx512Flags = Avx2Flags + " avx512f avx512dq avx512cd avx512bw avx512vl";

    static string CpuInfoText(string vendor, int family, int model, string name, string flags, int siblings = 2, int cores = 2, string mhz = "2450.000") => $"""
        processor	: 0
        vendor_id	: {vendor}
        cpu family	: {family}
        model		: {model}
        model name	: {name}
        stepping	: 0
        cpu MHz		: {mhz}
        siblings	: {siblings}
        cpu cores	: {cores}
        flags		: {flags}

        processor	: 1
        vendor_id	: {vendor}
        flags		: fpu
        """;

    static readonly string EpycRomeZen2 = CpuInfoText("AuthenticAMD", 23, 49, "AMD EPYC 7B12", Avx2Flags + " hypervisor", siblings: 4, cores: 2);
    static readonly string EpycMilanZen3 = CpuInfoText("AuthenticAMD", 25, 1, "AMD EPYC 7B13", Avx2Flags);
    static readonly string EpycGenoaZen4 = CpuInfoText("AuthenticAMD", 25, 17, "AMD EPYC 9B14", Avx512Flags);
    static readonly string XeonSkylakeSp = CpuInfoText("GenuineIntel", 6, 85, "Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", Avx512Flags);
    static readonly string XeonSilverSkylake = CpuInfoText("GenuineIntel", 6, 85, "Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz", Avx512Flags);
    static readonly string XeonHaswell = CpuInfoText("GenuineIntel", 6, 63, "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", Avx2Flags);
    static readonly string UnknownCpu = CpuInfoText("HygonGenuine", 24, 1, "Hygon C86 7185 32-core Processor", "fpu sse sse2 avx");

    static CpuPeak Peak(string cpuinfo, CpuEnvironment? env = null) =>
        CpuPeak.Estimate(CpuInfo.Parse(cpuinfo), env ?? new CpuEnvironment(ProcessorCount: 2, GhzOverride: "3.0"));

    [Fact]
    public void ParsesTheFirstProcessorBlockOnly()
    {
        var cpu = CpuInfo.Parse(EpycGenoaZen4);
        Assert.Equal(("AuthenticAMD", 25, 17, "AMD EPYC 9B14"), (cpu.Vendor, cpu.Family, cpu.Model, cpu.ModelName));
        Assert.Contains("avx512f", cpu.Flags);
        Assert.Equal(CpuIsa.Avx512, cpu.Isa);
        Assert.Equal(2450.0, cpu.Megahertz);
    }

    [Fact]
    public void Zen2IsAvx2At32()
    {
        var p = Peak(EpycRomeZen2);
        Assert.Equal(("Zen 2", CpuIsa.Avx2, "AVX2", 32), (p.Microarchitecture, p.Isa, p.IsaLabel, p.FlopsPerCycle));
    }

    [Fact]
    public void Zen3IsAvx2At32()
    {
        var p = Peak(EpycMilanZen3);
        Assert.Equal(("Zen 3", CpuIsa.Avx2, 32), (p.Microarchitecture, p.Isa, p.FlopsPerCycle));
    }

    [Fact]
    public void Zen4sAvx512IsDoublePumpedAt32()
    {
        var p = Peak(EpycGenoaZen4);
        Assert.Equal(("Zen 4", CpuIsa.Avx512, "AVX-512", 32), (p.Microarchitecture, p.Isa, p.IsaLabel, p.FlopsPerCycle));
        Assert.Equal(2 * 3.0 * 32, p.Gflops);
    }

    [Fact]
    public void SkylakeSpPlatinumHasTwo512BitPortsAt64AndItsClockFromTheName()
    {
        var p = Peak(XeonSkylakeSp, new CpuEnvironment(ProcessorCount: 2));
        Assert.Equal(("Skylake-SP/Cascade Lake", CpuIsa.Avx512, "AVX-512", 64), (p.Microarchitecture, p.Isa, p.IsaLabel, p.FlopsPerCycle));
        Assert.Equal(2.5, p.Ghz);
        Assert.Equal(2 * 2.5 * 64, p.Gflops);
    }

    [Fact]
    public void SkylakeSpSilverHasOne512BitPortAt32()
    {
        Assert.Equal(32, Peak(XeonSilverSkylake).FlopsPerCycle);
    }

    [Fact]
    public void SkylakeSpHeldToAvx2ByPoclRunsAt32()
    {
        var p = Peak(XeonSkylakeSp, new CpuEnvironment(ProcessorCount: 2, PoclCpuName: "haswell", GhzOverride: "3.0"));
        Assert.Equal((CpuIsa.Avx2, 32), (p.Isa, p.FlopsPerCycle));
        Assert.StartsWith("held to AVX2 (POCL_LLVM_CPU_NAME=haswell", p.IsaLabel);
    }

    [Fact]
    public void PoclsDeviceNameAndOnednnLimitHoldTheIsaToo()
    {
        var byDevice = Peak(EpycGenoaZen4, new CpuEnvironment(ProcessorCount: 2, OpenClDeviceName: "cpu-haswell-AMD EPYC 9B14", GhzOverride: "3"));
        Assert.Equal(CpuIsa.Avx2, byDevice.Isa);
        Assert.StartsWith("held to AVX2 (PoCL compiles for haswell", byDevice.IsaLabel);
        var native = Peak(EpycGenoaZen4, new CpuEnvironment(ProcessorCount: 2, OpenClDeviceName: "cpu-znver4-AMD EPYC 9B14", GhzOverride: "3"));
        Assert.Equal(("AVX-512", CpuIsa.Avx512), (native.IsaLabel, native.Isa));
        var skylakeAvx512 = Peak(XeonSkylakeSp, new CpuEnvironment(ProcessorCount: 2, OpenClDeviceName: "cpu-skylake-avx512-Intel(R) Xeon(R)"));
        Assert.Equal((CpuIsa.Avx512, 64), (skylakeAvx512.Isa, skylakeAvx512.FlopsPerCycle));
        var onednn = Peak(XeonSkylakeSp, new CpuEnvironment(ProcessorCount: 2, OnednnMaxIsa: "AVX2"));
        Assert.Equal((CpuIsa.Avx2, 32), (onednn.Isa, onednn.FlopsPerCycle));
        Assert.Contains("ONEDNN_MAX_CPU_ISA=AVX2", onednn.IsaLabel);
    }

    [Fact]
    public void HaswellIsAvx2At32()
    {
        var p = Peak(XeonHaswell, new CpuEnvironment(ProcessorCount: 4, MaxFrequencyKhz: "3000000\n"));
        Assert.Equal(("Intel Haswell or later", CpuIsa.Avx2, 32), (p.Microarchitecture, p.Isa, p.FlopsPerCycle));
        Assert.Equal((3.0, "max, cpuinfo_max_freq"), (p.Ghz, p.ClockHow));
        Assert.Equal(4 * 3.0 * 32, p.Gflops);
    }

    [Fact]
    public void UnknownCpuGivesNoPeakAndSaysSo()
    {
        var p = Peak(UnknownCpu);
        Assert.Null(p.FlopsPerCycle);
        Assert.Null(p.Gflops);
        Assert.StartsWith("unknown:", p.Describe());
    }

    [Fact]
    public void SmtSiblingsAreCountedOnce()
    {
        var p = Peak(EpycRomeZen2, new CpuEnvironment(ProcessorCount: 4, GhzOverride: "2.0"));
        Assert.Equal(2, p.Cores);
        Assert.Equal(2 * 2.0 * 32, p.Gflops);
    }

    [Fact]
    public void ClockIsUnknownWithoutASourceAndTakenFromTheTscRateUnderAHypervisor()
    {
        var bare = Peak(EpycMilanZen3, new CpuEnvironment(ProcessorCount: 2));
        Assert.Null(bare.Ghz);
        Assert.Null(bare.Gflops);
        Assert.Contains("clock unknown", bare.Describe());
        var vm = Peak(EpycMilanZen3.Replace("avx2", "avx2 hypervisor tsc_known_freq"), new CpuEnvironment(ProcessorCount: 2));
        Assert.Equal(2.45, vm.Ghz);
    }
}
