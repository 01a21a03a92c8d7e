using System.Text.RegularExpressions;

namespace ByolIlgpu.Checkpoints;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder, is
/// flushed to the disk (fsync), and only then renamed over the target. A crash or an exception
/// at any point leaves either the old file or the complete new one, never a truncated file; the
/// temporary file is deleted when the writer throws. A process killed mid-write (SIGKILL, power
/// loss) leaves its temporary file behind; <see cref="TemporaryTarget"/> recognises one, so the
/// owner of the folder can remove it at its next start (<see cref="Training.RunFolder"/>).
/// </summary>
public static partial class AtomicFile
{
    /// <summary>Temporary files are named ".&lt;target name&gt;.&lt;process id&gt;-&lt;unique&gt;.tmp" beside the target.</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>
    /// For tests of interrupted writes only: while writing a file of this name (e.g.
    /// "checkpoint-epoch0002.safetensors"), pause for up to <see cref="TestPauseSeconds"/> after the
    /// first block has reached the temporary file, having written one line "atomic write paused: PATH"
    /// to stderr, so that a test can kill the process in the middle of the write.
    /// </summary>
    public const string TestPauseVariable = "BYOL_TEST_PAUSE_WRITING";

    /// <summary>How long the pause of <see cref="TestPauseVariable"/> lasts before the write goes on.</summary>
    public const int TestPauseSeconds = 60;

    [GeneratedRegex(@"^\.(.+)\.\d+-[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TemporaryName();

    /// <summary>The name of the file a temporary file of <see cref="Write"/> was to replace, or null when <paramref name="fileName"/> is not one.</summary>
    public static string? TemporaryTarget(string fileName)
    {
        var m = TemporaryName().Match(fileName);
        return m.Success ? m.Groups[1].Value : null;
    }

    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/> (which must not dispose the
    /// stream). The folder must exist. Whatever <paramref name="write"/> throws propagates after
    /// the temporary file is removed; the previous file at <paramref name="path"/> is untouched.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{path}: not a file path");
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{path}: folder '{folder}' does not exist");
        if (Directory.Exists(full))
            throw new IOException($"{path}: is a folder, expected a file path");

        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}-{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                var stream = Environment.GetEnvironmentVariable(TestPauseVariable) == Path.GetFileName(full) ? new PausingStream(file, temp) : (Stream)file;
                write(stream);
                stream.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>The stream of <see cref="TestPauseVariable"/>: passes the first write through, flushes it to the temporary file, then waits.</summary>
    sealed class PausingStream(FileStream inner, string temp) : Stream
    {
        bool paused;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            if (paused || buffer.IsEmpty)
                return;
            paused = true;
            inner.Flush(flushToDisk: true);
            Console.Error.WriteLine($"atomic write paused: {temp}");
            Console.Error.Flush();
            Thread.Sleep(TimeSpan.FromSeconds(TestPauseSeconds));
        }
    }

    /// <summary>Writes all of <paramref name="bytes"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlyMemory<byte> bytes) =>
        Write(path, s => s.Write(bytes.Span));
}
