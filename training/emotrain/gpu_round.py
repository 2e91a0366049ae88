"""One round of training on a GPU machine lent for minutes, and the way its results come back.

The `device` tool of this workplace lends such a machine now and then: no network, no
../shared, a 64 MiB working tree, at most 8 files of 16 MiB coming back per command. So the
training faces travel as one xz-compressed array (46.5 MiB), the backbones train side by side on the one GPU
with their schedules fitted to a fixed budget, and each run's best checkpoint comes back as
float16 pieces that `unpack` joins into a float32 `best.pt` for `release`.

    python -m emotrain.gpu_round pack-data --out ../.gpu/fer_train.npy.xz           # here
    python -m emotrain.gpu_round train --pack ../.gpu/fer_train.npy.xz --out "$OUT"  # there
    python -m emotrain.gpu_round unpack --pieces DIR --out runs/gpu                  # here again

`train` runs two phases. First, every big backbone (`--big-archs`) at 6 and at 7 classes, side
by side. Then EmoNet Tiny at 6 and 7 classes, distilled from the first phase's models of the same
classes. It copies the pieces of the best big backbone (on validation; both of its class counts),
of both Tinys and a log archive to `--out`, and leaves the other runs' pieces in `--work`, listed
in `rest.txt`, for a second command on the still-warm machine to copy out.
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

from . import data

# Under the tool's 16 MiB per returned file, with room to spare.
PIECE_BYTES = 15 * 2**20
# The recipe of both phases: the classic CIFAR schedule (batch 128, SGD+Nesterov peak lr 0.1,
# cosine), bfloat16 autocast. --epochs is an upper bound: the budget fits the schedule.
RECIPE = ["--epochs", "300", "--batch", "128", "--lr", "0.1", "--bf16", "--fit-epochs-to-budget"]
TINY_TEACHER_ZOOMS = ["0.92", "1.0", "1.1"]


def pack_data(out: Path, source: str) -> None:
    """FER-2013 Training (7 classes: the 6-class set is derived from it there) as two arrays in
    one xz stream: zlib (np.savez_compressed) leaves 60 MiB, too much for the tool's 64."""
    images, labels = data.load_split(source, "train", data.labels_for(7), data.CACHE_DIR)
    out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(out, "wb") as f:
        np.save(f, images)
        np.save(f, labels)
    print(f"{out}: {len(images)} faces, {out.stat().st_size / 2**20:.1f} MiB")


def seed_caches(pack: Path, data_path: Path) -> None:
    """Writes `load_split`'s caches of `data_path` (which does not exist there) from the packed
    7-class array: train.py then reads the faces as if it had decoded them."""
    with lzma.open(pack, "rb") as f:
        images, labels7 = np.load(f), np.load(f)
    for classes in (6, 7):
        names = data.labels_for(classes)
        keep = np.isin(labels7, [data.FER_LABELS_7.index(n) for n in names])
        remap = {data.FER_LABELS_7.index(n): i for i, n in enumerate(names)}
        targets = np.array([remap[int(v)] for v in labels7[keep]], dtype=np.int64)
        cache = data.cache_path(data_path, "train", names, data.CACHE_DIR)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images[keep], labels=targets)


def run_side_by_side(runs: dict[str, list[str]], work: Path) -> None:
    """Starts every `train` command of `runs` (name -> arguments) at once and waits for all."""
    procs = {}
    for name, args in runs.items():
        command = [sys.executable, "-m", "emotrain.train", *args, "--out", str(work / name)]
        with open(work / "commands.txt", "a") as f:
            f.write(" ".join(["python", *command[1:]]) + "\n")
        log = open(work / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
    for name, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        print(f"{name}: exit {code}, best {best_accuracy(work / name):.4f}", flush=True)
        if code != 0:
            # The logs come back only in the archive; a failure's cause belongs in this output too.
            print("".join((work / f"{name}.log").read_text().splitlines(keepends=True)[-15:]), flush=True)


def best_accuracy(run: Path) -> float:
    history = run / "history.json"
    return json.loads(history.read_text())["best_acc"] if history.exists() else 0.0


def pack_checkpoint(best: Path, dest: Path, name: str) -> list[Path]:
    """`best` with its floating-point weights in float16, cut into pieces NAME.pt.0, NAME.pt.1, ..."""
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["meta"]["carried_as"] = "float16"
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    raw = buffer.getvalue()
    dest.mkdir(parents=True, exist_ok=True)
    pieces = []
    for i, start in enumerate(range(0, len(raw), PIECE_BYTES)):
        piece = dest / f"{name}.pt.{i}"
        piece.write_bytes(raw[start:start + PIECE_BYTES])
        pieces.append(piece)
    return pieces


def unpack(pieces_dir: Path, out: Path) -> None:
    """Joins every NAME.pt.0, NAME.pt.1, ... of `pieces_dir` into OUT/NAME/best.pt, weights float32."""
    # NAME -> {piece number: path}; other files (logs, a NAME.pt.bak) are not pieces.
    pieces: dict[str, dict[int, Path]] = {}
    for path in pieces_dir.glob("*.pt.*"):
        name, number = path.name.rsplit(".pt.", 1)
        if number.isdigit():
            pieces.setdefault(name, {})[int(number)] = path
    if not pieces:
        raise SystemExit(f"no checkpoint pieces (NAME.pt.0, ...) in {pieces_dir}")
    for name, numbered in sorted(pieces.items()):
        if sorted(numbered) != list(range(len(numbered))):
            raise SystemExit(f"{name}: pieces {sorted(numbered)} are not 0..{len(numbered) - 1}")
        parts = [numbered[i] for i in range(len(numbered))]
        try:
            ckpt = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), map_location="cpu", weights_only=False)
        except Exception as error:  # torch.load raises several kinds on a cut or damaged stream
            raise SystemExit(f"{name}: its pieces do not join into a checkpoint (a piece missing or cut short?): {error}") from error
        ckpt["model"] = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
        (out / name).mkdir(parents=True, exist_ok=True)
        torch.save(ckpt, out / name / "best.pt")
        print(f"{out / name / 'best.pt'}: {ckpt['meta']['arch']}, {len(ckpt['meta']['labels'])} classes, "
              f"best {ckpt['state']['best_acc']:.4f} at epoch {ckpt['state']['epoch']}")


def train_round(args: argparse.Namespace) -> None:
    started = time.monotonic()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    data_path = work / "fer2013"
    seed_caches(Path(args.pack), data_path)
    common = ["--data", str(data_path), "--threads", str(args.threads), *RECIPE]
    if args.limit_train:
        common += ["--limit-train", str(args.limit_train)]

    big = {f"{arch}-{classes}": ["--arch", arch, "--classes", str(classes), "--time-budget-min", str(args.big_min), *common]
           for arch in args.big_archs for classes in (6, 7)}
    run_side_by_side(big, work)
    finished = [arch for arch in args.big_archs if (work / f"{arch}-6" / "best.pt").exists()
                and (work / f"{arch}-7" / "best.pt").exists()]
    if not finished:
        raise SystemExit("no big backbone finished a first epoch at both class counts: see the logs")
    winner = max(finished, key=lambda arch: best_accuracy(work / f"{arch}-6"))
    packed = work / "packed"
    for name in big:
        if (work / name / "best.pt").exists():
            pieces = pack_checkpoint(work / name / "best.pt", packed, name)
            if name.startswith(f"{winner}-"):
                for piece in pieces:
                    shutil.copy(piece, out)
    archive_logs(work, out)

    # The Tinys get what is left of the deadline, less a minute for packing and slack.
    left_min = args.deadline_min - (time.monotonic() - started) / 60 - 1.0
    tiny_min = min(args.tiny_min, left_min)
    if tiny_min < 0.5:
        print(f"{left_min:.1f} min left: no time for the distilled Tinys", flush=True)
    else:
        tiny = {}
        for classes in (6, 7):
            teachers = [str(work / f"{arch}-{classes}" / "best.pt") for arch in finished]
            tiny[f"distilled-emonet-tiny-{classes}"] = ["--arch", "emonet-tiny", "--classes", str(classes),
                                              "--time-budget-min", f"{tiny_min:.2f}", "--teacher", *teachers,
                                              "--teacher-zoom-tta", *TINY_TEACHER_ZOOMS, *common]
        run_side_by_side(tiny, work)
        for name in tiny:
            if (work / name / "best.pt").exists():
                for piece in pack_checkpoint(work / name / "best.pt", packed, name):
                    shutil.copy(piece, out)
        archive_logs(work, out)
    rest = sorted(str(p) for p in packed.iterdir() if not (out / p.name).exists())
    (work / "rest.txt").write_text("\n".join(rest) + "\n")
    print(f"winner {winner}; left in {packed} for a second command: {' '.join(Path(p).name for p in rest)}")


def archive_logs(work: Path, out: Path) -> None:
    """The logs, histories and commands of every run, as one file (the tool returns 8 at most)."""
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for path in sorted(work.glob("*.log")) + sorted(work.glob("*/history.json")) + [work / "commands.txt"]:
            if path.exists():
                tar.add(path, arcname=str(path.relative_to(work)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack-data", help="FER-2013 Training as one compressed array, to carry")
    pk.add_argument("--data", default=data.DEFAULT_DATA)
    pk.add_argument("--out", required=True)
    tr = sub.add_parser("train", help="the round itself, on the GPU machine")
    tr.add_argument("--pack", required=True, help="the array from pack-data")
    tr.add_argument("--out", required=True, help="the folder the tool returns ($OUT)")
    tr.add_argument("--work", default="/tmp/gpu_round", help="run folders and all packed pieces")
    tr.add_argument("--big-archs", nargs="+", default=["vgg16", "resnet18"])
    tr.add_argument("--big-min", type=float, default=5.5, help="training budget of the first phase, minutes")
    tr.add_argument("--tiny-min", type=float, default=2.0, help="training budget of the second phase, minutes")
    tr.add_argument("--deadline-min", type=float, default=9.0, help="the command's own limit, minutes")
    tr.add_argument("--threads", type=int, default=3, help="CPU threads per run")
    tr.add_argument("--limit-train", type=int, default=0, help="train on the first N faces only (smoke tests)")
    up = sub.add_parser("unpack", help="join returned pieces into float32 best.pt files")
    up.add_argument("--pieces", required=True)
    up.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.command == "pack-data":
        pack_data(Path(args.out), args.data)
    elif args.command == "train":
        train_round(args)
    else:
        unpack(Path(args.pieces), Path(args.out))


if __name__ == "__main__":
    main()
