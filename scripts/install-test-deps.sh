#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine (run as root; a no-op when
# everything is present). Tools: valgrind and the C compiler (C API tests), pkg-config,
# pkcs11-tool (opensc), p11-kit's pkcs11.h (PKCS#11 C test), SoftHSM2 (benchmark peer), the
# OpenSSL PKCS#11 engine (libp11), Go (bindings), PostgreSQL (fleet store), gdb and prlimit
# (secure-memory test), Python packages (PyKCS11, pytest, cffi,
# cryptography for examples/db_encryption); python3 -m venv (bindings_python.rs); cargo-deny
# and cargo-fuzz (scripts/fuzz.sh).
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have valgrind || need_apt+=(valgrind)
have pkg-config || need_apt+=(pkg-config)
have pkcs11-tool || need_apt+=(opensc)
have softhsm2-util || need_apt+=(softhsm2)
[ -e /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] || [ -e /usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so ] \
	|| need_apt+=(libengine-pkcs11-openssl)
have go || [ -x /usr/lib/go/bin/go ] || need_apt+=(golang-go)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
have g++ || need_apt+=(g++)
# p11-kit's pkcs11.h for the PKCS#11 bad-input C program (tests/pkcs11_badinput.rs).
[ -e /usr/include/p11-kit-1/p11-kit/pkcs11.h ] || need_apt+=(libp11-kit-dev)
# tests/secure_memory.rs: gcore (gdb) dumps a child holding keys; prlimit runs one without
# an mlock allowance.
have gdb || need_apt+=(gdb)
have prlimit || need_apt+=(util-linux)
# python3 -m venv (with ensurepip) for the Python binding test; Debian splits it out.
if have python3 && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
	need_apt+=(python3-venv)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-test-deps: missing ${need_apt[*]} and not root: install them first" >&2
		exit 1
	fi
	echo "install-test-deps: apt-get install ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	# The postgresql package starts a cluster service; tests run their own servers.
	if printf '%s\n' "${need_apt[@]}" | grep -qx postgresql; then
		(pg_ctlcluster --help >/dev/null 2>&1 && for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do
			pg_ctlcluster ${c%/*} ${c#*/} stop || true
		done) || true
	fi
fi

py_need=()
python3 -c 'import PyKCS11' 2>/dev/null || py_need+=(PyKCS11)
python3 -c 'import pytest' 2>/dev/null || py_need+=(pytest)
python3 -c 'import cffi' 2>/dev/null || py_need+=(cffi)
python3 -c 'import cryptography' 2>/dev/null || py_need+=(cryptography)
if [ ${#py_need[@]} -gt 0 ]; then
	echo "install-test-deps: pip install ${py_need[*]}"
	python3 -m pip install -q "${py_need[@]}"
fi
# cargo-deny checks advisories (offline RustSec snapshot), licenses and sources.
if ! command -v cargo-deny >/dev/null 2>&1; then
	echo "install-test-deps: cargo install cargo-deny (a few minutes, once)"
	cargo install --locked --quiet cargo-deny
fi
# cargo-fuzz builds and runs the fuzz targets (scripts/fuzz.sh, fuzz/README.md).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
	echo "install-test-deps: cargo install cargo-fuzz (a minute or two, once)"
	cargo install --locked --quiet cargo-fuzz
fi
echo "install-test-deps: ok"
