#!/usr/bin/env bash
# The field test: the .deb installed on a real Debian 12 with a booted
# systemd 252, driven through the README's ops story by tests/field/inside.sh.
#
# usage: tests/field/run.sh PATH/TO/menusync_*.deb
#
# Needs root, debootstrap and systemd-nspawn (tests/setup.sh installs them).
# The Debian 12 root file system is built once with debootstrap (about two
# minutes) and kept in $MENUSYNC_FIELD_CACHE (default
# /var/cache/menusync-field); each run boots a fresh copy of it with
# --private-network, so the mock POS, the web host's sshd and everything
# menusync talks to live on the container's own loopback. The one network
# use is apt fetching the package's dependencies from Debian's mirror into
# the copy before it boots. Exit 0 only if every step saw what it expected.
set -euo pipefail

deb=${1:?usage: run.sh PATH/TO/menusync_VERSION_ARCH.deb}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MENUSYNC_FIELD_CACHE:-/var/cache/menusync-field}
# Bump when the package list changes, so a stale cache is rebuilt.
rootfs="$cache/bookworm-v1"
packages=systemd,systemd-sysv,dbus,sudo,rsync,openssh-client,openssh-server,python3,jq,procps
started=$SECONDS

say() { printf '[field %3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (it boots a container with systemd-nspawn)"
for tool in debootstrap systemd-nspawn nsenter; do
    command -v "$tool" >/dev/null || die "$tool is missing: run tests/setup.sh"
done
[ -f "$deb" ] || die "no package at $deb"

mirror() {
    # The mirror the host's own apt uses: the only Debian host reachable here.
    local uri
    uri=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
        /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^ ]+' | head -n 1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# 1. The cached Debian 12 root, built once, atomically (a half-built one is never used).
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$rootfs/usr/lib/systemd/systemd" ]; then
    say "building the Debian 12 root in $rootfs (once; about two minutes)"
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs.tmp" "$(mirror)" \
        >"$cache/debootstrap.log" 2>&1 || { tail -n 20 "$cache/debootstrap.log"; die "debootstrap failed"; }
    chroot "$rootfs.tmp" apt-get clean
    mv "$rootfs.tmp" "$rootfs"
fi
flock -u 9

# 2. A fresh copy for this run, with the package, its dependencies and the test's files.
work=$(mktemp -d /var/tmp/menusync-field.XXXXXX)
nspawn_pid=
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$nspawn_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
root="$work/root"
say "copying the root to $root"
cp -a "$rootfs" "$root"
echo menusync-field > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 menusync-field\n' > "$root/etc/hosts"
mkdir -p "$root/root/field"
# Named as the README's `apt install ./menusync_*.deb` expects, whatever it was called.
cp "$deb" "$root/root/field/menusync_under-test.deb"
cp "$here/inside.sh" "$here/mock_pos.py" "$root/root/field/"
cp -r "$repo/fixtures/pos" "$root/root/field/pos"
cp "$repo/README.md" "$root/root/field/"

say "fetching the package's dependencies into the copy (apt, from Debian's mirror)"
nspawn=(systemd-nspawn -q --register=no --keep-unit -D "$root")
"${nspawn[@]}" --pipe sh -c \
    "apt-get update -qq && apt-get install -y -qq --download-only /root/field/menusync_under-test.deb" \
    >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; die "apt could not fetch the package's dependencies"; }

# 3. Boot. No host systemd, machined or system bus here: --register=no and
# --keep-unit are required; cgroup v2 as on a real Debian 12.
say "booting Debian 12 with systemd"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 "${nspawn[@]}" --boot --private-network \
    --console=passive >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 1 100); do
    leader=$(pgrep -P "$nspawn_pid" -x systemd || true)
    [ -n "$leader" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/nspawn.log"; die "systemd-nspawn exited"; }
    sleep 0.1
done
[ -n "$leader" ] || { cat "$work/nspawn.log"; die "the container's systemd did not start within 10 s"; }
inside() { nsenter -t "$leader" -a "$@"; }
# The system bus comes up a moment after systemd itself: ask until it answers.
state=
for _ in $(seq 1 60); do
    state=$(timeout 10 nsenter -t "$leader" -a systemctl is-system-running --wait 2>/dev/null || true)
    case "$state" in running | degraded | maintenance | stopping) break ;; esac
    sleep 0.5
done
case "$state" in
    running) ;;
    degraded) say "booted degraded: $(inside systemctl --failed --no-legend --plain | tr '\n' ' ')" ;;
    *) cat "$work/nspawn.log"; die "the container did not boot: '$state'" ;;
esac
say "booted ($state): $(inside systemctl --version | head -n 1), $(inside rsync --version | head -n 1)"

# 4. The ops story, inside.
if ! inside env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
    bash /root/field/inside.sh; then
    die "a step inside the container failed (see above)"
fi

inside systemctl poweroff || true
for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
say "passed in $((SECONDS - started)) s"
