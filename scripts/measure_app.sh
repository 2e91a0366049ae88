#!/usr/bin/env bash
# Measures the desktop app on SOURCE (default: the built-in demo, 640x480 at 30 frames/s, one
# face) in a real window under Xvfb: CPU use per thread over a window of SECONDS, the UI pass
# time and the capture-to-display latency (the app prints both when it closes, over the whole
# run and over its last frames), and how long closing takes.
#   scripts/measure_app.sh [SECONDS] [SCREENSHOT.png or ""] [SOURCE]
# Group scenes: `emocam eval-detect --write-clips /tmp/clips --frames-per-photo 300` writes
# 40-second clips of the annotated photos, e.g. /tmp/clips/group_1280x720.avi.
set -euo pipefail
seconds="${1:-20}"
screenshot="${2:-}"
source="${3:-demo}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMOCAM_BIN:-$root/target/release/emocam}"   # EMOCAM_BIN: another build, for A/B runs
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
log="$(mktemp)"
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -f "$log"' EXIT
export DISPLAY="$display"
sleep 1
EMOCAM_SCREENSHOT_DIR="$(mktemp -d)" "$bin" --source "$source" 2>"$log" &
app=$!
sleep 6   # window, model and first frames

ticks() { # thread name and CPU ticks (user+system) of every thread of the app
  for task in /proc/"$app"/task/*; do
    name="$(tr " " "_" < "$task/comm")"
    stat="$(sed 's/^.*) //' "$task/stat")"
    echo "$name $(echo "$stat" | awk '{print $12 + $13}')"
  done
}
before="$(ticks)"
sleep "$seconds"
after="$(ticks)"
hz="$(getconf CLK_TCK)"
echo "CPU over ${seconds} s, % of one core, per thread:"
{ echo "$before" | sed 's/$/ -1/'; echo "$after" | sed 's/$/ 1/'; } |
  awk -v hz="$hz" -v s="$seconds" '{t[$1] += $2 * $3} END {for (n in t) if (t[n] > 0) printf "  %-20s %5.1f%%\n", n, 100 * t[n] / hz / s}' | sort -k2 -n -r
[ -n "$screenshot" ] && import -window root "$screenshot" && echo "screenshot: $screenshot"
start=$(date +%s.%N)
xdotool search --name "^emocam$" windowfocus --sync key ctrl+q
wait "$app" || true
end=$(date +%s.%N)
echo "closed in $(echo "$end - $start" | bc) s"
grep '^emocam:' "$log" || cat "$log"
