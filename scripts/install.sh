#!/bin/sh
# Installs the release build of libkms: libkms.so, libkms.a, include/kms.h and a pkg-config
# file lib/pkgconfig/kms.pc generated from scripts/kms.pc.in.
#
#   cargo build --release && scripts/install.sh [PREFIX]      (PREFIX default: /usr/local)
#
# Honours DESTDIR (staged installs), LIBDIR (default: lib) and CARGO_TARGET_DIR.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-/usr/local}
libdir=${LIBDIR:-lib}
destdir=${DESTDIR:-}
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
release=$target/release

for f in libkms.so libkms.a; do
    [ -f "$release/$f" ] || { echo "install.sh: $release/$f missing: run cargo build --release first" >&2; exit 1; }
done

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
# What a static link of libkms.a needs besides it (rustc --print native-static-libs, Linux).
private_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

install -d "$destdir$prefix/$libdir/pkgconfig" "$destdir$prefix/include"
install -m 0755 "$release/libkms.so" "$destdir$prefix/$libdir/libkms.so"
install -m 0644 "$release/libkms.a" "$destdir$prefix/$libdir/libkms.a"
install -m 0644 "$root/include/kms.h" "$destdir$prefix/include/kms.h"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" -e "s|@VERSION@|$version|g" \
    -e "s|@PRIVATE_LIBS@|$private_libs|g" \
    "$root/scripts/kms.pc.in" > "$destdir$prefix/$libdir/pkgconfig/kms.pc"
echo "installed libkms $version under $destdir$prefix"
