using System.CommandLine;
using ByolIlgpu.Training;

namespace ByolIlgpu.Cli;

/// <summary>`byol train`: BYOL pretraining; one line per epoch, the final kNN top-1 as the last line.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var defaults = new TrainingConfig();
        var arch = new ArchitectureOptions();
        var data = new Option<string?>("--data") { Description = DataOptions.DataHelp + " Without --data or --synthetic CIFAR-10 is downloaded into the cache." };
        var testData = new Option<string?>("--test-data") { Description = DataOptions.TestDataHelp + " Without a labelled training set and test set, kNN is off (said once) and training runs." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = DataOptions.CacheDirHelp };
        var badImages = DataOptions.BadImagesOption();
        var synthetic = new Option<int>("--synthetic") { Description = "Train on N generated images (shapes and colours by class) instead of CIFAR-10; runs anywhere.", DefaultValueFactory = _ => 0 };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs. On --resume: extends (or shortens) the run; the lr and τ schedules then run over the new total " +
            "from the resumed step, so the run no longer repeats the shorter one (a warning says so). At or below the checkpoint's epoch: an error.", DefaultValueFactory = _ => defaults.Epochs };
        var batch = new Option<int>("--batch-size") { Description = "Images per view per step (the last partial batch of an epoch is dropped).", DefaultValueFactory = _ => defaults.BatchSize };
        var optimizer = new Option<string>("--optimizer") { Description = "lars (BYOL's, for long runs), sgd (momentum; learns faster in runs of tens of epochs: try --lr 0.12 --weight-decay 5e-4), adam or adamw.", DefaultValueFactory = _ => defaults.Optimizer };
        optimizer.AcceptOnlyFromAmong(TrainingConfig.Optimizers);
        var lr = new Option<double?>("--lr") { Description = "Base learning rate. Default: lars 1.0 and sgd 0.05 per 256 images (scaled linearly with the batch), adam/adamw 3e-4." };
        var warmup = new Option<double>("--warmup-epochs") { Description = "Linear warm-up of the learning rate from 0, then a cosine to 0 (per step).", DefaultValueFactory = _ => defaults.WarmupEpochs };
        var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay (biases and BatchNorm excluded).", DefaultValueFactory = _ => defaults.WeightDecay };
        var tau = new Option<double>("--tau") { Description = "EMA τ at the start; it rises to 1 on a cosine over the steps.", DefaultValueFactory = _ => defaults.Tau0 };
        var constantTau = new Option<bool>("--constant-tau") { Description = "Keep τ constant instead of the cosine schedule." };
        var blur = new Option<bool?>("--blur")
        {
            Description = "BYOL's Gaussian blur (p 1.0 / 0.1, σ 0.1–2.0, 2·⌊size/20⌋ + 1 taps: 23 at 224 px): --blur or --blur true turns it on, --blur false off. " +
                $"Default: on from {Data.AugmentationConfig.BlurFromSize} px, off below as the CIFAR recipes do.",
        };
        var imageSize = new Option<int>("--image-size")
        {
            Description = "Side of the square training views (and of evaluation, which resizes by the shorter side and centre-crops) in px. Default: the data set's resolution.",
            DefaultValueFactory = _ => 0,
        };
        var device = new Option<string>("--device") { Description = "Device: auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu, optionally :INDEX. On --resume: the given one.", DefaultValueFactory = _ => defaults.Device };
        var placement = DataPlacementOption.Create();
        var precision = PrecisionOption.Create("On --resume: the checkpoint's; another one is honoured, with a warning that the run is no longer bit-identical.");
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation, the epoch order and every augmentation.", DefaultValueFactory = _ => defaults.Seed };
        var knnEvery = new Option<int>("--knn-every") { Description = "Measure kNN accuracy every N epochs (0: only at the end). On --resume: the given one.", DefaultValueFactory = _ => defaults.KnnEvery };
        var knnK = new Option<int>("--knn-k") { Description = "Neighbours of the weighted kNN (clamped to the bank size).", DefaultValueFactory = _ => defaults.KnnK };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Write a checkpoint every N epochs (and always at the end). On --resume: the given one.", DefaultValueFactory = _ => defaults.CheckpointEvery };
        var keepCheckpoints = new Option<int>("--keep-checkpoints") { Description = "Keep the newest N epoch checkpoints besides the epoch-0 baseline, pruning older ones after each write (0: keep all). On --resume: the given one.", DefaultValueFactory = _ => defaults.KeepCheckpoints };
        var runDir = new Option<string>("--run-dir") { Description = "Folder for config.json, metrics.jsonl, metrics.png and checkpoints. A folder that holds another run is refused without --resume or --overwrite.", DefaultValueFactory = _ => defaults.RunDir };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder (or from this checkpoint file) exactly where it stopped; its saved configuration is used: " +
            "a flag given with a different value gets a warning naming both values, and the saved one wins except for --epochs, --precision, --device, --knn-every, --checkpoint-every and --keep-checkpoints." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Start a new run in a --run-dir that holds another: its config.json, metrics, plot and checkpoints are removed (nothing else in the folder)." };
        var trainLimit = new Option<int>("--train-limit") { Description = "Use only the first N training images (0: all).", DefaultValueFactory = _ => 0 };
        var testLimit = new Option<int>("--test-limit") { Description = "Use only the first N test images for kNN (0: all).", DefaultValueFactory = _ => 0 };

        var command = new Command("train", "Pretrain BYOL (ResNet-18 student and EMA teacher) and monitor it with kNN accuracy.");
        arch.AddTo(command);
        foreach (var option in new Option[] { data, testData, cacheDir, badImages, synthetic, imageSize, epochs, batch, optimizer, lr, warmup, weightDecay, tau, constantTau, blur, device, placement, precision, seed,
                     knnEvery, knnK, checkpointEvery, keepCheckpoints, runDir, resume, overwrite, trainLimit, testLimit })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var config = new TrainingConfig
            {
                Data = parse.GetValue(data),
                TestData = parse.GetValue(testData),
                CacheDir = parse.GetValue(cacheDir),
                BadImages = parse.GetValue(badImages)!,
                Synthetic = parse.GetValue(synthetic),
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch),
                Architecture = arch.Read(parse),
                Optimizer = parse.GetValue(optimizer)!,
                LearningRate = parse.GetValue(lr),
                WarmupEpochs = parse.GetValue(warmup),
                WeightDecay = parse.GetValue(weightDecay),
                Tau0 = parse.GetValue(tau),
                ConstantTau = parse.GetValue(constantTau),
                Blur = parse.GetValue(blur),
                ImageSize = parse.GetValue(imageSize),
                AutoStem = arch.StemIsAuto(parse),
                Device = parse.GetValue(device)!,
                DataPlacement = parse.GetValue(placement)!,
                Precision = PrecisionOption.Read(parse, precision),
                Seed = parse.GetValue(seed),
                KnnEvery = parse.GetValue(knnEvery),
                KnnK = parse.GetValue(knnK),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                KeepCheckpoints = parse.GetValue(keepCheckpoints),
                RunDir = parse.GetValue(runDir)!,
                TrainLimit = parse.GetValue(trainLimit),
                TestLimit = parse.GetValue(testLimit),
            };
            try
            {
                config.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            var output = parse.InvocationConfiguration.Output;
            var progress = ProgressReporter.For(output, interactive: ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);
            // Given explicitly (an option not given has no result, or an implicit one holding its default): on --resume each is checked against the saved configuration.
            var given = command.Options.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
            TrainingResult result;
            try
            {
                result = TrainingRun.Execute(config, parse.GetValue(resume), progress, given, parse.GetValue(overwrite));
            }
            catch (RunFolderException e)
            {
                throw new UsageException(e.Message);
            }
            output.WriteLine($"final knn top1: {result.FinalKnn?.Top1 ?? double.NaN:F4}");
            return CommandLine.Ok;
        });
        return command;
    }
}
