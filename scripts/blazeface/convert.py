#!/usr/bin/env python3
"""Reproducibly converts MediaPipe's BlazeFace face detectors (TFLite) to ONNX.

Run it through scripts/blazeface/convert.sh, which makes the virtual environment
with the pinned packages this script needs.

Steps:
  1. `pip download` the PyPI wheel mediapipe==0.10.14 (CPython 3.11, manylinux
     x86_64) and refuse unless its sha256 is the pinned one.
  2. Extract face_detection_full_range_sparse.tflite and
     face_detection_short_range.tflite from it; refuse unless their sha256 match.
  3. The full-range model stores 46 float16 conv weights as sparse tensors,
     expanded at run time by DENSIFY ops, which tf2onnx cannot convert. Rewrite
     the flatbuffer: decode each sparse constant to a dense float16 constant,
     make the DENSIFY op's output tensor that constant, drop the DENSIFY ops and
     the sparse tensors/buffers. The result must give bit-identical outputs in
     the TFLite interpreter (checked).
  4. Convert both models with tf2onnx (opset 13), name the input `input` and
     the outputs `regressors` [1,N,16] and `classificators` [1,N,1].
  5. Check the ONNX models with onnx.checker, load them in onnxruntime and
     compare with the original TFLite models on 20 random inputs in [-1, 1];
     refuse to write anything when the max abs difference of an output exceeds
     the tolerance.
  6. Write assets/blazeface/face_detection_{full,short}_range.onnx, LICENSE
     (the Apache-2.0 text shipped in the wheel) and NOTICE.

tf2onnx output is not byte-stable across runs/versions: compare numerically.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np

WHEEL_NAME = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
TFLITE_DIR = "mediapipe/modules/face_detection/"
WHEEL_LICENSE = "mediapipe-0.10.14.dist-info/LICENSE"

MODELS = {
    # out name: (tflite file in the wheel, sha256, input size, anchors)
    "face_detection_full_range": (
        "face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        192,
        2304,
    ),
    "face_detection_short_range": (
        "face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        128,
        896,
    ),
}

OPSET = 13
NUM_RANDOM_INPUTS = 20
# Max abs difference allowed on each output (ONNX vs TFLite): 1e-4, or 1e-5 of
# the output's largest magnitude when that is larger. The raw outputs reach
# ~200 (regressors are in input pixels, classificators are logits), where a
# float32 ulp is 1.5e-5 and TFLite's own kernels (XNNPACK vs reference) differ
# from each other by ~1e-4; the ONNX model differs by as much.
TOLERANCE_ABS = 1e-4
TOLERANCE_REL = 1e-5
INPUT_NAME = "input"
OUTPUT_NAMES = ("regressors", "classificators")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def die(msg: str) -> None:
    print(f"convert.py: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# 1-2. Wheel download and extraction
# --------------------------------------------------------------------------

def get_wheel(work: pathlib.Path, wheel_arg: str | None) -> bytes:
    if wheel_arg:
        path = pathlib.Path(wheel_arg)
    else:
        path = work / WHEEL_NAME
        if not path.exists():
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--only-binary=:all:", "--python-version", "3.11",
                   "--implementation", "cp", "--abi", "cp311",
                   "--platform", "manylinux_2_17_x86_64",
                   "--dest", str(work), "mediapipe==0.10.14"]
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
    data = path.read_bytes()
    digest = sha256_of(data)
    if digest != WHEEL_SHA256:
        die(f"{path}: sha256 {digest} != pinned {WHEEL_SHA256}; refusing")
    print(f"wheel {path.name}: sha256 ok ({digest})")
    return data


def extract(wheel: bytes) -> tuple[dict[str, bytes], str]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        for key, (fname, digest, _, _) in MODELS.items():
            data = zf.read(TFLITE_DIR + fname)
            got = sha256_of(data)
            if got != digest:
                die(f"{fname}: sha256 {got} != pinned {digest}; refusing")
            print(f"{fname}: {len(data)} bytes, sha256 ok")
            out[key] = data
        license_text = zf.read(WHEEL_LICENSE).decode("utf-8")
    return out, license_text


def apache_license_text(wheel_license: str) -> str:
    """The wheel's LICENSE is the Apache-2.0 text followed by a section for
    unrelated third-party files ("=====" separator): keep the Apache part."""
    lines = wheel_license.splitlines()
    end = next((i for i, l in enumerate(lines) if l.startswith("=====")), len(lines))
    text = "\n".join(lines[:end]).strip("\n") + "\n"
    if "Apache License" not in text or "END OF TERMS AND CONDITIONS" not in text:
        die("the wheel's LICENSE does not hold the Apache-2.0 text")
    return text


# --------------------------------------------------------------------------
# 3. Sparse -> dense rewrite of the TFLite flatbuffer
# --------------------------------------------------------------------------

def _vec(union_value):
    """Values of a DimensionMetadata array_segments/array_indices union."""
    return None if union_value is None else np.asarray(union_value.values, dtype=np.int64)


def densify_tensor_data(tensor, raw: bytes, dtype) -> np.ndarray:
    """Decodes a TFLite sparse constant (TACO-like format) into a dense array.

    Mirrors tflite::internal::sparsity::FormatConverter::SparseToDense for the
    case used here (no block map): levels walk the traversal order; a DENSE
    level iterates its dense_size, a SPARSE_CSR level iterates
    array_indices[array_segments[p]:array_segments[p+1]]; values are consumed in
    that order.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    sp = tensor.sparsity
    shape = [int(d) for d in tensor.shape]
    order = [int(x) for x in sp.traversalOrder]
    if sp.blockMap is not None and len(sp.blockMap) > 0:
        raise NotImplementedError("block-sparse tensors are not supported")
    if len(order) != len(shape):
        raise NotImplementedError("traversal order rank differs from the shape")
    values = np.frombuffer(raw, dtype=dtype)
    dense = np.zeros(shape, dtype=dtype)
    dims = sp.dimMetadata
    pos = 0  # next value to consume
    idx = [0] * len(order)

    def populate(level: int, prev: int) -> None:
        nonlocal pos
        if level == len(order):
            orig = [0] * len(shape)
            for i, d in enumerate(order):
                orig[d] = idx[i]
            dense[tuple(orig)] = values[pos]
            pos += 1
            return
        dm = dims[level]
        if dm.format == schema.DimensionType.DENSE:
            for i in range(int(dm.denseSize)):
                idx[level] = i
                populate(level + 1, prev * int(dm.denseSize) + i)
        else:  # SPARSE_CSR
            seg, ind = _vec(dm.arraySegments), _vec(dm.arrayIndices)
            for i in range(int(seg[prev]), int(seg[prev + 1])):
                idx[level] = int(ind[i])
                populate(level + 1, i)

    populate(0, 0)
    if pos != values.size:
        raise ValueError(f"{tensor.name}: consumed {pos} of {values.size} values")
    return dense


def remove_densify(tflite: bytes) -> tuple[bytes, int]:
    """Returns the rewritten flatbuffer and the number of DENSIFY ops removed."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    np_types = {schema.TensorType.FLOAT16: np.float16,
                schema.TensorType.FLOAT32: np.float32,
                schema.TensorType.INT8: np.int8}
    densify_codes = {i for i, oc in enumerate(model.operatorCodes)
                     if max(oc.builtinCode, oc.deprecatedBuiltinCode)
                     == schema.BuiltinOperator.DENSIFY}
    removed = 0
    for sg in model.subgraphs:
        kept_ops, dead_tensors = [], set()
        for op in sg.operators:
            if op.opcodeIndex not in densify_codes:
                kept_ops.append(op)
                continue
            src, dst = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
            raw = bytes(bytearray(model.buffers[src.buffer].data))
            dense = densify_tensor_data(src, raw, np_types[src.type])
            assert list(dense.shape) == list(dst.shape) and src.type == dst.type
            buf = schema.BufferT()
            buf.data = np.frombuffer(dense.astype(dense.dtype.newbyteorder("<")).tobytes(),
                                     dtype=np.uint8)
            model.buffers.append(buf)
            dst.buffer = len(model.buffers) - 1
            dead_tensors.add(op.inputs[0])
            removed += 1
        sg.operators = kept_ops
        # Drop the sparse tensors, which nothing reads any more.
        used = set(sg.inputs) | set(sg.outputs)
        for op in sg.operators:
            used |= {int(i) for i in op.inputs if i >= 0} | {int(i) for i in op.outputs}
        assert not (dead_tensors & used)
        keep = [i for i in range(len(sg.tensors)) if i not in dead_tensors]
        remap = {old: new for new, old in enumerate(keep)}
        sg.tensors = [sg.tensors[i] for i in keep]
        for op in sg.operators:
            op.inputs = [remap[int(i)] if i >= 0 else -1 for i in op.inputs]
            op.outputs = [remap[int(i)] for i in op.outputs]
            if op.intermediates is not None:
                op.intermediates = [remap[int(i)] for i in op.intermediates]
        sg.inputs = [remap[int(i)] for i in sg.inputs]
        sg.outputs = [remap[int(i)] for i in sg.outputs]
    if model.signatureDefs:
        raise NotImplementedError("models with signature defs are not supported")
    # Drop buffers nobody references (buffer 0 stays: the empty sentinel).
    refs = {t.buffer for sg in model.subgraphs for t in sg.tensors}
    refs |= {md.buffer for md in (model.metadata or [])}
    keep_bufs = [0] + sorted(b for b in refs if b != 0)
    bremap = {old: new for new, old in enumerate(keep_bufs)}
    model.buffers = [model.buffers[i] for i in keep_bufs]
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = bremap[t.buffer]
    for md in model.metadata or []:
        md.buffer = bremap[md.buffer]
    # The DENSIFY entry stays in the operator-code table (unreferenced).
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), removed


def tflite_run(model: bytes, inputs: list[np.ndarray], preserve=False, resolver="AUTO"):
    """Runs the TFLite interpreter. resolver AUTO = builtin kernels + the
    default XNNPACK delegate (what MediaPipe uses on CPU); BUILTIN_REF = the
    reference kernels. preserve=True keeps intermediate tensors (and disables
    the delegate)."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(
        model_content=model, experimental_preserve_all_tensors=preserve,
        experimental_op_resolver_type=getattr(tf.lite.experimental.OpResolverType, resolver))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    results = []
    for x in inputs:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        results.append([interp.get_tensor(o["index"]).copy() for o in outs])
    return results, interp


def check_densified(orig: bytes, dense: bytes, inputs) -> None:
    # Bit-identical outputs with the default CPU path (XNNPACK, as MediaPipe
    # runs it) and with the reference kernels. (TFLite's optimized builtin
    # kernels without delegate are not compared: they take a different code
    # path for constant and for computed weights, ~1e-4 apart.)
    for resolver in ("AUTO", "BUILTIN_REF"):
        a, _ = tflite_run(orig, inputs, resolver=resolver)
        b, _ = tflite_run(dense, inputs, resolver=resolver)
        for ra, rb in zip(a, b):
            for oa, ob in zip(ra, rb):
                if oa.shape != ob.shape or not np.array_equal(oa, ob):
                    die(f"densified model is not bit-identical to the sparse one ({resolver})")
    _, interp = tflite_run(orig, inputs[:1], preserve=True)
    # Cross-check the decoded constants against the interpreter's own DENSIFY
    # outputs (kept by experimental_preserve_all_tensors).
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    m_o = flatbuffer_utils.convert_bytearray_to_object(bytearray(orig))
    m_d = flatbuffer_utils.convert_bytearray_to_object(bytearray(dense))
    by_name = {t.name: t for t in m_d.subgraphs[0].tensors}
    code = {i for i, oc in enumerate(m_o.operatorCodes)
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == schema.BuiltinOperator.DENSIFY}
    n = 0
    for op in m_o.subgraphs[0].operators:
        if op.opcodeIndex in code:
            t = m_o.subgraphs[0].tensors[op.outputs[0]]
            want = interp.get_tensor(int(op.outputs[0]))
            td = by_name[t.name]
            got = np.frombuffer(bytes(bytearray(m_d.buffers[td.buffer].data)),
                                dtype=want.dtype).reshape(want.shape)
            if not np.array_equal(want, got):
                die(f"decoded constant {t.name!r} differs from the interpreter's")
            n += 1
    print(f"  densified model: bit-identical outputs on {len(inputs)} inputs "
          f"(XNNPACK and reference kernels); "
          f"{n} dense constants equal the interpreter's DENSIFY outputs")


# --------------------------------------------------------------------------
# 4. tf2onnx conversion and renaming
# --------------------------------------------------------------------------

def to_onnx(tflite: bytes, work: pathlib.Path, key: str, n_anchors: int):
    import onnx
    import tf2onnx

    path = work / f"{key}.tflite"
    path.write_bytes(tflite)
    model, _ = tf2onnx.convert.from_tflite(str(path), opset=OPSET)
    g = model.graph
    if len(g.input) != 1 or len(g.output) != 2:
        die(f"{key}: unexpected ONNX inputs/outputs")

    def dims(vi):
        return [d.dim_value for d in vi.type.tensor_type.shape.dim]

    # Outputs: identify by shape ([1,N,16] regressors, [1,N,1] classificators).
    want = {16: OUTPUT_NAMES[0], 1: OUTPUT_NAMES[1]}
    renames = {g.input[0].name: INPUT_NAME}
    for o in g.output:
        d = dims(o)
        if len(d) != 3 or d[1] != n_anchors or d[2] not in want:
            die(f"{key}: unexpected output {o.name} {d}")
        renames[o.name] = want[d[2]]
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        vi.name = renames.get(vi.name, vi.name)
    for node in g.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    # Order the outputs: regressors first, as in MediaPipe.
    outs = sorted(g.output, key=lambda o: OUTPUT_NAMES.index(o.name))
    del g.output[:]
    g.output.extend(outs)
    model.producer_name = "tf2onnx (scripts/blazeface/convert.py)"
    onnx.checker.check_model(model, full_check=True)
    return model, renames


def io_summary(model):
    def desc(vi):
        t = vi.type.tensor_type
        return (vi.name, [d.dim_value if d.HasField("dim_value") else d.dim_param
                          for d in t.shape.dim])
    return [desc(v) for v in model.graph.input], [desc(v) for v in model.graph.output]


def compare_onnx(onnx_bytes: bytes, tflite: bytes, inputs):
    """Per output: max abs difference onnxruntime vs TFLite (default CPU path,
    XNNPACK), the largest |TFLite output|, and for scale the max abs difference
    between TFLite's XNNPACK and reference kernels."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    ref, _ = tflite_run(tflite, inputs)
    ref_k, _ = tflite_run(tflite, inputs, resolver="BUILTIN_REF")
    diff, peak, spread = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for x, r, rk in zip(inputs, ref, ref_k):
        got = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        for k in range(2):
            if got[k].shape != r[k].shape:
                die(f"output {OUTPUT_NAMES[k]}: shape {got[k].shape} != {r[k].shape}")
            diff[k] = max(diff[k], float(np.max(np.abs(got[k] - r[k]))))
            peak[k] = max(peak[k], float(np.max(np.abs(r[k]))))
            spread[k] = max(spread[k], float(np.max(np.abs(rk[k] - r[k]))))
    return diff, peak, spread


def opencv_loads(path: pathlib.Path) -> str:
    try:
        import cv2
    except ImportError:
        return "not checked (cv2 not installed)"
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        return f"loads in OpenCV {cv2.__version__} dnn ({len(net.getLayerNames())} layers)"
    except Exception as e:  # optional check only
        return f"does not load in OpenCV {cv2.__version__} dnn: {str(e).splitlines()[0][:120]}"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> None:
    repo = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(repo / "assets" / "blazeface"))
    ap.add_argument("--work-dir", default=os.environ.get("BFCONV_WORK", "/tmp/bfconv-work"))
    ap.add_argument("--wheel", help="use this already downloaded wheel (still sha256-checked)")
    args = ap.parse_args()
    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    out_dir = pathlib.Path(args.out_dir)

    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    wheel = get_wheel(work, args.wheel)
    tflites, wheel_license = extract(wheel)
    license_text = apache_license_text(wheel_license)

    rng = np.random.default_rng(20240508)
    results = {}
    for key, (fname, digest, size, n_anchors) in MODELS.items():
        print(f"== {key} ({fname})")
        inputs = [rng.uniform(-1.0, 1.0, (1, size, size, 3)).astype(np.float32)
                  for _ in range(NUM_RANDOM_INPUTS)]
        orig = tflites[key]
        dense, removed = remove_densify(orig)
        if removed:
            print(f"  removed {removed} DENSIFY ops: {len(orig)} -> {len(dense)} bytes")
            check_densified(orig, dense, inputs)
        model, renames = to_onnx(dense, work, key, n_anchors)
        data = model.SerializeToString()
        diffs, peaks, spreads = compare_onnx(data, orig, inputs)
        ins, outs = io_summary(model)
        print(f"  ONNX inputs {ins} outputs {outs} (renamed {renames})")
        failed = False
        for k, name in enumerate(OUTPUT_NAMES):
            tol = max(TOLERANCE_ABS, TOLERANCE_REL * peaks[k])
            print(f"  {name}: max |onnxruntime - tflite| over {NUM_RANDOM_INPUTS} random "
                  f"inputs {diffs[k]:.3g} (tolerance {tol:.3g}; max |output| {peaks[k]:.4g}; "
                  f"tflite XNNPACK vs reference kernels {spreads[k]:.3g})")
            failed |= diffs[k] > tol
        if failed:
            die(f"{key}: difference above tolerance; nothing written")
        results[key] = dict(fname=fname, digest=digest, removed=removed, data=data,
                            ins=ins, outs=outs, diffs=diffs, peaks=peaks, spreads=spreads,
                            renames=renames)

    out_dir.mkdir(parents=True, exist_ok=True)
    for key, r in results.items():
        p = out_dir / f"{key}.onnx"
        p.write_bytes(r["data"])
        r["onnx_sha256"] = sha256_of(r["data"])
        r["cv"] = opencv_loads(p)
        print(f"wrote {p} ({len(r['data'])} bytes); {r['cv']}")
    (out_dir / "LICENSE").write_text(license_text)

    versions = (f"tensorflow-cpu {tf.__version__} (TFLite interpreter, flatbuffer schema), "
                f"tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
                f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}, "
                f"Python {sys.version.split()[0]}")
    lines = [
        "BlazeFace face detection models (ONNX) - NOTICE",
        "",
        "face_detection_full_range.onnx and face_detection_short_range.onnx in this folder",
        "are MediaPipe's BlazeFace face detectors (full-range and short-range), converted",
        "from TensorFlow Lite to ONNX without retraining or changing any weight.",
        "",
        "Copyright 2019-2024 The MediaPipe Authors.",
        "Licensed under the Apache License, Version 2.0 (see LICENSE in this folder).",
        "Modified: format conversion only (TFLite -> ONNX), described below.",
        "",
        "Source: the PyPI wheel",
        f"  {WHEEL_NAME}",
        f"  sha256 {WHEEL_SHA256}",
        "files taken from it:",
    ]
    for key, r in results.items():
        lines.append(f"  {TFLITE_DIR}{r['fname']}")
        lines.append(f"    sha256 {r['digest']}")
    lines += [
        "",
        "Conversion (reproduce with `scripts/blazeface/convert.sh`, which runs",
        "scripts/blazeface/convert.py in a virtual environment with pinned packages):",
        "  1. download the wheel above, refuse unless the sha256 matches; extract the",
        "     two .tflite files, refuse unless their sha256 match;",
        "  2. full-range model only: it keeps 46 float16 convolution weights as sparse",
        "     tensors expanded at run time by DENSIFY ops, which tf2onnx cannot convert;",
        "     the flatbuffer is rewritten so that each DENSIFY output is a dense float16",
        "     constant (decoded from the sparse tensor) and the DENSIFY ops and sparse",
        "     tensors are removed; the TFLite interpreter gives bit-identical outputs",
        "     for the rewritten and the original model (checked on 20 random inputs,",
        "     XNNPACK and reference kernels);",
        f"  3. tf2onnx, opset {OPSET}; input renamed to `{INPUT_NAME}`, outputs to",
        f"     `{OUTPUT_NAMES[0]}` [1,N,16] and `{OUTPUT_NAMES[1]}` [1,N,1];",
        "  4. onnxruntime output compared with the original TFLite model (interpreter,",
        f"     default XNNPACK CPU path) on {NUM_RANDOM_INPUTS} random inputs uniform in [-1,1];",
        f"     tolerance: max abs difference <= max({TOLERANCE_ABS:g}, {TOLERANCE_REL:g} x max|output|).",
        "     Measured max abs difference (max |output|; TFLite XNNPACK vs its reference",
        "     kernels, for scale):",
    ]
    for key, r in results.items():
        for k, name in enumerate(OUTPUT_NAMES):
            lines.append(f"     {key}.onnx {name}: {r['diffs'][k]:.2g} "
                         f"({r['peaks'][k]:.3g}; {r['spreads'][k]:.2g})")
    lines += ["", "Tensors:"]
    for key, r in results.items():
        (iname, ishape), = r["ins"]
        outs = ", ".join(f"{n} {s}" for n, s in r["outs"])
        lines.append(f"  {key}.onnx: input {iname} {ishape} float32 NHWC RGB in [-1,1]; "
                     f"outputs {outs} float32")
    lines += ["", f"Tools: {versions}.", "",
              f"Converted on {datetime.date.today().isoformat()}. tf2onnx output is not byte-stable:",
              "a rerun may give different bytes with the same numbers.", ""]
    (out_dir / "NOTICE").write_text("\n".join(lines))
    print(f"wrote {out_dir / 'LICENSE'} and {out_dir / 'NOTICE'}")


if __name__ == "__main__":
    main()
