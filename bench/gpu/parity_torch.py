#!/usr/bin/env python3
"""One-step parity of ByolIlgpu with PyTorch: redo `byol parity --out DIR`'s forward + backward and compare.

Reads DIR (manifest.json, weights/views/gradients/outputs .safetensors, parsed here without the
safetensors package), builds the same networks in PyTorch (torchvision's resnet18 with conv1 3x3 s1 p1,
maxpool and fc Identity at width 64, else bench/gpu/byol_step_torch.py's builder, which uses the same
module names), loads the initial student and teacher with strict names, and runs the same step in
training mode: each view its own forward pass, the teacher under no_grad,
loss = mean_b(2 - 2cos(p1, z2)) + mean_b(2 - 2cos(p2, z1)), backward.

It runs twice on the device: fp32 with TF32 off (the arithmetic of ByolIlgpu's kernels) and fp64,
the reference. Errors are relative L2, ||x - fp64|| / ||fp64||. PyTorch fp32's own error is the noise
floor a correct fp32 implementation shows on this problem: fp32 sums of up to 10^5 terms in a
different order differ by ~sqrt(n)·6e-8 per reduction, ~20 BatchNorm layers (which divide by the
batch std) compound that to 1e-6..1e-4, and at small batches a ReLU input that rounds to the other
side of 0 moves whole gradients by up to ~1e-2 (seen at width 64, batch 4, in either implementation).
ByolIlgpu passes when the loss is within max(LOSS_TOL, FLOOR_FACTOR·floor) of fp64 and every output
and gradient within max(GRAD_TOL, FLOOR_FACTOR·worst floor of all gradients). An indexing or
derivative bug shows as 1e-2..1; a well-conditioned case (floor ≤ 1e-4) is held to 1e-3. Gradients that are zero in exact arithmetic (the bias of a Linear
followed by BatchNorm) are rounding noise in both: below ZERO_FLOOR (1e-3) of the whole gradient's
norm, a tensor's error is taken relative to that floor instead of its own norm.

Exit codes: 0 pass, 1 mismatch, 2 bad input (missing files, names that do not match).
Usage: parity_torch.py DIR [--device auto|cpu|cuda] [--loss-tol 1e-4] [--grad-tol 1e-3] [--model auto|torchvision|builder]
"""
import argparse
import json
import math
import os
import struct
import sys

LOSS_TOL = 1e-4
GRAD_TOL = 1e-3
ZERO_FLOOR = 1e-3
FLOOR_FACTOR = 10
# The representative tensors shown in the summary (all are compared; the worst are shown too).
SHOWN = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer3.0.conv1.weight", "layer3.0.downsample.0.weight",
         "layer4.1.bn2.weight", "projector.0.weight", "projector.1.weight", "projector.3.weight",
         "predictor.0.weight", "predictor.3.weight", "predictor.3.bias"]


def fail(code, message):
    print(f"parity_torch: {message}", file=sys.stderr)
    sys.exit(code)


def read_safetensors(torch, path):
    """8-byte little-endian header length, JSON header, raw little-endian row-major data."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        fail(2, f"{path}: {e.strerror}")
    if len(blob) < 8:
        fail(2, f"{path}: {len(blob)} bytes, expected a safetensors file (8-byte header length first)")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        fail(2, f"{path}: header length {n} exceeds the file ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in dtypes:
            fail(2, f"{path}: tensor '{name}' has dtype {entry['dtype']}, expected one of {sorted(dtypes)}")
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[entry["dtype"]]) if end > begin \
            else torch.empty(0, dtype=dtypes[entry["dtype"]])
        tensors[name] = t.reshape(entry["shape"])
    return tensors


def build_models(torch, nn, manifest, kind):
    """(backbone, projector, predictor) named as the engine names them (torchvision for the backbone)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from byol_step_torch import build
    w = manifest["width"]
    backbone, projector, predictor = build(torch, nn, w, manifest["proj_hidden"], manifest["proj_out"], manifest["pred_hidden"])
    if kind == "torchvision":
        import torchvision
        backbone = torchvision.models.resnet18(weights=None)
        backbone.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        backbone.maxpool = nn.Identity()
        backbone.fc = nn.Identity()
    for m in (backbone, projector, predictor):
        for module in m.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.eps, module.momentum = manifest["bn_eps"], manifest["bn_momentum"]
    return backbone, projector, predictor


def split(weights, prefix, parts):
    """State dicts per part: backbone = names without a part prefix."""
    result = {p: {} for p in ("backbone",) + parts}
    for name, t in weights.items():
        if not name.startswith(prefix) or (prefix == "" and name.startswith("teacher.")):
            continue
        rest = name[len(prefix):]
        part = next((p for p in parts if rest.startswith(p + ".")), "backbone")
        result[part][rest[len(part) + 1:] if part != "backbone" else rest] = t
    return result


def run_step(torch, nn, manifest, kind, weights, views, device, dtype):
    student = build_models(torch, nn, manifest, kind)
    teacher = build_models(torch, nn, manifest, kind)[:2]
    s_state = split(weights, "", ("projector", "predictor"))
    t_state = split(weights, "teacher.", ("projector",))
    try:
        for module, state in zip(student, (s_state["backbone"], s_state["projector"], s_state["predictor"])):
            module.load_state_dict(state, strict=True)
        for module, state in zip(teacher, (t_state["backbone"], t_state["projector"])):
            module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(2, f"the weights do not load into the PyTorch model with strict names: {str(e).splitlines()[0]} ...")
    for m in student + teacher:
        m.to(device=device, dtype=dtype).train()
    backbone, projector, predictor = student
    teacher_backbone, teacher_projector = teacher
    v1 = views["view1"].to(device=device, dtype=dtype)
    v2 = views["view2"].to(device=device, dtype=dtype)

    def pair_loss(p, z):
        return 2 - 2 * (nn.functional.normalize(p, dim=1) * nn.functional.normalize(z, dim=1)).sum(dim=1)

    p1 = predictor(projector(backbone(v1)))
    p2 = predictor(projector(backbone(v2)))
    with torch.no_grad():
        z1 = teacher_projector(teacher_backbone(v1))
        z2 = teacher_projector(teacher_backbone(v2))
    loss = pair_loss(p1, z2).mean() + pair_loss(p2, z1).mean()
    loss.backward()
    grads = {}
    for prefix, module in (("", backbone), ("projector.", projector), ("predictor.", predictor)):
        for name, p in module.named_parameters():
            grads[prefix + name] = p.grad.detach().double().cpu()
    outputs = {"p1": p1, "p2": p2, "z1": z1, "z2": z2}
    return loss.item(), grads, {k: v.detach().double().cpu() for k, v in outputs.items()}


def rel_l2(a, ref, floor=0.0):
    """||a - ref|| / max(||ref||, floor)."""
    a, ref = a.double(), ref.double()
    norm = max(ref.norm().item(), floor)
    diff = (a - ref).norm().item()
    return diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--loss-tol", type=float, default=LOSS_TOL)
    parser.add_argument("--grad-tol", type=float, default=GRAD_TOL)
    parser.add_argument("--model", choices=["auto", "torchvision", "builder"], default="auto")
    args = parser.parse_args()
    import torch
    from torch import nn

    try:
        with open(os.path.join(args.dir, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        fail(2, f"{args.dir}/manifest.json: {e}")
    if manifest.get("format") != "byol-parity/1":
        fail(2, f"{args.dir}/manifest.json: format {manifest.get('format')!r}, expected 'byol-parity/1' (written by byol parity)")
    files = {k: os.path.join(args.dir, v) for k, v in manifest["files"].items()}
    weights, views = read_safetensors(torch, files["weights"]), read_safetensors(torch, files["views"])
    ours_grads, ours_out = read_safetensors(torch, files["gradients"]), read_safetensors(torch, files["outputs"])

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    kind = args.model
    if kind == "auto":
        try:
            import torchvision  # noqa: F401
            kind = "torchvision" if manifest["width"] == 64 else "builder"
        except ImportError:
            kind = "builder"

    loss32, grads32, out32 = run_step(torch, nn, manifest, kind, weights, views, device, torch.float32)
    loss64, grads64, out64 = run_step(torch, nn, manifest, kind, weights, views, device, torch.float64)

    if set(ours_grads) != set(grads32):
        only_ours, only_torch = sorted(set(ours_grads) - set(grads32)), sorted(set(grads32) - set(ours_grads))
        fail(2, f"gradient names differ: only in ByolIlgpu {only_ours[:5]}, only in PyTorch {only_torch[:5]}")
    ours_loss = ours_out["loss"].item()
    # Gradients that vanish in exact arithmetic (the bias of a Linear followed by BatchNorm) are rounding
    # noise in both implementations: for a tensor whose norm is below ZERO_FLOOR of the whole gradient's
    # ("small"), errors are taken relative to that floor instead of the tensor's own norm.
    floor = ZERO_FLOOR * math.sqrt(sum(g.norm().item() ** 2 for g in grads64.values()))
    grad_rows = []
    for name in grads32:
        if tuple(ours_grads[name].shape) != tuple(grads32[name].shape):
            fail(2, f"gradient '{name}': shape {list(ours_grads[name].shape)} in ByolIlgpu, {list(grads32[name].shape)} in PyTorch")
        label = "grad " + name + (" (small)" if grads64[name].norm().item() < floor else "")
        grad_rows.append([label, rel_l2(ours_grads[name], grads64[name], floor), rel_l2(grads32[name], grads64[name], floor),
                          rel_l2(ours_grads[name], grads32[name], floor)])
    grad_allowed = max(args.grad_tol, FLOOR_FACTOR * max(r[2] for r in grad_rows))
    for r in grad_rows:
        r.append(grad_allowed)
    loss_floor = rel_err(loss32, loss64)
    rows = [["loss", rel_err(ours_loss, loss64), loss_floor, rel_err(ours_loss, loss32), max(args.loss_tol, FLOOR_FACTOR * loss_floor)]]
    for name in ("p1", "p2", "z1", "z2"):
        f32 = rel_l2(out32[name], out64[name])
        rows.append([name, rel_l2(ours_out[name], out64[name]), f32, rel_l2(ours_out[name], out32[name]), max(args.grad_tol, FLOOR_FACTOR * f32)])
    failures = [r for r in rows + grad_rows if not r[1] <= r[4]]

    print(f"parity: {manifest['device']} vs PyTorch {torch.__version__} on {device} ({kind} model), width {manifest['width']}, "
          f"heads {manifest['proj_hidden']}→{manifest['proj_out']}, batch {manifest['batch_size']}, seed {manifest['seed']}; "
          f"loss ours {ours_loss:.7f}, PyTorch fp32 {loss32:.7f}, fp64 {loss64:.7f}")
    worst = sorted(grad_rows, key=lambda r: -r[1])[:3]
    shown = rows + [r for r in grad_rows if r[0][5:] in SHOWN] + [r for r in worst if r[0][5:] not in SHOWN]
    zeros = [r[0][5:-8] for r in grad_rows if r[0].endswith(" (small)")]
    print("\n| tensor | ours vs fp64 | PyTorch fp32 vs fp64 (floor) | ours vs PyTorch fp32 | allowed |")
    print("| --- | --- | --- | --- | --- |")
    for r in shown:
        print(f"| {r[0]}{' (worst)' if r in worst else ''} | {r[1]:.2e}{'' if r[1] <= r[4] else ' FAIL'} | {r[2]:.2e} | {r[3]:.2e} | {r[4]:.1e} |")
    worst_all = max(grad_rows, key=lambda r: r[1])
    print(f"\n{len(grad_rows)} gradient tensors compared with fp64; worst {worst_all[0][5:]} {worst_all[1]:.2e} (PyTorch fp32 {worst_all[2]:.2e}); "
          f""
          f"small (norm < {ZERO_FLOOR:.0e} of the whole gradient's, error relative to that): {', '.join(zeros) or 'none'}")
    with open(os.path.join(args.dir, "parity-all.md"), "w") as f:
        f.write("| tensor | ours vs fp64 | PyTorch fp32 vs fp64 | ours vs PyTorch fp32 | allowed |\n| --- | --- | --- | --- | --- |\n")
        for r in rows + grad_rows:
            f.write(f"| {r[0]} | {r[1]:.3e} | {r[2]:.3e} | {r[3]:.3e} | {r[4]:.1e} |\n")
    if failures:
        print(f"parity: FAIL: {len(failures)} of {len(rows) + len(grad_rows)} tensors beyond tolerance, first {failures[0][0]} {failures[0][1]:.2e} > {failures[0][4]:.1e}")
        return 1
    print(f"parity: PASS (loss {rows[0][1]:.1e} ≤ {rows[0][4]:.1e} from fp64, every gradient ≤ {grad_allowed:.1e}: "
          f"max({args.grad_tol:.0e}, {FLOOR_FACTOR} × PyTorch fp32's worst {grad_allowed / FLOOR_FACTOR if grad_allowed > args.grad_tol else max(r[2] for r in grad_rows):.1e}))")
    return 0


def rel_err(a, ref):
    return abs(a - ref) / abs(ref) if ref != 0 else abs(a)


if __name__ == "__main__":
    sys.exit(main())
