using ByolIlgpu.Training;
using Xunit;

namespace ByolIlgpu.Tests;

public class ProgressTests
{
    [Fact]
    public void PlainProgressPrintsWholeLinesAtMostEveryTenthAndNoControlCharacters()
    {
        var output = new StringWriter();
        var progress = ProgressReporter.For(output, interactive: false);
        for (int step = 1; step <= 100; step++)
            progress.Update("epoch 1/2", step, 100, $"loss {1.0 / step:F3}", TimeSpan.FromSeconds(100 - step));
        progress.Line("epoch 1/2  loss 0.010");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.InRange(lines.Length, 10, 12);
        Assert.DoesNotContain('\r', output.ToString());
        Assert.Contains("epoch 1/2 100/100 loss 0.010 ETA 0m00s", lines);
        Assert.Equal("epoch 1/2  loss 0.010", lines[^1]);
    }

    [Fact]
    public void LiveProgressRewritesOneLineAndClearsItBeforeAPermanentLine()
    {
        var output = new StringWriter();
        var progress = ProgressReporter.For(output, interactive: true);
        progress.Update("epoch 1/2", 5, 10, "loss 0.500", TimeSpan.FromSeconds(75));
        progress.Update("epoch 1/2", 10, 10, "loss 0.400", TimeSpan.Zero);
        progress.Line("done");
        var text = output.ToString();
        Assert.StartsWith("\r[############------------] epoch 1/2 5/10 loss 0.500 ETA 1m15s", text);
        Assert.Contains("\r[########################] epoch 1/2 10/10", text);
        Assert.EndsWith("\rdone" + Environment.NewLine, text);
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
