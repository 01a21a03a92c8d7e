using ByolIlgpu.Checkpoints;

namespace ByolIlgpu.Training;

/// <summary>A run folder that cannot be used as asked (another run in it, nothing to resume); a usage error.</summary>
public sealed class RunFolderException(string message) : Exception(message);

/// <summary>
/// The files `byol train` owns in its run folder: config.json, metrics.jsonl, metrics.png, the epoch
/// checkpoints, and the temporary files of their atomic writes. Nothing else in the folder is read,
/// replaced or removed: a new run refuses a folder that holds another run unless told to overwrite
/// it, and --overwrite removes only these files.
/// </summary>
public static class RunFolder
{
    public const string ConfigFile = "config.json";
    public const string MetricsFile = "metrics.jsonl";
    public const string PlotFile = "metrics.png";

    // The temporaries of the writes before AtomicFile named them (MetricsLog and TrainingPlot of earlier versions).
    static readonly string[] LegacyTemporaries = [MetricsFile + ".tmp", PlotFile + ".tmp.png"];

    static bool IsOwned(string name) => name is ConfigFile or MetricsFile or PlotFile || CheckpointFolder.IsCheckpointName(name);

    static IEnumerable<string> Names(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal) : [];

    /// <summary>Temporary files an interrupted write of one of the run's files left behind (full paths).</summary>
    public static IReadOnlyList<string> StaleTemporaries(string folder) =>
        Names(folder).Where(n => AtomicFile.TemporaryTarget(n) is { } target && IsOwned(target) || LegacyTemporaries.Contains(n))
            .Select(n => Path.Combine(folder, n)).ToList();

    /// <summary>The files that make <paramref name="folder"/> hold a run: config.json, metrics.jsonl, checkpoints.</summary>
    public static IReadOnlyList<string> RunFiles(string folder) =>
        Names(folder).Where(n => n is ConfigFile or MetricsFile || CheckpointFolder.IsCheckpointName(n)).ToList();

    /// <summary>For a new run: refuses a folder that holds another run unless <paramref name="overwrite"/>.</summary>
    public static void CheckAvailable(string folder, bool overwrite)
    {
        var existing = RunFiles(folder);
        if (existing.Count > 0 && !overwrite)
            throw new RunFolderException($"{folder} holds another run ({Describe(existing)}): continue it with --resume {folder}, " +
                "or replace it with --overwrite (which removes only the files byol train writes)");
    }

    /// <summary>
    /// Readies the folder of a run: for a new run, refuses a folder that holds another run unless
    /// <paramref name="overwrite"/> (which removes that run's files); for both, removes the stale
    /// temporary files of an interrupted write, with a warning naming each.
    /// </summary>
    public static void Prepare(string folder, bool resuming, bool overwrite, ProgressReporter progress)
    {
        if (!resuming)
        {
            CheckAvailable(folder, overwrite);
            var existing = RunFiles(folder);
            if (existing.Count > 0)
            {
                var removed = RemoveRun(folder);
                progress.Line($"--overwrite: removed the previous run's {removed.Count} files from {folder}");
            }
        }
        foreach (var stale in StaleTemporaries(folder))
        {
            File.Delete(stale);
            progress.Line($"warning: removed {Path.GetFileName(stale)}, left in {folder} by a write that was interrupted");
        }
    }

    /// <summary>Removes the run's files (<see cref="IsOwned"/>, and the temporaries); returns their names.</summary>
    public static IReadOnlyList<string> RemoveRun(string folder)
    {
        var doomed = Names(folder).Where(IsOwned).Concat(StaleTemporaries(folder).Select(p => Path.GetFileName(p))).ToList();
        foreach (var name in doomed)
            File.Delete(Path.Combine(folder, name));
        return doomed;
    }

    static string Describe(IReadOnlyList<string> files)
    {
        int checkpoints = files.Count(CheckpointFolder.IsCheckpointName);
        var parts = files.Where(f => !CheckpointFolder.IsCheckpointName(f)).ToList();
        if (checkpoints > 0)
            parts.Add(checkpoints == 1 ? "1 checkpoint" : $"{checkpoints} checkpoints");
        return string.Join(", ", parts);
    }
}
