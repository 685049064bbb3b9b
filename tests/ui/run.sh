#!/usr/bin/env bash
# The shell UI in Chromium (Playwright) against headless nodes, then the desktop app
# (Tauri) under WebDriver on Xvfb. Called by test.sh after the cargo tests.
# Without CI=true a missing tool skips that part with a message; with CI=true it fails.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"

missing() {
  if [ "${CI:-}" = "true" ]; then echo "error: $1 (CI needs it: see .ci/run)" >&2; exit 1; fi
  echo "skipping $2: $1" >&2
}

command -v npm >/dev/null || { missing "npm not found" "UI tests"; exit 0; }
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund

echo "-- building the node and the desktop app"
# --tests: the feature set of test.sh's test build, so nothing is compiled twice.
(cd "$REPO" && cargo build --workspace --bins --tests)



if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "-- UI in Chromium"
  npm test
else
  missing "no /usr/bin/chromium" "UI tests"
fi

DRIVER=$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")
if [ ! -x "$DRIVER" ]; then missing "tauri-driver not installed" "desktop tests"; exit 0; fi
command -v WebKitWebDriver >/dev/null || { missing "WebKitWebDriver not installed (webkit2gtk-driver)" "desktop tests"; exit 0; }
export TAURI_DRIVER="$DRIVER"
xvfb_pid=""
if [ -z "${DISPLAY:-}" ]; then
  command -v Xvfb >/dev/null || { missing "no DISPLAY and no Xvfb" "desktop tests"; exit 0; }
  n=$((90 + RANDOM % 100))
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  trap '[ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true' EXIT
  export DISPLAY=":$n"
  for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
fi
echo "-- desktop app under WebDriver (DISPLAY=$DISPLAY)"
npm run desktop
