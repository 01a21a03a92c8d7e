using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ByolIlgpu.Data;
using Xunit;

namespace ByolIlgpu.Tests.Data;

/// <summary>A temporary folder removed after the test.</summary>
sealed class Scratch : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("byol-data-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

public class Cifar10ReaderTests
{
    static ImageDataset Images(int count, int seed) => SyntheticDataset.Generate(count, seed);

    static string MakeFolder(string root, int trainBatches, int perBatch = 7)
    {
        var folder = Path.Combine(root, Cifar10.FolderName);
        Directory.CreateDirectory(folder);
        for (int i = 1; i <= trainBatches; i++)
            Cifar10.WriteBatch(Path.Combine(folder, $"data_batch_{i}.bin"), Images(perBatch, i));
        Cifar10.WriteBatch(Path.Combine(folder, "test_batch.bin"), Images(5, 99));
        File.WriteAllLines(Path.Combine(folder, "batches.meta.txt"), Cifar10.DefaultClassNames);
        return folder;
    }

    [Fact]
    public void ReadsTheFolderOrItsParentAndWhicheverTrainBatchesArePresent()
    {
        using var scratch = new Scratch();
        var folder = MakeFolder(scratch.Path, trainBatches: 2);
        foreach (var path in new[] { folder, scratch.Path })
        {
            var (train, test) = Cifar10.Load(path);
            Assert.Equal(14, train.Count);
            Assert.Equal(5, test.Count);
            Assert.Equal("airplane", train.ClassNames[0]);
            var first = Images(7, 1);
            Assert.Equal(first.Pixels, train.Pixels[..first.Pixels.Length]);
            Assert.Equal(first.Labels, train.Labels[..7]);
        }
    }

    [Fact]
    public void ATruncatedFileNamesTheFileAndTheRecord()
    {
        using var scratch = new Scratch();
        var folder = MakeFolder(scratch.Path, trainBatches: 1);
        var file = Path.Combine(folder, "data_batch_1.bin");
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<DataFormatException>(() => Cifar10.Load(folder));
        Assert.Contains("data_batch_1.bin", e.Message);
        Assert.Contains("record 6", e.Message);
        Assert.Contains("3073", e.Message);
    }

    [Fact]
    public void ABadLabelNamesTheFileTheRecordAndTheValue()
    {
        using var scratch = new Scratch();
        var folder = MakeFolder(scratch.Path, trainBatches: 1);
        var file = Path.Combine(folder, "test_batch.bin");
        var bytes = File.ReadAllBytes(file);
        bytes[3 * Cifar10.RecordBytes] = 12;
        File.WriteAllBytes(file, bytes);
        var e = Assert.Throws<DataFormatException>(() => Cifar10.Load(folder));
        Assert.Contains("test_batch.bin", e.Message);
        Assert.Contains("record 3", e.Message);
        Assert.Contains("12", e.Message);
    }

    [Fact]
    public void MissingFilesSayWhatWasExpected()
    {
        using var scratch = new Scratch();
        var e = Assert.Throws<DataFormatException>(() => Cifar10.Load(Path.Combine(scratch.Path, "nope")));
        Assert.Contains("--data", e.Message);
        e = Assert.Throws<DataFormatException>(() => Cifar10.Load(scratch.Path));
        Assert.Contains("test_batch.bin", e.Message);
        var folder = MakeFolder(scratch.Path, trainBatches: 0);
        e = Assert.Throws<DataFormatException>(() => Cifar10.Load(folder));
        Assert.Contains("data_batch_1.bin", e.Message);
    }

    [Fact]
    public void ReadsTheSharedSubsetWhenPresent()
    {
        var folder = SharedData.Cifar10Subset ?? throw SharedData.Skip();
        var (train, test) = Cifar10.Load(folder);
        Assert.Equal(10_000, train.Count);
        Assert.Equal(2_000, test.Count);
        Assert.All(Enumerable.Range(0, 10), k => Assert.Equal(1000, train.Labels.Count(l => l == k)));
        Assert.Equal("airplane", train.ClassNames[0]);
    }
}

/// <summary>Finds ../shared/data/cifar10-subset above the test's folder, or BYOL_CIFAR_SUBSET.</summary>
public static class SharedData
{
    public static string? Cifar10Subset
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("BYOL_CIFAR_SUBSET");
            if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
                return env;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data", "cifar10-subset");
                if (File.Exists(Path.Combine(candidate, "test_batch.bin")))
                    return candidate;
            }
            return null;
        }
    }

    public static Exception Skip()
    {
        Assert.Skip("the CIFAR-10 subset (../shared/data/cifar10-subset) is not on this machine");
        return new InvalidOperationException();
    }
}

public class SyntheticDatasetTests
{
    [Fact]
    public void IsDeterministicBalancedAndClassesDiffer()
    {
        var a = SyntheticDataset.Generate(200, seed: 3);
        var b = SyntheticDataset.Generate(200, seed: 3);
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.NotEqual(a.Pixels, SyntheticDataset.Generate(200, seed: 4).Pixels);
        Assert.All(Enumerable.Range(0, 10), k => Assert.Equal(20, a.Labels.Count(l => l == k)));
        // Mean colour per class: the class hues differ.
        var means = Enumerable.Range(0, 10).Select(k =>
            Enumerable.Range(0, 3).Select(c => Enumerable.Range(0, 200).Where(n => a.Labels[n] == k)
                .Average(n => a.Pixels.Skip(n * 3072 + c * 1024).Take(1024).Average(v => v))).ToArray()).ToArray();
        for (int i = 0; i < 10; i++)
            for (int j = i + 1; j < 10; j++)
                Assert.True(Enumerable.Range(0, 3).Sum(c => Math.Abs(means[i][c] - means[j][c])) > 5, $"classes {i} and {j} look alike");
    }

    [Fact]
    public void RejectsBadCounts() => Assert.Throws<ArgumentException>(() => SyntheticDataset.Generate(0, 1));
}

/// <summary>The downloader against a loopback HTTP server serving archives made in the test.</summary>
public class Cifar10DownloaderTests
{
    /// <summary>Serves one body at every path of a free loopback port (the STL-10 download tests use it too).</summary>
    internal sealed class LoopbackServer : IDisposable
    {
        readonly HttpListener listener = new();
        readonly byte[] body;
        public string Url { get; }

        public LoopbackServer(byte[] body)
        {
            this.body = body;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/cifar-10-binary.tar.gz";
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            listener.Start();
            _ = Task.Run(Serve);
        }

        async Task Serve()
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception) { return; }
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        }

        public void Dispose() => listener.Close();
    }

    /// <summary>A .tar.gz of the given (name, bytes) entries.</summary>
    internal static byte[] TarGz(params (string Name, byte[] Bytes)[] entries)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
            foreach (var (name, bytes) in entries)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(bytes) });
        return memory.ToArray();
    }

    static byte[] Batch(int count, int seed)
    {
        using var scratch = new Scratch();
        var path = Path.Combine(scratch.Path, "b.bin");
        Cifar10.WriteBatch(path, SyntheticDataset.Generate(count, seed));
        return File.ReadAllBytes(path);
    }

    internal static string Md5(byte[] bytes) => Convert.ToHexString(MD5.HashData(bytes)).ToLowerInvariant();

    static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(20) };

    [Fact]
    public async Task DownloadsChecksAndExtractsAGoodArchive()
    {
        var archive = TarGz(("cifar-10-batches-bin/data_batch_1.bin", Batch(6, 1)), ("cifar-10-batches-bin/test_batch.bin", Batch(4, 2)),
            ("cifar-10-batches-bin/batches.meta.txt", System.Text.Encoding.UTF8.GetBytes(string.Join('\n', Cifar10.DefaultClassNames))));
        using var server = new LoopbackServer(archive);
        using var cache = new Scratch();
        var folder = await new Cifar10Downloader(Client, server.Url, Md5(archive)).EnsureAsync(cache.Path, cancel: TestContext.Current.CancellationToken);
        var (train, test) = Cifar10.Load(folder);
        Assert.Equal(6, train.Count);
        Assert.Equal(4, test.Count);
        Assert.Equal([Cifar10.FolderName], Directory.GetFileSystemEntries(cache.Path).Select(Path.GetFileName));
        // A second call finds the cache and downloads nothing.
        Assert.Equal(folder, await new Cifar10Downloader(Client, "http://127.0.0.1:1/none", "x").EnsureAsync(cache.Path, cancel: TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ABadChecksumLeavesNothingBehind()
    {
        var archive = TarGz(("cifar-10-batches-bin/test_batch.bin", Batch(4, 2)));
        using var server = new LoopbackServer(archive);
        using var cache = new Scratch();
        var e = await Assert.ThrowsAsync<DataFormatException>(() => new Cifar10Downloader(Client, server.Url, Cifar10Downloader.OfficialMd5).EnsureAsync(cache.Path, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("MD5", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(cache.Path));
    }

    [Fact]
    public async Task AnEntryThatEscapesIsRejectedAndNothingIsLeft()
    {
        var archive = TarGz(("cifar-10-batches-bin/test_batch.bin", Batch(4, 2)), ("../evil.txt", [1, 2, 3]));
        using var server = new LoopbackServer(archive);
        using var cache = new Scratch();
        var e = await Assert.ThrowsAsync<DataFormatException>(() => new Cifar10Downloader(Client, server.Url, Md5(archive)).EnsureAsync(cache.Path, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("outside the target folder", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(cache.Path));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(cache.Path)!, "evil.txt")));
    }

    [Fact]
    public async Task AnUnreachableServerPointsToData()
    {
        using var cache = new Scratch();
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();   // nothing listens there now
        var e = await Assert.ThrowsAsync<IOException>(() => new Cifar10Downloader(Client, $"http://127.0.0.1:{port}/x.tar.gz").EnsureAsync(cache.Path, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("--data", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(cache.Path));
    }
}
