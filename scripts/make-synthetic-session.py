#!/usr/bin/python3
"""Write a small synthetic recording session in every input form that
`deeptune import` reads, for the import tests.

  scripts/make-synthetic-session.py OUTDIR [SEED]

OUTDIR/images/image{1..12}.png   RGB 16x12 random images
OUTDIR/images.zip                the same PNGs inside a folder "stim/"
OUTDIR/responses.npy             float32, neurons x stimuli, Fortran order, NaNs
OUTDIR/responses.csv             stimuli x neurons with a header row
OUTDIR/responses.h5              dataset /data/resp, stimuli x neurons, float64
OUTDIR/trials.npy                neurons x stimuli x repeats (NaN-padded,
                                 unequal repeat counts); responses = nanmean
OUTDIR/trials.csv                the same trials as rows stimulus,neuron,response
OUTDIR/split.txt, neuron_ids.txt
OUTDIR/mixed/                    images of different sizes, one grayscale
OUTDIR/truth.npz                 what the dataset must contain
"""
import io
import os
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = np.random.default_rng(seed)
N, M, R, H, W = 12, 5, 4, 12, 16
os.makedirs(os.path.join(out, "images"), exist_ok=True)
os.makedirs(os.path.join(out, "mixed"), exist_ok=True)

stim = rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8)
with zipfile.ZipFile(os.path.join(out, "images.zip"), "w", compression=zipfile.ZIP_DEFLATED) as z:
    for i in range(N):
        b = io.BytesIO()
        Image.fromarray(stim[i]).save(b, format="PNG")
        with open(os.path.join(out, "images", f"image{i + 1}.png"), "wb") as f:
            f.write(b.getvalue())
        z.writestr(f"stim/image{i + 1}.png", b.getvalue())

trials = rng.poisson(3.0, (M, N, R)).astype(np.float64)
nrep = rng.integers(1, R + 1, (M, N))          # unequal repeat counts
for j in range(M):
    for i in range(N):
        trials[j, i, nrep[j, i]:] = np.nan
trials[2, 5, :] = np.nan                         # neuron 2 not recorded on stimulus 5
resp_ns = np.array(
    [[np.mean(trials[j, i, :nrep[j, i]]) if j != 2 or i != 5 else np.nan for i in range(N)] for j in range(M)])
np.save(os.path.join(out, "responses.npy"), np.asfortranarray(resp_ns.astype(np.float32)))
np.save(os.path.join(out, "trials.npy"), trials)
resp_sn = resp_ns.T.astype(np.float32).astype(np.float64)
with open(os.path.join(out, "responses.csv"), "w") as f:
    f.write(",".join(f"n{j}" for j in range(M)) + "\n")
    for i in range(N):
        f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in resp_sn[i]) + "\n")
with h5py.File(os.path.join(out, "responses.h5"), "w") as f:
    f["data/resp"] = resp_sn
with open(os.path.join(out, "trials.csv"), "w") as f:
    f.write("stimulus,neuron,response\n")
    for i in range(N):
        for j in range(M):
            for k in range(nrep[j, i]):
                if not np.isnan(trials[j, i, k]):
                    f.write(f"{i},{j},{trials[j, i, k]}\n")
split = (np.arange(N) % 4 == 3).astype(np.uint8)
with open(os.path.join(out, "split.txt"), "w") as f:
    f.write("\n".join("test" if s else "train" for s in split) + "\n")
ids = [f"unit-{100 + j}" for j in range(M)]
with open(os.path.join(out, "neuron_ids.txt"), "w") as f:
    f.write("\n".join(ids) + "\n")

Image.fromarray(stim[0]).save(os.path.join(out, "mixed", "a1.png"))
Image.fromarray(rng.integers(0, 256, (20, 10, 3), dtype=np.uint8)).save(os.path.join(out, "mixed", "a2.png"))
Image.fromarray(rng.integers(0, 256, (12, 16), dtype=np.uint8)).save(os.path.join(out, "mixed", "a3.png"))

np.savez(os.path.join(out, "truth.npz"), stimuli=stim, responses=resp_sn, trials=np.transpose(trials, (1, 0, 2)),
         split=split, neuron_ids=np.array(ids), names=np.array([f"image{i + 1}.png" for i in range(N)]))
