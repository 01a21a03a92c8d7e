#!/usr/bin/env python3
"""Writes OUT/summary.md from the stage folders run-gpu.sh left in OUT (whatever finished), and prints it.

Usage: summarize.py OUT
"""
import glob
import json
import os
import re
import sys


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def stages(out):
    result = []
    for d in sorted(glob.glob(os.path.join(out, "[0-9][0-9]-*"))):
        s = {"dir": d, "name": os.path.basename(d), "output": read(os.path.join(d, "output.txt"), "")}
        for key in ("exit_code", "seconds", "limit_s", "skipped"):
            v = read(os.path.join(d, key))
            s[key] = v.strip() if v is not None else None
        rc, limit = s["exit_code"], s["limit_s"]
        if s["skipped"]:
            s["result"] = s["skipped"]
        elif rc is None:
            s["result"] = "did not finish (the script itself was stopped)"
        elif rc == "0":
            s["result"] = "ok"
        elif rc == "124":
            s["result"] = f"killed by the budget at its limit of {limit} s (TERM)"
        elif rc == "137":
            s["result"] = f"killed by the budget at its limit of {limit} s (KILL after TERM)"
        else:
            s["result"] = "failed"
        result.append(s)
    return result


def find(all_stages, prefix):
    return next((s for s in all_stages if s["name"][3:] == prefix), None)


def ours_throughput(s):
    """images/s and the JSON counters of one bench stage: bench.json if written, else the text line."""
    if s is None:
        return None
    j = read(os.path.join(s["dir"], "bench.json"))
    if j:
        try:
            return json.loads(j)
        except ValueError:
            pass
    m = re.search(r"([\d.]+) images/s \(([\d.]+) s/step\)", s["output"])
    return {"images_per_s": float(m.group(1)), "seconds_per_step": float(m.group(2))} if m else None


def model_section(model_stage, machine, benches, rehearsal):
    """The performance model's step (byol kernels --model, made with the bundle) beside the measured one on this GPU."""
    gpu_name = machine["output"].split(",")[0].strip() if machine and not rehearsal else ""
    key = "h200" if "H200" in gpu_name else "h100-sxm"
    model = read(os.path.join(model_stage["dir"], f"model-{key}.json"))
    lines = ["", "## The performance model beside the measurement", ""]
    if not model:
        return lines + [f"no model-{key}.json ({model_stage['result']}: the bundle was made without ptxas?)"]
    try:
        model = json.loads(model)
    except ValueError:
        return lines + [f"model-{key}.json is not JSON"]
    b = model["batch_size"]
    spe = model["steps_per_epoch"]
    lines += [f"{model['gpu_name']}, batch {b}: the model's rows are a model (bench/README.md), not a measurement."
              + ("" if key == "h200" or "H100" in gpu_name and ("SXM" in gpu_name or "HBM3" in gpu_name) or rehearsal
                 else f" This GPU is {gpu_name or 'unknown'}: the H100 SXM model is the nearest."), "",
              "| step | s/step | images/s | epoch s | launches/step | held back by |", "| --- | --- | --- | --- | --- | --- |"]
    for p in model["predictions"]:
        lines.append(f"| model, {p['precision']} (Conv2d v{p['conv2d_version']}, Matmul v{p['matmul_version']}) | {p['seconds_per_step']:.4f} | "
                     f"{p['images_per_s']:.0f} | {p['epoch_s']:.1f} | {p['launches_per_step']} | {p['held_back_by']} ({p['bound']}) |")
    ours = ours_throughput(next((s for s in benches if s["name"].endswith(f"-{b}")), None))
    if rehearsal or not ours:
        why = "a rehearsal on PoCL at rehearsal sizes: nothing to compare" if rehearsal else f"no bench-{b} result"
        lines.append(f"| measured (byol bench, batch {b}) | - | - | - | - | {why} |")
    else:
        lines.append(f"| measured (byol bench, batch {b}) on {gpu_name} | {ours['seconds_per_step']:.4f} | {ours['images_per_s']:.0f} | "
                     f"{spe * ours['seconds_per_step']:.1f} | {ours.get('launches_per_step', '-')} | measured |")
    return lines


def main():
    out = sys.argv[1]
    env = dict(line.split("=", 1) for line in (read(os.path.join(out, "run.env"), "") or "").splitlines() if "=" in line)
    all_stages = stages(out)
    rehearsal = env.get("mode") == "rehearsal"
    lines = [f"# GPU one-shot{' REHEARSAL (no GPU: PoCL OpenCL in place of CUDA, PyTorch on the CPU, rehearsal sizes)' if rehearsal else ''}", ""]
    commit = (read(os.path.join(out, "COMMIT"), "unknown") or "unknown").strip()
    lines.append(f"Started {env.get('started', '?')} on {env.get('host', '?')}, bundle of commit {commit}; "
                 f"budget {env.get('budget_s', '?')} s, ran {env.get('total_s', '?')} s; device {env.get('device', '?')}; python {env.get('python', '?')}.")
    machine = find(all_stages, "gpu") or find(all_stages, "machine")
    if machine and machine["output"].strip():
        lines.append(f"Machine: {'; '.join(l.strip() for l in machine['output'].strip().splitlines())}.")
    devices = find(all_stages, "devices")
    if devices:
        dev = [l for l in devices["output"].splitlines() if l.startswith(env.get("device", "cuda") + ":")]
        if dev:
            lines.append(f"Device: `{' '.join(dev[0].split())}`.")
    stopped = read(os.path.join(out, "stopped"))
    if stopped:
        lines += ["", f"**Stopped early: {stopped.strip()}**"]

    lines += ["", "## Stages", "", "| stage | result | exit code | seconds | limit s |", "| --- | --- | --- | --- | --- |"]
    for s in all_stages:
        lines.append(f"| {s['name']} | {s['result']} | {s['exit_code'] or '-'} | {s['seconds'] or '-'} | {s['limit_s'] or '-'} |")

    benches = [s for s in all_stages if s["name"][3:].startswith("bench-")]
    torch_stage = find(all_stages, "torch-peer")
    torch_results = []
    if torch_stage:
        try:
            torch_results = json.loads(read(os.path.join(torch_stage["dir"], "torch.json"), "[]"))
        except ValueError:
            pass
    if benches or torch_results:
        lines += ["", "## BYOL step throughput (images/s; ratio = ours / PyTorch, > 1: we are faster)", "",
                  "| batch | ByolIlgpu | s/step | launches/step | host syncs/step | PyTorch fp32 | ratio | PyTorch TF32 | ratio |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        batches = sorted({int(s["name"].split("-")[-1]) for s in benches} | {r["batch"] for r in torch_results})
        for b in batches:
            ours = ours_throughput(next((s for s in benches if s["name"].endswith(f"-{b}")), None))
            fp32 = next((r["images_per_s"] for r in torch_results if r["batch"] == b and not r["tf32"]), None)
            tf32 = next((r["images_per_s"] for r in torch_results if r["batch"] == b and r["tf32"]), None)
            v = ours["images_per_s"] if ours else None
            f = lambda x: "-" if x is None else f"{x:.0f}" if x >= 10 else f"{x:.2f}"
            r = lambda x: "-" if x is None or v is None else f"{v / x:.2f}"
            g = lambda k: "-" if not ours or ours.get(k) is None else str(ours[k])
            spp = "-" if not ours else f"{ours['seconds_per_step']:.4f}"
            lines.append(f"| {b} | {f(v)} | {spp} | {g('launches_per_step')} | {g('host_syncs_per_step')} | {f(fp32)} | {r(fp32)} | {f(tf32)} | {r(tf32)} |")
        if torch_results:
            lines.append(f"\nPyTorch {torch_results[0].get('torch', '?')} on {torch_results[0].get('device', '?')}.")

    model_stage = find(all_stages, "model")
    if model_stage:
        lines += model_section(model_stage, machine, benches, rehearsal)

    parity = find(all_stages, "parity-torch")
    if parity:
        lines += ["", "## One-step parity with PyTorch", ""]
        plines = parity["output"].splitlines()
        lines += [l for l in plines if l.startswith("parity: ") and "PASS" not in l and "FAIL" not in l] + [""]
        lines += [l for l in plines if l.startswith("|")] + [""]
        lines += [l for l in plines if "gradient tensors compared" in l or l.startswith("parity: PASS") or l.startswith("parity: FAIL")]
        if parity["result"] != "ok":
            lines.append(f"\nparity_torch.py: {parity['result']} (exit code {parity['exit_code']}); last lines:\n")
            lines += ["    " + l for l in parity["output"].strip().splitlines()[-5:]]

    selftest = find(all_stages, "selftest")
    if selftest:
        lines += ["", "## byol selftest", ""]
        out_lines = selftest["output"].splitlines()
        summary = [l.strip() for l in out_lines if l.startswith("selftest: all") or "checks FAILED" in l]
        lines.append(summary[-1] if summary else f"no selftest summary line ({selftest['result']})")
        lines += [f"- `{l.rstrip()}`" for l in out_lines if l.rstrip().endswith(" FAIL")][:20]
        lines += [f"- {l.strip()}" for l in out_lines if l.startswith("skipped: ")]

    tests = find(all_stages, "kernel-tests")
    if tests:
        lines += ["", "## Kernel tests", ""]
        total = [l.strip() for l in tests["output"].splitlines() if "Total:" in l]
        lines.append(total[-1] if total else f"no test summary line ({tests['result']})")
        failed = [l.strip() for l in tests["output"].splitlines() if "[FAIL]" in l]
        lines += [f"- {l}" for l in failed[:20]]

    train = find(all_stages, "train-knn")
    if train:
        lines += ["", "## Short training run with kNN", ""]
        knn = [l.strip() for l in train["output"].splitlines()
               if l.startswith("final knn") or (l.lstrip().startswith("epoch") and "ETA" not in l)]
        lines += knn[-3:] if knn else [f"no kNN line ({train['result']})"]

    kb = find(all_stages, "kernel-bench")
    if kb:
        lines += ["", "## Kernel benchmarks (BenchmarkDotNet, short job)", ""]
        reports = sorted(glob.glob(os.path.join(kb["dir"], "bdn", "results", "*-report-github.md")))
        for rep in reports:
            lines += [l for l in read(rep, "").splitlines() if l.startswith("|")] + [""]
        if not reports:
            lines.append(f"no BenchmarkDotNet report ({kb['result']})")

    text = "\n".join(lines).rstrip() + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
