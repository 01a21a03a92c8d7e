using System.CommandLine;
using ByolIlgpu.Cli;

// byol: BYOL self-supervised pretraining on ILGPU. Each command lives in its own file under Commands/.
var root = new RootCommand("byol: BYOL self-supervised pretraining on CIFAR-10 with ILGPU kernels (CUDA, OpenCL, CPU).");
root.Subcommands.Add(DevicesCommand.Create());
return CommandLine.Run(root, args);
