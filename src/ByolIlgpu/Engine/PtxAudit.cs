using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace ByolIlgpu.Engine;

/// <summary>What `ptxas -v` reports for one module (ILGPU emits one entry per module); spills summed over its functions.</summary>
public sealed record PtxasReport(int Registers, int SharedBytes, int StackBytes, int SpillStoreBytes, int SpillLoadBytes, IReadOnlyList<string> Errors)
{
    public bool Failed => Errors.Count > 0;
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;

    static readonly Regex Used = new(@"Used (\d+) registers", RegexOptions.Compiled);
    static readonly Regex Smem = new(@"(\d+) bytes smem", RegexOptions.Compiled);
    // "ptxas k.ptx, line 12; error   : …" and "ptxas fatal   : …"; warnings are not errors.
    static readonly Regex Error = new(@"^ptxas\b.*\b(error|fatal)\s*:", RegexOptions.Compiled);
    static readonly Regex Frame = new(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", RegexOptions.Compiled);

    /// <summary>Reads ptxas's output and exit code; a failed run or a report without a register count is an error.</summary>
    public static PtxasReport Parse(string output, int exitCode = 0)
    {
        var lines = output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Where(l => Error.IsMatch(l)).ToList();
        int registers = -1, shared = 0, stack = 0, stores = 0, loads = 0;
        foreach (var line in lines)
        {
            if (Used.Match(line) is { Success: true } u)
            {
                registers = Math.Max(registers, Int(u.Groups[1]));
                if (Smem.Match(line) is { Success: true } s)
                    shared = Math.Max(shared, Int(s.Groups[1]));
            }
            if (Frame.Match(line) is { Success: true } f)
            {
                stack += Int(f.Groups[1]);
                stores += Int(f.Groups[2]);
                loads += Int(f.Groups[3]);
            }
        }
        if (exitCode != 0 && errors.Count == 0)
            errors.Add($"ptxas exited with {exitCode}: {string.Join(" | ", lines.TakeLast(3))}");
        if (exitCode == 0 && errors.Count == 0 && registers < 0)
            errors.Add("ptxas printed no register count (was -v given?)");
        return new PtxasReport(Math.Max(registers, 0), shared, stack, stores, loads, errors);
    }

    static int Int(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);
}

/// <summary>
/// Static instruction counts of a kernel's SASS (cuobjdump -sass): floating-point work (FFMA, FMUL, FADD,
/// HMMA), shared-memory loads by width and stores, global loads (LDG) by width, generic loads (LD), and
/// all instructions but NOP padding. Loads narrower than 32 bits count as 32-bit ones.
/// </summary>
public sealed record SassCounts(
    int Ffma, int Fmul, int Fadd, int Hmma,
    int Lds32, int Lds64, int Lds128, int Sts,
    int Ldg32, int Ldg64, int Ldg128, int Ld, int Total)
{
    public int Lds => Lds32 + Lds64 + Lds128;

    /// <summary>FFMAs per shared-memory load instruction; null without shared loads.</summary>
    public double? FfmaPerLds => Lds == 0 ? null : (double)Ffma / Lds;

    // "/*0050*/   @!P0 LDS.U.128 R4, [R2+0x10] ;": the address, an optional predicate, the opcode.
    static readonly Regex Instruction = new(@"^\s*/\*[0-9a-fA-F]+\*/\s+(?:@!?U?P[T0-9]+\s+)?(?<op>[A-Z][A-Z0-9_.]*)", RegexOptions.Compiled);

    // "/*0120*/   @!P1 BRA 0xc0 ;": a branch and its target address.
    static readonly Regex Branch = new(@"^\s*/\*(?<at>[0-9a-fA-F]+)\*/\s+(?:@!?U?P[T0-9]+\s+)?BRA(?:\.[A-Z0-9_.]+)?\s+(?:`\()?0x(?<to>[0-9a-fA-F]+)", RegexOptions.Compiled);
    static readonly Regex Address = new(@"^\s*/\*(?<at>[0-9a-fA-F]+)\*/", RegexOptions.Compiled);

    /// <summary>
    /// The counts of one iteration of the kernel's inner loop: of the address ranges a backward branch closes,
    /// the one with the most FFMA + HMMA, then, while a loop inside it holds at least half of that work, that
    /// inner loop (the innermost of nested loops, which runs the most iterations); null when no loop does
    /// floating-point work.
    /// </summary>
    public static SassCounts? InnerLoop(string sass)
    {
        var lines = sass.Split('\n');
        var at = lines.Select(l => Address.Match(l) is { Success: true } m ? Convert.ToInt64(m.Groups["at"].Value, 16) : -1).ToArray();
        var loops = new List<(long From, long To, SassCounts Counts)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (Branch.Match(lines[i]) is not { Success: true } b)
                continue;
            long to = Convert.ToInt64(b.Groups["to"].Value, 16);
            if (to > at[i])
                continue;
            int first = Array.FindIndex(at, a => a >= to);
            var counts = Count(string.Join('\n', lines[first..(i + 1)]));
            if (counts.Ffma + counts.Hmma > 0)
                loops.Add((to, at[i], counts));
        }
        if (loops.Count == 0)
            return null;
        static int Work(SassCounts c) => c.Ffma + c.Hmma;
        var best = loops.OrderByDescending(l => Work(l.Counts)).ThenBy(l => l.Counts.Total).First();
        while (loops.Where(l => l != best && l.From >= best.From && l.To <= best.To && 2 * Work(l.Counts) >= Work(best.Counts))
                   .OrderByDescending(l => Work(l.Counts)).ThenBy(l => l.Counts.Total).FirstOrDefault() is { Counts: not null } inner)
            best = inner;
        return best.Counts;
    }

    public static SassCounts Count(string sass)
    {
        int ffma = 0, fmul = 0, fadd = 0, hmma = 0, lds32 = 0, lds64 = 0, lds128 = 0, sts = 0, ldg32 = 0, ldg64 = 0, ldg128 = 0, ld = 0, total = 0;
        foreach (var line in sass.Split('\n'))
        {
            var m = Instruction.Match(line);
            if (!m.Success)
                continue;
            var parts = m.Groups["op"].Value.Split('.');
            string op = parts[0];
            if (op == "NOP")
                continue;
            total++;
            // Width modifiers are whole parts: LDG.E.LTC128B.128 is a 128-bit load with an L2 hint.
            int width = parts.Contains("128") ? 128 : parts.Contains("64") ? 64 : 32;
            switch (op)
            {
                case "FFMA" or "FFMA32I": ffma++; break;
                case "FMUL" or "FMUL32I": fmul++; break;
                case "FADD" or "FADD32I": fadd++; break;
                case "HMMA": hmma++; break;
                case "STS": sts++; break;
                case "LDS":
                    if (width == 128) lds128++; else if (width == 64) lds64++; else lds32++;
                    break;
                case "LDG":
                    if (width == 128) ldg128++; else if (width == 64) ldg64++; else ldg32++;
                    break;
                case "LD": ld++; break;
            }
        }
        return new SassCounts(ffma, fmul, fadd, hmma, lds32, lds64, lds128, sts, ldg32, ldg64, ldg128, ld, total);
    }
}

/// <summary>One kernel assembled for one target: ptxas's report, the SASS counts when asked for, or the error.</summary>
public sealed record KernelAudit(MethodInfo Kernel, CudaTarget Target, PtxasReport? Ptxas, SassCounts? Sass, string? Error)
{
    /// <summary>The counts of one iteration of the hottest loop (<see cref="SassCounts.InnerLoop"/>), with the SASS counts; null without a floating-point loop.</summary>
    public SassCounts? Loop { get; init; }

    public string Name => KernelCatalog.NameOf(Kernel);

    /// <summary>Why the kernel was not assembled for this target (it needs a newer GPU), or null.</summary>
    public string? NotFor { get; init; }

    /// <summary>The failure to report: ILGPU's or ptxas's error, or a spill.</summary>
    public string? Problem => NotFor is not null ? null :
        Error ?? (Ptxas is { Failed: true } p ? string.Join(" | ", p.Errors)
            : Ptxas is { Spills: true } s ? $"spills {s.SpillStoreBytes} bytes of stores, {s.SpillLoadBytes} bytes of loads" : null);
}

/// <summary>
/// Assembles kernels with NVIDIA's ptxas exactly as the CUDA driver would JIT them (PTX from
/// <see cref="KernelCatalog.CompilePtx"/> for the target's device and driver, ptxas -arch of the device,
/// no other options), and optionally counts their SASS. Needs no GPU.
/// </summary>
public static class PtxAudit
{
    /// <summary>
    /// Every kernel × target, <paramref name="parallelism"/> at a time (ILGPU's PTX generation, then ptxas,
    /// then cuobjdump when <paramref name="sass"/>), in catalog order, then the targets' order.
    /// </summary>
    public static IReadOnlyList<KernelAudit> Run(NvidiaTools tools, IReadOnlyList<MethodInfo> kernels, IReadOnlyList<CudaTarget> targets,
        bool sass, int parallelism = 2)
    {
        var folder = Directory.CreateTempSubdirectory("byol-ptxas-");
        try
        {
            var work = kernels.SelectMany((k, i) => targets.Select((t, j) => (Kernel: k, Target: t, Index: i * targets.Count + j))).ToList();
            var results = new ConcurrentDictionary<int, KernelAudit>();
            Parallel.ForEach(work, new ParallelOptions { MaxDegreeOfParallelism = parallelism },
                w => results[w.Index] = One(tools, w.Kernel, w.Target, sass, Path.Combine(folder.FullName, w.Index.ToString(CultureInfo.InvariantCulture))));
            return work.Select(w => results[w.Index]).ToList();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    static KernelAudit One(NvidiaTools tools, MethodInfo kernel, CudaTarget target, bool sass, string stem)
    {
        if (KernelCatalog.RequiredComputeCapability(kernel) is { } needed && needed.CompareTo((target.Architecture.Major, target.Architecture.Minor)) > 0)
            return new KernelAudit(kernel, target, null, null, null) { NotFor = $"needs sm_{needed.Major}{needed.Minor}" };
        string ptx;
        try
        {
            ptx = KernelCatalog.CompilePtx(kernel, target);
        }
        catch (Exception e)
        {
            return new KernelAudit(kernel, target, null, null, $"ILGPU: {e.GetType().Name}: {e.Message}");
        }
        File.WriteAllText(stem + ".ptx", ptx);
        var run = tools.Assemble(stem + ".ptx", stem + ".cubin", target.SmName);
        var report = PtxasReport.Parse(run.Output, run.ExitCode);
        if (report.Failed || !sass)
            return new KernelAudit(kernel, target, report, null, null);
        var dump = tools.DisassembleSass(stem + ".cubin");
        if (dump.ExitCode != 0)
            return new KernelAudit(kernel, target, report, null, $"cuobjdump exited with {dump.ExitCode}: {dump.Output.Trim()}");
        return new KernelAudit(kernel, target, report, SassCounts.Count(dump.Output), null) { Loop = SassCounts.InnerLoop(dump.Output) };
    }

    static readonly string[] Header =
    [
        "kernel", "group", "regs", "smem B", "stack B", "spill st/ld B", "max group", "warps/SM", "occupancy",
        "FFMA", "FMUL", "FADD", "HMMA", "LDS", "LDS.64", "LDS.128", "STS", "LDG", "LDG.64", "LDG.128", "LD", "FFMA/LDS", "total",
    ];

    /// <summary>
    /// One row per kernel of one target: ptxas's numbers, the largest group its registers allow, the
    /// occupancy of the group size the engine launches it with on a GPU (<see cref="GpuGroups"/>), and the
    /// SASS counts. Aligned text, or a Markdown table.
    /// </summary>
    public static string FormatTable(IReadOnlyList<KernelAudit> audits, SmLimits limits, bool markdown)
    {
        // Kernel names are unique without their class; the class is kept only where they are not.
        var shortNames = audits.GroupBy(a => a.Kernel.Name).ToDictionary(g => g.Key, g => g.Select(a => a.Kernel.DeclaringType).Distinct().Count() == 1);
        var rows = new List<string[]>();
        foreach (var a in audits)
        {
            string name = shortNames[a.Kernel.Name] ? a.Kernel.Name : a.Name;
            var launch = GpuGroups.LaunchOf(a.Kernel);
            int group = launch is null ? 0 : GpuGroups.Threads(launch.Value);
            if (a.NotFor is not null)
            {
                rows.Add([name, Group(group), a.NotFor, .. Enumerable.Repeat("", Header.Length - 3)]);
                continue;
            }
            if (a.Ptxas is not { Failed: false } p)
            {
                rows.Add([name, Group(group), "failed: " + a.Problem, .. Enumerable.Repeat("", Header.Length - 3)]);
                continue;
            }
            var occ = group == 0 ? (Occupancy?)null : limits.OccupancyAt(p.Registers, p.SharedBytes, group);
            var s = a.Sass;
            rows.Add([
                name, Group(group), N(p.Registers), N(p.SharedBytes), N(p.StackBytes), $"{p.SpillStoreBytes}/{p.SpillLoadBytes}",
                N(limits.MaxGroupSize(p.Registers, p.SharedBytes)),
                occ is { } o ? $"{o.ActiveWarps}/{o.MaxWarps}" : "—",
                occ is { } o2 ? $"{(o2.Fraction * 100).ToString("0.#", CultureInfo.InvariantCulture)}%" : "—",
                S(s?.Ffma), S(s?.Fmul), S(s?.Fadd), S(s?.Hmma), S(s?.Lds32), S(s?.Lds64), S(s?.Lds128), S(s?.Sts),
                S(s?.Ldg32), S(s?.Ldg64), S(s?.Ldg128), S(s?.Ld),
                s is null ? "" : s.FfmaPerLds is { } r ? r.ToString("F1", CultureInfo.InvariantCulture) : "—",
                S(s?.Total),
            ]);
        }
        return markdown ? Markdown(rows) : Aligned(rows);
    }

    static string Group(int g) => g == 0 ? "none" : N(g);
    static string N(int v) => v.ToString(CultureInfo.InvariantCulture);
    static string S(int? v) => v is null ? "" : N(v.Value);

    static string Aligned(List<string[]> rows)
    {
        var widths = Header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells) =>
            sb.AppendLine(string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd());
        Line(Header);
        foreach (var r in rows)
            Line(r);
        return sb.ToString();
    }

    static string Markdown(List<string[]> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("| " + string.Join(" | ", Header.Select((_, i) => i == 0 ? "---" : "---:")) + " |");
        foreach (var r in rows)
            sb.AppendLine("| " + string.Join(" | ", r) + " |");
        return sb.ToString();
    }
}
