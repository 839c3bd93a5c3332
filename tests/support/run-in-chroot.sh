#!/usr/bin/env bash
# Run CMD inside the chroot DIR with /proc, /sys, /dev, a fresh /tmp and the bound folders
# mounted, in private mount and PID namespaces: every mount and every process started inside
# (Xvfb and darktable included) ends with CMD, whatever way CMD ends. Needs root.
#
# Usage: run-in-chroot.sh DIR CMD [ARG...]      exit status: CMD's
#   CHROOT_BIND="path1:path2"  host folders bound at the same path inside (default: $PWD);
#                              CMD starts in the first of them.
#   CHROOT_HOST=/host          also bind the host's whole tree there (before anything else is
#                              mounted), so that a wrapper inside can run a host program with
#                              `/usr/sbin/chroot /host PROGRAM`. The bind exists only in this
#                              namespace: outside it DIR/host is an empty folder.
#   The environment inside is clean (HOME=/root, LANG=C.UTF-8, a standard PATH); pass more
#   with `env NAME=VALUE ...` as CMD.
#
# Why not `exec unshare`: unshare --fork blocks SIGTERM and SIGINT while it waits, so
# `timeout` or a test's terminate() would hang. Here unshare runs in the background and
# TERM/INT/HUP become SIGKILL for it; its --kill-child then kills the namespace's first
# process, and with it every process inside. CMD is not PID 1 of the namespace: xvfb-run as
# PID 1 never gets Xvfb's "ready" SIGUSR1 and hangs.
# Why /proc: ld.so resolves darktable's RUNPATH $ORIGIN through /proc/self/exe, so a bare
# `chroot DIR darktable-cli` fails to find libdarktable.so.
set -euo pipefail
dir=$(realpath "${1:?usage: run-in-chroot.sh DIR CMD [ARG...]}")
shift
[ $# -gt 0 ] || { echo "run-in-chroot.sh: no command" >&2; exit 2; }
[ -x "$dir/bin/sh" ] || { echo "run-in-chroot.sh: $dir is not a chroot (no bin/sh)" >&2; exit 2; }
binds=${CHROOT_BIND-$PWD}
host=${CHROOT_HOST-}
child=
trap '[ -z "$child" ] || kill -KILL "$child" 2>/dev/null' TERM INT HUP
unshare --mount --pid --fork --kill-child --propagation private -- \
    /bin/sh -ec '
dir=$1 binds=$2 host=$3; shift 3
if [ -n "$host" ]; then mkdir -p "$dir$host" && mount --rbind / "$dir$host"; fi
mount -t proc proc "$dir/proc"
mount --rbind /sys "$dir/sys"
mount --rbind /dev "$dir/dev"
mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
first=/
IFS=:
for b in $binds; do
    [ -n "$b" ] || continue
    mkdir -p "$dir$b"
    mount --bind "$b" "$dir$b"
    [ "$first" != / ] || first=$b
done
unset IFS
rc=0
chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$first" "$@" || rc=$?
exit $rc
' sh "$dir" "$binds" "$host" "$@" <&0 &
child=$!
rc=0
while :; do
    { wait "$child"; } 2>/dev/null && rc=0 || rc=$?
    kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
