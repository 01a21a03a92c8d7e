#if WITH_TORCH
namespace ByolIlgpu.Bench;

/// <summary>Creates libtorch peers lazily (inside the first invocation, which the warm-up absorbs), with libtorch's threads set once.</summary>
public static class TorchPeerSetup
{
    static readonly Lazy<int> threads = new(() =>
    {
        var env = Environment.GetEnvironmentVariable("BYOL_TORCH_THREADS");
        return ByolIlgpu.Bench.Torch.TorchPeer.Initialize(env is null ? null : int.Parse(env));
    });

    public static T Op<T>(Func<T> create)
    {
        _ = threads.Value;
        return create();
    }

    public static int Threads => threads.Value;
}
#endif
