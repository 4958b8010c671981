#!/bin/bash
# deeptune cluster end to end on the tiny network (the chain test that the
# clusters recover planted neuron types is cli_cluster_chain.sh, on AlexNet:
# this random network is too rough to optimise reliably).  Checks: the
# linkage, cophenetic correlation and cut equal SciPy's on the embedding the
# file stores; stability statistics are
# consistent with the labels; the other embeddings run; PNGs and SVG are
# there; bad input fails before any output and leaves earlier outputs.
set -eu
cd "$(dirname "$0")/.."
. tests/lib.sh
DT=${DEEPTUNE:-./deeptune}
tmp=${KEEP_TMP:-$(mktemp -d)}; mkdir -p $tmp; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
tiny_session 200 21 12
/usr/bin/python3 - "$tmp" <<'PY'
# neuron j of type j % 3 reads channel (0, 2, 4)[type] of `cat` over the
# central 4 x 4 positions, with its own random positive weights, plus noise
import sys, h5py, numpy as np
t = sys.argv[1]
A = h5py.File(f"{t}/f0.h5")["features"]["cat"][...]          # (200, 5, 8, 8)
r = np.random.default_rng(22)
Y = np.zeros((200, 12))
for j in range(12):
    ch = (0, 2, 4)[j % 3]
    w = 1 + 0.3 * r.random((4, 4))
    Y[:, j] = (A[:, ch, 2:6, 2:6] * w).sum((1, 2))
Y += 0.05 * Y.std(0) * r.normal(size=Y.shape)
np.save(f"{t}/resp.npy", Y)
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/d.h5 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f.h5 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/r.h5 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 30 -o $tmp/r.h5 --append 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --bootstrap 2 --seed 3 --name boot -o $tmp/r.h5 --append 2>/dev/null
$DT tune -q -m $tmp/r.h5 --models tiny:cat:lasso,tiny:cat:ridge,boot#b1,boot#b2 --neurons all --inits 2 --steps 60 --lr 0.1:0.02 --jitter 0 --seed 5 -o $tmp/t.h5 2>/dev/null

# 1. the chain: clusters are the types; SciPy agrees on the stored embedding
$DT cluster -q -t $tmp/t.h5 --k 3 --distance correlation --linkage average --stability --stability-embed $tmp/tiny.h5:p2 -o $tmp/c.h5 --png-dir $tmp/png
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
from scipy.cluster.hierarchy import linkage, cophenet, leaves_list, cut_tree
from scipy.spatial.distance import pdist
from sklearn.metrics import adjusted_rand_score
t = sys.argv[1]
C = h5py.File(f"{t}/c.h5")
assert C.attrs["format"] == "deeptune-cluster" and C.attrs["embedding_layer"] == "cat" and C.attrs["k"] == 3
neurons, lab = C["neurons"][...], C["labels"][...]
assert (neurons == np.arange(12)).all()
E = C["embedding"][...].astype(np.float64)
assert E.shape == (12, 5 * 8 * 8)
D = pdist(E, "correlation")
assert np.abs(C["distances"][...] - D).max() < 1e-5, np.abs(C["distances"][...] - D).max()
Z = linkage(C["distances"][...], "average")
assert (C["linkage"][...][:, [0, 1, 3]] == Z[:, [0, 1, 3]]).all() and np.allclose(C["linkage"][...][:, 2], Z[:, 2], rtol=1e-12)
assert abs(C.attrs["cophenetic_correlation"] - cophenet(Z, C["distances"][...])[0]) < 1e-12
assert (C["leaf_order"][...] == leaves_list(Z)).all()
assert adjusted_rand_score(cut_tree(Z, 3).ravel(), lab) == 1
# stability: two inits and the other model's images are the perturbations
S = C["stability"]
names = [x.decode() if isinstance(x, bytes) else x for x in S["perturbations"][...]]
kinds = [x.decode() if isinstance(x, bytes) else x for x in S["kinds"][...]]
assert names == ["init 0", "init 1", "boot#b1", "boot#b2", "tiny:cat:lasso", "tiny:cat:ridge", "tiny.h5:p2"], names
assert kinds == ["initialisation"] * 2 + ["bootstrap"] * 2 + ["model"] * 2 + ["embedding network"], kinds

L = S["labels"][...]
co = S["coassignment"][...]
assert np.allclose(co, (L[:, :, None] == L[:, None, :]).mean(0), atol=1e-7)
assert np.allclose(S["ari"][...], [adjusted_rand_score(lab, l) for l in L], atol=1e-12)
J = S["jaccard"][...]
for p in range(len(L)):
    for c in range(3):
        A = lab == c
        best = max(((A & (L[p] == d)).sum() / (A | (L[p] == d)).sum()) for d in np.unique(L[p]))
        assert abs(J[p, c] - best) < 1e-12
assert np.allclose(S["jaccard_mean"][...], J.mean(0))
M = C["similarity_models"][...]
assert M.shape == (12, 5, 5) and np.allclose(np.diagonal(M, 0, 1, 2), 1) and C["similarity_inits"].shape == (12, 5, 2, 2)
print(f"cluster: 12 neurons; linkage, cophenetic r, leaves and cut equal SciPy's; "
      f"stability over {len(L)} perturbations, mean ARI {S['ari'][...].mean():.2f}, Jaccard {np.round(S['jaccard_mean'][...], 2)}")
PY
for f in dendrogram.png dendrogram.svg coassignment.png coassignment.svg similarity-n0.png similarity-n0.svg; do
  [ -s $tmp/png/$f ] || { echo "FAIL: $f missing"; exit 1; }
done
grep -q '<image' $tmp/png/dendrogram.svg && grep -q '>n0<' $tmp/png/dendrogram.svg && grep -q '>boot#b2<' $tmp/png/similarity-n0.svg
$DT inspect $tmp/c.h5 | grep -q "^stability   7 perturbations"
grep -q 'href="dendrogram.png"' $tmp/png/dendrogram.svg && grep -q 'href="similarity-n0.png"' $tmp/png/similarity-n0.svg
/usr/bin/python3 -c "import sys, xml.dom.minidom as m; [m.parse(f) for f in sys.argv[1:]]" $tmp/png/*.svg   # well-formed

# 2. the other embeddings and options run and are recorded
$DT cluster -q -t $tmp/t.h5 --embed pixels --image tiny:cat:ridge --linkage single --k 2 -o $tmp/c2.h5 --png-dir $tmp/png2/
[ -s $tmp/png2/dendrogram.png ] && [ -s $tmp/png2/similarity-n0.svg ] && [ ! -e $tmp/png2/coassignment.png ]
$DT cluster -q -t $tmp/t.h5 --embed weights --model tiny:cat:ridge --linkage ward --height 0 --precision double -o $tmp/c3.h5
$DT cluster -q -t $tmp/t.h5 --embed responses --model tiny:cat:lasso --distance cosine --linkage complete --k 3 --stability -o $tmp/c4.h5
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
c2, c3, c4 = (h5py.File(f"{t}/{n}.h5") for n in ("c2", "c3", "c4"))
assert c2.attrs["embedding"] == "pixels" and c2["embedding"].shape == (12, 16 * 16 * 3) and c2.attrs["linkage"] == "single"
assert c3["embedding"].shape == (12, 320) and c3.attrs["k"] == 12          # height 0: every neuron alone
R = h5py.File(f"{t}/r.h5")["models"]["tiny:cat:ridge"]["weights"][...]
assert np.allclose(c3["embedding"][...], R.astype(np.float32))
F = h5py.File(f"{t}/f.h5")["features"]["cat"][...].reshape(200, -1)
b = h5py.File(f"{t}/r.h5")["models"]["tiny:cat:lasso"]["intercepts"][...]
W = h5py.File(f"{t}/r.h5")["models"]["tiny:cat:lasso"]["weights"][...]
assert np.allclose(c4["embedding"][...], (F @ W.T + b).T, rtol=1e-4, atol=1e-4 * np.abs(F @ W.T).max())
assert c4.attrs["model"] == "tiny:cat:lasso" and "cluster" in c4.attrs["command_line"]
print("cluster: pixels, readout weights and predicted responses as embeddings")
PY

# 3. bad input: an error naming the problem, no output, earlier output intact
sum=$(sha256sum < $tmp/c.h5)
expect_fail min-r "no neuron of" -- $DT cluster -t $tmp/t.h5 --min-r 0.9999 -o $tmp/c.h5 --force
expect_fail k-large "--k 13: only 12 neurons" -- $DT cluster -t $tmp/t.h5 --k 13 -o $tmp/c.h5 --force
expect_fail layer "no layer 'pool5'; its layers:" -- $DT cluster -t $tmp/t.h5 --embed-layer pool5 -o $tmp/c.h5 --force
expect_fail ward-cos "ward needs --distance euclidean" -- $DT cluster -t $tmp/t.h5 --linkage ward --distance cosine -o $tmp/c.h5 --force
expect_fail not-tune "not a deeptune tune file" -- $DT cluster -t $tmp/r.h5 -o $tmp/c.h5 --force
expect_fail exists "already exists" -- $DT cluster -t $tmp/t.h5 -o $tmp/c.h5
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, shutil, numpy as np
t = sys.argv[1]
shutil.copy(f"{t}/t.h5", f"{t}/tnan.h5")
with h5py.File(f"{t}/tnan.h5", "r+") as f:
    im = f["neurons"]["7"]["images"]
    a = im[...]; a[:, 0, 3, 3, 1] = np.nan; im[...] = a
PY
expect_fail nan "neuron 7" -- $DT cluster -t $tmp/tnan.h5 --embed pixels -o $tmp/c.h5 --force
[ "$(sha256sum < $tmp/c.h5)" = "$sum" ] || { echo "FAIL: a failed run changed c.h5"; exit 1; }
ls $tmp | grep -q 'tmp\.' && { echo "FAIL: temporary files left"; exit 1; }
echo "cluster: $fails failures in the bad-input cases; earlier output intact"
[ $fails -eq 0 ]
