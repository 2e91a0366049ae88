#!/usr/bin/env bash
# Live equals offline (#26): plays an annotated clip in the real app, in a window under Xvfb,
# and scores what the app showed against the clip's truth with `emocam eval-detect`'s matching
# (scripts/score_live_detection.py): frames shown, recall over them, false faces per frame, and
# the capture-to-display p50/p95.
#   scripts/measure_live_detection.sh [SECONDS] CLIP.avi
# SECONDS: how long to play, from the first frame shown (default: the clip's length). The clip
# and CLIP.truth.json beside it come from
#   emocam eval-detect --write-clips /tmp/clips --frames-per-photo 300
# and `emocam eval-detect --frames-per-photo 300` gives the offline figures on the same frames.
# The app runs with default settings (a fresh settings folder: the video plays once, not looped)
# and logs the frames it shows to EMOCAM_SHOWN_FRAMES_LOG (src/app/view.rs); extra app options
# (e.g. --detector haar) go in EMOCAM_ARGS. EMOCAM_BIN: another build. EMOCAM_SHOWN_FRAMES_LOG:
# where to keep the log (default: a temporary file, removed).
set -euo pipefail
seconds=""
if [ $# -eq 2 ]; then seconds="$1"; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [SECONDS] CLIP.avi" >&2; exit 2; }
clip="$1"
truth="${clip%.*}.truth.json"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMOCAM_BIN:-$root/target/release/emocam}"
[ -x "$bin" ] || { echo "no app at $bin: build first: cargo build --release" >&2; exit 1; }
[ -f "$clip" ] || { echo "no clip at $clip: emocam eval-detect --write-clips DIR writes them" >&2; exit 1; }
[ -f "$truth" ] || { echo "no truth at $truth: write the clip again with emocam eval-detect --write-clips" >&2; exit 1; }
if [ -z "$seconds" ]; then
  seconds="$(python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); print(int(len(t["frames"]) / t["fps"]) + 1)' "$truth")"
fi

work="$(mktemp -d)"
shown="${EMOCAM_SHOWN_FRAMES_LOG:-$work/shown.jsonl}"
rm -f "$shown"
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
app=""
trap '[ -n "$app" ] && kill "$app" 2>/dev/null; kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
export DISPLAY="$display"
sleep 1
# A fresh settings folder: saved settings (a looped video, another detector) would not be the
# offline run's.
# shellcheck disable=SC2086
XDG_DATA_HOME="$work/data" EMOCAM_SCREENSHOT_DIR="$work/shots" EMOCAM_SHOWN_FRAMES_LOG="$shown" \
  "$bin" --source "$clip" ${EMOCAM_ARGS:-} 2>"$work/app.log" &
app=$!
# The log is created at the first frame shown; play SECONDS from there.
for _ in $(seq 600); do
  [ -e "$shown" ] && break
  kill -0 "$app" 2>/dev/null || { echo "the app ended before showing a frame:" >&2; cat "$work/app.log" >&2; exit 1; }
  sleep 0.1
done
[ -e "$shown" ] || { echo "the app showed no frame within 60 s:" >&2; cat "$work/app.log" >&2; exit 1; }
sleep "$seconds"
xdotool search --name "^emocam$" windowfocus --sync key ctrl+q
wait "$app" || true
app=""
grep '^emocam:' "$work/app.log" || cat "$work/app.log"
echo "played $(basename "$clip") for $seconds s"
python3 "$root/scripts/score_live_detection.py" "$shown" "$truth"
