using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace ByolIlgpu.Data;

/// <summary>
/// The checked download of a data set's official .tar.gz into a cache folder (CIFAR-10, STL-10):
/// streams it to a temporary file while hashing it, checks the published MD5, extracts it into a
/// temporary sibling folder — refusing any entry that is not a plain file or folder or whose path
/// would leave the target — checks that the expected folder and file came out, and only then
/// renames the folder into place. Any failure leaves nothing behind.
/// </summary>
/// <param name="name">The data set, for messages ("STL-10").</param>
/// <param name="folderName">The folder the archive holds (stl10_binary).</param>
/// <param name="markerFile">A file that folder must hold (test_X.bin).</param>
/// <param name="expected">What the archive should be, for messages ("the STL-10 binary version").</param>
/// <param name="offlineHint">What to do without a network ("give a local copy with --data DIR").</param>
public sealed class CheckedArchive(HttpClient client, string url, string md5, string name, string folderName, string markerFile, string expected, string offlineHint)
{
    /// <summary>The data set's folder in the cache (<paramref name="locate"/> finds it), downloaded and extracted first if it is not there yet.</summary>
    public async Task<string> EnsureAsync(string cacheFolder, Func<string, string?> locate, IProgress<(long Done, long? Total)>? progress = null, CancellationToken cancel = default)
    {
        var existing = locate(cacheFolder);
        if (existing is not null)
            return existing;
        Directory.CreateDirectory(cacheFolder);
        string token = Guid.NewGuid().ToString("N")[..8];
        string archive = Path.Combine(cacheFolder, $".{folderName}.tar.gz.{token}.partial");
        string staging = Path.Combine(cacheFolder, $".extract-{token}");
        try
        {
            await DownloadAsync(archive, progress, cancel);
            Extract(archive, staging);
            var extracted = Path.Combine(staging, folderName);
            if (!File.Exists(Path.Combine(extracted, markerFile)))
                throw new DataFormatException($"{url}: the archive holds no {folderName}/{markerFile}; expected {expected}");
            var target = Path.Combine(cacheFolder, folderName);
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
                if (total is { } length && done != length)
                    throw new DataFormatException($"{url}: the download ended after {done} of {length} bytes; nothing was kept, try again");
            }
            string actual = Convert.ToHexString(md5Hash.GetHashAndReset()).ToLowerInvariant();
            if (actual != md5)
                throw new DataFormatException($"{url}: MD5 {actual} does not match the published {md5}: the download is damaged or not {expected}; nothing was kept");
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"could not download {name} from {url} ({e.Message}); without a network, {offlineHint}", e);
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
