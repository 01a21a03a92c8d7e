using ByolIlgpu.Engine;

namespace ByolIlgpu.Data;

/// <summary>Where a run keeps its images: auto (on the device when they fit the budget), device, or host (streamed).</summary>
public enum DataPlacement { Auto, Device, Host }

/// <summary>The placement a run chose and why (the run prints it first and config.json records it).</summary>
public sealed record PlacementDecision(DataPlacement Placement, string Reason, long DataBytes, long BudgetBytes)
{
    public bool Streamed => Placement == DataPlacement.Host;

    public string Describe() => $"data placement: {Placement.ToString().ToLowerInvariant()} ({Reason})";
}

public static class DataPlacements
{
    public static readonly string[] Names = ["auto", "device", "host"];

    /// <summary>Parses auto|device|host; anything else is an <see cref="ArgumentException"/> naming the option.</summary>
    public static DataPlacement Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => DataPlacement.Auto,
        "device" => DataPlacement.Device,
        "host" => DataPlacement.Host,
        _ => throw new ArgumentException($"--data-placement must be auto, device or host, got '{name}'"),
    };

    /// <summary>The share of the budget left unplanned: allocations outside the pool (features for kNN, the optimizer's temporaries) and fragmentation.</summary>
    public const double Margin = 0.10;

    /// <summary>
    /// Auto puts the images on the device when they, the step's pool (<paramref name="stepBytes"/>, measured) and
    /// a margin of <see cref="Margin"/> fit the budget: the pool's capacity (<see cref="BufferPool.CapacityBytes"/>:
    /// BYOL_POOL_LIMIT_MIB where set, else what the device has free). A set over 2^31 − 1 bytes always streams
    /// (the augmentation kernels index the resident set with 32-bit offsets).
    /// </summary>
    public static PlacementDecision Choose(DataPlacement requested, long dataBytes, long stepBytes, long budgetBytes, bool capped)
    {
        string budget = $"{ComputeDevice.FormatBytes(budgetBytes)} budget{(capped ? $" ({BufferPool.LimitVariable})" : "")}";
        string data = $"{ComputeDevice.FormatBytes(dataBytes)} of images";
        bool indexable = dataBytes <= int.MaxValue;
        switch (requested)
        {
            case DataPlacement.Device:
                if (!indexable)
                    throw new ArgumentException($"--data-placement device: {data} exceed the 2^31 − 1 bytes a resident set may have; use --data-placement host or auto");
                return new(DataPlacement.Device, $"--data-placement device; {data}", dataBytes, budgetBytes);
            case DataPlacement.Host:
                return new(DataPlacement.Host, $"--data-placement host; {data} stay in host memory and stream a batch per step", dataBytes, budgetBytes);
        }
        long usable = (long)(budgetBytes * (1 - Margin));
        if (!indexable)
            return new(DataPlacement.Host, $"auto: {data} exceed the 2^31 − 1 bytes a resident set may have; they stream a batch per step", dataBytes, budgetBytes);
        bool fits = dataBytes + stepBytes <= usable;
        string sums = $"{data} and {ComputeDevice.FormatBytes(stepBytes)} for a step {(fits ? "fit" : "exceed")} {100 * (1 - Margin):F0}% of the {budget}";
        return fits
            ? new(DataPlacement.Device, $"auto: {sums}", dataBytes, budgetBytes)
            : new(DataPlacement.Host, $"auto: {sums}; they stay in host memory and stream a batch per step", dataBytes, budgetBytes);
    }
}
