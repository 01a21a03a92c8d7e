using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ByolIlgpu.Checkpoints;

/// <summary>What a safetensors file holds: its tensors in file order and its string metadata.</summary>
public sealed record SafeTensorsFile(TensorMap Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// The safetensors format (huggingface/safetensors), written and read exactly:
/// <code>
///   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
///   bytes [8, 8 + N)    the header: UTF-8 JSON, padded with spaces so that 8 + N is a multiple of 8
///                       {"__metadata__": {"key": "value", ...},        (optional, strings only)
///                        "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
///   bytes [8 + N, end)  the byte buffer: each tensor's elements, little-endian, row-major,
///                       at [begin, end) relative to the start of the buffer
/// </code>
/// The tensors tile the buffer: sorted by offset they are contiguous, do not overlap, and cover
/// it to the last byte; end − begin = product(shape)·size(dtype). A shape [] is a scalar.
/// The writer lays tensors out by descending element size (as the reference does, so every
/// tensor is aligned to its element size in the file), keeping the caller's order among equal
/// sizes; the header lists them in buffer order, after <c>__metadata__</c>, as compact JSON.
/// </summary>
public static class SafeTensors
{
    /// <summary>The reference implementation's limit on the header (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    public const string MetadataKey = "__metadata__";

    static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // ---------------------------------------------------------------- writing

    /// <summary>Writes the file atomically (temporary file, fsync, rename): a failure leaves the old file intact.</summary>
    public static void Save(string path, IEnumerable<NamedTensor> tensors, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        AtomicFile.Write(path, stream => WritePrepared(stream, header, ordered));
    }

    /// <summary>Writes the whole file to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IEnumerable<NamedTensor> tensors, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        WritePrepared(stream, header, ordered);
    }

    /// <summary>The whole file as bytes.</summary>
    public static byte[] Serialize(IEnumerable<NamedTensor> tensors, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        var memory = new MemoryStream();
        Write(memory, tensors, metadata);
        return memory.ToArray();
    }

    static void WritePrepared(Stream stream, byte[] header, List<NamedTensor> ordered)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in ordered)
            stream.Write(t.Bytes);
    }

    /// <summary>Validates the input and builds the padded header; nothing is written if this throws.</summary>
    static (byte[] Header, List<NamedTensor> Ordered) Prepare(IEnumerable<NamedTensor> tensors, IEnumerable<KeyValuePair<string, string>>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            ArgumentNullException.ThrowIfNull(t);
            if (t.Name == MetadataKey)
                throw new ArgumentException($"tensor name '{MetadataKey}' is reserved for the metadata");
            if (!names.Add(t.Name))
                throw new ArgumentException($"tensor '{t.Name}' given twice");
        }
        // Stable: equal sizes keep the caller's order.
        var ordered = list.OrderByDescending(t => t.DType.Size()).ToList();

        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json, WriterOptions))
        {
            w.WriteStartObject();
            var meta = metadata?.ToList();
            if (meta is { Count: > 0 })
            {
                var keys = new HashSet<string>(StringComparer.Ordinal);
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in meta)
                {
                    if (k is null || v is null)
                        throw new ArgumentException($"metadata entry '{k}': keys and values must be strings, not null");
                    if (!keys.Add(k))
                        throw new ArgumentException($"metadata key '{k}' given twice");
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in ordered)
            {
                long end = offset + t.Bytes.LongLength;
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.HeaderName());
                w.WriteStartArray("shape");
                foreach (int d in t.Shape)
                    w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
                offset = end;
            }
            w.WriteEndObject();
        }
        int padding = (8 - json.WrittenCount % 8) % 8;
        var header = new byte[json.WrittenCount + padding];
        json.WrittenSpan.CopyTo(header);
        header.AsSpan(json.WrittenCount).Fill((byte)' ');
        return (header, ordered);
    }

    // ---------------------------------------------------------------- reading

    /// <summary>Reads and validates a file; every error names the file, the field and what was expected.</summary>
    public static SafeTensorsFile Load(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
        return Read(stream, path);
    }

    /// <summary>Reads a whole file from bytes; <paramref name="source"/> names it in errors.</summary>
    public static SafeTensorsFile Deserialize(byte[] bytes, string source = "(in memory)") =>
        Read(new MemoryStream(bytes, writable: false), source);

    /// <summary>
    /// Reads a file from a seekable stream positioned at its start, up to the stream's end (the
    /// buffer must end exactly where the last tensor ends). <paramref name="source"/> names it in errors.
    /// </summary>
    public static SafeTensorsFile Read(Stream stream, string source)
    {
        if (!stream.CanSeek)
            throw new ArgumentException($"{source}: reading needs a seekable stream (the file length is checked against the header)");
        long fileLength = stream.Length - stream.Position;

        // Header length.
        if (fileLength < 8)
            throw Bad(source, "header length", $"the file has {fileLength} bytes, expected at least 8 (the little-endian u64 header length)");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (n > MaxHeaderLength)
            throw Bad(source, "header length", $"{n} bytes, expected at most {MaxHeaderLength}");
        if ((long)n > fileLength - 8)
            throw Bad(source, "header length", $"{n} bytes, but only {fileLength - 8} bytes follow the length field");
        long bufferLength = fileLength - 8 - (long)n;

        // Header JSON.
        var headerBytes = new byte[n];
        stream.ReadExactly(headerBytes);
        if (n == 0 || headerBytes[0] != (byte)'{')
            throw Bad(source, "header", n == 0 ? "empty, expected a JSON object" : $"starts with byte 0x{headerBytes[0]:X2}, expected '{{' (a JSON object)");
        try { StrictUtf8.GetCharCount(headerBytes); }
        catch (DecoderFallbackException e) { throw Bad(source, "header", $"not valid UTF-8 ({e.Message})"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw Bad(source, "header", $"not valid JSON: {e.Message}"); }

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(source, "header", $"a JSON {doc.RootElement.ValueKind}, expected an object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw Bad(source, prop.Name == MetadataKey ? MetadataKey : $"tensor '{prop.Name}'", "appears twice in the header, expected unique names");
                if (prop.Name == MetadataKey)
                    ReadMetadata(source, prop.Value, metadata);
                else
                    entries.Add(ReadEntry(source, prop.Name, prop.Value, bufferLength));
            }
        }

        // The tensors must tile the buffer: contiguous, no overlap, no gap, nothing left over.
        var byOffset = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        Entry? previous = null;
        foreach (var e in byOffset)
        {
            if (e.Begin < position)
                throw Bad(source, e.Field, $"data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}], expected to start at {position}");
            if (e.Begin > position)
                throw Bad(source, e.Field, $"data_offsets [{e.Begin}, {e.End}] leave bytes [{position}, {e.Begin}) of the buffer to no tensor, expected to start at {position} (tensors are contiguous)");
            position = e.End;
            previous = e;
        }
        if (position != bufferLength)
            throw Bad(source, "byte buffer", $"{bufferLength} bytes, but the tensors cover only [0, {position}): expected the last tensor to end where the file ends");

        var tensors = new TensorMap(source);
        foreach (var e in byOffset)
        {
            var data = new byte[e.End - e.Begin];
            stream.ReadExactly(data);
            tensors.Add(new NamedTensor(e.Name, e.DType, e.Shape, data));
        }
        return new SafeTensorsFile(tensors, metadata);
    }

    sealed record Entry(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End)
    {
        public string Field => $"tensor '{Name}'";
    }

    static void ReadMetadata(string source, JsonElement value, Dictionary<string, string> into)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(source, MetadataKey, $"a JSON {value.ValueKind}, expected an object of strings");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw Bad(source, MetadataKey, $"key '{p.Name}' holds a JSON {p.Value.ValueKind}, expected a string");
            if (!into.TryAdd(p.Name, p.Value.GetString()!))
                throw Bad(source, MetadataKey, $"key '{p.Name}' appears twice, expected unique keys");
        }
    }

    static Entry ReadEntry(string source, string name, JsonElement value, long bufferLength)
    {
        string field = $"tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(source, field, $"a JSON {value.ValueKind}, expected an object with dtype, shape and data_offsets");

        if (!value.TryGetProperty("dtype", out var dtypeJson))
            throw Bad(source, field, "no 'dtype', expected e.g. \"F32\"");
        if (dtypeJson.ValueKind != JsonValueKind.String)
            throw Bad(source, field, $"dtype is a JSON {dtypeJson.ValueKind}, expected a string such as \"F32\"");
        string dtypeText = dtypeJson.GetString()!;
        if (!SafeTensorsDTypes.TryParse(dtypeText, out var dtype))
            throw Bad(source, field, $"dtype \"{dtypeText}\" unknown, expected one of {SafeTensorsDTypes.KnownList}");

        if (!value.TryGetProperty("shape", out var shapeJson))
            throw Bad(source, field, "no 'shape', expected an array of dimensions ([] for a scalar)");
        if (shapeJson.ValueKind != JsonValueKind.Array)
            throw Bad(source, field, $"shape is a JSON {shapeJson.ValueKind}, expected an array of dimensions");
        var shape = new int[shapeJson.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw Bad(source, field, $"shape[{i}] = {d.GetRawText()}, expected an integer in [0, {int.MaxValue}]");
            shape[i++] = (int)dim;
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsJson))
            throw Bad(source, field, "no 'data_offsets', expected [begin, end]");
        if (offsetsJson.ValueKind != JsonValueKind.Array || offsetsJson.GetArrayLength() != 2)
            throw Bad(source, field, $"data_offsets = {offsetsJson.GetRawText()}, expected [begin, end]");
        var offsets = new long[2];
        i = 0;
        foreach (var o in offsetsJson.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out long v) || v < 0)
                throw Bad(source, field, $"data_offsets[{i}] = {o.GetRawText()}, expected a non-negative integer");
            offsets[i++] = v;
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw Bad(source, field, $"data_offsets [{begin}, {end}] end before they begin, expected begin ≤ end");
        if (end > bufferLength)
            throw Bad(source, field, $"data_offsets [{begin}, {end}] reach beyond the byte buffer of {bufferLength} bytes");

        long elements = 1;
        try
        {
            foreach (int d in shape)
                elements = checked(elements * d);
            long bytes = checked(elements * dtype.Size());
            if (end - begin != bytes)
                throw Bad(source, field, $"data_offsets [{begin}, {end}] hold {end - begin} bytes, expected {bytes} ({dtype} shape {NamedTensor.ShapeText(shape)}: {elements} elements of {dtype.Size()} bytes)");
        }
        catch (OverflowException)
        {
            throw Bad(source, field, $"shape {NamedTensor.ShapeText(shape)} of {dtype} overflows a 64-bit byte count");
        }
        if (end - begin > Array.MaxLength)
            throw Bad(source, field, $"{end - begin} bytes, expected at most {Array.MaxLength} per tensor (one .NET array)");
        return new Entry(name, dtype, shape, begin, end);
    }

    static CheckpointFormatException Bad(string source, string field, string problem) => new(source, field, problem);
}
