using System.CommandLine;
using ByolIlgpu.Engine;

namespace ByolIlgpu.Cli;

/// <summary>--precision auto|tf32|fp32, shared by train, eval and bench.</summary>
public static class PrecisionOption
{
    public static Option<string> Create(string? onResume = null)
    {
        var option = new Option<string>("--precision")
        {
            Description = "Arithmetic of the convolutions and matmuls: tf32 (TF32 tensor cores: operands rounded to a 10-bit mantissa, sums in FP32; " +
                "on a device other than CUDA the tensor-core kernels' exact emulation, slow) or fp32. auto: tf32 on CUDA GPUs of compute capability 8.0 " +
                "and newer (as PyTorch's convolutions, cudnn.allow_tf32), fp32 elsewhere." + (onResume is null ? "" : " " + onResume),
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong(["auto", .. Precisions.Names]);
        return option;
    }

    /// <summary>The precision named, or null for auto.</summary>
    public static string? Read(ParseResult parse, Option<string> option) =>
        parse.GetValue(option) is { } value && value != "auto" ? value : null;

    /// <summary>Sets the device's precision (auto: its default); TF32 on a GPU below sm_80 is a usage error.</summary>
    public static void Apply(ComputeDevice device, string? precision) =>
        device.UsePrecision(DevicePolicy.ChoosePrecision(device.Info, Precisions.Parse(precision)));
}
