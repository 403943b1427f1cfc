#!/usr/bin/env bash
# `peergate iptables` in a real network namespace: a pod netns and a peer netns joined by a veth
# pair. Proves inbound REDIRECT to 15006 with the original port readable by SO_ORIGINAL_DST,
# excluded inbound ports, outbound REDIRECT to 15001, the proxy uid exempt, loopback untouched,
# idempotent re-runs and --cleanup. Needs root, iproute2 and iptables; exits 77 (skipped) else.
#
#   tests/e2e/interception_test.sh PATH/TO/peergate
set -uo pipefail

peergate="${1:?usage: interception_test.sh PEERGATE}"
here="$(cd "$(dirname "$0")" && pwd)"
tool="$here/tcp_reply.py"
# The system interpreter: a per-user one (pyenv under /root) is not readable by the proxy uid.
python=/usr/bin/python3
[[ -x $python ]] || python="$(command -v python3)"

skip() { echo "SKIPPED: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v iptables-restore >/dev/null || skip "iptables is not installed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"

id=$$
pod="pg-pod-$id" peer="pg-peer-$id"
subnet="10.$((id % 200 + 20)).$((id / 200 % 250)).0"
prefix="${subnet%.0}"
pod_ip="$prefix.2" peer_ip="$prefix.1"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$pod" 2>/dev/null
  ip netns del "$peer" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$pod" || skip "cannot create network namespaces here"
ip netns add "$peer"
ip link add "pgv-$id" type veth peer name "pgp-$id"
ip link set "pgv-$id" netns "$pod"
ip link set "pgp-$id" netns "$peer"
ip -n "$pod" addr add "$pod_ip/24" dev "pgv-$id"
ip -n "$peer" addr add "$peer_ip/24" dev "pgp-$id"
for ns in "$pod" "$peer"; do ip -n "$ns" link set lo up; done
ip -n "$pod" link set "pgv-$id" up
ip -n "$peer" link set "pgp-$id" up

serve() {  # serve NETNS PORT LABEL
  ip netns exec "$1" "$python" "$tool" serve "$2" "$3" &
  pids+=($!)
}
serve "$pod" 15006 inbound-proxy
serve "$pod" 15001 outbound-proxy
serve "$pod" 8080 app
serve "$pod" 15020 admin
serve "$peer" 9999 peer

from_peer() { ip netns exec "$peer" "$python" "$tool" call "$1" "$2"; }
from_pod() { ip netns exec "$pod" "$python" "$tool" call "$1" "$2"; }
from_pod_as_proxy() {
  ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$python" "$tool" call "$1" "$2"
}

# Wait (bounded) until the servers listen.
for _ in $(seq 50); do
  [[ "$(from_peer "$pod_ip" 8080)" == app* && "$(from_pod "$peer_ip" 9999)" == peer* ]] && break
  sleep 0.1
done

failures=0
expect() {  # expect WHAT GOT WANT
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1: $2"
  else
    echo "FAIL $1: got '$2', want '$3'"
    failures=$((failures + 1))
  fi
}

expect "before: the app answers directly" "$(from_peer "$pod_ip" 8080)" "app $pod_ip:8080"

ip netns exec "$pod" "$peergate" iptables --exclude-inbound-ports 15020,15021 || {
  echo "FAIL peergate iptables exited $?"
  exit 1
}

expect "inbound is redirected, original port kept" "$(from_peer "$pod_ip" 8080)" \
  "inbound-proxy $pod_ip:8080"
expect "an excluded inbound port reaches the app" "$(from_peer "$pod_ip" 15020)" \
  "admin $pod_ip:15020"
expect "outbound is redirected, original destination kept" "$(from_pod "$peer_ip" 9999)" \
  "outbound-proxy $peer_ip:9999"
expect "the proxy's uid goes out directly" "$(from_pod_as_proxy "$peer_ip" 9999)" \
  "peer $peer_ip:9999"
expect "the proxy's uid reaches the app on loopback" "$(from_pod_as_proxy 127.0.0.1 8080)" \
  "app 127.0.0.1:8080"
expect "the app's own loopback traffic is not intercepted" "$(from_pod 127.0.0.1 8080)" \
  "app 127.0.0.1:8080"

ip netns exec "$pod" "$peergate" iptables --exclude-inbound-ports 15020,15021 2>/dev/null
jumps="$(ip netns exec "$pod" iptables-save -t nat | grep -c -- '-j PEERGATE_INBOUND')"
expect "running twice installs the jump once" "$jumps" "1"

ip netns exec "$pod" "$peergate" iptables --cleanup 2>/dev/null
left="$(ip netns exec "$pod" iptables-save -t nat | grep -c PEERGATE)"
expect "--cleanup leaves nothing of peergate" "$left" "0"
expect "after cleanup the app answers directly" "$(from_peer "$pod_ip" 8080)" "app $pod_ip:8080"

bad="$(ip netns exec "$pod" "$peergate" iptables --exclude-outbound-cidrs 10.0.0.0/33 2>&1)"
status=$?
expect "an invalid CIDR is exit 65" "$status" "65"
[[ "$bad" == *"not an IPv4 CIDR"* ]] || { echo "FAIL message: $bad"; failures=$((failures + 1)); }

[[ $failures -eq 0 ]] && echo "interception: all checks passed"
exit $((failures > 0))
