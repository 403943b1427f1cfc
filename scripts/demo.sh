#!/usr/bin/env bash
# The main job on embedded defaults: build if needed, then run the gate on the bundled examples.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1
# Always through the build tool: a no-op when up to date, never a stale binary after a pull.
echo "== building peergate (release preset)"
{ cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" --target peergate >/dev/null; } || exit 1
peergate=build/release/cli/peergate
examples=manifests/examples

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; echo "(exit $?)"; }

"$peergate" --version
step "The cluster as it is: foo and bar injected, legacy without sidecars" \
  "$peergate" describe -f "$examples/foo-bar-legacy"
step "Namespace STRICT on foo: safe, every workload there has a proxy" \
  "$peergate" check -f "$examples/foo-bar-legacy" -f "$examples/namespace-strict-foo"
step "Mesh-wide STRICT: refused, legacy has no proxy" \
  "$peergate" check -f "$examples/foo-bar-legacy" -f "$examples/mesh-strict"
step "Mesh-wide DISABLE: refused" \
  "$peergate" check -f "$examples/foo-bar-legacy" -f "$examples/mesh-disable"
step "A workload DISABLE inside a STRICT namespace: a warning" \
  "$peergate" check -f "$examples/legacy-workload-disable"
step "Port-level rules on payments/checkout, explained per port" \
  "$peergate" describe -f "$examples/payments-retail"
step "The ISTIO_MUTUAL migration: STRICT while observed plaintext clients still call" \
  "$peergate" check -f "$examples/migration-istio-mutual/base" -f "$examples/migration-istio-mutual/step-3-strict" \
  --observations "$examples/migration-istio-mutual/observations.json"
step "What would mesh-wide STRICT change? (plan)" \
  "$peergate" plan -f "$examples/foo-bar-legacy" --apply "$examples/mesh-strict/peer-authentication.yaml"

printf '\n\033[1m== The admission webhook: real AdmissionReviews over HTTPS, as kubectl would show them\033[0m\n'
python3 scripts/demo_admission.py "$peergate" "$examples/foo-bar-legacy" || exit 1

# The data plane, when this machine allows network namespaces (root): the control plane
# (`peergate webhook --ca`) in its own namespace and five pods on a bridge, foo and bar behind
# `peergate proxy --control-plane` + `peergate iptables` (policy from the feed, certificates from
# the CA), legacy without; the migration matrix as PeerAuthentications change, certificates
# refused, and tcpdump on the wire.
if [ "$(id -u)" -eq 0 ] && ip netns list >/dev/null 2>&1; then
  printf '\n\033[1m== The data plane: the foo/bar/legacy migration through real proxies and their control plane (network namespaces)\033[0m\n'
  bash tests/e2e/mesh_test.sh "$peergate"
else
  printf '\n(The data-plane part needs root and network namespaces: run as root to see it.)\n'
fi
exit 0
