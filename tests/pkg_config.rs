//! scripts/install.sh installs a usable tree: a C program builds with `pkg-config kms` alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

#[test]
fn install_and_build_with_pkg_config() {
    assert!(
        common::have_tool("pkg-config"),
        "pkg-config not found: install it (apt-get install pkg-config)"
    );
    common::lib_dir();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let st = Command::new("sh")
        .arg(common::root().join("scripts/install.sh"))
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/install.sh failed");

    let pc_dir = prefix.join("lib/pkgconfig");
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "kms"])
        .env("PKG_CONFIG_PATH", &pc_dir)
        .output()
        .unwrap();
    assert!(
        pc.status.success(),
        "pkg-config: {}",
        String::from_utf8_lossy(&pc.stderr)
    );
    let flags = String::from_utf8_lossy(&pc.stdout).into_owned();
    let version = Command::new("pkg-config")
        .args(["--modversion", "kms"])
        .env("PKG_CONFIG_PATH", &pc_dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );

    let exe = dir.path().join("test_misc");
    let mut cmd = common::compiler(false).to_command();
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(common::root().join("tests/c"))
        .arg(common::root().join("tests/c/test_misc.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    common::assert_passed("test_misc", "pkg-config install", &out);
}
