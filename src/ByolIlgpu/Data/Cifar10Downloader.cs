namespace ByolIlgpu.Data;

/// <summary>
/// Fetches the official CIFAR-10 binary archive into a cache folder when no data is given, through
/// <see cref="CheckedArchive"/> (MD5-checked, extracted aside, renamed into place; any failure
/// leaves nothing behind).
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
    public Task<string> EnsureAsync(string cacheFolder, IProgress<(long Done, long? Total)>? progress = null, CancellationToken cancel = default) =>
        new CheckedArchive(client, url, md5, "CIFAR-10", Cifar10.FolderName, "test_batch.bin",
                "the CIFAR-10 binary version", "give a local copy with --data DIR (the cifar-10-batches-bin folder)")
            .EnsureAsync(cacheFolder, Cifar10.Locate, progress, cancel);

    /// <summary>Extracts a .tar.gz into <paramref name="target"/>, refusing links, devices and any path that escapes it.</summary>
    public static void Extract(string archive, string target) => CheckedArchive.Extract(archive, target);
}
