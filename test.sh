#!/usr/bin/env bash
# Every test and quality gate of the project. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")"
echo "== format";  cargo fmt --all -- --check
echo "== lints";   cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
# The scripts below run the `leither` binary. Same feature set as the test build above
# (dev-dependencies unify features), so this only links the binaries instead of
# compiling leither-core a second and third time. With CI=true a missing tool fails;
# elsewhere that part is skipped with the reason.
export LEITHER_BIN="${LEITHER_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/leither}"
cargo build -q --workspace --bins --tests
echo "== NAT traversal (network namespaces; needs root)"
./tests/nat/run.sh
# Apps (issue 5): the API from Python and JavaScript clients, the notes app in headless
# Chromium.
echo "== clients and browser"
python3 tests/clients/test_api.py
(cd tests && npm ci --no-audit --no-fund --silent && node --test e2e/ clients/)
echo "== UI and desktop tests (Chromium, Tauri under Xvfb)"
./tests/ui/run.sh
