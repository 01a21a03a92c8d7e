using ByolIlgpu.KernelGen;

// Writes every kernels/*.Generated.cs from KernelGenerator; run from anywhere inside the repository.
string root = KernelGenerator.FindRepositoryRoot(Directory.GetCurrentDirectory())
    ?? KernelGenerator.FindRepositoryRoot(AppContext.BaseDirectory)
    ?? throw new InvalidOperationException("ByolIlgpu.sln not found above the current directory");
foreach (var (path, text) in KernelGenerator.Files())
{
    File.WriteAllText(Path.Combine(root, path), text);
    Console.WriteLine($"wrote {path}");
}
