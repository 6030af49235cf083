#!/usr/bin/env bash
# Prebuilt `lab` binaries for a workshop, for attendees without Rust: one archive per platform
# and a SHA256SUMS file, to put on a USB stick or a local web server.
#
#   bash dist/build.sh [output directory, default dist/out]
#
#   lab-<version>-linux-x86_64.tar.gz     static (musl), runs on any x86_64 Linux
#   lab-<version>-linux-aarch64.tar.gz    static (musl), runs on any arm64 Linux (Raspberry Pi 4+)
#   lab-<version>-macos-arm64.tar.gz      Apple silicon
#   lab-<version>-macos-x86_64.tar.gz     Intel Macs
#   lab-<version>-freebsd-x86_64.tar.gz   FreeBSD 12 and later
#
# Each archive holds `lab`, README.md, LICENSE and the lessons (lessons/*.md, which `lab lesson`
# also shows from inside the binary). Runs on Linux or macOS with rustup, Zig and cargo-zigbuild
# (`pip install ziglang cargo-zigbuild`). Before packing, each executable is checked: the macOS
# and FreeBSD ones must import the kernel's kevent and kqueue, the Linux ones must be static.
# CI links the same targets in the debug profile; the release builds are made here.
#
# The macOS binaries are not signed: see the README ("Prebuilt binaries") for the one command
# an attendee runs after downloading.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${1:-dist/out}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

# Rust target → platform name in the archive's name.
TARGETS=(
    "x86_64-unknown-linux-musl linux-x86_64"
    "aarch64-unknown-linux-musl linux-aarch64"
    "aarch64-apple-darwin macos-arm64"
    "x86_64-apple-darwin macos-x86_64"
    "x86_64-unknown-freebsd freebsd-x86_64"
)

fail() {
    echo "dist/build.sh: $*" >&2
    exit 1
}

command -v rustup >/dev/null 2>&1 || fail "rustup is needed to add the targets"
export PATH="$PATH:$HOME/.local/bin"
cargo zigbuild --help >/dev/null 2>&1 ||
    fail "cargo-zigbuild is missing: pip install ziglang cargo-zigbuild (then run this again)"

# Fails unless the executable for `target` calls the kernel's kqueue (or, on Linux, is static).
check_executable() {
    local target="$1" binary="$2"
    case "$target" in
    *-apple-darwin)
        python3 dist/macho-imports.py "$binary" _kevent _kqueue
        ;;
    *-unknown-freebsd)
        local symbols
        symbols="$(readelf --dyn-syms -W "$binary")" || fail "readelf (binutils) is needed"
        grep -q ' kevent@FBSD_1.5' <<<"$symbols" || fail "$binary does not import kevent@FBSD_1.5"
        grep -q ' kqueue@FBSD_' <<<"$symbols" || fail "$binary does not import kqueue"
        echo "$binary: imports kevent@FBSD_1.5 and kqueue"
        ;;
    *-linux-musl)
        if readelf -l -W "$binary" | grep -q INTERP; then
            fail "$binary is not static"
        fi
        echo "$binary: static"
        ;;
    esac
}

# A tar.gz whose bytes depend only on the files (GNU tar; any other tar packs the same files).
pack() {
    local archive="$1" dir="$2"
    local parent base
    parent="$(dirname "$dir")"
    base="$(basename "$dir")"
    if tar --version 2>/dev/null | grep -q 'GNU tar'; then
        local epoch
        epoch="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
            -C "$parent" -cf - "$base" | gzip -n -9 >"$archive"
    else
        tar -C "$parent" -czf "$archive" "$base"
    fi
}

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$@"
    else
        shasum -a 256 "$@"
    fi
}

mkdir -p "$OUT"
STAGING="$(mktemp -d)"
trap 'rm -rf "$STAGING"' EXIT
ARCHIVES=()
for entry in "${TARGETS[@]}"; do
    read -r target platform <<<"$entry"
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    echo "==> $target"
    cargo zigbuild --release --target "$target"
    binary="$TARGET_DIR/$target/release/lab"
    check_executable "$target" "$binary"

    name="lab-$VERSION-$platform"
    dir="$STAGING/$name"
    mkdir -p "$dir/lessons"
    cp "$binary" "$dir/lab"
    chmod 755 "$dir/lab"
    cp README.md LICENSE "$dir/"
    cp lessons/*.md "$dir/lessons/"
    pack "$OUT/$name.tar.gz" "$dir"
    ARCHIVES+=("$name.tar.gz")
done

(cd "$OUT" && sha256 "${ARCHIVES[@]}" >SHA256SUMS)
echo
echo "==> $OUT"
(cd "$OUT" && ls -l "${ARCHIVES[@]}" SHA256SUMS && cat SHA256SUMS)
