using System.CommandLine;
using ByolIlgpu.Data;

namespace ByolIlgpu.Cli;

/// <summary>`--data-placement auto|device|host` of `byol train` and `byol bench`.</summary>
public static class DataPlacementOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--data-placement")
        {
            Description = "Where the images live: auto (on the device when they and a training step fit its memory budget, " +
                $"which {Engine.BufferPool.LimitVariable} caps), device, or host (kept in host memory, each step's batch gathered into " +
                "page-locked staging on a background thread and copied asynchronously; the same run bit for bit).",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong(DataPlacements.Names);
        return option;
    }
}
