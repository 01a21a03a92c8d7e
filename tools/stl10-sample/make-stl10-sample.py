#!/usr/bin/env python3
"""An STL-10-shaped sample from CIFAR-10 binary batches, for short 96 px runs without the 2.6 GB download.

Each 32×32 CIFAR-10 image is upscaled ×3 (bilinear, align_corners=False as torch's) to 96×96 and written in
STL-10's own binary layout: uint8 records of 3 planes, each plane column-major (train_X.bin, test_X.bin,
unlabeled_X.bin), labels 1..10 (train_y.bin, test_y.bin) and class_names.txt. The split sizes are options.
Usage: make-stl10-sample.py CIFAR_DIR OUT_DIR [--train N] [--test N] [--unlabeled N]
"""
import argparse, os, sys
import numpy as np

def read_cifar(path):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        sys.exit(f"{path}: {raw.size} bytes, expected a multiple of 3073 (CIFAR-10 records)")
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]

def upscale3(images):
    # Bilinear ×3 with half-pixel centres: source x = (dst + 0.5)/3 − 0.5, clamped at the edges.
    coords = (np.arange(96) + 0.5) / 3 - 0.5
    lo = np.clip(np.floor(coords).astype(int), 0, 31)
    hi = np.clip(lo + 1, 0, 31)
    frac = np.clip(coords - np.floor(coords), 0, 1).astype(np.float32)
    frac[coords < 0] = 0
    x = images.astype(np.float32)
    rows = x[:, :, lo, :] * (1 - frac)[None, None, :, None] + x[:, :, hi, :] * frac[None, None, :, None]
    out = rows[:, :, :, lo] * (1 - frac) + rows[:, :, :, hi] * frac
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

def write_images(path, images):
    # STL-10 stores each plane column-major: transpose H and W before writing.
    np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tofile(path)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cifar"); ap.add_argument("out")
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--unlabeled", type=int, default=2000)
    a = ap.parse_args()
    train_x, train_y = read_cifar(os.path.join(a.cifar, "data_batch_1.bin"))
    test_x, test_y = read_cifar(os.path.join(a.cifar, "test_batch.bin"))
    if a.train + a.unlabeled > len(train_x) or a.test > len(test_x):
        sys.exit(f"{a.cifar}: {len(train_x)} train and {len(test_x)} test images, asked for {a.train}+{a.unlabeled} and {a.test}")
    os.makedirs(a.out, exist_ok=True)
    write_images(os.path.join(a.out, "train_X.bin"), upscale3(train_x[:a.train]))
    (train_y[:a.train] + 1).astype(np.uint8).tofile(os.path.join(a.out, "train_y.bin"))
    write_images(os.path.join(a.out, "unlabeled_X.bin"), upscale3(train_x[a.train:a.train + a.unlabeled]))
    write_images(os.path.join(a.out, "test_X.bin"), upscale3(test_x[:a.test]))
    (test_y[:a.test] + 1).astype(np.uint8).tofile(os.path.join(a.out, "test_y.bin"))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(os.path.join(a.out, "class_names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print(f"{a.out}: {a.train} train, {a.test} test, {a.unlabeled} unlabeled 96×96 images in STL-10's layout")

if __name__ == "__main__":
    main()
