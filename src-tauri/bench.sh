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
pss_kib() { # proportional set size: shared pages split between the processes
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r /proc/$p/smaps_rollup ] && total=$((total + $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)))
  done
  echo $total
}
echo "binary: $BIN ($(du -h "$BIN" | cut -f1)); load: $(uptime | sed 's/.*load/load/')"
# Run 1 starts on an empty data directory (onboarding) and creates the identity over
# the API; later runs start with it (the everyday start: the Me screen, live events).
dir=$(mktemp -d)
for i in $(seq "$RUNS"); do
  log=$(mktemp)
  RUST_LOG=info LEITHER_DATA_DIR=$dir LEITHER_PASSPHRASE=bench DBUS_SESSION_BUS_ADDRESS=disabled: \
    "$BIN" --listen 127.0.0.1:0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q "window ready" "$log" && break; sleep 0.05; done
  ms=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -o 'window ready ms=[0-9]*' | head -1 || true)
  echo "run $i: cold start to window ready: ${ms#window ready ms=} ms$([ "$i" -eq 1 ] && echo ' (first run: onboarding)')"
  if [ "$i" -eq 1 ]; then
    url=$(sed 's/.*"url":"\([^"]*\)".*/\1/' "$dir/api.json")
    curl -sf -H "Authorization: Bearer $(cat "$dir/api-token")" -H 'content-type: application/json' \
      -d '{}' "$url/api/v1/identity/create" >/dev/null
  fi
  if [ "$i" -eq "$RUNS" ]; then
    sleep 5
    c0=$(cpu_ticks $pid); sleep 30; c1=$(cpu_ticks $pid)
    echo "idle CPU over 30 s (app + WebKit processes): $(echo "scale=2; 100*($c1-$c0)/$tick/30" | bc) %"
    echo "RSS: app $(( $(awk '/VmRSS/{print $2}' /proc/$pid/status) / 1024 )) MiB; app + WebKit processes $(( $(rss_kib $pid) / 1024 )) MiB (PSS, shared pages counted once: $(( $(pss_kib $pid) / 1024 )) MiB)"
    echo "processes: $(ps -o comm= --ppid $pid | tr '\n' ' ')"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$log"
done
rm -rf "$dir"
