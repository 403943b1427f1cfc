#!/usr/bin/env bash
# `peergate iptables` in a real network namespace: a pod netns and a peer netns joined by a
# dual-stack veth pair. Proves, for IPv4 and IPv6 alike, inbound REDIRECT to 15006 with the
# original destination readable by SO_ORIGINAL_DST (IP6T_SO_ORIGINAL_DST), excluded inbound
# ports, outbound REDIRECT to 15001, excluded CIDRs per family, the proxy uid exempt, loopback
# untouched, idempotent re-runs and --cleanup; that --ipv6 auto refuses to leave IPv6 open when
# ip6tables-restore is missing; and that the real `peergate proxy`, listening dual-stack, takes
# both families through the rules. Needs root, iproute2, iptables with ip6tables and a kernel
# with IPv6; exits 77 (skipped) else.
#
#   tests/e2e/interception_test.sh PATH/TO/peergate
set -uo pipefail

peergate="$(realpath "${1:?usage: interception_test.sh PEERGATE}")"
here="$(cd "$(dirname "$0")" && pwd)"
tool="$here/tcp_reply.py"
# The system interpreter: a per-user one (pyenv under /root) is not readable by the proxy uid.
python=/usr/bin/python3
[[ -x $python ]] || python="$(command -v python3)"

skip() { echo "SKIPPED: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v iptables-restore >/dev/null || skip "iptables is not installed"
command -v ip6tables-restore >/dev/null || skip "ip6tables is not installed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
[[ -e /proc/net/if_inet6 ]] || skip "the kernel has no IPv6"

id=$$
pod="pg-pod-$id" peer="pg-peer-$id"
subnet="10.$((id % 200 + 20)).$((id / 200 % 250)).0"
prefix="${subnet%.0}"
pod_ip="$prefix.2" peer_ip="$prefix.1"
# Canonical text (no leading zeros, nothing to compress), as the tool prints addresses.
prefix6="fd00:9e:$(printf '%x' $((id % 65535 + 1)))"
pod_ip6="$prefix6::2" peer_ip6="$prefix6::1"
work="$(mktemp -d /tmp/peergate-interception.XXXXXX)"
chmod 755 "$work"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$pod" 2>/dev/null
  ip netns del "$peer" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$pod" || skip "cannot create network namespaces here"
ip netns add "$peer"
ip link add "pgv-$id" type veth peer name "pgp-$id"
ip link set "pgv-$id" netns "$pod"
ip link set "pgp-$id" netns "$peer"
ip -n "$pod" addr add "$pod_ip/24" dev "pgv-$id"
ip -n "$peer" addr add "$peer_ip/24" dev "pgp-$id"
ip -n "$pod" -6 addr add "$pod_ip6/64" dev "pgv-$id" nodad
ip -n "$peer" -6 addr add "$peer_ip6/64" dev "pgp-$id" nodad
for ns in "$pod" "$peer"; do ip -n "$ns" link set lo up; done
ip -n "$pod" link set "pgv-$id" up
ip -n "$peer" link set "pgp-$id" up

serve() {  # serve NETNS PORT LABEL [ADDRESS]; the pid in $served
  ip netns exec "$1" "$python" "$tool" serve "$2" "$3" ${4:+"$4"} &
  served=$!
  pids+=("$served")
}
serve "$pod" 15006 inbound-proxy
inbound_proxy=$served
serve "$pod" 15001 outbound-proxy
outbound_proxy=$served
serve "$pod" 8080 app
serve "$pod" 8086 app6 ::1  # an app that listens on IPv6 loopback only
serve "$pod" 15020 admin
serve "$peer" 9999 peer

from_peer() { ip netns exec "$peer" "$python" "$tool" call "$1" "$2"; }
from_pod() { ip netns exec "$pod" "$python" "$tool" call "$1" "$2"; }
from_pod_as_proxy() {
  ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$python" "$tool" call "$1" "$2"
}
rules() { ip netns exec "$pod" "$1" -t nat; }  # rules iptables-save|ip6tables-save

# Wait (bounded) until the servers listen.
for _ in $(seq 50); do
  [[ "$(from_peer "$pod_ip" 8080)" == app* && "$(from_pod "$peer_ip" 9999)" == peer* &&
    "$(from_peer "$pod_ip6" 8080)" == app* && "$(from_pod ::1 8086)" == app6* ]] && break
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
expect "before: the app answers directly over IPv6" "$(from_peer "$pod_ip6" 8080)" \
  "app [$pod_ip6]:8080"

# --- ip6tables-restore missing: --ipv6 auto refuses, and changes nothing ----------------------
no_ip6="$work/no-ip6tables"
mkdir -p "$no_ip6"
for t in iptables iptables-restore; do ln -s "$(command -v "$t")" "$no_ip6/$t"; done
out="$(ip netns exec "$pod" env PATH="$no_ip6" "$peergate" iptables 2>&1)"
expect "IPv6 here but no ip6tables-restore is exit 1" "$?" "1"
[[ "$out" == *"IPv6 traffic would bypass the proxy"* ]] ||
  { echo "FAIL message: $out"; failures=$((failures + 1)); }
expect "... and installs nothing" "$(rules iptables-save | grep -c PEERGATE)" "0"
ip netns exec "$pod" env PATH="$no_ip6" "$peergate" iptables --ipv6 on >/dev/null 2>&1
expect "--ipv6 on without ip6tables-restore is exit 1" "$?" "1"

# --- both families intercepted -----------------------------------------------------------------
ip netns exec "$pod" "$peergate" iptables --exclude-inbound-ports 15020,15021 || {
  echo "FAIL peergate iptables exited $?"
  exit 1
}

expect "inbound is redirected, original port kept" "$(from_peer "$pod_ip" 8080)" \
  "inbound-proxy $pod_ip:8080"
expect "IPv6 inbound is redirected, original port kept" "$(from_peer "$pod_ip6" 8080)" \
  "inbound-proxy [$pod_ip6]:8080"
expect "an excluded inbound port reaches the app" "$(from_peer "$pod_ip" 15020)" \
  "admin $pod_ip:15020"
expect "an excluded inbound port reaches the app over IPv6" "$(from_peer "$pod_ip6" 15020)" \
  "admin [$pod_ip6]:15020"
expect "outbound is redirected, original destination kept" "$(from_pod "$peer_ip" 9999)" \
  "outbound-proxy $peer_ip:9999"
expect "IPv6 outbound is redirected, original destination kept" "$(from_pod "$peer_ip6" 9999)" \
  "outbound-proxy [$peer_ip6]:9999"
expect "the proxy's uid goes out directly" "$(from_pod_as_proxy "$peer_ip" 9999)" \
  "peer $peer_ip:9999"
expect "the proxy's uid goes out directly over IPv6" "$(from_pod_as_proxy "$peer_ip6" 9999)" \
  "peer [$peer_ip6]:9999"
expect "the proxy's uid reaches the app on loopback" "$(from_pod_as_proxy 127.0.0.1 8080)" \
  "app 127.0.0.1:8080"
expect "the proxy's uid reaches the app on ::1" "$(from_pod_as_proxy ::1 8080)" "app [::1]:8080"
expect "the proxy calling its own pod IP goes to the inbound side" \
  "$(from_pod_as_proxy "$pod_ip" 8080)" "inbound-proxy $pod_ip:8080"
expect "the proxy calling its own IPv6 pod IP goes to the inbound side" \
  "$(from_pod_as_proxy "$pod_ip6" 8080)" "inbound-proxy [$pod_ip6]:8080"
expect "the app's own loopback traffic is not intercepted" "$(from_pod 127.0.0.1 8080)" \
  "app 127.0.0.1:8080"
expect "the app's own ::1 traffic is not intercepted" "$(from_pod ::1 8080)" "app [::1]:8080"

ip netns exec "$pod" "$peergate" iptables --exclude-inbound-ports 15020,15021 2>/dev/null
expect "running twice installs the jump once" \
  "$(rules iptables-save | grep -c -- '-j PEERGATE_INBOUND')" "1"
expect "running twice installs the IPv6 jump once" \
  "$(rules ip6tables-save | grep -c -- '-j PEERGATE_INBOUND')" "1"

# --- excluded CIDRs go to their own family ------------------------------------------------------
ip netns exec "$pod" "$peergate" iptables --exclude-outbound-cidrs "$peer_ip6/128" 2>/dev/null
expect "an excluded IPv6 CIDR goes out directly" "$(from_pod "$peer_ip6" 9999)" \
  "peer [$peer_ip6]:9999"
expect "... while IPv4 to that peer is still redirected" "$(from_pod "$peer_ip" 9999)" \
  "outbound-proxy $peer_ip:9999"
expect "the IPv6 CIDR is in the ip6tables rules" \
  "$(rules ip6tables-save | grep -c -- "-d $peer_ip6/128 -j RETURN")" "1"
expect "... and not in the iptables rules" "$(rules iptables-save | grep -c -- "$peer_ip6")" "0"

ip netns exec "$pod" "$peergate" iptables --cleanup 2>/dev/null
expect "--cleanup leaves nothing of peergate" "$(rules iptables-save | grep -c PEERGATE)" "0"
expect "--cleanup leaves nothing of peergate in ip6tables" \
  "$(rules ip6tables-save | grep -c PEERGATE)" "0"
expect "after cleanup the app answers directly" "$(from_peer "$pod_ip" 8080)" "app $pod_ip:8080"
expect "after cleanup the app answers directly over IPv6" "$(from_peer "$pod_ip6" 8080)" \
  "app [$pod_ip6]:8080"
ip netns exec "$pod" "$peergate" iptables --cleanup 2>/dev/null
expect "--cleanup again is fine" "$?" "0"

# --- --ipv6 off: IPv4 only; cleanup without ip6tables ----------------------------------------
ip netns exec "$pod" "$peergate" iptables --ipv6 off 2>/dev/null
expect "--ipv6 off installs IPv4" "$(rules iptables-save | grep -c -- '-j PEERGATE_INBOUND')" "1"
expect "--ipv6 off installs no IPv6 rule" "$(rules ip6tables-save | grep -c PEERGATE)" "0"
ip netns exec "$pod" env PATH="$no_ip6" "$peergate" iptables --cleanup 2>/dev/null
expect "--cleanup without ip6tables succeeds" "$?" "0"
expect "... and removes the IPv4 rules" "$(rules iptables-save | grep -c PEERGATE)" "0"

bad="$(ip netns exec "$pod" "$peergate" iptables --exclude-outbound-cidrs 10.0.0.0/33 2>&1)"
status=$?
expect "an invalid CIDR is exit 65" "$status" "65"
[[ "$bad" == *"not an IPv4 CIDR"* ]] || { echo "FAIL message: $bad"; failures=$((failures + 1)); }
bad="$(ip netns exec "$pod" "$peergate" iptables --exclude-outbound-cidrs fd00::/129 2>&1)"
status=$?
expect "an invalid IPv6 CIDR is exit 65" "$status" "65"
[[ "$bad" == *'"fd00::/129" is not an IPv6 CIDR'* ]] ||
  { echo "FAIL message: $bad"; failures=$((failures + 1)); }

# --- the real proxy, dual-stack, behind the rules ------------------------------------------------
# DISABLE: the proxy passes bytes on at once, so what comes back is what the app says about the
# connection the proxy made (to 127.0.0.1, or ::1 for an app on IPv6 loopback only).
kill "$inbound_proxy" "$outbound_proxy" 2>/dev/null
wait "$inbound_proxy" "$outbound_proxy" 2>/dev/null  # their ports are free once they are gone
cat >"$work/state.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: e2e}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: e2e, labels: {app: app}}
spec:
  containers:
  - {name: app, image: app, ports: [{containerPort: 8080}, {containerPort: 8086}]}
  - {name: peergate-proxy, image: peergate}
status: {podIP: $pod_ip, podIPs: [{ip: $pod_ip}, {ip: "$pod_ip6"}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: e2e}
spec: {mtls: {mode: DISABLE}}
YAML
"$peergate" certs ca --out "$work/ca" >/dev/null &&
  "$peergate" certs issue --ca "$work/ca" --spiffe spiffe://cluster.local/ns/e2e/sa/default \
    --out "$work/certs" >/dev/null || { echo "FAIL certs"; exit 1; }
chown -R 1337:1337 "$work/certs"
ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups \
  "$peergate" proxy --pod e2e/app --cluster-state "$work/state.yaml" --certs "$work/certs" \
  --admin-port 15021 --log-format text --log-level warn >"$work/proxy.log" 2>&1 &
pids+=($!)
ip netns exec "$pod" "$peergate" iptables --exclude-inbound-ports 15020,15021 2>/dev/null ||
  { echo "FAIL peergate iptables with the proxy"; exit 1; }
for _ in $(seq 100); do
  [[ "$(from_peer "$pod_ip" 8080)" == app* ]] && break
  sleep 0.1
done

expect "proxy: IPv4 inbound reaches the app (original destination of a v4-mapped client)" \
  "$(from_peer "$pod_ip" 8080)" "app 127.0.0.1:8080"
expect "proxy: IPv6 inbound reaches the app at 127.0.0.1" "$(from_peer "$pod_ip6" 8080)" \
  "app 127.0.0.1:8080"
expect "proxy: IPv6 inbound reaches an app on ::1 only" "$(from_peer "$pod_ip6" 8086)" \
  "app6 [::1]:8086"
expect "proxy: IPv4 outbound reaches the peer" "$(from_pod "$peer_ip" 9999)" "peer $peer_ip:9999"
expect "proxy: IPv6 outbound reaches the peer" "$(from_pod "$peer_ip6" 9999)" \
  "peer [$peer_ip6]:9999"
if [[ $failures -gt 0 ]]; then
  echo "--- proxy log"
  tail -n 20 "$work/proxy.log"
fi
ip netns exec "$pod" "$peergate" iptables --cleanup 2>/dev/null

[[ $failures -eq 0 ]] && echo "interception: all checks passed"
exit $((failures > 0))
