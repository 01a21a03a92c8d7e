namespace ByolIlgpu.Data;

/// <summary>A data set's splits: what BYOL pretrains on, and the labelled train and test splits kNN and linear evaluation use.</summary>
/// <param name="Pretrain">The images BYOL learns from (labels not needed); for CIFAR-10 and image folders the train split itself.</param>
/// <param name="Train">The labelled training split: the kNN bank, the linear classifier's training set.</param>
/// <param name="Test">The labelled test split: the kNN queries, the linear classifier's test set (may be empty).</param>
public sealed record DataSplits(ImageDataset Pretrain, ImageDataset Train, ImageDataset Test)
{
    public DataSplits(ImageDataset train, ImageDataset test) : this(train, train, test) { }

    /// <summary>Whether kNN and linear evaluation can run: a labelled bank and labelled queries.</summary>
    public bool Evaluable => Train.HasLabels && Test.HasLabels;

    /// <summary>Why <see cref="Evaluable"/> is false, in one line; null when it is true.</summary>
    public string? WhyNotEvaluable => Evaluable ? null
        : !Train.HasLabels ? $"{Train.Source} has no labels (labelled images sit in one subfolder per class)"
        : Test.Count == 0 ? $"there is no labelled test set for {Train.Source} (give one with --test-data DIR, one subfolder per class)"
        : $"the test set {Test.Source} has no labels (labelled images sit in one subfolder per class)";
}

/// <summary>
/// Reader of the STL-10 binary folder (stl10_binary): unlabeled_X.bin (100,000 images), train_X.bin
/// and train_y.bin (5,000), test_X.bin and test_y.bin (8,000), class_names.txt. Each image is
/// 3 × 96 × 96 bytes: the red, green and blue planes, each stored column by column (MATLAB's
/// order); label files hold one byte per image, 1–10. The images stay in the files: each split is a
/// <see cref="MappedPixelSource"/> that transposes every plane to our row-major layout as it is read
/// — a 96×96 transpose costs microseconds, and converting once would copy the 2.8 GB unlabeled file
/// into the cache for nothing.
/// </summary>
public static class Stl10
{
    public const int Size = 96;
    public const int ImageBytes = 3 * Size * Size;   // 27,648
    public const string FolderName = "stl10_binary";
    public const string OfficialUrl = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz";
    public const string OfficialMd5 = "91f7769df0f17e558f3565bffb0c7dfb";   // as torchvision's STL10 checks it
    public static readonly string[] DefaultClassNames = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"];

    /// <summary>The folder holding the binary files: <paramref name="path"/> itself or its stl10_binary child; null if neither.</summary>
    public static string? Locate(string path)
    {
        if (File.Exists(Path.Combine(path, "test_X.bin")) || File.Exists(Path.Combine(path, "train_X.bin")))
            return path;
        var child = Path.Combine(path, FolderName);
        return File.Exists(Path.Combine(child, "test_X.bin")) ? child : null;
    }

    /// <summary>
    /// The splits: pretraining on train + unlabeled (train first, so --train-limit keeps the labelled
    /// images), the labelled train split as the kNN bank and the test split as the queries.
    /// </summary>
    public static DataSplits Load(string path)
    {
        var folder = Locate(path) ?? throw new DataFormatException(
            $"{path}: no test_X.bin here or in {Path.Combine(path, FolderName)}; expected the STL-10 binary version (train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin)");
        string F(string name) => Path.Combine(folder, name);
        foreach (var required in new[] { "train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin" })
            if (!File.Exists(F(required)))
                throw new DataFormatException($"{F(required)}: missing; expected the STL-10 binary folder to hold train_X.bin, train_y.bin, test_X.bin and test_y.bin");
        var names = ReadClassNames(F("class_names.txt"));
        var train = Split(F("train_X.bin"), F("train_y.bin"), names);
        var test = Split(F("test_X.bin"), F("test_y.bin"), names);
        var pretrain = train;
        if (File.Exists(F("unlabeled_X.bin")))
        {
            var unlabeled = OpenImages(F("unlabeled_X.bin"));
            pretrain = new ImageDataset(new ConcatenatedPixels(new PixelRange(train.PixelSource, 0, train.Count), unlabeled), [], names, Size, Size,
                $"{F("train_X.bin")} + {F("unlabeled_X.bin")}");
        }
        return new DataSplits(pretrain, train, test);
    }

    /// <summary>An images file (N × 27,648 bytes) as a pixel source, its planes transposed on read.</summary>
    public static MappedPixelSource OpenImages(string path)
    {
        long length = new FileInfo(path).Length;
        if (length == 0)
            throw new DataFormatException($"{path}: empty; expected images of {ImageBytes} bytes (3 planes of 96×96, column-major)");
        if (length % ImageBytes != 0)
            throw new DataFormatException($"{path}: {length} bytes is not a multiple of {ImageBytes} (one 3×96×96 image): {length / ImageBytes} whole images and " +
                $"{length % ImageBytes} bytes over; the file is truncated or not STL-10");
        return new MappedPixelSource(path, 0, length / ImageBytes, Size, Size, PlaneOrder.ColumnMajor);
    }

    /// <summary>A labelled split: images and labels, counts matched, labels 1–10 turned into classes 0–9.</summary>
    static ImageDataset Split(string imagesPath, string labelsPath, string[] names)
    {
        var images = OpenImages(imagesPath);
        var raw = File.ReadAllBytes(labelsPath);
        if (raw.Length != images.Count)
        {
            images.Dispose();
            throw new DataFormatException($"{labelsPath}: {raw.Length} labels for the {images.Count} images of {Path.GetFileName(imagesPath)}; expected one label byte per image");
        }
        var labels = new byte[raw.Length];
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] < 1 || raw[i] > names.Length)
            {
                images.Dispose();
                throw new DataFormatException($"{labelsPath}: label {i} is {raw[i]}, expected a class 1–{names.Length}");
            }
            labels[i] = (byte)(raw[i] - 1);
        }
        return new ImageDataset(images, labels, names, Size, Size, imagesPath);
    }

    static string[] ReadClassNames(string path) => Cifar10.ReadClassNames(path, DefaultClassNames);

    /// <summary>Writes images (N, 3, 96, 96) row-major in STL-10's column-major file layout, and labels 0–9 as 1–10 (tests and tools).</summary>
    public static void Write(string imagesPath, byte[] pixels, string? labelsPath = null, byte[]? labels = null)
    {
        int count = pixels.Length / ImageBytes;
        var file = new byte[pixels.Length];
        const int plane = Size * Size;
        for (int n = 0; n < count; n++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < Size; y++)
                    for (int x = 0; x < Size; x++)
                        file[n * ImageBytes + c * plane + x * Size + y] = pixels[n * ImageBytes + c * plane + y * Size + x];
        File.WriteAllBytes(imagesPath, file);
        if (labelsPath is not null)
            File.WriteAllBytes(labelsPath, labels!.Select(l => (byte)(l + 1)).ToArray());
    }

    /// <summary>The cache's STL-10 folder, downloaded (2.6 GB, MD5-checked) and extracted first if it is not there yet.</summary>
    public static Task<string> EnsureAsync(HttpClient client, string cacheFolder, IProgress<(long Done, long? Total)>? progress = null,
        string url = OfficialUrl, string md5 = OfficialMd5, CancellationToken cancel = default) =>
        new CheckedArchive(client, url, md5, "STL-10", FolderName, "test_X.bin", "the STL-10 binary version",
                $"download {OfficialUrl} yourself, extract it and give --data DIR (the stl10_binary folder)")
            .EnsureAsync(cacheFolder, folder => File.Exists(Path.Combine(folder, FolderName, "test_X.bin")) ? Path.Combine(folder, FolderName) : null, progress, cancel);
}
