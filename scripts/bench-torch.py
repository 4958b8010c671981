#!/usr/bin/python3
"""PyTorch CPU peer for deeptune's `make bench`.

Measures, in float32 on the CPU, the same things the C benchmarks measure so
that the two can be compared as ratios:

  features_pool5   Caffe BVLC AlexNet conv1..pool5, 227x227, batch 64,
                   forward under torch.no_grad()                  images/s
  features_pool2   the same, conv1..pool2                          images/s
  grad1_pool2      one image (batch 1): forward to pool2 plus the input
                   gradient for one upstream gradient (256x13x13)   steps/s
  grad18_pool2     one image: forward to pool2 plus the 18 input gradients
                   for 18 upstream gradients, best of the variants  steps/s
  grad18_pool2_<v> each variant that works:                         steps/s
                     vmap   torch.autograd.grad(..., is_grads_batched=True)
                     batch  forward of 18 copies, one backward with the 18
                            upstream gradients
                     loop   one forward, 18 backward calls (retain_graph)
                     functorch  functorch.vjp once, functorch.vmap of the
                            vjp function over the 18 upstream gradients
                     (torch 1.13's vmap falls back to a per-sample loop for
                     the backward of conv, max-pool and LRN; the ops that do
                     are listed in a comment line)
  tv_alexnet_features_pool5
                   torchvision AlexNet `features` (conv1..pool5), 224x224,
                   batch 64, no_grad (reference point)            images/s

Usage:
    scripts/bench-torch.py [--threads T] [--seconds S] [--quick]

    DEEPTUNE_DATA  shared data directory (default: <repo>/../shared/data)
    --threads      torch.set_num_threads(T) (default 2); inter-op threads 1
    --seconds      time each measurement for at least S seconds (default 3)
    --quick        smoke test: batch 8 instead of 64 for the features cases,
                   1 warm-up, S = 0.2 s unless --seconds is given (the
                   numbers are not comparable with a full run)

Output (stdout): one line per measurement, exactly
    torch <key> <value> <unit>
plus comment lines starting with '#'.

Timing: after the warm-up iterations, each measurement runs iterations until
at least S seconds have passed (and at least 3 iterations, 1 with --quick).
The reported value is the MEDIAN of the per-iteration rates (work of one
iteration / wall time of that iteration), which is robust to the odd
iteration slowed by other processes; the comment line after each measurement
also gives total work / total time and the min..max of the rates.

Needs Debian's python3-torch, python3-h5py, python3-numpy (and
python3-torchvision for the reference point); run it with /usr/bin/python3.
"""

import argparse
import os
import re
import statistics
import sys
import time
import warnings

import h5py
import numpy as np
import torch
import torch.nn.functional as F

BATCH = 64
SIZE = 227
TV_SIZE = 224
K_GRAD = 18
SEED = 20181218

# Caffe BVLC AlexNet, conv1..pool5.  (name, kind, args); conv args are
# (stride, pad, groups); the kernel sizes come from the weight shapes.
ALEXNET = [
    ("conv1", "conv", (4, 0, 1)), ("relu1", "relu", None),
    ("norm1", "lrn", None), ("pool1", "pool", None),
    ("conv2", "conv", (1, 2, 2)), ("relu2", "relu", None),
    ("norm2", "lrn", None), ("pool2", "pool", None),
    ("conv3", "conv", (1, 1, 1)), ("relu3", "relu", None),
    ("conv4", "conv", (1, 1, 2)), ("relu4", "relu", None),
    ("conv5", "conv", (1, 1, 2)), ("relu5", "relu", None),
    ("pool5", "pool", None),
]
# LRN across channels, Caffe formula x / (k + alpha/n * sum x^2)^beta, which is
# exactly F.local_response_norm.
LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)


def out(key, value, unit):
    print("torch %s %.3f %s" % (key, value, unit), flush=True)


def comment(text):
    print("# " + text, flush=True)


# ----------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------

def load_alexnet(path):
    params = {}
    with h5py.File(path, "r") as f:
        for name, kind, _ in ALEXNET:
            if kind == "conv":
                w = torch.from_numpy(np.ascontiguousarray(
                    f[name]["weight"][...], dtype=np.float32))
                b = torch.from_numpy(np.ascontiguousarray(
                    f[name]["bias"][...], dtype=np.float32))
                params[name] = (w.requires_grad_(False),
                                b.requires_grad_(False))
    return params


def alexnet(params, x, upto, macs=None):
    """Caffe AlexNet forward from conv1 to layer `upto`.  If `macs` is a list,
    the multiply-adds per image of every convolution are appended to it."""
    for name, kind, a in ALEXNET:
        if kind == "conv":
            w, b = params[name]
            s, p, g = a
            x = F.conv2d(x, w, b, stride=s, padding=p, groups=g)
            if macs is not None:
                # each output element: in_channels/groups * kh * kw MACs
                macs.append(x[0].numel() * w.shape[1] * w.shape[2] *
                            w.shape[3])
        elif kind == "relu":
            x = F.relu(x)
        elif kind == "lrn":
            x = F.local_response_norm(x, **LRN)
        elif kind == "pool":
            x = F.max_pool2d(x, 3, 2, 0, ceil_mode=True)
        if name == upto:
            return x
    raise ValueError(upto)


def conv_macs_hooked(module, x):
    """Multiply-adds per image of the nn.Conv2d layers of `module` on x."""
    macs, hooks = [], []

    def hook(mod, inp, outp):
        macs.append(outp[0].numel() * mod.in_channels // mod.groups *
                    mod.kernel_size[0] * mod.kernel_size[1])

    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return sum(macs)


# ----------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------

def cpu_seconds():
    """(busy CPU seconds of the whole machine, CPU seconds of this process)
    so far; the machine's figure is None where /proc/stat is missing."""
    t = os.times()
    own = t.user + t.system
    try:
        with open("/proc/stat") as f:
            v = [int(a) for a in f.readline().split()[1:9]]
        busy = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = None
    return busy, own


OTHER_LOAD_WARN = 0.1       # cores used by other processes during a timing
contended = []              # measurements where that was exceeded


class Timer:
    def __init__(self, seconds, warmup, min_iters):
        self.seconds, self.warmup, self.min_iters = seconds, warmup, min_iters

    def run(self, fn, work):
        """Median of per-iteration rates work/dt; see the module docstring."""
        for _ in range(self.warmup):
            fn()
        rates, total = [], 0.0
        busy0, own0 = cpu_seconds()
        wall0 = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            rates.append(work / dt)
            total += dt
            if total >= self.seconds and len(rates) >= self.min_iters:
                break
        busy1, own1 = cpu_seconds()
        wall = time.perf_counter() - wall0
        other = None
        if busy0 is not None and busy1 is not None:
            # CPU time of other processes, in cores, while this one was timed
            other = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
        return dict(median=statistics.median(rates), n=len(rates),
                    mean=work * len(rates) / total, lo=min(rates),
                    hi=max(rates), seconds=total, other=other)


def describe(key, r, unit, extra=""):
    load = ""
    if r["other"] is not None:
        load = ", other processes used %.2f cores" % r["other"]
        if r["other"] > OTHER_LOAD_WARN:
            contended.append(key)
    comment("%s: %d iterations in %.2f s, median %.3f, total work/time %.3f, "
            "range %.3f..%.3f %s%s%s" % (key, r["n"], r["seconds"],
                                         r["median"], r["mean"], r["lo"],
                                         r["hi"], unit, extra, load))


# ----------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------

def bench_features(timer, params, gen, batch):
    x = (torch.rand(batch, 3, SIZE, SIZE, generator=gen) * 255 - 120)
    for upto in ("pool5", "pool2"):
        macs = []
        with torch.no_grad():
            y = alexnet(params, x[:1], upto, macs)
        flops = 2.0 * sum(macs)          # per image

        def step():
            with torch.no_grad():
                alexnet(params, x, upto)

        r = timer.run(step, batch)
        key = "features_" + upto
        out(key, r["median"], "images/s")
        describe(key, r, "images/s")
        comment("%s: output %s per image, conv MACs per image %.1f M "
                "(%s), %.3f GFLOP/image, %.2f GFLOP/s" %
                (key, "x".join(map(str, y.shape[1:])), sum(macs) / 1e6,
                 "+".join("%.1f" % (m / 1e6) for m in macs), flops / 1e9,
                 flops * r["median"] / 1e9))


def bench_grad1(timer, params, gen, upstreams):
    x = (torch.rand(1, 3, SIZE, SIZE, generator=gen) * 255 - 120)
    x.requires_grad_(True)
    up = upstreams[0:1]

    def step():
        x.grad = None
        y = alexnet(params, x, "pool2")
        y.backward(up)
        return x.grad

    g = step()
    assert g is not None and g.shape == x.shape
    r = timer.run(step, 1)
    out("grad1_pool2", r["median"], "steps/s")
    describe("grad1_pool2", r, "steps/s")
    return x.detach()


def grad18_variants(params, x0, ups):
    """Each variant: a function computing one forward of the image x0 and
    the K input gradients (K, 3, H, W) for the K upstream gradients `ups`
    (K, 256, 13, 13)."""
    K = ups.shape[0]
    ups_b = ups.unsqueeze(1)              # (K, 1, C, H, W) for vmap

    def vmap():
        x = x0.detach().requires_grad_(True)
        y = alexnet(params, x, "pool2")
        (g,) = torch.autograd.grad(y, x, ups_b, is_grads_batched=True)
        return g.squeeze(1)

    def batch():
        x = x0.detach().expand(K, -1, -1, -1).contiguous()
        x.requires_grad_(True)
        y = alexnet(params, x, "pool2")
        y.backward(ups)
        return x.grad

    def loop():
        x = x0.detach().requires_grad_(True)
        y = alexnet(params, x, "pool2")
        gs = []
        for k in range(K):
            (g,) = torch.autograd.grad(y, x, ups[k:k + 1],
                                       retain_graph=k < K - 1)
            gs.append(g[0])
        return torch.stack(gs)

    def functorch_vmap():
        import functorch
        _, vjp_fn = functorch.vjp(lambda x: alexnet(params, x, "pool2"),
                                  x0.detach())
        (g,) = functorch.vmap(vjp_fn)(ups_b)
        return g.squeeze(1)

    return [("vmap", vmap), ("batch", batch), ("loop", loop),
            ("functorch", functorch_vmap)]


def vmap_fallback_warnings(on):
    """Turn on/off the warnings naming the ops for which vmap has no
    batching rule (and loops over the batch instead)."""
    try:
        torch._C._debug_only_display_vmap_fallback_warnings(on)
    except AttributeError:
        pass
    try:
        import functorch
        functorch._C._set_vmap_fallback_warning_enabled(on)
    except (ImportError, AttributeError):
        pass


def bench_grad18(timer, params, x0, upstreams):
    ups = upstreams[:K_GRAD]
    # reference gradients, one plain backward per upstream gradient
    ref = grad18_variants(params, x0, ups)[2][1]()
    scale = ref.abs().max().item()
    results = {}
    for name, fn in grad18_variants(params, x0, ups):
        key = "grad18_pool2_" + name
        try:
            with warnings.catch_warnings(record=True) as wlist:
                warnings.simplefilter("always")
                vmap_fallback_warnings(True)
                try:
                    g = fn()
                finally:
                    vmap_fallback_warnings(False)
            err = (g - ref).abs().max().item() / scale
            if tuple(g.shape) != tuple(ref.shape) or not err < 1e-4:
                comment("%s: wrong result (shape %s, max rel diff %.3g), "
                        "skipped" % (key, tuple(g.shape), err))
                continue
            fallback, other = [], []
            for w in wlist:
                msg = " ".join(str(w.message).split())
                m = re.search(r"batching rule for (\S+?)\.? ", msg)
                if m:
                    if m.group(1) not in fallback:
                        fallback.append(m.group(1))
                elif msg not in other:
                    other.append(msg)
            if fallback:
                comment("%s: no vmap batching rule (per-sample loop) for: %s"
                        % (key, " ".join(fallback)))
            for msg in other:
                comment("%s: warning: %s" % (key, msg[:300]))
            r = timer.run(fn, 1)
        except Exception as e:         # e.g. a missing vmap batching rule
            msg = " ".join(("%s: %s" % (type(e).__name__, e)).split())
            comment("%s: failed: %s" % (key, msg[:300]))
            continue
        results[name] = r
        out(key, r["median"], "steps/s")
        describe(key, r, "steps/s",
                 ", max rel diff to loop %.2g" % err)
    if not results:
        comment("grad18_pool2: no variant worked")
        return
    best = max(results, key=lambda n: results[n]["median"])
    out("grad18_pool2", results[best]["median"], "steps/s")
    comment("grad18_pool2: best variant %s (%s)" % (best, ", ".join(
        "%s %.3f" % (n, results[n]["median"]) for n in results)))


def bench_tv_alexnet(timer, gen, batch):
    try:
        import torchvision
    except ImportError as e:
        comment("tv_alexnet_features_pool5: torchvision missing (%s)" % e)
        return
    model = torchvision.models.alexnet(weights=None).features.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(batch, 3, TV_SIZE, TV_SIZE, generator=gen) * 2 - 1
    flops = 2.0 * conv_macs_hooked(model, x[:1])

    def step():
        with torch.no_grad():
            model(x)

    r = timer.run(step, batch)
    key = "tv_alexnet_features_pool5"
    out(key, r["median"], "images/s")
    describe(key, r, "images/s")
    comment("%s: torchvision %s, %.3f GFLOP/image, %.2f GFLOP/s" %
            (key, torchvision.__version__, flops / 1e9,
             flops * r["median"] / 1e9))


# ----------------------------------------------------------------------------

def cpu_capability():
    m = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return m.group(1) if m else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.threads < 1:
        ap.error("--threads must be >= 1")

    # before any parallel work
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    seconds = args.seconds
    if seconds is None:
        seconds = 0.2 if args.quick else 3.0
    timer = Timer(seconds, warmup=1 if args.quick else 2,
                  min_iters=1 if args.quick else 3)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.environ.get("DEEPTUNE_DATA") or os.path.join(root, "..",
                                                           "shared", "data")
    wpath = os.path.join(data, "weights", "alexnet-bvlc-int8.h5")
    if not os.path.exists(wpath):
        sys.exit("bench-torch: %s not found (set DEEPTUNE_DATA)" % wpath)

    comment("bench-torch.py: torch %s, numpy %s, h5py %s, python %s" %
            (torch.__version__, np.__version__, h5py.__version__,
             sys.version.split()[0]))
    comment("threads %d (intra-op), inter-op %d, mkldnn %s, cpu capability "
            "%s, cores %s" % (torch.get_num_threads(),
                              torch.get_num_interop_threads(),
                              torch.backends.mkldnn.is_available() and
                              torch.backends.mkldnn.enabled,
                              cpu_capability(),
                              os.cpu_count()))
    batch = 8 if args.quick else BATCH
    comment("float32; %s; features batch %d; at least %g s per measurement "
            "after %d warm-up iterations; value = median of per-iteration "
            "rates" % ("QUICK smoke test" if args.quick else "full run",
                       batch, seconds, timer.warmup))
    comment("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    t_start = time.perf_counter()

    gen = torch.Generator().manual_seed(SEED)
    params = load_alexnet(wpath)
    upstreams = torch.rand(K_GRAD, 256, 13, 13, generator=gen) * 2 - 1

    bench_features(timer, params, gen, batch)
    x0 = bench_grad1(timer, params, gen, upstreams)
    bench_grad18(timer, params, x0, upstreams)
    bench_tv_alexnet(timer, gen, batch)

    comment("load average at end: %.2f %.2f %.2f; total %.1f s" %
            (os.getloadavg() + (time.perf_counter() - t_start,)))
    if contended:
        comment("WARNING: other processes used more than %g cores while "
                "timing %s: those numbers are unreliable, measure again on "
                "an idle machine" % (OTHER_LOAD_WARN, ", ".join(contended)))


if __name__ == "__main__":
    main()
