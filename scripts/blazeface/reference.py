#!/usr/bin/env python3
"""Numpy reference of MediaPipe's BlazeFace face detection pipeline, over the
ONNX models in assets/blazeface/ (run with onnxruntime).

It follows MediaPipe 0.10.14's graphs (mediapipe/modules/face_detection/
face_detection.pbtxt with face_detection_{full,short}_range.pbtxt, see
assets/blazeface/README.md) step by step, so that a port (the Rust decoder) can
follow this file:

  1. letterbox: the whole image, padded to a centred square, resampled
     bilinearly (no anti-aliasing) to SIZE x SIZE; outside the image is black;
     RGB values v -> v / 127.5 - 1 (range [-1, 1]); tensor [1, SIZE, SIZE, 3].
  2. model: outputs `regressors` [1, N, 16] and `classificators` [1, N, 1].
  3. anchors (SsdAnchorsCalculator), decode (TensorsToDetectionsCalculator):
     boxes and 6 keypoints relative to the letterboxed square, score =
     sigmoid(clip(logit, -100, 100)), keep score >= min_score_thresh.
  4. weighted non-maximum suppression (NonMaxSuppressionCalculator, WEIGHTED,
     IoU > 0.3), in square coordinates.
  5. projection back to coordinates relative to the image (0..1).

Run (after scripts/blazeface/convert.sh):
  scripts/blazeface/convert.sh reference
which, with the mediapipe 0.10.14 wheel installed, runs MediaPipe's legacy
`mediapipe.solutions.face_detection.FaceDetection` on the repo's test images,
checks this reference agrees with it, and writes
scripts/blazeface/reference_detections.json (MediaPipe's detections). With
--shared DIR (a folder with faces.json and photos, never copied into the repo)
it also checks the photos there and measures recall/false faces.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------
# Model options, from MediaPipe's face_detection*.pbtxt graphs.
# ---------------------------------------------------------------------------
FULL_RANGE = dict(
    name="full_range",
    onnx="face_detection_full_range.onnx",
    size=192,                 # tensor_width = tensor_height
    num_layers=1,
    strides=[4],              # one 48x48 grid
    interpolated_scale_aspect_ratio=0.0,  # 0: no extra anchor per cell
    num_boxes=2304,
    scale=192.0,              # x_scale = y_scale = w_scale = h_scale
    min_score_thresh=0.6,     # graph value; what MediaPipe 0.10.14 applies
                              # whatever min_detection_confidence says
)
SHORT_RANGE = dict(
    name="short_range",
    onnx="face_detection_short_range.onnx",
    size=128,
    num_layers=4,
    strides=[8, 16, 16, 16],  # a 16x16 grid, then 3 layers on one 8x8 grid
    interpolated_scale_aspect_ratio=1.0,  # one extra anchor per layer and cell
    num_boxes=896,
    scale=128.0,
    min_score_thresh=0.5,
)
# Options shared by both (face_detection.pbtxt).
ANCHOR_MIN_SCALE = 0.1484375
ANCHOR_MAX_SCALE = 0.75
ANCHOR_OFFSET = 0.5           # anchor_offset_x = anchor_offset_y
NUM_COORDS = 16               # 4 box values + 6 keypoints x 2
NUM_KEYPOINTS = 6             # right eye, left eye, nose tip, mouth centre,
                              # right ear tragion, left ear tragion (the
                              # subject's right: on the image's left side)
SCORE_CLIPPING_THRESH = 100.0
NMS_MIN_SUPPRESSION_THRESHOLD = 0.3  # IoU above which boxes are merged
KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_center",
                  "right_ear_tragion", "left_ear_tragion"]


# ---------------------------------------------------------------------------
# 3a. Anchors
# ---------------------------------------------------------------------------
def generate_anchors(opts: dict) -> np.ndarray:
    """SsdAnchorsCalculator with fixed_anchor_size: true, aspect_ratios [1.0],
    reduce_boxes_in_lowest_layer false. Returns [N, 2] anchor centres (x, y)
    relative to the square input; anchor width = height = 1 (fixed size), so
    the scales only decide how many anchors a cell has.

    Layers with the same stride are merged: for each run of equal strides, a
    grid of ceil(size / stride)^2 cells, row by row (y outer, x inner), each
    cell emitting (per layer of the run) one anchor for aspect ratio 1.0 plus
    one more if interpolated_scale_aspect_ratio > 0. Centre of cell (x, y) is
    ((x + 0.5) / grid_w, (y + 0.5) / grid_h).
    """
    strides = opts["strides"]
    per_layer = 1 + (1 if opts["interpolated_scale_aspect_ratio"] > 0 else 0)
    anchors = []
    layer = 0
    while layer < opts["num_layers"]:
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = per_layer * (last - layer)
        grid = math.ceil(opts["size"] / strides[layer])
        for y in range(grid):
            for x in range(grid):
                for _ in range(per_cell):
                    anchors.append(((x + ANCHOR_OFFSET) / grid, (y + ANCHOR_OFFSET) / grid))
        layer = last
    a = np.asarray(anchors, dtype=np.float32)
    assert len(a) == opts["num_boxes"], (len(a), opts["num_boxes"])
    return a


# ---------------------------------------------------------------------------
# 1. Letterbox
# ---------------------------------------------------------------------------
def letterbox(rgb: np.ndarray, size: int):
    """ImageToTensorCalculator with keep_aspect_ratio: true, BORDER_ZERO,
    output_tensor_float_range [-1, 1], no ROI (whole image), on CPU (OpenCV).

    The ROI is the whole image, centred at (W/2, H/2), widened to a square of
    side S = max(W, H) (letterbox: the padding is split evenly on both sides).
    Tensor pixel (u, v) samples the image at
      x = x0 + u * S/size,  y = y0 + v * S/size,  x0 = W/2 - S/2, y0 = H/2 - S/2
    (OpenCV warp mapping: pixel centres at integer coordinates, the ROI's
    left/top edge maps to tensor pixel 0; no half-pixel shift), bilinear, no
    anti-aliasing, pixels outside the image are 0 (black, so -1 in the tensor).
    Like OpenCV's INTER_LINEAR, the sample position is rounded to 1/32 pixel
    and the result is rounded to uint8; then v -> v * (2/255) - 1.

    This gives the same tensor as MediaPipe (which runs cv2.warpPerspective);
    with OpenCV, cv2.warpAffine(rgb, [[size/S, 0, -x0*size/S],
    [0, size/S, -y0*size/S]], (size, size), INTER_LINEAR, BORDER_CONSTANT 0)
    is identical too. Plain float bilinear sampling without the 1/32 rounding
    is off by up to ~4 grey levels, enough to move scores by ~0.005.

    Returns the [1, size, size, 3] float32 tensor and the ROI (x0, y0, S) in
    image pixels for the projection back.
    """
    h, w = rgb.shape[:2]
    side = float(max(w, h))
    x0, y0 = w / 2.0 - side / 2.0, h / 2.0 - side / 2.0
    step = side / size

    def positions(origin):
        # Sample positions in 1/32 pixel units: integer part and fraction.
        q = np.rint((origin + np.arange(size) * step) * 32).astype(np.int64)
        return q >> 5, (q & 31) / 32.0

    xi, fx = positions(x0)
    yi, fy = positions(y0)
    # Pad by one black pixel on every side so out-of-image neighbours read 0.
    pad = np.zeros((h + 2, w + 2, 3), dtype=np.float64)
    pad[1:-1, 1:-1] = rgb

    def gather(yy, xx):
        return pad[np.clip(yy + 1, 0, h + 1)[:, None], np.clip(xx + 1, 0, w + 1)[None, :]]

    wx0, wx1 = (1 - fx)[None, :, None], fx[None, :, None]
    wy0, wy1 = (1 - fy)[:, None, None], fy[:, None, None]
    out = (gather(yi, xi) * wy0 * wx0 + gather(yi, xi + 1) * wy0 * wx1
           + gather(yi + 1, xi) * wy1 * wx0 + gather(yi + 1, xi + 1) * wy1 * wx1)
    out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.float32)
    tensor = out * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor[None], (x0, y0, side)


# ---------------------------------------------------------------------------
# 3b. Decode
# ---------------------------------------------------------------------------
def sigmoid_scores(logits: np.ndarray) -> np.ndarray:
    """sigmoid_score: true, score_clipping_thresh: 100."""
    z = np.clip(logits.astype(np.float32), -SCORE_CLIPPING_THRESH, SCORE_CLIPPING_THRESH)
    with np.errstate(over="ignore"):  # exp(100) overflows float32: score 0
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-z))).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           opts: dict, min_score: float):
    """TensorsToDetectionsCalculator: num_coords 16, box_coord_offset 0,
    keypoint_coord_offset 4, num_keypoints 6, num_values_per_keypoint 2,
    reverse_output_order true (values are x, y, w, h and keypoints x, y),
    x/y/w/h_scale = input size, anchors of size 1, no exponential.

    For anchor i with centre (ax, ay) and raw values r[0..16]:
      cx = r0/scale + ax, cy = r1/scale + ay, w = r2/scale, h = r3/scale
      box = (cx - w/2, cy - h/2, cx + w/2, cy + h/2)
      keypoint k = (r[4+2k]/scale + ax, r[5+2k]/scale + ay)
    Kept when score >= min_score and w, h are >= 0 (and not NaN).
    Returns a list of (score, [xmin, ymin, xmax, ymax], keypoints[6, 2]) in
    coordinates relative to the letterboxed square, in anchor order.
    """
    r = regressors.reshape(-1, NUM_COORDS).astype(np.float32)
    s = sigmoid_scores(logits.reshape(-1))
    scale = np.float32(opts["scale"])
    ax, ay = anchors[:, 0], anchors[:, 1]
    cx = r[:, 0] / scale + ax
    cy = r[:, 1] / scale + ay
    w = r[:, 2] / scale
    h = r[:, 3] / scale
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kp = r[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) / scale
    kp = kp + anchors[:, None, :]
    dets = []
    for i in np.nonzero(s >= min_score)[0]:
        if not (w[i] >= 0 and h[i] >= 0):  # also drops NaN
            continue
        dets.append((float(s[i]), boxes[i].astype(np.float64), kp[i].astype(np.float64)))
    return dets


# ---------------------------------------------------------------------------
# 4. Weighted non-maximum suppression
# ---------------------------------------------------------------------------
def iou(a, b) -> float:
    """INTERSECTION_OVER_UNION of two [xmin, ymin, xmax, ymax] boxes; 0 when
    they do not overlap."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets, threshold: float = NMS_MIN_SUPPRESSION_THRESHOLD):
    """NonMaxSuppressionCalculator, algorithm WEIGHTED, overlap IoU,
    min_suppression_threshold 0.3, no max count.

    Sort by score (descending). Repeat: take the best remaining detection; its
    cluster is every remaining detection (itself included) with IoU > threshold
    against it; output one detection with the best one's score and the
    score-weighted mean of the cluster's box corners (xmin, ymin, xmax, ymax)
    and keypoints; remove the cluster from the remaining ones.
    """
    remaining = sorted(dets, key=lambda d: -d[0])
    out = []
    while remaining:
        best = remaining[0]
        cluster = [d for d in remaining if iou(d[1], best[1]) > threshold]
        rest = [d for d in remaining if iou(d[1], best[1]) <= threshold]
        weights = np.array([d[0] for d in cluster])
        total = weights.sum()
        box = sum(wt * d[1] for wt, d in zip(weights, cluster)) / total
        kps = sum(wt * d[2] for wt, d in zip(weights, cluster)) / total
        out.append((best[0], box, kps))
        if len(rest) == len(remaining):  # cannot happen (best is in its cluster)
            break
        remaining = rest
    return out


# ---------------------------------------------------------------------------
# 5. Projection back to the image, and the whole pipeline
# ---------------------------------------------------------------------------
def project(dets, roi, width: int, height: int):
    """DetectionProjectionCalculator: square-relative -> image-relative.
    x_img = (x0 + x * S) / W, y_img = (y0 + y * S) / H."""
    x0, y0, side = roi
    out = []
    for score, box, kps in dets:
        xmin = (x0 + box[0] * side) / width
        ymin = (y0 + box[1] * side) / height
        xmax = (x0 + box[2] * side) / width
        ymax = (y0 + box[3] * side) / height
        kp = np.stack([(x0 + kps[:, 0] * side) / width, (y0 + kps[:, 1] * side) / height], 1)
        out.append(dict(score=score,
                        box=dict(xmin=xmin, ymin=ymin, width=xmax - xmin, height=ymax - ymin),
                        keypoints=[dict(x=float(x), y=float(y)) for x, y in kp]))
    return out


class Detector:
    def __init__(self, opts: dict, model_dir: pathlib.Path):
        import onnxruntime as ort

        self.opts = opts
        self.anchors = generate_anchors(opts)
        self.session = ort.InferenceSession(str(model_dir / opts["onnx"]),
                                            providers=["CPUExecutionProvider"])

    def detect(self, rgb: np.ndarray, min_score: float | None = None):
        if min_score is None:
            min_score = self.opts["min_score_thresh"]
        tensor, roi = letterbox(rgb, self.opts["size"])
        regressors, logits = self.session.run(["regressors", "classificators"],
                                              {"input": tensor})
        dets = decode(regressors, logits, self.anchors, self.opts, min_score)
        dets = weighted_nms(dets)
        return project(dets, roi, rgb.shape[1], rgb.shape[0])


# ---------------------------------------------------------------------------
# MediaPipe itself (the legacy solution API), for checking
# ---------------------------------------------------------------------------
def mediapipe_detect(rgb: np.ndarray, model_selection: int, min_conf: float):
    import mediapipe as mp

    with mp.solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=min_conf) as fd:
        res = fd.process(rgb)
    out = []
    for d in res.detections or []:
        ld = d.location_data
        bb = ld.relative_bounding_box
        out.append(dict(score=float(d.score[0]),
                        box=dict(xmin=bb.xmin, ymin=bb.ymin, width=bb.width, height=bb.height),
                        keypoints=[dict(x=k.x, y=k.y) for k in ld.relative_keypoints]))
    return out


def read_rgb(path: pathlib.Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def compare(mp_dets, np_dets):
    """Greatest difference (relative to the image) between matched detections
    (same order: both are sorted by score), or None when the counts differ."""
    if len(mp_dets) != len(np_dets):
        return None
    worst = dict(score=0.0, box=0.0, keypoints=0.0)
    for a, b in zip(mp_dets, np_dets):
        worst["score"] = max(worst["score"], abs(a["score"] - b["score"]))
        for k in ("xmin", "ymin", "width", "height"):
            worst["box"] = max(worst["box"], abs(a["box"][k] - b["box"][k]))
        for ka, kb in zip(a["keypoints"], b["keypoints"]):
            worst["keypoints"] = max(worst["keypoints"], abs(ka["x"] - kb["x"]), abs(ka["y"] - kb["y"]))
    return worst


def rounded(dets, nd=6):
    def r(v):
        return round(float(v), nd)
    return [dict(score=r(d["score"]), box={k: r(v) for k, v in d["box"].items()},
                 keypoints=[dict(name=n, x=r(k["x"]), y=r(k["y"]))
                            for n, k in zip(KEYPOINT_NAMES, d["keypoints"])]) for d in dets]


# ---------------------------------------------------------------------------
# Measuring on an annotated folder (faces.json: {file: [[x, y, w, h], ...]})
# ---------------------------------------------------------------------------
def is_true_face(found, ann) -> bool:
    """Found box counts as the annotated face: IoU >= 0.25, or its centre
    inside the annotated box and its side (max of w, h) 0.5-2.5x the annotated
    side. Boxes [x, y, w, h] in pixels."""
    fx, fy, fw, fh = found
    ax, ay, aw, ah = ann
    ix = min(fx + fw, ax + aw) - max(fx, ax)
    iy = min(fy + fh, ay + ah) - max(fy, ay)
    inter = max(ix, 0) * max(iy, 0)
    union = fw * fh + aw * ah - inter
    if union > 0 and inter / union >= 0.25:
        return True
    cx, cy = fx + fw / 2, fy + fh / 2
    ratio = max(fw, fh) / max(aw, ah, 1)
    return ax <= cx < ax + aw and ay <= cy < ay + ah and 0.5 <= ratio <= 2.5


def measure(per_image, annotations, threshold):
    """per_image: {file: [detections]} -> (faces found, faces, false faces)."""
    found = total = false = 0
    for name, anns in annotations.items():
        w, h = per_image[name]["size"]
        boxes = [(d["box"]["xmin"] * w, d["box"]["ymin"] * h, d["box"]["width"] * w,
                  d["box"]["height"] * h) for d in per_image[name]["dets"] if d["score"] >= threshold]
        total += len(anns)
        found += sum(any(is_true_face(b, a) for b in boxes) for a in anns)
        false += sum(not any(is_true_face(b, a) for a in anns) for b in boxes)
    return found, total, false


def main() -> None:
    ap = argparse.ArgumentParser(description="BlazeFace numpy reference vs MediaPipe")
    ap.add_argument("--model-dir", default=str(REPO / "assets" / "blazeface"))
    ap.add_argument("--json", default=str(REPO / "scripts" / "blazeface" / "reference_detections.json"))
    ap.add_argument("--shared", help="annotated photo folder (faces.json), measured, never copied")
    ap.add_argument("--shared-json", default="/tmp/blazeface_shared_ref.json")
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--tolerance", type=float, default=0.01,
                    help="max box/keypoint difference vs MediaPipe, relative to the image")
    ap.add_argument("--no-mediapipe", action="store_true",
                    help="numpy reference only (the JSON then holds its detections)")
    args = ap.parse_args()
    model_dir = pathlib.Path(args.model_dir)
    detectors = {1: Detector(FULL_RANGE, model_dir), 0: Detector(SHORT_RANGE, model_dir)}
    names = {1: "full_range", 0: "short_range"}
    use_mp = not args.no_mediapipe
    if use_mp:
        import mediapipe
        source = f"mediapipe {mediapipe.__version__} solutions.face_detection"
    else:
        source = "scripts/blazeface/reference.py (numpy reference over the ONNX models)"

    ok = True

    def run(path: pathlib.Path, label: str):
        """MediaPipe with min_detection_confidence (which, in mediapipe
        0.10.14's legacy solution, does not reach the graph: it always applies
        the graph's min_score_thresh, 0.6 full range, 0.5 short range) and the
        numpy reference with the graph's min_score_thresh."""
        nonlocal ok
        rgb = read_rgb(path)
        entry = dict(width=int(rgb.shape[1]), height=int(rgb.shape[0]))
        mine = {}
        for sel, det in detectors.items():
            ours = det.detect(rgb)
            mine[names[sel]] = ours
            if use_mp:
                theirs = mediapipe_detect(rgb, sel, args.min_confidence)
                diff = compare(theirs, ours)
                agree = diff is not None and diff["box"] <= args.tolerance \
                    and diff["keypoints"] <= args.tolerance
                ok &= agree
                print(f"{label} {names[sel]}: mediapipe {len(theirs)} faces "
                      f"{[round(d['score'], 3) for d in theirs]}, numpy {len(ours)} "
                      f"{[round(d['score'], 3) for d in ours]}; max diff "
                      + ("count differs" if diff is None else
                         f"score {diff['score']:.1e} box {diff['box']:.1e} "
                         f"keypoints {diff['keypoints']:.1e}") + (" ok" if agree else " MISMATCH"))
                entry[names[sel]] = rounded(theirs)
            else:
                print(f"{label} {names[sel]}: numpy {len(ours)} faces "
                      f"{[round(d['score'], 3) for d in ours]}")
                entry[names[sel]] = rounded(ours)
        return entry, mine

    images = {}
    for rel in ("assets/astronaut.png", "assets/grace_hopper.jpg"):
        images[rel], _ = run(REPO / rel, rel)
    doc = dict(
        source=source,
        settings=dict(min_detection_confidence=args.min_confidence,
                      full_range="model_selection=1", short_range="model_selection=0",
                      effective_min_score_thresh=dict(full_range=FULL_RANGE["min_score_thresh"],
                                                      short_range=SHORT_RANGE["min_score_thresh"]),
                      note=("mediapipe 0.10.14's legacy FaceDetection ignores "
                            "min_detection_confidence: the graphs' min_score_thresh applies"),
                      image_decoding="OpenCV 4.10 imread, BGR -> RGB"),
        coordinates="relative to the image: box xmin, ymin, width, height; keypoints x, y",
        keypoint_order=KEYPOINT_NAMES,
        images=images,
    )
    pathlib.Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.json}")

    if args.shared:
        shared = pathlib.Path(args.shared)
        annotations = json.loads((shared / "faces.json").read_text())
        shared_doc = {}
        for name in sorted(annotations):
            shared_doc[name], _ = run(shared / name, name)
        pathlib.Path(args.shared_json).write_text(json.dumps(dict(source=source, images=shared_doc), indent=1))
        print(f"wrote {args.shared_json}")
        # Recall / false faces of the numpy reference; the threshold is
        # min_score_thresh (applied before NMS, as in MediaPipe).
        rgbs = {name: read_rgb(shared / name) for name in annotations}
        for sel, det in detectors.items():
            for t in (0.5, 0.6, 0.7):
                per_image = {name: dict(size=(rgb.shape[1], rgb.shape[0]), dets=det.detect(rgb, t))
                             for name, rgb in rgbs.items()}
                f, n, fa = measure(per_image, annotations, t)
                print(f"measure {names[sel]} min_score {t}: {f}/{n} faces found, {fa} false faces")

    if use_mp and not ok:
        print("reference.py: the numpy reference does NOT agree with MediaPipe", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
