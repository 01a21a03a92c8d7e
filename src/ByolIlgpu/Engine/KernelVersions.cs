using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ByolIlgpu.Kernels;
using ByolIlgpu.Ops;

namespace ByolIlgpu.Engine;

/// <summary>
/// Where a kernel version is chosen: an op family, for conv2d also the pass and the layer's shape
/// without its batch (the per-shape rule of <see cref="DevicePolicy.Conv2dVersion"/>; the batch never
/// changes the choice), for batch norm whether it is 1-d or 2-d. A record struct: no allocation per launch.
/// </summary>
public readonly record struct KernelSite(string Op, string? Variant = null,
    int C = 0, int H = 0, int W = 0, int K = 0, int R = 0, int S = 0, int Stride = 0, int Pad = 0)
{
    static readonly string[] PassNames = ["forward", "backward-input", "backward-weight"];

    public static KernelSite Conv2d(Conv2dPass pass, Conv2dShape g) =>
        new(DevicePolicy.Conv2dOp, PassNames[(int)pass], g.C, g.H, g.W, g.K, g.R, g.S, g.Stride, g.Pad);

    public static KernelSite Matmul => new(DevicePolicy.MatmulOp);

    /// <summary>Batch norm over <paramref name="spatial"/> values per channel and sample (1: BatchNorm1d).</summary>
    public static KernelSite BatchNorm(int spatial) => new(DevicePolicy.BatchNormOp, spatial == 1 ? "1d" : "2d");

    bool HasShape => C > 0;

    /// <summary>"conv2d.forward C=3 H=32 W=32 K=64 R=3 S=3 stride=1 pad=1", "matmul", "batchnorm.2d".</summary>
    public override string ToString() =>
        Op + (Variant is null ? "" : "." + Variant) +
        (HasShape ? $" C={C} H={H} W={W} K={K} R={R} S={S} stride={Stride} pad={Pad}" : "");

    /// <summary>The inverse of <see cref="ToString"/>; a malformed key is a <see cref="FormatException"/> naming it.</summary>
    public static KernelSite Parse(string key)
    {
        var parts = key.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new FormatException("an empty kernel site");
        var head = parts[0].Split('.', 2);
        if (!DevicePolicy.OpFamilies.Contains(head[0]))
            throw new FormatException($"kernel site '{key}': '{head[0]}' is not one of {string.Join(", ", DevicePolicy.OpFamilies)}");
        var values = new Dictionary<string, int>();
        foreach (var part in parts.Skip(1))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int v))
                throw new FormatException($"kernel site '{key}': '{part}' is not NAME=INTEGER");
            values[kv[0]] = v;
        }
        int Get(string name) => values.TryGetValue(name, out int v) ? v
            : throw new FormatException($"kernel site '{key}': no {name}=");
        if (values.Count == 0)
            return new KernelSite(head[0], head.Length > 1 ? head[1] : null);
        return new KernelSite(head[0], head.Length > 1 ? head[1] : null,
            Get("C"), Get("H"), Get("W"), Get("K"), Get("R"), Get("S"), Get("stride"), Get("pad"));
    }
}

/// <summary>
/// The kernel versions a device resolved at each site (what the engine picked itself, not a
/// caller's explicit version), and versions pinned to sites (a resumed run's recorded ones), which
/// take precedence over the policy's table.
/// </summary>
public sealed class KernelVersionLog
{
    readonly Dictionary<KernelSite, int> ran = new();
    Dictionary<KernelSite, int>? pinned;

    /// <summary>What ran at each site since the last <see cref="Clear"/>.</summary>
    public IReadOnlyDictionary<KernelSite, int> Ran => ran;

    public IReadOnlyDictionary<KernelSite, int> Pinned => pinned ?? (IReadOnlyDictionary<KernelSite, int>)new Dictionary<KernelSite, int>();

    internal void Record(KernelSite site, int version) => ran[site] = version;

    internal bool TryPinned(KernelSite site, out int version)
    {
        version = 0;
        return pinned is not null && pinned.TryGetValue(site, out version);
    }

    public void Clear() => ran.Clear();

    /// <summary>
    /// Pins each site to its recorded version. Versions this build does not have are left out and
    /// returned (as "site vN"), so the caller can say the run will not be bit-identical.
    /// </summary>
    public IReadOnlyList<string> Pin(IReadOnlyDictionary<KernelSite, int> versions)
    {
        var skipped = new List<string>();
        pinned = new Dictionary<KernelSite, int>();
        foreach (var (site, version) in versions)
        {
            if (DevicePolicy.VersionsOf[site.Op].Contains(version))
                pinned[site] = version;
            else
                skipped.Add($"{site} v{version}");
        }
        return skipped;
    }

    public void Unpin() => pinned = null;
}

/// <summary>
/// What decides a run's arithmetic beyond its configuration: the precision, the device (family)
/// and the version that ran at each kernel site. Written into config.json ("kernels") and into
/// every checkpoint (metadata <see cref="Checkpoints.TrainingCheckpoint.KernelsKey"/>); a resume
/// pins the recorded versions so it repeats the uninterrupted run bit for bit.
/// </summary>
public sealed record KernelRecord(Precision Precision, string Device, DeviceFamily Family, IReadOnlyDictionary<KernelSite, int> Versions)
{
    /// <summary>What a checkpoint written before precisions existed ran: FP32, with the table's versions.</summary>
    public static KernelRecord Legacy { get; } = new(Precision.Fp32, "", DeviceFamily.CpuAccelerator, new Dictionary<KernelSite, int>()) { IsLegacy = true };

    /// <summary>True for a checkpoint without the record (the fields did not exist when it was written).</summary>
    public bool IsLegacy { get; init; }

    /// <summary>The device's precision and everything it has resolved since its log was last cleared.</summary>
    public static KernelRecord Of(ComputeDevice device) =>
        new(device.Precision, device.ToString(), device.Policy.Family, new Dictionary<KernelSite, int>(device.KernelLog.Ran));

    /// <summary>Per op family the versions that ran, e.g. "conv2d backward-input v3, backward-weight v2/v3, forward v2/v3; matmul v2; batchnorm 1d v1, 2d v1".</summary>
    public string Summary()
    {
        static string Listed(IEnumerable<int> versions) => "v" + string.Join("/v", versions.Distinct().Order());
        var parts = new List<string>();
        foreach (var op in DevicePolicy.OpFamilies)
        {
            var variants = Versions.Where(kv => kv.Key.Op == op).GroupBy(kv => kv.Key.Variant ?? "").OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => (g.Key.Length == 0 ? "" : g.Key + " ") + Listed(g.Select(kv => kv.Value))).ToList();
            if (variants.Count > 0)
                parts.Add($"{op} {string.Join(", ", variants)}");
        }
        return parts.Count == 0 ? "none recorded" : string.Join("; ", parts);
    }

    /// <summary>A checkpoint's record; <see cref="Legacy"/> (FP32) for one written before the record existed.</summary>
    public static KernelRecord FromCheckpoint(Checkpoints.TrainingCheckpoint checkpoint) =>
        checkpoint.Kernels is { } json ? FromJson(json, $"{checkpoint.Source}: metadata '{Checkpoints.TrainingCheckpoint.KernelsKey}'") : Legacy;

    public JsonObject ToJsonNode()
    {
        var versions = new JsonObject();
        foreach (var (site, version) in Versions.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal))
            versions[site.ToString()] = version;
        return new JsonObject
        {
            ["precision"] = Precision.Name(),
            ["device"] = Device,
            ["family"] = Family.ToString(),
            ["versions"] = versions,
        };
    }

    public string ToJson() => ToJsonNode().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Reads <see cref="ToJson"/>'s document; <paramref name="source"/> names it in errors.</summary>
    public static KernelRecord FromJson(string json, string source)
    {
        try
        {
            var node = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("not a JSON object");
            string Text(string name) => node[name]?.GetValue<string>() ?? throw new FormatException($"no \"{name}\"");
            var precision = Precisions.Parse(Text("precision")) ?? throw new FormatException("\"precision\" must be tf32 or fp32");
            if (!Enum.TryParse<DeviceFamily>(Text("family"), out var family))
                throw new FormatException($"\"family\" '{Text("family")}' is not one of {string.Join(", ", Enum.GetNames<DeviceFamily>())}");
            var versions = new Dictionary<KernelSite, int>();
            foreach (var (key, value) in node["versions"] as JsonObject ?? throw new FormatException("no \"versions\" object"))
                versions[KernelSite.Parse(key)] = value?.GetValue<int>() ?? throw new FormatException($"\"{key}\": no version");
            return new KernelRecord(precision, Text("device"), family, versions);
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"{source}: not a kernel record ({e.Message})");
        }
    }
}
