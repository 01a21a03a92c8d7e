#!/usr/bin/env python3
"""The PyTorch peer of `byol bench`: times the same BYOL training step (CUDA events; on the CPU a wall clock).

The step: ResNet-18 for 32x32 (conv1 3x3 s1 p1 no bias, no max-pool, no fc), projector and predictor
MLPs (Linear -> BatchNorm1d -> ReLU -> Linear), teacher = EMA copy of backbone + projector in training
mode under no_grad, loss mean(l(p1, z2) + l(p2, z1)), backward, LARS-like SGD step, EMA update.
Each view is its own forward pass, as in ByolIlgpu. Reported twice: fp32 with TF32 off (the same
arithmetic as ByolIlgpu's kernels) and PyTorch's default (TF32 convolutions allowed); on the CPU
(`--device cpu`, for rehearsing the GPU script) fp32 only.

Usage: byol_step_torch.py [--batch 128 256] [--width 64] [--steps 20] [--device cuda|cpu] [--json out.json]
"""
import argparse
import copy
import json
import sys
import time


def build(torch, nn, width, proj_hidden, proj_out, pred_hidden):
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            layers, cin = [], w
            for stage in range(4):
                cout = w << stage
                blocks = [BasicBlock(cin, cout, 2 if stage > 0 else 1), BasicBlock(cout, cout, 1)]
                layers.append(nn.Sequential(*blocks))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return x.mean(dim=(2, 3))

    def mlp(i, h, o):
        return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Linear(h, o))

    backbone = ResNet18(width)
    projector = mlp(8 * width, proj_hidden, proj_out)
    predictor = mlp(proj_out, pred_hidden, proj_out)
    return backbone, projector, predictor


def count(module):
    return sum(p.numel() for p in module.parameters())


def run(torch, nn, batch, width, steps, tf32, proj_hidden, proj_out, pred_hidden, device="cuda"):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    backbone, projector, predictor = (m.to(dev) for m in build(torch, nn, width, proj_hidden, proj_out, pred_hidden))
    if width == 64 and proj_hidden == 4096:
        assert count(backbone) == 11_168_832, count(backbone)
        assert count(projector) == 3_158_272 and count(predictor) == 2_109_696
    teacher_backbone, teacher_projector = copy.deepcopy(backbone), copy.deepcopy(projector)
    for p in list(teacher_backbone.parameters()) + list(teacher_projector.parameters()):
        p.requires_grad_(False)
    params = list(backbone.parameters()) + list(projector.parameters()) + list(predictor.parameters())
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-5)
    student_ema = list(backbone.parameters()) + list(projector.parameters())
    teacher_ema = list(teacher_backbone.parameters()) + list(teacher_projector.parameters())
    v1 = torch.randn(batch, 3, 32, 32, device=dev)
    v2 = torch.randn(batch, 3, 32, 32, device=dev)

    def loss_fn(p, z):
        p = nn.functional.normalize(p, dim=1)
        z = nn.functional.normalize(z, dim=1)
        return 2 - 2 * (p * z).sum(dim=1)

    def step():
        p1 = predictor(projector(backbone(v1)))
        p2 = predictor(projector(backbone(v2)))
        with torch.no_grad():
            z1 = teacher_projector(teacher_backbone(v1))
            z2 = teacher_projector(teacher_backbone(v2))
        loss = (loss_fn(p1, z2) + loss_fn(p2, z1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_mul_(teacher_ema, 0.996)
            torch._foreach_add_(teacher_ema, student_ema, alpha=0.004)
        return loss

    for _ in range(3 if cuda else 1):
        step()
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    clock = time.perf_counter()
    for _ in range(steps):
        loss = step()
    if cuda:
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000 / steps
    else:
        seconds = (time.perf_counter() - clock) / steps
    assert 0 <= loss.item() <= 8
    return {"batch": batch, "width": width, "tf32": tf32, "seconds_per_step": seconds, "images_per_s": batch / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--proj-hidden", type=int, default=4096)
    parser.add_argument("--proj-out", type=int, default=256)
    parser.add_argument("--pred-hidden", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    import torch
    from torch import nn
    if args.device == "cuda" and not torch.cuda.is_available():
        print("byol_step_torch: no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    results = []
    for batch in args.batch:
        for tf32 in ((False, True) if args.device == "cuda" else (False,)):
            r = run(torch, nn, batch, args.width, args.steps, tf32, args.proj_hidden, args.proj_out, args.pred_hidden, args.device)
            r["device"] = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
            r["torch"] = torch.__version__
            results.append(r)
            print(f"pytorch {torch.__version__} {r['device']}: batch {batch} width {args.width} "
                  f"{'tf32' if tf32 else 'fp32'}: {r['images_per_s']:.0f} images/s ({r['seconds_per_step'] * 1000:.1f} ms/step)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
