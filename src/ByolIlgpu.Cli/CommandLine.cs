using System.CommandLine;

namespace ByolIlgpu.Cli;

/// <summary>Shared command-line plumbing: exit codes and the usage-error path.</summary>
public static class CommandLine
{
    public const int Ok = 0, Failure = 1, UsageError = 2;

    /// <summary>Parses and runs; a usage error prints the errors and the command's help, and exits with 2.</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
                error.WriteLine($"byol: {e.Message}");
            error.WriteLine($"Run '{string.Join(' ', CommandPath(parse))} --help' for usage.");
            return UsageError;
        }
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception e) when (e is UsageException or ByolIlgpu.Engine.DeviceNotFoundException or ByolIlgpu.Engine.InvalidDeviceSpecException
                                   or ByolIlgpu.Engine.UnsupportedPrecisionException)
        {
            error.WriteLine($"byol: {e.Message}");
            return UsageError;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("BYOL_DEBUG") != "1")
        {
            // Expected failures (bad files, a device error) explain themselves; the stack trace is for BYOL_DEBUG=1.
            error.WriteLine($"byol: {e.Message}");
            return Failure;
        }
    }

    static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command is RootCommand ? "byol" : r.Command.Name);
        return names;
    }
}

/// <summary>A bad value found after parsing (e.g. an unknown device); exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
