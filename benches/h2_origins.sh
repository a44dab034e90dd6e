#!/usr/bin/env bash
# HTTP/2 across many origins: ORIGINS names (h0.bench.test, h1…, all
# --resolve'd to 127.0.0.1) served by one nginx over TLS with http2, PAGES
# pages each, every origin's requests at once; oneloop keeps one connection
# per origin, all open together until the end. Peak RSS at ORIGINS and at
# ORIGINS/10, the difference divided by the extra connections: memory per
# connection (heap, TLS and socket state as the process sees it), for h2 and
# for HTTP/1.1 (--http1.1, --per-host 1: also one connection per origin).
#
# One command on a fresh machine:  bash benches/h2_origins.sh
# Knobs: ORIGINS=1000 PAGES=3 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ORIGINS=${ORIGINS:-1000}
PAGES=${PAGES:-3}
ROUNDS=${ROUNDS:-3}
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -q
ONELOOP="$ROOT/target/release/oneloop"
WORK=$(mktemp -d /tmp/oneloop-h2o.XXXXXX)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/tmp"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WORK/www/page.html"
# shellcheck source=certs.sh
source "$ROOT/benches/certs.sh"
make_certs "$WORK" bench.test "DNS:*.bench.test"
PORT=$(free_port)
cat >"$WORK/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
http {
    access_log off;
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$PORT ssl http2;
        ssl_certificate $WORK/leaf.pem;
        ssl_certificate_key $WORK/leaf.key;
        root $WORK/www;
        location / { rewrite ^ /page.html break; }
    }
}
CONF
chmod -R a+rX "$WORK"
/usr/sbin/nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.3
ulimit -n 65536 2>/dev/null || true
# run ORIGINS PROTO: peak RSS KiB, and the summary's protocols line.
run() {
    local n=$1 proto=$2
    seq 0 $((n - 1)) | awk -v p="$PORT" -v k="$PAGES" '{for (j = 0; j < k; j++) print "https://h" $1 ".bench.test:" p "/p" j}' >"$WORK/urls"
    seq 0 $((n - 1)) | sed 's/^/--resolve\nh/; s/$/.bench.test=127.0.0.1/' >"$WORK/resolve"
    local args=(crawl "$WORK/urls" --no-jsonl --no-progress --no-pacing --ignore-robots --retries 0
        --concurrency $((n * PAGES)) --max-connections $((n * 2)) --ca-file "$WORK/ca.pem" --no-webpki-roots)
    if [ "$proto" = h2 ]; then args+=(--per-host "$PAGES"); else args+=(--http1.1 --per-host 1); fi
    mapfile -t resolve <"$WORK/resolve"
    /usr/bin/time -f "%M" -o "$WORK/rss" "$ONELOOP" "${args[@]}" "${resolve[@]}" >/dev/null 2>"$WORK/err"
    local ok
    ok=$(sed -n 's/^responses: \([0-9]*\) .*/\1/p' "$WORK/err")
    echo "$proto $n $(cat "$WORK/rss") ${ok:-0} $(grep -c . "$WORK/urls") $(sed -n 's/^connections: \([0-9]*\) opened.*/\1/p' "$WORK/err")"
}
small=$((ORIGINS / 10))
for r in $(seq 1 "$ROUNDS"); do
    for proto in h2 http1.1; do
        run "$small" "$proto"
        run "$ORIGINS" "$proto"
    done
done | tee "$WORK/rows" >&2
python3 - "$WORK/rows" "$small" "$ORIGINS" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    proto, n, rss, ok, want, opened = line.split()
    assert ok == want, f"{proto} {n}: {ok} of {want} responses"
    rows[(proto, int(n))].append((int(rss), int(opened)))
small, big = int(sys.argv[2]), int(sys.argv[3])
print("| protocol | origins | connections | peak RSS MiB | per extra connection KiB |")
print("|---|---:|---:|---:|---:|")
for proto in ("h2", "http1.1"):
    a = statistics.median(r for r, _ in rows[(proto, small)])
    b = statistics.median(r for r, _ in rows[(proto, big)])
    ca, cb = rows[(proto, small)][0][1], rows[(proto, big)][0][1]
    print(f"| {proto} | {small} | {ca} | {a/1024:.1f} | |")
    print(f"| {proto} | {big} | {cb} | {b/1024:.1f} | {(b - a) / max(cb - ca, 1):.1f} |")
PY
