using System.Text.Json;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Engine;
using ByolIlgpu.Layers;
using ByolIlgpu.Optim;

namespace ByolIlgpu.Byol;

/// <summary>What <see cref="ParityExport.Run"/> computed and where it wrote it.</summary>
public sealed record ParityResult(double Loss, int Parameters, string ManifestPath);

/// <summary>
/// One BYOL forward + backward (<see cref="ByolLearner.ForwardBackward"/>) written out so that an
/// independent implementation (bench/gpu/parity_torch.py: PyTorch) can redo it and compare. Into a folder:
/// <list type="bullet">
/// <item><c>weights.safetensors</c>: the initial student (state-dict names: <c>conv1.weight</c>, …,
///   <c>projector.0.weight</c>, <c>predictor.3.bias</c>) and teacher (<c>teacher.</c> prefix), as a checkpoint holds them;</item>
/// <item><c>views.safetensors</c>: <c>view1</c>, <c>view2</c> (B, 3, 32, 32), N(0, 1) from the seed;</item>
/// <item><c>gradients.safetensors</c>: d loss / d θ for every student parameter, under the parameter's name;</item>
/// <item><c>outputs.safetensors</c>: <c>loss</c> (scalar), <c>p1</c>, <c>p2</c>, <c>z1</c>, <c>z2</c> (B, out);</item>
/// <item><c>manifest.json</c>: sizes, seed, device, BatchNorm ε and momentum, the loss, the file names.</item>
/// </list>
/// </summary>
public static class ParityExport
{
    public const string Format = "byol-parity/1";
    public const string ManifestFile = "manifest.json";
    public const string WeightsFile = "weights.safetensors";
    public const string ViewsFile = "views.safetensors";
    public const string GradientsFile = "gradients.safetensors";
    public const string OutputsFile = "outputs.safetensors";

    public static ParityResult Run(ComputeDevice device, ByolArchitecture architecture, int batchSize, int seed, string folder)
    {
        if (batchSize < 2)
            throw new ArgumentException($"--batch-size must be at least 2 (BatchNorm needs two samples), got {batchSize}");
        Directory.CreateDirectory(folder);
        using var model = new ByolModel(device, architecture, seed);
        using var optimizer = new Sgd(model.Student);   // never stepped: the learner wants one
        var learner = new ByolLearner(model, optimizer);

        var untracked = (ParameterStore store) => ParameterStoreCheckpoint.BatchNormModules(store).ToDictionary(m => m, _ => 0L);
        var weights = ParameterStoreCheckpoint.Export(model.Student, "", untracked(model.Student))
            .Concat(ParameterStoreCheckpoint.Export(model.Teacher, TrainingCheckpoint.TeacherPrefix, untracked(model.Teacher)))
            .ToList();
        SafeTensors.Save(Path.Combine(folder, WeightsFile), weights);

        int[] viewShape = [batchSize, 3, 32, 32];   // (B, 3, H, W)
        var rng = new Random(seed + 1);
        var host1 = new float[Tensor.ShapeLength(viewShape)];
        var host2 = new float[host1.Length];
        for (int i = 0; i < host1.Length; i++)
        {
            host1[i] = (float)Init.StandardNormal(rng);
            host2[i] = (float)Init.StandardNormal(rng);
        }
        SafeTensors.Save(Path.Combine(folder, ViewsFile), [NamedTensor.F32("view1", viewShape, host1), NamedTensor.F32("view2", viewShape, host2)]);

        device.Pool.ReleaseAll();
        var view1 = Tensor.FromHost(device, "view1", host1, viewShape);
        var view2 = Tensor.FromHost(device, "view2", host2, viewShape);
        var step = learner.ForwardBackward(view1, view2);
        device.Synchronize();

        float loss = step.Loss.ToHost()[0];
        var grads = model.Student.GradsToHost();
        SafeTensors.Save(Path.Combine(folder, GradientsFile),
            model.Student.Parameters.Select(p => NamedTensor.F32(p.Name, p.Shape, grads.AsSpan(p.Offset, p.Length))).ToList());
        SafeTensors.Save(Path.Combine(folder, OutputsFile),
        [
            NamedTensor.F32("loss", [], [loss]),
            .. new[] { ("p1", step.P1), ("p2", step.P2), ("z1", step.Z1), ("z2", step.Z2) }.Select(o => NamedTensor.F32(o.Item1, o.Item2.Shape, o.Item2.ToHost())),
        ]);

        var bn = model.StudentBackbone.BatchNorms.First();
        string manifest = Path.Combine(folder, ManifestFile);
        AtomicFile.Write(manifest, stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("device", device.ToString());
            json.WriteString("device_kind", device.Kind.ToString().ToLowerInvariant());
            json.WriteNumber("width", architecture.Width);
            json.WriteNumber("proj_hidden", architecture.ProjectorHidden);
            json.WriteNumber("proj_out", architecture.ProjectorOut);
            json.WriteNumber("pred_hidden", architecture.PredictorHidden);
            json.WriteNumber("batch_size", batchSize);
            json.WriteNumber("seed", seed);
            json.WriteNumber("bn_eps", bn.Eps);
            json.WriteNumber("bn_momentum", bn.Momentum);
            json.WriteNumber("loss", loss);
            json.WriteNumber("parameters", model.Student.Parameters.Count);
            json.WriteStartObject("files");
            json.WriteString("weights", WeightsFile);
            json.WriteString("views", ViewsFile);
            json.WriteString("gradients", GradientsFile);
            json.WriteString("outputs", OutputsFile);
            json.WriteEndObject();
            json.WriteEndObject();
        });
        return new ParityResult(loss, model.Student.Parameters.Count, manifest);
    }
}
