#!/usr/bin/env bash
# One-time (idempotent) set-up of everything emocam needs on Debian/Ubuntu:
#   - Debian packages: OpenCV 4 development files, clang/libclang (for the opencv crate's
#     binding generator), pkg-config, and Xvfb for screenshots of the window;
#   - the ONNX Runtime shared library, taken from the PyPI `onnxruntime` wheel into
#     third_party/onnxruntime/ (emocam loads it at run time; nothing is downloaded then);
#   - with --training: the pinned Python packages of training/ (PyTorch, ONNX, ...).
# Re-running skips whatever is already there.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.32.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_training=0
for arg in "$@"; do
  case "$arg" in
    --training) want_training=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Debian packages.
packages=(libopencv-dev clang libclang-dev pkg-config xvfb xauth python3-pip python3-venv libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1 xdotool imagemagick)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages already installed"
fi

# 2. ONNX Runtime from the PyPI wheel.
ort_dir="$root/third_party/onnxruntime"
if [ -f "$ort_dir/libonnxruntime.so" ] && [ "$(cat "$ort_dir/VERSION" 2>/dev/null)" = "$ORT_VERSION" ]; then
  say "ONNX Runtime $ORT_VERSION already in third_party/onnxruntime"
else
  say "fetching ONNX Runtime $ORT_VERSION (PyPI wheel) into third_party/onnxruntime"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "onnxruntime==$ORT_VERSION"
  wheel="$(ls "$tmp"/onnxruntime-*.whl)"
  mkdir -p "$ort_dir"
  python3 - "$wheel" "$ort_dir" <<'PY'
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    libs = [n for n in z.namelist() if "/capi/libonnxruntime.so" in n]
    if not libs:
        sys.exit(f"no libonnxruntime.so in {wheel}")
    with z.open(libs[0]) as src, open(f"{dest}/libonnxruntime.so", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  echo "$ORT_VERSION" > "$ort_dir/VERSION"
fi

# 3. Python packages for training/ and its tests.
if [ "$want_training" -eq 1 ]; then
  if python3 -c "import torch, torchvision, onnx, onnxruntime, pytest" 2>/dev/null; then
    say "training packages already installed"
  else
    say "installing training packages (PyTorch is large: a few minutes)"
    python3 -m pip install --quiet -r "$root/training/requirements.txt"
  fi
fi
say "set-up done"
