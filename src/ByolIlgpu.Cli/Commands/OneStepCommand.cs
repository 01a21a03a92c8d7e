using System.CommandLine;
using ByolIlgpu.Byol;
using ByolIlgpu.Checkpoints;

namespace ByolIlgpu.Cli;

/// <summary>
/// `byol one-step [--out FILE]`: writes docs/maths/one-step.md, one BYOL step on a tiny fixed example with the
/// engine's and the references' numbers (<see cref="OneStepWalkthrough"/>); to standard output without --out.
/// Always on the CPU accelerator with fixed grid sizes: the page must be the same on every machine.
/// </summary>
public static class OneStepCommand
{
    public static Command Create()
    {
        var outFile = new Option<string?>("--out") { Description = "Markdown file to write (docs/maths/one-step.md); standard output if omitted." };
        var command = new Command("one-step", "Walk one BYOL step on four 8×8 images with every intermediate value (the page docs/maths/one-step.md).");
        command.Options.Add(outFile);
        command.SetAction(parse =>
        {
            using var dev = OneStepWalkthrough.CreateDevice();
            string page = OneStepWalkthrough.Generate(dev);
            string? path = parse.GetValue(outFile);
            var output = parse.InvocationConfiguration.Output;
            if (path is null)
                output.Write(page);
            else
            {
                AtomicFile.Write(path, stream => stream.Write(new System.Text.UTF8Encoding(false).GetBytes(page)));
                output.WriteLine($"wrote {path} ({page.Length} characters)");
            }
            return CommandLine.Ok;
        });
        return command;
    }
}
