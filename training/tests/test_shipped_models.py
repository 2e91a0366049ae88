"""Every model in models/: its parity file matches ONNX Runtime (and the built app), and a
`temperature` key is the one Div node emotrain.calibrate folded into the graph."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from emotrain import calibrate, preprocess

from test_backbones import check_with_app

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.onnx"))


@pytest.mark.parametrize("model_path", MODELS, ids=[m.stem for m in MODELS])
def test_shipped_model_matches_its_parity_file_and_temperature(model_path: Path, tmp_path: Path):
    model = onnx.load(str(model_path))
    meta = calibrate.metadata(model)
    parity = json.loads(model_path.with_suffix(".parity.json").read_text())
    faces = np.asarray(parity["faces"], dtype=np.uint8).reshape(-1, 48, 48)
    probs = calibrate.softmax(calibrate.run_logits(model, preprocess.to_tensor(faces).numpy()))
    np.testing.assert_allclose(probs, parity["probabilities"], atol=calibrate.PARITY_TOLERANCE)

    scaling = [n for n in model.graph.node if n.name == calibrate.NODE_NAME]
    if "temperature" in meta:
        assert len(scaling) == 1 and scaling[0].output[0] == model.graph.output[0].name == "logits"
        constant = next(i for i in model.graph.initializer if i.name == scaling[0].input[1])
        assert float(numpy_helper.to_array(constant)) == pytest.approx(float(meta["temperature"]), rel=1e-6)
        assert not calibrate.trained_on_validation(meta)
        assert "## Calibration" in model_path.with_suffix(".md").read_text()
    else:
        assert not scaling

    check_with_app(model_path, tmp_path)
