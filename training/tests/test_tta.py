"""Test-time averaging (`emotrain.tta`): the zoom matrices, the averaged views, and the exported graph."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from emotrain import evaluate, export, models, train, tta

from test_backbones import check_with_app


def grid_sample_zoom(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Training's zoom (`augment.random_affine` with only a scale): the reference."""
    theta = torch.tensor([[1 / scale, 0, 0], [0, 1 / scale, 0]], dtype=torch.float32).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@pytest.mark.parametrize("scale", [1.0, 1.05, 1.1, 0.92, 0.5, 2.0])
def test_zoom_matrix_samples_as_training_zooms(scale: float):
    x = torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    a = tta.zoom_matrix(scale)
    assert torch.allclose(a @ x @ a.T, grid_sample_zoom(x, scale), atol=1e-5)
    # Each row is an interpolation: weights >= 0 summing to 1.
    assert torch.all(a >= 0) and torch.allclose(a.sum(1), torch.ones(48))
    if scale == 1.0:
        assert torch.allclose(a, torch.eye(48), atol=1e-12)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError):
            tta.zoom_matrix(bad)


class Probe(torch.nn.Module):
    """A network that is not mirror-symmetric and gives every face its own logits."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(0.05 * torch.randn(48 * 48, 6, generator=torch.Generator().manual_seed(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("zooms", [(1.0,), (1.0, 1.05), (0.92, 1.0, 1.1)])
def test_averaged_logits_are_the_mean_over_every_view_of_each_face(flip: bool, zooms: tuple[float, ...]):
    net = Probe()
    averaged = tta.TestTimeAveraged(net, flip, zooms)
    assert averaged.views == len(zooms) * (2 if flip else 1)
    x = torch.randn(5, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    views = [grid_sample_zoom(x, z) for z in zooms]
    if flip:
        views += [torch.flip(v, dims=[3]) for v in views]
    with torch.no_grad():
        expected = torch.stack([net(v) for v in views]).mean(0)
        got = averaged(x)
        assert got.shape == (5, 6) and torch.allclose(got, expected, atol=1e-4)
        if flip:
            # Zooms about the centre commute with the mirror: the average is mirror-invariant.
            assert torch.allclose(got, averaged(torch.flip(x, dims=[3])), atol=1e-4)
    with pytest.raises(ValueError):
        tta.TestTimeAveraged(net, flip, ())


def test_zoom_averaged_export_matches_pytorch_in_onnx_runtime_and_the_app(tmp_path: Path):
    torch.manual_seed(0)
    net = models.build("emonet-tiny", 6).eval()
    head = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(200)  # untrained logits are all alike; spread them so the zooms show
    zooms = (1.0, 1.05)
    out = tmp_path / "zoomed.onnx"
    meta = export.metadata_for("emonet-tiny", ["angry", "fear", "happy", "sad", "surprise", "neutral"], "Zoomed", True, None,
                               net, "validation", zooms)
    result = export.export(net, out, meta, flip_tta=True, zooms=zooms)  # fails itself beyond 1e-5
    assert result["max_abs_diff"] <= export.PARITY_TOLERANCE
    written = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(written[export.ZOOM_TTA_KEY]) == [1.0, 1.05]
    # Zoom averaging changes the answers: the parity file holds the averaged graph's, not the bare net's.
    parity = json.loads(out.with_suffix(".parity.json").read_text())
    faces = torch.tensor(parity["faces"], dtype=torch.float32).reshape(-1, 1, 48, 48) / 255 * 2 - 1
    with torch.no_grad():
        mirror_only = F.softmax(tta.TestTimeAveraged(net, True)(faces), dim=1).numpy()
    assert not np.allclose(parity["probabilities"], mirror_only, atol=1e-4)
    # Models without zooms keep their metadata as before.
    assert export.ZOOM_TTA_KEY not in export.metadata_for("emonet-tiny", ["a"] * 6, "Plain", True, None, net)
    check_with_app(out, tmp_path)


def test_the_card_says_what_the_graph_averages():
    assert evaluate.views_note(True, tta.NO_ZOOM) == " (x2: the graph also runs the mirror image)"
    assert evaluate.views_note(False, tta.NO_ZOOM) == ""
    assert evaluate.views_note(True, (1.0, 1.05)) == " (x4: the graph runs 2 zooms, each also mirrored)"
    assert "zoomed by 1, 1.05" in evaluate.output_note(True, (1.0, 1.05))
    assert evaluate.output_note(True, tta.NO_ZOOM) == ", the average of the face's and its mirror image's logits"


def test_the_tta_command_measures_models_and_their_mean_on_the_validation_split(tmp_path: Path, capsys):
    from emotrain import calibrate, data
    from test_calibrate import synthetic
    from test_train import write_fake_csv

    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(4))
    paths = []
    for seed in (1, 2):
        folder = tmp_path / f"m{seed}"
        folder.mkdir()
        paths.append(synthetic(folder, scale=3.0, faces=10, seed=seed)[0])
    zooms = (0.92, 1.0, 1.1)
    result = tta.main(["--model", *map(str, paths), "--zooms", *map(str, zooms), "--data", str(csv_path)])

    (faces, truth), _ = calibrate.load_splits(str(csv_path), data.labels_for(6))
    inputs = torch.from_numpy(calibrate.faces_to_inputs(faces))
    sums = [0.0, 0.0]
    for path in paths:
        logits = [calibrate.run_logits(onnx.load(str(path)), grid_sample_zoom(inputs, z).numpy()) for z in zooms]
        plain = calibrate.log_softmax(logits[1])
        zoomed = calibrate.log_softmax(np.mean(logits, axis=0, dtype=np.float64))
        assert result["models"][str(path)] == {"as_shipped": pytest.approx(float((plain.argmax(1) == truth).mean())),
                                               "zoom_averaged": pytest.approx(float((zoomed.argmax(1) == truth).mean()))}
        sums = [sums[0] + plain, sums[1] + zoomed]
    assert result["faces"] == len(truth) > 0
    assert result["ensemble"]["as_shipped"] == pytest.approx(float((sums[0].argmax(1) == truth).mean()))
    assert result["ensemble"]["zoom_averaged"] == pytest.approx(float((sums[1].argmax(1) == truth).mean()))
    # A zoom of 0 (or none at all) is one usage error, from every command that takes zooms.
    for command, argv in [(tta.main, ["--model", str(paths[0]), "--zooms", "1.0", "0", "--data", str(csv_path)]),
                          (export.main, ["--random-arch", "emonet-tiny", "--out", str(tmp_path / "x.onnx"), "--zoom-tta", "-1"]),
                          (train.parse_args, ["--out", "unused", "--teacher-zoom-tta", "nan"])]:
        with pytest.raises(SystemExit):
            command(argv)
        assert "a zoom must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
    # Models with other labels than the first are refused, not averaged into nonsense.
    seven = onnx.load(str(paths[1]))
    for entry in seven.metadata_props:
        if entry.key == "labels":
            entry.value = json.dumps(data.labels_for(7))
    onnx.save(seven, str(tmp_path / "seven.onnx"))
    with pytest.raises(SystemExit, match="its labels are not those of"):
        tta.main(["--model", str(paths[0]), str(tmp_path / "seven.onnx"), "--zooms", "1.0", "--data", str(csv_path)])


def test_release_of_an_exported_model_averaged_over_zooms_is_the_zoom_export(tmp_path: Path, capsys):
    """`release --model` (a model whose checkpoint is gone) gives the graph an export with
    `--zoom-tta` gives, carded from the source card, and refuses what it cannot do without writing."""
    from emotrain import calibrate, release
    from test_train import write_fake_csv

    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(5))
    torch.manual_seed(3)
    net = models.build("emonet-tiny", 6).eval()
    head = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(200)
    labels, zooms = ["angry", "fear", "happy", "sad", "surprise", "neutral"], (1.0, 1.05)
    reference = tmp_path / "reference.onnx"
    export.export(net, reference, export.metadata_for("emonet-tiny", labels, "Ref", True, None, net, "validation", zooms),
                  flip_tta=True, zooms=zooms)
    source = tmp_path / "source.onnx"
    export.export(net, source, export.metadata_for("emonet-tiny", labels, "Source", True, 0.5, net, "validation"), flip_tta=True)
    onnx.save(calibrate.apply_temperature(onnx.load(str(source)), 0.8), str(source))  # shipped models are calibrated
    source.with_suffix(".md").write_text("# Source\n\n| | |\n|---|---|\n| training | best at epoch 3 of 3 |\n\n"
                                         "## How it was made\n\n```\ntrain it\nrelease it\n```\n")
    before = {p: p.read_bytes() for p in tmp_path.glob("source.*")}
    out = tmp_path / "zoomed"
    release.main(["--model", str(source), "--zoom-tta", "1.0", "1.05", "--out", str(out), "--data", str(csv_path),
                  "--no-calibrate", "--no-end-to-end"])

    assert {p: p.read_bytes() for p in tmp_path.glob("source.*")} == before
    written = onnx.load(str(out.with_suffix(".onnx")))
    meta = calibrate.metadata(written)
    assert json.loads(meta[export.ZOOM_TTA_KEY]) == [1.0, 1.05] and meta["display_name"] == "Source"
    assert calibrate.TEMPERATURE_KEY not in meta  # zooms average the uncalibrated logits; calibrate fits T again
    inputs = calibrate.faces_to_inputs(export.parity_faces())
    expected = calibrate.run_logits(onnx.load(str(reference)), inputs)
    assert np.abs(calibrate.run_logits(written, inputs) - expected).max() < 1e-5
    assert not np.allclose(expected, calibrate.run_logits(calibrate.strip_temperature(onnx.load(str(source))), inputs),
                           atol=1e-4)
    parity = json.loads(out.with_suffix(".parity.json").read_text())
    assert np.abs(np.asarray(parity["probabilities"]) - calibrate.softmax(expected.astype(np.float64))).max() < 1e-5
    card = out.with_suffix(".md").read_text()
    assert "| training | best at epoch 3 of 3 |" in card and "(x4: the graph runs 2 zooms, each also mirrored)" in card
    assert "| validation accuracy |" in card and "latency per face" in card
    assert "train it\nrelease it\npython -m emotrain.release --model" in card
    assert f"| **PublicTest accuracy** | **{float(meta['publictest_accuracy']):.2%}**" in card
    check_with_app(out.with_suffix(".onnx"), tmp_path)

    # Refused, nothing written: a model already averaged over zooms, no zooms, a model without its card.
    bare = tmp_path / "bare.onnx"
    export.export(net, bare, export.metadata_for("emonet-tiny", labels, "Bare", True, 0.5, net, "validation"), flip_tta=True)
    for argv, message in ((["--model", str(out.with_suffix(".onnx")), "--zoom-tta", "0.9", "1.0"], "already averages over zooms"),
                          (["--model", str(source), "--zoom-tta", "1.0"], None),
                          (["--model", str(bare), "--zoom-tta", "0.9", "1.0"], "bare.md")):
        with pytest.raises(SystemExit, match=message):
            release.main([*argv, "--out", str(tmp_path / "refused"), "--data", str(csv_path), "--no-end-to-end"])
    assert not list(tmp_path.glob("refused*"))
    assert "give --zoom-tta" in capsys.readouterr().err
