#!/bin/bash
# Contract test of the busybox template (templates/README.md): arguments and exit codes,
# progress lines, the files the rootfs must hold, and, as root, that the applets run (chroot).
#
#   test_busybox_template.sh [TEMPLATE]   (default: the busybox template of this source tree)
#
# Exit 0 when every check passed, 1 otherwise. Without root the chroot checks are skipped
# (and say so). Everything is created under one temporary directory, removed on exit.
set -uo pipefail

TEMPLATE=${1:-$(cd "$(dirname "$0")/../../templates" && pwd)/busybox}
NAME=bbtest-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sysc-tpl-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# run_template ARGS...: sets RC, OUT, ERR; the rootfs is a fresh empty directory each time.
run_template() {
    rm -rf "$WORK/rootfs" && mkdir -m 0755 "$WORK/rootfs"
    env -i SYSC_TEMPLATE_API=1 LC_ALL=C \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "$TEMPLATE" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}

expect_exit() { # expect_exit CODE STDERR-SUBSTRING ARGS...
    local code=$1 text=$2
    shift 2
    run_template "$@"
    if [[ $RC == "$code" && $ERR == *"$text"* ]]; then
        pass "exit $code naming [$text] for: $*"
    else
        fail "expected exit $code naming [$text] for: $* (got $RC: $ERR)"
    fi
}

R=$WORK/rootfs

# --- usage and exit codes -------------------------------------------------------------
check "template is executable" test -x "$TEMPLATE"
"$TEMPLATE" --help >"$WORK/help" 2>&1
check "--help exits 0" test $? -eq 0
check "--help shows usage" grep -q '^Usage: busybox --name NAME --rootfs DIR' "$WORK/help"

expect_exit 2 "'--bogus'" --name "$NAME" --rootfs "$R" --bogus
expect_exit 2 "'--name'" --rootfs "$R"
expect_exit 2 "'--rootfs'" --name "$NAME"
expect_exit 2 "'--name'" --name "$NAME" --rootfs "$R" --name
expect_exit 2 "'Bad_Name'" --name Bad_Name --rootfs "$R"
expect_exit 2 "'relative/dir'" --name "$NAME" --rootfs relative/dir
expect_exit 2 "'--frob'" --name "$NAME" --rootfs "$R" -- --frob
expect_exit 3 "release 'no-such-release'" --name "$NAME" --rootfs "$R" --release no-such-release
foreign_arch=arm64
[[ $(dpkg --print-architecture 2>/dev/null) != arm64 ]] || foreign_arch=amd64
expect_exit 3 "architecture '$foreign_arch'" --name "$NAME" --rootfs "$R" --arch "$foreign_arch"

rm -rf "$R" && mkdir "$R" && touch "$R/leftover"
env -i PATH="$PATH" "$TEMPLATE" --name "$NAME" --rootfs "$R" >/dev/null 2>"$WORK/err"
check "non-empty rootfs refused with exit 2" test $? -eq 2
check "non-empty rootfs error names it" grep -q 'not empty' "$WORK/err"

# --- a successful run -------------------------------------------------------------------
start=$(date +%s%N)
run_template --name "$NAME" --rootfs "$R" --release host --arch "$(uname -m)" \
    --mirror http://unused.invalid --cache-dir "$WORK/cache"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "# template run took ${elapsed_ms} ms"
check "success exits 0 (stderr: $ERR)" test "$RC" -eq 0
check "success writes nothing to stderr" test -z "$ERR"
check "cache dir untouched (nothing is cached)" test ! -e "$WORK/cache"

last=-1 monotonic=1 progress_lines=0
while IFS= read -r line; do
    if [[ $line =~ ^progress:\ ([0-9]{1,3})\ (.*)$ ]]; then
        pct=${BASH_REMATCH[1]}
        ((pct >= last && pct <= 100)) || monotonic=0
        last=$pct progress_lines=$((progress_lines + 1))
    elif [[ $line == progress* ]]; then
        monotonic=0
        echo "# malformed progress line: $line"
    fi
done <<<"$OUT"
check "several progress lines" test "$progress_lines" -ge 3
check "progress well-formed and non-decreasing" test "$monotonic" -eq 1
check "last progress is 100" test "$last" -eq 100

# --- the rootfs -------------------------------------------------------------------------
for d in bin sbin usr/bin usr/sbin etc root proc sys dev run tmp var/log home; do
    check "directory /$d" test -d "$R/$d" -a ! -L "$R/$d"
done
check "/tmp is 1777" test "$(stat -c %a "$R/tmp")" = 1777
check "/root is 700" test "$(stat -c %a "$R/root")" = 700
check "/bin/busybox is an executable file" test -f "$R/bin/busybox" -a -x "$R/bin/busybox" -a ! -L "$R/bin/busybox"
check "/bin/busybox is static" bash -c "LC_ALL=C ldd '$R/bin/busybox' 2>&1 | grep -q -e 'not a dynamic' -e 'statically linked'"
check "/bin/sh -> busybox" test "$(readlink "$R/bin/sh")" = busybox
check "/sbin/init -> ../bin/busybox" test "$(readlink "$R/sbin/init")" = ../bin/busybox
check "/sbin/init resolves to /bin/busybox" test "$(readlink -f "$R/sbin/init")" = "$(readlink -f "$R/bin/busybox")"

bad_applets=0 applets=0
while IFS= read -r path; do
    [[ $path == */* && $path != bin/busybox ]] || continue
    applets=$((applets + 1))
    if [[ ! -L $R/$path || $(readlink -f "$R/$path") != "$(readlink -f "$R/bin/busybox")" ]]; then
        bad_applets=$((bad_applets + 1))
        echo "# applet $path missing or not resolving to busybox"
    fi
done < <("$R/bin/busybox" --list-full)
check "all $applets applets link to busybox" test "$bad_applets" -eq 0
absolute=$(find "$R" -type l -lname '/*' | head -3)
check "no absolute symlinks ($absolute)" test -z "$absolute"
check "no device nodes" test -z "$(find "$R" \( -type b -o -type c \) | head -1)"

check "/etc/hostname is the name" test "$(cat "$R/etc/hostname")" = "$NAME"
check "/etc/hosts maps the name" grep -qE "^127\.0\.1\.1[[:space:]]+$NAME\$" "$R/etc/hosts"
check "/etc/hosts has localhost" grep -qE '^127\.0\.0\.1[[:space:]]+localhost' "$R/etc/hosts"
check "/etc/resolv.conf is a comment-only file" \
    bash -c "test -f '$R/etc/resolv.conf' -a ! -L '$R/etc/resolv.conf' && ! grep -qv '^#' '$R/etc/resolv.conf'"
check "no baked machine-id" test ! -s "$R/etc/machine-id"
check "no SSH host keys" test -z "$(find "$R/etc" -name 'ssh_host_*' | head -1)"
check "/etc/passwd root with /bin/sh" grep -qx 'root:x:0:0:root:/root:/bin/sh' "$R/etc/passwd"
check "/etc/passwd nobody" grep -q '^nobody:x:65534:' "$R/etc/passwd"
check "/etc/shadow root locked" grep -q '^root:!:' "$R/etc/shadow"
check "/etc/shadow is 600" test "$(stat -c %a "$R/etc/shadow")" = 600
for g in 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:'; do
    check "/etc/group has $g" grep -qx "$g" "$R/etc/group"
done
for l in '::sysinit:/etc/init.d/rcS' '::askfirst:-/bin/sh' '::ctrlaltdel:/sbin/reboot' \
    '::shutdown:/bin/sync'; do
    check "inittab: $l" grep -qxF "$l" "$R/etc/inittab"
done
check "rcS is executable" test -x "$R/etc/init.d/rcS"
check "rcS mounts nothing" bash -c "! grep -qE '^[^#]*\\bmount\\b' '$R/etc/init.d/rcS'"
for s in etc/init.d/rcS etc/init.d/S40network etc/udhcpc/default.script etc/profile; do
    check "$s parses with busybox sh" "$R/bin/busybox" sh -n "$R/$s"
done
check "/etc/profile sets PATH and PS1" bash -c "grep -q 'PATH=' '$R/etc/profile' && grep -q 'PS1=' '$R/etc/profile'"
check "/var/run -> ../run" test "$(readlink "$R/var/run")" = ../run

# --- inside: the applets really run -----------------------------------------------------
if ((EUID == 0)); then
    inside=$(chroot "$R" /bin/sh -c 'echo ok; ls /bin | wc -l' 2>&1)
    check "chroot: /bin/sh runs (got: ${inside//$'\n'/ })" test "$(sed -n 1p <<<"$inside")" = ok
    check "chroot: ls sees every /bin entry" \
        test "$(sed -n 2p <<<"$inside" | tr -d ' ')" = "$(find "$R/bin" -mindepth 1 -maxdepth 1 | wc -l)"
    check "chroot: root resolves via /etc/passwd" test "$(chroot "$R" /usr/bin/id -un 2>&1)" = root
    check "chroot: hostname file readable" test "$(chroot "$R" /bin/cat /etc/hostname)" = "$NAME"
else
    echo "ok - # SKIP chroot checks need root"
fi

if ((failures > 0)); then
    echo "FAILED: $failures check(s)"
    exit 1
fi
echo "PASSED"
