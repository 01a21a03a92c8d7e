using System.Globalization;
using System.Runtime.Intrinsics.X86;

namespace ByolIlgpu.Engine;

/// <summary>The widest x86 vector instruction set with fused multiply-add that code runs on.</summary>
public enum CpuIsa { Other, Avx2, Avx512 }

/// <summary>The first processor block of /proc/cpuinfo: what the CPU says it is.</summary>
public sealed record CpuInfo(string Vendor, int Family, int Model, string ModelName, IReadOnlySet<string> Flags,
    double? Megahertz, int? Siblings, int? Cores)
{
    public static CpuInfo Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Trim().Length == 0 && fields.Count > 0)
                break;   // only the first processor
            int colon = line.IndexOf(':');
            if (colon > 0)
                fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
        }
        string Get(string key) => fields.TryGetValue(key, out var v) ? v : "";
        int? Int(string key) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
        double? mhz = double.TryParse(Get("cpu MHz"), NumberStyles.Float, CultureInfo.InvariantCulture, out double m) ? m : null;
        return new CpuInfo(Get("vendor_id"), Int("cpu family") ?? -1, Int("model") ?? -1, Get("model name"),
            Get("flags").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal), mhz, Int("siblings"), Int("cpu cores"));
    }

    /// <summary>What the flags allow: AVX-512 (avx512f), AVX2 with FMA, or neither.</summary>
    public CpuIsa Isa => Flags.Contains("avx512f") ? CpuIsa.Avx512 : Flags.Contains("avx2") && Flags.Contains("fma") ? CpuIsa.Avx2 : CpuIsa.Other;
}

/// <summary>What the process and its environment say, beside /proc/cpuinfo; <see cref="CpuPeak.ForThisMachine"/> reads them.</summary>
/// <param name="ProcessorCount">Environment.ProcessorCount: the logical CPUs this process may use (affinity and cgroup limits included).</param>
/// <param name="MaxFrequencyKhz">/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq, when the kernel exposes it.</param>
/// <param name="OpenClDeviceName">PoCL's device name, e.g. "cpu-haswell-AMD EPYC 7B13"; null when the code does not run on PoCL.</param>
/// <param name="RuntimeIsa">What the .NET runtime will use (System.Runtime.Intrinsics.X86); a cross-check on the flags.</param>
public sealed record CpuEnvironment(int ProcessorCount, string? MaxFrequencyKhz = null, string? OpenClDeviceName = null,
    string? PoclCpuName = null, string? OnednnMaxIsa = null, string? MklInstructions = null, string? GhzOverride = null, CpuIsa? RuntimeIsa = null);

/// <summary>
/// A CPU's FP32 peak: cores × clock × FP32 FLOP per cycle per core, the last from the microarchitecture (vendor, family,
/// model in /proc/cpuinfo) and the instruction set the code runs. The rule (FMA ports × FP32 lanes × 2):
/// <list type="bullet">
/// <item>AVX2+FMA on Zen 2, Zen 3, Zen 4, Zen 5 and on Intel Haswell and later big cores: 2 × 8 × 2 = 32 (AMD's Software
///   Optimization Guides for families 17h/19h/1Ah: two 256-bit FMA pipes; Intel's Optimization Reference Manual, Haswell: FMA on ports 0 and 1).</item>
/// <item>Zen/Zen+ (family 17h, models below 30h): two 128-bit FMA pipes, 16. Intel E-core-only parts (Alder Lake-N, Sierra Forest): 16.</item>
/// <item>AVX-512 with two 512-bit FMA ports (Skylake-SP/Cascade Lake Platinum and Gold 6xxx, Ice Lake-SP, Sapphire/Emerald/Granite
///   Rapids): 2 × 16 × 2 = 64; one port (Xeon Silver, Bronze, Gold 5xxx but 5122/5222; Ice Lake/Tiger Lake/Rocket Lake client): 32
///   (Intel's Xeon Scalable product briefs list the FMA units per SKU).</item>
/// <item>Zen 4's AVX-512 runs 512-bit operations through 256-bit units in two halves: 32 (AMD Zen 4 Software Optimization Guide).</item>
/// <item>Zen 5 server (Turin, models 00h–1Fh) and desktop (Granite Ridge, 40h–4Fh) with the full 512-bit datapath: 64; mobile Strix
///   Point (20h–2Fh), 256-bit: 32. From AMD's Zen 5 presentations (Hot Chips 2024); not measured by this project.</item>
/// <item>Anything else, and Intel hybrid parts whose P- and E-cores differ: unknown, not guessed.</item>
/// </list>
/// Cores are the process's logical CPUs divided by the SMT threads per core (siblings ÷ cpu cores): SMT siblings share
/// one core's FMA units, so they are counted once. The clock is BYOL_CPU_GHZ when set, else cpuinfo_max_freq (the max
/// boost clock), else the model name's "@ x.xGHz" (nominal), else, under a hypervisor that reports the TSC rate
/// (flag tsc_known_freq), cpuinfo's "cpu MHz" (the host's TSC rate, on AMD and recent Intel the nominal clock); else unknown.
/// An upper bound on FP32 throughput, not a measurement; all-core turbo clocks can exceed a nominal one.
/// </summary>
public sealed record CpuPeak(string Microarchitecture, CpuIsa Isa, string IsaLabel, int? FlopsPerCycle, string RateNote,
    int Cores, string CoresHow, double? Ghz, string ClockHow)
{
    public const string GhzVariable = "BYOL_CPU_GHZ";

    /// <summary>Peak FP32 GFLOP/s, or null when the rate or the clock is unknown.</summary>
    public double? Gflops => FlopsPerCycle is int f && Ghz is double g ? Cores * g * f : null;

    public string Describe()
    {
        string rate = FlopsPerCycle is int f ? $"{f} FP32 FLOP/cycle/core" : $"FLOP/cycle unknown ({RateNote})";
        string clock = Ghz is double g ? $"{g:F2} GHz ({ClockHow})" : $"clock unknown ({ClockHow})";
        string head = Gflops is double p ? $"{p:F0} GFLOP/s" : "unknown";
        return $"{head}: {Microarchitecture}, {IsaLabel}: {CoresHow} × {clock} × {rate}";
    }

    /// <summary>The peak of this machine for code running on PoCL (<paramref name="openClDeviceName"/>) or in .NET (null).</summary>
    public static CpuPeak ForThisMachine(string? openClDeviceName = null)
    {
        string cpuinfo = ReadOrNull("/proc/cpuinfo") ?? "";
        var env = new CpuEnvironment(Environment.ProcessorCount, ReadOrNull("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),
            openClDeviceName, openClDeviceName is null ? null : Environment.GetEnvironmentVariable("POCL_LLVM_CPU_NAME"), Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA"),
            Environment.GetEnvironmentVariable("MKL_ENABLE_INSTRUCTIONS"), Environment.GetEnvironmentVariable(GhzVariable),
            Avx512F.IsSupported ? CpuIsa.Avx512 : Avx2.IsSupported && Fma.IsSupported ? CpuIsa.Avx2 : CpuIsa.Other);
        return Estimate(CpuInfo.Parse(cpuinfo), env);
    }

    static string? ReadOrNull(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public static CpuPeak Estimate(CpuInfo cpu, CpuEnvironment env)
    {
        var (isa, isaLabel) = RunningIsa(cpu, env);
        var (uarch, perCycle, note) = Rate(cpu, isa);
        var (cores, coresHow) = CountCores(cpu, env.ProcessorCount);
        var (ghz, clockHow) = Clock(cpu, env);
        return new CpuPeak(uarch, isa, isaLabel, perCycle, note, cores, coresHow, ghz, clockHow);
    }

    /// <summary>The instruction set the code runs: the flags', lowered by PoCL's target or oneDNN's/MKL's limit ("held to").</summary>
    static (CpuIsa, string) RunningIsa(CpuInfo cpu, CpuEnvironment env)
    {
        var machine = cpu.Isa;
        var isa = machine;
        var holds = new List<string>();
        void Hold(CpuIsa? to, string why)
        {
            if (to is CpuIsa t && t < isa) { isa = t; holds.Add(why); }
        }
        if (!string.IsNullOrWhiteSpace(env.PoclCpuName))
            Hold(LlvmCpuIsa(env.PoclCpuName.Trim()), $"POCL_LLVM_CPU_NAME={env.PoclCpuName.Trim()}");
        else if (env.OpenClDeviceName is { } dev && dev.StartsWith("cpu-", StringComparison.Ordinal))
            Hold(LlvmCpuIsa(dev[4..]), $"PoCL compiles for {LlvmCpuName(dev[4..]) ?? dev}");
        if (!string.IsNullOrWhiteSpace(env.OnednnMaxIsa))
            Hold(LibraryIsa(env.OnednnMaxIsa), $"ONEDNN_MAX_CPU_ISA={env.OnednnMaxIsa.Trim()}");
        if (!string.IsNullOrWhiteSpace(env.MklInstructions))
            Hold(LibraryIsa(env.MklInstructions), $"MKL_ENABLE_INSTRUCTIONS={env.MklInstructions.Trim()}");
        string label = isa switch { CpuIsa.Avx512 => "AVX-512", CpuIsa.Avx2 => "AVX2", _ => "no AVX2+FMA" };
        if (holds.Count > 0)
            label = $"held to {label} ({string.Join(", ", holds)}; the CPU has {Name(machine)})";
        if (env.OpenClDeviceName is null && env.RuntimeIsa is CpuIsa rt && rt != machine)
            label += $"; the .NET runtime uses {Name(rt)}";
        return (isa, label);
    }

    static string Name(CpuIsa isa) => isa switch { CpuIsa.Avx512 => "AVX-512", CpuIsa.Avx2 => "AVX2", _ => "no AVX2+FMA" };

    /// <summary>LLVM's x86 CPU names (what PoCL's device name and POCL_LLVM_CPU_NAME carry), longest first so "skylake-avx512" wins over "skylake".</summary>
    static readonly (string Name, CpuIsa Isa)[] LlvmCpus = new (string, CpuIsa)[]
    {
        ("skylake-avx512", CpuIsa.Avx512), ("cascadelake", CpuIsa.Avx512), ("cooperlake", CpuIsa.Avx512), ("icelake-server", CpuIsa.Avx512),
        ("icelake-client", CpuIsa.Avx512), ("tigerlake", CpuIsa.Avx512), ("rocketlake", CpuIsa.Avx512), ("cannonlake", CpuIsa.Avx512),
        ("sapphirerapids", CpuIsa.Avx512), ("emeraldrapids", CpuIsa.Avx512), ("graniterapids", CpuIsa.Avx512), ("graniterapids-d", CpuIsa.Avx512),
        ("znver4", CpuIsa.Avx512), ("znver5", CpuIsa.Avx512), ("x86-64-v4", CpuIsa.Avx512), ("knl", CpuIsa.Avx512), ("knm", CpuIsa.Avx512),
        ("haswell", CpuIsa.Avx2), ("broadwell", CpuIsa.Avx2), ("skylake", CpuIsa.Avx2), ("alderlake", CpuIsa.Avx2), ("raptorlake", CpuIsa.Avx2),
        ("meteorlake", CpuIsa.Avx2), ("arrowlake", CpuIsa.Avx2), ("arrowlake-s", CpuIsa.Avx2), ("lunarlake", CpuIsa.Avx2), ("gracemont", CpuIsa.Avx2),
        ("sierraforest", CpuIsa.Avx2), ("grandridge", CpuIsa.Avx2), ("znver1", CpuIsa.Avx2), ("znver2", CpuIsa.Avx2), ("znver3", CpuIsa.Avx2),
        ("x86-64-v3", CpuIsa.Avx2), ("bdver4", CpuIsa.Avx2),
        ("x86-64-v2", CpuIsa.Other), ("x86-64", CpuIsa.Other), ("sandybridge", CpuIsa.Other), ("ivybridge", CpuIsa.Other), ("nehalem", CpuIsa.Other),
        ("westmere", CpuIsa.Other), ("generic", CpuIsa.Other),
    }.OrderByDescending(c => c.Item1.Length).ToArray();

    static string? LlvmCpuName(string s) =>
        LlvmCpus.Select(c => c.Name).FirstOrDefault(n => s.Equals(n, StringComparison.OrdinalIgnoreCase) || s.StartsWith(n + "-", StringComparison.OrdinalIgnoreCase));

    static CpuIsa? LlvmCpuIsa(string s) => LlvmCpuName(s) is { } n ? LlvmCpus.First(c => c.Name == n).Isa : null;

    /// <summary>The instruction set in PoCL's device name ("cpu-haswell-AMD EPYC 7B13": AVX2); null for other names.</summary>
    public static CpuIsa? IsaOfPoclDeviceName(string deviceName) =>
        deviceName.StartsWith("cpu-", StringComparison.Ordinal) ? LlvmCpuIsa(deviceName[4..]) : null;

    /// <summary>oneDNN's ONEDNN_MAX_CPU_ISA (AVX2, AVX2_VNNI, AVX512_CORE…, AVX10_1_512…) and MKL's MKL_ENABLE_INSTRUCTIONS (AVX2, AVX512…).</summary>
    static CpuIsa? LibraryIsa(string value)
    {
        var v = value.Trim().ToUpperInvariant();
        if (v is "ALL" or "DEFAULT" or "")
            return null;
        if (v.StartsWith("AVX512", StringComparison.Ordinal) || v.StartsWith("AVX10", StringComparison.Ordinal))
            return CpuIsa.Avx512;
        if (v.StartsWith("AVX2", StringComparison.Ordinal))
            return CpuIsa.Avx2;
        return CpuIsa.Other;
    }

    /// <summary>FP32 FLOP per cycle per core for the microarchitecture running <paramref name="isa"/> code (the table in the summary).</summary>
    static (string Microarchitecture, int? PerCycle, string Note) Rate(CpuInfo cpu, CpuIsa isa)
    {
        if (isa == CpuIsa.Other)
            return (Described(cpu), null, "no AVX2+FMA code: not in the table");
        int m = cpu.Model;
        if (cpu.Vendor == "AuthenticAMD")
            switch (cpu.Family)
            {
                case 0x17 when m < 0x30:
                    return ("Zen/Zen+", 16, "two 128-bit FMA pipes");
                case 0x17:
                    return ("Zen 2", 32, "two 256-bit FMA pipes");
                case 0x19:
                    bool zen4 = m is >= 0x10 and <= 0x1F or >= 0x60 and <= 0x7F or >= 0xA0 and <= 0xAF;
                    return zen4 ? ("Zen 4", 32, isa == CpuIsa.Avx512 ? "AVX-512 double-pumped on 256-bit FMA pipes" : "two 256-bit FMA pipes")
                                : ("Zen 3", 32, "two 256-bit FMA pipes");
                case 0x1A:
                    if (isa == CpuIsa.Avx2)
                        return ("Zen 5", 32, "two 256-bit FMA operations per cycle");
                    if (m <= 0x1F || m is >= 0x40 and <= 0x4F)
                        return (m <= 0x1F ? "Zen 5 (Turin)" : "Zen 5 (Granite Ridge)", 64, "two 512-bit FMA pipes, per AMD; unverified here");
                    if (m is >= 0x20 and <= 0x2F)
                        return ("Zen 5 (Strix Point)", 32, "AVX-512 on 256-bit datapaths");
                    return ("Zen 5", null, $"model {m:X2}h: AVX-512 datapath width not in the table");
            }
        if (cpu.Vendor == "GenuineIntel" && cpu.Family == 6)
        {
            if (m is 0xBE or 0xAF or 0xB6)
                return ("Intel E-cores (Gracemont/Crestmont)", 16, "two 128-bit FMA pipes");
            if (m is 0x97 or 0x9A or 0xB7 or 0xBA or 0xBF or 0xAA or 0xAC or 0xC5 or 0xC6 or 0xBD)
                return ("Intel hybrid (P- and E-cores)", null, "P-cores 32, E-cores 16, and which the process gets is not known");
            if (isa == CpuIsa.Avx2)
                return ("Intel Haswell or later", 32, "FMA on ports 0 and 1");
            if (m == 0x55)
            {
                string n = cpu.ModelName;
                bool two = n.Contains("Platinum") || n.Contains("Gold 6") || n.Contains("Gold 5122") || n.Contains("Gold 5222")
                    || n.Contains("Xeon(R) W-") || n.Contains("Core(TM) i9");
                bool one = !two && (n.Contains("Silver") || n.Contains("Bronze") || n.Contains("Gold 5") || n.Contains("Core(TM) i7"));
                return two ? ("Skylake-SP/Cascade Lake", 64, "two 512-bit FMA ports")
                     : one ? ("Skylake-SP/Cascade Lake", 32, "one 512-bit FMA port on this SKU")
                     : ("Skylake-SP/Cascade Lake", null, $"one or two 512-bit FMA ports depending on the SKU, and \"{n}\" does not say which");
            }
            if (m is 0x6A or 0x8F or 0xCF or 0xAD or 0xAE)
                return (m == 0x6A ? "Ice Lake-SP" : "Sapphire Rapids or later Xeon", 64, "two 512-bit FMA ports");
            if (m is 0x7D or 0x7E or 0x8C or 0x8D or 0xA7)
                return ("Ice Lake/Tiger Lake/Rocket Lake client", 32, "one 512-bit FMA (ports 0 and 1 fused)");
        }
        return (Described(cpu), null, "CPU not in the table");
    }

    static string Described(CpuInfo cpu) =>
        $"{(cpu.ModelName.Length > 0 ? cpu.ModelName : "unknown CPU")} (family {cpu.Family}, model {cpu.Model})";

    static (int, string) CountCores(CpuInfo cpu, int logical)
    {
        int threads = cpu.Siblings is int s && cpu.Cores is int c && c > 0 && s >= c ? s / c : 1;
        if (threads <= 1)
            return (logical, $"{logical} cores (Environment.ProcessorCount; no SMT siblings)");
        int cores = Math.Max(1, logical / threads);
        return (cores, $"{cores} cores ({logical} logical CPUs ÷ {threads} SMT threads per core: siblings share the FMA units)");
    }

    static (double?, string) Clock(CpuInfo cpu, CpuEnvironment env)
    {
        if (double.TryParse(env.GhzOverride, NumberStyles.Float, CultureInfo.InvariantCulture, out double set) && set > 0)
            return (set, GhzVariable);
        if (double.TryParse(env.MaxFrequencyKhz?.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double khz) && khz > 0)
            return (khz / 1e6, "max, cpuinfo_max_freq");
        int at = cpu.ModelName.LastIndexOf('@');
        if (at >= 0 && cpu.ModelName[(at + 1)..].Trim() is var s && s.EndsWith("GHz", StringComparison.Ordinal)
            && double.TryParse(s[..^3], NumberStyles.Float, CultureInfo.InvariantCulture, out double named))
            return (named, "nominal, model name");
        if (cpu.Flags.Contains("hypervisor") && cpu.Flags.Contains("tsc_known_freq") && cpu.Megahertz is double mhz)
            return (mhz / 1000, "the TSC rate the hypervisor reports ≈ nominal; turbo exceeds it");
        return (null, $"no cpufreq, no \"@ GHz\" in the model name; set {GhzVariable}");
    }
}
