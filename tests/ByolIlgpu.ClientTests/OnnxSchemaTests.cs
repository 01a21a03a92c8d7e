using System.Text.RegularExpressions;
using ByolIlgpu.Checkpoints.Onnx;
using Google.Protobuf.Reflection;
using Xunit;

namespace ByolIlgpu.ClientTests;

/// <summary>
/// The committed Onnx.Generated.cs is protoc's output for tools/OnnxProto/onnx-subset.proto: every
/// message and field of the .proto, with its number, is in the generated descriptor and nothing else
/// (a .proto edited without tools/OnnxProto/regenerate.sh fails here).
/// </summary>
public partial class OnnxSchemaTests
{
    [Fact]
    public void GeneratedMessagesMatchTheProto()
    {
        string? proto = null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null && proto is null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "tools/OnnxProto/onnx-subset.proto")))
                proto = Path.Combine(d.FullName, "tools/OnnxProto/onnx-subset.proto");
        if (proto is null)
            Assert.Skip("tools/OnnxProto/onnx-subset.proto not found above the test's folder (a published test executable)");

        // Messages nest; enums and oneofs open scopes of their own (a oneof's fields belong to its message;
        // enum values, NAME = N, have no type and do not match the field pattern).
        var declared = new SortedSet<string>(StringComparer.Ordinal);
        var scopes = new Stack<string>();
        foreach (var raw in File.ReadLines(proto))
        {
            string line = raw.Split("//")[0].Trim();
            if (MessageLine().Match(line) is { Success: true } m)
                scopes.Push(scopes.Count == 0 ? m.Groups[1].Value : scopes.Peek() + "." + m.Groups[1].Value);
            else if (line.StartsWith("enum ") || line.StartsWith("oneof "))
                scopes.Push(scopes.Count == 0 ? "" : scopes.Peek());
            else if (line.StartsWith('}'))
                scopes.Pop();
            else if (scopes.Count > 0 && FieldLine().Match(line) is { Success: true } f)
                declared.Add($"{scopes.Peek()}.{f.Groups["name"].Value}={f.Groups["number"].Value}");
        }
        Assert.Empty(scopes);

        var generated = new SortedSet<string>(StringComparer.Ordinal);
        void Add(MessageDescriptor message, string prefix)
        {
            string name = prefix.Length == 0 ? message.Name : prefix + "." + message.Name;
            foreach (var field in message.Fields.InDeclarationOrder())
                generated.Add($"{name}.{field.Name}={field.FieldNumber}");
            foreach (var nested in message.NestedTypes)
                Add(nested, name);
        }
        foreach (var message in OnnxSubsetReflection.Descriptor.MessageTypes)
            Add(message, "");
        Assert.Equal(declared, generated);
        Assert.Contains("ModelProto.opset_import=8", generated);
    }

    [GeneratedRegex(@"^message (\w+) \{$")]
    private static partial Regex MessageLine();

    [GeneratedRegex(@"^(repeated )?(?<type>[\w.]+) (?<name>\w+) = (?<number>\d+)[ ;\[]")]
    private static partial Regex FieldLine();
}
