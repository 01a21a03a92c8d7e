using ByolIlgpu.Byol;
using ByolIlgpu.Data;
using ByolIlgpu.Layers;
using ByolIlgpu.Tests.Infrastructure;
using ByolIlgpu.Training;
using SkiaSharp;
using Xunit;

namespace ByolIlgpu.Tests.Data;

/// <summary>Image files written by the tests: PNG and JPEG through SkiaSharp, BMP by hand (Skia does not encode it).</summary>
static class TestImages
{
    /// <summary>An RGB image (H, W, 3) interleaved, from a function of (y, x).</summary>
    public static byte[] Make(int height, int width, Func<int, int, (byte R, byte G, byte B)> colour)
    {
        var rgb = new byte[height * width * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = colour(y, x);
                int i = 3 * (y * width + x);
                (rgb[i], rgb[i + 1], rgb[i + 2]) = (r, g, b);
            }
        return rgb;
    }

    /// <summary>Writes an image; the format follows the extension (.png, .jpg/.jpeg, .bmp, any case).</summary>
    public static void Save(string path, int height, int width, byte[] rgb)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".bmp")
        {
            File.WriteAllBytes(path, Bmp(height, width, rgb));
            return;
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = 3 * (y * width + x);
                bitmap.SetPixel(x, y, new SKColor(rgb[i], rgb[i + 1], rgb[i + 2]));
            }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(ext == ".png" ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>A 24-bit bottom-up BMP (BITMAPINFOHEADER), rows padded to 4 bytes.</summary>
    static byte[] Bmp(int height, int width, byte[] rgb)
    {
        int row = (3 * width + 3) / 4 * 4;
        var bytes = new byte[54 + row * height];
        void I32(int at, int v) => BitConverter.GetBytes(v).CopyTo(bytes, at);
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        I32(2, bytes.Length);
        I32(10, 54);
        I32(14, 40);
        I32(18, width);
        I32(22, height);
        bytes[26] = 1;
        bytes[28] = 24;
        I32(34, row * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int s = 3 * (y * width + x), d = 54 + (height - 1 - y) * row + 3 * x;
                (bytes[d], bytes[d + 1], bytes[d + 2]) = (rgb[s + 2], rgb[s + 1], rgb[s]);
            }
        return bytes;
    }

    /// <summary>
    /// Class 0 ("rot"): reddish with a dark square; class 1 ("teal"): blue-green with a bright disc.
    /// Sizes and noise vary with the index; every 40th image is a JPEG, every 40th (offset 20) a BMP,
    /// every 15th has an upper-case extension, every 7th is not square.
    /// </summary>
    public static void ClassFolder(string root, int perClass, int seed, int size = 32)
    {
        var random = new Random(seed);
        for (int label = 0; label < 2; label++)
            for (int i = 0; i < perClass; i++)
            {
                int h = size, w = size;
                if (i % 7 == 3) (h, w) = (size + size / 4, size + size / 2);   // shorter side ≥ size: shrunk and cropped
                int jitter = random.Next(-20, 21);
                byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
                var rgb = Make(h, w, (y, x) =>
                {
                    int noise = random.Next(-12, 13);
                    if (label == 0)
                    {
                        bool square = Math.Abs(y - h / 2) < h / 5 && Math.Abs(x - w / 2) < w / 5;
                        return square ? (Clamp(60 + noise), Clamp(20 + noise), Clamp(20 + noise)) : (Clamp(200 + jitter + noise), Clamp(60 + noise), Clamp(50 + noise));
                    }
                    bool disc = (y - h / 2) * (y - h / 2) + (x - w / 2) * (x - w / 2) < h * h / 10;
                    return disc ? (Clamp(230 + noise), Clamp(240 + noise), Clamp(220 + noise)) : (Clamp(30 + noise), Clamp(140 + jitter + noise), Clamp(170 + noise));
                });
                string ext = i % 40 == 5 ? ".jpg" : i % 40 == 25 ? ".bmp" : i % 15 == 2 ? ".PNG" : ".png";
                Save(Path.Combine(root, label == 0 ? "rot" : "teal", $"img{i:D4}{ext}"), h, w, rgb);
            }
    }

    /// <summary>Every file and folder under <paramref name="root"/> with its size and modification time.</summary>
    public static string[] Listing(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Order(StringComparer.Ordinal)
            .Select(p => $"{Path.GetRelativePath(root, p)} {(File.Exists(p) ? new FileInfo(p).Length : -1)} {File.GetLastWriteTimeUtc(p).Ticks}")
            .Append($". {Directory.GetLastWriteTimeUtc(root).Ticks}")
            .ToArray();
}

public class ImageFolderTests
{
    static ImageFolderOptions Options(string cache, int? resolution = null, BadImagePolicy bad = BadImagePolicy.Skip) =>
        new() { CacheFolder = cache, Resolution = resolution, BadImages = bad };

    static byte[] Read(ImageDataset set, int index)
    {
        var image = new byte[set.ImageBytes];
        set.PixelSource.Read(index, image);
        return image;
    }

    static TrainingConfig Tiny(string data, string? testData, string cache, string runDir) => new()
    {
        Data = data,
        TestData = testData,
        CacheDir = cache,
        Epochs = 1,
        BatchSize = 16,
        Architecture = new ByolArchitecture(Width: 2, ProjectorHidden: 16, ProjectorOut: 8, PredictorHidden: 16),
        WarmupEpochs = 0,
        Device = "cpu",
        KnnEvery = 1,
        KnnK = 20,
        CheckpointEvery = 0,
        RunDir = runDir,
    };

    [Fact]
    public void ALabelledFolderTrainsEndToEndWithKnnOnALabelledTestFolderAndNothingIsWrittenIntoEither()
    {
        using var scratch = new Scratch();
        string train = Path.Combine(scratch.Path, "train"), test = Path.Combine(scratch.Path, "val"), cache = Path.Combine(scratch.Path, "cache");
        TestImages.ClassFolder(train, perClass: 120, seed: 1);
        TestImages.ClassFolder(test, perClass: 24, seed: 2);
        var (trainBefore, testBefore) = (TestImages.Listing(train), TestImages.Listing(test));
        var log = new StringWriter();

        // kNN at the end only, and batches of 48: the CPU accelerator's time goes mostly to launches, not images.
        var result = TrainingRun.Execute(Tiny(train, test, cache, Path.Combine(scratch.Path, "run")) with { KnnEvery = 0, BatchSize = 48 }, resume: null, new PlainProgress(log));

        Assert.Equal(1, result.EpochsDone);
        Assert.NotNull(result.FinalKnn);
        // Red squares against teal discs: even the initial network's features tell them apart; shuffled labels would give ~50%.
        Assert.True(result.FinalKnn.Top1 > 0.8, $"kNN top-1 {result.FinalKnn.Top1} on two colour classes\n{log}");
        Assert.Contains("decoding 240 images at 32×32", log.ToString());
        Assert.Contains("decoding 48 images at 32×32", log.ToString());
        Assert.Contains("kNN bank 240, 48 test images", log.ToString());
        Assert.Equal(trainBefore, TestImages.Listing(train));
        Assert.Equal(testBefore, TestImages.Listing(test));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(cache, "folders")).Length);   // one cache per folder, no temporary left
    }

    [Fact]
    public void FollowsImageFolderLabellingAndDecodesEveryFormatPixelForPixel()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "data");
        var exact = TestImages.Make(32, 32, (y, x) => ((byte)(8 * x), (byte)(8 * y), (byte)(x ^ y)));
        TestImages.Save(Path.Combine(root, "b_second", "z.PNG"), 32, 32, exact);
        TestImages.Save(Path.Combine(root, "b_second", "a.bmp"), 32, 32, exact);
        TestImages.Save(Path.Combine(root, "a_first", "nested", "deep.png"), 32, 32, exact);
        TestImages.Save(Path.Combine(root, "a_first", "k.jpeg"), 32, 32, TestImages.Make(32, 32, (_, _) => (200, 100, 50)));
        // Wider than high: the centre 48×48 is red, the bands left and right that the crop removes are green.
        TestImages.Save(Path.Combine(root, "a_first", "wide.png"), 48, 64, TestImages.Make(48, 64, (_, x) => x < 8 || x >= 56 ? ((byte)0, (byte)255, (byte)0) : ((byte)255, (byte)0, (byte)0)));
        File.WriteAllText(Path.Combine(root, "a_first", "notes.txt"), "not an image");
        TestImages.Save(Path.Combine(root, "a_first", ".hidden.png"), 32, 32, exact);
        Directory.CreateDirectory(Path.Combine(root, "empty_class"));

        var set = ImageFolder.Load(root, Options(Path.Combine(scratch.Path, "cache")));

        Assert.Equal(["a_first", "b_second"], set.ClassNames);
        Assert.Equal((32, 32, 5), (set.Height, set.Width, set.Count));
        // Sorted by path within each class: a_first/k.jpeg, a_first/nested/deep.png, a_first/wide.png, b_second/a.bmp, b_second/z.PNG.
        Assert.Equal([0, 0, 0, 1, 1], set.Labels.Select(l => (int)l));
        var planar = new byte[3 * 32 * 32];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 32 * 32; p++)
                planar[c * 1024 + p] = exact[3 * p + c];
        Assert.Equal(planar, Read(set, 1));   // PNG in a nested folder
        Assert.Equal(planar, Read(set, 3));   // BMP
        Assert.Equal(planar, Read(set, 4));   // upper-case extension
        var jpeg = Read(set, 0);
        Assert.All(Enumerable.Range(0, 1024), p => Assert.InRange(jpeg[p], 195, 205));   // lossy, but close
        var wide = Read(set, 2);
        Assert.All(Enumerable.Range(0, 1024), p => Assert.True(wide[p] > 250 && wide[1024 + p] < 5, $"pixel {p}: ({wide[p]}, {wide[1024 + p]}) is not red"));
    }

    [Fact]
    public void TheCacheIsReusedWithoutDecodingAndDecodedAgainWhenAFileChanges()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "data"), cache = Path.Combine(scratch.Path, "cache");
        TestImages.ClassFolder(root, perClass: 10, seed: 3);
        var first = new StringWriter();
        var a = ImageFolder.Load(root, Options(cache), new PlainProgress(first));
        Assert.Contains("decoding 20 images", first.ToString());

        var second = new StringWriter();
        var b = ImageFolder.Load(root, Options(cache), new PlainProgress(second));
        Assert.DoesNotContain("decod", second.ToString());
        Assert.Contains("from the cache", second.ToString());
        Assert.IsType<MappedPixelSource>(b.PixelSource);
        Assert.Equal(Read(a, 7), Read(b, 7));

        // A decode killed midway left a temporary file (pid 2^30: no such process); the next write removes it.
        var cacheFile = Directory.GetFiles(Path.Combine(cache, "folders")).Single();
        var abandoned = Path.Combine(cache, "folders", $".{Path.GetFileName(cacheFile)}.{1 << 30}-0123abcd.tmp");
        File.WriteAllBytes(abandoned, new byte[1000]);

        // Same size, new content and a new modification time: decoded again, and the new pixels show.
        var victim = Directory.GetFiles(Path.Combine(root, "rot")).Order(StringComparer.Ordinal).First();
        TestImages.Save(victim, 32, 32, TestImages.Make(32, 32, (_, _) => (1, 2, 3)));
        File.SetLastWriteTimeUtc(victim, File.GetLastWriteTimeUtc(victim).AddSeconds(5));
        var third = new StringWriter();
        var c = ImageFolder.Load(root, Options(cache), new PlainProgress(third));
        Assert.Contains("the folder changed since it was decoded", third.ToString());
        Assert.Equal(1, Read(c, 0)[0]);
        // The mapping of the older cache stays valid after the new one replaced it.
        Assert.Equal(Read(a, 7), Read(b, 7));
        Assert.Equal([cacheFile], Directory.GetFiles(Path.Combine(cache, "folders")));   // the abandoned temporary is gone
    }

    [Fact]
    public void ADamagedImageIsNamedThenSkippedAndCountedOrFatal()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "data"), cache = Path.Combine(scratch.Path, "cache");
        TestImages.ClassFolder(root, perClass: 6, seed: 4);
        var good = Directory.GetFiles(Path.Combine(root, "teal")).Order(StringComparer.Ordinal).First();
        var truncated = Path.Combine(root, "teal", "cut.png");
        File.WriteAllBytes(truncated, File.ReadAllBytes(good)[..200]);
        var garbage = Path.Combine(root, "rot", "garbage.jpg");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 500).Select(i => (byte)(i * 7)).ToArray());
        var before = TestImages.Listing(root);

        var log = new StringWriter();
        var set = ImageFolder.Load(root, Options(cache), new PlainProgress(log));
        Assert.Equal(12, set.Count);
        Assert.Equal(12, set.Labels.Length);
        Assert.Contains($"{truncated}: damaged (truncated", log.ToString());
        Assert.Contains($"{garbage}: not a decodable image", log.ToString());
        Assert.Contains("2 damaged left out", log.ToString());

        // fail: named, one line, also when the damaged images come from the cache.
        var fromCache = Assert.Throws<DataFormatException>(() => ImageFolder.Load(root, Options(cache, bad: BadImagePolicy.Fail)));
        Assert.StartsWith(garbage, fromCache.Message);
        Assert.Contains("and 1 more", fromCache.Message);
        var fresh = Assert.Throws<DataFormatException>(() => ImageFolder.Load(root, Options(Path.Combine(scratch.Path, "cache2"), bad: BadImagePolicy.Fail)));
        Assert.StartsWith(garbage, fresh.Message);
        Assert.DoesNotContain('\n', fresh.Message);
        Assert.False(Directory.Exists(Path.Combine(scratch.Path, "cache2", "folders")) && Directory.GetFiles(Path.Combine(scratch.Path, "cache2", "folders")).Length > 0);

        var (code, _, error) = InProcessCli.Run("train", "--data", root, "--cache-dir", Path.Combine(scratch.Path, "cache3"), "--bad-images", "fail",
            "--device", "cpu", "--run-dir", Path.Combine(scratch.Path, "run"));
        Assert.Equal(1, code);
        Assert.Equal($"byol: {garbage}: not a decodable image (not PNG, JPEG or BMP data); --bad-images skip leaves damaged images out", error.Trim());
        Assert.Equal(before, TestImages.Listing(root));
    }

    [Fact]
    public void AnUnlabeledFolderTrainsWithKnnOffAndEvaluationSaysItNeedsLabels()
    {
        using var scratch = new Scratch();
        string flat = Path.Combine(scratch.Path, "flat"), cache = Path.Combine(scratch.Path, "cache"), run = Path.Combine(scratch.Path, "run");
        TestImages.ClassFolder(Path.Combine(scratch.Path, "labelled"), perClass: 24, seed: 5);
        Directory.CreateDirectory(flat);
        foreach (var file in Directory.GetFiles(Path.Combine(scratch.Path, "labelled"), "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(flat, Path.GetFileName(Path.GetDirectoryName(file)) + "-" + Path.GetFileName(file)));
        var log = new StringWriter();

        var result = TrainingRun.Execute(Tiny(flat, null, cache, run) with { CheckpointEvery = 1 }, resume: null, new PlainProgress(log));

        Assert.Equal(1, result.EpochsDone);
        Assert.Null(result.FinalKnn);
        Assert.Contains($"kNN off: {flat} has no labels", log.ToString());
        Assert.Equal(1, log.ToString().Split('\n').Count(l => l.Contains("kNN off")));
        var (code, _, error) = InProcessCli.Run("eval", "knn", "--checkpoint", run, "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Equal($"byol: kNN evaluation needs a labelled set: {flat} has no labels (labelled images sit in one subfolder per class)", error.Trim());
        var (linearCode, _, linearError) = InProcessCli.Run("eval", "linear", "--checkpoint", run, "--device", "cpu");
        Assert.Equal(2, linearCode);
        Assert.Contains("linear evaluation needs a labelled set", linearError);
    }

    /// <summary>At 64 px the run follows the folder's resolution: 64 px views, the imagenet stem and BYOL's blur, chosen because they were not asked for.</summary>
    [Fact]
    public void ASixtyFourPixelFolderTrainsEndToEndAtSixtyFourWithTheImagenetStemAndKnn()
    {
        using var scratch = new Scratch();
        string train = Path.Combine(scratch.Path, "train"), test = Path.Combine(scratch.Path, "val"), cache = Path.Combine(scratch.Path, "cache");
        TestImages.ClassFolder(train, perClass: 64, seed: 11, size: 64);
        TestImages.ClassFolder(test, perClass: 16, seed: 12, size: 64);
        var log = new StringWriter();
        string run = Path.Combine(scratch.Path, "run");

        var result = TrainingRun.Execute(Tiny(train, test, cache, run) with { KnnEvery = 0, BatchSize = 32, AutoStem = true }, resume: null, new PlainProgress(log));

        Assert.Equal(1, result.EpochsDone);
        Assert.NotNull(result.FinalKnn);
        Assert.True(result.FinalKnn.Top1 > 0.8, $"kNN top-1 {result.FinalKnn.Top1} on two colour classes at 64 px\n{log}");
        Assert.Contains("decoding 128 images at 64×64", log.ToString());
        Assert.Contains("imagenet stem, 64 px views with blur", log.ToString());
        var saved = TrainingConfig.FromJson(File.ReadAllText(Path.Combine(run, "config.json")), "config.json");
        Assert.Equal((64, ResNet18.ImageNetStem, true), (saved.ImageSize, saved.Architecture.Stem, saved.Blur));
    }

    [Fact]
    public void ASixtyFourPixelFolderCachesAtSixtyFourAndAnAskedSizeWins()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "data"), cache = Path.Combine(scratch.Path, "cache");
        TestImages.ClassFolder(root, perClass: 8, seed: 6, size: 64);
        var exact = TestImages.Make(64, 64, (y, x) => ((byte)(4 * x), (byte)(4 * y), (byte)(255 - 4 * x)));
        TestImages.Save(Path.Combine(root, "teal", "zz-exact.png"), 64, 64, exact);
        var log = new StringWriter();

        var set = ImageFolder.Load(root, Options(cache), new PlainProgress(log));

        Assert.Equal((64, 64, 17), (set.Height, set.Width, set.Count));
        Assert.Contains("cache resolution 64 px", log.ToString());
        var image = Read(set, 16);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 64 * 64; p++)
                Assert.Equal(exact[3 * p + c], image[c * 4096 + p]);
        var smaller = ImageFolder.Load(root, Options(cache, resolution: 40));
        Assert.Equal((40, 40, 17), (smaller.Height, smaller.Width, smaller.Count));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(cache, "folders")).Length);
        // Large photos stay at most 96 px unless asked.
        string big = Path.Combine(scratch.Path, "big");
        TestImages.Save(Path.Combine(big, "a.jpg"), 300, 200, TestImages.Make(300, 200, (_, _) => (10, 20, 30)));
        Assert.Equal(96, ImageFolder.Load(big, Options(cache)).Height);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval knn")]
    [InlineData("eval linear")]
    [InlineData("augment")]
    public void TheDataOptionsAreExplained(string command)
    {
        var (code, output, _) = InProcessCli.Run([.. command.Split(' '), "--help"]);
        Assert.Equal(0, code);
        foreach (var option in new[] { "--data", "--test-data", "--cache-dir", "--bad-images <fail|skip>", "stl10", "median shorter side, at most 96 px" })
            Assert.Contains(option, output);
    }

    [Fact]
    public void AnImageNetStyleTreeIsTakenAsTrainAndValNotAsTwoClasses()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "imagenette");
        TestImages.ClassFolder(Path.Combine(root, "train"), perClass: 5, seed: 8);
        TestImages.ClassFolder(Path.Combine(root, "val"), perClass: 3, seed: 9);
        var log = new StringWriter();

        var splits = TrainingRun.LoadSplits(new TrainingConfig { Data = root, CacheDir = Path.Combine(scratch.Path, "cache") }, new PlainProgress(log));

        Assert.Equal(["rot", "teal"], splits.Train.ClassNames);
        Assert.Equal((10, 6), (splits.Train.Count, splits.Test.Count));
        Assert.Equal([0, 0, 0, 1, 1, 1], splits.Test.Labels.Select(l => (int)l));
        Assert.True(splits.Evaluable);
        Assert.Contains($"training on {Path.Combine(root, "train")}, testing on {Path.Combine(root, "val")}", log.ToString());
    }

    [Fact]
    public void FoldersThatAreNeitherLabelledNorFlatOrACacheInsideTheDataAreRefused()
    {
        using var scratch = new Scratch();
        string root = Path.Combine(scratch.Path, "data");
        TestImages.ClassFolder(root, perClass: 2, seed: 7);
        TestImages.Save(Path.Combine(root, "stray.png"), 32, 32, TestImages.Make(32, 32, (_, _) => (1, 1, 1)));
        var mixed = Assert.Throws<DataFormatException>(() => ImageFolder.List(root));
        Assert.Contains("holds both 1 images", mixed.Message);
        File.Delete(Path.Combine(root, "stray.png"));
        var inside = Assert.Throws<ArgumentException>(() => ImageFolder.Load(root, Options(Path.Combine(root, "rot", "cache"))));
        Assert.Contains("lies inside the image folder", inside.Message);
        // A test folder with a class the training set lacks would silently shift the labels; it is refused by name.
        TestImages.Save(Path.Combine(scratch.Path, "test", "violet", "a.png"), 32, 32, TestImages.Make(32, 32, (_, _) => (1, 1, 1)));
        var unknown = Assert.Throws<DataFormatException>(() => ImageFolder.List(Path.Combine(scratch.Path, "test"), ["rot", "teal"]));
        Assert.Contains("class 'violet' is not one of the training set's 2 classes", unknown.Message);
        // A test folder holding only the second class keeps its index.
        TestImages.Save(Path.Combine(scratch.Path, "test2", "teal", "a.png"), 32, 32, TestImages.Make(32, 32, (_, _) => (1, 1, 1)));
        Assert.Equal([1], ImageFolder.List(Path.Combine(scratch.Path, "test2"), ["rot", "teal"]).Labels.Select(l => (int)l));
        Assert.Throws<DataFormatException>(() => ImageFolder.List(Path.Combine(scratch.Path, "nothing-here")));
    }
}

public class MappedPixelTests
{
    [Fact]
    public void ReadsBeyondTwoGibibytesAndTakesSubRanges()
    {
        using var scratch = new Scratch();
        var path = Path.Combine(scratch.Path, "big.u8");
        const int imageBytes = 3 * 32 * 32;
        long count = (1L << 31) / imageBytes + 10;   // the last images lie past 2 GiB
        var last = Enumerable.Range(0, imageBytes).Select(i => (byte)(i * 31 + 7)).ToArray();
        using (var file = new FileStream(path, FileMode.CreateNew))
        {
            file.SetLength(4096 + count * imageBytes);   // sparse: no disk space for the zeros
            file.Position = 4096 + (count - 1) * imageBytes;
            file.Write(last);
        }
        using var source = new MappedPixelSource(path, 4096, count, 32, 32);
        var image = new byte[imageBytes];
        source.Read(count - 1, image);
        Assert.Equal(last, image);
        source.Read(0, image);
        Assert.All(image, b => Assert.Equal(0, b));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.Read(count, image));

        var set = new ImageDataset(source, [], [], 32, 32, path);
        Assert.Throws<InvalidOperationException>(() => set.Pixels);
        var tail = new ImageDataset(new PixelRange(source, count - 3, 3), [], [], 32, 32, path);
        var taken = tail.Take(2);
        Assert.Equal(2, taken.Count);
        Assert.IsType<PixelRange>(taken.PixelSource);
        var inMemory = tail.InMemory();
        Assert.Equal(last, inMemory.Pixels[(2 * imageBytes)..]);
        var truncated = Assert.Throws<DataFormatException>(() => new MappedPixelSource(path, 4096, count + 1, 32, 32));
        Assert.Contains("expected at least", truncated.Message);
    }

    [Fact]
    public void ConcatenatedSourcesReadInOrder()
    {
        const int bytes = 3 * 8 * 8;
        ArrayPixelSource Filled(int n, byte first) => new(Enumerable.Range(0, n * bytes).Select(i => (byte)(first + i / bytes)).ToArray(), bytes);
        var joined = new ConcatenatedPixels(Filled(2, 10), Filled(0, 0), Filled(3, 20));
        Assert.Equal(5, joined.Count);
        var image = new byte[bytes];
        var firsts = Enumerable.Range(0, 5).Select(i => { joined.Read(i, image); return (int)image[0]; });
        Assert.Equal([10, 11, 20, 21, 22], firsts);
    }
}

/// <summary>
/// Speed of the folder reader on this machine (run on demand: -method …ImageFolderSpeed.DecodeAndCacheReadThroughput);
/// prints images/s of the first decode and of reading the mapped cache back. No time is asserted.
/// </summary>
public class ImageFolderSpeed
{
    [Fact(Explicit = true)]
    public void DecodeAndCacheReadThroughput()
    {
        using var scratch = new Scratch();
        foreach (int size in new[] { 32, 96 })
        {
            string root = Path.Combine(scratch.Path, $"png{size}");
            TestImages.ClassFolder(root, perClass: 1000, seed: 11, size: size);
            var log = new StringWriter();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var set = ImageFolder.Load(root, new ImageFolderOptions { CacheFolder = Path.Combine(scratch.Path, "cache") }, new PlainProgress(log));
            double decode = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var reopened = ImageFolder.Load(root, new ImageFolderOptions { CacheFolder = Path.Combine(scratch.Path, "cache") });
            double open = clock.Elapsed.TotalSeconds;
            var image = new byte[reopened.ImageBytes];
            long sum = 0;
            clock.Restart();
            for (int pass = 0; pass < 5; pass++)
                for (int i = 0; i < reopened.Count; i++)
                {
                    reopened.PixelSource.Read(i, image);
                    sum += image[i % image.Length];
                }
            double read = clock.Elapsed.TotalSeconds / 5;
            TestContext.Current.SendDiagnosticMessage(
                $"{size}px PNG folder, {set.Count} images on {Environment.ProcessorCount} cores: decode {set.Count / decode:F0} img/s ({decode:F2} s); " +
                $"cache hit (list + fingerprint + map) {open * 1000:F0} ms; read back {reopened.Count / read:F0} img/s " +
                $"({(double)reopened.Count * reopened.ImageBytes / read / (1 << 20):F0} MiB/s) [{sum}]");
            Console.WriteLine($"{size}px: decode {set.Count / decode:F0} img/s, open {open * 1000:F0} ms, read {reopened.Count / read:F0} img/s ({(double)reopened.Count * reopened.ImageBytes / read / (1 << 20):F0} MiB/s)");
        }
    }

    /// <summary>STL-10's layout: every read transposes three 96×96 planes.</summary>
    [Fact(Explicit = true)]
    public void Stl10ReadThroughput()
    {
        using var scratch = new Scratch();
        var stlPath = Path.Combine(scratch.Path, "unlabeled_X.bin");
        var bytes = new byte[2000 * Stl10.ImageBytes];
        new Random(1).NextBytes(bytes);
        File.WriteAllBytes(stlPath, bytes);
        using var stl = Stl10.OpenImages(stlPath);
        var buffer = new byte[Stl10.ImageBytes];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int pass = 0; pass < 5; pass++)
            for (int i = 0; i < stl.Count; i++)
                stl.Read(i, buffer);
        double seconds = watch.Elapsed.TotalSeconds / 5;
        Console.WriteLine($"STL-10 mapped + transposed: {stl.Count / seconds:F0} img/s ({stl.Count * (double)Stl10.ImageBytes / seconds / (1 << 20):F0} MiB/s)");
    }
}
