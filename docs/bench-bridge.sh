#!/usr/bin/env bash
# HTTP bridge vs nginx (issue 3, "Measured"): requests/s with wrk for the same two files
# (1 KiB and 1 MiB) served by the Leither bridge (/m/<id>/<file>) and by nginx, in the
# same run, on loopback. Needs the Debian packages: apt-get install -y nginx wrk
#
#   docs/bench-bridge.sh                     # wrk -t2 -c32 -d10s per case
#   DURATION=5s CONNS=64 docs/bench-bridge.sh
#   LEITHER_BIN=/path/to/leither docs/bench-bridge.sh   # skip the build
#
# nginx runs as the current user from a temp config (not the system service), with
# settings a tuned static server would use: worker_processes auto, sendfile,
# open_file_cache, no access log, long keep-alive. Leither runs `leither run` as is.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y nginx wrk curl" >&2; exit 1; }
done
if [ -z "${LEITHER_BIN:-}" ]; then
  cargo build --release -q -p leither-core --bin leither
  LEITHER_BIN="${CARGO_TARGET_DIR:-target}/release/leither"
fi

W=$(mktemp -d)
NODE_PID=""
cleanup() {
  [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/www" "$W/node" "$W/nginx"
head -c 1024 /dev/urandom >"$W/www/small.bin"
head -c 1048576 /dev/urandom >"$W/www/big.bin"
# nginx started by root serves as an unprivileged worker user: let it read the files.
chmod 755 "$W"
chmod -R a+rX "$W/www"

# --- Leither: a public Mimei holding the two files, released.
export LEITHER_PASSPHRASE=bench RUST_LOG=warn
L() { "$LEITHER_BIN" --data-dir "$W/node" "$@"; }
"$LEITHER_BIN" --data-dir "$W/node" run --listen 127.0.0.1:0 >/dev/null 2>"$W/node.log" &
NODE_PID=$!
for _ in $(seq 1 300); do
  [ -f "$W/node/api.json" ] && grep -q "\"pid\": *$NODE_PID" "$W/node/api.json" 2>/dev/null && break
  sleep 0.1
done
LURL=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$W/node/api.json")
ID=$(L mimei create bench --public --import "$W/www" 2>/dev/null)
L mimei backup "$ID" -m bench >/dev/null
L mimei release "$ID@0" >/dev/null

# --- nginx on a free loopback port.
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 60s;
  open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;
  client_body_temp_path $W/nginx/body; proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fcgi; uwsgi_temp_path $W/nginx/uwsgi; scgi_temp_path $W/nginx/scgi;
  types { application/octet-stream bin; }
  server { listen 127.0.0.1:$NPORT; root $W/www; etag on; }
}
EOF
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -e "$W/nginx/error.log"
sleep 0.5

# Both must serve the same bytes.
for f in small.bin big.bin; do
  cmp -s <(curl -sf "$LURL/m/$ID/$f") "$W/www/$f" || { echo "Leither served wrong bytes for $f" >&2; exit 1; }
  cmp -s <(curl -sf "http://127.0.0.1:$NPORT/$f") "$W/www/$f" || { echo "nginx served wrong bytes for $f" >&2; exit 1; }
done

rps() { wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-12s | %14s | %14s | %8s |\n' file "Leither req/s" "nginx req/s" ratio
printf '|%s|%s|%s|%s|\n' "--------------" "----------------" "----------------" "----------"
for f in small.bin big.bin; do
  l=$(rps "$LURL/m/$ID/$f")
  n=$(rps "http://127.0.0.1:$NPORT/$f")
  r=$(awk -v a="$l" -v b="$n" 'BEGIN { printf "%.2f", a / b }')
  size=$([ "$f" = small.bin ] && echo "1 KiB" || echo "1 MiB")
  printf '| %-12s | %14s | %14s | %8s |\n' "$size" "$l" "$n" "$r"
done
