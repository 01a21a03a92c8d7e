using System.Globalization;
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
/// Each row is appended and flushed at once, so a crash loses at most the current epoch.
/// </summary>
public sealed class MetricsLog
{
    static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public MetricsLog(string path) => Path = path;

    public string Path { get; }

    public void Append(MetricsRow row)
    {
        using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        using var writer = new StreamWriter(stream);
        writer.WriteLine(JsonSerializer.Serialize(row, Options));
        writer.Flush();
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Reads every row; a malformed line is an error naming the file and the line.</summary>
    public static List<MetricsRow> Read(string path)
    {
        var rows = new List<MetricsRow>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                rows.Add(JsonSerializer.Deserialize<MetricsRow>(line, Options) ?? throw new JsonException("null row"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: line {lineNumber} is not a metrics row ({e.Message})");
            }
        }
        return rows;
    }

    /// <summary>Drops rows after <paramref name="epoch"/> (a resumed run rewrites the epochs it repeats).</summary>
    public void TruncateAfterEpoch(int epoch)
    {
        if (!File.Exists(Path))
            return;
        var kept = Read(Path).Where(r => r.Epoch <= epoch).ToList();
        var temp = Path + ".tmp";
        File.WriteAllLines(temp, kept.Select(r => JsonSerializer.Serialize(r, Options)));
        File.Move(temp, Path, overwrite: true);
    }

    public static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
