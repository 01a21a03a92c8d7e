namespace ByolIlgpu.Training;

/// <summary>Where a run reports its progress: a live line on a terminal, plain lines elsewhere.</summary>
public abstract class ProgressReporter
{
    /// <summary>A live bar when <paramref name="output"/> is an interactive console, else plain lines.</summary>
    public static ProgressReporter For(TextWriter output, bool interactive) =>
        interactive ? new LiveProgress(output) : new PlainProgress(output);

    /// <summary>Progress inside a phase (an epoch of training, a pass of evaluation).</summary>
    public abstract void Update(string phase, long done, long total, string details, TimeSpan eta);

    /// <summary>A line that stays (the epoch's summary, a kNN result, a warning).</summary>
    public abstract void Line(string text);

    public static string FormatEta(TimeSpan eta) =>
        eta.TotalHours >= 1 ? $"{(int)eta.TotalHours}h{eta.Minutes:D2}m" : $"{eta.Minutes}m{eta.Seconds:D2}s";
}

/// <summary>Rewrites one terminal line: [#####-----] phase 40/100 details ETA 1m20s.</summary>
public sealed class LiveProgress(TextWriter output) : ProgressReporter
{
    const int BarWidth = 24;
    int lastLength;

    public override void Update(string phase, long done, long total, string details, TimeSpan eta)
    {
        int filled = total > 0 ? (int)(BarWidth * Math.Min(done, total) / total) : 0;
        string text = $"[{new string('#', filled)}{new string('-', BarWidth - filled)}] {phase} {done}/{total} {details} ETA {FormatEta(eta)}";
        output.Write("\r" + text.PadRight(lastLength));
        lastLength = text.Length;
        output.Flush();
    }

    public override void Line(string text)
    {
        if (lastLength > 0)
            output.Write("\r" + new string(' ', lastLength) + "\r");
        lastLength = 0;
        output.WriteLine(text);
        output.Flush();
    }
}

/// <summary>For logs and pipes: a plain line at most every tenth of a phase, no control characters.</summary>
public sealed class PlainProgress(TextWriter output) : ProgressReporter
{
    long lastDecile = -1;
    string lastPhase = "";

    public override void Update(string phase, long done, long total, string details, TimeSpan eta)
    {
        long decile = total > 0 ? 10 * done / total : 0;
        if (phase == lastPhase && decile == lastDecile)
            return;
        lastPhase = phase;
        lastDecile = decile;
        output.WriteLine($"{phase} {done}/{total} {details} ETA {FormatEta(eta)}");
        output.Flush();
    }

    public override void Line(string text)
    {
        output.WriteLine(text);
        output.Flush();
    }
}
