using ByolIlgpu.Cli;

namespace ByolIlgpu.Tests.Infrastructure;

/// <summary>Runs the `byol` program in-process, as its entry point does, capturing both streams.</summary>
public static class InProcessCli
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(ByolProgram.CreateRoot(), args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
