namespace ByolIlgpu.Data;

/// <summary>
/// Reader of the official CIFAR-10 binary folder (cifar-10-batches-bin): data_batch_1..5.bin (whichever
/// are present), test_batch.bin and batches.meta.txt. Each record is 1 label byte then 3072 pixel
/// bytes: 1024 red, 1024 green, 1024 blue, each plane 32×32 row-major — the (3, 32, 32) layout the
/// device uses, so records are copied as they are.
/// </summary>
public static class Cifar10
{
    public const int RecordBytes = 1 + 3 * 32 * 32;
    public const string FolderName = "cifar-10-batches-bin";
    public static readonly string[] DefaultClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The folder holding the batch files: <paramref name="path"/> itself or its cifar-10-batches-bin child; null if neither.</summary>
    public static string? Locate(string path)
    {
        if (File.Exists(Path.Combine(path, "test_batch.bin")))
            return path;
        var child = Path.Combine(path, FolderName);
        return File.Exists(Path.Combine(child, "test_batch.bin")) ? child : null;
    }

    /// <summary>Loads the train batches present and the test batch.</summary>
    public static (ImageDataset Train, ImageDataset Test) Load(string path)
    {
        if (!Directory.Exists(path))
            throw new DataFormatException($"{path}: no such folder; expected the CIFAR-10 binary folder ({FolderName}) or its parent (give it with --data DIR, or leave --data out to download it)");
        var folder = Locate(path) ?? throw new DataFormatException(
            $"{path}: no test_batch.bin here or in {Path.Combine(path, FolderName)}; expected the CIFAR-10 binary version (data_batch_1.bin … data_batch_5.bin, test_batch.bin)");
        var trainFiles = Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).Where(File.Exists).ToList();
        if (trainFiles.Count == 0)
            throw new DataFormatException($"{folder}: no training batch; expected at least data_batch_1.bin");
        var names = ReadClassNames(Path.Combine(folder, "batches.meta.txt"));
        return (ReadBatches(trainFiles, names), ReadBatches([Path.Combine(folder, "test_batch.bin")], names));
    }

    static string[] ReadClassNames(string path) => ReadClassNames(path, DefaultClassNames);

    /// <summary>The ten class names of a names file (one per line, blank lines ignored), or <paramref name="defaults"/> when there is no such file (CIFAR-10's and STL-10's).</summary>
    internal static string[] ReadClassNames(string path, string[] defaults)
    {
        if (!File.Exists(path))
            return defaults;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != 10)
            throw new DataFormatException($"{path}: {names.Length} class names, expected 10 (one per line)");
        return names;
    }

    /// <summary>Reads and validates batch files: whole records only, labels 0–9.</summary>
    public static ImageDataset ReadBatches(IReadOnlyList<string> files, string[]? classNames = null)
    {
        var pixels = new List<byte[]>();
        var labels = new List<byte[]>();
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length == 0)
                throw new DataFormatException($"{file}: empty; expected records of {RecordBytes} bytes (1 label + 3072 pixels)");
            if (bytes.Length % RecordBytes != 0)
                throw new DataFormatException($"{file}: truncated: {bytes.Length} bytes is {bytes.Length / RecordBytes} whole records and " +
                    $"{bytes.Length % RecordBytes} bytes of record {bytes.Length / RecordBytes}; expected records of {RecordBytes} bytes");
            int count = bytes.Length / RecordBytes;
            var p = new byte[count * (RecordBytes - 1)];
            var l = new byte[count];
            for (int r = 0; r < count; r++)
            {
                byte label = bytes[r * RecordBytes];
                if (label > 9)
                    throw new DataFormatException($"{file}: record {r}: label byte {label}, expected a class 0–9");
                l[r] = label;
                Buffer.BlockCopy(bytes, r * RecordBytes + 1, p, r * (RecordBytes - 1), RecordBytes - 1);
            }
            pixels.Add(p);
            labels.Add(l);
        }
        return new ImageDataset(pixels.SelectMany(a => a).ToArray(), labels.SelectMany(a => a).ToArray(),
            classNames ?? DefaultClassNames, source: string.Join(", ", files));
    }

    /// <summary>Writes images in the same binary layout (tests and tools make small batch files with it).</summary>
    public static void WriteBatch(string path, ImageDataset images)
    {
        using var stream = File.Create(path);
        for (int r = 0; r < images.Count; r++)
        {
            stream.WriteByte(images.Labels[r]);
            stream.Write(images.Pixels, r * images.ImageBytes, images.ImageBytes);
        }
    }
}
