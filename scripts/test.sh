#!/usr/bin/env bash
# Runs every test of libkms: installs what the tests need when it is missing, builds the
# release library once, and runs every suite against it (Rust core tests, the C API under
# AddressSanitizer and valgrind, PKCS#11 clients, bindings, CLI), then a short run of every
# fuzz target (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export CARGO_TERM_COLOR=never
# One release build shared by every suite (the C, PKCS#11 and binding tests load it).
cargo build --release --locked --all-targets
status=0
cargo test --release --locked --no-fail-fast "$@" || status=$?
# Fuzz smoke run: every cargo-fuzz target (fuzz/) for KMS_FUZZ_SECONDS (default 20) from its
# committed seeds; any crash fails the run.
scripts/fuzz.sh "${KMS_FUZZ_SECONDS:-20}" || status=$?
exit $status
