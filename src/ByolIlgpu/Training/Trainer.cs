using System.Diagnostics;
using System.Text.Json;
using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Data;
using ByolIlgpu.Engine;
using ByolIlgpu.Eval;
using ByolIlgpu.Optim;
using ILGPU;
using ILGPU.Runtime;

namespace ByolIlgpu.Training;

/// <summary>The outcome of a run: the last epoch finished and the final kNN accuracies.</summary>
public sealed record TrainingResult(int EpochsDone, long Steps, double FinalLoss, KnnResult? FinalKnn, bool Stopped);

/// <summary>Raised when the loss becomes NaN or infinite: the run stops, the last good checkpoint stays.</summary>
public sealed class DivergedException(string message) : Exception(message);

/// <summary>
/// `byol train`: BYOL pretraining with per-step warm-up + cosine lr, cosine τ, kNN monitoring,
/// metrics, plot and atomic checkpoints in the run folder; exact resume from a checkpoint.
/// Every random choice is keyed by (seed, epoch, sample, view), so a resumed run repeats the
/// uninterrupted one bit for bit on the same device.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly TrainingConfig config;
    readonly ComputeDevice device;
    readonly ProgressReporter progress;
    readonly ImageDataset train;
    readonly ImageDataset? bank, test;          // kNN's labelled bank and queries; null: no kNN (an unlabeled set)
    readonly ResidentBatchSource? bankPixels, testPixels;   // on the device when the data placement is "device" (the bank: when it is not the training set)
    readonly long? poolLimit;                   // BYOL_POOL_LIMIT_MIB's cap before the resident data took its share
    readonly ByolModel model;
    readonly Optimizer optimizer;
    readonly ByolLearner learner;
    readonly TrainingStep trainingStep;
    readonly MetricsLog metrics;
    readonly Precision previousPrecision;   // the device's, given back at Dispose
    int startEpoch;
    long step;
    bool resumed;
    double elapsedBefore;   // elapsed_s of the last metrics row a resumed run keeps

    /// <param name="test">kNN's queries; null (or unlabeled) turns kNN off.</param>
    /// <param name="bank">kNN's labelled bank; null: the training set (STL-10 pretrains on more images than it has labels for).</param>
    public Trainer(TrainingConfig config, ComputeDevice device, ImageDataset train, ImageDataset? test, ProgressReporter progress, ImageDataset? bank = null)
    {
        // The image size, stem and blur (when left to the run) resolved from the training set, so config.json and the checkpoints record them.
        config = config.ResolveFor(train.Height, train.Width);
        config.Validate();
        this.config = config;
        this.device = device;
        this.progress = progress;
        this.train = train;
        bank ??= train;
        if (test is not null && test.HasLabels && bank.HasLabels)
        {
            this.test = test;
            this.bank = bank;
        }
        if (train.Count < config.BatchSize)
            throw new ArgumentException($"--batch-size {config.BatchSize} is larger than the training set ({train.Count} images)");
        // The run's precision (auto: the device's default) is what config.json and the checkpoints record.
        previousPrecision = device.Precision;
        device.UsePrecision(DevicePolicy.ChoosePrecision(device.Info, Precisions.Parse(config.Precision)));
        this.config = config = config with { Precision = device.Precision.Name() };
        device.KernelLog.Clear();   // from here on the log holds this run's kernel versions
        model = new ByolModel(device, config.Architecture, config.Seed);
        optimizer = CreateOptimizer(config, model.Student);
        learner = new ByolLearner(model, optimizer);
        // Data placement: auto measures the step's pool on the streamed path first, then moves the images to the
        // device if they and the step fit the budget (the same run bit for bit either way).
        var requested = DataPlacements.Parse(config.DataPlacement);
        IBatchSource source = requested == DataPlacement.Device
            ? new ResidentBatchSource(device, train.PixelSource)
            : new StreamedBatchSource(device, train.PixelSource, config.BatchSize);
        trainingStep = new TrainingStep(device, learner, source, config.BatchSize, config.Seed, config.Blur ?? false,
            train.Height, train.Width, config.ImageSize);
        long dataBytes = (long)train.Count * train.ImageBytes + (this.bank is null ? 0 : (ReferenceEquals(this.bank, train) ? 0 : (long)this.bank.Count * this.bank.ImageBytes) + (long)this.test!.Count * this.test.ImageBytes);
        long stepBytes = requested == DataPlacement.Auto ? trainingStep.MeasurePoolBytes(config.BatchSize) : 0;
        Placement = DataPlacements.Choose(requested, dataBytes, stepBytes, device.Pool.CapacityBytes, device.Pool.LimitBytes is not null);
        if (Placement.Placement == DataPlacement.Device)
        {
            if (trainingStep.Source is not ResidentBatchSource)
                trainingStep.UseSource(new ResidentBatchSource(device, train.PixelSource));
            if (this.bank is not null)
            {
                if (!ReferenceEquals(this.bank, train))
                    bankPixels = new ResidentBatchSource(device, this.bank.PixelSource);
                testPixels = new ResidentBatchSource(device, this.test!.PixelSource);
            }
        }
        // A capped budget covers the data too: what the images (or the streamed ring) hold is not the pool's.
        if (device.Pool.LimitBytes is long cap)
        {
            poolLimit = cap;
            device.Pool.LimitBytes = Math.Max(1, cap - trainingStep.Source.DeviceBytes - (bankPixels?.DeviceBytes ?? 0) - (testPixels?.DeviceBytes ?? 0));
            trainingStep.BudgetBytes = cap;
        }
        progress.Line(Placement.Describe());
        Directory.CreateDirectory(config.RunDir);
        metrics = new MetricsLog(Path.Combine(config.RunDir, RunFolder.MetricsFile));
    }

    public ByolModel Model => model;

    /// <summary>Where the images are (device or host) and why; printed first, recorded in config.json.</summary>
    public PlacementDecision Placement { get; }
    public int StepsPerEpoch => trainingStep.StepsPerEpoch;   // the last partial batch is dropped
    long TotalSteps => (long)StepsPerEpoch * config.Epochs;

    public static Optimizer CreateOptimizer(TrainingConfig c, ParameterStore student) => c.Optimizer switch
    {
        "lars" => new Lars(student, (float)c.Momentum, (float)c.WeightDecay, (float)c.TrustCoefficient),
        "sgd" => new Sgd(student, (float)c.Momentum, (float)c.WeightDecay),
        "adam" => new Adam(student, weightDecay: (float)c.WeightDecay),
        "adamw" => new Adam(student, weightDecay: (float)c.WeightDecay, decoupled: true),
        _ => throw new ArgumentException($"unknown optimizer '{c.Optimizer}'"),
    };

    public double LearningRateAt(long k) =>
        Schedules.WarmupCosine(config.PeakLearningRate, k, (long)Math.Round(config.WarmupEpochs * StepsPerEpoch), TotalSteps);

    public double TauAt(long k) => config.ConstantTau ? config.Tau0 : Ema.CosineTau(config.Tau0, k, TotalSteps);

    /// <summary>Trains from the current position to the last epoch (or until <paramref name="stopAfterEpoch"/>, for tests of resume).</summary>
    public TrainingResult Run(int? stopAfterEpoch = null)
    {
        double lastLoss = double.NaN;
        KnnResult? knn = null;
        var runClock = Stopwatch.StartNew();
        // Before anything fills the pool: a step that cannot fit stops here, with the largest batch that does.
        // It runs every kernel of a step once, so the kernel versions config.json records are complete.
        trainingStep.CheckMemory();
        AtomicFile.WriteAllBytes(Path.Combine(config.RunDir, RunFolder.ConfigFile), System.Text.Encoding.UTF8.GetBytes(ConfigJson()));
        // A run resumed from the epoch-0 checkpoint has its baseline already (row and checkpoint).
        if (!resumed && startEpoch == 0 && step == 0)
        {
            // The baseline every later number is compared with: the same network at step 0.
            if (config.KnnEvery > 0 && KnnPossible)
            {
                knn = EvaluateKnn();
                progress.Line($"epoch 0  knn top1 {100 * knn.Top1:F2}% (k={knn.K})  k=1 {100 * knn.Top1K1:F2}%  (initial network)");
                metrics.Append(new MetricsRow(0, 0, null, TauAt(0), 0, 0, knn.Top1, knn.Top1K1, elapsedBefore + runClock.Elapsed.TotalSeconds));
            }
            if (config.CheckpointEvery > 0)
                SaveCheckpoint(0);
        }
        for (int epoch = startEpoch; epoch < config.Epochs; epoch++)
        {
            var (loss, imagesPerSecond) = TrainEpoch(epoch);
            lastLoss = loss;
            bool last = epoch == config.Epochs - 1;
            knn = null;
            if (KnnPossible && (last || (config.KnnEvery > 0 && (epoch + 1) % config.KnnEvery == 0)))
                knn = EvaluateKnn();
            long stepNow = step;
            metrics.Append(new MetricsRow(stepNow, epoch + 1, loss, TauAt(stepNow), LearningRateAt(stepNow - 1), imagesPerSecond,
                knn?.Top1, knn?.Top1K1, elapsedBefore + runClock.Elapsed.TotalSeconds));
            progress.Line($"epoch {epoch + 1}/{config.Epochs}  loss {loss:F4}  tau {TauAt(stepNow):F5}  lr {LearningRateAt(stepNow - 1):G4}  " +
                $"{imagesPerSecond:F1} img/s" + (knn is null ? "" : $"  knn top1 {100 * knn.Top1:F2}% (k={knn.K})  k=1 {100 * knn.Top1K1:F2}%"));
            TrainingPlot.Save(MetricsLog.Read(metrics.Path), Path.Combine(config.RunDir, RunFolder.PlotFile));
            if (last || (config.CheckpointEvery > 0 && (epoch + 1) % config.CheckpointEvery == 0) || stopAfterEpoch == epoch + 1)
                SaveCheckpoint(epoch + 1);
            if (stopAfterEpoch == epoch + 1 && !last)
                return new TrainingResult(epoch + 1, step, loss, knn, Stopped: true);
        }
        return new TrainingResult(config.Epochs, step, lastLoss, knn, Stopped: false);
    }

    (double loss, double imagesPerSecond) TrainEpoch(int epoch)
    {
        trainingStep.BeginEpoch(epoch, EpochOrder.Permutation(train.Count, config.Seed, epoch));
        var clock = Stopwatch.StartNew();
        int b = config.BatchSize;
        double reported = 0;
        for (int s = 0; s < StepsPerEpoch; s++)
        {
            try
            {
                trainingStep.Run(s, (float)LearningRateAt(step), (float)TauAt(step));
            }
            catch (DeviceMemoryException e)
            {
                // Something else took the memory the check before the first step counted on: say where, keep the cause.
                throw new DeviceMemoryException($"{e.Message} (epoch {epoch + 1}, step {s + 1}, --batch-size {b}); the last checkpoint in the run folder is the last good state", e.RequestedBytes, e);
            }
            step++;
            // Reading the loss waits for the device: do it a few times an epoch, not every step.
            if ((s + 1) % Math.Max(1, StepsPerEpoch / ProgressReadsPerEpoch) == 0 || s + 1 == StepsPerEpoch)
            {
                reported = trainingStep.ReadLossSum() / (s + 1);
                CheckFinite(reported, epoch, s + 1);
                double seconds = clock.Elapsed.TotalSeconds;
                var eta = TimeSpan.FromSeconds(seconds / (s + 1) * (StepsPerEpoch - s - 1));
                progress.Update($"epoch {epoch + 1}/{config.Epochs}", s + 1, StepsPerEpoch,
                    $"loss {reported:F4} {(s + 1) * b / seconds:F1} img/s", eta);
            }
        }
        device.Synchronize();
        return (reported, StepsPerEpoch * b / clock.Elapsed.TotalSeconds);
    }

    /// <summary>How often an epoch reads its running loss back (each read waits for the device).</summary>
    public const int ProgressReadsPerEpoch = 8;

    static void CheckFinite(double loss, int epoch, int stepInEpoch)
    {
        if (!double.IsFinite(loss))
            throw new DivergedException($"the loss became {loss} at epoch {epoch + 1}, step {stepInEpoch}: training stopped; " +
                "the last checkpoint in the run folder is the last good state (try a lower --lr)");
    }

    /// <summary>Weighted kNN (k = config, and k = 1) of the student backbone's eval-mode features: train bank, test queries.</summary>
    public KnnResult EvaluateKnn() => KnnPossible
        ? Evaluation.Knn(device, model, bank!, ReferenceEquals(bank, train) ? (trainingStep.Source as ResidentBatchSource)?.Pixels : bankPixels?.Pixels,
            test!, testPixels?.Pixels, config.KnnK, Math.Max(2, config.BatchSize), config.ImageSize)
        : throw new InvalidOperationException("kNN needs a labelled training set and a labelled test set");

    /// <summary>Whether there is a labelled bank and labelled queries to measure kNN with.</summary>
    public bool KnnPossible => bank is not null;

    /// <summary>config.json: the configuration, and under "kernels" the precision and kernel versions that ran (<see cref="KernelRecord"/>).</summary>
    string ConfigJson()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(config.ToJson())!.AsObject();
        node["kernels"] = KernelRecord.Of(device).ToJsonNode();
        node["data-placement-chosen"] = Placement.Placement.ToString().ToLowerInvariant();
        node["data-placement-reason"] = Placement.Reason;
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    // ---- checkpoints ----

    sealed record OptimizerInfo(string Name, long Steps);

    void SaveCheckpoint(int epochsDone)
    {
        var checkpoint = new TrainingCheckpoint
        {
            Epoch = epochsDone,
            Step = step,
            Seed = config.Seed,
            Config = config.ToJson(),
            Optimizer = JsonSerializer.Serialize(new OptimizerInfo(config.Optimizer, optimizer.Steps)),
            Kernels = KernelRecord.Of(device).ToJson(),
        };
        checkpoint.Tensors.AddRange(ParameterStoreCheckpoint.Export(model.Student, "", model.StudentBatchNorms.ToDictionary(b => b.Name, b => b.BatchesTracked)));
        checkpoint.Tensors.AddRange(ParameterStoreCheckpoint.Export(model.Teacher, TrainingCheckpoint.TeacherPrefix, model.TeacherBatchNorms.ToDictionary(b => b.Name, b => b.BatchesTracked)));
        checkpoint.Tensors.AddRange(OptimizerCheckpoint.Export(optimizer));
        CheckpointFolder.Save(config.RunDir, checkpoint);
        // Only after the new checkpoint is complete on the disk; a kill before this leaves one more, pruned next time.
        CheckpointFolder.Prune(config.RunDir, config.KeepCheckpoints);
    }

    /// <summary>Restores weights, running statistics, optimizer state and position from a checkpoint file.</summary>
    public void Resume(string checkpointPath)
    {
        var checkpoint = TrainingCheckpoint.Load(checkpointPath);
        var tracked = ParameterStoreCheckpoint.Import(model.Student, "", checkpoint.Tensors);
        var teacherTracked = ParameterStoreCheckpoint.Import(model.Teacher, TrainingCheckpoint.TeacherPrefix, checkpoint.Tensors);
        foreach (var bn in model.StudentBatchNorms) bn.BatchesTracked = tracked[bn.Name];
        foreach (var bn in model.TeacherBatchNorms) bn.BatchesTracked = teacherTracked[bn.Name];
        var info = JsonSerializer.Deserialize<OptimizerInfo>(checkpoint.Optimizer ?? "{}")
            ?? throw new InvalidDataException($"{checkpointPath}: metadata 'byol.optimizer' is empty");
        if (info.Name != config.Optimizer)
            throw new InvalidDataException($"{checkpointPath}: the checkpoint was written by {info.Name}, this run uses {config.Optimizer}");
        OptimizerCheckpoint.Import(optimizer, checkpoint.Tensors, info.Steps);
        UseRecordedKernels(KernelRecord.FromCheckpoint(checkpoint), Path.GetFileName(checkpointPath));
        trainingStep.ForgetMeasurement();   // auto placement measured with this build's versions; the check before the first step runs the pinned ones
        startEpoch = checkpoint.Epoch;
        step = checkpoint.Step;
        resumed = true;
        // The rows of the epochs this run repeats go, and a line torn by a kill while it was written.
        var (kept, torn) = metrics.ResumeAfterEpoch(startEpoch);
        if (torn is not null)
            progress.Line($"warning: {torn}, left by a run killed while writing it");
        elapsedBefore = kept.Count > 0 ? kept[^1].ElapsedSeconds : 0;
    }

    /// <summary>
    /// Pins the kernel versions the checkpoint recorded, so the resumed run repeats the uninterrupted
    /// one bit for bit even where this build's table would choose differently. A precision other
    /// than the recorded one (an explicit --precision) or another device family runs its own
    /// versions, with a warning that the run no longer matches an uninterrupted one.
    /// </summary>
    void UseRecordedKernels(KernelRecord recorded, string file)
    {
        const string notBitForBit = "so the resumed run will not repeat an uninterrupted one bit for bit";
        if (recorded.Precision != device.Precision)
        {
            progress.Line($"warning: {file} was trained in {recorded.Precision.Name()}{(recorded.IsLegacy ? " (written before precisions were recorded)" : "")}; " +
                $"this run continues in {device.Precision.Name()} as --precision asks, {notBitForBit}");
            return;
        }
        if (recorded.IsLegacy)
            return;   // FP32 with the table's versions, which is what runs
        if (recorded.Family != device.Policy.Family)
        {
            progress.Line($"warning: {file} was trained on {recorded.Device}; {device} runs its own kernel versions, {notBitForBit}");
            return;
        }
        var missing = device.KernelLog.Pin(recorded.Versions);
        if (missing.Count > 0)
            progress.Line($"warning: {file} records kernel versions this build lacks ({string.Join(", ", missing)}); those run this build's defaults, {notBitForBit}");
    }

    public void Dispose()
    {
        device.KernelLog.Unpin();
        device.UsePrecision(previousPrecision);
        model.Dispose();
        optimizer.Dispose();
        trainingStep.Dispose();
        bankPixels?.Dispose();
        testPixels?.Dispose();
        if (poolLimit is long cap)
            device.Pool.LimitBytes = cap;
    }
}
