using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ByolIlgpu.Checkpoints;
using Xunit;

namespace ByolIlgpu.Tests.Checkpoints;

/// <summary>The safetensors writer and reader: exact bytes, bit-exact round trips, and every malformation named.</summary>
public sealed class SafeTensorsTests
{
    static byte[] Le(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
    static byte[] Le(params long[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
    static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    static byte[] LengthField(ulong n)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, n);
        return b;
    }

    // ------------------------------------------------------------ exact layout

    [Fact]
    public void BytesOfATinyFileMatchTheHandComputedLayout()
    {
        // Given in the order w (F32), n (I64): the writer puts the 8-byte I64 first so both are aligned.
        var bytes = SafeTensors.Serialize(
            [NamedTensor.F32("w", [2], [1.0f, -2.0f]), NamedTensor.ScalarI64("n", 7)],
            [KeyValuePair.Create("format", "pt")]);

        const string json = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
            + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        Assert.Equal(138, json.Length);
        var expected = Concat(
            [144, 0, 0, 0, 0, 0, 0, 0],                  // N = 138 + 6 spaces of padding
            Ascii(json), Ascii("      "),
            [7, 0, 0, 0, 0, 0, 0, 0],                    // n = 7, int64 little-endian, at buffer [0, 8)
            [0x00, 0x00, 0x80, 0x3F],                    // 1.0f
            [0x00, 0x00, 0x00, 0xC0]);                   // -2.0f
        Assert.Equal(168, expected.Length);
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void HeaderWithoutMetadataIsPaddedWithSpacesToAMultipleOfEight()
    {
        // 65 bytes of JSON + 7 spaces: N = 72 (the reference implementation's own example shape).
        var bytes = SafeTensors.Serialize([NamedTensor.F32("attn0", [1, 1, 2, 3], [0f, 1f, 2f, 3f, 4f, 5f])]);
        const string json = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
        Assert.Equal(65, json.Length);
        Assert.Equal(Concat(LengthField(72), Ascii(json + "       "), Le(0f, 1f, 2f, 3f, 4f, 5f)), bytes);
    }

    [Fact]
    public void AnEmptyFileIsAnEmptyObjectPadded()
    {
        var bytes = SafeTensors.Serialize([]);
        Assert.Equal(Concat(LengthField(8), Ascii("{}      ")), bytes);
        var back = SafeTensors.Deserialize(bytes);
        Assert.Empty(back.Tensors);
        Assert.Empty(back.Metadata);
    }

    [Fact]
    public void WrittenOffsetsAreAlignedToTheElementSizeAndTileTheBuffer()
    {
        // Read back with a separate minimal parser, not the library's reader.
        var tensors = new[]
        {
            NamedTensor.U8("bytes", [3], [1, 2, 3]),
            NamedTensor.F32("a", [3], [1f, 2f, 3f]),
            NamedTensor.I64("steps", [1], [5]),
            NamedTensor.I32("ids", [1], [9]),
        };
        var bytes = SafeTensors.Serialize(tensors);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var entries = doc.RootElement.EnumerateObject()
            .Select(p => (p.Name, Size: p.Value.GetProperty("dtype").GetString() switch { "U8" => 1, "I64" => 8, _ => 4 },
                Begin: p.Value.GetProperty("data_offsets")[0].GetInt64(), End: p.Value.GetProperty("data_offsets")[1].GetInt64()))
            .ToList();
        Assert.Equal(["steps", "a", "ids", "bytes"], entries.Select(e => e.Name));   // by size, then given order
        long position = 0;
        foreach (var e in entries)
        {
            Assert.Equal(position, e.Begin);
            Assert.True(e.Begin % e.Size == 0, $"{e.Name} at {e.Begin} is not aligned to {e.Size}");
            position = e.End;
        }
        Assert.Equal(bytes.Length - 8 - n, position);
    }

    // ------------------------------------------------------------ round trips

    [Fact]
    public void RoundTripIsBitExactForEveryDtypeAndShape()
    {
        var rng = new Random(11);
        var cube = Enumerable.Range(0, 24).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var special = new[] { -0.0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, BitConverter.Int32BitsToSingle(0x7FC12345), float.MaxValue };
        var tensors = new[]
        {
            NamedTensor.F32("layer1.0.conv1.weight", [2, 3, 4], cube),
            NamedTensor.F32("scalar", [], [3.25f]),
            NamedTensor.F32("special", [6], special),
            NamedTensor.F32("empty", [0, 3], []),
            NamedTensor.I64("bn1.num_batches_tracked", [], [1234567890123L]),
            NamedTensor.I64("extremes", [3], [long.MinValue, -1, long.MaxValue]),
            NamedTensor.I32("ints", [2, 2], [int.MinValue, -7, 0, int.MaxValue]),
            NamedTensor.U8("raw", [5], [0, 1, 127, 128, 255]),
        };
        var metadata = new Dictionary<string, string>
        {
            ["byol.config"] = "{\"lr\": 0.2, \"name\": \"run \\\"one\\\"\"}",
            ["unicode"] = "τ₀ = 0.996 — ü, 日本, emoji 🙂",
            ["control"] = "line1\nline2\ttab\\",
        };
        using var dir = new TempFolder();
        string path = dir.File("round.safetensors");
        SafeTensors.Save(path, tensors, metadata);
        var back = SafeTensors.Load(path);

        Assert.Equal(tensors.Length, back.Tensors.Count);
        foreach (var t in tensors)
        {
            var got = back.Tensors[t.Name];
            Assert.Equal(t.DType, got.DType);
            Assert.Equal(t.Shape, got.Shape);
            Assert.Equal(t.Bytes, got.Bytes);   // bit-exact, NaN payload and -0 included
        }
        Assert.Equal(BitConverter.SingleToInt32Bits(special[4]), BitConverter.SingleToInt32Bits(back.Tensors["special"].ToFloat32()[4]));
        Assert.Equal(new[] { long.MinValue, -1, long.MaxValue }, back.Tensors["extremes"].ToInt64());
        Assert.Equal(1234567890123L, back.Tensors["bn1.num_batches_tracked"].ToInt64().Single());
        Assert.Empty(back.Tensors["bn1.num_batches_tracked"].Shape);
        Assert.Equal(cube, back.Tensors["layer1.0.conv1.weight"].ToFloat32());
        Assert.Equal(new[] { int.MinValue, -7, 0, int.MaxValue }, back.Tensors["ints"].ToInt32());
        Assert.Equal(metadata.OrderBy(kv => kv.Key), back.Metadata.OrderBy(kv => kv.Key));
        Assert.Equal(path, back.Tensors.Source);
    }

    [Fact]
    public void ReaderAcceptsAnyHeaderOrderAndExtraWhitespace()
    {
        // Hand-written: tensors listed out of buffer order, spaces in the JSON, and null metadata.
        string json = "{ \"b\" : {\"shape\": [1], \"dtype\": \"F32\", \"data_offsets\": [8, 12]},"
            + " \"a\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]}, \"__metadata__\": null }";
        var bytes = Concat(LengthField((ulong)json.Length), Ascii(json), Le(42L), Le(0.5f));
        var back = SafeTensors.Deserialize(bytes, "hand.safetensors");
        Assert.Equal(["a", "b"], back.Tensors.Names);    // buffer order
        Assert.Equal(42L, back.Tensors["a"].ToInt64()[0]);
        Assert.Equal(0.5f, back.Tensors["b"].ToFloat32()[0]);
    }

    // ------------------------------------------------------------ malformed files

    public static TheoryData<string, byte[], string, string> Malformed()
    {
        static byte[] File(string json, int bufferBytes, ulong? declared = null) =>
            Concat(LengthField(declared ?? (ulong)Encoding.UTF8.GetByteCount(json)), Encoding.UTF8.GetBytes(json), new byte[bufferBytes]);
        const string a8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        return new()
        {
            { "truncated length field", [1, 0, 0, 0, 0], "header length", "at least 8" },
            { "length beyond the file", File("{}", 0, declared: 1000), "header length", "1000 bytes, but only 2" },
            { "length above the limit", File("{}", 0, declared: 200_000_000), "header length", "at most 100000000" },
            { "empty header", File("", 0), "header", "expected a JSON object" },
            { "not an object", File("[1,2]", 0), "header", "expected '{'" },
            { "bad JSON", File("{\"a\":{\"dtype\":", 0), "header", "not valid JSON" },
            { "invalid UTF-8", Concat(LengthField(4), [(byte)'{', 0xC3, 0x28, (byte)'}']), "header", "UTF-8" },
            { "unknown dtype", File("{\"a\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'a'", "dtype \"F99\" unknown, expected one of" },
            { "dtype not a string", File("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'a'", "expected a string" },
            { "missing shape", File("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'a'", "no 'shape'" },
            { "negative dimension", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "tensor 'a'", "shape[0] = -1" },
            { "missing offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'a'", "no 'data_offsets'" },
            { "three offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4), "tensor 'a'", "expected [begin, end]" },
            { "end before begin", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4), "tensor 'a'", "end before they begin" },
            { "offsets out of range", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}", 16), "tensor 'a'", "beyond the byte buffer of 16 bytes" },
            { "byte count mismatch", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "tensor 'a'", "hold 8 bytes, expected 12" },
            { "overlapping", File("{" + a8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "tensor 'b'", "overlap tensor 'a'" },
            { "gap", File("{" + a8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20), "tensor 'b'", "leave bytes [8, 12)" },
            { "trailing bytes", File("{" + a8 + "}", 12), "byte buffer", "cover only [0, 8)" },
            { "duplicate tensor", File("{" + a8 + "," + a8 + "}", 8), "tensor 'a'", "appears twice" },
            { "metadata value not a string", File("{\"__metadata__\":{\"epoch\":5}}", 0), "__metadata__", "key 'epoch' holds a JSON Number, expected a string" },
            { "metadata not an object", File("{\"__metadata__\":[1]}", 0), "__metadata__", "expected an object of strings" },
            { "tensor entry not an object", File("{\"a\":3}", 0), "tensor 'a'", "expected an object with dtype, shape and data_offsets" },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesAreRejectedNamingFileFieldAndExpectation(string what, byte[] bytes, string field, string fragment)
    {
        using var dir = new TempFolder();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Load(path));
        Assert.True(e.FilePath == path, $"{what}: error names '{e.FilePath}'");
        Assert.True(e.Field == field, $"{what}: field '{e.Field}', expected '{field}' ({e.Message})");
        Assert.StartsWith(path + ": " + field + ": ", e.Message);
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"{what}: message '{e.Message}' lacks '{fragment}'");
    }

    [Fact]
    public void AValidVariantOfEachMalformedFileIsAccepted()
    {
        // The malformations above are single edits of files like these, which read fine.
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        var back = SafeTensors.Deserialize(Concat(LengthField((ulong)json.Length), Ascii(json), Le(1f, 2f, 3f, 4f)));
        Assert.Equal(new[] { 3f, 4f }, back.Tensors["b"].ToFloat32());
    }

    // ------------------------------------------------------------ writer input checks

    [Fact]
    public void WriterRejectsDuplicateAndReservedNames()
    {
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([NamedTensor.F32("x", [1], [1f]), NamedTensor.F32("x", [1], [2f])]));
        Assert.Contains("'x'", e.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([NamedTensor.F32("__metadata__", [1], [1f])]));
    }

    [Fact]
    public void TensorDataMustMatchItsShape()
    {
        var e = Assert.Throws<ArgumentException>(() => NamedTensor.F32("w", [2, 3], [1f, 2f]));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("expected 24", e.Message);
        Assert.Throws<InvalidOperationException>(() => NamedTensor.F32("w", [1], [1f]).ToInt64());
    }
}
