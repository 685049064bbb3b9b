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
echo "== UI and desktop tests (Chromium, Tauri under Xvfb)"
./tests/ui/run.sh
