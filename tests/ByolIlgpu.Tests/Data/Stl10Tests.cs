using ByolIlgpu.Data;
using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.Tests.Data;

/// <summary>STL-10's binary files, made by the test in the real layout: planes of 96×96 stored column by column.</summary>
public class Stl10Tests
{
    const int Side = 96, Plane = Side * Side, ImageBytes = 3 * Plane;

    /// <summary>Random file bytes for <paramref name="count"/> images (the layout is applied by the reader, not here).</summary>
    static byte[] RandomImages(int count, int seed)
    {
        var bytes = new byte[count * ImageBytes];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A small stl10_binary folder: 6 train, 4 test, 5 unlabeled images; labels 1–10 as in the files.</summary>
    static (string Folder, byte[] TrainX, byte[] TrainY, byte[] TestX, byte[] UnlabeledX) MakeFolder(string root)
    {
        var folder = Path.Combine(root, Stl10.FolderName);
        Directory.CreateDirectory(folder);
        var trainX = RandomImages(6, 1);
        byte[] trainY = [1, 10, 3, 3, 7, 2];
        var testX = RandomImages(4, 2);
        byte[] testY = [4, 5, 6, 10];
        var unlabeledX = RandomImages(5, 3);
        File.WriteAllBytes(Path.Combine(folder, "train_X.bin"), trainX);
        File.WriteAllBytes(Path.Combine(folder, "train_y.bin"), trainY);
        File.WriteAllBytes(Path.Combine(folder, "test_X.bin"), testX);
        File.WriteAllBytes(Path.Combine(folder, "test_y.bin"), testY);
        File.WriteAllBytes(Path.Combine(folder, "unlabeled_X.bin"), unlabeledX);
        File.WriteAllLines(Path.Combine(folder, "class_names.txt"), Stl10.DefaultClassNames);
        return (folder, trainX, trainY, testX, unlabeledX);
    }

    static byte[] Read(ImageDataset set, int index)
    {
        var image = new byte[set.ImageBytes];
        set.PixelSource.Read(index, image);
        return image;
    }

    [Fact]
    public void ReadsEachImagePixelByPixelTransposedToRowMajor()
    {
        using var scratch = new Scratch();
        var (_, trainX, trainY, testX, unlabeledX) = MakeFolder(scratch.Path);

        var splits = Stl10.Load(scratch.Path);

        Assert.Equal((6, 4, 11), (splits.Train.Count, splits.Test.Count, splits.Pretrain.Count));
        Assert.Equal((96, 96), (splits.Train.Height, splits.Train.Width));
        Assert.Equal(trainY.Select(l => l - 1), splits.Train.Labels.Select(l => (int)l));
        Assert.False(splits.Pretrain.HasLabels);
        Assert.True(splits.Evaluable);
        // Test image 2, every pixel: ours (c, y, x) row-major is the file's byte c·9216 + x·96 + y.
        var image = Read(splits.Test, 2);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < Side; y++)
                for (int x = 0; x < Side; x++)
                    Assert.True(image[c * Plane + y * Side + x] == testX[2 * ImageBytes + c * Plane + x * Side + y], $"channel {c}, row {y}, column {x}");
        // Pretraining: the train split first, then the unlabeled images.
        Assert.Equal(Read(splits.Train, 5), Read(splits.Pretrain, 5));
        var firstUnlabeled = Read(splits.Pretrain, 6);
        Assert.Equal(unlabeledX[Plane + 5 * Side + 2], firstUnlabeled[Plane + 2 * Side + 5]);   // green, row 2, column 5
        Assert.Equal(unlabeledX[1 * Side + 0], firstUnlabeled[0 * Side + 1]);                   // red, row 0, column 1
        Assert.Equal(trainX[0], Read(splits.Pretrain, 0)[0]);
    }

    [Fact]
    public void TrainingRunPretrainsOnTrainPlusUnlabeledAndEvaluatesOnTheLabelledSplits()
    {
        using var scratch = new Scratch();
        MakeFolder(scratch.Path);
        var config = new TrainingConfig { Data = scratch.Path };
        var splits = TrainingRun.LoadSplits(config, new PlainProgress(TextWriter.Null));
        Assert.Equal((11, 6, 4), (splits.Pretrain.Count, splits.Train.Count, splits.Test.Count));
        var (train, test) = TrainingRun.LoadData(config, new PlainProgress(TextWriter.Null));
        Assert.Equal((6, 4), (train.Count, test.Count));
        Assert.True(train.HasLabels && test.HasLabels);
        // --train-limit keeps the labelled images first.
        var limited = TrainingRun.LoadSplits(config with { TrainLimit = 8 }, new PlainProgress(TextWriter.Null));
        Assert.Equal((8, 6), (limited.Pretrain.Count, limited.Train.Count));
    }

    [Fact]
    public void BadFilesAreNamedWithWhatWasExpected()
    {
        using var scratch = new Scratch();
        var (folder, trainX, _, _, _) = MakeFolder(scratch.Path);
        string F(string name) => Path.Combine(folder, name);

        File.WriteAllBytes(F("train_X.bin"), trainX[..(2 * ImageBytes + 100)]);
        var size = Assert.Throws<DataFormatException>(() => Stl10.Load(folder));
        Assert.StartsWith(F("train_X.bin"), size.Message);
        Assert.Contains("is not a multiple of 27648", size.Message);

        File.WriteAllBytes(F("train_X.bin"), trainX);
        File.WriteAllBytes(F("train_y.bin"), [1, 2, 0, 4, 5, 6]);
        var label = Assert.Throws<DataFormatException>(() => Stl10.Load(folder));
        Assert.Equal($"{F("train_y.bin")}: label 2 is 0, expected a class 1–10", label.Message);
        File.WriteAllBytes(F("train_y.bin"), [1, 2, 11, 4, 5, 6]);
        Assert.Contains("label 2 is 11", Assert.Throws<DataFormatException>(() => Stl10.Load(folder)).Message);

        File.WriteAllBytes(F("train_y.bin"), [1, 2, 3]);
        var count = Assert.Throws<DataFormatException>(() => Stl10.Load(folder));
        Assert.Equal($"{F("train_y.bin")}: 3 labels for the 6 images of train_X.bin; expected one label byte per image", count.Message);

        File.Delete(F("test_y.bin"));
        Assert.Contains("test_y.bin: missing", Assert.Throws<DataFormatException>(() => Stl10.Load(folder)).Message);
    }

    static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(20) };

    [Fact]
    public async Task DownloadsChecksAndExtractsTheArchiveIntoTheCache()
    {
        using var source = new Scratch();
        var (folder, _, _, testX, _) = MakeFolder(source.Path);
        var archive = Cifar10DownloaderTests.TarGz(Directory.GetFiles(folder).Order(StringComparer.Ordinal)
            .Select(f => ($"{Stl10.FolderName}/{Path.GetFileName(f)}", File.ReadAllBytes(f))).ToArray());
        using var server = new Cifar10DownloaderTests.LoopbackServer(archive);
        using var cache = new Scratch();

        var bad = await Assert.ThrowsAsync<DataFormatException>(() => Stl10.EnsureAsync(Client, cache.Path, url: server.Url, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("MD5", bad.Message);
        Assert.Contains("not the STL-10 binary version", bad.Message);
        Assert.Empty(Directory.GetFileSystemEntries(cache.Path));

        var downloaded = await Stl10.EnsureAsync(Client, cache.Path, url: server.Url, md5: Cifar10DownloaderTests.Md5(archive), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(Path.Combine(cache.Path, Stl10.FolderName), downloaded);
        Assert.Equal([Stl10.FolderName], Directory.GetFileSystemEntries(cache.Path).Select(Path.GetFileName));
        var splits = Stl10.Load(downloaded);
        Assert.Equal(testX[0], Read(splits.Test, 0)[0]);
        Assert.Equal(testX[Side], Read(splits.Test, 0)[1]);   // row 0, column 1 is the file's second column
        // Found in the cache the second time: nothing is fetched.
        Assert.Equal(downloaded, await Stl10.EnsureAsync(Client, cache.Path, url: "http://127.0.0.1:1/none", md5: "x", cancel: TestContext.Current.CancellationToken));
        // `--data stl10` with --cache-dir uses that copy.
        var fromName = TrainingRun.LoadSplits(new TrainingConfig { Data = "stl10", CacheDir = cache.Path }, new PlainProgress(TextWriter.Null));
        Assert.Equal(11, fromName.Pretrain.Count);
    }
}
