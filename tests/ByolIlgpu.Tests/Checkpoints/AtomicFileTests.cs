using ByolIlgpu.Checkpoints;
using Xunit;

namespace ByolIlgpu.Tests.Checkpoints;

/// <summary>Atomic replacement: a writer that fails midway leaves the previous file as it was and no temporary file.</summary>
public sealed class AtomicFileTests
{
    /// <summary>Passes writes through until <c>budget</c> bytes have gone, then fails as a full disk would.</summary>
    sealed class FailingStream(Stream inner, long budget) : Stream
    {
        long written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            int allowed = (int)Math.Min(buffer.Length, budget - written);
            inner.Write(buffer[..allowed]);
            written += allowed;
            if (allowed < buffer.Length)
                throw new IOException("simulated: no space left on device");
        }
    }

    static NamedTensor[] Tensors(int seed, int n)
    {
        var rng = new Random(seed);
        return
        [
            NamedTensor.F32("conv1.weight", [n, 3], Enumerable.Range(0, 3 * n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray()),
            NamedTensor.ScalarI64("bn1.num_batches_tracked", seed),
        ];
    }

    [Fact]
    public void SafeTensorsWriteFailingMidwayLeavesTheOldFileAndNoTemporary()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        SafeTensors.Save(path, Tensors(1, 4), new Dictionary<string, string> { ["byol.epoch"] = "1" });
        var before = File.ReadAllBytes(path);

        var bigger = Tensors(2, 4096);
        long total = SafeTensors.Serialize(bigger).Length;
        string[]? during = null;
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, stream =>
        {
            // The failure comes halfway through the tensor data, after the header went out.
            try { SafeTensors.Write(new FailingStream(stream, total / 2), bigger); }
            finally { stream.Flush(); during = dir.Entries(); }
        }));
        Assert.Contains("simulated", e.Message);

        Assert.NotNull(during);
        Assert.True(during!.Length == 2, $"while writing, expected the target and one temporary file: {string.Join(", ", during)}");
        Assert.Equal(["model.safetensors"], dir.Entries());
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal("1", SafeTensors.Load(path).Metadata["byol.epoch"]);
    }

    [Fact]
    public void CallbackThrowingAfterPartialOutputChangesNothing()
    {
        using var dir = new TempFolder();
        string path = dir.File("state.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100_000]);
            stream.Flush();
            Assert.True(new FileInfo(path).Length == 3, "the target changed before the rename");
            throw new InvalidOperationException("writer failed");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(["state.bin"], dir.Entries());
    }

    [Fact]
    public void InvalidInputFailsBeforeAnyFileIsCreated()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        SafeTensors.Save(path, Tensors(1, 2));
        var before = File.ReadAllBytes(path);
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [NamedTensor.F32("x", [1], [1f]), NamedTensor.F32("x", [1], [1f])]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], dir.Entries());
    }

    [Fact]
    public void SuccessfulWriteReplacesTheFileAndLeavesNoTemporary()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        SafeTensors.Save(path, Tensors(1, 2));
        SafeTensors.Save(path, Tensors(3, 5));
        Assert.Equal(["model.safetensors"], dir.Entries());
        var back = SafeTensors.Load(path);
        Assert.Equal(3L, back.Tensors["bn1.num_batches_tracked"].ToInt64()[0]);
        Assert.Equal([5, 3], back.Tensors["conv1.weight"].Shape);
    }

    [Fact]
    public void MissingFolderIsNamed()
    {
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "nope", "model.safetensors");
        var e = Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllBytes(path, new byte[] { 1 }));
        Assert.Contains("nope", e.Message);
        Assert.Empty(dir.Entries());
    }
}
