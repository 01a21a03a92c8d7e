using System.Security.Cryptography;
using System.Text;
using ByolIlgpu.Checkpoints;
using ByolIlgpu.Tests.Checkpoints;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>The run folder's own rules, without a device: torn metrics lines, stale temporaries, another run in the folder, pruning, --resume's flags.</summary>
public class RunFolderTests
{
    static MetricsRow Row(int epoch) => new(epoch * 3, epoch, epoch == 0 ? null : 4.0 / (epoch + 1), 0.99 + epoch / 1000.0, 0.01 * epoch, 123.4, 0.1 * epoch, null, epoch + 0.5);

    static MetricsLog LogWith(TempFolder dir, params int[] epochs)
    {
        var log = new MetricsLog(dir.File(RunFolder.MetricsFile));
        foreach (int e in epochs)
            log.Append(Row(e));
        return log;
    }

    [Fact]
    public void EachMetricsRowIsOneWholeLine()
    {
        using var dir = new TempFolder();
        var log = LogWith(dir, 0, 1, 2);
        var text = File.ReadAllText(log.Path);
        Assert.EndsWith("}\n", text);
        Assert.Equal(3, text.Count(c => c == '\n'));
        Assert.Equal([Row(0), Row(1), Row(2)], MetricsLog.Read(log.Path));
    }

    [Theory]
    [InlineData("{\"step\":9,\"epoch\":3,\"lo", "without a newline")]     // cut mid-write
    [InlineData("{\"step\":9,\"epoch\":3}", "without a newline")]          // whole object, newline lost: still torn
    [InlineData("{\"step\":9,\"epo\n", "not a metrics row")]              // garbage with a newline
    public void ATornLastLineIsDroppedOnResumeWithAWarning(string torn, string why)
    {
        using var dir = new TempFolder();
        var log = LogWith(dir, 0, 1, 2);
        File.AppendAllText(log.Path, torn);
        var (kept, warning) = log.ResumeAfterEpoch(2);
        Assert.Equal([Row(0), Row(1), Row(2)], kept);
        Assert.NotNull(warning);
        Assert.Contains(RunFolder.MetricsFile, warning);
        Assert.Contains("line 4", warning);
        Assert.Contains(why, warning);
        Assert.Equal([Row(0), Row(1), Row(2)], MetricsLog.Read(log.Path));
        Assert.EndsWith("}\n", File.ReadAllText(log.Path));
        Assert.Equal(["metrics.jsonl"], dir.Entries());   // rewritten atomically: no temporary left
    }

    [Fact]
    public void ResumingDropsTheRowsAfterTheCheckpointButABadLineInTheMiddleIsAnError()
    {
        using var dir = new TempFolder();
        var log = LogWith(dir, 0, 1, 2, 3);
        var (kept, warning) = log.ResumeAfterEpoch(1);
        Assert.Null(warning);
        Assert.Equal([Row(0), Row(1)], kept);
        using (var fresh = new TempFolder())
            Assert.Equal(File.ReadAllText(LogWith(fresh, 0, 1).Path), File.ReadAllText(log.Path));   // as if never written

        File.WriteAllText(log.Path, File.ReadAllText(log.Path).Replace("\"epoch\":1", "\"epoch\":one"));
        File.AppendAllText(log.Path, System.Text.Json.JsonSerializer.Serialize(Row(2)) + "\n");
        var e = Assert.Throws<InvalidDataException>(() => log.ResumeAfterEpoch(2));
        Assert.Contains("line 2 is not a metrics row", e.Message);
    }

    static string StaleName(string target) => $".{target}.4242-{Guid.NewGuid():N}.tmp";

    [Fact]
    public void StaleTemporariesOfTheRunAreRemovedAtStartAndNamed()
    {
        using var dir = new TempFolder();
        string[] stale = [StaleName("checkpoint-epoch0004.safetensors"), StaleName("metrics.png"), StaleName("config.json"), "metrics.jsonl.tmp", "metrics.png.tmp.png"];
        string[] others = ["notes.txt", StaleName("notes.txt"), ".draft.tmp", "checkpoint-epoch0004.safetensors.tmp"];   // not the trainer's
        foreach (var name in stale.Concat(others))
            File.WriteAllBytes(dir.File(name), [1, 2, 3]);
        Assert.Equal(stale.Order(StringComparer.Ordinal), RunFolder.StaleTemporaries(dir.Path).Select(Path.GetFileName));
        var log = new StringWriter();
        RunFolder.Prepare(dir.Path, resuming: false, overwrite: false, new PlainProgress(log));   // stale temporaries alone are no run
        Assert.Equal(others.Order(StringComparer.Ordinal), dir.Entries());
        var lines = log.ToString().TrimEnd().Split('\n');
        Assert.Equal(stale.Length, lines.Length);
        foreach (var name in stale)
            Assert.Single(lines, l => l.StartsWith("warning: removed " + name + ",", StringComparison.Ordinal) && l.Contains(dir.Path));
    }

    [Fact]
    public void ANewRunRefusesAFolderWithAnotherRunAndOverwriteRemovesOnlyTheRunsFiles()
    {
        using var dir = new TempFolder();
        LogWith(dir, 0, 1);
        File.WriteAllText(dir.File(RunFolder.ConfigFile), "{}");
        File.WriteAllText(dir.File(RunFolder.PlotFile), "png");
        File.WriteAllText(dir.File(CheckpointFolder.FileName(0)), "x");
        File.WriteAllText(dir.File(CheckpointFolder.FileName(1)), "x");
        File.WriteAllText(dir.File(StaleName(CheckpointFolder.FileName(2))), "x");
        File.WriteAllText(dir.File("notes.txt"), "mine");
        Directory.CreateDirectory(dir.File("eval"));
        File.WriteAllText(dir.File("eval/checkpoint-epoch0009.safetensors"), "mine too");

        var e = Assert.Throws<RunFolderException>(() => RunFolder.Prepare(dir.Path, resuming: false, overwrite: false, new PlainProgress(TextWriter.Null)));
        Assert.Equal($"{dir.Path} holds another run (config.json, metrics.jsonl, 2 checkpoints): continue it with --resume {dir.Path}, " +
            "or replace it with --overwrite (which removes only the files byol train writes)", e.Message);
        Assert.Equal(8, dir.Entries().Length);   // untouched

        RunFolder.Prepare(dir.Path, resuming: true, overwrite: false, new PlainProgress(TextWriter.Null));   // a resume only clears the temporary
        Assert.Equal(7, dir.Entries().Length);

        var log = new StringWriter();
        RunFolder.Prepare(dir.Path, resuming: false, overwrite: true, new PlainProgress(log));
        Assert.Equal(["eval", "notes.txt"], dir.Entries());
        Assert.Equal("mine too", File.ReadAllText(dir.File("eval/checkpoint-epoch0009.safetensors")));
        Assert.Contains("removed the previous run's 5 files", log.ToString());
        RunFolder.CheckAvailable(dir.Path, overwrite: false);   // now free
    }

    [Fact]
    public void PruningKeepsTheBaselineAndTheNewest()
    {
        using var dir = new TempFolder();
        foreach (int epoch in new[] { 0, 2, 4, 6, 8 })
            File.WriteAllText(dir.File(CheckpointFolder.FileName(epoch)), "x");
        Assert.Empty(CheckpointFolder.Prune(dir.Path, keep: 0));   // 0: all
        Assert.Equal(5, dir.Entries().Length);
        Assert.Equal([dir.File(CheckpointFolder.FileName(2))], CheckpointFolder.Prune(dir.Path, keep: 3));
        Assert.Equal([0, 4, 6, 8], CheckpointFolder.List(dir.Path).Select(c => c.Epoch));
        CheckpointFolder.Prune(dir.Path, keep: 1);
        Assert.Equal([0, 8], CheckpointFolder.List(dir.Path).Select(c => c.Epoch));
        File.Delete(dir.File(CheckpointFolder.FileName(8)));
        Assert.Empty(CheckpointFolder.Prune(dir.Path, keep: 1));   // the baseline alone stays
    }

    static TrainingConfig Saved(string runDir) => new()
    {
        Synthetic = 32, Epochs = 10, BatchSize = 16, Seed = 3, KnnEvery = 2, CheckpointEvery = 2, Device = "cpu", Precision = "fp32", RunDir = runDir,
    };

    static (TrainingCheckpoint Checkpoint, string Path) SavedCheckpoint(TempFolder dir, int epoch)
    {
        var checkpoint = new TrainingCheckpoint { Epoch = epoch, Step = 2L * epoch, Config = Saved(dir.Path).ToJson() };
        return (checkpoint, dir.File(CheckpointFolder.FileName(epoch)));
    }

    static (TrainingConfig Config, string[] Lines) Resume(TempFolder dir, int epoch, TrainingConfig given, params string[] flags)
    {
        var (checkpoint, path) = SavedCheckpoint(dir, epoch);
        var log = new StringWriter();
        var config = TrainingRun.Resumed(checkpoint, path, given, flags, new PlainProgress(log));
        return (config, log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>The "not checked" warning is for flags added later without a row: every flag of `byol train` today has one.</summary>
    [Fact]
    public void EveryFlagOfTrainIsComparedOnResumeOrDeliberatelyNot()
    {
        var names = ByolIlgpu.Cli.TrainCommand.Create().Options.Select(o => o.Name).Where(n => n.StartsWith("--") && n != "--help").ToArray();
        Assert.Contains("--image-size", names);
        var known = TrainingRun.ResumeFlags.Select(f => f.Name).Concat(TrainingRun.NotCompared).ToHashSet();
        Assert.Equal([], names.Where(n => !known.Contains(n)).ToArray());   // a new flag needs a row in ResumeFlags
    }

    [Fact]
    public void ResumeWarnsOfEachGivenFlagThatDiffersAndSaysWhichValueWins()
    {
        using var dir = new TempFolder();
        var given = Saved(dir.Path) with { Seed = 7, BatchSize = 16, KnnEvery = 5, Device = "opencl", LearningRate = 0.3, ImageSize = 64 };
        var (config, lines) = Resume(dir, 4, given, "--seed", "--batch-size", "--knn-every", "--device", "--lr", "--image-size", "--a-future-flag");
        Assert.Equal(Saved(dir.Path) with { KnnEvery = 5, Device = "opencl" }, config);
        Assert.Equal(
        [
            "warning: --seed 7 differs from the saved configuration's 3: the saved 3 is used (a resumed run continues its configuration; start a new run to change it)",
            "warning: --knn-every 5 differs from the saved configuration's 2: 5 is used (monitoring only, the weights are the same)",
            "warning: --device opencl differs from the saved configuration's cpu: opencl is used (the device to continue on)",
            "warning: --lr 0.3 differs from the saved configuration's (default): the saved (default) is used (a resumed run continues its configuration; start a new run to change it)",
            "warning: --image-size 64 differs from the saved configuration's 0: the saved 0 is used (a resumed run continues its configuration; start a new run to change it)",
            "warning: --a-future-flag is not checked against the saved configuration on --resume; the run continues with the saved configuration",
        ], lines);   // --batch-size 16 is the saved value: no warning

        var (same, quiet) = Resume(dir, 4, Saved(dir.Path), "--epochs", "--seed", "--run-dir");
        Assert.Equal(Saved(dir.Path), same);
        Assert.Empty(quiet);
    }

    static void AssertOneLineUsageError((int Code, string Output, string Error) r, string message)
    {
        Assert.True(r.Code == 2, $"exit code {r.Code}, expected 2: {r.Error}");
        Assert.Equal("byol: " + message, r.Error.TrimEnd('\n'));
    }

    [Fact]
    public void TheCommandLineRefusesAnotherRunAndAResumeWithoutCheckpointInOneLine()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File(RunFolder.ConfigFile), "{}");
        AssertOneLineUsageError(InProcessCli.Run("train", "--synthetic", "16", "--device", "cpu", "--run-dir", dir.Path),
            $"{dir.Path} holds another run (config.json): continue it with --resume {dir.Path}, or replace it with --overwrite (which removes only the files byol train writes)");
        AssertOneLineUsageError(InProcessCli.Run("train", "--resume", dir.Path, "--overwrite"), "--resume and --overwrite exclude each other: give one");
        AssertOneLineUsageError(InProcessCli.Run("train", "--resume", dir.Path),
            $"{dir.Path}: no checkpoint to resume from, expected a file named like checkpoint-epoch0005.safetensors; start it again with --overwrite");
        Assert.Equal([RunFolder.ConfigFile], dir.Entries());
    }

    /// <summary>Only the flags typed are checked: the defaults of the others (--batch-size 256 against the saved 16) are not "given".</summary>
    [Fact]
    public void TheCommandLineChecksOnlyTheFlagsGiven()
    {
        using var dir = new TempFolder();
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pre-issue12-checkpoint-epoch0001.safetensors"), dir.File(CheckpointFolder.FileName(1)));
        var r = InProcessCli.Run("train", "--resume", dir.Path, "--width", "4", "--epochs", "1");
        AssertOneLineUsageError(r, "--epochs 1: checkpoint-epoch0001.safetensors has finished 1 epochs already; give more than 1 to continue the run");
        Assert.Equal("warning: --width 4 differs from the saved configuration's 2: the saved 2 is used (a resumed run continues its configuration; start a new run to change it)",
            r.Output.TrimEnd('\n'));
    }

    [Fact]
    public void EpochsExtendsAResumedRunAndCannotShortenItBelowTheCheckpoint()
    {
        using var dir = new TempFolder();
        var (longer, lines) = Resume(dir, 4, Saved(dir.Path) with { Epochs = 30 }, "--epochs");
        Assert.Equal(30, longer.Epochs);
        var warning = Assert.Single(lines);
        Assert.Equal("warning: --epochs 30 differs from the saved 10: 30 is used (extending the run); the lr and τ schedules now run over 30 epochs " +
            "from step 8, so the run no longer repeats the 10-epoch one", warning);
        Assert.Equal(6, Resume(dir, 4, Saved(dir.Path) with { Epochs = 6 }, "--epochs").Config.Epochs);
        foreach (int epochs in new[] { 4, 3 })
        {
            var e = Assert.Throws<RunFolderException>(() => Resume(dir, 4, Saved(dir.Path) with { Epochs = epochs }, "--epochs"));
            Assert.Equal($"--epochs {epochs}: checkpoint-epoch0004.safetensors has finished 4 epochs already; give more than 4 to continue the run", e.Message);
        }
        var complete = Assert.Throws<RunFolderException>(() => Resume(dir, 10, Saved(dir.Path), []));
        Assert.Contains("the run is complete (10 of 10 epochs); give --epochs N above 10 to extend it", complete.Message);
    }
}

/// <summary>
/// `byol train` killed with SIGKILL (Process.Kill) mid-epoch and mid-checkpoint, then resumed: it
/// ends as an uninterrupted run (the same command in-process) does, bit for bit, with the same
/// metrics (but for the wall-clock fields), no torn line and no temporary file left.
/// </summary>
public class KilledRunTests
{
    static string[] Train(string runDir, params string[] more) =>
        ["train", "--synthetic", "16", "--epochs", "3", "--batch-size", "8", "--width", "2", "--proj-hidden", "16", "--proj-out", "8",
            "--pred-hidden", "16", "--device", "cpu", "--warmup-epochs", "1", "--knn-every", "1", "--test-limit", "20", "--checkpoint-every", "1", "--run-dir", runDir, .. more];

    static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    static readonly Dictionary<string, string> NoPause = new();

    static MetricsRow Deterministic(MetricsRow r) => r with { ImagesPerSecond = 0, ElapsedSeconds = 0 };

    /// <summary>
    /// Two kills: inside the atomic write of checkpoint 1 (so the resume starts from the epoch-0
    /// baseline and drops epoch 1's row), then in the middle of epoch 2, after checkpoint 1; between
    /// them a torn half line is added to the metrics as a power cut leaves one. The last resume, to
    /// the end, runs in-process.
    /// </summary>
    [Fact]
    public void AKilledRunResumesToTheStateOfAnUninterruptedOne()
    {
        using var straight = new TempFolder();
        using var killed = new TempFolder();
        var (code, _, error) = InProcessCli.Run(Train(straight.Path));
        Assert.True(code == 0, error);
        string metrics = killed.File(RunFolder.MetricsFile);

        // 1. Mid-checkpoint: killed inside the atomic write of epoch 1's checkpoint, after epoch 1's row.
        using (var byol = ByolProcess.Start(new Dictionary<string, string> { [AtomicFile.TestPauseVariable] = CheckpointFolder.FileName(1) }, Train(killed.Path)))
        {
            byol.WaitForLine(l => l.StartsWith("atomic write paused: ", StringComparison.Ordinal), "the pause inside checkpoint 1's write", Patience);
            byol.KillHard();
        }
        var stale = Assert.Single(RunFolder.StaleTemporaries(killed.Path));
        Assert.StartsWith("." + CheckpointFolder.FileName(1) + ".", Path.GetFileName(stale));
        Assert.Equal(8, new FileInfo(stale).Length);   // the header's length alone: a torn file, which --resume never sees
        Assert.Equal([0], CheckpointFolder.List(killed.Path).Select(c => c.Epoch));
        Assert.Equal([0, 1], MetricsLog.Read(metrics).Select(r => r.Epoch));

        // 2. Mid-epoch: the resumed run (from the baseline) is killed after the first of epoch 2's two steps.
        using (var byol = ByolProcess.Start(NoPause, Train(killed.Path, "--resume", killed.Path)))
        {
            byol.WaitForLine(l => l.StartsWith("epoch 2/3 1/2 ", StringComparison.Ordinal), "the first step of epoch 2", Patience);
            byol.KillHard();
            Assert.Contains($"warning: removed {Path.GetFileName(stale)}, left in {killed.Path} by a write that was interrupted", byol.Output);
        }
        Assert.Empty(RunFolder.StaleTemporaries(killed.Path));
        Assert.Equal([0, 1], CheckpointFolder.List(killed.Path).Select(c => c.Epoch));
        Assert.Equal([0, 1], MetricsLog.Read(metrics).Select(r => r.Epoch));   // the first epoch 1 row went; no second baseline
        // SIGKILL cannot tear one write(2) of a line; a full disk or a power cut can: half a row, as they leave it.
        var row = File.ReadAllLines(metrics)[^1];
        File.AppendAllText(metrics, row[..(row.Length / 2)]);

        // 3. To the end.
        string output;
        (code, output, error) = InProcessCli.Run(Train(killed.Path, "--resume", killed.Path));
        Assert.True(code == 0, error);
        Assert.Contains("resuming " + killed.Path + " from checkpoint-epoch0001.safetensors (epoch 1 of 3)", output);
        Assert.Contains("warning: " + metrics + ": dropped its torn last line 3", output);

        var expected = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(straight.Path)!);
        var actual = TrainingCheckpoint.Load(CheckpointFolder.FindLatest(killed.Path)!);
        Assert.Equal((3, 6L), (actual.Epoch, actual.Step));
        Assert.Equal(expected.Tensors.Names, actual.Tensors.Names);
        foreach (var name in expected.Tensors.Names)
            Assert.True(expected.Tensors[name].Bytes.AsSpan().SequenceEqual(actual.Tensors[name].Bytes), $"{name} differs from the uninterrupted run's");
        Assert.Equal(CheckpointFolder.List(straight.Path).Select(c => c.Epoch), CheckpointFolder.List(killed.Path).Select(c => c.Epoch));

        var text = File.ReadAllText(metrics);
        Assert.EndsWith("}\n", text);
        var rows = MetricsLog.Read(metrics);   // strict: no torn or malformed line anywhere
        Assert.Equal(text.Count(c => c == '\n'), rows.Count);
        Assert.Equal(MetricsLog.Read(straight.File(RunFolder.MetricsFile)).Select(Deterministic), rows.Select(Deterministic));
        Assert.Equal([0, 1, 2, 3], rows.Select(r => r.Epoch));
        Assert.DoesNotContain(killed.Entries(), n => n.EndsWith(".tmp", StringComparison.Ordinal));
    }

    /// <summary>SHA-256 over the tensors in name order (each name's UTF-8 bytes, then its data), as tests/…/Fixtures/README says.</summary>
    static string TensorDigest(TensorMap tensors)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in tensors.Names.Order(StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(name));
            sha.AppendData(tensors[name].Bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// A checkpoint written before this changes (epoch 1 of 2; no keep-checkpoints in its
    /// configuration) still loads and resumes, and ends bit for bit where that program's
    /// uninterrupted run ended (the digest of its epoch-2 tensors).
    /// </summary>
    [Fact]
    public void ACheckpointWrittenBeforeTheseChangesResumesBitForBit()
    {
        using var dir = new TempFolder();
        var fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "pre-issue12-checkpoint-epoch0001.safetensors");
        File.Copy(fixture, dir.File(CheckpointFolder.FileName(1)));
        Assert.DoesNotContain("keep-checkpoints", TrainingCheckpoint.Load(fixture).Config);
        var (code, output, error) = InProcessCli.Run("train", "--resume", dir.Path);
        Assert.True(code == 0, error);
        Assert.Contains("resuming " + dir.Path + " from checkpoint-epoch0001.safetensors (epoch 1 of 2)", output);
        Assert.DoesNotContain("warning", output);
        var final = TrainingCheckpoint.Load(dir.File(CheckpointFolder.FileName(2)));
        Assert.Equal((2, 4L), (final.Epoch, final.Step));
        Assert.Equal("61f4dec64d32b2a5429613f4956c4c531091bbf02450eef8e62de98df3c0c5b2", TensorDigest(final.Tensors));
    }
}
