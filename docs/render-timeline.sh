#!/usr/bin/env bash
# Renders the README's timeline pictures with headless Chromium:
#   docs/img/timeline.png         a small HTTPS demo over DNS names
#   docs/img/timeline-stalls.png  the same with a blocking callback (the pitfall)
# One command on a fresh machine: bash docs/render-timeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
cargo build --release -q
WORK=$(mktemp -d /tmp/oneloop-timeline.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

render() { # svg png
    local h
    h=$(grep -oP '<svg [^>]*height="\K[0-9]+' "$1" | head -1)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/profile" --hide-scrollbars \
        --window-size=1200,"$h" --screenshot="$2" "file://$1" 2>/dev/null
    echo "wrote $2"
}

./target/release/oneloop demo --urls 600 --hosts 3 --names 6 --per-host 2 --concurrency 12 \
    --tls --timeline "$WORK/timeline.svg" >/dev/null
render "$WORK/timeline.svg" docs/img/timeline.png

./target/release/oneloop demo --urls 60 --hosts 3 --names 6 --per-host 2 --concurrency 12 \
    --tls --block-ms 25 --timeline "$WORK/stalls.svg" >/dev/null
render "$WORK/stalls.svg" docs/img/timeline-stalls.png
