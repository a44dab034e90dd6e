#!/usr/bin/env bash
# Renders the timeline pictures of the README and docs with headless Chromium:
#   docs/img/timeline.png         a small HTTPS demo over DNS names (handshakes one
#                                 after the other on the one thread)
#   docs/img/timeline-stalls.png  the same with a blocking callback (the pitfall)
#   docs/img/timeline-polite.png  a polite crawl: 2,000 URLs over 20 hosts at the
#                                 default 10 requests/s per host, robots.txt first
#   docs/img/timeline-1m.png      the 1,000,000-URL demo
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

B=./target/release/oneloop
$B demo --urls 600 --hosts 3 --names 6 --per-host 2 --concurrency 12 \
    --tls --timeline "$WORK/timeline.svg" >/dev/null
render "$WORK/timeline.svg" docs/img/timeline.png

$B demo --urls 60 --hosts 3 --names 6 --per-host 2 --concurrency 12 \
    --tls --block-ms 25 --timeline "$WORK/stalls.svg" >/dev/null
render "$WORK/stalls.svg" docs/img/timeline-stalls.png

$B demo --urls 2000 --hosts 20 --names 0 --robots --rate 10 --burst 2 \
    --timeline "$WORK/polite.svg" >/dev/null
render "$WORK/polite.svg" docs/img/timeline-polite.png

$B demo --urls 1000000 --timeline "$WORK/1m.svg" >/dev/null
render "$WORK/1m.svg" docs/img/timeline-1m.png
