"""emotrain.end_to_end: scoring the app's own detections, the images it is given, the card section;
and, with the built app and FER-2013, a small real run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import missing
from emotrain import data, end_to_end

LABELS = ["angry", "fear", "happy", "sad", "surprise", "neutral"]
NAMES = [f"{i:05d}.png" for i in range(5)]
TRUTH = np.array([2, 0, 5, 3, 2])


def record(name: str, label: str, w: int = 100, h: int = 100) -> dict:
    return {"source": f"/some/folder/{name}", "label": label, "w": w, "h": h, "confidence": 0.5}


def test_undetected_faces_count_as_wrong_and_the_largest_face_answers():
    records = [
        record(NAMES[0], "happy"),                    # right
        record(NAMES[1], "fear", 30, 30),             # a small false face, right by chance...
        record(NAMES[1], "sad", 120, 120),            # ...but the largest face answers: wrong
        record(NAMES[2], "neutral"),                  # right
        # NAMES[3]: nothing found: wrong
        record(NAMES[4], "surprise"),                 # wrong
    ]
    s = end_to_end.score(records, NAMES, TRUTH, LABELS)
    assert (s["faces"], s["detected"], s["correct"], s["multiple"]) == (5, 4, 2, 1)
    assert s["accuracy"] == pytest.approx(2 / 5)
    assert s["accuracy_detected"] == pytest.approx(2 / 4)
    assert s["detection_rate"] == pytest.approx(4 / 5)
    assert s["detected_mask"].tolist() == [True, True, True, False, True]
    assert s["correct_mask"].tolist() == [True, False, True, False, False]


def test_nothing_found_scores_zero_without_dividing_by_zero():
    s = end_to_end.score([], NAMES, TRUTH, LABELS)
    assert (s["detected"], s["accuracy"], s["accuracy_detected"], s["detection_rate"]) == (0, 0.0, 0.0, 0.0)


def test_a_record_for_an_unknown_image_is_an_error():
    with pytest.raises(ValueError, match="not one of the faces"):
        end_to_end.score([record("other.png", "happy")], NAMES, TRUTH, LABELS)


def test_faces_are_upscaled_inside_a_replicated_border(tmp_path: Path):
    face = np.zeros((48, 48), dtype=np.uint8)
    face[:, 24:] = 200
    big = end_to_end.upscale_with_border(face, side=96, pad=0.25)
    assert big.shape == (96 + 2 * 24, 96 + 2 * 24)
    assert big[0, 0] == 0 and big[-1, -1] == 200  # the border repeats the edge pixels
    names = end_to_end.write_images(np.stack([face, face]), tmp_path / "scenes", side=96, pad=0.25)
    assert names == ["00000.png", "00001.png"]
    assert Image.open(tmp_path / "scenes" / names[1]).size == (144, 144)
    end_to_end.write_images(np.stack([face]), tmp_path / "crops", pad=None)
    assert Image.open(tmp_path / "crops" / "00000.png").size == (48, 48)


def test_card_section_is_replaced_not_repeated(tmp_path: Path):
    card = tmp_path / "m.md"
    card.write_text("# M\n\n## Calibration\n\nT\n\n## How it was made\n\n```\ncmd\n```\n")
    s = end_to_end.score([record(n, "happy") for n in NAMES], NAMES, TRUTH, LABELS)
    result = {"end_to_end": s, "crops": s, "crops_accuracy_on_detected": s["accuracy"], "side": 224, "pad": 0.25,
              "detector_args": [], "seconds": 1.0}
    for _ in range(2):
        end_to_end.update_card(card, end_to_end.card_section(result, "PublicTest", "python -m emotrain.end_to_end ..."))
    text = card.read_text()
    assert text.count(end_to_end.CARD_SECTION) == 1
    assert text.index("## Calibration") < text.index(end_to_end.CARD_SECTION) < text.index("## How it was made")
    assert "**40.00%** (2/5)" in text and "336x336" in text


def test_the_built_app_finds_and_classifies_publictest_faces(tmp_path: Path):
    """A small real run: 20 PublicTest faces of each class through the built app."""
    model = end_to_end.ROOT / "models" / "emonet-tiny.onnx"
    if not end_to_end.DEFAULT_EMOCAM.exists():
        missing(f"{end_to_end.DEFAULT_EMOCAM} not built: run `cargo build --release` for the end-to-end check")
    if not (Path(data.DEFAULT_DATA) / "test").is_dir():
        missing(f"FER-2013 not found at {data.DEFAULT_DATA} (set $FER2013_DIR) for the end-to-end check")
    faces, truth = data.load_split(data.DEFAULT_DATA, "test", LABELS)
    keep = np.concatenate([np.flatnonzero(truth == c)[:20] for c in range(len(LABELS))])
    try:
        result = end_to_end.evaluate(model, end_to_end.DEFAULT_EMOCAM, faces[keep], truth[keep], LABELS, work=tmp_path)
    except RuntimeError as error:
        if "ONNX Runtime library" in str(error):
            missing(str(error))
        raise
    e2e, crops = result["end_to_end"], result["crops"]
    assert e2e["faces"] == crops["faces"] == 120
    assert crops["detected"] == 120  # --faces classifies every crop
    assert e2e["detection_rate"] > 0.5, e2e
    assert e2e["accuracy_detected"] > 0.4 and crops["accuracy"] > 0.4, (e2e, crops)
