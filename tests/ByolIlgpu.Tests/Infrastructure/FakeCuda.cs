using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit;

namespace ByolIlgpu.Tests.Infrastructure;

/// <summary>
/// A stand-in libcuda.so.1, compiled by the test with the system's C compiler, whose driver-API
/// answers are set by environment variables (for a subprocess) or by -D defaults at build time (for
/// the probe in this process, where .NET's environment changes do not reach C's getenv):
///   FAKE_CUDA_INIT              cuInit's result (0 = success, 100 = CUDA_ERROR_NO_DEVICE, …)
///   FAKE_CUDA_DRIVER_VERSION    cuDriverGetVersion (12040 = 12.4)
///   FAKE_CUDA_DEVICES           cuDeviceGetCount
///   FAKE_CUDA_CC                compute capability as major·10 + minor (90 = sm_90)
///   FAKE_CUDA_CTX_CREATE        cuCtxCreate_v2's result (2 = CUDA_ERROR_OUT_OF_MEMORY): ILGPU's accelerator creation
///   FAKE_CUDA_TOTAL_MEM         cuDeviceTotalMem_v2's result: ILGPU drops a device whose memory query fails (the probe does not ask)
/// NO_ERROR_NAMES leaves out cuGetErrorName and cuGetErrorString (old drivers).
/// </summary>
public static class FakeCuda
{
    const string Source = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <stddef.h>

        #ifndef FAKE_CUDA_INIT
        #define FAKE_CUDA_INIT 0
        #endif
        #ifndef FAKE_CUDA_DRIVER_VERSION
        #define FAKE_CUDA_DRIVER_VERSION 12040
        #endif
        #ifndef FAKE_CUDA_DEVICES
        #define FAKE_CUDA_DEVICES 1
        #endif
        #ifndef FAKE_CUDA_CC
        #define FAKE_CUDA_CC 90
        #endif
        #ifndef FAKE_CUDA_CTX_CREATE
        #define FAKE_CUDA_CTX_CREATE 2
        #endif

        static int setting(const char *name, int fallback)
        {
            const char *value = getenv(name);
            return value && *value ? atoi(value) : fallback;
        }

        int cuInit(unsigned int flags) { (void)flags; return setting("FAKE_CUDA_INIT", FAKE_CUDA_INIT); }
        int cuDriverGetVersion(int *version) { *version = setting("FAKE_CUDA_DRIVER_VERSION", FAKE_CUDA_DRIVER_VERSION); return 0; }
        int cuDeviceGetCount(int *count) { *count = setting("FAKE_CUDA_DEVICES", FAKE_CUDA_DEVICES); return 0; }

        int cuDeviceGet(int *device, int ordinal)
        {
            if (ordinal < 0 || ordinal >= setting("FAKE_CUDA_DEVICES", FAKE_CUDA_DEVICES)) return 101;  /* CUDA_ERROR_INVALID_DEVICE */
            *device = ordinal;
            return 0;
        }

        int cuDeviceGetName(char *name, int length, int device) { snprintf(name, (size_t)length, "Fake CUDA device %d", device); return 0; }
        int cuDeviceTotalMem_v2(size_t *bytes, int device) { (void)device; *bytes = (size_t)80 << 30; return setting("FAKE_CUDA_TOTAL_MEM", 0); }

        int cuDeviceGetAttribute(int *value, int attribute, int device)
        {
            (void)device;
            int cc = setting("FAKE_CUDA_CC", FAKE_CUDA_CC);
            switch (attribute)
            {
                case 1: case 2: case 3: *value = 1024; break;      /* max threads per block, block dims */
                case 4: *value = 64; break;
                case 5: *value = 2147483647; break;                  /* grid dims */
                case 6: case 7: *value = 65535; break;
                case 8: *value = 49152; break;                       /* shared memory per block */
                case 10: *value = 32; break;                         /* warp size */
                case 12: *value = 65536; break;                      /* registers per block */
                case 16: *value = 132; break;                        /* multiprocessors */
                case 39: *value = 2048; break;                       /* threads per multiprocessor */
                case 75: *value = cc / 10; break;                    /* compute capability */
                case 76: *value = cc % 10; break;
                default: *value = 0; break;
            }
            return 0;
        }

        int cuCtxCreate_v2(void **context, unsigned int flags, int device)
        {
            (void)flags; (void)device;
            *context = NULL;
            return setting("FAKE_CUDA_CTX_CREATE", FAKE_CUDA_CTX_CREATE);
        }

        #ifndef NO_ERROR_NAMES
        static const char *describe(int error, int name)
        {
            switch (error)
            {
                case 0: return name ? "CUDA_SUCCESS" : "no error";
                case 2: return name ? "CUDA_ERROR_OUT_OF_MEMORY" : "out of memory";
                case 3: return name ? "CUDA_ERROR_NOT_INITIALIZED" : "initialization error";
                case 34: return name ? "CUDA_ERROR_STUB_LIBRARY" : "CUDA driver is a stub library";
                case 100: return name ? "CUDA_ERROR_NO_DEVICE" : "no CUDA-capable device is detected";
                case 999: return name ? "CUDA_ERROR_UNKNOWN" : "unknown error";
                default: return NULL;
            }
        }

        int cuGetErrorName(int error, const char **text) { *text = describe(error, 1); return *text ? 0 : 1; }
        int cuGetErrorString(int error, const char **text) { *text = describe(error, 0); return *text ? 0 : 1; }
        #endif
        """;

    static readonly ConcurrentDictionary<string, string> built = CleanedUpAtExit();

    static ConcurrentDictionary<string, string> CleanedUpAtExit()
    {
        var folders = new ConcurrentDictionary<string, string>();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var dir in folders.Values)
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        };
        return folders;
    }

    /// <summary>
    /// The folder holding a libcuda.so.1 built with these defines (e.g. "FAKE_CUDA_INIT=100"), built
    /// once per set; a skipped test when there is no C compiler. Each set gets its own folder and
    /// file, so several stand-ins can be loaded into one process side by side.
    /// </summary>
    public static string Folder(params string[] defines) =>
        built.GetOrAdd(string.Join(" ", defines), _ => Build(Source, defines));

    /// <summary>A shared library from other C source (e.g. one that lacks the driver API), in its own folder.</summary>
    public static string Library(string source) => Path.Combine(built.GetOrAdd("source:" + source, _ => Build(source, [])), "libcuda.so.1");

    static string Build(string source, string[] defines)
    {
        const string compiler = "/usr/bin/cc";
        if (!File.Exists(compiler))
            Assert.Skip($"no C compiler at {compiler} to build the stand-in libcuda.so.1");
        var dir = Directory.CreateTempSubdirectory("byol-fake-cuda-").FullName;
        File.WriteAllText(Path.Combine(dir, "fake_cuda.c"), source);
        // No -soname: a bare dlopen("libcuda.so.1") elsewhere in this process must not find the stand-in.
        var start = new ProcessStartInfo(compiler) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = dir };
        foreach (var a in new[] { "-shared", "-fPIC", "-O1", "-o", "libcuda.so.1", "fake_cuda.c" }.Concat(defines.Select(d => $"-D{d}")))
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"cc failed to build the stand-in libcuda: {errors}");
        return dir;
    }
}
