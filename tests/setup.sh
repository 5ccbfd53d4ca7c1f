#!/usr/bin/env bash
# Installs what menusync's quick start and its tests need on a Debian 12
# machine with a Rust toolchain, skipping whatever is already there.
#
#   tests/setup.sh demo    rsync, for `cargo run --release -- once` on the demo
#   tests/setup.sh tests   everything `cargo test` uses: rsync, sshd and ssh
#                          (tests/remote.rs), systemd's tools (tests/systemd.rs),
#                          debootstrap and systemd-nspawn (the field test),
#                          cargo-deb (the package and field tests), chromium
#                          and a Korean font (tests/preview.rs loads the
#                          preview pages in a real browser), nginx
#                          (tests/webserver.rs: what browsers revalidate),
#                          etcd-server (tests/common/etcd.rs: real clusters
#                          on free loopback ports; the Debian package also
#                          starts its own etcd on 2379/2380 where systemd
#                          runs, which no test uses)
#
# Debian packages come from apt (root, or sudo when it is there); cargo-deb
# from crates.io. Prints what it installs; prints nothing else when all is present.
set -euo pipefail

what=${1:-tests}
case "$what" in
    demo | tests) ;;
    *) echo "usage: $0 demo|tests" >&2; exit 2 ;;
esac

# command → the Debian package that brings it
wanted=("rsync:rsync")
if [ "$what" = tests ]; then
    wanted+=(
        "ssh:openssh-client"
        "ssh-keygen:openssh-client"
        "/usr/sbin/sshd:openssh-server"
        "systemd-analyze:systemd"
        "debootstrap:debootstrap"
        "systemd-nspawn:systemd-container"
        "nsenter:util-linux"
        "dpkg-deb:dpkg"
        "chromium:chromium"
        "/usr/sbin/nginx:nginx"
        "/usr/bin/etcd:etcd-server"
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk"
    )
fi
missing=()
for pair in "${wanted[@]}"; do
    command=${pair%%:*} package=${pair#*:}
    # A path is a file the package brings (a font); anything else a command.
    if [[ "$command" == /* ]]; then
        present() { [ -e "$1" ]; }
    else
        present() { command -v "$1" >/dev/null 2>&1; }
    fi
    if ! present "$command" && [[ " ${missing[*]} " != *" $package "* ]]; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "$0: needs root or sudo to run: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --debug: tests only package (`cargo deb --no-build`), and an unoptimised
# cargo-deb compiles in half the time.
if [ "$what" = tests ] && ! cargo deb --version >/dev/null 2>&1; then
    echo "installing: cargo-deb"
    cargo install --quiet cargo-deb --locked --version 3.8.0 --debug
fi
