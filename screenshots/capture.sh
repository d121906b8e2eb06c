#!/usr/bin/env bash
# Refreshes the text screenshots in this folder by playing the real binary in tmux.
# Usage: bash screenshots/capture.sh   (needs tmux; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/pinsetter
sock=pinsetter-shots
t() { tmux -L "$sock" "$@"; }
t kill-server 2>/dev/null || true
t new-session -d -s shot -x 160 -y 48 "$bin --seed 1"
sleep 2
t capture-pane -p -t shot > screenshots/opening.txt
# A pocket shot for a right-hander: 8 boards right, aim 0.5° out, full hook, lock at ~80 %.
for _ in 1 2 3 4 5 6 7 8; do t send-keys -t shot Right; done
t send-keys -t shot Up Up '[' '[' '[' '[' '['
sleep 0.3; t send-keys -t shot Space; sleep 0.56; t send-keys -t shot Space
sleep 1.2; t capture-pane -p -t shot > screenshots/rolling.txt
sleep 2.3; t capture-pane -p -t shot > screenshots/after-the-strike.txt
sleep 6
t send-keys -t shot 1 2 3 4 5
sleep 2.5; t capture-pane -p -t shot > screenshots/five-pins-down.txt
t send-keys -t shot Tab d
sleep 0.3; t capture-pane -p -t shot > screenshots/describe.txt
t send-keys -t shot Escape '?'
sleep 0.3; t capture-pane -p -t shot > screenshots/help.txt
t send-keys -t shot q
t kill-server 2>/dev/null || true
echo "captured: $(ls screenshots/*.txt | tr '\n' ' ')"
