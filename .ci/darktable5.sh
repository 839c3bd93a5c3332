#!/usr/bin/env bash
# CI: the Debian trixie chroot the darktable 5.x tests run in (run as root, idempotent).
#
# darktable 5.x needs a newer libc than Debian 12's, so it runs in a chroot:
#   * darktable from trixie-backports (5.4.1 when this was written: Lua API 9.6.0, with
#     image:apply_sidecar), plus xvfb and xauth for the GUI tests;
#   * beside it, unpacked under /opt/darktable-5.0, the trixie main darktable (5.0.1: Lua
#     API 9.4.0, no apply_sidecar). Its RUNPATH is $ORIGIN/.., and it links the same sonames
#     as the backport, so `dpkg -x` is all it takes.
# The chroot is cached outside the checkout (HOTWATCH_CHROOT, default
# /var/cache/hotwatch-ci/trixie) and rebuilt only when RECIPE below changes (about 50-85 s,
# 245 MiB downloaded, about 1 GB on disk; 1 s when it is already there).
# The tests find it through HOTWATCH_CHROOT (same default) and run programs in it with
# tests/support/run-in-chroot.sh; hotwatch itself runs on the host (see tests/support/chroot.py).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
here=$(dirname "$(realpath "$0")")
chroot_dir=${HOTWATCH_CHROOT:-/var/cache/hotwatch-ci/trixie}
mirror=${HOTWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=darktable/trixie-backports,xvfb,xauth
# Change this line (or anything the build below does) and bump the last field: the cached
# chroot is rebuilt when its stamp differs.
RECIPE="trixie|$packages|trixie main darktable in /opt/darktable-5.0|v1"

command -v mmdebstrap >/dev/null || apt-get install -y --no-install-recommends mmdebstrap
mkdir -p "$(dirname "$chroot_dir")"
exec 9>"$chroot_dir.lock"
flock 9 # one build at a time on a shared machine

stamp="$chroot_dir/.hotwatch-recipe"
if [ "$(cat "$stamp" 2>/dev/null)" != "$RECIPE" ]; then
    t0=$(date +%s)
    new="$chroot_dir.new"
    rm -rf --one-file-system "$new"
    trap 'rm -rf --one-file-system "$new"' EXIT
    mmdebstrap --quiet --variant=apt --include="$packages" \
        --aptopt='APT::Install-Recommends "false"' trixie "$new" \
        "deb $mirror trixie main" "deb $mirror trixie-backports main"
    # mmdebstrap empties the package lists: fetch them, then unpack the trixie main darktable
    # (the version `apt-cache madison` lists for trixie/main) into its own prefix.
    chroot "$new" sh -euc '
apt-get update -qq
ver=$(apt-cache madison darktable | awk -F"|" "\$3 ~ /trixie\\/main/ {gsub(/ /, \"\", \$2); print \$2; exit}")
[ -n "$ver" ] || { echo "no darktable in trixie main" >&2; exit 1; }
cd /tmp && apt-get download -qq "darktable=$ver"
mkdir -p /opt/darktable-5.0 && dpkg -x darktable_*.deb /opt/darktable-5.0 && rm darktable_*.deb
rm -rf /var/lib/apt/lists/* && apt-get clean
'
    echo "$RECIPE" >"$new/.hotwatch-recipe"
    rm -rf --one-file-system "$chroot_dir"
    mv "$new" "$chroot_dir"
    trap - EXIT
    echo "trixie chroot built in $(($(date +%s) - t0)) s:" \
        "$(du -sh --one-file-system "$chroot_dir" | cut -f1) in $chroot_dir"
fi
# a smoke test through the same runner the tests use
CHROOT_BIND= "$here/../tests/support/run-in-chroot.sh" "$chroot_dir" sh -c \
    'echo "darktable in $0: $(darktable-cli --version | head -1 | cut -c1-40);" \
          "$(/opt/darktable-5.0/usr/bin/darktable-cli --version | head -1 | cut -c1-40)"' \
    "$chroot_dir"
