#!/usr/bin/env bash
# The PKCS#11 comparison: libkms against SoftHSM2, same workload, one run
# (benches/pkcs11_compare.rs). Installs SoftHSM2 when it is missing (apt-get, as root),
# builds the release library, then runs the bench; knobs (KMS_BENCH_MODULES, KMS_BENCH_SECS,
# KMS_BENCH_FIND_LARGE, KMS_BENCH_FILL_SECS ...) are described at the top of the bench file.
# Writes the table to stdout, docs/perf-pkcs11.json and docs/perf-ratios.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KMS_BENCH_MODULES:-}" ] && [ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "bench: SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so) is missing and not root: apt-get install softhsm2" >&2
		exit 1
	fi
	echo "bench: apt-get install softhsm2"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null
fi
cargo build --release --locked
cargo bench --locked --bench pkcs11_compare "$@"
