#!/usr/bin/env bash
# make-test-ca.sh OUTDIR [NAMES_FILE]: a throw-away test CA and one server certificate it signed,
# for the namespace lab's nginx. Writes OUTDIR/ca.crt, ca.key, server.crt, server.key.
# The server certificate carries every name of NAMES_FILE (default: test-names.txt beside this
# script; '#' starts a comment) as a DNS SAN, plus the lab's server addresses 10.0.0.1 and
# 10.0.0.2 as IP SANs, so clients that connect by address (openssl s_client -noservername)
# verify too. P-256 keys: fast to make, accepted by every client the tests use. Valid 30 days:
# the lab makes a new CA on every `up`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make-test-ca.sh OUTDIR [NAMES_FILE]}
names_file=${2:-$here/test-names.txt}
mkdir -p "$out"
umask 077

san=""
while read -r name _; do
  [[ -z $name || $name == \#* ]] && continue
  san+="DNS:$name,"
done <"$names_file"
san+="IP:10.0.0.1,IP:10.0.0.2"

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$out/ca.key" -out "$out/ca.crt" -days 30 -subj "/O=Sluice lab/CN=Sluice lab test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$out/server.key" -out "$out/server.csr" -subj "/O=Sluice lab/CN=allowed.test" 2>/dev/null
cat >"$out/server.ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
EOF
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days 30 -sha256 -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"
openssl verify -CAfile "$out/ca.crt" "$out/server.crt" >/dev/null
