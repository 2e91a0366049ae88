#!/usr/bin/env python3
"""Scores the frames the app showed against a clip's annotated faces.

    scripts/score_live_detection.py SHOWN.jsonl CLIP.truth.json

SHOWN.jsonl is the app's EMOCAM_SHOWN_FRAMES_LOG (one {"frame", "latency_ms", "faces"} line per
frame shown, see src/app/view.rs); CLIP.truth.json is written beside the clip by
`emocam eval-detect --write-clips`. Each shown frame is scored against the truth of its own
frame index, with the rule of `emocam eval-detect` (src/vision/evaluate.rs: `is_match`,
`Score::add_frame`), reproduced exactly below, so live and offline figures compare: recall over
the annotated faces of the frames shown, false faces per frame shown, and the
capture-to-display latency's p50 and p95.
"""
import json
import math
import struct
import sys


def f32(x):
    """x rounded to a 32-bit float, as Rust's `as f32`."""
    return struct.unpack("f", struct.pack("f", x))[0]


def iou(a, b):
    """src/vision/overlap.rs `iou`, in f32 as there."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return 0.0 if union <= 0 else f32(f32(inter) / f32(union))


def is_match(found, annotated):
    """src/vision/evaluate.rs `is_match`: IoU >= 0.25, or the centre inside and the side 0.5-2.5x."""
    if iou(found, annotated) >= 0.25:
        return True
    # Rust's integer division truncates toward zero; sides are never negative.
    cx, cy = found[0] + int(found[2] / 2), found[1] + int(found[3] / 2)
    ratio = max(found[2], found[3]) / max(annotated[2], annotated[3], 1)
    x, y, w, h = annotated
    return x <= cx < x + w and y <= cy < y + h and 0.5 <= ratio <= 2.5


def score_frame(found, faces, partial_faces):
    """src/vision/evaluate.rs `Score::add_frame`: (annotated faces, found, false faces)."""
    pairs = [(iou(fb, face), f, a) for f, fb in enumerate(found) for a, face in enumerate(faces) if is_match(fb, face)]
    pairs.sort(key=lambda p: -p[0])  # stable, as Rust's sort_by
    found_used, face_used = [False] * len(found), [False] * len(faces)
    for _, f, a in pairs:
        if not found_used[f] and not face_used[a]:
            found_used[f] = face_used[a] = True
    false_faces = sum(1 for fb, used in zip(found, found_used) if not used and not any(is_match(fb, p) for p in partial_faces))
    return len(faces), sum(face_used), false_faces


def percentile(sorted_values, q):
    """src/stats.rs `percentile` (nearest rank)."""
    if not sorted_values:
        return None
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: score_live_detection.py SHOWN.jsonl CLIP.truth.json")
    shown_path, truth_path = sys.argv[1:]
    with open(truth_path) as f:
        truth = json.load(f)
    frames = {t["frame"]: t for t in truth["frames"]}
    shown, unknown = [], 0
    with open(shown_path) as f:
        for line in f:
            if line.strip():
                entry = json.loads(line)
                if entry["frame"] in frames:
                    shown.append(entry)
                else:
                    unknown += 1
    if not shown:
        sys.exit(f"{shown_path}: no frame of {truth_path} was shown")
    faces = found = false_faces = 0
    for entry in shown:
        t = frames[entry["frame"]]
        n, hit, false = score_frame(entry["faces"], t["faces"], t["partial_faces"])
        faces, found, false_faces = faces + n, found + hit, false_faces + false
    distinct = len({e["frame"] for e in shown})
    latencies = sorted(e["latency_ms"] for e in shown)
    first, last = min(e["frame"] for e in shown), max(e["frame"] for e in shown)
    print(
        f"frames shown: {len(shown)} ({distinct} distinct) of the {last - first + 1} played (frames {first}-{last} of the clip's {len(frames)})"
        + (f"; {unknown} not in the clip, ignored" if unknown else "")
    )
    print(f"recall over the frames shown: {found / faces if faces else 0.0:.3f} ({found} of {faces} faces)")
    print(f"false faces per frame: {false_faces / len(shown):.3f} ({false_faces} false)")
    print(f"capture-to-display: p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
