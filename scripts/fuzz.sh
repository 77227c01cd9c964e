#!/usr/bin/env bash
# Builds the cargo-fuzz targets (fuzz/, see fuzz/README.md) and runs each one, starting from
# its committed seed corpus (fuzz/corpus/<target>/seed-*); fails on any crash, panic, leak,
# timeout or out-of-memory report.
#
#   scripts/fuzz.sh                   smoke run: every target for 20 s (scripts/test.sh runs this)
#   scripts/fuzz.sh 600               every target for 600 s
#   scripts/fuzz.sh 600 backup policy the named targets only
#
# Only stable Rust is installed: RUSTC_BOOTSTRAP=1 lets the stable compiler accept the -Z
# flags cargo-fuzz passes (-Zsanitizer=address; the ASan runtime ships with the stable std of
# x86_64-unknown-linux-gnu). Builds go to target/fuzz (apart from the release build); what
# the fuzzer finds new goes to target/fuzz/corpus/<target> (not committed), crash inputs to
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
tdir=$PWD/target/fuzz
if ! command -v cargo-fuzz >/dev/null 2>&1; then
	echo "fuzz.sh: cargo-fuzz is missing (scripts/install-test-deps.sh installs it)" >&2
	exit 1
fi
if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi
# Release with debug assertions (overflow checks), AddressSanitizer (the default).
flags=(-O -a --target-dir "$tdir")
start=$(date +%s)
(cd fuzz && cargo fuzz build "${flags[@]}")
echo "fuzz.sh: fuzz targets built in $(($(date +%s) - start)) s"
mkdir -p "$tdir/logs"
for t in "${targets[@]}"; do
	mkdir -p "$tdir/corpus/$t"
	log=$tdir/logs/$t.log
	if ! (cd fuzz && cargo fuzz run "${flags[@]}" "$t" "$tdir/corpus/$t" "corpus/$t" -- \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) \
		>"$log" 2>&1; then
		tail -n 60 "$log" >&2
		echo "fuzz.sh: target $t FAILED (log: $log; the input is under fuzz/artifacts/$t/)" >&2
		exit 1
	fi
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
	echo "fuzz.sh: $t ok: ${runs:-?} executions in ${secs} s, ${cov:-cov ?}, corpus $(ls "$tdir/corpus/$t" | wc -l) new + $(ls "fuzz/corpus/$t" | wc -l) committed"
done
echo "fuzz.sh: done in $(($(date +%s) - start)) s"
