using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace ByolIlgpu.Data;

/// <summary>
/// Fetches the official CIFAR-10 binary archive into a cache folder when no data is given: streams it
/// to a temporary file while hashing it, checks the published MD5, extracts it into a temporary
/// sibling folder — refusing any entry that is not a plain file or folder or whose path would leave
/// the target — and only then renames the result into place. Any failure leaves nothing behind.
/// </summary>
public sealed class Cifar10Downloader(HttpClient client, string url = Cifar10Downloader.OfficialUrl, string md5 = Cifar10Downloader.OfficialMd5)
{
    public const string OfficialUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    public const string OfficialMd5 = "c32a1d4ab5d03f1284b67883e8d87530";

    /// <summary>$XDG_CACHE_HOME/byol-ilgpu, else ~/.cache/byol-ilgpu.</summary>
    public static string DefaultCacheFolder
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
            return Path.Combine(root, "byol-ilgpu");
        }
    }

    /// <summary>The cache's CIFAR-10 folder, downloaded and extracted first if it is not there yet.</summary>
    public async Task<string> EnsureAsync(string cacheFolder, IProgress<(long Done, long? Total)>? progress = null, CancellationToken cancel = default)
    {
        var existing = Cifar10.Locate(cacheFolder);
        if (existing is not null)
            return existing;
        Directory.CreateDirectory(cacheFolder);
        string token = Guid.NewGuid().ToString("N")[..8];
        string archive = Path.Combine(cacheFolder, $".cifar-10-binary.tar.gz.{token}.partial");
        string staging = Path.Combine(cacheFolder, $".extract-{token}");
        try
        {
            await DownloadAsync(archive, progress, cancel);
            Extract(archive, staging);
            var extracted = Path.Combine(staging, Cifar10.FolderName);
            if (!File.Exists(Path.Combine(extracted, "test_batch.bin")))
                throw new DataFormatException($"{url}: the archive holds no {Cifar10.FolderName}/test_batch.bin; expected the CIFAR-10 binary version");
            var target = Path.Combine(cacheFolder, Cifar10.FolderName);
            Directory.Move(extracted, target);
            return target;
        }
        finally
        {
            if (File.Exists(archive)) File.Delete(archive);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    async Task DownloadAsync(string archive, IProgress<(long, long?)>? progress, CancellationToken cancel)
    {
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancel);
            response.EnsureSuccessStatusCode();
            long? total = response.Content.Headers.ContentLength;
            await using var source = await response.Content.ReadAsStreamAsync(cancel);
            using var md5Hash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            await using (var file = new FileStream(archive, FileMode.CreateNew, FileAccess.Write))
            {
                var buffer = new byte[1 << 16];
                long done = 0;
                int read;
                while ((read = await source.ReadAsync(buffer, cancel)) > 0)
                {
                    md5Hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancel);
                    done += read;
                    progress?.Report((done, total));
                }
            }
            string actual = Convert.ToHexString(md5Hash.GetHashAndReset()).ToLowerInvariant();
            if (actual != md5)
                throw new DataFormatException($"{url}: MD5 {actual} does not match the published {md5}: the download is damaged or not the CIFAR-10 binary archive; nothing was kept");
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"could not download CIFAR-10 from {url} ({e.Message}); without a network, give a local copy with --data DIR (the cifar-10-batches-bin folder)", e);
        }
    }

    /// <summary>Extracts a .tar.gz into <paramref name="target"/>, refusing links, devices and any path that escapes it.</summary>
    public static void Extract(string archive, string target)
    {
        var root = Path.GetFullPath(target) + Path.DirectorySeparatorChar;
        Directory.CreateDirectory(root);
        using var file = File.OpenRead(archive);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            var name = entry.Name.Replace('\\', '/');
            if (Path.IsPathRooted(name) || name.Split('/').Any(part => part == ".."))
                throw new DataFormatException($"{archive}: entry '{entry.Name}' would be written outside the target folder; refusing the archive");
            var path = Path.GetFullPath(Path.Combine(root, name));
            if (!path.StartsWith(root, StringComparison.Ordinal))
                throw new DataFormatException($"{archive}: entry '{entry.Name}' would be written outside the target folder; refusing the archive");
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    entry.ExtractToFile(path, overwrite: false);
                    break;
                case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                    break;
                default:
                    throw new DataFormatException($"{archive}: entry '{entry.Name}' is a {entry.EntryType}, expected only files and folders; refusing the archive");
            }
        }
    }
}
