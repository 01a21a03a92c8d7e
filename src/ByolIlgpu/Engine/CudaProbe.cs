using System.Runtime.InteropServices;
using System.Text;

namespace ByolIlgpu.Engine;

/// <summary>What the CUDA probe found: devices, or the first reason there are none.</summary>
public enum CudaProbeOutcome
{
    /// <summary>The driver initialised and reports at least one device.</summary>
    Available,
    /// <summary>No CUDA driver library was found.</summary>
    NoLibrary,
    /// <summary>A library was found but did not load, or lacks the driver API's entry points.</summary>
    LoadFailed,
    /// <summary>cuInit returned an error.</summary>
    InitFailed,
    /// <summary>The driver is older than ILGPU 1.5.3's CUDA backend needs (for every device).</summary>
    DriverTooOld,
    /// <summary>The driver initialised but reports no device.</summary>
    NoDevices,
    /// <summary>A query after cuInit (version, count, device, attribute, name) returned an error.</summary>
    QueryFailed,
}

/// <summary>One device as the driver reports it.</summary>
public sealed record CudaProbeDevice(
    int Ordinal,               // the driver's device ordinal (what cuda:INDEX counts, as ILGPU does)
    int Handle,                // its CUdevice handle (ILGPU's CudaDevice.DeviceId)
    string Name,
    int Major, int Minor,      // compute capability (attributes 75 and 76)
    int MinimumDriverVersion,  // what ILGPU 1.5.3 needs on it (see CudaProbe.MinimumDriverFor)
    string? Problem)           // why ILGPU cannot run it with this driver; null when it can
{
    public string ComputeCapability => $"{Major}.{Minor}";
}

/// <summary>The probe's answer: <see cref="Cause"/> is one line saying why CUDA is unavailable (null when it is available).</summary>
public sealed record CudaProbeResult(
    CudaProbeOutcome Outcome,
    string? LibraryPath,       // the library that loaded; null when none did
    int DriverVersion,         // cuDriverGetVersion, e.g. 12040 for 12.4; 0 when unknown
    IReadOnlyList<CudaProbeDevice> Devices,
    string? Cause)
{
    public bool IsAvailable => Outcome == CudaProbeOutcome.Available;

    /// <summary>False only when no driver library exists at all (then `--device auto` falls back silently).</summary>
    public bool LibraryPresent => Outcome != CudaProbeOutcome.NoLibrary;
}

/// <summary>
/// Asks the CUDA driver API directly (libcuda through function pointers, not through ILGPU, which
/// hides every driver error and just lists no device) whether CUDA can run here, and if not, why:
/// no library, cuInit's error by name and number, a driver too old for ILGPU's PTX, or no devices.
/// </summary>
public static unsafe class CudaProbe
{
    /// <summary>
    /// ILGPU 1.5.3 emits PTX ISA 6.0 or newer (PTXCodeGenerator.SupportedInstructionSets keeps ISA ≥ 6.0),
    /// and ISA 6.0 needs CUDA driver 9.0 (Src/ILGPU/Static/CudaVersions.xml). With an older driver
    /// ILGPU still lists the device but has no instruction set for it, and kernels cannot load.
    /// </summary>
    public const int MinimumDriverVersion = 9000;

    /// <summary>The oldest compute capability ILGPU 1.5.3 accepts (CudaDevice.TryGetArchitecture: sm_30).</summary>
    public const int MinimumMajor = 3;

    /// <summary>
    /// The driver ILGPU 1.5.3 needs on a device of compute capability major.minor. ILGPU targets
    /// min(sm_80, the device) (CudaCapabilityContext.TargetArchitecture: sm_80 is the newest its
    /// capabilities ask for), and a target needs the first driver that knows it (CudaVersions.xml:
    /// sm_70 9.0, sm_72 9.1, sm_75 10.0, sm_80 11.0), and at least 9.0 for PTX ISA 6.0.
    /// </summary>
    public static int MinimumDriverFor(int major, int minor)
    {
        int target = Math.Min(major * 10 + minor, 80);
        return target switch
        {
            >= 80 => 11000,
            >= 75 => 10000,
            >= 72 => 9010,
            _ => MinimumDriverVersion,
        };
    }

    /// <summary>9010 → "9.1", 12040 → "12.4" (CUDA's encoding: 1000·major + 10·minor).</summary>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";

    const int CudaSuccess = 0;
    const int AttributeComputeCapabilityMajor = 75, AttributeComputeCapabilityMinor = 76;

    static readonly Lazy<CudaProbeResult> system = new(() => Run());

    /// <summary>The probe of the system's driver, run once per process (ILGPU loads the same library).</summary>
    public static CudaProbeResult System => system.Value;

    /// <summary>
    /// Probes <paramref name="libraryPath"/>, or the system's libcuda by the names ILGPU's loader
    /// falls back to (<see cref="NativeLibraries"/>). Never throws for a driver problem: that is the answer.
    /// </summary>
    public static CudaProbeResult Run(string? libraryPath = null)
    {
        var candidates = libraryPath is null ? NativeLibraries.CandidatesFor("cuda") : [libraryPath];
        IntPtr handle = IntPtr.Zero;
        string? loaded = null;
        var failures = new List<string>();
        foreach (var candidate in candidates)
        {
            try
            {
                handle = NativeLibrary.Load(candidate);
                loaded = candidate;
                break;
            }
            catch (DllNotFoundException e) when (File.Exists(candidate))
            {
                failures.Add($"{candidate} exists but did not load ({LoaderReason(e.Message, candidate)})");
            }
            catch (DllNotFoundException) { }
            catch (BadImageFormatException e)
            {
                failures.Add($"{candidate} did not load ({e.Message})");
            }
        }
        if (loaded is null)
        {
            string tried = $"tried {string.Join(", ", candidates)}";
            return failures.Count > 0
                ? Fail(CudaProbeOutcome.LoadFailed, null, $"the CUDA driver library did not load: {string.Join("; ", failures)}")
                : Fail(CudaProbeOutcome.NoLibrary, null,
                    $"no CUDA driver library (libcuda) found: {tried}{(libraryPath is null ? " (bare names on LD_LIBRARY_PATH and ld.so.cache); is NVIDIA's driver installed?" : "")}");
        }
        return Probe(handle, ResolvedPath(handle) ?? loaded);
    }

    [StructLayout(LayoutKind.Sequential)]
    struct DlInfo
    {
        public IntPtr FileName, FileBase, SymbolName, SymbolAddress;
    }

    [DllImport("libc", EntryPoint = "dladdr")]
    static extern int DlAddr(IntPtr address, out DlInfo info);

    /// <summary>The file a bare name resolved to (the loader's search may find a toolkit's stub or a stand-in first).</summary>
    static string? ResolvedPath(IntPtr lib)
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryGetExport(lib, "cuInit", out var symbol))
            return null;
        try
        {
            return DlAddr(symbol, out var info) != 0 && info.FileName != IntPtr.Zero ? Marshal.PtrToStringUTF8(info.FileName) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The dynamic loader's own reason, the last "path: reason" part of .NET's message.</summary>
    static string LoaderReason(string message, string path)
    {
        int at = message.LastIndexOf(path + ": ", StringComparison.Ordinal);
        return at >= 0 ? message[(at + path.Length + 2)..].Trim() : message.Split('\n')[0].Trim();
    }

    static CudaProbeResult Fail(CudaProbeOutcome outcome, string? library, string cause, int driver = 0, IReadOnlyList<CudaProbeDevice>? devices = null) =>
        new(outcome, library, driver, devices ?? [], cause);

    static CudaProbeResult Probe(IntPtr lib, string library)
    {
        IntPtr Export(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p : IntPtr.Zero;
        var init = (delegate* unmanaged<uint, int>)Export("cuInit");
        var driverGetVersion = (delegate* unmanaged<int*, int>)Export("cuDriverGetVersion");
        var deviceGetCount = (delegate* unmanaged<int*, int>)Export("cuDeviceGetCount");
        var deviceGet = (delegate* unmanaged<int*, int, int>)Export("cuDeviceGet");
        var deviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Export("cuDeviceGetAttribute");
        var deviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export("cuDeviceGetName");
        var errorName = (delegate* unmanaged<int, byte**, int>)Export("cuGetErrorName");
        var errorString = (delegate* unmanaged<int, byte**, int>)Export("cuGetErrorString");

        var missing = new (string Name, IntPtr P)[]
        {
            ("cuInit", (IntPtr)init), ("cuDriverGetVersion", (IntPtr)driverGetVersion), ("cuDeviceGetCount", (IntPtr)deviceGetCount),
            ("cuDeviceGet", (IntPtr)deviceGet), ("cuDeviceGetAttribute", (IntPtr)deviceGetAttribute), ("cuDeviceGetName", (IntPtr)deviceGetName),
        }.Where(e => e.P == IntPtr.Zero).Select(e => e.Name).ToList();
        if (missing.Count > 0)
            return Fail(CudaProbeOutcome.LoadFailed, library, $"{library} is not a CUDA driver library: it lacks {string.Join(", ", missing)}");

        // The driver's own name and text for an error code, else ours.
        string Describe(int code)
        {
            string? Ask(delegate* unmanaged<int, byte**, int> f)
            {
                if (f == null)
                    return null;
                byte* text = null;
                return f(code, &text) == CudaSuccess && text != null ? Marshal.PtrToStringUTF8((IntPtr)text) : null;
            }
            string name = Ask(errorName) ?? KnownErrorNames.GetValueOrDefault(code, "CUDA error");
            string? meaning = Ask(errorString);
            return meaning is null ? $"{name} ({code})" : $"{name} ({code}): {meaning}";
        }

        int result = init(0);
        if (result != CudaSuccess)
            return Fail(CudaProbeOutcome.InitFailed, library, $"cuInit failed: {Describe(result)} ({library})");

        int driver = 0;
        result = driverGetVersion(&driver);
        if (result != CudaSuccess)
            return Fail(CudaProbeOutcome.QueryFailed, library, $"cuDriverGetVersion failed: {Describe(result)} ({library})");
        if (driver < MinimumDriverVersion)
            return Fail(CudaProbeOutcome.DriverTooOld, library,
                $"CUDA driver {FormatVersion(driver)} ({driver}) is too old: ILGPU 1.5.3 emits PTX ISA 6.0 or newer, which needs driver {FormatVersion(MinimumDriverVersion)} or newer ({library})", driver);

        int count = 0;
        result = deviceGetCount(&count);
        if (result != CudaSuccess)
            return Fail(CudaProbeOutcome.QueryFailed, library, $"cuDeviceGetCount failed: {Describe(result)} ({library})", driver);
        if (count < 1)
            return Fail(CudaProbeOutcome.NoDevices, library, $"the CUDA driver {FormatVersion(driver)} reports no devices (cuDeviceGetCount = {count}) ({library})", driver);

        var devices = new List<CudaProbeDevice>();
        var nameBuffer = new byte[256];
        for (int ordinal = 0; ordinal < count; ordinal++)
        {
            int device = 0, major = 0, minor = 0;
            string? failed = null;
            if ((result = deviceGet(&device, ordinal)) != CudaSuccess) failed = "cuDeviceGet";
            else if ((result = deviceGetAttribute(&major, AttributeComputeCapabilityMajor, device)) != CudaSuccess
                || (result = deviceGetAttribute(&minor, AttributeComputeCapabilityMinor, device)) != CudaSuccess) failed = "cuDeviceGetAttribute (compute capability)";
            if (failed is not null)
                return Fail(CudaProbeOutcome.QueryFailed, library, $"{failed} for device {ordinal} failed: {Describe(result)} ({library})", driver, devices);
            string name;
            fixed (byte* p = nameBuffer)
                name = deviceGetName(p, nameBuffer.Length, device) == CudaSuccess
                    ? Encoding.ASCII.GetString(nameBuffer, 0, Math.Max(0, Array.IndexOf(nameBuffer, (byte)0))).Trim()
                    : $"device {ordinal}";
            int needed = MinimumDriverFor(major, minor);
            string? problem = major < MinimumMajor
                ? $"cuda:{ordinal} ({name}) has compute capability {major}.{minor}; ILGPU 1.5.3 supports sm_30 and newer"
                : driver < needed
                    ? $"cuda:{ordinal} ({name}, sm_{major}{minor}) needs CUDA driver {FormatVersion(needed)} or newer for ILGPU 1.5.3's PTX, found {FormatVersion(driver)}"
                    : null;
            devices.Add(new CudaProbeDevice(ordinal, device, name, major, minor, needed, problem));
        }
        if (devices.All(d => d.Problem is not null))
            return Fail(CudaProbeOutcome.DriverTooOld, library, $"{string.Join("; ", devices.Select(d => d.Problem))} ({library})", driver, devices);
        return new CudaProbeResult(CudaProbeOutcome.Available, library, driver, devices, null);
    }

    /// <summary>Driver-API error names (cuda.h's CUresult) for drivers without cuGetErrorName.</summary>
    static readonly Dictionary<int, string> KnownErrorNames = new()
    {
        [1] = "CUDA_ERROR_INVALID_VALUE", [2] = "CUDA_ERROR_OUT_OF_MEMORY", [3] = "CUDA_ERROR_NOT_INITIALIZED",
        [4] = "CUDA_ERROR_DEINITIALIZED", [34] = "CUDA_ERROR_STUB_LIBRARY", [46] = "CUDA_ERROR_DEVICE_UNAVAILABLE",
        [100] = "CUDA_ERROR_NO_DEVICE", [101] = "CUDA_ERROR_INVALID_DEVICE", [102] = "CUDA_ERROR_DEVICE_NOT_LICENSED",
        [201] = "CUDA_ERROR_INVALID_CONTEXT", [209] = "CUDA_ERROR_NO_BINARY_FOR_GPU", [218] = "CUDA_ERROR_INVALID_PTX",
        [222] = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", [304] = "CUDA_ERROR_OPERATING_SYSTEM", [800] = "CUDA_ERROR_NOT_PERMITTED",
        [801] = "CUDA_ERROR_NOT_SUPPORTED", [802] = "CUDA_ERROR_SYSTEM_NOT_READY", [803] = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        [804] = "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE", [999] = "CUDA_ERROR_UNKNOWN",
    };
}
