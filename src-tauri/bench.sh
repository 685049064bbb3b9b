#!/usr/bin/env bash
# Measure the desktop app: cold start to a loaded window, idle CPU and memory with the
# node running (the app process and WebKit's web/network processes it starts).
#   src-tauri/bench.sh [path/to/leither-desktop] [runs]
# Needs an X display ($DISPLAY, e.g. `Xvfb :99 &` then DISPLAY=:99).
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/leither-desktop}
RUNS=${2:-5}
[ -n "${DISPLAY:-}" ] || { echo "needs DISPLAY (Xvfb)" >&2; exit 1; }
tick=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a pid and its descendants
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r /proc/$p/stat ] && total=$((total + $(awk '{print $14+$15}' /proc/$p/stat)))
  done
  echo $total
}
rss_kib() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r /proc/$p/status ] && total=$((total + $(awk '/VmRSS/{print $2}' /proc/$p/status)))
  done
  echo $total
}
echo "binary: $BIN ($(du -h "$BIN" | cut -f1)); load: $(uptime | sed 's/.*load/load/')"
for i in $(seq "$RUNS"); do
  dir=$(mktemp -d)
  log=$(mktemp)
  RUST_LOG=info LEITHER_DATA_DIR=$dir LEITHER_PASSPHRASE=bench DBUS_SESSION_BUS_ADDRESS=disabled: \
    "$BIN" --listen 127.0.0.1:0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q "window ready" "$log" && break; sleep 0.05; done
  ms=$(grep -o 'window ready.*' "$log" | grep -o 'ms=[0-9]*' | head -1)
  echo "run $i: cold start to window ready: ${ms#ms=} ms"
  if [ "$i" -eq "$RUNS" ]; then
    sleep 5
    c0=$(cpu_ticks $pid); sleep 30; c1=$(cpu_ticks $pid)
    echo "idle CPU over 30 s (app + WebKit processes): $(echo "scale=2; 100*($c1-$c0)/$tick/30" | bc) %"
    echo "RSS: app $(( $(awk '/VmRSS/{print $2}' /proc/$pid/status) / 1024 )) MiB; app + WebKit processes $(( $(rss_kib $pid) / 1024 )) MiB"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir" "$log"
done
