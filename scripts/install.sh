#!/usr/bin/env bash
# Installs peergate into the current kubectl context without cert-manager: a CA and the webhook's
# serving certificate from `peergate certs`, the Secrets the Deployment mounts, the manifests
# (`kubectl apply -k`), and the CA in caBundle of every webhook peergate registers.
#
# Safe to re-run: the CA in the Secret peergate-ca is kept (unless --rotate) and the serving
# certificate is kept while it chains to that CA, names the Service and has 30 days left.
# Private keys only ever sit in a 0700 temporary directory (removed on exit) and reach kubectl
# on stdin, never on its command line. See docs/install.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install.sh [options]

Installs peergate into the cluster of the current kubectl context, with certificates made by
`peergate certs` (no cert-manager needed).

Options:
  -k, --overlay DIR   kustomization to apply (default: manifests/base of this repository)
  -n, --namespace NS  namespace of the Deployment and Secrets (default: peergate-system); must be
                      the namespace the overlay deploys into
      --kubectl PATH  kubectl to use (default: kubectl on PATH)
      --peergate PATH peergate binary that makes the certificates (default: peergate on PATH,
                      else build/release/cli/peergate or build/dev/cli/peergate)
      --rotate        make a new CA and serving certificate; caBundle trusts the old and the
                      new CA until the next run without --rotate
      --no-wait       do not wait for the Deployment to become ready
      --dry-run       print what would be done; change nothing (reads the cluster only)
  -h, --help          this help

Creates or updates: Secret NS/peergate-ca (the CA and its key), Secret NS/peergate-tls (the
serving certificate the Deployment mounts), the overlay's objects, and caBundle in every webhook
of the ValidatingWebhookConfigurations and MutatingWebhookConfigurations labelled
app.kubernetes.io/name=peergate.

Exit codes: 0 done, 64 usage error, 69 kubectl or peergate missing, or no cluster context,
1 a kubectl or peergate step failed (its message is printed).
EOF
}

readonly kCaSecret=peergate-ca
readonly kTlsSecret=peergate-tls
readonly kServiceName=peergate
readonly kWebhookSelector=app.kubernetes.io/name=peergate
readonly kMinServingSeconds=$((30 * 24 * 3600))

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
overlay="$repo_root/manifests/base"
namespace=peergate-system
kubectl_bin=kubectl
peergate_bin=""
rotate=false
wait_ready=true
dry_run=false

die() {
  local code=$1
  shift
  printf 'install.sh: error: %s\n' "$*" >&2
  exit "$code"
}
say() { printf '== %s\n' "$*"; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -k | --overlay) overlay=${2:?--overlay needs a directory}; shift 2 ;;
      -n | --namespace) namespace=${2:?--namespace needs a name}; shift 2 ;;
      --kubectl) kubectl_bin=${2:?--kubectl needs a path}; shift 2 ;;
      --peergate) peergate_bin=${2:?--peergate needs a path}; shift 2 ;;
      --rotate) rotate=true; shift ;;
      --no-wait) wait_ready=false; shift ;;
      --dry-run) dry_run=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die 64 "unknown argument: $1 (see --help)" ;;
    esac
  done
  [ -d "$overlay" ] || die 64 "--overlay $overlay is not a directory"
  [ -f "$overlay/kustomization.yaml" ] || die 64 "--overlay $overlay has no kustomization.yaml"
  case "$overlay" in
    */cert-manager | */cert-manager/)
      die 64 "overlays/cert-manager manages its own certificates: kubectl apply -k $overlay" ;;
  esac
  # The Secrets and the certificate's DNS names follow --namespace; the manifests follow their
  # kustomization (the base's namespace when an overlay sets none). They must agree.
  local declared
  declared=$(sed -n 's/^namespace: *//p' "$overlay/kustomization.yaml" | tr -d "\"' ")
  [ "${declared:-peergate-system}" = "$namespace" ] ||
    die 64 "$overlay deploys into ${declared:-peergate-system}, not $namespace: pass --namespace ${declared:-peergate-system}, or use an overlay with 'namespace: $namespace'"
}

# ---- Tools and cluster -------------------------------------------------------------------

find_tools() {
  command -v "$kubectl_bin" >/dev/null 2>&1 ||
    die 69 "kubectl not found ('$kubectl_bin'): install it or pass --kubectl PATH"
  kubectl_bin=$(command -v "$kubectl_bin")
  if [ -z "$peergate_bin" ]; then
    local candidate
    for candidate in "$(command -v peergate || true)" "$repo_root/build/release/cli/peergate" \
      "$repo_root/build/dev/cli/peergate"; do
      if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        peergate_bin=$candidate
        break
      fi
    done
  fi
  if [ -z "$peergate_bin" ] || [ ! -x "$peergate_bin" ]; then
    die 69 "peergate not found: build it (cmake --preset release && cmake --build --preset release) or pass --peergate PATH"
  fi
}

kube() { "$kubectl_bin" "$@"; }

check_context() {
  local context
  context=$(kube config current-context 2>/dev/null) ||
    die 69 "kubectl has no current context: select a cluster with 'kubectl config use-context NAME' or set KUBECONFIG"
  say "cluster context: $context, namespace: $namespace, manifests: $overlay"
}

# Runs a command that changes the cluster, or prints it under --dry-run. Its stdin (a Secret,
# keys included) is never printed.
change() {
  if $dry_run; then
    printf 'would run: kubectl %s\n' "$*"
    cat >/dev/null
  else
    kube "$@"
  fi
}

# A field of a Secret, base64 as stored; empty when the Secret or the field does not exist.
secret_field() {
  local name=$1 field=${2//./\\.}
  kube -n "$namespace" get secret "$name" --ignore-not-found -o "jsonpath={.data.$field}" ||
    die 1 "cannot read Secret $namespace/$name (see kubectl's message above)"
}

# ---- Certificates ------------------------------------------------------------------------

workdir=""
cleanup() { [ -z "$workdir" ] || rm -rf -- "$workdir"; }

make_workdir() {
  umask 077
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/peergate-install.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir "$workdir/ca" "$workdir/serving"
}

# Loads the CA from the cluster into $workdir/ca; false when there is none to keep.
load_ca() {
  local cert key
  # A failed read must stop the install, not look like "no CA" and replace the one in use.
  cert=$(secret_field "$kCaSecret" tls.crt) || exit 1
  key=$(secret_field "$kCaSecret" tls.key) || exit 1
  [ -n "$cert" ] && [ -n "$key" ] || return 1
  printf '%s' "$cert" | base64 -d >"$workdir/ca/ca.pem"
  printf '%s' "$key" | base64 -d >"$workdir/ca/ca-key.pem"
}

service_names() {
  printf '%s\n' "$kServiceName.$namespace.svc" "$kServiceName.$namespace.svc.cluster.local"
}

# True when the serving certificate in the cluster can stay: it chains to the CA in use, names
# both Service DNS names and is valid for 30 more days. Without openssl it is reissued.
serving_cert_reusable() {
  local cert name
  cert=$(secret_field "$kTlsSecret" tls.crt) || exit 1
  [ -n "$cert" ] && command -v openssl >/dev/null 2>&1 || return 1
  printf '%s' "$cert" | base64 -d >"$workdir/current.pem"
  openssl verify -CAfile "$workdir/ca/ca.pem" "$workdir/current.pem" >/dev/null 2>&1 || return 1
  openssl x509 -in "$workdir/current.pem" -noout -checkend "$kMinServingSeconds" >/dev/null ||
    return 1
  local sans
  sans=$(openssl x509 -in "$workdir/current.pem" -noout -ext subjectAltName 2>/dev/null) ||
    return 1
  # Whole entries: DNS:x.svc is a prefix of DNS:x.svc.cluster.local.
  while read -r name; do
    tr ',' '\n' <<<"$sans" | sed 's/^ *//' | grep -qxF "DNS:$name" || return 1
  done < <(service_names)
}

issue_serving_cert() {
  local args=() name
  while read -r name; do args+=(--dns "$name"); done < <(service_names)
  "$peergate_bin" certs serving --ca "$workdir/ca" "${args[@]}" --out "$workdir/serving" \
    >/dev/null || die 1 "peergate certs serving failed"
}

# Sets ca_state (kept | new) and tls_state (kept | new); the previous CA, when rotating, is in
# $workdir/previous-ca.pem.
prepare_certificates() {
  ca_state=new
  if load_ca; then
    if $rotate; then
      mv "$workdir/ca/ca.pem" "$workdir/previous-ca.pem"
      rm -f "$workdir/ca/ca-key.pem"
    else
      ca_state=kept
    fi
  fi
  if [ "$ca_state" = new ] && ! $dry_run; then
    "$peergate_bin" certs ca --out "$workdir/ca" >/dev/null || die 1 "peergate certs ca failed"
  fi
  tls_state=new
  if [ "$ca_state" = kept ] && serving_cert_reusable; then tls_state=kept; fi
  if [ "$tls_state" = new ] && ! $dry_run; then issue_serving_cert; fi
  say "CA: $ca_state, serving certificate: $tls_state ($(service_names | paste -sd' '))"
}

b64() { base64 | tr -d '\n'; }

# A kubernetes.io/tls Secret as JSON, for `kubectl apply -f -`.
tls_secret_json() {
  local name=$1 cert=$2 key=$3 ca=$4
  printf '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls",'
  printf '"metadata":{"name":"%s","namespace":"%s","labels":{"app.kubernetes.io/name":"peergate"}},' \
    "$name" "$namespace"
  printf '"data":{"tls.crt":"%s","tls.key":"%s","ca.crt":"%s"}}\n' \
    "$(b64 <"$cert")" "$(b64 <"$key")" "$(b64 <"$ca")"
}

# Server-side apply: a client-side apply would copy the Secret, keys included, into the
# last-applied-configuration annotation, which `kubectl describe` prints.
apply_stdin() { change apply --server-side --field-manager=peergate-install --force-conflicts -f -; }

apply_secrets() {
  # The Secrets need their namespace before the manifests create it.
  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}\n' "$namespace" |
    apply_stdin
  if [ "$ca_state" = new ]; then
    if $dry_run; then
      printf 'would store a new CA in Secret %s/%s\n' "$namespace" "$kCaSecret"
    else
      tls_secret_json "$kCaSecret" "$workdir/ca/ca.pem" "$workdir/ca/ca-key.pem" \
        "$workdir/ca/ca.pem" | apply_stdin
    fi
  fi
  if [ "$tls_state" = new ]; then
    if $dry_run; then
      printf 'would store a new serving certificate in Secret %s/%s\n' "$namespace" "$kTlsSecret"
    else
      tls_secret_json "$kTlsSecret" "$workdir/serving/cert.pem" "$workdir/serving/key.pem" \
        "$workdir/ca/ca.pem" | apply_stdin
    fi
  fi
}

# ---- Manifests and caBundle ----------------------------------------------------------------

apply_manifests() {
  change apply -k "$overlay" </dev/null || die 1 "kubectl apply -k $overlay failed"
}

# The CA bundle the webhooks trust, base64: the CA, plus the previous one while rotating (the
# running replicas still serve a certificate from it until they reload the new Secret).
ca_bundle() {
  if [ -f "$workdir/previous-ca.pem" ]; then
    cat "$workdir/ca/ca.pem" "$workdir/previous-ca.pem" | b64
  else
    b64 <"$workdir/ca/ca.pem"
  fi
}

# Every webhook of one configuration gets the bundle (a strategic merge by webhook name).
patch_configuration() {
  local object=$1 bundle=$2 names name patch=""
  names=$(kube get "$object" -o 'jsonpath={.webhooks[*].name}') ||
    die 1 "cannot read $object"
  for name in $names; do
    patch+="${patch:+,}{\"name\":\"$name\",\"clientConfig\":{\"caBundle\":\"$bundle\"}}"
  done
  [ -n "$patch" ] || return 0
  change patch "$object" --type=strategic -p "{\"webhooks\":[$patch]}" </dev/null >/dev/null ||
    die 1 "cannot patch caBundle of $object"
  say "caBundle set on $object ($names)"
}

patch_ca_bundles() {
  if $dry_run && [ "$ca_state" = new ]; then
    printf 'would set caBundle to the new CA on every webhook labelled %s\n' "$kWebhookSelector"
    return 0
  fi
  local bundle objects object
  bundle=$(ca_bundle)
  objects=$(kube get validatingwebhookconfigurations,mutatingwebhookconfigurations \
    -l "$kWebhookSelector" -o name) || die 1 "cannot list the webhook configurations"
  [ -n "$objects" ] || $dry_run ||
    die 1 "no webhook configuration labelled $kWebhookSelector after applying $overlay"
  for object in $objects; do patch_configuration "$object" "$bundle"; done
}

wait_for_rollout() {
  $wait_ready && ! $dry_run || return 0
  kube -n "$namespace" rollout status "deployment/$kServiceName" --timeout=180s ||
    die 1 "the Deployment did not become ready: kubectl -n $namespace describe pods -l $kWebhookSelector"
}

main() {
  parse_args "$@"
  find_tools
  check_context
  make_workdir
  prepare_certificates
  apply_secrets
  apply_manifests
  patch_ca_bundles
  wait_for_rollout
  if $dry_run; then say "dry run: nothing was changed"; else say "peergate is installed"; fi
}

main "$@"
