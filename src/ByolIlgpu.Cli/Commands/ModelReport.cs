using System.Diagnostics;
using ByolIlgpu.Byol;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol kernels --model`: the performance model of a BYOL step (<see cref="PerformanceModel"/>) on an H100 SXM or
/// H200, in tf32 and fp32, from the ptxas audit of every GPU GEMM version this build has.
/// </summary>
public static class ModelReport
{
    /// <summary>The oldest GPU GEMM versions (the 4×4 shared-memory tiles): the model audits these and every newer one.</summary>
    const int GpuConv2dFirst = 4, GpuMatmulFirst = 3;

    public static int Run(TextWriter output, TextWriter error, string gpuKey, int batch, bool markdown, bool detail, string? jsonPath = null)
    {
        var gpu = GpuSpec.FromKey(gpuKey)
            ?? throw new UsageException($"--gpu '{gpuKey}': expected one of {string.Join(", ", GpuSpec.All.Select(g => g.Key))}");
        if (batch < 2)
            throw new UsageException($"--batch must be at least 2, got {batch}");
        var tools = NvidiaTools.Locate(out var reason);
        if (tools is null || tools.Cuobjdump is null)
        {
            error.WriteLine($"byol: the model reads the GEMM kernels' SASS: {reason ?? "cuobjdump not found next to ptxas or on PATH (../shared/cuda/setup-ptxas installs it)"}");
            return CommandLine.Failure;
        }
        // Every GPU GEMM version from the CUDA default up that this build has (versions are tried until one is missing).
        var names = Enumerable.Range(GpuConv2dFirst, 16).Select(PerformanceModel.ConvKernels).TakeWhile(Exists).SelectMany(k => k)
            .Concat(Enumerable.Range(GpuMatmulFirst, 16).Select(PerformanceModel.MatmulKernels).TakeWhile(Exists).SelectMany(k => k)).ToHashSet();
        var kernels = KernelCatalog.All.Where(k => names.Contains(k.Name)).ToList();
        var clock = Stopwatch.StartNew();
        var audits = PtxAudit.Run(tools, kernels, [CudaTarget.H100], sass: true);
        var failed = audits.Where(a => a.Problem is not null).ToList();
        if (failed.Count > 0)
        {
            error.WriteLine("byol: " + string.Join("; ", failed.Select(f => $"{f.Name}: {f.Problem}")));
            return CommandLine.Failure;
        }
        var limits = SmLimits.H100;
        var figures = audits.Select(a => KernelFigures.FromAudit(a, limits)).OfType<KernelFigures>().ToDictionary(f => f.Kernel);
        var arch = new ByolArchitecture();
        var predictions = new[] { PerformanceModel.Tf32, PerformanceModel.Fp32 }.Select(precision =>
        {
            var notes = new List<string>();
            // From the oldest GPU tiles (conv2d 4, matmul 3) up: the SASS says which versions are tensor-core ones.
            var (conv, matmul) = PerformanceModel.ChooseVersions(precision, figures, GpuConv2dFirst, GpuMatmulFirst, notes);
            return PerformanceModel.Predict(gpu, arch, batch, precision, conv, matmul, figures, notes);
        }).ToList();
        output.Write(PerformanceModel.Format(predictions, arch, markdown, detail));
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, System.Text.Json.JsonSerializer.Serialize(new
            {
                model = "a model, not a measurement (byol kernels --model)", gpu = gpu.Key, gpu_name = gpu.Name, batch_size = batch,
                steps_per_epoch = predictions[0].StepsPerEpoch,
                predictions = predictions.Select(p => new
                {
                    precision = p.Precision, conv2d_version = p.ConvVersion, matmul_version = p.MatmulVersion,
                    seconds_per_step = p.Seconds, images_per_s = p.ImagesPerSecond, epoch_s = p.EpochSeconds, launches_per_step = p.Launches,
                    held_back_by = p.ByKernel[0].Kernel, bound = p.ByKernel[0].Bound.ToString(), notes = p.Notes,
                }),
            }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
        output.WriteLine($"(GEMM kernels {string.Join(", ", kernels.Select(k => k.Name))} assembled by {tools.Ptxas} for sm_90 in {clock.Elapsed.TotalSeconds:F0} s)");
        return CommandLine.Ok;

        static bool Exists(IReadOnlyList<string> kernelNames) => kernelNames.All(n => KernelCatalog.All.Any(k => k.Name == n));
    }
}
