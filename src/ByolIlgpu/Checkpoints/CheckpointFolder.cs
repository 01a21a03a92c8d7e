using System.Globalization;
using System.Text.RegularExpressions;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// A folder of per-epoch checkpoints, <c>checkpoint-epoch0005.safetensors</c>, for <c>--resume DIR</c>.
/// The newest is found by scanning the names, so there is no pointer file that could go stale:
/// every file that bears the name is complete, because each is written atomically. Temporary
/// files of an interrupted write (".checkpoint-epoch0005.safetensors.….tmp") do not match.
/// </summary>
public static partial class CheckpointFolder
{
    public const string Extension = ".safetensors";

    [GeneratedRegex(@"^checkpoint-epoch(\d+)\.safetensors$", RegexOptions.CultureInvariant)]
    private static partial Regex EpochFile();

    /// <summary>Whether <paramref name="fileName"/> is named as an epoch checkpoint.</summary>
    public static bool IsCheckpointName(string fileName) => EpochFile().IsMatch(fileName);

    /// <summary>"checkpoint-epoch0005.safetensors".</summary>
    public static string FileName(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return $"checkpoint-epoch{epoch.ToString("D4", CultureInfo.InvariantCulture)}{Extension}";
    }

    /// <summary>Saves <paramref name="checkpoint"/> as <see cref="FileName"/>(its epoch) in <paramref name="folder"/> (created if needed); returns the path.</summary>
    public static string Save(string folder, TrainingCheckpoint checkpoint)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, FileName(checkpoint.Epoch));
        checkpoint.Save(path);
        return path;
    }

    /// <summary>The epoch checkpoints in <paramref name="folder"/>, oldest first.</summary>
    public static IReadOnlyList<(int Epoch, string Path)> List(string folder)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: checkpoint folder does not exist");
        var found = new List<(int Epoch, string Path)>();
        foreach (var path in Directory.EnumerateFiles(folder))
        {
            var m = EpochFile().Match(Path.GetFileName(path));
            if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
                found.Add((epoch, path));
        }
        return found.OrderBy(f => f.Epoch).ThenBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>The newest epoch checkpoint in <paramref name="folder"/>, or null when it holds none.</summary>
    public static string? FindLatest(string folder)
    {
        var all = List(folder);
        return all.Count == 0 ? null : all[^1].Path;
    }

    /// <summary>
    /// What <c>--resume</c> means: a file is taken as it is; a folder gives its newest epoch
    /// checkpoint. Anything else is an error naming the path and what was expected.
    /// </summary>
    public static string ResolveResume(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder))
            return fileOrFolder;
        if (Directory.Exists(fileOrFolder))
            return FindLatest(fileOrFolder)
                ?? throw new FileNotFoundException($"{fileOrFolder}: no checkpoint to resume from, expected a file named like {FileName(5)}");
        throw new FileNotFoundException($"{fileOrFolder}: no such checkpoint file or folder", fileOrFolder);
    }

    /// <summary>
    /// Deletes the oldest epoch checkpoints until <paramref name="keep"/> remain besides the epoch-0
    /// baseline (the initial network, which every later number is compared with), which stays; the
    /// newest always stays. 0 keeps all. Returns the deleted paths.
    /// </summary>
    public static IReadOnlyList<string> Prune(string folder, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        if (keep == 0)
            return [];
        var trained = List(folder).Where(f => f.Epoch > 0).ToList();
        var doomed = trained.Take(Math.Max(0, trained.Count - keep)).Select(f => f.Path).ToList();
        foreach (var path in doomed)
            File.Delete(path);
        return doomed;
    }
}
