using System.CommandLine;
using System.Diagnostics;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol kernels`: every kernel and the group size it is launched with on a GPU; with --ptx-audit, each
/// kernel assembled by NVIDIA's ptxas for one GPU (registers, shared memory, spills, occupancy, SASS mix).
/// </summary>
public static class KernelsCommand
{
    public static Command Create()
    {
        var audit = new Option<bool>("--ptx-audit")
        {
            Description = "Assemble every kernel with NVIDIA's ptxas (no GPU needed; found via $BYOL_PTXAS, PATH or /var/cache/cuda-ptxas/bin) "
                + "and print registers, shared memory, spills, the largest launchable group, occupancy at the engine's group size, and the SASS instruction mix.",
        };
        var arch = new Option<string>("--arch")
        {
            Description = "GPU to assemble for with --ptx-audit: " + string.Join(", ", CudaTarget.All.Select(t => $"{t.SmName} ({t.Gpu})")) + ".",
            DefaultValueFactory = _ => CudaTarget.H100.SmName,
        };
        var markdown = new Option<bool>("--markdown") { Description = "Print the table as Markdown." };
        var only = new Option<string?>("--only") { Description = "Only the kernels whose name (Class.Method) contains this text." };
        var ptx = new Option<bool>("--ptx") { Description = "Print the PTX ILGPU generates for the kernels (with --only; no ptxas needed)." };
        var model = new Option<bool>("--model")
        {
            Description = "Print the performance model of a BYOL step (a model, not a measurement): every launch, its FLOPs, DRAM bytes and bound "
                + "(instruction issue, tensor, shared memory, L2, DRAM, launch) from the GEMM kernels' SASS, in tf32 and fp32, beside PyTorch's anchors.",
        };
        var gpu = new Option<string>("--gpu") { Description = "GPU of --model: " + string.Join(", ", GpuSpec.All.Select(g => g.Key)) + ".", DefaultValueFactory = _ => GpuSpec.H100Sxm.Key };
        var batch = new Option<int>("--batch") { Description = "Images per view per step of --model.", DefaultValueFactory = _ => 256 };
        var detail = new Option<bool>("--detail") { Description = "With --model, list every kernel and GEMM row." };
        var json = new Option<string?>("--json") { Description = "With --model, also write the modelled step (per precision) as JSON to this file (bench/gpu/run-gpu.sh puts the measured step beside it)." };
        var command = new Command("kernels", "List the kernels and their GPU group sizes; with --ptx-audit, what NVIDIA's assembler makes of each.");
        command.Options.Add(audit);
        command.Options.Add(arch);
        command.Options.Add(markdown);
        command.Options.Add(only);
        command.Options.Add(ptx);
        command.Options.Add(model);
        command.Options.Add(gpu);
        command.Options.Add(batch);
        command.Options.Add(detail);
        command.Options.Add(json);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(model))
                return ModelReport.Run(output, parse.InvocationConfiguration.Error, parse.GetValue(gpu)!, parse.GetValue(batch), parse.GetValue(markdown), parse.GetValue(detail), parse.GetValue(json));
            var target = CudaTarget.FromSmName(parse.GetValue(arch)!)
                ?? throw new UsageException($"--arch '{parse.GetValue(arch)}': expected one of {string.Join(", ", CudaTarget.All.Select(t => t.SmName))}");
            string? filter = parse.GetValue(only);
            var kernels = KernelCatalog.All.Where(k => filter is null || KernelCatalog.NameOf(k).Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
            if (kernels.Count == 0)
                throw new UsageException($"--only '{filter}': no kernel's name contains it (byol kernels lists them)");
            if (parse.GetValue(ptx))
            {
                foreach (var k in kernels)
                {
                    output.WriteLine($"// {KernelCatalog.NameOf(k)}, {target}");
                    output.WriteLine(KernelCatalog.CompilePtx(k, target));
                }
                return CommandLine.Ok;
            }
            if (!parse.GetValue(audit))
            {
                List(output, kernels);
                return CommandLine.Ok;
            }
            var tools = NvidiaTools.Locate(out var reason);
            if (tools is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"byol: {reason}");
                return CommandLine.Failure;
            }
            if (tools.Cuobjdump is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"byol: cuobjdump not found next to {tools.Ptxas} or on PATH (../shared/cuda/setup-ptxas installs it)");
                return CommandLine.Failure;
            }
            var clock = Stopwatch.StartNew();
            var audits = PtxAudit.Run(tools, kernels, [target], sass: true);
            var limits = SmLimits.Of(target);
            bool md = parse.GetValue(markdown);
            output.WriteLine($"{audits.Count} kernels, {target}; ptxas {tools.Ptxas}");
            output.WriteLine($"Occupancy at the engine's group size on one {limits.Gpu} SM ({limits.MaxWarpsPerSm} warps, {limits.RegistersPerSm / 1024}K registers, "
                + $"{limits.SharedPerSm / 1024} KB shared); SASS counts are static (instructions in the code, not executed).");
            output.WriteLine();
            output.Write(PtxAudit.FormatTable(audits, limits, md));
            var problems = audits.Where(a => a.Problem is not null).ToList();
            output.WriteLine();
            output.WriteLine(problems.Count == 0
                ? $"All {audits.Count} kernels assemble for {target.SmName} without spills ({clock.Elapsed.TotalSeconds:F0} s)."
                : $"{problems.Count} of {audits.Count} kernels fail or spill for {target.SmName}: " + string.Join("; ", problems.Select(p => $"{p.Name}: {p.Problem}")));
            return problems.Count == 0 ? CommandLine.Ok : CommandLine.Failure;
        });
        return command;
    }

    static void List(TextWriter output, IReadOnlyList<System.Reflection.MethodInfo> kernels)
    {
        output.WriteLine($"{"kernel",-58} {"GPU group",9}  launch");
        foreach (var k in kernels)
        {
            var launch = GpuGroups.LaunchOf(k);
            string group = launch is null ? "?" : launch == GpuLaunch.None ? "—" : GpuGroups.Threads(launch.Value).ToString();
            output.WriteLine($"{KernelCatalog.NameOf(k),-58} {group,9}  {launch?.ToString() ?? "not in GpuGroups"}");
        }
        output.WriteLine();
        output.WriteLine("byol kernels --ptx-audit [--arch sm_90] [--markdown] assembles them with NVIDIA's ptxas (no GPU needed).");
        output.WriteLine("byol kernels --model [--gpu h100-sxm|h200] [--batch 256] [--markdown] models a BYOL step on that GPU from their SASS.");
    }
}
