#!/usr/bin/python3
"""Independent PyTorch reference fixtures for deeptune's CNN code.

Writes, for five networks, an HDF5 file with the exact network input, sampled
activations of every layer and sampled input gradients, plus a CSV with
GoogLeNet's top-5 on every shared photo.  The C tests compare against these.

Usage:
    scripts/make-cnn-fixtures.py [--out DIR] [--seed N] [--only NET[,NET...]]

    DEEPTUNE_DATA   shared data directory (default: <repo>/../shared/data)
    --out           output directory (default: <repo>/tests/fixtures/cnn)

Needs Debian's python3-torch, python3-torchvision, python3-h5py, python3-numpy,
python3-pil (run it with /usr/bin/python3).


DETERMINISTIC GENERATOR (the C side reimplements it bit for bit)
-----------------------------------------------------------------
Every generated tensor is named by a path string P:
    weights   "<module>/weight", "<module>/bias"   e.g. "features.0/weight",
              "classifier.1/bias" (torchvision module name, then '/', then
              the parameter name)
    upstream  "upstream/<layer>/<k>/<image>"       e.g. "upstream/pool2/0/1",
              "upstream/inception_4a/output/2/0" (k = 0..K-1, image = 0, 1)

    fnv1a64(bytes):  h = 0xcbf29ce484222325
                     for each byte b: h ^= b; h = h * 0x100000001b3 mod 2^64
    state:           s = fnv1a64(UTF-8 bytes of P) XOR seed     (seed default
                     20181218, a 64-bit unsigned integer)
    each draw (splitmix64, all arithmetic mod 2^64, >> is logical):
        s += 0x9E3779B97F4A7C15
        z  = s
        z  = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z  = (z ^ (z >> 27)) * 0x94D049BB133111EB
        z ^= z >> 31
        u  = (double)(z >> 11) * 2^-53               in [0, 1)
        v  = (2*u - 1) * scale                       in double
        element = (float)v                           (round to nearest)
    elements are filled in row-major order of the tensor: OIHW for conv
    weights, [out, in] for fully connected weights, C,H,W for upstream
    gradients (the per-image shape of the layer).
    scale: weights sqrt(6 / fan_in) with fan_in = in_channels/groups * kh * kw
           (conv) or in_features (fc), computed in double; biases 0.1;
           upstream gradients 1.0.
    Test vectors are stored in every fixture's root attributes
    generator_test_* (see below).


FIXTURE FILE  <out>/<net>.h5   (gzip+shuffle compressed datasets)
------------------------------------------------------------------
root attributes
    network            str   e.g. "alexnet-bvlc"
    weights            str   weight file name, or "generated seed=20181218"
    torch_version, torchvision_version, numpy_version   str
    script             str   "scripts/make-cnn-fixtures.py"
    input_size         int64 H (= W)
    images             str[2]  photo file names, in batch order
    preprocess         str   how /input was computed from the photos
    sample_size        int64 S: layers with more than `full_threshold`
    full_threshold     int64     elements per image are sampled at S indices
                       (S = full_threshold = 4096; alexnet-uoguelph S = 3072;
                       googlenet-bvlc S = full_threshold = 1024, to keep the
                       files below ~1.5 MB)
    seed               uint64 generator seed
    generator          str   one-line description of the generator
    generator_test_path   str[3]
    generator_test_seed   uint64[3]
    generator_test_scale  float64[3]
    generator_test_u64    uint64[3,3]   first 3 raw splitmix64 outputs z
    generator_test_value  float64[3,3]  first 3 values (2u-1)*scale (double)
/input          float32 (2,3,H,W)  the exact network input (feed it directly)
/layer_names    vlen utf-8 str (L,)  every layer in forward order
/layer_types    vlen utf-8 str (L,)  Caffe type or torch module class name
/act/<layer>    group (a '/' in the layer name makes nested groups)
    attrs   shape  int64 (per-image shape, e.g. [96,55,55] or [1000])
            type   str   layer type (as in /layer_types)
            sum    float64 (2,)  sum of the FULL per-image tensor
            sumsq  float64 (2,)  sum of squares of the FULL per-image tensor
            f64_max_abs_diff float64 (2,) max |float32 - float64 forward|
            max_abs float64 (2,)  max |value| of the full float32 tensor
    index   int64 (n,)      flat indices into the per-image tensor (sorted);
                            arange(numel) when numel <= full_threshold, else
                            a seeded random sample of S distinct indices
    value   float32 (2,n)   activation at those indices, per image
/grad/<layer>   group, input gradient of sum(upstream_k * activation_<layer>)
    attrs   shape  int64 (3,H,W)  per-image input shape
            layer  str, K int64, upstream_scale float64,
            upstream_path  str "upstream/<layer>/<k>/<image>"
            upstream_shape int64 (per-image shape of the layer)
            sum, sumsq  float64 (2,K) of the FULL input gradients
            f64_max_abs_diff float64 (2,K)  max |float32 - float64 gradient|
            max_abs float64 (2,K)  max |gradient| (float32 run)
            unstable_threshold float64 (1e-4), unstable_count int64 (2,K):
                number of elements of the full gradient where
                |g32 - g64| > unstable_threshold * max|g64|
    index    int64 (n,)       sorted flat indices into the per-image input
                              (n = 4096, seeded random sample)
    value    float32 (2,K,n)
    unstable uint8 (2,K,n)    1 where that element is "unstable" as above:
                              a ReLU input within rounding of 0 or a
                              max-pooling near-tie decided differently in
                              float32 and float64.  Any other float32
                              implementation may differ there by up to a few
                              % of max|g|; compare those loosely or skip them.

Activations of in-place Caffe ReLU/Dropout layers are stored under the layer
name (e.g. "relu1", "conv1/relu_7x7") as the value after the layer; the
producing layer ("conv1", "conv1/7x7_s2") keeps its pre-ReLU value.

<out>/googlenet-classify.csv: file,rank,class_index,label,probability for every
photo in <data>/images (sorted by name), top-5, probability with 6 decimals,
label = the weight file's `labels` string verbatim (wnid, space, names).
"""

import argparse
import copy
import csv
import json
import math
import os
import re
import sys
import time
import zlib

import h5py
import numpy as np
import PIL
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

SCRIPT_NAME = "scripts/make-cnn-fixtures.py"
DEFAULT_SEED = 20181218
PHOTOS = ["astronaut.png", "dog.jpg"]
K_UPSTREAM = 3
GRAD_S = 4096
UNSTABLE_REL = 1e-4

M64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


# ----------------------------------------------------------------------------
# generator
# ----------------------------------------------------------------------------

def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & M64
    return h


def splitmix_u64_scalar(path, seed, n):
    """Plain-integer reference implementation (used to check the fast one)."""
    s = fnv1a64(path.encode("utf-8")) ^ seed
    out = []
    for _ in range(n):
        s = (s + GAMMA) & M64
        z = s
        z = ((z ^ (z >> 30)) * MIX1) & M64
        z = ((z ^ (z >> 27)) * MIX2) & M64
        z ^= z >> 31
        out.append(z)
    return out


def splitmix_u64(s0, start, n):
    """Draws start+1 .. start+n of the stream whose initial state is s0."""
    i = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        s = np.uint64(s0) + i * np.uint64(GAMMA)
        z = (s ^ (s >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z ^= z >> np.uint64(31)
    return z


def gen_float64(path, n, scale, seed):
    s0 = fnv1a64(path.encode("utf-8")) ^ seed
    out = np.empty(n, dtype=np.float64)
    chunk = 1 << 22
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        z = splitmix_u64(s0, a, b - a)
        u = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
        out[a:b] = (2.0 * u - 1.0) * scale
    return out


def gen_tensor(path, shape, scale, seed):
    n = int(np.prod(shape))
    return gen_float64(path, n, scale, seed).astype(np.float32).reshape(shape)


def generator_test_vectors(seed):
    tv = [("features.0/weight", seed, math.sqrt(6.0 / (3 * 11 * 11))),
          ("upstream/conv5/2/1", seed, 1.0),
          ("classifier.6/bias", 12345, 0.1)]
    u64 = np.zeros((3, 3), dtype=np.uint64)
    val = np.zeros((3, 3), dtype=np.float64)
    for r, (p, sd, sc) in enumerate(tv):
        ref = splitmix_u64_scalar(p, sd, 3)
        fast = splitmix_u64(fnv1a64(p.encode()) ^ sd, 0, 3)
        assert [int(v) for v in fast] == ref, (p, ref, fast)
        u64[r] = ref
        refv = [(2.0 * ((z >> 11) * 2.0 ** -53) - 1.0) * sc for z in ref]
        val[r] = gen_float64(p, 3, sc, sd)
        assert np.array_equal(val[r], np.array(refv)), (refv, val[r])
    return tv, u64, val


# ----------------------------------------------------------------------------
# photos and preprocessing
# ----------------------------------------------------------------------------

def load_rgb(path):
    im = Image.open(path)
    im.load()
    return im.convert("RGB")


def to_chw(im):
    return np.asarray(im, dtype=np.float32).transpose(2, 0, 1).copy()


def resize_short_crop(im, short, crop):
    w, h = im.size
    if w <= h:
        nw, nh = short, int(math.floor(h * short / w + 0.5))
    else:
        nw, nh = int(math.floor(w * short / h + 0.5)), short
    im = im.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - crop) // 2, (nh - crop) // 2
    return im.crop((left, top, left + crop, top + crop))


def prep_caffe_bgr(im, size, mean_bgr, mode):
    """mode 'whole': resize whole photo to size x size;
    'short': shorter side 256, centre crop size."""
    if mode == "whole":
        im = im.resize((size, size), Image.BILINEAR)
    else:
        im = resize_short_crop(im, 256, size)
    x = to_chw(im)[::-1].copy()                      # RGB -> BGR
    x -= np.asarray(mean_bgr, dtype=np.float32).reshape(3, 1, 1)
    return x


def prep_uoguelph(im, mean_image, size):
    im = im.resize((256, 256), Image.BILINEAR)
    x = to_chw(im) - mean_image                      # RGB, float32
    off = (256 - size) // 2                          # 14 for 227
    return x[:, off:off + size, off:off + size].copy()


def prep_unit(im, size):
    im = im.resize((size, size), Image.BILINEAR)
    return to_chw(im) / np.float32(255.0) - np.float32(0.5)


PREP_TEXT = {
    "caffe-whole": "PIL Image.convert('RGB'), resize whole photo to {s}x{s} "
                   "(Image.BILINEAR, i.e. PIL's antialiased triangle filter), "
                   "float32 0-255, channels reordered to BGR, minus mean_bgr "
                   "({m})",
    "caffe-short": "PIL Image.convert('RGB'), resize so the shorter side is "
                   "256 (longer = floor(long*256/short+0.5), Image.BILINEAR), "
                   "centre crop {s}x{s} at ((w-{s})//2, (h-{s})//2), float32 "
                   "0-255, BGR, minus mean_bgr ({m})",
    "uoguelph": "PIL Image.convert('RGB'), resize whole photo to 256x256 "
                "(Image.BILINEAR), float32 0-255 RGB, minus mean_image "
                "(3x256x256), centre crop {s}x{s} at offset 14,14",
    "unit": "PIL Image.convert('RGB'), resize whole photo to {s}x{s} "
            "(Image.BILINEAR), float32 RGB, x/255 - 0.5 (in float32)",
}


# ----------------------------------------------------------------------------
# Caffe-style building blocks
# ----------------------------------------------------------------------------

def maxpool_caffe(x, k, s, p=0):
    return F.max_pool2d(x, k, s, p, ceil_mode=True)


def lrn(x, n, alpha, beta, k):
    # x / (k + alpha/n * sum_{window of n channels} x^2)^beta
    return F.local_response_norm(x, n, alpha=alpha, beta=beta, k=k)


def lrn_loop(x, n, alpha, beta, k):
    x = x.double()
    C = x.shape[1]
    out = torch.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - n // 2), min(C - 1, c + (n - 1) // 2)
        ssum = (x[:, lo:hi + 1] ** 2).sum(dim=1)
        out[:, c] = x[:, c] / (k + alpha / n * ssum) ** beta
    return out


def caffe_pool_size(h, k, s, p):
    o = int(math.ceil((h + 2 * p - k) / s)) + 1
    if p > 0 and (o - 1) * s >= h + p:
        o -= 1
    return o


def self_checks():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 7, 3, 4, generator=g, dtype=torch.float64) * 3
    for (n, a, b, k) in [(5, 1e-4, 0.75, 1.0), (5, 5e-4, 0.75, 2.0),
                         (5, 0.5, 0.75, 1.0), (3, 2.0, 0.6, 1.5)]:
        d = (lrn(x, n, a, b, k) - lrn_loop(x, n, a, b, k)).abs().max().item()
        assert d < 1e-12, ("LRN mismatch", n, a, b, k, d)
    for h in range(5, 120):
        for (k, s, p) in [(3, 2, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0)]:
            y = maxpool_caffe(torch.zeros(1, 1, h, h), k, s, p)
            assert y.shape[-1] == caffe_pool_size(h, k, s, p), (h, k, s, p)
    print("self-checks: LRN matches explicit loop, ceil pooling sizes match "
          "Caffe's formula")


# ----------------------------------------------------------------------------
# AlexNets (Caffe) from the weight files
# ----------------------------------------------------------------------------

# Not in the weight files (only kernel sizes are, via the weight shapes):
# standard Caffe AlexNet strides and pads.
ALEX_CONV = {"conv1": (4, 0), "conv2": (1, 2), "conv3": (1, 1),
             "conv4": (1, 1), "conv5": (1, 1)}


def split_layer_order(text):
    toks, cur, depth = [], "", 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                toks.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        toks.append(cur)
    out = []
    for t in toks:
        m = re.match(r"^([A-Za-z_0-9]+)(?:\((.*)\))?$", t)
        assert m, t
        out.append((m.group(1), m.group(2)))
    return out


def parse_lrn_params(arg):
    p = {}
    for key in ("n", "alpha", "beta", "k"):
        m = re.search(r"\b" + key + r"=([0-9.eE+\-*]+)", arg)
        assert m, (key, arg)
        v = 1.0
        for f in m.group(1).split("*"):
            v *= float(f)
        p[key] = v
    p["n"] = int(p["n"])
    return p


def alexnet_spec(f):
    groups = json.loads(f.attrs["groups"])
    order = split_layer_order(f.attrs["layer_order"])
    spec, lrn_p = [], None
    for name, arg in order:
        if name.startswith("conv"):
            s, p = ALEX_CONV[name]
            spec.append((name, "Convolution",
                         dict(stride=s, pad=p, group=int(groups[name]))))
        elif name.startswith("relu"):
            spec.append((name, "ReLU", {}))
        elif name.startswith("norm"):
            if arg is not None:
                lrn_p = parse_lrn_params(arg)
            spec.append((name, "LRN", dict(lrn_p)))
        elif name.startswith("pool"):
            k, s = (int(v) for v in arg.split("/"))
            spec.append((name, "Pooling", dict(kernel=k, stride=s, pad=0)))
        else:
            raise ValueError(name)
    return spec


def run_alexnet(spec, params, x, upto=None, record=None):
    for name, typ, a in spec:
        if typ == "Convolution":
            w, b = params[name]
            x = F.conv2d(x, w, b, stride=a["stride"], padding=a["pad"],
                         groups=a["group"])
        elif typ == "ReLU":
            x = F.relu(x)
        elif typ == "LRN":
            x = lrn(x, a["n"], a["alpha"], a["beta"], a["k"])
        elif typ == "Pooling":
            x = maxpool_caffe(x, a["kernel"], a["stride"], a["pad"])
        if record is not None:
            record.append((name, typ, x))
        if name == upto:
            return x
    return x


# ----------------------------------------------------------------------------
# GoogLeNet from its prototxt
# ----------------------------------------------------------------------------

def parse_prototxt(text):
    """Minimal protobuf text-format parser -> nested dicts of lists."""
    tok_re = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}:])|'
                        r'([^\s{}:"#]+))')
    toks, pos = [], 0
    while True:
        m = tok_re.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1):
            continue
        toks.append(m.group(2) or m.group(3) or m.group(4))
    assert text[pos:].strip() == "", "prototxt parse stopped at %d" % pos

    def value(t):
        if t.startswith('"'):
            return t[1:-1]
        try:
            return int(t)
        except ValueError:
            pass
        try:
            return float(t)
        except ValueError:
            return t                                  # enum, e.g. MAX

    def block(i):
        d = {}
        while i < len(toks) and toks[i] != "}":
            key = toks[i]
            i += 1
            if toks[i] == ":":
                i += 1
            if toks[i] == "{":
                v, i = block(i + 1)
                assert toks[i] == "}"
                i += 1
            else:
                v = value(toks[i])
                i += 1
            d.setdefault(key, []).append(v)
        return d, i

    d, i = block(0)
    assert i == len(toks)
    return d


def one(d, key, default=None):
    v = d.get(key)
    if v is None:
        return default
    assert len(v) == 1, (key, v)
    return v[0]


def googlenet_layers(proto_path):
    with open(proto_path) as fp:
        net = parse_prototxt(fp.read())
    layers = []
    for L in net["layer"]:
        typ = one(L, "type")
        if typ == "Input":
            continue
        layers.append(dict(name=one(L, "name"), type=typ,
                           bottom=L.get("bottom", []), top=L.get("top", []),
                           conv=one(L, "convolution_param", {}),
                           pool=one(L, "pooling_param", {}),
                           lrn=one(L, "lrn_param", {}),
                           concat=one(L, "concat_param", {})))
    return layers


def run_googlenet(layers, params, x, upto=None, record=None):
    blobs = {"data": x}
    y = x
    for L in layers:
        name, typ = L["name"], L["type"]
        bot = [blobs[b] for b in L["bottom"]]
        if typ == "Convolution":
            c = L["conv"]
            w, b = params[name]
            k = one(c, "kernel_size")
            assert w.shape[-1] == k and w.shape[0] == one(c, "num_output")
            y = F.conv2d(bot[0], w, b, stride=one(c, "stride", 1),
                         padding=one(c, "pad", 0), groups=one(c, "group", 1))
        elif typ == "ReLU":
            y = F.relu(bot[0])
        elif typ == "Pooling":
            p = L["pool"]
            k, s, pad = one(p, "kernel_size"), one(p, "stride", 1), \
                one(p, "pad", 0)
            if one(p, "pool", "MAX") == "MAX":
                y = maxpool_caffe(bot[0], k, s, pad)
            else:
                assert pad == 0, "AVE pooling with pad not implemented"
                y = F.avg_pool2d(bot[0], k, s, 0, ceil_mode=True)
        elif typ == "LRN":
            p = L["lrn"]
            assert one(p, "norm_region", "ACROSS_CHANNELS") == "ACROSS_CHANNELS"
            y = lrn(bot[0], one(p, "local_size", 5), float(one(p, "alpha", 1.0)),
                    float(one(p, "beta", 0.75)), float(one(p, "k", 1.0)))
        elif typ == "Concat":
            y = torch.cat(bot, dim=one(L["concat"], "axis", 1))
        elif typ == "Dropout":
            y = bot[0]                               # test phase: identity
        elif typ == "InnerProduct":
            w, b = params[name]
            y = F.linear(bot[0].flatten(1), w, b)
        elif typ == "Softmax":
            y = F.softmax(bot[0], dim=1)
        else:
            raise ValueError("unknown layer type " + typ)
        assert len(L["top"]) == 1
        blobs[L["top"][0]] = y
        if record is not None:
            record.append((name, typ, y))
        if name == upto:
            return y
    return y


def load_caffe_params(f, names, dtype):
    params = {}
    for n in names:
        if n in f and isinstance(f[n], h5py.Group) and "weight" in f[n]:
            params[n] = (torch.from_numpy(f[n]["weight"][...]).to(dtype),
                         torch.from_numpy(f[n]["bias"][...]).to(dtype))
    return params


# ----------------------------------------------------------------------------
# torchvision nets with generated weights
# ----------------------------------------------------------------------------

def fill_generated(module, seed, prefix=""):
    for mname, m in module.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            full = prefix + mname
            w = m.weight
            fan_in = int(np.prod(w.shape[1:]))       # in/groups*kh*kw | in
            with torch.no_grad():
                w.copy_(torch.from_numpy(gen_tensor(
                    full + "/weight", tuple(w.shape),
                    math.sqrt(6.0 / fan_in), seed)))
                m.bias.copy_(torch.from_numpy(gen_tensor(
                    full + "/bias", tuple(m.bias.shape), 0.1, seed)))
    for n, p in module.named_parameters():
        mod = n.rsplit(".", 1)[0]
        assert isinstance(module.get_submodule(mod),
                          (torch.nn.Conv2d, torch.nn.Linear)), n


def leaf_modules(model, prefix=""):
    out = []
    for n, m in model.named_modules():
        if n and len(list(m.children())) == 0:
            out.append((prefix + n, m))
    return out


def run_hooked(model, x, prefix=""):
    record = []
    hooks = []
    for name, m in leaf_modules(model, prefix):
        def hook(mod, inp, out, name=name):
            record.append((name, type(mod).__name__, out.detach().clone()))
        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()
    return record, y


# ----------------------------------------------------------------------------
# fixture writing
# ----------------------------------------------------------------------------

def put(group, name, data):
    """gzip-9 dataset in one chunk; the HDF5 shuffle filter only when it
    makes the data smaller."""
    data = np.ascontiguousarray(data)
    raw = data.tobytes()
    shuffled = data.view(np.uint8).reshape(-1, data.itemsize).T.tobytes()
    shuffle = len(zlib.compress(shuffled, 9)) < len(zlib.compress(raw, 9))
    return group.create_dataset(name, data=data, chunks=data.shape,
                                compression="gzip", compression_opts=9,
                                shuffle=shuffle)


def open_for_writing(path):
    """New HDF5 file (latest format) whose groups carry no timestamps, so
    that rerunning the script gives byte-identical files."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl,
                          fcpl=fcpl)
    return h5py.File(fid)


def make_group(parent, path):
    g = parent
    for part in path.split("/"):
        if part in g:
            g = g[part]
            continue
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        g = h5py.Group(h5py.h5g.create(g.id, part.encode("utf-8"),
                                       gcpl=gcpl))
    return g


def str_array(items):
    return np.array([str(t) for t in items], dtype=h5py.string_dtype("utf-8"))


def sample_index(n, net, key, S, full_threshold, seed):
    if n <= full_threshold:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(
        fnv1a64(("sample/%s/%s" % (net, key)).encode()) ^ seed)
    return np.sort(rng.choice(n, size=S, replace=False)).astype(np.int64)


def write_root(h, net, weights, size, prep, S, full_threshold, seed, tv):
    tvs, u64, val = tv
    h.attrs["network"] = net
    h.attrs["weights"] = weights
    h.attrs["torch_version"] = str(torch.__version__)
    h.attrs["torchvision_version"] = str(torchvision.__version__)
    h.attrs["numpy_version"] = str(np.__version__)
    h.attrs["pil_version"] = str(PIL.__version__)
    h.attrs["script"] = SCRIPT_NAME
    h.attrs["input_size"] = np.int64(size)
    h.attrs["images"] = str_array(PHOTOS)
    h.attrs["preprocess"] = prep
    h.attrs["sample_size"] = np.int64(S)
    h.attrs["full_threshold"] = np.int64(full_threshold)
    h.attrs["seed"] = np.uint64(seed)
    h.attrs["generator"] = (
        "s=fnv1a64(utf8(P))^seed; per draw: s+=0x9E3779B97F4A7C15; z=s; "
        "z=(z^(z>>30))*0xBF58476D1CE4E5B9; z=(z^(z>>27))*0x94D049BB133111EB; "
        "z^=z>>31; u=(z>>11)*2^-53; v=(float)((2u-1)*scale) row-major; "
        "scale: weight sqrt(6/fan_in), bias 0.1, upstream 1")
    h.attrs["generator_test_path"] = str_array([t[0] for t in tvs])
    h.attrs["generator_test_seed"] = np.array([t[1] for t in tvs], np.uint64)
    h.attrs["generator_test_scale"] = np.array([t[2] for t in tvs], np.float64)
    h.attrs["generator_test_u64"] = u64
    h.attrs["generator_test_value"] = val


def write_acts(h, net, rec32, rec64, S, full_threshold, seed):
    names = [r[0] for r in rec32]
    assert len(set(names)) == len(names), "duplicate layer names"
    assert [r[0] for r in rec64] == names
    h.create_dataset("layer_names", data=np.array(names, dtype=object),
                     dtype=h5py.string_dtype("utf-8"))
    h.create_dataset("layer_types", data=np.array([r[1] for r in rec32],
                                                  dtype=object),
                     dtype=h5py.string_dtype("utf-8"))
    shapes = []
    for (name, typ, a), (_, _, a64) in zip(rec32, rec64):
        a = a.detach().float()
        shape = tuple(a.shape[1:])
        flat = a.reshape(a.shape[0], -1).numpy()
        flat64 = a64.detach().double().reshape(a.shape[0], -1).numpy()
        idx = sample_index(flat.shape[1], net, name, S, full_threshold, seed)
        g = make_group(h, "act/" + name)
        g.attrs["shape"] = np.array(shape, dtype=np.int64)
        g.attrs["type"] = typ
        d = flat.astype(np.float64)
        g.attrs["sum"] = d.sum(axis=1)
        g.attrs["sumsq"] = (d * d).sum(axis=1)
        g.attrs["max_abs"] = np.abs(d).max(axis=1)
        g.attrs["f64_max_abs_diff"] = np.abs(d - flat64).max(axis=1)
        put(g, "index", idx)
        put(g, "value", flat[:, idx])
        shapes.append((name, shape))
    return shapes


def input_gradients(fwd32, fwd64, x, layer, act_shape, seed):
    """fwd(x) -> activation of `layer`; returns (g32, g64) of shape
    (2, K, 3, H, W)."""
    N = x.shape[0]
    ups = np.stack([np.stack([gen_tensor("upstream/%s/%d/%d" % (layer, k, i),
                                         act_shape, 1.0, seed)
                              for i in range(N)]) for k in range(K_UPSTREAM)])
    out = []
    for fwd, dt in ((fwd32, torch.float32), (fwd64, torch.float64)):
        xi = x.to(dt).clone().requires_grad_(True)
        act = fwd(xi)
        assert tuple(act.shape[1:]) == tuple(act_shape)
        gs = []
        for k in range(K_UPSTREAM):
            up = torch.from_numpy(ups[k]).to(dt)
            (g,) = torch.autograd.grad((act * up).sum(), xi,
                                       retain_graph=k < K_UPSTREAM - 1)
            gs.append(g.detach())
        out.append(torch.stack(gs, dim=1))           # (N, K, 3, H, W)
    return out


def write_grad(h, net, layer, act_shape, g32, g64, seed):
    N, K = g32.shape[:2]
    shape = tuple(g32.shape[2:])
    flat = g32.reshape(N, K, -1).float().numpy()
    flat64 = g64.reshape(N, K, -1).double().numpy()
    idx = sample_index(flat.shape[2], net, "grad/" + layer, GRAD_S, GRAD_S,
                       seed)
    g = make_group(h, "grad/" + layer)
    g.attrs["shape"] = np.array(shape, dtype=np.int64)
    g.attrs["layer"] = layer
    g.attrs["K"] = np.int64(K)
    g.attrs["upstream_scale"] = 1.0
    g.attrs["upstream_path"] = "upstream/%s/<k>/<image>" % layer
    g.attrs["upstream_shape"] = np.array(act_shape, dtype=np.int64)
    d = flat.astype(np.float64)
    g.attrs["sum"] = d.sum(axis=2)
    g.attrs["sumsq"] = (d * d).sum(axis=2)
    g.attrs["max_abs"] = np.abs(d).max(axis=2)
    g.attrs["f64_max_abs_diff"] = np.abs(d - flat64).max(axis=2)
    put(g, "index", idx)
    put(g, "value", flat[:, :, idx])
    # Elements whose float32 value is far from the float64 one: a ReLU input
    # or a max-pooling near-tie that rounding resolves differently.  Another
    # float32 implementation may land on either side there.
    mx64 = np.abs(flat64).max(axis=2, keepdims=True)
    unstable = np.abs(d - flat64) > UNSTABLE_REL * mx64
    g.attrs["unstable_threshold"] = UNSTABLE_REL
    g.attrs["unstable_count"] = unstable.sum(axis=2).astype(np.int64)
    put(g, "unstable", unstable[:, :, idx].astype(np.uint8))
    rel = (np.abs(d - flat64).max() / np.abs(flat64).max())
    print("  grad %-22s max|g|=%.4g  float32 vs float64: max abs diff %.3g "
          "(%.2g of max); unstable (>%g of max) full %s, sampled %s" %
          (layer, np.abs(flat64).max(), np.abs(d - flat64).max(), rel,
           UNSTABLE_REL, unstable.sum(axis=2).tolist(),
           unstable[:, :, idx].sum(axis=2).tolist()))


# ----------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------

SIZE_OF = {}


def make_caffe_alexnet(net, wfile, ctx):
    path = os.path.join(ctx.data, "weights", wfile)
    with h5py.File(path, "r") as f:
        size = int(f.attrs["input_size"])
        spec = alexnet_spec(f)
        names = [s[0] for s in spec if s[1] == "Convolution"]
        p32 = load_caffe_params(f, names, torch.float32)
        p64 = load_caffe_params(f, names, torch.float64)
        order = f.attrs["channel_order"]
        if "mean_image" in f:
            assert order == "RGB"
            mean_image = f["mean_image"][...].astype(np.float32)
            xs = [prep_uoguelph(im, mean_image, size) for im in ctx.photos]
            prep = PREP_TEXT["uoguelph"].format(s=size)
        else:
            assert order == "BGR"
            mean = f.attrs["mean_bgr"]
            xs = [prep_caffe_bgr(im, size, mean, "whole") for im in ctx.photos]
            prep = PREP_TEXT["caffe-whole"].format(
                s=size, m=",".join("%g" % v for v in mean))
    x = torch.from_numpy(np.stack(xs))
    rec32, rec64 = [], []
    with torch.no_grad():
        run_alexnet(spec, p32, x, record=rec32)
        run_alexnet(spec, p64, x.double(), record=rec64)
    grads = []
    shapes = {n: tuple(a.shape[1:]) for n, _, a in rec32}
    for G in ("pool2", "conv5"):
        g32, g64 = input_gradients(
            lambda xi: run_alexnet(spec, p32, xi, upto=G),
            lambda xi: run_alexnet(spec, p64, xi, upto=G),
            x, G, shapes[G], ctx.seed)
        grads.append((G, g32, g64))
    return dict(net=net, weights=wfile, size=size, prep=prep, x=x,
                rec32=rec32, rec64=rec64, grads=grads,
                S=ctx.alex_S.get(net, 4096), full=4096)


def make_googlenet(ctx):
    path = os.path.join(ctx.data, "weights", "googlenet-bvlc.h5")
    layers = googlenet_layers(os.path.join(ctx.data, "weights",
                                           "googlenet-bvlc.prototxt"))
    with h5py.File(path, "r") as f:
        size = int(f.attrs["input_size"])
        mean = f.attrs["mean_bgr"]
        assert f.attrs["channel_order"] == "BGR"
        names = [L["name"] for L in layers]
        p32 = load_caffe_params(f, names, torch.float32)
        p64 = load_caffe_params(f, names, torch.float64)
        labels = [s.decode("utf-8") if isinstance(s, bytes) else str(s)
                  for s in f["labels"][...]]
    nparam = sum(1 for L in layers if L["type"] in ("Convolution",
                                                     "InnerProduct"))
    assert len(p32) == nparam, (len(p32), nparam)
    xs = [prep_caffe_bgr(im, size, mean, "short") for im in ctx.photos]
    x = torch.from_numpy(np.stack(xs))
    rec32, rec64 = [], []
    with torch.no_grad():
        run_googlenet(layers, p32, x, record=rec32)
        run_googlenet(layers, p64, x.double(), record=rec64)
    shapes = {n: tuple(a.shape[1:]) for n, _, a in rec32}
    G = "inception_4a/output"
    g32, g64 = input_gradients(
        lambda xi: run_googlenet(layers, p32, xi, upto=G),
        lambda xi: run_googlenet(layers, p64, xi, upto=G),
        x, G, shapes[G], ctx.seed)
    ctx.googlenet = (layers, p32, labels, size, mean)
    return dict(net="googlenet-bvlc", weights="googlenet-bvlc.h5 + "
                "googlenet-bvlc.prototxt", size=size,
                prep=PREP_TEXT["caffe-short"].format(
                    s=size, m=",".join("%g" % v for v in mean)), x=x,
                rec32=rec32, rec64=rec64, grads=[(G, g32, g64)],
                S=ctx.gnet_S, full=ctx.gnet_full)


def make_tv_alexnet(ctx):
    size = 224
    model = torchvision.models.alexnet(weights=None)
    fill_generated(model, ctx.seed)
    model.eval()
    model64 = copy.deepcopy(model).double()
    x = torch.from_numpy(np.stack([prep_unit(im, size) for im in ctx.photos]))
    rec32, y = run_hooked(model, x)
    rec64, y64 = run_hooked(model64, x.double())
    # the hooks saw torchvision's own forward; check the final output too
    assert torch.equal(rec32[-1][2], y)
    assert [r[0] for r in rec32] == (["features.%d" % i for i in range(13)] +
                                     ["avgpool"] +
                                     ["classifier.%d" % i for i in range(7)])
    shapes = {n: tuple(a.shape[1:]) for n, _, a in rec32}
    grads = []
    for G, upto in (("features.5", 6), ("features.12", 13)):
        g32, g64 = input_gradients(lambda xi: model.features[:upto](xi),
                                   lambda xi: model64.features[:upto](xi),
                                   x, G, shapes[G], ctx.seed)
        grads.append((G, g32, g64))
    return dict(net="torchvision-alexnet", weights="generated seed=%d" %
                ctx.seed, size=size, prep=PREP_TEXT["unit"].format(s=size),
                x=x, rec32=rec32, rec64=rec64, grads=grads, S=4096, full=4096)


def make_vgg16(ctx):
    size = 64
    full_model = torchvision.models.vgg16(weights=None)
    model = full_model.features
    del full_model
    fill_generated(model, ctx.seed, prefix="features.")
    model.eval()
    model64 = copy.deepcopy(model).double()
    x = torch.from_numpy(np.stack([prep_unit(im, size) for im in ctx.photos]))
    rec32, y = run_hooked(model, x, prefix="features.")
    rec64, _ = run_hooked(model64, x.double(), prefix="features.")
    assert torch.equal(rec32[-1][2], y)
    assert [r[0] for r in rec32] == ["features.%d" % i for i in range(31)]
    shapes = {n: tuple(a.shape[1:]) for n, _, a in rec32}
    grads = []
    for G, upto in (("features.9", 10), ("features.16", 17)):
        g32, g64 = input_gradients(lambda xi: model[:upto](xi),
                                   lambda xi: model64[:upto](xi),
                                   x, G, shapes[G], ctx.seed)
        grads.append((G, g32, g64))
    return dict(net="vgg16", weights="generated seed=%d" % ctx.seed,
                size=size, prep=PREP_TEXT["unit"].format(s=size), x=x,
                rec32=rec32, rec64=rec64, grads=grads, S=4096, full=4096)


def write_fixture(ctx, r):
    path = os.path.join(ctx.out, r["net"] + ".h5")
    tmp = path + ".tmp.h5"
    with open_for_writing(tmp) as h:
        write_root(h, r["net"], r["weights"], r["size"], r["prep"], r["S"],
                   r["full"], ctx.seed, ctx.tv)
        put(h, "input", r["x"].numpy().astype(np.float32))
        shapes = write_acts(h, r["net"], r["rec32"], r["rec64"], r["S"],
                            r["full"], ctx.seed)
        for G, g32, g64 in r["grads"]:
            write_grad(h, r["net"], G, dict(shapes)[G], g32, g64, ctx.seed)
    os.replace(tmp, path)
    SIZE_OF[r["net"]] = os.path.getsize(path)
    print("  wrote %s (%d layers, %.0f kB)" % (path, len(shapes),
                                               SIZE_OF[r["net"]] / 1024))
    return shapes


def classify_all(ctx):
    layers, p32, labels, size, mean = ctx.googlenet
    imdir = os.path.join(ctx.data, "images")
    files = sorted(f for f in os.listdir(imdir)
                   if f.lower().endswith((".png", ".jpg", ".jpeg")))
    x = torch.from_numpy(np.stack([
        prep_caffe_bgr(load_rgb(os.path.join(imdir, f)), size, mean, "short")
        for f in files]))
    with torch.no_grad():
        prob = run_googlenet(layers, p32, x).numpy()
    path = os.path.join(ctx.out, "googlenet-classify.csv")
    top1 = []
    with open(path, "w", newline="") as fp:
        w = csv.writer(fp, lineterminator="\n")
        w.writerow(["file", "rank", "class_index", "label", "probability"])
        for f, p in zip(files, prob):
            order = np.argsort(-p, kind="stable")[:5]
            for r, c in enumerate(order):
                w.writerow([f, r + 1, int(c), labels[c], "%.6f" % p[c]])
            top1.append((f, int(order[0]), labels[order[0]], p[order[0]]))
    print("\nGoogLeNet top-1 (%s):" % path)
    for f, c, lab, p in top1:
        print("  %-20s %4d  %.4f  %s" % (f, c, p, lab))
    return top1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, "tests", "fixtures",
                                                  "cnn"))
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--only", default="",
                    help="comma-separated subset of: alexnet-bvlc, "
                    "alexnet-uoguelph, googlenet-bvlc, torchvision-alexnet, "
                    "vgg16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    class Ctx:
        pass
    ctx = Ctx()
    ctx.data = os.environ.get("DEEPTUNE_DATA") or \
        os.path.join(repo, "..", "shared", "data")
    ctx.data = os.path.abspath(ctx.data)
    ctx.out = os.path.abspath(args.out)
    ctx.seed = args.seed & M64
    # Sample sizes keep every file below ~1.5 MB: GoogLeNet has 142 layers,
    # and alexnet-uoguelph's input (RGB minus a float mean image) hardly
    # compresses.  Input gradients are always sampled at GRAD_S indices.
    ctx.gnet_S, ctx.gnet_full = 1024, 1024
    ctx.alex_S = {"alexnet-uoguelph": 3072}
    os.makedirs(ctx.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    t0 = time.time()
    self_checks()
    ctx.tv = generator_test_vectors(ctx.seed)
    print("generator test vectors:")
    for (p, sd, sc), u, v in zip(*ctx.tv):
        print("  %-22s seed=%-9d scale=%.17g\n    z = %s\n    v = %s" %
              (p, sd, sc, " ".join("0x%016x" % int(t) for t in u),
               " ".join("%.17g" % t for t in v)))
    ctx.photos = [load_rgb(os.path.join(ctx.data, "images", p))
                  for p in PHOTOS]

    makers = [("alexnet-bvlc", lambda: make_caffe_alexnet(
                   "alexnet-bvlc", "alexnet-bvlc-int8.h5", ctx)),
              ("alexnet-uoguelph", lambda: make_caffe_alexnet(
                  "alexnet-uoguelph", "alexnet-uoguelph.h5", ctx)),
              ("googlenet-bvlc", lambda: make_googlenet(ctx)),
              ("torchvision-alexnet", lambda: make_tv_alexnet(ctx)),
              ("vgg16", lambda: make_vgg16(ctx))]
    only = set(s for s in args.only.split(",") if s)
    for name, mk in makers:
        if only and name not in only:
            continue
        t1 = time.time()
        print("\n%s" % name)
        r = mk()
        shapes = write_fixture(ctx, r)
        for n, s in shapes:
            print("    %-32s %s" % (n, "x".join(map(str, s))))
        print("  %.1f s" % (time.time() - t1))
        if name == "googlenet-bvlc":
            classify_all(ctx)
        del r
    print("\nsizes:")
    for n, s in SIZE_OF.items():
        print("  %-22s %8.0f kB" % (n + ".h5", s / 1024))
    print("total %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
