#!/usr/bin/env bash
# The main job, end to end: create a busybox container, boot it, show its PID 1 and hostname,
# stop and destroy it. Uses a throw-away state root unless SYSC_ROOT is set. Run as root after a build.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSC=${SYSC:-build/bin/sysc}
own_root=0
if [[ -z ${SYSC_ROOT:-} ]]; then
    SYSC_ROOT=$(mktemp -d /tmp/sysc-demo-XXXXXX)
    own_root=1
    printf '[cgroup]\nparent = sysc-demo-%s\n' "$$" | install -D /dev/stdin "$SYSC_ROOT/etc/sysc/sysc.conf"
fi
export SYSC_ROOT
cleanup() {
    { set +x; } 2>/dev/null
    "$SYSC" destroy --force demo1 >/dev/null 2>&1 || true
    ((own_root)) && "$SYSC" network remove >/dev/null 2>&1 || true
    if ((own_root)); then
        pid=$(cat "$SYSC_ROOT/run/sysc/lxcd.lock" 2>/dev/null || true)
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
        # lxcd's lxcfs outlives lxcd (running containers use it): end this root's one, then unmount.
        fs_pid=$(cat "$SYSC_ROOT/run/sysc/lxcfs.pid" 2>/dev/null || true)
        if [[ -n $fs_pid ]] && tr '\0' ' ' <"/proc/$fs_pid/cmdline" 2>/dev/null | grep -qF "$SYSC_ROOT/"; then
            kill "$fs_pid" 2>/dev/null || true
        fi
        umount -l "$SYSC_ROOT/run/sysc/.lxcfs" 2>/dev/null || true
        for d in /sys/fs/cgroup/sysc-demo-$$ /sys/fs/cgroup/*/sysc-demo-$$; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
        rm -rf --one-file-system "$SYSC_ROOT"
    fi
}
trap cleanup EXIT
set -x
"$SYSC" create busybox demo1
"$SYSC" start demo1
"$SYSC" attach demo1 -- ps
"$SYSC" attach demo1 -- hostname
"$SYSC" attach demo1 -- ip -4 addr show eth0
"$SYSC" list
"$SYSC" info demo1
"$SYSC" stop demo1
