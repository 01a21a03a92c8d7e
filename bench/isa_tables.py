#!/usr/bin/env python3
"""Markdown tables from bench/cpu-isas.sh's BenchmarkDotNet results: ours against libtorch per
instruction set, as images/s (whole step) and GFLOP/s (each Conv2d pass). Ratios are ours ÷ libtorch
in throughput, from the medians (the machines these run on are shared; the median resists a
disturbed iteration better than the mean). Rows under 0.75x are marked."""
import csv, os, sys

AIM = 0.75


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def middle(row):
    """The median where BenchmarkDotNet printed one (it leaves the column out when it adds nothing), else the mean."""
    return seconds(row.get("Median") or row["Mean"])


def seconds(text):
    value, unit = text.replace(",", "").split()
    return float(value) * {"s": 1.0, "ms": 1e-3, "μs": 1e-6, "us": 1e-6, "ns": 1e-9}[unit]


def results(run_dir, suite):
    path = os.path.join(run_dir, "BenchmarkDotNet.Artifacts", "results", f"ByolIlgpu.Bench.{suite}-report.csv")
    return read(path) if os.path.exists(path) else []


def network_layers(w):
    """ResNet-18's distinct conv shapes in network order, named as Conv2dBenchmarks.Layers names them."""
    return [f"3-{w}-32-3-s1", f"{w}-{w}-32-3-s1", f"{w}-{2*w}-32-3-s2", f"{w}-{2*w}-32-1-s2",
            f"{2*w}-{2*w}-16-3-s1", f"{2*w}-{4*w}-16-3-s2", f"{2*w}-{4*w}-16-1-s2",
            f"{4*w}-{4*w}-8-3-s1", f"{4*w}-{8*w}-8-3-s2", f"{4*w}-{8*w}-8-1-s2", f"{8*w}-{8*w}-4-3-s1"]


def mark(ratio):
    return f"**{ratio:.2f}**" if ratio >= AIM else f"{ratio:.2f} (under {AIM})"


def main(out):
    runs = [r for r in ("native", "avx2") if os.path.isdir(os.path.join(out, r))]
    label = {"native": "AVX-512 (native)", "avx2": "AVX2 (held to AVX2)"}
    print("| config | instruction set | ours | libtorch | ours ÷ libtorch |")
    print("| --- | --- | ---: | ---: | ---: |")
    for config in ("w16-b128", "w64-b32"):
        batch = int(config.split("-b")[1])
        for run in runs:
            rows = {r["Method"]: r for r in results(os.path.join(out, run), "ByolStepBenchmarks") if r["Config"] == config}
            if "Step" not in rows or "TorchStep" not in rows:
                continue
            ours, torch = middle(rows["Step"]), middle(rows["TorchStep"])
            print(f"| width {config[1:].split('-')[0]}, batch {batch} | {label[run]} | {batch / ours:.1f} images/s ({ours:.3f} s) "
                  f"| {batch / torch:.1f} images/s ({torch:.3f} s) | {mark(torch / ours)} |")
    print()
    print("| layer (C-K-size-filter-stride), batch 32 | pass | " + " | ".join(f"{label[r]}: ours / libtorch GFLOP/s, ratio" for r in runs) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in runs) + " |")
    tables = {r: results(os.path.join(out, r), "Conv2dBenchmarks") for r in runs}
    present = {row["Layer"] for row in tables[runs[0]]}
    layers = [l for w in (64, 16) for l in network_layers(w) if l in present]
    layers += sorted(present - set(layers))
    for layer in layers:
        for p in ("Forward", "BackwardInput", "BackwardWeight"):
            cells = []
            for run in runs:
                rows = {r["Method"]: r for r in tables[run] if r["Layer"] == layer}
                if p not in rows or "Torch" + p not in rows:
                    cells.append("-")
                    continue
                ours, torch = middle(rows[p]), middle(rows["Torch" + p])
                flops = float(rows[p]["GFLOP/s"]) * seconds(rows[p]["Mean"])   # GFLOP per call
                cells.append(f"{flops / ours:.0f} / {flops / torch:.0f}, {mark(torch / ours)}")
            print(f"| {layer} | {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/byol-cpu-isas")
