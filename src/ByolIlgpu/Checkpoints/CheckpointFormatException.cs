namespace ByolIlgpu.Checkpoints;

/// <summary>
/// A checkpoint file that cannot be used as it is: malformed, or not holding what the reader
/// expects. The message names the file, the field or tensor, and what was expected.
/// </summary>
public sealed class CheckpointFormatException : IOException
{
    public CheckpointFormatException(string filePath, string field, string problem)
        : base($"{filePath}: {field}: {problem}")
    {
        FilePath = filePath;
        Field = field;
    }

    public string FilePath { get; }

    /// <summary>"header length", "header", "__metadata__", "byte buffer", "tensor 'name'" or "metadata 'key'".</summary>
    public string Field { get; }
}
