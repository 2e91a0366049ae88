"""Temperature calibration of an exported model: one T > 0, fitted on the validation split, folded into the graph.

    python -m emotrain.calibrate --model ../models/resnet18.onnx

Runs ONNX Runtime on the validation split (`data.validation_split`, the faces training selects
on; PublicTest is never used for fitting), fits the temperature T that minimises the expected
calibration error of softmax(logits / T) there (`--objective nll`: the negative log-likelihood,
as in Guo et al. 2017; both fits are reported), and rewrites the model so that its `logits` output is the
old logits divided by T (one Div node with a constant; the output name and every metadata key
are kept, and a `temperature` key is added). Dividing by T > 0 leaves every argmax, so every
accuracy, as it was; the run checks that on both splits. It reports the expected calibration
error (15 equal-width confidence bins) before and after, on the validation split and on
PublicTest, updates `<model>.parity.json` (PyTorch's probabilities p become softmax(log(p) / T),
which is exactly PyTorch's softmax of the divided logits), and writes a "Calibration" section
into the model card `<model>.md` when there is one.

A model that already has a `temperature` is not calibrated twice: its temperature node is
removed and T is fitted again from the uncalibrated logits, so running this again changes nothing.
A model trained on the validation faces (the first EmoNets, made before the split existed) has no
held-out split to fit on: it is measured and its card says so, but the model is left as it is
(`--allow-seen-validation` overrides).
`emotrain.release` runs this step on every model it ships.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from . import data, preprocess

TEMPERATURE_KEY = "temperature"
NODE_NAME = "temperature_scaling"
INITIALIZER_NAME = "temperature"
UNCALIBRATED_SUFFIX = "_uncalibrated"
ECE_BINS = 15
# Digits of T kept: the graph's float32 constant and the metadata string hold the same value.
T_DECIMALS = 4
# After calibration ONNX Runtime must reproduce the rewritten parity probabilities this closely
# (the export's own tolerance).
PARITY_TOLERANCE = 1e-5


# ----- statistics -----------------------------------------------------------------------------

def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of softmax(logits / temperature)."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), labels].mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over `bins` equal-width confidence bins ((0, 1/bins], ..., ((bins-1)/bins, 1]): the
    face-weighted mean of |accuracy - mean confidence| per bin."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T in [lo, hi] that minimises the NLL of softmax(logits / T): a grid over log T, then a
    golden-section search around the grid's best point (the NLL is unimodal in log T), rounded
    to T_DECIMALS decimals."""
    logits = np.asarray(logits, dtype=np.float64)
    grid = np.linspace(math.log(lo), math.log(hi), 121)
    losses = [nll(logits, labels, math.exp(g)) for g in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    while b - a > 1e-7:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return round(math.exp((a + b) / 2), T_DECIMALS)


# The T tried when minimising the ECE: log-spaced over [1/4, 4], a step of about 1.2%.
ECE_FIT_GRID = np.exp(np.linspace(math.log(0.25), math.log(4.0), 241))
OBJECTIVES = ("ece", "nll")


def fit_temperature_for_ece(logits: np.ndarray, labels: np.ndarray, by_nll: float | None = None) -> float:
    """The T that minimises the binned ECE of softmax(logits / T), from a log-spaced grid and the
    NLL-optimal T `by_nll` (fitted here when not given; so it is never worse than that one on
    these faces); of equals, the one nearest the NLL-optimal T. The ECE is a step function of T,
    so no finer search pays."""
    logits = np.asarray(logits, dtype=np.float64)
    if by_nll is None:
        by_nll = fit_temperature(logits, labels)
    candidates = [by_nll, *ECE_FIT_GRID.tolist()]
    eces = [expected_calibration_error(softmax(logits / t), labels) for t in candidates]
    best = min(eces)
    tied = [t for t, e in zip(candidates, eces) if e <= best + 1e-12]
    return round(min(tied, key=lambda t: abs(math.log(t / by_nll))), T_DECIMALS)


def split_report(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """Accuracy, ECE, NLL and mean confidence of one split, before and after dividing by T."""
    before, after = softmax(logits), softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return {
        "faces": int(len(labels)),
        "accuracy": float((before.argmax(1) == labels).mean()),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "nll_before": nll(logits, labels),
        "nll_after": nll(logits, labels, temperature),
        "confidence_before": float(before.max(1).mean()),
        "confidence_after": float(after.max(1).mean()),
    }


# ----- the graph ------------------------------------------------------------------------------

def load_model(path: Path, load_external_data: bool = True) -> onnx.ModelProto:
    """The ONNX model at `path`. A missing, unreadable or non-ONNX file stops the command with one
    message (every command that reads a shipped model loads it here)."""
    try:
        return onnx.load(str(path), load_external_data=load_external_data)
    except (OSError, DecodeError) as error:
        raise SystemExit(f"cannot read the model {path}: {error}") from error


def fer_labels_of(model: onnx.ModelProto, path: Path) -> list[str]:
    """The model's labels (metadata `labels`). The commands that score a model on FER-2013 read the
    splits by these names, so anything but FER-2013's 6 or 7 classes, in its order, stops the
    command with one message."""
    try:
        labels = json.loads(metadata(model).get("labels", "null"))
    except json.JSONDecodeError:
        labels = None
    if labels not in (data.FER_LABELS_6, data.FER_LABELS_7):
        raise SystemExit(f"{path}: its labels {labels} are not FER-2013's 6 or 7 classes "
                         f"({', '.join(data.FER_LABELS_7)}; 6 drops disgust)")
    return labels


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    for info in graph.value_info:
        if info.name == old:
            info.name = new


def set_metadata(model: onnx.ModelProto, key: str, value: str | None) -> None:
    """Sets metadata `key` of `model` in place (None: removes it), keeping every other key."""
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    for k, v in kept:
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    if value is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def current_temperature(model: onnx.ModelProto) -> float | None:
    value = metadata(model).get(TEMPERATURE_KEY)
    return None if value is None else float(value)


def strip_temperature(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` without its temperature node and key (the uncalibrated graph); an
    uncalibrated model comes back as it is."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    nodes = [n for n in graph.node if n.name == NODE_NAME]
    has_key = TEMPERATURE_KEY in metadata(model)
    if not nodes and not has_key:
        return model
    if len(nodes) != 1 or not has_key:
        raise ValueError(f"the model has a '{TEMPERATURE_KEY}' key or a '{NODE_NAME}' node but not exactly one of "
                         f"each: not a graph emotrain.calibrate wrote; re-export it instead")
    node = nodes[0]
    uncalibrated, output = node.input[0], node.output[0]
    graph.node.remove(node)
    for init in [i for i in graph.initializer if i.name == node.input[1]]:
        graph.initializer.remove(init)
    _rename_tensor(graph, uncalibrated, output)
    set_metadata(model, TEMPERATURE_KEY, None)
    return model


def apply_temperature(model: onnx.ModelProto, temperature: float) -> onnx.ModelProto:
    """A copy of the uncalibrated `model` whose output is its old output divided by `temperature`,
    under the same name, with every metadata key kept and `temperature` added."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if TEMPERATURE_KEY in metadata(model):
        raise ValueError("the model already has a temperature: strip_temperature first")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"expected one output, found {len(graph.output)}")
    output = graph.output[0].name
    uncalibrated = output + UNCALIBRATED_SUFFIX
    _rename_tensor(graph, output, uncalibrated)
    graph.initializer.append(numpy_helper.from_array(np.array(temperature, dtype=np.float32), INITIALIZER_NAME))
    graph.node.append(helper.make_node("Div", [uncalibrated, INITIALIZER_NAME], [output], name=NODE_NAME))
    set_metadata(model, TEMPERATURE_KEY, f"{temperature:.{T_DECIMALS}f}")
    onnx.checker.check_model(model)
    return model


def run_logits(model: onnx.ModelProto, inputs: np.ndarray, threads: int = 1, batch: int = 256) -> np.ndarray:
    """The model's output for float32 inputs (N, 1, 48, 48), with ONNX Runtime on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: inputs[i:i + batch]})[0] for i in range(0, len(inputs), batch)]
    return np.concatenate(out).astype(np.float32)


def faces_to_inputs(images_u8: np.ndarray) -> np.ndarray:
    return preprocess.to_tensor(images_u8).numpy()


# ----- files ----------------------------------------------------------------------------------

def _write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    # mkstemp makes the file private (0600): give it the replaced file's mode, or the umask's default.
    if path.exists():
        mode = path.stat().st_mode & 0o777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rescaled_parity(parity: dict, old_temperature: float, new_temperature: float) -> dict:
    """The parity file for the graph divided by `new_temperature` instead of `old_temperature`
    (1: uncalibrated): p -> softmax(log(p) * old / new), exact for p = softmax(logits / old)."""
    probs = np.asarray(parity["probabilities"], dtype=np.float64)
    with np.errstate(divide="ignore"):
        rescaled = softmax(np.log(probs) * (old_temperature / new_temperature))
    return {**parity, "probabilities": rescaled.tolist()}


CARD_SECTION = "## Calibration"


def card_section(temperature: float, validation: dict, publictest: dict, command: str, applied: bool = True,
                 objective: str = "nll", nll_temperature: float | None = None) -> str:
    rows = "\n".join(
        f"| {name} | {r['faces']} | {r['accuracy']:.2%} | {r['ece_before']:.2%} | {r['ece_after']:.2%} | "
        f"{r['nll_before']:.4f} | {r['nll_after']:.4f} | {r['confidence_before']:.1%} | {r['confidence_after']:.1%} |"
        for name, r in ((f"validation{' (T fitted here)' if applied else ''}", validation), ("PublicTest (held out)", publictest)))
    if applied:
        direction = ("T > 1: the uncalibrated model was over-confident." if temperature > 1 else
                     "T < 1: the uncalibrated model was under-confident." if temperature < 1 else "")
        if objective == "ece":
            fitted = ("the T > 0 that minimises the expected calibration error on the validation split (a grid of T "
                      f"and the T that minimises the negative log-likelihood there, {nll_temperature:.{T_DECIMALS}f})")
            caveat = ""
        else:
            fitted = "the one T > 0 that minimises the negative log-likelihood on the validation split"
            caveat = " (T minimises the NLL, not the binned ECE)" if publictest["ece_after"] > publictest["ece_before"] else ""
        text = f"""The graph's output is the logits divided by the temperature **T = {temperature:.{T_DECIMALS}f}** (metadata key
`temperature`), {fitted}
(ONNX Runtime's outputs; PublicTest was not used to fit it). Dividing by T leaves every prediction,
so every accuracy, as it was (checked on both splits); only the probabilities change. {direction}
On held-out PublicTest the NLL goes from {publictest["nll_before"]:.4f} to {publictest["nll_after"]:.4f} and the ECE from
{publictest["ece_before"]:.2%} to {publictest["ece_after"]:.2%}{caveat}.

Expected calibration error (ECE) over {ECE_BINS} equal-width confidence bins, before and after:

| split | faces | accuracy | ECE before | ECE after | NLL before | NLL after | mean confidence before | after |"""
    else:
        text = f"""**Not calibrated** (no `temperature` key; the output is the plain logits). This model predates the
validation split and was trained on all of FER-2013 Training, the validation faces included, so there is
no held-out split to fit a temperature on (PublicTest is never used for fitting). On the faces it trained
on, its fit gives T = {temperature:.{T_DECIMALS}f}, which would {"lower" if publictest["ece_after"] < publictest["ece_before"] else "raise"} its held-out ECE on PublicTest
from {publictest["ece_before"]:.2%} to {publictest["ece_after"]:.2%}; so none is applied. Retrained on Training less the validation split,
it can be calibrated like the others.

Expected calibration error (ECE) over {ECE_BINS} equal-width confidence bins, as shipped (T = 1) and with that T:

| split | faces | accuracy | ECE as shipped | ECE with T | NLL as shipped | NLL with T | mean confidence as shipped | with T |"""
    return f"""{CARD_SECTION}

{text}
|---|---|---|---|---|---|---|---|---|
{rows}

```
{command}
```
"""


def trained_on_validation(meta: dict[str, str]) -> bool:
    """Whether the model's training set included the validation faces: the models made before the
    split existed (selected on PublicTest, trained on all of Training)."""
    return "less its validation split" not in meta.get("dataset", "")


def update_card(card: Path, section: str, applied: bool = True) -> None:
    """Puts `section` into the card: replacing an earlier Calibration section, or before "## How
    it was made" (or at the end); and notes the division by T (when applied) in the output row."""
    text = card.read_text()
    lines = text.split("\n")
    if CARD_SECTION in lines:
        start = lines.index(CARD_SECTION)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section.rstrip("\n").split("\n") + [""]
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith("## How it was made")), None)
        if at is None:
            lines += [""] + section.rstrip("\n").split("\n")
        else:
            lines[at:at] = section.rstrip("\n").split("\n") + [""]
    for i, line in enumerate(lines):
        if line.startswith("| output |"):
            base = line.split(", divided by the temperature")[0].rstrip(" |")
            lines[i] = base + (", divided by the temperature T (Calibration, below) |" if applied else " |")
    card.write_text("\n".join(lines))


def load_splits(data_path: str, labels: list[str]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(validation faces, labels), (PublicTest faces, labels), as training and evaluation read them.
    `labels`: FER-2013's (`fer_labels_of`)."""
    cache = data.CACHE_DIR
    train_x, train_y = data.load_split(data_path, "train", labels, cache)
    _, val_idx = data.validation_split(train_y, train_x)
    test_x, test_y = data.load_split(data_path, "test", labels, cache)
    return (train_x[val_idx], train_y[val_idx]), (test_x, test_y)


def calibrate_file(model_path: Path, validation: tuple[np.ndarray, np.ndarray], publictest: tuple[np.ndarray, np.ndarray],
                   card: Path | None = None, command: str | None = None, threads: int = 1,
                   allow_seen_validation: bool = False, objective: str = "ece") -> dict:
    """Fits T on `validation` (faces uint8 (N, 48, 48), labels), rewrites the model, its parity
    file and (when given and present) its card. Returns the report.

    A model that was trained on the validation faces (`trained_on_validation`) is measured but
    not rewritten, unless `allow_seen_validation`: a T fitted on faces the model learnt is not a
    calibration of its held-out behaviour. Its card gets the measurement and the reason."""
    model_path = Path(model_path)
    original = load_model(model_path)
    old_temperature = current_temperature(original)
    if old_temperature is not None:
        print(f"{model_path.name} already has temperature {old_temperature}: fitting again from its uncalibrated logits")
    base = strip_temperature(original)
    val_x, val_y = faces_to_inputs(validation[0]), np.asarray(validation[1])
    test_x, test_y = faces_to_inputs(publictest[0]), np.asarray(publictest[1])
    val_logits, test_logits = run_logits(base, val_x, threads), run_logits(base, test_x, threads)

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    nll_temperature = fit_temperature(val_logits, val_y)
    temperature = fit_temperature_for_ece(val_logits, val_y, nll_temperature) if objective == "ece" else nll_temperature
    applied = allow_seen_validation or not trained_on_validation(metadata(original))
    report = {"model": model_path.name, "temperature": temperature, "previous_temperature": old_temperature,
              "objective": objective, "nll_temperature": nll_temperature, "applied": applied,
              "validation": split_report(val_logits, val_y, temperature),
              "publictest": split_report(test_logits, test_y, temperature)}
    if not applied:
        if old_temperature is not None:
            raise SystemExit(f"{model_path.name} was trained on the validation faces but has a temperature: "
                             f"pass allow_seen_validation to re-fit it")
        print(f"{model_path.name} was trained on the validation faces (dataset: {metadata(original).get('dataset')!r}): "
              f"not calibrated, only measured")
        if card is not None and card.exists():
            update_card(card, card_section(temperature, report["validation"], report["publictest"],
                                           command or f"python -m emotrain.calibrate --model {model_path}", applied=False),
                        applied=False)
        return report
    calibrated = apply_temperature(base, temperature)

    # The rewritten graph: the same predictions, and its outputs are the old ones divided by T.
    for name, x, y, raw in (("validation", val_x, val_y, val_logits), ("publictest", test_x, test_y, test_logits)):
        new = run_logits(calibrated, x, threads)
        if not np.array_equal(new.argmax(1), raw.argmax(1)):
            changed = int((new.argmax(1) != raw.argmax(1)).sum())
            raise SystemExit(f"calibration changed {changed} predictions on {name}: not written")
        scale = max(1.0, float(np.abs(raw).max()) / temperature)
        diff = float(np.abs(new - raw / np.float32(temperature)).max())
        if diff > 1e-5 * scale:
            raise SystemExit(f"the calibrated graph's {name} logits differ from logits / T by {diff:.2e}: not written")
        report[name]["accuracy_after"] = float((new.argmax(1) == y).mean())

    parity_path = model_path.with_suffix(".parity.json")
    parity = None
    if parity_path.exists():
        parity = rescaled_parity(json.loads(parity_path.read_text()), old_temperature or 1.0, temperature)
        faces = np.asarray(parity["faces"], dtype=np.uint8).reshape(-1, 48, 48)
        ort_probs = softmax(run_logits(calibrated, faces_to_inputs(faces), threads))
        diff = float(np.abs(ort_probs - np.asarray(parity["probabilities"])).max())
        if diff > PARITY_TOLERANCE:
            raise SystemExit(f"ONNX Runtime differs from the rescaled parity probabilities by {diff:.2e} "
                             f"(> {PARITY_TOLERANCE}): not written")
        parity["max_abs_diff_onnxruntime"] = diff
        report["parity_max_abs_diff"] = diff

    _write_atomically(model_path, lambda tmp: onnx.save(calibrated, str(tmp)))
    if parity is not None:
        _write_atomically(parity_path, lambda tmp: tmp.write_text(json.dumps(parity)))
    if card is not None and card.exists():
        update_card(card, card_section(temperature, report["validation"], report["publictest"],
                                       command or f"python -m emotrain.calibrate --model {model_path}",
                                       objective=objective, nll_temperature=nll_temperature))
    return report


def describe(report: dict) -> str:
    v, t = report["validation"], report["publictest"]
    return (f"{report['model']}: {'' if report['applied'] else 'NOT APPLIED (trained on the validation faces), '}"
            f"T = {report['temperature']:.{T_DECIMALS}f}; ECE validation {v['ece_before']:.2%} -> "
            f"{v['ece_after']:.2%}, PublicTest {t['ece_before']:.2%} -> {t['ece_after']:.2%}; accuracy unchanged "
            f"(validation {v['accuracy']:.2%}, PublicTest {t['accuracy']:.2%})")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an exported .onnx (its .parity.json and .md next to it are updated)")
    p.add_argument("--data", default=data.DEFAULT_DATA, help="FER-2013 folder (train/, test/) or fer2013.csv")
    p.add_argument("--card", default=None, help="the model card (default: <model>.md, when it exists)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    p.add_argument("--command", default=None, help="the command recorded in the card (default: this one)")
    p.add_argument("--report", default=None, help="also write the report as JSON here")
    p.add_argument("--objective", default="ece", choices=OBJECTIVES,
                   help="what T minimises on the validation split: the binned ECE (default) or the NLL")
    p.add_argument("--allow-seen-validation", action="store_true",
                   help="calibrate even a model trained on the validation faces (by default it is only measured)")
    args = p.parse_args(argv)

    model_path = Path(args.model)
    labels = fer_labels_of(load_model(model_path, load_external_data=False), model_path)
    validation, publictest = load_splits(args.data, labels)
    card = Path(args.card) if args.card else model_path.with_suffix(".md")
    command = args.command or f"python -m emotrain.calibrate --model {args.model}"
    report = calibrate_file(model_path, validation, publictest, card, command, args.threads, args.allow_seen_validation,
                            args.objective)
    print(json.dumps(report, indent=1))
    print(describe(report))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
