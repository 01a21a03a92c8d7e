using System.Text;
using System.Text.RegularExpressions;

namespace ByolIlgpu.Engine;

/// <summary>
/// Turns ILGPU's inline-assembly locals back into registers. ILGPU 1.5.3 passes every operand of
/// <c>CudaAsm.Emit</c>/<c>EmitRef</c> through a local variable of its own (a 4- or 8-byte
/// <c>.local __local_depotN</c>, its address taken once with <c>mov.b64 %rdX, __local_depotN</c>, then
/// <c>st.local</c> before the instruction and <c>ld.local</c> after it), and ptxas does not promote
/// such locals: the tensor-core kernels' SASS carried ~300 STL/LDL per strip and a 768-byte stack.
/// This pass rewrites each depot whose address register is used by nothing but plain scalar
/// <c>ld.local</c>/<c>st.local</c> into one register (<c>st.local.T [%rdX], v</c> → <c>mov.bW %dpN, v</c>,
/// <c>ld.local.T d, [%rdX]</c> → <c>mov.bW d, %dpN</c>), which is the same program without the memory.
/// Depots used any other way are left as they are. Applied to the PTX of the kernels that use inline
/// assembly, both when the CUDA accelerator loads them and in the ptxas audit, so the audit assembles
/// what a GPU runs.
/// </summary>
public static partial class PtxDepotPromotion
{
    [GeneratedRegex(@"^\s*\.local \.align \d+ \.b8 (__local_depot\d+)\[(\d+)\];\s*$", RegexOptions.Multiline)]
    private static partial Regex DepotDeclaration();

    [GeneratedRegex(@"^\s*mov\.b64\s+(%rd\d+), (__local_depot\d+);\s*$", RegexOptions.Multiline)]
    private static partial Regex AddressOf();

    [GeneratedRegex(@"^(\s*)st\.local\.([bfsu](?:32|64))\s+\[(%rd\d+)\], ([^;]+);\s*$")]
    private static partial Regex Store();

    [GeneratedRegex(@"^(\s*)ld\.local\.([bfsu](?:32|64))\s+([^,]+), \[(%rd\d+)\];\s*$")]
    private static partial Regex Load();

    [GeneratedRegex(@"%rd\d+\b")]
    private static partial Regex AddressRegister();

    /// <summary>The PTX with every promotable depot in a register; <paramref name="promoted"/> says how many.</summary>
    public static string Promote(string ptx, out int promoted)
    {
        promoted = 0;
        var sizes = DepotDeclaration().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        if (sizes.Count == 0)
            return ptx;
        var depotOf = new Dictionary<string, string>();   // address register → depot
        foreach (Match m in AddressOf().Matches(ptx))
        {
            if (!sizes.ContainsKey(m.Groups[2].Value) || !depotOf.TryAdd(m.Groups[1].Value, m.Groups[2].Value))
                depotOf[m.Groups[1].Value] = "";   // assigned twice or not a depot: keep
        }

        var lines = ptx.Split('\n');
        // A depot qualifies when its address register appears only in its mov and in scalar accesses of its size.
        var disqualified = new HashSet<string>();
        foreach (var line in lines)
        {
            if (AddressOf().IsMatch(line))
                continue;
            var store = Store().Match(line);
            var load = Load().Match(line);
            string? accessed = store.Success ? store.Groups[3].Value : load.Success ? load.Groups[4].Value : null;
            string? width = store.Success ? store.Groups[2].Value : load.Success ? load.Groups[2].Value : null;
            foreach (Match r in AddressRegister().Matches(line))
            {
                if (!depotOf.TryGetValue(r.Value, out var depot))
                    continue;
                bool plain = r.Value == accessed && depot != "" && int.Parse(width![1..]) / 8 == sizes[depot]
                    && (store.Success ? !store.Groups[4].Value.Contains(r.Value) : !load.Groups[3].Value.Contains(r.Value));
                if (!plain)
                    disqualified.Add(r.Value);
            }
        }
        var register = new Dictionary<string, (string Name, int Bits)>();   // address register → promoted register
        foreach (var (address, depot) in depotOf)
            if (depot != "" && !disqualified.Contains(address))
                register[address] = ($"%dp{depot["__local_depot".Length..]}", sizes[depot] * 8);
        if (register.Count == 0)
            return ptx;

        var registerOfDepot = register.ToDictionary(r => depotOf[r.Key], r => r.Value);
        var output = new StringBuilder(ptx.Length);
        foreach (var line in lines)
        {
            // The register is declared where its depot was (the same function's scope).
            var declaration = DepotDeclaration().Match(line);
            if (declaration.Success && registerOfDepot.TryGetValue(declaration.Groups[1].Value, out var declared))
            {
                output.Append("\t.reg .b").Append(declared.Bits).Append(' ').Append(declared.Name).Append(";\n");
                continue;
            }
            var address = AddressOf().Match(line);
            if (address.Success && register.ContainsKey(address.Groups[1].Value))
                continue;
            var store = Store().Match(line);
            if (store.Success && register.TryGetValue(store.Groups[3].Value, out var s))
            {
                output.Append(store.Groups[1].Value).Append("mov.b").Append(s.Bits).Append('\t').Append(s.Name).Append(", ").Append(store.Groups[4].Value).Append(";\n");
                continue;
            }
            var load = Load().Match(line);
            if (load.Success && register.TryGetValue(load.Groups[4].Value, out var l))
            {
                output.Append(load.Groups[1].Value).Append("mov.b").Append(l.Bits).Append('\t').Append(load.Groups[3].Value).Append(", ").Append(l.Name).Append(";\n");
                continue;
            }
            output.Append(line).Append('\n');
        }
        promoted = register.Count;
        var text = output.ToString();
        return ptx.EndsWith('\n') ? text : text[..^1];
    }
}
