#!/usr/bin/env bash
# Side-by-side benchmark: oneloop against tokio + hyper (current-thread and
# multi-thread), reqwest, the seed's asyncio + aiohttp design, and wrk (the
# ceiling of a keep-alive HTTP client here; it repeats one URL).
#
# One command on a fresh machine:   bash benches/compare/run.sh
# Knobs (environment): ROUNDS=3 N=100000 C=200 N_TLS=20000 N_MEM=1000000 WRK_SECS=10
#   ONELOOP_BEFORE=/path/to/an/older/oneloop adds it as the peer "oneloop-before",
#   interleaved with the others: a before/after check of a change in one run.
#   WORKLOADS="http https memory gzip" picks the workloads (default: all); N_GZ=20000
#   sizes the gzip one: a 20 KiB HTML page that nginx gzips, fetched and decoded by
#   oneloop and by reqwest with its gzip feature (the hyper peers do not decode).
#   N_H2=100000 C_H2=100 size the h2 one: HTTP/2 over TLS, one connection carrying
#   C_H2 streams at once, for oneloop (--http2), tokio + hyper's h2 client (hyper-h2)
#   and h2load (nghttp2's benchmark client); oneloop-h1 is oneloop over HTTP/1.1 on
#   the same listener with C_H2 connections, for reference.
#
# Everything runs against the same nginx on loopback (plain and TLS), serving a
# 1 KiB page under /page/N. Peers run interleaved, round after round; the table
# shows medians, and each peer's ratio to oneloop from the same rounds.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
C=${C:-200}
N_TLS=${N_TLS:-20000}
N_MEM=${N_MEM:-1000000}
WRK_SECS=${WRK_SECS:-10}
N_GZ=${N_GZ:-20000}
N_H2=${N_H2:-100000}
C_H2=${C_H2:-100}
WORKLOADS=${WORKLOADS:-http https memory gzip h2}
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }

log() { echo "== $*" >&2; }

# --- what it needs -----------------------------------------------------------
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
command -v openssl >/dev/null || need+=(openssl)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
PY=python3
if ! $PY -c 'import aiohttp' 2>/dev/null; then
    log "pip install aiohttp"
    $PY -m pip install --quiet aiohttp 2>/dev/null || $PY -m pip install --quiet --break-system-packages aiohttp
fi

log "building oneloop and the peers (release)"
(cd "$ROOT" && cargo build --release -q)
(cd "$HERE" && cargo build --release -q)
ONELOOP="$ROOT/target/release/oneloop"
PEER="$HERE/target/release/oneloop-compare"

# --- nginx on loopback, plain and TLS -------------------------------------------
WORK=$(mktemp -d /tmp/oneloop-bench.XXXXXX)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/tmp"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WORK/www/page.html"
# A 20 KiB HTML page with some variety (it gzips about 5:1, like real pages).
python3 -c '
import random
random.seed(1)
words = "the event loop from the textbook made explicit every connection a visible state machine queue pool".split()
out = ["<html><body>"]
while sum(map(len, out)) < 20 * 1024:
    out.append("<p>" + " ".join(random.choice(words) for _ in range(12)) + "</p>")
print("\n".join(out)[: 20 * 1024])' >"$WORK/www/page20k.html"
# shellcheck source=../certs.sh
source "$HERE/../certs.sh"
make_certs "$WORK" 127.0.0.1 "IP:127.0.0.1,DNS:localhost"
P=$(free_port)
PS=$(free_port)
PH=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
daemon on;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    http2_max_concurrent_streams 128;
    server {
        listen 127.0.0.1:$P;
        listen 127.0.0.1:$PS ssl;
        listen 127.0.0.1:$PH ssl http2;
        ssl_certificate $WORK/leaf.pem;
        ssl_certificate_key $WORK/leaf.key;
        root $WORK/www;
        location /page/ { rewrite ^ /page.html break; }
        location /gz/ {
            rewrite ^ /page20k.html break;
            gzip on; gzip_types text/html; gzip_min_length 0; gzip_comp_level 6;
        }
    }
}
EOF
chmod -R a+rX "$WORK" # mktemp makes it 0700; nginx workers drop privileges
/usr/sbin/nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5
if ! curl -sf "http://127.0.0.1:$P/page/1" >/dev/null ||
    ! curl -sf --cacert "$WORK/ca.pem" "https://127.0.0.1:$PS/page/1" >/dev/null; then
    echo "nginx is not serving:" >&2
    cat "$WORK/logs/error.log" >&2
    curl -sv --cacert "$WORK/ca.pem" "https://127.0.0.1:$PS/page/1" 2>&1 | tail -5 >&2
    exit 1
fi
if ! curl -sf --http2 --cacert "$WORK/ca.pem" "https://127.0.0.1:$PH/page/1" >/dev/null; then
    echo "nginx is not serving HTTP/2:" >&2
    cat "$WORK/logs/error.log" >&2
    exit 1
fi
log "nginx on 127.0.0.1:$P (http), :$PS (https) and :$PH (https, h2 and http/1.1)"

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# run WORKLOAD PEER N SCHEME: one measured run, one TSV line:
# workload peer n secs cpu_secs rss_kib ok errors
run() {
    local workload=$1 peer=$2 n=$3 scheme=$4
    local prefix port ca=()
    local c=$C
    if [ "$scheme" = https ]; then port=$PS; ca=("$WORK/ca.pem"); else port=$P; fi
    prefix="$scheme://127.0.0.1:$port/page/"
    if [ "$scheme" = h2 ]; then port=$PH; ca=("$WORK/ca.pem"); c=$C_H2; prefix="https://127.0.0.1:$PH/page/"; fi
    [ "$scheme" = gzip ] && prefix="http://127.0.0.1:$P/gz/"
    local out="$WORK/out" tf="$WORK/time"
    case $peer in
    oneloop|oneloop-before|oneloop-h1)
        local bin=$ONELOOP
        [ "$peer" = oneloop-before ] && bin=$ONELOOP_BEFORE
        local args=(crawl "$WORK/urls-$scheme-$n" --no-jsonl --no-progress --no-pacing --ignore-robots --retries 0
            --concurrency "$c" --per-host "$c" --max-connections "$c" --no-body)
        [ "$scheme" != http ] && args+=(--ca-file "$WORK/ca.pem" --no-webpki-roots)
        [ "$scheme" = h2 ] && args+=("$([ "$peer" = oneloop-h1 ] && echo --http1.1 || echo --http2)")
        /usr/bin/time -f "%e %U %S %M" -o "$tf" "$bin" "${args[@]}" >/dev/null 2>"$out"
        local ok errors
        ok=$(sed -n 's/^responses: [0-9]* (1xx [0-9]*, 2xx \([0-9]*\).*/\1/p' "$out")
        errors=$(( n - ok ))
        ;;
    aiohttp)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" $PY "$HERE/aiohttp_peer.py" "$n" "$C" "$prefix" "${ca[@]}" >"$out" 2>&1 || true
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$out"); errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$out")
        ;;
    h2load)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" h2load -n "$n" -c 1 -m "$c" "${prefix}1" >"$out" 2>&1 || true
        ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
        errors=$(( n - ${ok:-0} ))
        ;;
    wrk)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" wrk -t1 -c"$C" -d"${WRK_SECS}s" "${prefix}1" >"$out" 2>&1
        ok=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$out")
        errors=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out"); errors=${errors:-0}
        n=$ok
        ;;
    *)
        /usr/bin/time -f "%e %U %S %M" -o "$tf" "$PEER" "$peer" "$n" "$c" "$prefix" "${ca[@]}" >"$out" 2>&1 || true
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$out"); errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$out")
        ;;
    esac
    read -r secs user sys rss <"$tf"
    echo -e "$workload\t$peer\t$n\t$secs\t$(echo "$user + $sys" | bc)\t$rss\t${ok:-0}\t${errors:-?}\t$user" | tee -a "$RESULTS" >&2
}

for scheme in http https; do
    for n in "$N" "$N_TLS" "$N_MEM"; do
        seq 0 $((n - 1)) | sed "s|^|$scheme://127.0.0.1:$([ $scheme = https ] && echo $PS || echo $P)/page/|" >"$WORK/urls-$scheme-$n"
    done
done
seq 0 $((N_GZ - 1)) | sed "s|^|http://127.0.0.1:$P/gz/|" >"$WORK/urls-gzip-$N_GZ"
seq 0 $((N_H2 - 1)) | sed "s|^|https://127.0.0.1:$PH/page/|" >"$WORK/urls-h2-$N_H2"

BEFORE=${ONELOOP_BEFORE:+oneloop-before}
for round in $(seq 1 "$ROUNDS"); do
    if want http; then
        log "round $round/$ROUNDS: plain HTTP, N=$N C=$C"
        for peer in oneloop $BEFORE hyper-ct hyper-mt reqwest aiohttp wrk; do run "http N=$N" "$peer" "$N" http; done
    fi
    if want https; then
        log "round $round/$ROUNDS: HTTPS, N=$N_TLS C=$C"
        for peer in oneloop $BEFORE hyper-ct hyper-mt reqwest aiohttp wrk; do run "https N=$N_TLS" "$peer" "$N_TLS" https; done
    fi
    if want gzip; then
        log "round $round/$ROUNDS: gzip 20 KiB pages, N=$N_GZ C=$C"
        for peer in oneloop $BEFORE reqwest; do run "gzip N=$N_GZ" "$peer" "$N_GZ" gzip; done
    fi
    if want h2; then
        log "round $round/$ROUNDS: HTTP/2 over TLS, one connection, N=$N_H2 streams C=$C_H2"
        for peer in oneloop $BEFORE hyper-h2 h2load oneloop-h1; do run "h2 N=$N_H2" "$peer" "$N_H2" h2; done
    fi
done
if want memory; then
    log "memory: N=$N_MEM C=$C (aiohttp left out: one task per URL up front is the trap itself)"
    for peer in oneloop $BEFORE hyper-ct hyper-mt reqwest; do run "memory N=$N_MEM" "$peer" "$N_MEM" http; done
    log "memory: oneloop flat from N=10,000"
    seq 0 9999 | sed "s|^|http://127.0.0.1:$P/page/|" >"$WORK/urls-http-10000"
    run "memory N=10000" oneloop 10000 http
fi

python3 - "$RESULTS" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    w, peer, n, secs, cpu, rss, ok, errors, user = line.rstrip("\n").split("\t")
    if (w, peer) not in rows:
        order.append((w, peer))
    n, secs, cpu, rss, user = int(n), float(secs), float(cpu), int(rss), float(user)
    per = 1e6 / max(n, 1)
    rows[(w, peer)].append((n / secs, cpu * per, rss / 1024, errors, user * per))
med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
           max(r[2] for r in v), ",".join(sorted({r[3] for r in v})),
           statistics.median(r[4] for r in v)) for k, v in rows.items()}
# CPU is user + system; user alone is the client's own code (on loopback the
# kernel's TCP work lands on whichever process is in the socket at the time).
print("| workload | client | requests/s | CPU µs/request | of it user | peak RSS MiB | errors | req/s vs oneloop | CPU vs oneloop |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for w, peer in order:
    rps, cpu, rss, err, user = med[(w, peer)]
    base = med.get((w, "oneloop"))
    r1 = f"{rps / base[0]:.2f}×" if base else ""
    r2 = f"{cpu / base[1]:.2f}×" if base else ""
    print(f"| {w} | {peer} | {rps:,.0f} | {cpu:.1f} | {user:.1f} | {rss:.1f} | {err} | {r1} | {r2} |")
PY
