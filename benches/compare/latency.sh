#!/usr/bin/env bash
# Latency-bound benchmark: a loopback server that answers every request after
# DELAY_MS (200 ms), so throughput is concurrency ÷ latency and thousands of
# connections are open at once, as in a real crawl. oneloop, tokio + hyper
# (current-thread), reqwest and aiohttp (at the concurrency it survives)
# crawl C × ROUNDS_PER_CONN URLs at C = 1,000, 5,000 and 10,000; the table
# gives requests/s against the ideal C / latency, client CPU per request,
# peak RSS and RSS per connection. Plus the broad-crawl row: 100,000 URLs over
# 10,000 names through oneloop's loopback nameserver, queries per name.
#
# One command on a fresh machine:   bash benches/compare/latency.sh
# Knobs: DELAY_MS=200 CS="1000 5000 10000" PER_CONN=5 AIOHTTP_MAX_C=1000
#   BACKLOG=65535 (the server's accept queue; 1024 is the common default, where a
#   client that opens thousands of connections in one turn overflows it);
#   PEERS="oneloop hyper-ct reqwest floor" (add oneloop-noramp: oneloop without its
#   connect ramp, --max-connecting 1000000); BROAD_CRAWL=0 skips the broad-crawl row.
# `floor` is no HTTP client: blocking connects and in-order reads on one thread,
# the system calls alone. On a machine where client and server share few cores
# it sets what any one-thread client can reach (the ideal C / latency may not be
# reachable at all); the table gives each row against its best run, "vs floor".
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)
DELAY_MS=${DELAY_MS:-200}
CS=${CS:-"1000 5000 10000"}
PER_CONN=${PER_CONN:-5}
AIOHTTP_MAX_C=${AIOHTTP_MAX_C:-1000}
BACKLOG=${BACKLOG:-65535}
PEERS=${PEERS:-oneloop hyper-ct reqwest floor}
BROAD_CRAWL=${BROAD_CRAWL:-1}
log() { echo "== $*" >&2; }

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
[ -x /usr/bin/time ] || { $SUDO apt-get update -qq; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null; }
PY=python3
$PY -c 'import aiohttp' 2>/dev/null || $PY -m pip install --quiet aiohttp 2>/dev/null || $PY -m pip install --quiet --break-system-packages aiohttp
# Every client and the server hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
log "open-file limit $(ulimit -n)"

log "building oneloop and the peers (release)"
(cd "$ROOT" && cargo build --release -q)
(cd "$HERE" && cargo build --release -q)
ONELOOP="$ROOT/target/release/oneloop"
PEER="$HERE/target/release/oneloop-compare"
WORK=$(mktemp -d /tmp/oneloop-latency.XXXXXX)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
# A fresh server on a fresh port for every run: each client leaves its C
# connections in TIME_WAIT for a minute, and back-to-back runs against one
# port ran out of that destination's ~28,000 ephemeral ports (the kernel's
# search for a free one, and TIME_WAIT reuse, showed as system CPU and slow
# connects in whichever client came later).
start_server() {
    [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$PEER" serve-delay "$PORT" "$DELAY_MS" "$BACKLOG" &
    SERVER=$!
    PREFIX="http://127.0.0.1:$PORT/page/"
    sleep 0.3
}
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# run C PEER N: one measured run: c peer n secs cpu_secs rss_kib ok
run() {
    local c=$1 peer=$2 n=$3 out="$WORK/out" tf="$WORK/time" ok
    start_server
    case $peer in
    oneloop | oneloop-noramp)
        local extra=()
        [ "$peer" = oneloop-noramp ] && extra=(--max-connecting 1000000)
        seq 0 $((n - 1)) | sed "s|^|$PREFIX|" >"$WORK/urls"
        /usr/bin/time -f "%e %U %S %M" -o "$tf" "$ONELOOP" crawl "$WORK/urls" --no-jsonl --no-progress \
            --no-pacing --ignore-robots --retries 0 --concurrency "$c" --per-host "$c" \
            --max-connections "$c" --no-body "${extra[@]}" >/dev/null 2>"$out"
        ok=$(sed -n 's/^responses: [0-9]* (1xx [0-9]*, 2xx \([0-9]*\).*/\1/p' "$out")
        ;;
    aiohttp)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" $PY "$HERE/aiohttp_peer.py" "$n" "$c" "$PREFIX" >"$out" 2>&1 || true
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$out")
        ;;
    *)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" "$PEER" "$peer" "$n" "$c" "$PREFIX" >"$out" 2>&1 || true
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$out")
        ;;
    esac
    read -r secs user sys rss <"$tf"
    echo -e "$c\t$peer\t$n\t$secs\t$(echo "$user + $sys" | bc)\t$rss\t${ok:-0}" | tee -a "$RESULTS" >&2
}

for c in $CS; do
    n=$((c * PER_CONN))
    log "C=$c, N=$n, latency ${DELAY_MS} ms (ideal $((c * 1000 / DELAY_MS)) requests/s)"
    for peer in $PEERS; do run "$c" "$peer" "$n"; done
    [ "$c" -le "$AIOHTTP_MAX_C" ] && run "$c" aiohttp "$n"
done

BROAD=
if [ "$BROAD_CRAWL" = 1 ]; then
    log "broad crawl: 100,000 URLs over 10,000 names through oneloop's loopback nameserver"
    "$ONELOOP" demo --urls 100000 --names 10000 --concurrency 500 --per-host 2 >"$WORK/broad" 2>/dev/null
    BROAD=$(sed -n 's/^dns: \([0-9]*\) lookups, \([0-9]*\) queries sent.*/\2/p' "$WORK/broad")
fi

python3 - "$RESULTS" "$DELAY_MS" "$BROAD" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
delay = int(sys.argv[2]) / 1000
def rate(row):
    secs, ok = float(row[3]), int(row[6] or 0)
    return ok / secs if secs else 0
# The floor at each C: its best run (a blocking burst of connects can
# overflow a short accept queue and pay the 1 s SYN retransmits; the best run
# is what the system calls allow).
floor = {}
for row in rows:
    if row[1] == "floor":
        floor[int(row[0])] = max(floor.get(int(row[0]), 0), rate(row))
print("| C | client | requests/s | vs ideal C/latency | vs floor | CPU µs/request | peak RSS MiB | RSS per connection | ok |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    c, peer, n, secs, cpu, rss, ok = row
    c, n, secs, cpu, rss, ok = int(c), int(n), float(secs), float(cpu), int(rss), int(ok or 0)
    rps = rate(row)
    vs_floor = f"{rps / floor[c]:.2f}×" if floor.get(c) else "–"
    print(f"| {c:,} | {peer} | {rps:,.0f} | {rps / (c / delay):.2f}× | {vs_floor} | {cpu / max(ok, 1) * 1e6:.1f} | "
          f"{rss / 1024:.1f} | {rss * 1024 / c / 1024:.1f} KiB | {ok:,}/{n:,} |")
broad = sys.argv[3]
if broad:
    print(f"\nBroad crawl (oneloop demo, 100,000 URLs over 10,000 names, A + AAAA): {int(broad):,} queries sent, "
          f"{int(broad) / 10000:.2f} per name ({int(broad) / 20000:.2f} per name and type).")
PY
