#!/usr/bin/env bash
# The Istio "mutual TLS migration" task with real processes and real packets: five pods in
# network namespaces on a bridge, foo and bar with `peergate proxy` + `peergate iptables`,
# legacy without; PeerAuthentication changes applied to the cluster state; real curl against
# real HTTP servers; tcpdump on the bridge for what crosses the wire.
#
# control-plane mode (default): `peergate webhook --ca` runs in its own netns as the control
# plane; every proxy starts with only its token, gets its policy from the feed and its
# certificate from the CA. local mode: each proxy reads the state files and its own certs.
# Needs root, iproute2, iptables, curl, tcpdump; exits 77 (skipped) otherwise.
#
#   tests/e2e/mesh_test.sh PATH/TO/peergate [control-plane|local]
set -uo pipefail

peergate="$(realpath "${1:?usage: mesh_test.sh PEERGATE [control-plane|local]}")"
mode="${2:-control-plane}"
[[ $mode == control-plane || $mode == local ]] || { echo "unknown mode $mode"; exit 2; }

skip() { echo "SKIPPED: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces"
for tool in ip iptables-restore curl tcpdump setpriv; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
python=/usr/bin/python3
[[ -x $python ]] || python="$(command -v python3)"

id=$$
prefix="10.$((id % 200 + 20)).$((id / 200 % 250 + 1))"
hub="pgm-hub-$id"
work="$(mktemp -d /tmp/peergate-mesh.XXXXXX)"
chmod 755 "$work"
pids=()
namespaces=("$hub")

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$hub" || skip "cannot create network namespaces here"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up

# pod NAME INDEX: a netns joined to the bridge with address $prefix.INDEX
declare -A ip_of
pod() {
  local name="$1" index="$2" ns="pgm-$1-$id"
  namespaces+=("$ns")
  ip netns add "$ns"
  ip link add "pgh$index-$id" type veth peer name "pgp$index-$id"
  ip link set "pgh$index-$id" netns "$hub"
  ip link set "pgp$index-$id" netns "$ns"
  ip -n "$hub" link set "pgh$index-$id" master br0 up
  ip -n "$ns" link set "pgp$index-$id" name eth0
  ip -n "$ns" addr add "$prefix.$index/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip_of[$name]="$prefix.$index"
}
pod foo-httpbin 11
pod foo-curl 12
pod bar-httpbin 13
pod bar-curl 14
pod legacy-curl 15
[[ $mode == control-plane ]] && pod control-plane 10
netns() { echo "pgm-$1-$id"; }

# --- the cluster state the proxies read -------------------------------------------------------
state="$work/state"
mkdir -p "$state"
pod_yaml() {  # pod_yaml NS APP IP MESHED
  local proxy=""
  [[ $4 == yes ]] && proxy="
  - {name: peergate-proxy, image: peergate}"
  cat <<EOF
---
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {app: $2}, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  serviceAccountName: $2
  containers:
  - {name: $2, image: $2, ports: [{containerPort: 8000}, {containerPort: 9000}]}$proxy
status: {podIP: $3, phase: Running}
EOF
}
{
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bar, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
EOF
  pod_yaml foo httpbin "${ip_of[foo-httpbin]}" yes
  pod_yaml foo curl "${ip_of[foo-curl]}" yes
  pod_yaml bar httpbin "${ip_of[bar-httpbin]}" yes
  pod_yaml bar curl "${ip_of[bar-curl]}" yes
  pod_yaml legacy curl "${ip_of[legacy-curl]}" no
} >"$state/cluster.yaml"

# set_policy YAML: replaces every PeerAuthentication the proxies see, atomically.
set_policy() {
  printf '%s\n' "${1:-# no PeerAuthentication}" >"$work/policy.tmp"
  mv "$work/policy.tmp" "$state/policy.yaml"
  # local: the proxies poll their files every second; control plane: the webhook polls its
  # files every 2 s, then the feed answers the held requests at once.
  if [[ $mode == local ]]; then sleep 2.5; else sleep 4.5; fi
}
set_policy ""

# --- identities -------------------------------------------------------------------------------
certs="$work/certs"
"$peergate" certs ca --out "$certs/ca" >/dev/null || { echo "FAIL certs ca"; exit 1; }
issue() {  # issue DIR SPIFFE [CA]
  "$peergate" certs issue --ca "${3:-$certs/ca}" --spiffe "$2" --out "$1" >/dev/null ||
    { echo "FAIL certs issue $2"; exit 1; }
}
for p in foo/httpbin foo/curl bar/httpbin bar/curl; do
  issue "$certs/${p/\//-}" "spiffe://cluster.local/ns/${p%/*}/sa/${p#*/}"
done
issue "$certs/legacy-good" spiffe://cluster.local/ns/legacy/sa/curl
issue "$certs/legacy-wrong-domain" spiffe://evil.example/ns/legacy/sa/curl
"$peergate" certs ca --out "$certs/other-ca" >/dev/null
issue "$certs/legacy-other-ca" spiffe://cluster.local/ns/legacy/sa/curl "$certs/other-ca"
chown -R 1337:1337 "$certs"

# --- the control plane: webhook + CA + policy feed in its own netns ------------------------------
cp_address="${ip_of[control-plane]:-}:15012"
if [[ $mode == control-plane ]]; then
  "$peergate" certs serving --ca "$certs/ca" --ip "${ip_of[control-plane]}" \
    --dns peergate.peergate-system.svc --out "$certs/serving" >/dev/null ||
    { echo "FAIL certs serving"; exit 1; }
  mkdir -p "$work/tokens"
  for p in foo-httpbin foo-curl bar-httpbin bar-curl; do
    token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    echo "$token,system:serviceaccount:${p%%-*}:${p#*-},uid-$p" >>"$work/tokens.csv"
    printf '%s' "$token" >"$work/tokens/$p"
  done
  chown -R 1337:1337 "$work/tokens"
  chmod 600 "$work/tokens"/*
  ip netns exec "$(netns control-plane)" "$peergate" webhook --cluster-state "$state" \
    --tls-cert "$certs/serving/cert.pem" --tls-key "$certs/serving/key.pem" \
    --ca "$certs/ca" --token-auth-file "$work/tokens.csv" --log-format text \
    >"$work/control-plane.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    ip netns exec "$(netns control-plane)" curl -sf --max-time 1 http://127.0.0.1:15014/readyz \
      >/dev/null && break
    sleep 0.1
  done
fi

# --- workloads --------------------------------------------------------------------------------
for server in foo-httpbin bar-httpbin; do
  for port in 8000 9000; do
    mkdir -p "$work/www-$server-$port"
    echo "$server:$port" >"$work/www-$server-$port/index.html"
    ip netns exec "$(netns $server)" "$python" -m http.server "$port" --bind 0.0.0.0 \
      --directory "$work/www-$server-$port" >/dev/null 2>&1 &
    pids+=($!)
  done
done
for p in foo-httpbin foo-curl bar-httpbin bar-curl; do
  if [[ $mode == control-plane ]]; then
    source_flags=(--control-plane "$cp_address" --control-plane-ca "$certs/ca/ca.pem"
      --token-file "$work/tokens/$p")
  else
    source_flags=(--cluster-state "$state" --certs "$certs/$p")
  fi
  # The rules come first, as the init container's do in a pod: a connection the proxy opened
  # before them is picked up mid-stream by conntrack once they load, and its replies are
  # redirected to 15006 (the control plane's answer to a held long-poll never arrives).
  ip netns exec "$(netns $p)" "$peergate" iptables --exclude-inbound-ports 15020 2>/dev/null ||
    { echo "FAIL peergate iptables in $p"; exit 1; }
  ip netns exec "$(netns $p)" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$peergate" proxy --pod "${p%%-*}/${p#*-}" "${source_flags[@]}" \
    --log-format text --log-level warn >"$work/proxy-$p.log" 2>&1 &
  pids+=($!)
done
for p in foo-httpbin foo-curl bar-httpbin bar-curl; do
  ready=no
  for _ in $(seq 200); do
    ip netns exec "$(netns $p)" curl -sf --max-time 1 http://127.0.0.1:15020/healthz/ready \
      >/dev/null && { ready=yes; break; }
    sleep 0.1
  done
  if [[ $ready != yes ]]; then
    echo "FAIL the proxy of $p never became ready"
    cat "$work/proxy-$p.log" "$work/control-plane.log" 2>/dev/null | tail -n 30
    exit 1
  fi
done

# MESH_DEBUG_PAUSE=SECONDS keeps the setup up for poking at it by hand.
[[ -n ${MESH_DEBUG_PAUSE:-} ]] && { echo "paused: $work"; sleep "$MESH_DEBUG_PAUSE"; }

# --- assertions -------------------------------------------------------------------------------
failures=0
code() {  # code CLIENT SERVER [PORT] -> HTTP status, 000 when refused
  ip netns exec "$(netns "$1")" curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
    "http://${ip_of[$2]}:${3:-8000}/"
}
expect() {  # expect CLIENT SERVER PORT WANT
  local got
  got="$(code "$1" "$2" "$3")"
  if [[ "$got" == "$4" ]]; then
    echo "ok   $1 -> $2:$3 $got"
  else
    echo "FAIL $1 -> $2:$3 got $got, want $4"
    failures=$((failures + 1))
  fi
}
matrix() {  # matrix "WANT for foo-curl,bar-curl,legacy-curl -> foo" "... -> bar"
  local to_foo=($1) to_bar=($2) clients=(foo-curl bar-curl legacy-curl) i
  for i in 0 1 2; do
    expect "${clients[$i]}" foo-httpbin 8000 "${to_foo[$i]}"
    expect "${clients[$i]}" bar-httpbin 8000 "${to_bar[$i]}"
  done
}
scenario() { printf '\n== %s\n' "$1"; }
policy() {  # policy NS NAME MODE [extra spec lines]
  printf -- '---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: %s, namespace: %s}\nspec:\n  mtls: {mode: %s}\n%s' \
    "$2" "$1" "$3" "${4:-}"
}

scenario "no policy: mesh default PERMISSIVE, every pair works"
matrix "200 200 200" "200 200 200"

scenario "STRICT on namespace foo: legacy -> foo refused"
set_policy "$(policy foo default STRICT)"
matrix "200 200 000" "200 200 200"

scenario "mesh-wide STRICT: legacy refused everywhere, mesh pairs work"
set_policy "$(policy istio-system default STRICT)"
matrix "200 200 000" "200 200 000"

scenario "workload STRICT on foo/httpbin with port 9000 DISABLE"
set_policy "$(policy foo httpbin STRICT '  selector: {matchLabels: {app: httpbin}}
  portLevelMtls: {9000: {mode: DISABLE}}')"
expect legacy-curl foo-httpbin 8000 000
expect legacy-curl foo-httpbin 9000 200
expect foo-curl foo-httpbin 8000 200

scenario "PERMISSIVE on foo: legacy plaintext and mesh mTLS both work"
set_policy "$(policy foo default PERMISSIVE)"
matrix "200 200 200" "200 200 200"

scenario "client certificates against STRICT foo"
set_policy "$(policy foo default STRICT)"
tls_code() {  # tls_code CERTDIR -> status of an mTLS call from legacy straight to foo's proxy
  ip netns exec "$(netns legacy-curl)" curl -sk -o /dev/null -w '%{http_code}' --max-time 3 \
    --cert "$certs/$1/cert.pem" --key "$certs/$1/key.pem" "https://${ip_of[foo-httpbin]}:8000/"
}
check_tls() {
  local got
  got="$(tls_code "$1")"
  if [[ "$got" == "$2" ]]; then echo "ok   $1 certificate: $got"; else
    echo "FAIL $1 certificate: got $got, want $2"
    failures=$((failures + 1))
  fi
}
check_tls legacy-good 200
check_tls legacy-other-ca 000
check_tls legacy-wrong-domain 000

scenario "the wire: mTLS between proxies, readable HTTP only for legacy plaintext"
set_policy ""
capture() {  # capture FILE CLIENT SERVER: one call while tcpdump watches the bridge ports (frames
  # forwarded between ports never pass br0 itself)
  ip netns exec "$hub" timeout 15 tcpdump -Z root -i any -U --immediate-mode -s 0 -w "$1" "tcp port 8000" 2>/dev/null &
  local dump=$!
  for _ in $(seq 50); do [[ -s "$1" ]] && break; sleep 0.1; done  # listening once it has written the header
  sleep 0.3
  code "$2" "$3" >/dev/null
  sleep 0.5
  kill -INT "$dump" 2>/dev/null
  wait "$dump" 2>/dev/null
}
capture "$work/mesh.pcap" foo-curl bar-httpbin
capture "$work/legacy.pcap" legacy-curl bar-httpbin
mesh_packets="$(tcpdump -r "$work/mesh.pcap" 2>/dev/null | wc -l)"
mesh_http="$(tcpdump -r "$work/mesh.pcap" -A 2>/dev/null | grep -c 'GET / HTTP' || true)"
# Handshake (0x16) or application data (0x17) records: the call may ride a mux connection the
# proxies set up earlier, with no handshake of its own.
mesh_tls="$(tcpdump -r "$work/mesh.pcap" -x 2>/dev/null | grep -c ' 1[67]03 0[13]' || true)"
legacy_http="$(tcpdump -r "$work/legacy.pcap" -A 2>/dev/null | grep -c 'GET / HTTP' || true)"
wire() {
  if eval "$2"; then echo "ok   $1"; else
    echo "FAIL $1 ($2)"
    failures=$((failures + 1))
  fi
}
wire "packets were captured between foo/curl and bar/httpbin: $mesh_packets" "[[ $mesh_packets -gt 0 ]]"
wire "no readable HTTP between the proxies" "[[ $mesh_http -eq 0 ]]"
wire "TLS records between the proxies" "[[ $mesh_tls -gt 0 ]]"
wire "legacy's plaintext request is readable on the wire" "[[ $legacy_http -gt 0 ]]"

identities="$(ip netns exec "$(netns bar-httpbin)" curl -s --max-time 2 http://127.0.0.1:15020/identities)"
wire "bar/httpbin's proxy saw foo/curl by SPIFFE ID" \
  "[[ '$identities' == *spiffe://cluster.local/ns/foo/sa/curl* ]]"
wire "bar/httpbin's proxy saw legacy's plaintext from ${ip_of[legacy-curl]}" \
  "[[ '$identities' == *${ip_of[legacy-curl]}* ]]"

if [[ $mode == control-plane ]]; then
  scenario "the control plane issued every proxy's identity"
  issued="$(ip netns exec "$(netns control-plane)" curl -s --max-time 2 http://127.0.0.1:15014/metrics |
    awk '/^peergate_ca_certificates_total\{result="issued"\}/ {print $2}')"
  wire "certificates issued by the CA: ${issued:-none}" "[[ ${issued:-0} -ge 4 ]]"
  # foo is PERMISSIVE here: the mesh ALPN makes the proxy terminate (without it, this TLS would
  # be passed through to the plaintext app as the client's own).
  ip netns exec "$(netns legacy-curl)" timeout 5 openssl s_client -connect \
    "${ip_of[foo-httpbin]}:8000" -cert "$certs/legacy-good/cert.pem" \
    -key "$certs/legacy-good/key.pem" -alpn peergate </dev/null 2>/dev/null |
    openssl x509 >"$work/served.pem"
  served_id="$(openssl x509 -in "$work/served.pem" -noout -ext subjectAltName 2>/dev/null | tr -d ' \n')"
  served="$(openssl x509 -in "$work/served.pem" -noout -fingerprint -sha256 2>/dev/null)"
  offline="$(openssl x509 -in "$certs/foo-httpbin/cert.pem" -noout -fingerprint -sha256)"
  wire "foo/httpbin's proxy serves its SPIFFE identity: $served_id" \
    "[[ '$served_id' == *URI:spiffe://cluster.local/ns/foo/sa/httpbin* ]]"
  wire "and that certificate came from the CA, not from a file" \
    "[[ -n '$served' && '$served' != '$offline' ]]"
fi

if [[ $failures -ne 0 ]]; then
  for log in "$work"/proxy-*.log "$work"/control-plane.log; do
    [[ -f $log ]] || continue
    echo "--- $log"
    tail -n 20 "$log"
  done
  echo "mesh: $failures check(s) failed"
  exit 1
fi
echo "mesh: all checks passed"
