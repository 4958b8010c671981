#!/usr/bin/python3
"""Convert a torchvision state_dict (.pth) into a deeptune weight file (HDF5,
the layout of ../shared/data/weights: one group per layer with `weight` and
`bias`, preprocessing in root attributes).

  scripts/pth-to-h5.py alexnet-owt-7be5be79.pth alexnet-torchvision.h5
  scripts/pth-to-h5.py vgg16-397923af.pth vgg16.h5 --arch vgg16-torchvision
  scripts/pth-to-h5.py x.pth x.h5 --labels imagenet_classes.txt

The architecture is guessed from the keys (AlexNet or VGG-16) unless given.
The output is written under a temporary name and renamed when complete; an
existing output is refused unless --force.
"""
import argparse
import hashlib
import os
import sys

import h5py
import numpy as np
import torch

ARCHS = {
    # name: (input size, expected parameter keys prefix check)
    "alexnet-torchvision": 224,
    "vgg16-torchvision": 224,
}


def guess(keys):
    convs = [k for k in keys if k.startswith("features.") and k.endswith(".weight")]
    if len(convs) == 5 and "classifier.1.weight" in keys:
        return "alexnet-torchvision"
    if len(convs) == 13 and "classifier.0.weight" in keys:
        return "vgg16-torchvision"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth")
    ap.add_argument("out")
    ap.add_argument("--arch", choices=sorted(ARCHS))
    ap.add_argument("--labels", help="text file, one class label per line")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    if os.path.exists(a.out) and not a.force:
        sys.exit(f"error: {a.out}: output already exists; remove it or pass --force")
    try:
        sd = torch.load(a.pth, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any load failure is the user's file
        sys.exit(f"error: {a.pth}: cannot load as a PyTorch state_dict ({e})")
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    if not isinstance(sd, dict) or not sd:
        sys.exit(f"error: {a.pth}: not a state_dict (expected a dict of tensors)")
    arch = a.arch or guess(sd.keys())
    if arch is None:
        sys.exit(f"error: {a.pth}: cannot tell the architecture from its keys; pass --arch")
    labels = None
    if a.labels:
        labels = [x.rstrip("\n") for x in open(a.labels) if x.strip()]
    sha = hashlib.sha256(open(a.pth, "rb").read()).hexdigest()
    tmp = a.out + ".tmp." + str(os.getpid())
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["architecture"] = arch
            f.attrs["input_size"] = np.int64(ARCHS[arch])
            f.attrs["channel_order"] = "RGB"
            f.attrs["pixel_range"] = "0-1"
            f.attrs["mean_rgb"] = np.array([0.485, 0.456, 0.406], np.float32)
            f.attrs["std_rgb"] = np.array([0.229, 0.224, 0.225], np.float32)
            f.attrs["preprocess"] = "resize shorter side to 256 (bilinear), centre crop 224, RGB in [0,1], minus mean_rgb, divided by std_rgb"
            f.attrs["source"] = f"{os.path.basename(a.pth)} sha256 {sha}"
            f.attrs["converted_by"] = "deeptune scripts/pth-to-h5.py"
            n = 0
            for key, t in sd.items():
                layer, _, what = key.rpartition(".")
                if what not in ("weight", "bias"):
                    continue
                v = t.detach().cpu().float().numpy()
                if not np.all(np.isfinite(v)):
                    raise ValueError(f"{key} has non-finite values")
                f.create_dataset(f"{layer}/{what}", data=v)
                n += 1
            if labels is not None:
                f.create_dataset("labels", data=np.array(labels, dtype=h5py.string_dtype()))
        os.replace(tmp, a.out)
    except Exception as e:  # noqa: BLE001
        if os.path.exists(tmp):
            os.unlink(tmp)
        sys.exit(f"error: {a.pth}: {e}")
    print(f"pth-to-h5: {a.out}: {arch}, {n} tensors")


main()
