#!/usr/bin/env bash
# Refreshes the text screenshots in this folder by playing the real binary in tmux.
# Usage: bash screenshots/capture.sh [stadium]   (needs tmux, and Pillow for the PNGs: pip install pillow)
# With `stadium`, only the stadium's shots (a minute or two: the lane fills first).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/pinsetter
sock=pinsetter-shots
t() { tmux -L "$sock" "$@"; }
# shot NAME: a plain-text capture and a colour PNG of the screen as it is now.
shot() {
  t capture-pane -p -t shot > "screenshots/$1.txt"
  t capture-pane -e -p -t shot > "/tmp/pinsetter-$1.ansi"
  [ "$1" = replay ] && cp "/tmp/pinsetter-$1.ansi" "screenshots/$1.ansi"
  python3 screenshots/render_png.py "/tmp/pinsetter-$1.ansi" "screenshots/$1.png" || echo "no PNG for $1 (pip install pillow)"
}
# wait_for TEXT SECONDS: until the screen shows TEXT (the stadium takes a while to fill).
wait_for() {
  for _ in $(seq "$(( $2 * 4 ))"); do
    t capture-pane -p -t shot | grep -q -- "$1" && return 0
    sleep 0.25
  done
  echo "timed out waiting for: $1" >&2
  return 1
}
# The stadium at 200×50: 5,000 nodes and 150,000 pods in ten zones. Filled, one strike, then the
# heat map mid-recovery, the first rack zoomed, and the pods view filtered to what still waits.
stadium_shots() {
  t kill-server 2>/dev/null || true
  t new-session -d -s shot -x 200 -y 50 "$bin play --scenario stadium --seed 1"
  wait_for "150000 running" 180
  for _ in 1 2 3 4 5 6 7 8; do t send-keys -t shot Right; done
  t send-keys -t shot Up Up '[' '[' '[' '[' '['
  sleep 0.3; t send-keys -t shot Space; sleep 0.56; t send-keys -t shot Space
  wait_for "taint-eviction [1-9]" 120
  # Frames are slow while racks recover (see the README): wait for each screen to show.
  t send-keys -t shot h
  wait_for "heat map ·" 60
  sleep 1; shot stadium-heatmap
  t send-keys -t shot Enter
  wait_for "NAME *STATUS *PODS" 60
  sleep 1; shot stadium-rack
  t send-keys -t shot Escape Escape ':' p o d s Enter
  wait_for "pods(all)" 60
  t send-keys -t shot / P e n d i n g
  wait_for "</Pending>" 60
  sleep 1; shot stadium-pods
  t send-keys -t shot Escape Escape q
  t kill-server 2>/dev/null || true
}
if [ "${1:-}" = stadium ]; then
  stadium_shots
  exit 0
fi
t kill-server 2>/dev/null || true
rm -f /tmp/pinsetter-shots-game.jsonl
t new-session -d -s shot -x 160 -y 48 "$bin --seed 1 --record /tmp/pinsetter-shots-game.jsonl"
sleep 2
shot opening
# A pocket shot for a right-hander: 8 boards right, aim 0.5° out, full hook, lock at ~80 %.
for _ in 1 2 3 4 5 6 7 8; do t send-keys -t shot Right; done
t send-keys -t shot Up Up '[' '[' '[' '[' '['
sleep 0.3; t send-keys -t shot Space; sleep 0.56; t send-keys -t shot Space
sleep 1.2; shot rolling
sleep 2.3; shot after-the-strike
sleep 6
t send-keys -t shot 1 2 3 4 5
sleep 2.5; shot five-pins-down
t send-keys -t shot Tab d
sleep 0.3; shot describe
t send-keys -t shot Escape '?'
sleep 0.3; shot help
t send-keys -t shot q
sleep 1
# The same game, replayed: past the strike, then to the second frame's start and on a little.
t kill-server 2>/dev/null || true
t new-session -d -s shot -x 160 -y 48 "$bin replay /tmp/pinsetter-shots-game.jsonl"
sleep 2; t send-keys -t shot Right
sleep 2.5; shot replay
t send-keys -t shot End
sleep 0.5; shot replay-ended
t send-keys -t shot q
t kill-server 2>/dev/null || true
# The pinsetter knocked: three control-plane replicas, upstream's timing, 12.4 s into the gap.
t new-session -d -s shot -x 160 -y 48 "$bin play --control-plane-replicas 3 --timing kubernetes --seed 1"
sleep 6; t send-keys -t shot k
sleep 12.4; shot leader-knocked
t send-keys -t shot q
t kill-server 2>/dev/null || true
# The arena at 200×50: 1,000 nodes, racks of 100. Six racks knocked, then the heat map.
t new-session -d -s shot -x 200 -y 50 "$bin play --scenario arena --seed 1"
sleep 8; t send-keys -t shot 1 2 3 4 5 6
sleep 4; t send-keys -t shot h
sleep 3; shot arena-heatmap
t send-keys -t shot q
t kill-server 2>/dev/null || true
stadium_shots
echo "captured: $(ls screenshots/*.txt screenshots/*.png | tr '\n' ' ')"
