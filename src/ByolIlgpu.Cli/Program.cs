using System.CommandLine;

namespace ByolIlgpu.Cli;

/// <summary>byol: BYOL self-supervised pretraining on ILGPU. Each command lives in its own file under Commands/.</summary>
public static class ByolProgram
{
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("byol: BYOL self-supervised pretraining on CIFAR-10 with ILGPU kernels (CUDA, OpenCL, CPU).");
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(AugmentCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(KernelsCommand.Create());
        root.Subcommands.Add(ParityCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(OneStepCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        return root;
    }

    public static int Main(string[] args) => CommandLine.Run(CreateRoot(), args);
}
