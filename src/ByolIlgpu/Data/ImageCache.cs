using System.Text;
using ByolIlgpu.Checkpoints;

namespace ByolIlgpu.Data;

/// <summary>
/// The decoded form of an image folder: one file of uint8 pixels (N, 3, H, W), memory-mapped when
/// read. Layout (little-endian):
/// <code>
/// [0, 4096)       header: magic "BYOLIMG\0", version (int32), H, W (int32), N (int64),
///                 trailer offset (int64), fingerprint of the source files (32 bytes), zero padding
/// [4096, T)       pixels, N × 3·H·W bytes, planar RGB, rows top to bottom
/// [T, end)        trailer: source folder, class names, labels (N bytes, or none when unlabeled),
///                 the images left out as damaged (path, reason)
/// </code>
/// The pixels start page-aligned; the variable-length metadata goes last so the pixels can be written
/// as they are decoded, before the count of skipped images is known. Written through
/// <see cref="AtomicFile"/>: a reader sees the old cache or the complete new one.
/// </summary>
public static class ImageCache
{
    public const int Version = 1;
    public const long PixelOffset = 4096;
    static ReadOnlySpan<byte> Magic => "BYOLIMG\0"u8;

    /// <summary>What the trailer holds.</summary>
    public sealed record Contents(string SourceFolder, string[] ClassNames, byte[] Labels, IReadOnlyList<(string Path, string Reason)> Skipped);

    /// <summary>
    /// Writes a cache: <paramref name="writePixels"/> writes the pixels of the images it keeps, in
    /// order, and returns what the trailer records (its labels, one per image written).
    /// </summary>
    public static void Write(string path, int height, int width, byte[] fingerprint, Func<Stream, (long Count, Contents Contents)> writePixels)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        RemoveAbandonedTemporaries(folder, Path.GetFileName(path));
        AtomicFile.Write(path, stream =>
        {
            stream.Position = PixelOffset;
            var (count, contents) = writePixels(stream);
            long trailer = stream.Position;
            if (trailer != PixelOffset + count * 3L * height * width)
                throw new InvalidOperationException($"{path}: {trailer - PixelOffset} pixel bytes written for {count} images of 3×{height}×{width}");
            using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                writer.Write(contents.SourceFolder);
                writer.Write(contents.ClassNames.Length);
                foreach (var name in contents.ClassNames)
                    writer.Write(name);
                writer.Write(contents.Labels.Length);
                writer.Write(contents.Labels);
                writer.Write(contents.Skipped.Count);
                foreach (var (file, reason) in contents.Skipped)
                {
                    writer.Write(file);
                    writer.Write(reason);
                }
            }
            stream.Position = 0;
            using var header = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            header.Write(Magic);
            header.Write(Version);
            header.Write(height);
            header.Write(width);
            header.Write(count);
            header.Write(trailer);
            header.Write(fingerprint);
        });
    }

    /// <summary>
    /// A decode killed midway leaves its temporary file (as large as the cache); one whose writing
    /// process is gone is removed before the next write of the same cache.
    /// </summary>
    static void RemoveAbandonedTemporaries(string folder, string name)
    {
        foreach (var temp in Directory.EnumerateFiles(folder, $".{name}.*{AtomicFile.TempSuffix}"))
        {
            var owner = Path.GetFileName(temp)[(name.Length + 2)..].Split('-')[0];
            if (!int.TryParse(owner, out int pid) || pid == Environment.ProcessId || ProcessAlive(pid))
                continue;
            try { File.Delete(temp); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    static bool ProcessAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Opens a cache whose fingerprint is <paramref name="fingerprint"/>; null, with the reason in
    /// <paramref name="whyNot"/>, when there is none, it is damaged, of another version, or made
    /// from files that have changed since.
    /// </summary>
    public static (MappedPixelSource Pixels, int Height, int Width, Contents Contents)? TryOpen(string path, byte[] fingerprint, out string whyNot)
    {
        whyNot = "";
        if (!File.Exists(path))
        {
            whyNot = "not decoded before";
            return null;
        }
        int height, width;
        long count;
        Contents contents;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            {
                whyNot = "the cache file is not one (bad magic)";
                return null;
            }
            int version = reader.ReadInt32();
            if (version != Version)
            {
                whyNot = $"the cache is of format version {version}, this program writes {Version}";
                return null;
            }
            height = reader.ReadInt32();
            width = reader.ReadInt32();
            count = reader.ReadInt64();
            long trailer = reader.ReadInt64();
            if (!reader.ReadBytes(32).AsSpan().SequenceEqual(fingerprint))
            {
                whyNot = "the folder changed since it was decoded";
                return null;
            }
            if (height <= 0 || width <= 0 || count < 0 || trailer != PixelOffset + count * 3L * height * width || trailer > stream.Length)
            {
                whyNot = "the cache file is damaged (sizes do not add up)";
                return null;
            }
            stream.Position = trailer;
            var source = reader.ReadString();
            var names = new string[reader.ReadInt32()];
            for (int i = 0; i < names.Length; i++)
                names[i] = reader.ReadString();
            var labels = reader.ReadBytes(reader.ReadInt32());
            var skipped = new (string, string)[reader.ReadInt32()];
            for (int i = 0; i < skipped.Length; i++)
                skipped[i] = (reader.ReadString(), reader.ReadString());
            if (labels.Length != 0 && labels.Length != count)
            {
                whyNot = $"the cache file is damaged ({labels.Length} labels for {count} images)";
                return null;
            }
            contents = new Contents(source, names, labels, skipped);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentOutOfRangeException or OverflowException or UnauthorizedAccessException)
        {
            whyNot = $"the cache file could not be read ({e.Message})";
            return null;
        }
        return (new MappedPixelSource(path, PixelOffset, count, height, width), height, width, contents);
    }
}
