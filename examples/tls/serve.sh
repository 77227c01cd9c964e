#!/bin/sh
# A TLS server whose private key lives in libkms: OpenSSL's s_server through the libp11
# engine, with libkms.so as the PKCS#11 module. The key is generated inside libkms and never
# leaves it; s_server holds only a PKCS#11 handle, and every handshake signature is a libkms
# sign operation recorded in the audit trail.
#
#   examples/tls/serve.sh [rsa|ec] [port]        (default: ec 8443, on 127.0.0.1)
#   openssl s_client -connect 127.0.0.1:8443 -CAfile "$WORK/srv-ec.crt" -verify_ip 127.0.0.1
#
# Environment: KMS_MODULE (libkms.so; default target/release/libkms.so), WORK (state folder;
# default ./tls-demo), KMS_STORE (default $WORK/kms.db), SO_PIN, USER_PIN.
set -eu

KIND=${1:-ec}
PORT=${2:-8443}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODULE=${KMS_MODULE:-$ROOT/target/release/libkms.so}
WORK=${WORK:-$PWD/tls-demo}
SO_PIN=${SO_PIN:-demo-so-pin}
USER_PIN=${USER_PIN:-demo-user-pin}
TOKEN=tls-demo
LABEL=srv-$KIND
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so

command -v openssl >/dev/null || { echo "openssl is missing (apt-get install openssl)" >&2; exit 1; }
command -v pkcs11-tool >/dev/null || { echo "pkcs11-tool is missing (apt-get install opensc)" >&2; exit 1; }
[ -f "$ENGINE" ] || { echo "$ENGINE is missing (apt-get install libengine-pkcs11-openssl)" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "$MODULE is missing (cargo build --release)" >&2; exit 1; }

mkdir -p "$WORK"
export KMS_STORE=${KMS_STORE:-$WORK/kms.db}
export OPENSSL_CONF=$WORK/openssl.cnf
sed -e "s#@ENGINE@#$ENGINE#" -e "s#@MODULE@#$MODULE#" "$ROOT/tests/openssl/openssl.cnf.in" > "$OPENSSL_CONF"

p11() { pkcs11-tool --module "$MODULE" "$@"; }

# 1. A token (a libkms keyring) with its security officer and default user.
if ! p11 --list-token-slots 2>/dev/null | grep -q "token label *: $TOKEN\$"; then
    p11 --init-token --slot 0x7fffffff --label "$TOKEN" --so-pin "$SO_PIN"
    p11 --token-label "$TOKEN" --login --login-type so --so-pin "$SO_PIN" --init-pin --pin "$USER_PIN"
fi
# PKCS#11 URI of the key (RFC 7512). The PIN is passed with -passin below, not in the URI,
# so that it does not show in `ps`.
KEY="pkcs11:token=$TOKEN;object=$LABEL;type=private"

# 2. The server key, generated inside libkms.
if ! p11 --token-label "$TOKEN" --login --pin "$USER_PIN" --list-objects --type privkey 2>/dev/null \
        | grep -q "label: *$LABEL\$"; then
    case $KIND in
        rsa) TYPE=rsa:2048 ID=01 ;;
        ec) TYPE=EC:prime256v1 ID=02 ;;
        *) echo "kind must be rsa or ec" >&2; exit 2 ;;
    esac
    p11 --token-label "$TOKEN" --login --pin "$USER_PIN" --keypairgen --key-type "$TYPE" \
        --label "$LABEL" --id "$ID" --usage-sign
fi

# 3. A self-signed certificate made with the token key, stored beside it on the token.
if [ ! -f "$WORK/$LABEL.crt" ]; then
    echo "$USER_PIN" > "$WORK/pin"; chmod 600 "$WORK/pin"
    openssl req -engine pkcs11 -keyform engine -key "$KEY" -passin "file:$WORK/pin" \
        -new -x509 -sha256 -days 365 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out "$WORK/$LABEL.crt"
    openssl x509 -in "$WORK/$LABEL.crt" -outform DER -out "$WORK/$LABEL.der"
    ID=$(p11 --token-label "$TOKEN" --login --pin "$USER_PIN" --list-objects --type privkey \
        | awk -v l="$LABEL" '$1=="label:" && $2==l {f=1} f && $1=="ID:" {print $2; exit}')
    p11 --token-label "$TOKEN" --login --pin "$USER_PIN" --write-object "$WORK/$LABEL.der" \
        --type cert --id "$ID" --label "$LABEL"
fi

# 4. Serve (s_server spells -passin as -pass). s_server holds a handle, never the key.
echo "$USER_PIN" > "$WORK/pin"; chmod 600 "$WORK/pin"
echo "serving on 127.0.0.1:$PORT with $KEY (certificate $WORK/$LABEL.crt)" >&2
exec openssl s_server -engine pkcs11 -keyform engine -key "$KEY" -pass "file:$WORK/pin" \
    -cert "$WORK/$LABEL.crt" -accept "127.0.0.1:$PORT" -www
