#!/usr/bin/env bash
# Proxy test identities, generated at test time into OUTDIR (never committed: they hold keys).
#
#   tests/testdata/proxy/gen.sh OUTDIR
#
# A mesh root and an unrelated root (EC P-256), and one directory per workload identity in the
# layout `peergate proxy --certs DIR` reads (cert.pem key.pem ca.pem):
#   httpbin/    spiffe://cluster.local/ns/foo/sa/httpbin   (mesh root)
#   httpbin2/   the same identity, another key and serial  (rotation target)
#   curl/       spiffe://cluster.local/ns/foo/sa/curl      (mesh root)
#   wrong-td/   spiffe://other.local/ns/foo/sa/curl        (mesh root, wrong trust domain)
#   untrusted/  spiffe://cluster.local/ns/foo/sa/curl      (signed by the unrelated root)
#   ca-leaf/    spiffe://cluster.local/ns/foo/sa/curl      (mesh root, but CA:TRUE)
#   app-tls/    DNS:app.example, no SPIFFE ID              (unrelated root: an app serving its own
#                                                           TLS; its ca.pem is that root)
# Every other ca.pem is the mesh root, so each of those directories also works as a proxy's
# --certs. Idempotent: an existing OUTDIR/app-tls/cert.pem keeps everything.
set -euo pipefail

out="${1:?usage: gen.sh OUTDIR}"
mkdir -p "$out"
cd "$out"
[[ -s app-tls/cert.pem ]] && exit 0

export OPENSSL_CONF=/dev/null  # no site config shapes the output

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

root() {  # root NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/O=peergate tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt" 2>/dev/null
}

# leaf DIR SERIAL SUBJECT-ALT-NAME ISSUER BASIC-CONSTRAINTS
leaf() {
  mkdir -p "$1"
  key "$1/key.pem"
  openssl req -new -key "$1/key.pem" -subj "/O=peergate tests" -out "$1/req.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,$5" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$3" >"$1/ext.cnf"
  openssl x509 -req -in "$1/req.csr" -CA "$4.crt" -CAkey "$4.key" -set_serial "0x$2" -days 10 \
    -sha256 -extfile "$1/ext.cnf" -out "$1/cert.pem" 2>/dev/null
  cp ca.crt "$1/ca.pem"
  rm -f "$1/req.csr" "$1/ext.cnf"
}

root ca "peergate mesh test root"
root other-ca "unrelated test root"
leaf httpbin 3001 URI:spiffe://cluster.local/ns/foo/sa/httpbin ca CA:FALSE
leaf httpbin2 3002 URI:spiffe://cluster.local/ns/foo/sa/httpbin ca CA:FALSE
leaf curl 3003 URI:spiffe://cluster.local/ns/foo/sa/curl ca CA:FALSE
leaf wrong-td 3004 URI:spiffe://other.local/ns/foo/sa/curl ca CA:FALSE
leaf untrusted 3005 URI:spiffe://cluster.local/ns/foo/sa/curl other-ca CA:FALSE
leaf ca-leaf 3006 URI:spiffe://cluster.local/ns/foo/sa/curl ca CA:TRUE
leaf app-tls 3007 DNS:app.example other-ca CA:FALSE
cp other-ca.crt app-tls/ca.pem
