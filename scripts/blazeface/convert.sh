#!/usr/bin/env bash
# Converts MediaPipe's BlazeFace face detectors to ONNX (assets/blazeface/), see
# convert.py. Makes a virtual environment with pinned packages (in
# $BFCONV_VENV, default /tmp/bfconv-venv; work files in $BFCONV_WORK, default
# /tmp/bfconv-work) and runs convert.py in it.
#
#   scripts/blazeface/convert.sh [convert.py options]
#   scripts/blazeface/convert.sh reference [reference.py options]
#       also installs the mediapipe 0.10.14 wheel convert.py downloaded and
#       checked, and runs reference.py (MediaPipe vs the numpy reference).
#
# Needs python3.11 (the mediapipe wheel is for CPython 3.11) and PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${BFCONV_VENV:-/tmp/bfconv-venv}"
work="${BFCONV_WORK:-/tmp/bfconv-work}"
export BFCONV_WORK="$work"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "convert.sh: needs Python 3.11 as \$PYTHON or python3" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# Pinned: what convert.py and reference.py were run with (pip freeze).
cat > "$venv/bfconv-requirements.txt" <<'EOF'
absl-py==2.5.1
astunparse==1.6.3
attrs==26.1.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
contourpy==1.3.3
cryptography==51.0.1
cycler==0.12.1
flatbuffers==25.12.19
fonttools==4.69.1
gast==0.7.0
google-auth==2.63.1
google-auth-oauthlib==1.5.0
google-pasta==0.2.0
grpcio==1.85.4
h5py==3.16.0
idna==3.21
keras==2.15.0
kiwisolver==1.5.1
libclang==18.1.1
Markdown==3.11.4
MarkupSafe==3.0.4
matplotlib==3.11.2
ml-dtypes==0.3.2
numpy==1.26.4
oauthlib==4.0.1
onnx==1.17.0
onnxruntime==1.32.0
opencv-python-headless==4.10.0.84
opt_einsum==3.4.0
packaging==26.4
pillow==13.0.0
protobuf==4.25.8
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pyparsing==3.3.3
python-dateutil==4.0.0
requests==2.34.2
requests-oauthlib==2.0.0
six==1.17.0
tensorboard==2.15.2
tensorboard-data-server==0.7.2
tensorflow-cpu==2.15.1
tensorflow-estimator==2.15.0
tensorflow-io-gcs-filesystem==0.37.1
termcolor==3.3.0
tf2onnx==1.17.0
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==1.14.2
EOF
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -r "$venv/bfconv-requirements.txt"

if [ "${1:-}" = "reference" ]; then
  shift
  wheel="$work/mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
  if [ ! -f "$wheel" ]; then
    echo "convert.sh: run convert.sh first (it downloads and checks $wheel)" >&2
    exit 1
  fi
  echo "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4  $wheel" | sha256sum -c -
  # --no-deps: mediapipe's jax/jaxlib/sounddevice are not needed for the
  # legacy face_detection solution; opencv-python-headless stands in for
  # opencv-contrib-python.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$wheel"
  exec "$venv/bin/python" "$here/reference.py" "$@"
fi

exec "$venv/bin/python" "$here/convert.py" "$@"
