#!/usr/bin/env bash
# Test certificates, generated at test time into OUTDIR (never committed: they hold keys).
#
#   tests/testdata/certs/gen.sh OUTDIR
#
# Writes, all signed by one test CA (EC P-256, SHA-256):
#   ca.crt ca.key              the CA (also the client CA for client-certificate tests)
#   server.crt server.key      serving cert, serial 1001: DNS localhost,
#                              peergate.peergate-system.svc, IP 127.0.0.1; valid 10 days
#   server2.crt server2.key    the same names, serial 1002 (the rotation target)
#   expired.crt expired.key    the same names, serial 1003, valid 2020-01-01..2020-01-02
#   soon.crt soon.key          the same names, serial 1004, valid 2 days (expiry warning)
#   client.crt client.key      client certificate (CN kube-apiserver), serial 2001
#   other-ca.crt other-ca.key  an unrelated CA, and other-client.crt/.key signed by it
# Idempotent: an existing OUTDIR/ca.crt is kept with everything else.
set -euo pipefail

out="${1:?usage: gen.sh OUTDIR}"
mkdir -p "$out"
cd "$out"
[[ -s ca.crt && -s server.crt && -s other-client.crt ]] && exit 0

export OPENSSL_CONF=/dev/null  # no site config (MinProtocol, providers) shapes the output
san="subjectAltName=DNS:localhost,DNS:peergate.peergate-system.svc,IP:127.0.0.1"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/O=peergate tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt" 2>/dev/null
}

# leaf NAME SERIAL DAYS CN EXT CA
leaf() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/O=peergate tests/CN=$4" -out "$1.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$5" \
    >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$6.crt" -CAkey "$6.key" -set_serial "0x$2" -days "$3" \
    -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "peergate test CA"
ca other-ca "unrelated test CA"
leaf server 1001 10 peergate.peergate-system.svc "$(printf '%s\n%s' "$san" extendedKeyUsage=serverAuth)" ca
leaf server2 1002 10 peergate.peergate-system.svc "$(printf '%s\n%s' "$san" extendedKeyUsage=serverAuth)" ca
leaf soon 1004 2 peergate.peergate-system.svc "$(printf '%s\n%s' "$san" extendedKeyUsage=serverAuth)" ca
leaf client 2001 10 kube-apiserver "extendedKeyUsage=clientAuth" ca
leaf other-client 2002 10 kube-apiserver "extendedKeyUsage=clientAuth" other-ca

# Expired: `openssl ca` is the only OpenSSL 3.0 command that takes explicit dates.
key expired.key
openssl req -new -key expired.key -subj "/O=peergate tests/CN=peergate.peergate-system.svc" \
  -out expired.csr 2>/dev/null
mkdir -p ca-db
: >ca-db/index.txt
cat >ca-db/ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
$san
EOF
echo 1003 >ca-db/serial
openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
  -startdate 20200101000000Z -enddate 20200102000000Z -extensions ext -notext \
  -out expired.crt 2>/dev/null
rm -rf ca-db expired.csr
