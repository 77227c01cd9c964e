//! Supply chain: every dependency is checked against the offline RustSec advisory snapshot
//! (../shared/advisory-db), and for licenses, sources and banned crates, with cargo-deny.

use std::process::Command;

#[test]
fn no_open_advisories_and_allowed_licenses_and_sources() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/supply-chain.sh"))
        .current_dir(root)
        .output()
        .expect("run scripts/supply-chain.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "supply-chain check failed (cargo-deny missing? scripts/install-test-deps.sh installs it):\n{text}"
    );
    assert!(
        text.contains("advisories ok")
            && text.contains("licenses ok")
            && text.contains("sources ok"),
        "unexpected cargo-deny output:\n{text}"
    );
}
