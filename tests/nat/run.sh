#!/usr/bin/env bash
# NAT traversal between real `leither` processes (issue 3): two nodes behind separate
# NAT routers (network namespaces, veth, iptables MASQUERADE) reach each other through
# a relay node on the "internet" side, and DCUtR hole punching upgrades the relayed
# connection to a direct one; a Mimei published behind one NAT is pulled behind the
# other.
#
#   internet 10.99.0.0/24 (bridge in ns lt-net):  relay 10.99.0.1 (ns lt-relay)
#     router lt-r1: 10.99.0.11 | 192.168.11.1  --  host lt-h1: 192.168.11.2 (node A)
#     router lt-r2: 10.99.0.12 | 192.168.12.1  --  host lt-h2: 192.168.12.2 (node B)
#
# Needs root, iproute2 and iptables. Without them it is skipped with the reason, unless
# CI=true (then it fails). LEITHER_BIN: the node binary.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)
BIN="${LEITHER_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/leither}"

missing() {
  if [ "${CI:-}" = "true" ]; then echo "error: NAT test: $1 (CI needs it: see .ci/run)" >&2; exit 1; fi
  echo "skipping the NAT test: $1" >&2; exit 0
}
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  export LEITHER_BIN="$BIN"
  exec sudo -E "$0" "$@"
fi
[ "$(id -u)" -eq 0 ] || missing "not root (network namespaces need it) and no password-less sudo"
command -v ip >/dev/null || missing "no ip (iproute2)"
command -v iptables >/dev/null || missing "no iptables"
[ -x "$BIN" ] || { echo "error: no leither binary at $BIN" >&2; exit 1; }

NS=(lt-net lt-relay lt-r1 lt-h1 lt-r2 lt-h2)
WORK=$(mktemp -d /tmp/leither-nat.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  if [ "${KEEP:-}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done

# The "internet": a bridge, with the relay and both routers' outside ends on it.
ip -n lt-net link add br0 type bridge && ip -n lt-net link set br0 up
plug() { # ns ifname addr/cidr (the bridge end is named after the namespace)
  ip link add "$2" netns "$1" type veth peer name "p-$1" netns lt-net
  ip -n lt-net link set "p-$1" master br0 up
  ip -n "$1" addr add "$3" dev "$2" && ip -n "$1" link set "$2" up
}
plug lt-relay wan 10.99.0.1/24
for i in 1 2; do
  plug "lt-r$i" wan "10.99.0.1$i/24"
  ip link add lan netns "lt-r$i" type veth peer name lan netns "lt-h$i"
  ip -n "lt-r$i" addr add "192.168.1$i.1/24" dev lan && ip -n "lt-r$i" link set lan up
  ip -n "lt-h$i" addr add "192.168.1$i.2/24" dev lan && ip -n "lt-h$i" link set lan up
  ip -n "lt-h$i" route add default via "192.168.1$i.1"
  ip netns exec "lt-r$i" sysctl -qw net.ipv4.ip_forward=1
  # NAT: outgoing traffic takes the router's address; nothing unsolicited gets in.
  ip netns exec "lt-r$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
  ip netns exec "lt-r$i" iptables -A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  ip netns exec "lt-r$i" iptables -A FORWARD -i wan -j DROP
  # Like home routers, drop unsolicited packets to the router itself instead of
  # answering with a TCP reset / ICMP unreachable (which would kill a hole punch).
  ip netns exec "lt-r$i" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  ip netns exec "lt-r$i" iptables -A INPUT -i wan -j DROP
done

export LEITHER_PASSPHRASE="nat test passphrase" RUST_LOG="${RUST_LOG:-warn,leither_core::net=info}"
unset LEITHER_DATA_DIR
node() { # ns name config-lines...
  local ns=$1 dir="$WORK/$2"; shift 2
  mkdir -p "$dir"
  printf '%s\n' "[net]" "mdns = false" "$@" > "$dir/config.toml"
  ip netns exec "$ns" "$BIN" --data-dir "$dir" run --listen 127.0.0.1:0 >"$dir.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 150); do [ -s "$dir/api.json" ] && return 0; sleep 0.2; done
  echo "error: node $dir did not start" >&2; cat "$dir.log" >&2; exit 1
}
in_ns() { local ns=$1 dir="$WORK/$2"; shift 2; ip netns exec "$ns" "$BIN" --data-dir "$dir" "$@"; }
status() { in_ns "$1" "$2" --json status; }
node_id() { status "$1" "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["net"]["node"])'; }
# The libp2p peer ID (as in multiaddrs), from the node's own listen addresses (which
# appear shortly after the API answers).
peer_id() {
  local id
  for _ in $(seq 1 100); do
    id=$(status "$1" "$2" | python3 -c '
import json,sys
l=[a for a in json.load(sys.stdin)["net"]["listen"] if "/p2p/" in a]
print(l[0].rsplit("/p2p/",1)[1] if l else "")')
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.2
  done
  echo "error: $2 has no listen address" >&2; return 1
}

node lt-relay relay 'listen = ["/ip4/10.99.0.1/tcp/4001", "/ip4/10.99.0.1/udp/4001/quic-v1"]' 'relay_server = true'
RELAY_ID=$(peer_id lt-relay relay)
RELAY="/ip4/10.99.0.1/tcp/4001/p2p/$RELAY_ID"
# A names the relay in its config; B only joins through it and must find out by itself
# (AutoNAT: private) that it needs a reservation.
node lt-h1 h1 'listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]' \
  "bootstrap = [\"$RELAY\"]" "relays = [\"$RELAY\"]"
node lt-h2 h2 'listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]' \
  "bootstrap = [\"$RELAY\"]"
A_ID=$(peer_id lt-h1 h1)
A_NODE=$(node_id lt-h1 h1)
echo "relay $RELAY_ID, A $A_ID (behind NAT 1), B (behind NAT 2)"

# Behind NAT, A cannot be dialled directly ...
if in_ns lt-h2 h2 dial "/ip4/10.99.0.11/tcp/4001/p2p/$A_ID" >/dev/null 2>&1; then
  echo "FAIL: A was reachable directly through its NAT" >&2; exit 1
fi
echo "ok: A is not reachable directly (NAT)"
# ... but through its reservation on the relay; then DCUtR hole punching gives B a
# direct connection (no /p2p-circuit) to A. Hole punching is best effort (a TCP
# simultaneous open across two NATs depends on timing): if a round ends without a
# direct connection, B is restarted, which makes a new relayed connection and a new
# hole punch; three rounds at most, and the rounds it took are printed.
CIRCUIT="$RELAY/p2p-circuit/p2p/$A_ID"
addrs() { in_ns lt-h2 h2 --json peers | python3 -c "
import json,sys
for p in json.load(sys.stdin):
    if p['node'] == '$A_NODE': print(' '.join(p['addrs']))"; }
B_CONFIG=('listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]' "bootstrap = [\"$RELAY\"]")
direct=""
for round in 1 2 3; do
  if [ "$round" -gt 1 ]; then
    echo "round $((round - 1)): no direct connection; restarting B for another hole punch"
    kill "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
    rm -f "$WORK/h2/api.json"
    node lt-h2 h2 "${B_CONFIG[@]}"
    PIDS[2]=${PIDS[-1]}
  fi
  ok=""
  for _ in $(seq 1 50); do
    if in_ns lt-h2 h2 dial "$CIRCUIT" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || { echo "FAIL: B could not reach A through the relay" >&2; KEEP=1; exit 1; }
  echo "ok: B reached A through the relay ($CIRCUIT)"
  for _ in $(seq 1 100); do
    for x in $(addrs); do case "$x" in *p2p-circuit*) ;; *) direct="$x" ;; esac; done
    [ -n "$direct" ] && break 2
    sleep 0.2
  done
done
if [ -z "$direct" ]; then
  echo "FAIL: no direct connection after hole punching in 3 rounds; B's connections to A: $(addrs)" >&2
  in_ns lt-h2 h2 --json peers >&2
  KEEP=1; exit 1
fi
echo "ok: hole punching upgraded to a direct connection in round $round: $direct"

# A Mimei published behind NAT 1 is pulled behind NAT 2 and reads back the same.
head -c 300000 /dev/urandom > "$WORK/file.bin"
ID=$(in_ns lt-h1 h1 --json mimei create --public nat | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
in_ns lt-h1 h1 mimei put "$ID" file.bin "$WORK/file.bin" >/dev/null
in_ns lt-h1 h1 mimei backup "$ID" >/dev/null
pulled=""
for _ in $(seq 1 50); do
  if in_ns lt-h2 h2 mimei pull "$ID" >/dev/null 2>"$WORK/pull.err"; then pulled=1; break; fi
  sleep 0.3
done
[ -n "$pulled" ] || { echo "FAIL: pull across the NATs: $(cat "$WORK/pull.err")" >&2; KEEP=1; exit 1; }
in_ns lt-h2 h2 mimei get "$ID@0" file.bin > "$WORK/got.bin"
cmp "$WORK/file.bin" "$WORK/got.bin"
echo "ok: Mimei $ID pulled across both NATs, same bytes"
# B, configured with no relay, reserved on one once AutoNAT found it private.
circ=""
for _ in $(seq 1 150); do
  circ=$(status lt-h2 h2 | python3 -c '
import json,sys
print(" ".join(a for a in json.load(sys.stdin)["net"]["listen"] if "p2p-circuit" in a))')
  [ -n "$circ" ] && break
  sleep 0.2
done
[ -n "$circ" ] || { echo "FAIL: B (no relays configured) never reserved on the relay" >&2; KEEP=1; exit 1; }
echo "ok: B found it is behind NAT and reserved on the relay by itself: ${circ%% *}"
echo "NAT test passed"
