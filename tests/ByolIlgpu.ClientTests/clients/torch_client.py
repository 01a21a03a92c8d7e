#!/usr/bin/env python3
"""The PyTorch client of ByolIlgpu's client tests: torchvision's ResNet-18 loads our weights with strict names.

  torch_client.py features WEIGHTS IMAGES OUT [--prefix teacher.] [--stem S --width W]
      Builds torchvision's resnet18 (its ResNet and BasicBlock classes; at a base width other than 64 the
      same classes with w, 2w, 4w, 8w channels), the stem as the weights say (cifar: conv1 3x3 s1 p1 and
      maxpool Identity, as the CIFAR variant; imagenet: torchvision's own 7x7 s2 p3 conv1 and 3x3 s2 p1
      max-pool), fc Identity; loads WEIGHTS (an exported backbone, or a training checkpoint whose backbone
      is taken under PREFIX) with load_state_dict(strict=True); runs IMAGES (safetensors 'images',
      (N, 3, H, W) float32, already normalised) in eval mode, fp32; writes 'features' (N, 8w) to OUT.
  torch_client.py knn CHECKPOINT DATA [--k 200]
      DATA (safetensors) holds the normalised 'train' and 'test' images and their int64 labels; the
      checkpoint's student backbone embeds both, and the weighted kNN of `byol eval knn` (cosine
      similarity, k nearest with ties to the lower index, weights exp(sim/0.1), ties to the lower class)
      is computed in float64: prints 'knn top1 T top5 F k=1 top1 O'.

Stem and width come from the file's metadata (an export) or its training configuration (a checkpoint)
unless given. Exit codes: 0 done, 2 bad input (a name or shape that does not load, a missing file).
The safetensors files are parsed here (8-byte little-endian header length, JSON header, little-endian
row-major data): Debian has no python3-safetensors.
"""
import argparse
import json
import struct
import sys

DTYPES = {"F32": "float32", "F64": "float64", "I64": "int64", "I32": "int32"}
BACKBONE_EXCLUDED = ("teacher.", "projector.", "predictor.", "optimizer.")


def fail(message):
    print(f"torch_client: {message}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(torch, path):
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    tensors, metadata = {}, header.pop("__metadata__", {}) or {}
    for name, entry in header.items():
        dtype = getattr(torch, DTYPES[entry["dtype"]])
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(entry["shape"])
    return tensors, metadata


def write_safetensors(path, tensors):
    names = {"float32": "F32", "float64": "F64", "int64": "I64"}
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": names[str(t.dtype).replace("torch.", "")], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def resnet18(torch, stem, width):
    """torchvision's resnet18 at base width `width` (its own constructor at 64), the stem adapted, fc Identity."""
    import torchvision
    from torch import nn
    from torchvision.models.resnet import BasicBlock, ResNet

    if width == 64:
        model = torchvision.models.resnet18(weights=None)
    else:
        class NarrowResNet18(ResNet):
            """ResNet.__init__ with 64 replaced by the width; _make_layer, BasicBlock and forward are torchvision's."""

            def __init__(self, w):
                nn.Module.__init__(self)
                self._norm_layer, self.inplanes, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, w, 1, 1, 64
                self.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
                self.bn1 = nn.BatchNorm2d(w)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
                self.layer1 = self._make_layer(BasicBlock, w, 2)
                self.layer2 = self._make_layer(BasicBlock, 2 * w, 2, stride=2)
                self.layer3 = self._make_layer(BasicBlock, 4 * w, 2, stride=2)
                self.layer4 = self._make_layer(BasicBlock, 8 * w, 2, stride=2)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(8 * w, 1000)

        model = NarrowResNet18(width)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif stem != "imagenet":
        fail(f"stem '{stem}' unknown, expected cifar or imagenet")
    model.fc = nn.Identity()
    return model


def architecture(metadata, args):
    stem, width = args.stem, args.width
    if "byol.config" in metadata:
        arch = json.loads(metadata["byol.config"]).get("architecture", {})
        stem, width = stem or arch.get("stem", "cifar"), width or arch.get("width", 64)
    stem, width = stem or metadata.get("stem"), width or int(metadata.get("width", 0))
    if not stem or not width:
        fail("no stem/width in the file's metadata: give --stem and --width")
    return stem, int(width)


def load_backbone(torch, path, prefix, args):
    tensors, metadata = read_safetensors(torch, path)
    if prefix:
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and not k[len(prefix):].startswith(BACKBONE_EXCLUDED)}
    else:
        state = {k: v for k, v in tensors.items() if not k.startswith(BACKBONE_EXCLUDED)}
    stem, width = architecture(metadata, args)
    model = resnet18(torch, stem, width)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(f"{path}: does not load into torchvision's resnet18 ({stem} stem, width {width}) with strict=True: {e}")
    print(f"strict load: OK ({len(state)} tensors into torchvision {__import__('torchvision').__version__} resnet18, {stem} stem, width {width}; torch {torch.__version__})")
    return model.eval()


def embed(torch, model, images, batch=64):
    with torch.no_grad():
        return torch.cat([model(images[i:i + batch]) for i in range(0, len(images), batch)])


def knn(torch, bank, bank_labels, queries, query_labels, k, classes, temperature=0.1):
    bank = torch.nn.functional.normalize(bank.double(), dim=1, eps=1e-12)
    queries = torch.nn.functional.normalize(queries.double(), dim=1, eps=1e-12)
    sims = queries @ bank.T                                     # (Q, M)
    k = min(k, len(bank))
    top1 = top5 = top1_k1 = 0
    for i in range(len(queries)):
        order = sorted(range(len(bank)), key=lambda j: (-sims[i, j].item(), j))
        scores = [0.0] * classes
        for j in order[:k]:
            scores[int(bank_labels[j])] += float(torch.exp(sims[i, j] / temperature))
        ranked = sorted(range(classes), key=lambda c: (-scores[c], c))
        top1 += ranked[0] == int(query_labels[i])
        top5 += int(query_labels[i]) in ranked[:5]
        top1_k1 += int(bank_labels[order[0]]) == int(query_labels[i])
    n = len(queries)
    return top1 / n, top5 / n, top1_k1 / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("features")
    f.add_argument("weights"), f.add_argument("images"), f.add_argument("out")
    k = sub.add_parser("knn")
    k.add_argument("weights"), k.add_argument("data")
    k.add_argument("--k", type=int, default=200)
    k.add_argument("--classes", type=int, default=10)
    for p in (f, k):
        p.add_argument("--prefix", default="")
        p.add_argument("--stem")
        p.add_argument("--width", type=int)
    args = parser.parse_args()

    import torch
    torch.set_num_threads(2)
    model = load_backbone(torch, args.weights, args.prefix, args)
    if args.command == "features":
        images = read_safetensors(torch, args.images)[0]["images"]
        features = embed(torch, model, images)
        write_safetensors(args.out, {"features": features})
        print(f"features {tuple(features.shape)} of {len(images)} images written to {args.out}")
    else:
        data = read_safetensors(torch, args.data)[0]
        bank, queries = embed(torch, model, data["train"]), embed(torch, model, data["test"])
        top1, top5, top1_k1 = knn(torch, bank, data["train_labels"], queries, data["test_labels"], args.k, args.classes)
        print(f"knn top1 {top1:.4f} top5 {top5:.4f} k=1 top1 {top1_k1:.4f} ({len(bank)} bank, {len(queries)} queries, k={min(args.k, len(bank))})")


if __name__ == "__main__":
    main()
