#!/bin/bash
# Install the Debian 12 packages sysc needs to build and test. Idempotent and quick: apt is
# only called when dpkg reports a package missing.
#
#   scripts/install-deps.sh               build + test packages
#   scripts/install-deps.sh --with-bench  also hyperfine, lxc, rsync and iperf3 (benchmarks against LXC)
#   scripts/install-deps.sh --check       only report what is missing (exit 1 if anything)
set -euo pipefail

# "a|b" means either package satisfies the need; the first is installed when none is there
# (libboost-dev is a metapackage; libboost1.74-dev alone provides the same headers).
PACKAGES=(
    build-essential cmake pkg-config g++ libc6-dev clang libclang-rt-14-dev
    binutils  # as --32 and ld -m elf_i386 build the i386 test probe (tests/probe/compat_probe.s)
    libsqlite3-dev libinih-dev libboost-program-options-dev 'libboost-dev|libboost1.74-dev'
    nlohmann-json3-dev libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libgtest-dev
    libnftables-dev nftables dnsmasq-base iputils-ping busybox-static iproute2 procps util-linux
    debootstrap wget debian-archive-keyring  # templates/debian (debootstrap on the host)
    btrfs-progs  # mkfs.btrfs for the btrfs storage test (lxcd itself uses ioctls)
    tar xz-utils  # sysc export/import (GNU tar, gzip or xz)
    dnf rpm createrepo-c  # templates/centos (dnf --installroot); its tests build RPMs
    curl xz-utils jq  # templates/download (images, SHA-256 sums, simplestreams JSON)
    lxcfs  # containers' own /proc/meminfo, cpuinfo, uptime... (lxcd runs one per root)
)
BENCH_PACKAGES=(hyperfine lxc rsync iperf3)  # rsync: lxc-copy of a dir rootfs; iperf3: bench/network.sh

usage() {
    sed -n '2,7s/^# \{0,1\}//p' "$0"
}

check_only=0
for arg in "$@"; do
    case "$arg" in
        --with-bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
        --check) check_only=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-deps.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

# One dpkg-query for every candidate name (unknown names only produce a warning on stderr).
declare -A installed=()
candidates=()
for need in "${PACKAGES[@]}"; do
    IFS='|' read -r -a choices <<<"$need"
    candidates+=("${choices[@]}")
done
while read -r pkg status; do
    if [[ $status == installed ]]; then installed[${pkg%%:*}]=1; fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${candidates[@]}" 2>/dev/null || true)

missing=()
for need in "${PACKAGES[@]}"; do
    IFS='|' read -r -a choices <<<"$need"
    satisfied=0
    for pkg in "${choices[@]}"; do
        if [[ -n ${installed[$pkg]:-} ]]; then satisfied=1; break; fi
    done
    ((satisfied)) || missing+=("${choices[0]}")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
    exit 0
fi
echo "install-deps.sh: missing: ${missing[*]}"
((check_only == 0)) || exit 1

SUDO=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "install-deps.sh: run as root (no sudo found)" >&2; exit 1; }
    SUDO=(sudo)
fi
# One update per run, only because something is missing (stale or empty package lists would
# make the install fail). env passes DEBIAN_FRONTEND through sudo.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
