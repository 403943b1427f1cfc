#!/usr/bin/env bash
# TLS audit: sslscan against the webhook's HTTPS port, its control-plane port and the proxy's
# STRICT inbound port finds no protocol below TLS 1.2 and no weak cipher. A deliberately weak
# openssl s_server is scanned first, so a scanner that cannot see old protocols on this machine
# is noticed (skip, not pass).
# Loopback only. Exits 77 (skipped) without sslscan or openssl.
#
#   tests/e2e/tls_audit_test.sh PATH/TO/peergate
set -uo pipefail

peergate="$(realpath "${1:?usage: tls_audit_test.sh PEERGATE}")"
here="$(cd "$(dirname "$0")/../.." && pwd)"

skip() { echo "SKIPPED: $*"; exit 77; }
command -v sslscan >/dev/null || skip "sslscan is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"

work="$(mktemp -d /tmp/peergate-tls.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT: bounded wait until something accepts on 127.0.0.1:PORT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL nothing listens on $1"
  exit 1
}
scan() { sslscan --no-colour --no-heartbleed --no-cipher-details "127.0.0.1:$1" 2>&1; }

"$peergate" certs ca --out "$work/ca" >/dev/null
"$peergate" certs serving --ca "$work/ca" --dns localhost --ip 127.0.0.1 --out "$work/serving" \
  >/dev/null
"$peergate" certs issue --ca "$work/ca" --spiffe spiffe://cluster.local/ns/foo/sa/httpbin \
  --out "$work/workload" >/dev/null

# The control: TLS 1.1 with legacy ciphers must show up as such.
weak="$(free_port)"
timeout 60 openssl s_server -accept "$weak" -cert "$work/serving/cert.pem" \
  -key "$work/serving/key.pem" -tls1_1 -cipher 'ALL:@SECLEVEL=0' -quiet >/dev/null 2>&1 &
pids+=($!)
wait_port "$weak"
scan "$weak" | grep -q '^TLSv1.1 *enabled' ||
  skip "this sslscan does not detect TLS 1.1 on a server that offers it"

failures=0
audit() {  # audit NAME PORT
  local report protocols weak_ciphers
  report="$(scan "$2")"
  protocols="$(grep -E '^(SSLv2|SSLv3|TLSv1\.0|TLSv1\.1) +enabled' <<<"$report")"
  # Every accepted TLS 1.2 suite must be ECDHE with an AEAD; TLS 1.3 suites all are.
  weak_ciphers="$(grep -E '^(Accepted|Preferred) +TLSv1\.2' <<<"$report" |
    grep -vE 'ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)')"
  if [[ -n "$protocols" || -n "$weak_ciphers" ]]; then
    echo "FAIL $1: ${protocols:-}${weak_ciphers:+ weak: $weak_ciphers}"
    failures=$((failures + 1))
  elif ! grep -q '^TLSv1.[23] *enabled' <<<"$report"; then
    echo "FAIL $1: the scan saw no TLS at all"
    echo "$report"
    failures=$((failures + 1))
  else
    echo "ok   $1: TLS 1.2+ only, AEAD ECDHE suites only"
  fi
}

webhook_port="$(free_port)" admin_port="$(free_port)" control_port="$(free_port)"
echo "audit-token,system:serviceaccount:foo:httpbin,1" >"$work/tokens.csv"
"$peergate" webhook --port "$webhook_port" --admin-port "$admin_port" --bind-address 127.0.0.1 \
  --tls-cert "$work/serving/cert.pem" --tls-key "$work/serving/key.pem" \
  --cluster-state "$here/manifests/examples/foo-bar-legacy" --log-level warn \
  --ca "$work/ca" --token-auth-file "$work/tokens.csv" --control-plane-port "$control_port" \
  --shutdown-delay 0 2>"$work/webhook.log" &
pids+=($!)
wait_port "$webhook_port"
audit "webhook HTTPS" "$webhook_port"
wait_port "$control_port"
audit "control plane (CA + policy feed)" "$control_port"

mkdir -p "$work/state"
cat >"$work/state/cluster.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin, namespace: foo, labels: {app: httpbin}}
spec:
  serviceAccountName: httpbin
  containers:
  - {name: httpbin, image: httpbin, ports: [{containerPort: 8000}]}
  - {name: peergate-proxy, image: peergate}
status: {podIP: 127.0.0.1, phase: Running}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: STRICT}}
EOF
inbound="$(free_port)"
"$peergate" proxy --pod foo/httpbin --cluster-state "$work/state" --certs "$work/workload" \
  --inbound-port -1 --outbound-port -1 --admin-port 0 --bind-address 127.0.0.1 \
  --inbound-map "$inbound=8000" --log-level warn 2>"$work/proxy.log" &
pids+=($!)
wait_port "$inbound"
audit "proxy STRICT inbound" "$inbound"

[[ $failures -eq 0 ]] && echo "tls audit: all checks passed"
exit $((failures > 0))
