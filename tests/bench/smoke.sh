#!/usr/bin/env bash
# Smoke run of the benchmark scripts (bench/): every part of `bench/run.sh --quick` but the
# Debian boot (its debootstrap is tested by the debian template's own test) runs sysc and LXC
# side by side with few runs and small counts; the report must have every metric with a ratio,
# and nothing the run created may be left. Timing is never judged here.
#
#   tests/bench/smoke.sh SYSC OUTDIR     (root; hyperfine, lxc, rsync, iperf3 installed by
#                                         scripts/install-deps.sh --with-bench)
# Exit 77 (skipped) without root or those tools, unless CI=true, where that is a failure.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
sysc=${1:?usage: smoke.sh SYSC OUTDIR}
out=${2:?usage: smoke.sh SYSC OUTDIR}
skip() {
    if [[ ${CI:-} == true ]]; then echo "bench smoke: $1 (a failure in CI: this machine has it)" >&2; exit 1; fi
    echo "bench smoke: skipped: $1"
    exit 77
}
[[ $(id -u) == 0 ]] || skip "needs root (starts containers)"
for tool in hyperfine lxc-start lxc-attach lxc-copy rsync iperf3; do
    command -v "$tool" >/dev/null || skip "$tool is missing (bash scripts/install-deps.sh --with-bench)"
done
rm -rf "$out"
mkdir -p "$out"
before=$(ls -d /tmp/sysc-bench-* 2>/dev/null || true)
registry=/var/lib/sysc-idmap/ranges  # sysc's default host-wide id range registry
registry_before=0
[[ ! -e ${registry%/*} ]] || registry_before=1
cd "$src"
SYSC=$sysc bash bench/run.sh --quick --no-debian --no-profile --out "$out/report.md" --json "$out/results.json"

fail=0
need() {
    if ! grep -qE "$1" "$out/report.md"; then
        echo "bench smoke: the report lacks: $1" >&2
        fail=1
    fi
}
# Each latency metric with both medians and a ratio; density with the floor; network.
for m in '\(1\) start latency' '\(2a\) stop latency' '\(2b\) stop latency' '\(3\) attach latency' \
         '\(4a\) create, dir' '\(4b\) create, overlay' '\(4c\) create, template run' '\(6\) list'; do
    need "^\| $m[^|]*\| [0-9.]+ \|[^|]*\| [0-9.]+ \|[^|]*\| \*\*[0-9.]+\*\* \|"
done
# btrfs where the kernel has it (this run's own loop-mounted btrfs).
if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
    need "^\| \(4d\) create, btrfs[^|]*\| [0-9.]+ \|[^|]*\| [0-9.]+ \|[^|]*\| \*\*[0-9.]+\*\* \|"
fi
need '^\| host MemAvailable drop / N \(KiB\) \| -?[0-9.]+'
need '^\| supervisor PSS / N \(KiB\) \| [0-9.]+'
need '^\| host memory held, growth / N \(KiB\) \| -?[0-9.]+'
need 'The floor'
need '^\| host MemAvailable drop / N minus the floor'
need '^\| TCP host → container \(Gbit/s\) \| [0-9.]+'
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/results.json" || { echo "bench smoke: results.json is not JSON" >&2; fail=1; }

# Cleaned up: no work directory, mount, cgroup or bridge of the run is left.
after=$(ls -d /tmp/sysc-bench-* 2>/dev/null || true)
if [[ $after != "$before" ]]; then echo "bench smoke: left behind: $after" >&2; fail=1; fi
if ls -d /sys/fs/cgroup/sysc-bench-* /sys/fs/cgroup/*/sysc-bench-* 2>/dev/null | grep -q .; then
    echo "bench smoke: cgroups left: $(ls -d /sys/fs/cgroup/sysc-bench-* /sys/fs/cgroup/*/sysc-bench-* 2>/dev/null)" >&2
    fail=1
fi
if [[ -f $registry ]] && grep -q " /tmp/sysc-bench-" "$registry"; then
    echo "bench smoke: id range claims left: $(grep ' /tmp/sysc-bench-' "$registry")" >&2
    fail=1
fi
if ((!registry_before)) && [[ -e ${registry%/*} ]]; then
    echo "bench smoke: the id range registry ${registry%/*} was not there before and is left" >&2
    fail=1
fi
if grep -q "/tmp/sysc-bench-" /proc/self/mountinfo; then echo "bench smoke: mounts left: $(grep /tmp/sysc-bench- /proc/self/mountinfo)" >&2; fail=1; fi
for link in sbench0 lbench0; do
    if ip link show "$link" >/dev/null 2>&1; then echo "bench smoke: bridge $link left" >&2; fail=1; fi
done
exit $fail
