#!/bin/bash
# Contract test of the centos template (templates/README.md), offline: arguments and exit
# codes; then, as root, installs from a local RPM repository (make_rpm_repo.sh) without and
# with a cache: the rootfs files the contract requires, two concurrent creates sharing one
# cache entry, signature checking on by default, and nothing written outside DIR, the cache
# dir and temporary files that are gone afterwards.
#
#   test_centos_template.sh [TEMPLATE]   (default: the centos template of this source tree)
#
# Exit 0 when every check passed, 1 otherwise. Without root, or without dnf, rpmbuild and
# createrepo_c, the install checks are skipped (and say so).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TEMPLATE=${1:-$(cd "$HERE/../../templates" && pwd)/centos}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sysc-centos-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# run_template ROOTFS ARGS...: sets RC, OUT, ERR; ROOTFS is made fresh and empty.
run_template() {
    local rootfs=$1
    shift
    rm -rf "$rootfs" && mkdir -m 0755 "$rootfs"
    env -i SYSC_TEMPLATE_API=1 LC_ALL=C SYSC_CONFIG_DIR="$WORK/etc" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "$TEMPLATE" --name ct1 --rootfs "$rootfs" "$@" </dev/null >"$rootfs.out" 2>"$rootfs.err"
    RC=$?
    OUT=$(cat "$rootfs.out")
    ERR=$(cat "$rootfs.err")
}

expect_exit() { # expect_exit CODE STDERR-SUBSTRING ARGS...
    local code=$1 text=$2
    shift 2
    run_template "$WORK/rootfs" "$@"
    if [[ $RC == "$code" && $ERR == *"$text"* ]]; then
        pass "exit $code naming [$text] for: $*"
    else
        fail "expected exit $code naming [$text] for: $* (got $RC: $ERR)"
    fi
}

# --- usage and exit codes (no root needed) -------------------------------------------------
"$TEMPLATE" --help >"$WORK/help" 2>&1
check "--help exits 0" test $? -eq 0
check "--help shows usage" grep -q '^Usage: centos --name NAME --rootfs DIR' "$WORK/help"
check "--help names the repo file option" grep -q -- '--repo-file FILE' "$WORK/help"
expect_exit 2 "'--bogus'" -- --bogus
expect_exit 2 "'relative.repo'" -- --repo-file relative.repo
expect_exit 2 "'bad/name'" -- --packages bad/name
expect_exit 2 "'--packages-only'" -- --packages-only ,
expect_exit 2 "'9/x'" --release 9/x
expect_exit 3 "'mips'" --arch mips
expect_exit 1 "$WORK/etc/templates/centos.repo" # the default repo file is not there
mkdir -p "$WORK/etc/templates"
printf '[main]\ngpgcheck=0\n' >"$WORK/etc/templates/centos.repo"
expect_exit 1 "no [repository] section"

if ((EUID != 0)); then
    echo "ok - # SKIP install checks need root"
    echo "$failures failure(s)"
    exit $((failures > 0))
fi
for tool in dnf rpmbuild createrepo_c; do
    if ! command -v "$tool" >/dev/null; then
        echo "ok - # SKIP install checks need $tool (scripts/install-deps.sh)"
        exit $((failures > 0))
    fi
done

# --- install from a local repository ----------------------------------------------------------
if ! bash "$HERE/make_rpm_repo.sh" "$WORK/repo" >"$WORK/make.log" 2>&1; then
    cat "$WORK/make.log"
    fail "make_rpm_repo.sh"
    exit 1
fi
# shellcheck disable=SC2016  # $basearch is dnf's variable
printf '[sysctest]\nname=sysctest\nbaseurl=file://%s/repo/$basearch\ngpgcheck=0\n' "$WORK" \
    >"$WORK/etc/templates/centos.repo"
ONLY=(-- --packages-only sysctest-release)

# Host places dnf and rpm would write to if they were not isolated: their state before.
HOST_PATHS=(/var/cache/dnf /var/lib/dnf /var/log/dnf.log /var/log/dnf.rpm.log /var/log/hawkey.log
    /root/.rpmdb /var/lib/rpm /etc/dnf)
host_state() {
    local p
    for p in "${HOST_PATHS[@]}"; do
        if [[ -e $p ]]; then find "$p" -printf '%p %s %T@\n' 2>/dev/null | sort; else echo "$p absent"; fi
    done
    find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'sysc-centos.*' 2>/dev/null
}
host_state >"$WORK/host.before"

R=$WORK/rootfs
run_template "$R" "${ONLY[@]}"
check "install without cache exits 0 (got $RC: $ERR)" test "$RC" -eq 0
check "last progress line is 100" test "$(tail -n 1 <<<"$OUT" | cut -d' ' -f1-2)" = "progress: 100"
# shellcheck disable=SC2016  # awk program
check "progress lines only, never decreasing" awk '!/^progress: [0-9]+ / { exit 1 } { if ($2 < last) exit 1; last = $2 }' <<<"$OUT"
check "/sbin/init is busybox from the RPM" test "$(readlink "$R/sbin/init")" = ../bin/busybox
check "/etc/os-release from sysctest-release" grep -qx 'ID=sysctest' "$R/etc/os-release"
check "/etc/hostname is the name" test "$(cat "$R/etc/hostname")" = ct1
check "/etc/hosts has 127.0.1.1 NAME" grep -qP '^127\.0\.1\.1\tct1$' "$R/etc/hosts"
check "/etc/resolv.conf is comment-only" test -z "$(grep -v '^#' "$R/etc/resolv.conf")"
check "no baked machine-id" test ! -s "$R/etc/machine-id"
for d in proc sys dev run; do
    check "/$d is an empty 0755 directory" test "$(stat -c %a "$R/$d")" = 755 -a -z "$(ls -A "$R/$d")"
done
check "/tmp is 1777" test "$(stat -c %a "$R/tmp")" = 1777
check "/root is 0700" test "$(stat -c %a "$R/root")" = 700
check "no dnf cache or logs in the image" test ! -e "$R/var/cache/dnf" -a ! -e "$R/var/log/dnf.log"
check "rpm database at /var/lib/rpm lists the packages" \
    test "$(HOME=$WORK rpm --root "$R" --dbpath /var/lib/rpm -qa | wc -l)" -eq 4
check "%post scriptlet ran inside the root" test -s "$R/var/lib/sysctest/post-ran"

# Two creates at once with one cache: one builds under the lock, both get the image.
CACHE=$WORK/cache
run_template "$WORK/a" --cache-dir "$CACHE" "${ONLY[@]}" &
run_template "$WORK/b" --cache-dir "$CACHE" "${ONLY[@]}" &
wait
for x in a b; do
    check "concurrent create $x exits 0 ($(cat "$WORK/$x.err"))" grep -q '^progress: 100 ' "$WORK/$x.out"
    check "concurrent create $x has its os-release" grep -qx 'ID=sysctest' "$WORK/$x/etc/os-release"
done
check "one cache entry" test "$(find "$CACHE" -name info | wc -l)" -eq 1
check "no build directory left in the cache" test -z "$(find "$CACHE" -name '.build-*')"
check "dnf cache kept in the cache dir" test -d "$CACHE/dnf/9/$(uname -m)"
run_template "$WORK/c" --cache-dir "$CACHE" "${ONLY[@]}" --packages sysctest-base
check "another package set makes a second entry" test "$(find "$CACHE" -name info | wc -l)" -eq 2

# An image with systemd, NetworkManager and EL 10 rpm macros (stand-ins): the template's
# configuration for them, and the database moved where that rpm looks for it.
E=$WORK/el
run_template "$E" -- --packages-only sysctest-release,sysctest-el-layout
check "install with the EL layout exits 0 (got $RC: $ERR)" test "$RC" -eq 0
check "default.target is multi-user" \
    test "$(readlink "$E/etc/systemd/system/default.target")" = /usr/lib/systemd/system/multi-user.target
for u in systemd-udevd.service getty@tty1.service getty@tty6.service dnf-makecache.timer systemd-firstboot.service; do
    check "$u masked" test "$(readlink "$E/etc/systemd/system/$u")" = /dev/null
done
check "console-getty enabled" test -L "$E/etc/systemd/system/getty.target.wants/console-getty.service"
check "no getty@tty1 in getty.target.wants" test ! -L "$E/etc/systemd/system/getty.target.wants/getty@tty1.service"
N=$E/etc/NetworkManager/system-connections/eth0.nmconnection
check "NetworkManager profile for eth0, mode 0600" test "$(stat -c %a "$N" 2>/dev/null)" = 600
check "eth0 profile uses DHCP" grep -qx 'method=auto' "$N"
check "rpm database moved to /usr/lib/sysimage/rpm" \
    test "$(HOME=$WORK rpm --root "$E" --dbpath /usr/lib/sysimage/rpm -qa | wc -l)" -eq 5
check "/var/lib/rpm links to it" test "$(readlink "$E/var/lib/rpm")" = ../../usr/lib/sysimage/rpm
check "busybox-only image has no systemd configuration" test ! -e "$R/etc/systemd/system/default.target"

# Signature checking is on unless the repository turns it off: these RPMs are unsigned.
sed -i '/^gpgcheck=/d' "$WORK/etc/templates/centos.repo"
run_template "$WORK/d" "${ONLY[@]}"
check "unsigned packages refused when the repo file does not say gpgcheck=0 (got $RC)" test "$RC" -eq 1
check "the refusal says GPG and names the repository" grep -q 'GPG.*\|Problem repository: \[sysctest\]' "$WORK/d.err"

host_state >"$WORK/host.after"
check "nothing written on the host outside DIR and the cache" diff -u "$WORK/host.before" "$WORK/host.after"

echo "$failures failure(s)"
exit $((failures > 0))
