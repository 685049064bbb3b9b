#!/usr/bin/env bash
# Run Leither: builds (first time only takes minutes) and starts the node with its API
# on http://127.0.0.1:7787. Extra arguments go to `leither run`, e.g. --listen 127.0.0.1:0.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release -p leither-core --bin leither
exec target/release/leither run "$@"
