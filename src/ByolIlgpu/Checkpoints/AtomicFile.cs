namespace ByolIlgpu.Checkpoints;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder, is
/// flushed to the disk (fsync), and only then renamed over the target. A crash or an exception
/// at any point leaves either the old file or the complete new one, never a truncated file; the
/// temporary file is deleted when the writer throws.
/// </summary>
public static class AtomicFile
{
    /// <summary>Temporary files are named ".&lt;target name&gt;.&lt;unique&gt;.tmp" beside the target.</summary>
    public const string TempSuffix = ".tmp";

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
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
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

    /// <summary>Writes all of <paramref name="bytes"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlyMemory<byte> bytes) =>
        Write(path, s => s.Write(bytes.Span));
}
