#!/usr/bin/env bash
# Supply-chain check: advisories against the offline RustSec snapshot in
# ../shared/advisory-db (or $KMS_ADVISORY_DB), licenses, sources and banned crates, with
# cargo-deny. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
db_src=${KMS_ADVISORY_DB:-../shared/advisory-db}
if [ ! -d "$db_src/crates" ]; then
	echo "supply-chain: no advisory database at $db_src (set KMS_ADVISORY_DB)" >&2
	exit 2
fi
if ! command -v cargo-deny >/dev/null 2>&1; then
	echo "supply-chain: cargo-deny is not installed (scripts/install-test-deps.sh installs it)" >&2
	exit 2
fi
# cargo-deny reads the whole dependency graph (every platform's crates) offline: fetch them.
cargo fetch --locked --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# cargo-deny reads advisory databases as git checkouts under db-path.
mkdir -p "$work/db"
# the folder name cargo-deny derives from the RustSec URL
dbdir="$work/db/advisory-db-3157b0e258782691"
cp -r "$db_src" "$dbdir"
(cd "$dbdir" && git init -q && git add -A && git -c user.name=kms -c user.email=kms@localhost commit -qm snapshot)
cat > "$work/deny.toml" <<TOML
$(sed -n '/^\[advisories\]/q;p' deny.toml)
[advisories]
db-path = "$work/db"
db-urls = ["https://github.com/rustsec/advisory-db"]
yanked = "warn"
$(sed -n '/^\[licenses\]/,$p' deny.toml)
TOML
cargo deny --offline --config "$work/deny.toml" check advisories licenses sources bans
