using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ByolIlgpu.Training;
using SkiaSharp;

namespace ByolIlgpu.Data;

/// <summary>What to do with an image that cannot be decoded.</summary>
public enum BadImagePolicy
{
    /// <summary>Name it, leave it out, count it at the end.</summary>
    Skip,

    /// <summary>Name it and stop.</summary>
    Fail,
}

/// <summary>How an image folder becomes a cached set.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>Side of the square images in the cache; null: the median shorter side of the images, at most <see cref="ImageFolder.DefaultMaxResolution"/>.</summary>
    public int? Resolution { get; init; }

    /// <summary>The cache root; decoded folders go to its folders/ subfolder.</summary>
    public string CacheFolder { get; init; } = Cifar10Downloader.DefaultCacheFolder;

    public BadImagePolicy BadImages { get; init; } = BadImagePolicy.Skip;

    /// <summary>The training set's classes, for a test folder: labels are indices into these, matched by subfolder name.</summary>
    public string[]? ClassNames { get; init; }
}

/// <summary>The images of a folder in the order they are cached, with their labels (empty when unlabeled).</summary>
public sealed record ImageFolderListing(string Root, string[] Files, byte[] Labels, string[] ClassNames)
{
    public bool Labelled => ClassNames.Length > 0;
}

/// <summary>
/// A folder of PNG, JPEG and BMP images as a training or test set, following torchvision's
/// ImageFolder: images in one subfolder per class are labelled (classes are the sorted subfolder
/// names, files sorted by path, extensions in any case, hidden files and folders ignored); a flat
/// folder of images is an unlabeled set. The images are decoded once with SkiaSharp into a uint8
/// cache outside the folder (<see cref="ImageCache"/>), each resized so its shorter side is the
/// cache resolution (a mipmapped linear filter when shrinking, Mitchell's cubic when enlarging) and
/// centre-cropped to a square, then read back memory-mapped. The cache is keyed by the folder's
/// path and the asked resolution, and fingerprinted by every file's path, size and modification
/// time, so a changed folder is decoded again. Nothing is ever written into the folder.
/// </summary>
public static class ImageFolder
{
    public const int DefaultMaxResolution = 96;
    public const int MinResolution = 8;
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp"];
    const int ChunkImages = 256;   // decoded in parallel, then written in order

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="path"/> is a folder with images at its top or in its subfolders.</summary>
    public static bool Holds(string path) =>
        Directory.Exists(path) && Directory.EnumerateFiles(path, "*", Recursive).Any(IsImage);

    static readonly EnumerationOptions Recursive = new() { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
    static readonly EnumerationOptions TopOnly = new() { RecurseSubdirectories = false, IgnoreInaccessible = false, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };

    /// <summary>
    /// The train and test folders of an ImageNet-style tree (root/train/&lt;class&gt;/…, root/val/&lt;class&gt;/…
    /// or root/test/…): root holds exactly train and one of val or test; null otherwise. Without this,
    /// "train" and "val" would be taken for two classes.
    /// </summary>
    public static (string Train, string Test)? SplitFolders(string root)
    {
        var names = Directory.EnumerateDirectories(root, "*", TopOnly).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        // Sorted, the two names are (test, train) or (train, val).
        bool split = names is ["test", "train"] or ["train", "val"];
        if (!split || Directory.EnumerateFiles(root, "*", TopOnly).Any(IsImage))
            return null;
        return (Path.Combine(root, "train"), Path.Combine(root, names[0] == "test" ? "test" : "val"));
    }

    /// <summary>The images of <paramref name="root"/>: labelled by class subfolder, or a flat unlabeled folder.</summary>
    public static ImageFolderListing List(string root, string[]? classNames = null)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
            throw new DataFormatException($"{root}: no such folder");
        var topImages = Directory.EnumerateFiles(root, "*", TopOnly).Where(IsImage).Order(StringComparer.Ordinal).ToArray();
        var classes = Directory.EnumerateDirectories(root, "*", TopOnly)
            .Select(d => (Name: Path.GetFileName(d), Files: Directory.EnumerateFiles(d, "*", Recursive).Where(IsImage)
                .OrderBy(f => Path.GetRelativePath(root, f).Replace('\\', '/'), StringComparer.Ordinal).ToArray()))
            .Where(c => c.Files.Length > 0)
            .OrderBy(c => c.Name, StringComparer.Ordinal).ToArray();
        if (classes.Length == 0)
        {
            if (topImages.Length == 0)
                throw new DataFormatException($"{root}: no images ({string.Join(", ", Extensions)}); expected one subfolder of images per class, or a flat folder of images");
            return new ImageFolderListing(root, topImages, [], []);
        }
        if (topImages.Length > 0)
            throw new DataFormatException($"{root}: holds both {topImages.Length} images (e.g. {Path.GetFileName(topImages[0])}) and class subfolders ({classes[0].Name}, …); " +
                "expected either one subfolder per class (labelled) or a flat folder of images (unlabeled)");
        var names = classNames ?? classes.Select(c => c.Name).ToArray();
        if (names.Length > 256)
            throw new DataFormatException($"{root}: {names.Length} classes, at most 256 supported");
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => (byte)p.i, StringComparer.Ordinal);
        var files = new List<string>();
        var labels = new List<byte>();
        foreach (var (name, classFiles) in classes)
        {
            if (!index.TryGetValue(name, out byte label))
                throw new DataFormatException($"{Path.Combine(root, name)}: class '{name}' is not one of the training set's {names.Length} classes ({string.Join(", ", names.Take(10))}{(names.Length > 10 ? ", …" : "")})");
            files.AddRange(classFiles);
            labels.AddRange(Enumerable.Repeat(label, classFiles.Length));
        }
        return new ImageFolderListing(root, files.ToArray(), labels.ToArray(), names);
    }

    /// <summary>The folder's images, from the cache when it is current, else decoded into it first.</summary>
    public static ImageDataset Load(string root, ImageFolderOptions options, ProgressReporter? progress = null)
    {
        progress ??= new PlainProgress(TextWriter.Null);
        var listing = List(root, options.ClassNames);
        if (options.Resolution is { } asked && asked < MinResolution)
            throw new ArgumentException($"image size {asked}: at least {MinResolution} px expected");
        var cacheRoot = Path.GetFullPath(Path.Combine(options.CacheFolder, "folders"));
        if ((cacheRoot + Path.DirectorySeparatorChar).StartsWith(listing.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"--cache-dir {options.CacheFolder} lies inside the image folder {listing.Root}; nothing is written into the data, give a cache folder elsewhere");
        string requested = options.Resolution?.ToString() ?? "auto";
        var cachePath = Path.Combine(cacheRoot, Hex(SHA256.HashData(Encoding.UTF8.GetBytes($"{listing.Root}\n{requested}\n{string.Join('\n', listing.ClassNames)}")))[..20] + ".u8");
        var fingerprint = Fingerprint(listing, requested);
        var cached = ImageCache.TryOpen(cachePath, fingerprint, out var whyNot);
        if (cached is null)
        {
            int resolution = options.Resolution ?? AutoResolution(listing, progress);
            progress.Line($"{listing.Root}: decoding {listing.Files.Length} images at {resolution}×{resolution} into {cachePath} ({whyNot})");
            Decode(listing, resolution, options.BadImages, cachePath, fingerprint, progress);
            cached = ImageCache.TryOpen(cachePath, fingerprint, out whyNot)
                ?? throw new IOException($"{cachePath}: the cache just written cannot be read back ({whyNot})");
        }
        else
            progress.Line($"{listing.Root}: {cached.Value.Pixels.Count} images at {cached.Value.Height}×{cached.Value.Width} from the cache {cachePath}");
        var (pixels, height, width, contents) = cached.Value;
        if (contents.Skipped.Count > 0)
        {
            var (path, reason) = contents.Skipped[0];
            if (options.BadImages == BadImagePolicy.Fail)
            {
                pixels.Dispose();
                throw new DataFormatException($"{path}: {reason}" + (contents.Skipped.Count > 1 ? $" (and {contents.Skipped.Count - 1} more damaged images)" : "") +
                    "; --bad-images skip leaves them out");
            }
            progress.Line($"{listing.Root}: {contents.Skipped.Count} damaged image{(contents.Skipped.Count == 1 ? "" : "s")} left out (the first: {path}: {reason})");
        }
        return new ImageDataset(pixels, contents.Labels, contents.ClassNames, height, width, listing.Root);
    }

    /// <summary>SHA-256 over the format version, the asked resolution, the classes and every file's relative path, size and modification time.</summary>
    static byte[] Fingerprint(ImageFolderListing listing, string requested)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text) => hash.AppendData(Encoding.UTF8.GetBytes(text + "\0"));
        Add($"v{ImageCache.Version}");
        Add(requested);
        Add(string.Join('\n', listing.ClassNames));
        for (int i = 0; i < listing.Files.Length; i++)
        {
            var info = new FileInfo(listing.Files[i]);
            Add($"{Path.GetRelativePath(listing.Root, info.FullName)}|{(listing.Labelled ? listing.Labels[i] : -1)}|{info.Length}|{info.LastWriteTimeUtc.Ticks}");
        }
        return hash.GetHashAndReset();
    }

    /// <summary>The median of the images' shorter sides (read from their headers, not decoded), at most <see cref="DefaultMaxResolution"/>.</summary>
    static int AutoResolution(ImageFolderListing listing, ProgressReporter progress)
    {
        var shorter = new int[listing.Files.Length];
        Parallel.For(0, listing.Files.Length, i =>
        {
            try
            {
                using var codec = SKCodec.Create(listing.Files[i], out _);
                shorter[i] = codec is null ? 0 : Math.Min(codec.Info.Width, codec.Info.Height);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                shorter[i] = 0;   // named when it is decoded
            }
        });
        var sizes = shorter.Where(s => s > 0).Order().ToArray();
        if (sizes.Length == 0)
            throw new DataFormatException($"{listing.Root}: none of its {listing.Files.Length} images can be read (the first: {listing.Files[0]})");
        int median = sizes[sizes.Length / 2];
        int resolution = Math.Clamp(median, MinResolution, DefaultMaxResolution);
        progress.Line($"{listing.Root}: cache resolution {resolution} px (the images' median shorter side is {median} px; at most {DefaultMaxResolution} unless --image-size says otherwise)");
        return resolution;
    }

    static void Decode(ImageFolderListing listing, int size, BadImagePolicy policy, string cachePath, byte[] fingerprint, ProgressReporter progress)
    {
        int imageBytes = 3 * size * size;
        int total = listing.Files.Length;
        ImageCache.Write(cachePath, size, size, fingerprint, stream =>
        {
            var buffer = new byte[Math.Min(ChunkImages, total) * imageBytes];
            var reasons = new string?[ChunkImages];
            var labels = new List<byte>(listing.Labels.Length);
            var skipped = new List<(string, string)>();
            long written = 0;
            var clock = Stopwatch.StartNew();
            for (int start = 0; start < total; start += ChunkImages)
            {
                int n = Math.Min(ChunkImages, total - start);
                Array.Clear(reasons);
                Parallel.For(0, n, (i, state) =>
                {
                    reasons[i] = DecodeInto(listing.Files[start + i], size, buffer.AsSpan(i * imageBytes, imageBytes));
                    if (reasons[i] is not null && policy == BadImagePolicy.Fail)
                        state.Stop();
                });
                for (int i = 0; i < n; i++)
                {
                    var file = listing.Files[start + i];
                    if (reasons[i] is { } reason)
                    {
                        if (policy == BadImagePolicy.Fail)
                            throw new DataFormatException($"{file}: {reason}; --bad-images skip leaves damaged images out");
                        progress.Line($"{file}: {reason}; left out");
                        skipped.Add((file, reason));
                        continue;
                    }
                    stream.Write(buffer, i * imageBytes, imageBytes);
                    if (listing.Labelled)
                        labels.Add(listing.Labels[start + i]);
                    written++;
                }
                double rate = (start + n) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                progress.Update("decode", start + n, total, $"{rate:F0} img/s", TimeSpan.FromSeconds((total - start - n) / Math.Max(1e-9, rate)));
            }
            if (written == 0)
                throw new DataFormatException($"{listing.Root}: none of its {total} images could be decoded (the first: {skipped[0].Item1}: {skipped[0].Item2})");
            progress.Line($"{listing.Root}: decoded {written} images in {clock.Elapsed.TotalSeconds:F1} s ({total / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} img/s)" +
                (skipped.Count > 0 ? $"; {skipped.Count} damaged left out" : ""));
            return (written, new ImageCache.Contents(listing.Root, listing.ClassNames, labels.ToArray(), skipped));
        });
    }

    /// <summary>
    /// Decodes one file into (3, size, size) planar RGB: its shorter side resized to
    /// <paramref name="size"/>, centre-cropped. Returns null, or why the image cannot be used.
    /// </summary>
    public static unsafe string? DecodeInto(string path, int size, Span<byte> planar)
    {
        SKCodec? codec;
        SKCodecResult result;
        try
        {
            if (new FileInfo(path).Length == 0)
                return "empty file";
            codec = SKCodec.Create(path, out result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot be read ({e.Message})";
        }
        if (codec is null)
            return $"not a decodable image ({(result == SKCodecResult.Unimplemented ? "not PNG, JPEG or BMP data" : Describe(result))})";
        using (codec)
        {
            var full = codec.Info;
            if (full.Width <= 0 || full.Height <= 0)
                return $"an image of {full.Width}×{full.Height} pixels";
            // JPEG decodes at 1/2, 1/4 or 1/8 scale for the price of a fraction: take the smallest that still covers the size.
            var dims = new SKSizeI(full.Width, full.Height);
            int shorter = Math.Min(full.Width, full.Height);
            if (shorter > size)
            {
                var scaled = codec.GetScaledDimensions((float)size / shorter);
                if (Math.Min(scaled.Width, scaled.Height) >= size)
                    dims = scaled;
            }
            var info = new SKImageInfo(dims.Width, dims.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            var rgba = ArrayPool<byte>.Shared.Rent(info.BytesSize);
            var resized = ArrayPool<byte>.Shared.Rent(4 * size * size);
            try
            {
                fixed (byte* decoded = rgba)
                fixed (byte* output = resized)
                {
                    result = codec.GetPixels(info, (IntPtr)decoded);
                    if (result != SKCodecResult.Success)
                        return $"damaged ({Describe(result)})";
                    using var pixmap = new SKPixmap(info, (IntPtr)decoded, info.RowBytes);
                    int side = Math.Min(dims.Width, dims.Height);
                    using var square = pixmap.ExtractSubset(SKRectI.Create((dims.Width - side) / 2, (dims.Height - side) / 2, side, side));
                    var outInfo = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul);
                    using var target = new SKPixmap(outInfo, (IntPtr)output, outInfo.RowBytes);
                    var sampling = side > size ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)
                        : side < size ? new SKSamplingOptions(SKCubicResampler.Mitchell)
                        : new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None);
                    if (square is null || !square.ScalePixels(target, sampling))
                        return $"could not be resized from {side}×{side} to {size}×{size}";
                }
                int plane = size * size;
                for (int p = 0; p < plane; p++)
                {
                    planar[p] = resized[4 * p];
                    planar[plane + p] = resized[4 * p + 1];
                    planar[2 * plane + p] = resized[4 * p + 2];
                }
                return null;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rgba);
                ArrayPool<byte>.Shared.Return(resized);
            }
        }
    }

    static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "truncated: the file ends before the image does",
        SKCodecResult.ErrorInInput => "corrupt data",
        SKCodecResult.InvalidInput => "invalid or unsupported format",
        SKCodecResult.Unimplemented => "an encoding this decoder does not support",
        _ => result.ToString(),
    };

    static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();
}
