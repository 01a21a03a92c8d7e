using System.CommandLine;
using ByolIlgpu.Engine;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>`byol bench`: images/s of the BYOL training step on a device, with FLOPs per image and GFLOP/s.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var arch = new ArchitectureOptions();
        var device = new Option<string>("--device") { Description = "Device: auto, cuda, opencl or cpu, optionally :INDEX.", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int>("--batch-size") { Description = "Images per view per step.", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after 2 warm-up steps).", DefaultValueFactory = _ => 5 };
        var json = new Option<string?>("--json") { Description = "Also write the result as JSON to this file." };
        var versionsOf = new Option<string?>("--kernel-versions-of")
        {
            Description = "Run the kernel versions another device family uses (cuda, gpu-opencl, pocl, cpu) on this device: " +
                "e.g. count on PoCL the launches a CUDA step issues. Timings then say nothing about that family.",
        };
        var perKernel = new Option<bool>("--per-kernel") { Description = "Also list the launches per step of each kernel and the memsets per step of each calling line, largest first." };
        var profile = new Option<bool>("--profile")
        {
            Description = "Also time each kernel: every launch waits for its kernel (so the step runs slower than unprofiled, and the device never runs ahead) " +
                "and the table lists seconds per step per kernel, largest first.",
        };
        var precision = PrecisionOption.Create();
        var placement = DataPlacementOption.Create();
        var command = new Command("bench", "Time the trainer's own BYOL step (both views augmented on the device, student and teacher, loss, backward, LARS, EMA) " +
            "and report images/s, GFLOP/s and what the engine issues per step: kernel launches, memsets, copies and host synchronisations.");
        arch.AddTo(command);
        command.Options.Add(device);
        command.Options.Add(batch);
        command.Options.Add(steps);
        command.Options.Add(json);
        command.Options.Add(versionsOf);
        command.Options.Add(perKernel);
        command.Options.Add(profile);
        command.Options.Add(precision);
        command.Options.Add(placement);
        command.SetAction(parse =>
        {
            var a = arch.Read(parse);
            int b = parse.GetValue(batch), n = parse.GetValue(steps);
            if (b < 2) throw new UsageException($"--batch-size must be at least 2, got {b}");
            if (n < 1) throw new UsageException($"--steps must be at least 1, got {n}");
            var output = parse.InvocationConfiguration.Output;
            using var dev = ComputeDevice.Create(parse.GetValue(device)!);
            PrecisionOption.Apply(dev, PrecisionOption.Read(parse, precision));
            if (parse.GetValue(versionsOf) is string family)
            {
                dev.UseKernelVersionsOf(family.ToLowerInvariant() switch
                {
                    "cuda" => DeviceFamily.Cuda,
                    "gpu-opencl" => DeviceFamily.GpuOpenCl,
                    "pocl" => DeviceFamily.CpuLikeOpenCl,
                    "cpu" => DeviceFamily.CpuAccelerator,
                    _ => throw new UsageException($"--kernel-versions-of '{family}': expected cuda, gpu-opencl, pocl or cpu"),
                });
                output.WriteLine($"kernel versions of {family}: {dev.Policy.Describe()}");
            }
            output.WriteLine($"device {dev}, precision {dev.Precision.Name()}; ResNet-18 width {a.Width}, heads {a.ProjectorHidden}→{a.ProjectorOut}, batch {b}");
            dev.ProfileKernels = parse.GetValue(profile);
            var t = StepBenchmark.Run(dev, a, b, n, placement: Data.DataPlacements.Parse(parse.GetValue(placement)));
            output.WriteLine(t.Placement!.Describe());
            var kernels = KernelRecord.Of(dev);
            output.WriteLine($"kernel versions ({kernels.Precision.Name()}): {kernels.Summary()}");
            if (dev.Policy.UsesRegisterBlocks)
                output.WriteLine($"{dev.Policy.Blocks.Describe()}, {DevicePolicy.BlockLanesSource(dev.Info)}");
            output.WriteLine($"kernel checks against v1 on this device: {dev.Verification.Describe()}");
            output.WriteLine($"per step: {t.PerStep(c => c.Launches):G} kernel launches, {t.PerStep(c => c.MemSets):G} memsets, {t.PerStep(c => c.Copies):G} copies, " +
                $"{t.PerStep(c => c.HostSyncs):G} host synchronisations, {t.PerStep(c => c.Allocations):G} allocations; pool {ComputeDevice.FormatBytes(t.PoolBytes)}");
            output.WriteLine($"streaming per step: {t.PerStep(c => c.AsyncCopies):G} asynchronous copies, {t.PerStep(c => c.CopyWaits):G} staging waits " +
                $"({t.PerStep(c => c.CopyWaitsBlocked):G} blocked on a pending copy, {1000 * t.CopyWaitSecondsPerStep:F1} ms: the host ahead of the device), " +
                $"{1000 * t.GatherWaitSecondsPerStep:F2} ms waiting for the host gather");
            output.WriteLine($"{t.ImagesPerSecond:F1} images/s ({t.SecondsPerStep:F3} s/step), {t.GflopPerImage:F2} GFLOP/image, {t.Gflops:F1} GFLOP/s");
            if (parse.GetValue(perKernel))
            {
                foreach (var (title, counts) in new[] { ("launches", t.LaunchesByKernel), ("memsets", t.MemSetsByCaller) })
                {
                    output.WriteLine($"{title} per step:");
                    foreach (var (key, count) in counts.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal))
                        output.WriteLine($"  {count / (double)t.Steps,8:G} {key}");
                }
            }
            if (t.KernelSecondsPerStep.Count > 0)
            {
                double total = t.KernelSecondsPerStep.Values.Sum();
                output.WriteLine($"kernel time per step (profiled: each launch waited for; {1000 * total:F1} ms in kernels of {1000 * t.SecondsPerStep:F1} ms):");
                foreach (var (key, seconds) in t.KernelSecondsPerStep.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal))
                    output.WriteLine($"  {1000 * seconds,9:F2} ms {100 * seconds / total,5:F1} % {t.LaunchesByKernel.GetValueOrDefault(key) / (double)t.Steps,7:G} launches  {key}");
            }
            if (parse.GetValue(json) is string path)
                File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(new
                {
                    device = dev.ToString(), device_kind = dev.Kind.ToString().ToLowerInvariant(), width = a.Width, batch_size = b, steps = n,
                    images_per_s = t.ImagesPerSecond, seconds_per_step = t.SecondsPerStep, gflop_per_image = t.GflopPerImage, gflops = t.Gflops,
                    launches_per_step = t.PerStep(c => c.Launches), memsets_per_step = t.PerStep(c => c.MemSets),
                    copies_per_step = t.PerStep(c => c.Copies), host_syncs_per_step = t.PerStep(c => c.HostSyncs),
                    allocations_per_step = t.PerStep(c => c.Allocations), pool_bytes = t.PoolBytes,
                    data_placement = t.Placement!.Placement.ToString().ToLowerInvariant(), data_placement_reason = t.Placement.Reason,
                    async_copies_per_step = t.PerStep(c => c.AsyncCopies), staging_waits_per_step = t.PerStep(c => c.CopyWaits),
                    staging_waits_blocked_per_step = t.PerStep(c => c.CopyWaitsBlocked), gather_wait_seconds_per_step = t.GatherWaitSecondsPerStep,
                    staging_blocked_seconds_per_step = t.CopyWaitSecondsPerStep,
                    launches_per_step_by_kernel = t.LaunchesByKernel.ToDictionary(e => e.Key, e => e.Value / (double)n),
                    memsets_per_step_by_caller = t.MemSetsByCaller.ToDictionary(e => e.Key, e => e.Value / (double)n),
                    kernel_seconds_per_step = t.KernelSecondsPerStep.Count > 0 ? t.KernelSecondsPerStep : null,
                    precision = kernels.Precision.Name(), kernel_versions = kernels.ToJsonNode()["versions"],
                    kernel_checks = dev.Verification.Enabled
                        ? dev.Verification.Checks.Select(c => new
                        {
                            op = c.Op, version = c.Version, precision = c.Precision.Name(), passed = c.Passed,
                            worst_error = c.Worst.Error, worst_tolerance = c.Worst.Tolerance, runs_instead = c.RunsInstead,
                        }).ToArray()
                        : null,
                }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            return CommandLine.Ok;
        });
        return command;
    }
}
