#!/usr/bin/python3
"""Convert a Caffe deploy .prototxt into a deeptune network spec (models/*.spec).

  scripts/prototxt-to-spec.py NET.prototxt NAME ARCHITECTURE > models/NAME.spec

Layer names stay Caffe's.  In-place layers (ReLU, Dropout) become layers of
their own whose input is the layer that last wrote the blob.  Supported layer
types: Input, Convolution, ReLU, Pooling (MAX/AVE, Caffe's ceil rounding),
LRN (across channels), Concat (channels), InnerProduct, Dropout, Softmax.
"""
import re
import sys


def tokens(text):
    text = re.sub(r"#.*", "", text)
    return re.findall(r'"[^"]*"|[{}:]|[^\s{}:"]+', text)


def parse(toks, i=0):
    """Parse 'key: value' and 'key { ... }' items until '}' -> list of (k, v)."""
    items = []
    while i < len(toks) and toks[i] != "}":
        key = toks[i]
        if toks[i + 1] == ":" and toks[i + 2] != "{":
            items.append((key, toks[i + 2].strip('"')))
            i += 3
        else:
            j = i + 1 + (toks[i + 1] == ":")
            sub, i = parse(toks, j + 1)
            items.append((key, sub))
            i += 1
    return items, i


def get(items, key, default=None):
    for k, v in items:
        if k == key:
            return v
    return default


def main():
    path, name, arch = sys.argv[1:4]
    items, _ = parse(tokens(open(path).read()))
    out = [f"# {name}: converted from {path.split('/')[-1]} by scripts/prototxt-to-spec.py.",
           "# Layer names are Caffe's; in-place layers are layers of their own.",
           f"network {name}", f"architecture {arch}"]
    owner = {}
    for k, layer in items:
        if k != "layer":
            continue
        lname, ltype = get(layer, "name"), get(layer, "type")
        bottoms = [v for kk, v in layer if kk == "bottom"]
        top = get(layer, "top")
        frm = ",".join(owner[b] for b in bottoms)
        if ltype == "Input":
            shape = get(get(layer, "input_param"), "shape")
            dims = [v for kk, v in shape if kk == "dim"]
            out.append(f"input {lname} c={dims[1]}")
        elif ltype == "Convolution":
            p = get(layer, "convolution_param")
            s = f"conv {lname} from={frm} out={get(p, 'num_output')} k={get(p, 'kernel_size')}"
            s += f" s={get(p, 'stride', '1')} p={get(p, 'pad', '0')}"
            if get(p, "group", "1") != "1":
                s += f" g={get(p, 'group')}"
            out.append(s)
        elif ltype == "ReLU":
            out.append(f"relu {lname} from={frm}")
        elif ltype == "Pooling":
            p = get(layer, "pooling_param")
            kind = {"MAX": "maxpool", "AVE": "avgpool"}[get(p, "pool")]
            out.append(f"{kind} {lname} from={frm} k={get(p, 'kernel_size')} s={get(p, 'stride', '1')} "
                       f"p={get(p, 'pad', '0')} ceil")
        elif ltype == "LRN":
            p = get(layer, "lrn_param")
            out.append(f"lrn {lname} from={frm} n={get(p, 'local_size', '5')} alpha={get(p, 'alpha', '1')} "
                       f"beta={get(p, 'beta', '0.75')} k={get(p, 'k', '1')}")
        elif ltype == "Concat":
            out.append(f"concat {lname} from={frm}")
        elif ltype == "InnerProduct":
            out.append(f"fc {lname} from={frm} out={get(get(layer, 'inner_product_param'), 'num_output')}")
        elif ltype == "Dropout":
            out.append(f"dropout {lname} from={frm}")
        elif ltype == "Softmax":
            out.append(f"softmax {lname} from={frm}")
        else:
            sys.exit(f"{path}: layer {lname}: unsupported type {ltype}")
        owner[top] = lname
    print("\n".join(out))


main()
