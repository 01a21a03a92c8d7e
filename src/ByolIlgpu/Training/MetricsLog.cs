using System.Globalization;
using ByolIlgpu.Checkpoints;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ByolIlgpu.Training;

/// <summary>One row of metrics.jsonl: written at the end of every epoch (kNN fields when measured).</summary>
public sealed record MetricsRow(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("loss")] double? Loss,
    [property: JsonPropertyName("tau")] double Tau,
    [property: JsonPropertyName("lr")] double LearningRate,
    [property: JsonPropertyName("images_per_s")] double ImagesPerSecond,
    [property: JsonPropertyName("knn_top1")] double? KnnTop1 = null,
    [property: JsonPropertyName("knn_top1_k1")] double? KnnTop1K1 = null,
    [property: JsonPropertyName("elapsed_s")] double ElapsedSeconds = 0);

/// <summary>
/// The run's metrics as JSON lines (one object per line, readable by pandas.read_json(lines=True)).
/// Each row goes out as one write of the whole line, newline included, flushed to the disk, so a
/// crash loses at most the current epoch and leaves at most a torn last line, which
/// <see cref="ResumeAfterEpoch"/> drops.
/// </summary>
public sealed class MetricsLog
{
    static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public MetricsLog(string path) => Path = path;

    public string Path { get; }

    public void Append(MetricsRow row)
    {
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row, Options) + "\n");
        using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        stream.Write(line);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Reads every row; a malformed line is an error naming the file and the line.</summary>
    public static List<MetricsRow> Read(string path) => Read(path, out _);

    /// <summary>
    /// Reads every row, dropping a torn last line (one without its newline, or not a row): the
    /// trace of a process killed while appending it; <paramref name="torn"/> describes it, else is
    /// null. A malformed line elsewhere is an error naming the file and the line.
    /// </summary>
    public static List<MetricsRow> ReadTolerant(string path, out string? torn) => Read(path, out torn, tolerateTornLast: true);

    static List<MetricsRow> Read(string path, out string? torn, bool tolerateTornLast = false)
    {
        torn = null;
        var text = File.ReadAllText(path, Encoding.UTF8);
        var lines = text.Split('\n');   // the piece after the last newline is "" when the file ends whole
        var rows = new List<MetricsRow>();
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            bool last = i == lines.Length - 1;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            if (last && tolerateTornLast)
            {
                torn = $"{path}: dropped its torn last line {i + 1} ({Encoding.UTF8.GetByteCount(line)} bytes without a newline)";
                break;
            }
            try
            {
                rows.Add(JsonSerializer.Deserialize<MetricsRow>(line, Options) ?? throw new JsonException("null row"));
            }
            catch (JsonException e)
            {
                bool lastLine = lines.Skip(i + 1).All(string.IsNullOrWhiteSpace);
                if (tolerateTornLast && lastLine)
                {
                    torn = $"{path}: dropped its torn last line {i + 1} (not a metrics row: {e.Message})";
                    break;
                }
                throw new InvalidDataException($"{path}: line {i + 1} is not a metrics row ({e.Message})");
            }
        }
        return rows;
    }

    /// <summary>
    /// Readies the log for a run resumed after <paramref name="epoch"/>: drops the rows after it
    /// (the epochs the run repeats) and a torn last line, rewriting the file atomically, so that
    /// the resumed run's file ends as an uninterrupted run's. Returns the rows kept and the
    /// description of a dropped torn line (null when there was none).
    /// </summary>
    public (List<MetricsRow> Kept, string? Torn) ResumeAfterEpoch(int epoch)
    {
        if (!File.Exists(Path))
            return ([], null);
        var rows = ReadTolerant(Path, out var torn);
        var kept = rows.Where(r => r.Epoch <= epoch).ToList();
        var text = string.Concat(kept.Select(r => JsonSerializer.Serialize(r, Options) + "\n"));
        AtomicFile.WriteAllBytes(Path, Encoding.UTF8.GetBytes(text));
        return (kept, torn);
    }

    public static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
