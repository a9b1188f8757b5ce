#!/usr/bin/env bash
# Debian with systemd: boot time until `systemctl is-system-running` says `running`, and the
# clean stop (systemd's own shutdown), sysc vs LXC on the same root filesystem. sysc's debian
# template builds it once (debootstrap from the mirror, on the host, into this run's cache);
# LXC boots a `cp -a` copy of it. Neither container has a network device.
#
#   bash bench/debian.sh [--quick] --json-dir DIR [--cache DIR]
#   --quick       1 round of 2 runs per metric (default: 3 rounds of 3 runs, order alternating)
#   --json-dir    where hyperfine's JSON (debian_boot.N.json, debian_stop.N.json) and
#                 debian.json (the image build time) go; report.py reads them
#   --cache DIR   keep the debian template's cache (downloaded .debs, the built image) in DIR
#                 across runs instead of this run's temporary root (env BENCH_DEBIAN_CACHE)
#
# Needs root, a built sysc, lxc, hyperfine, debootstrap and the Debian mirror (first build only).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

QUICK=0 JSON='' CACHE=${BENCH_DEBIAN_CACHE:-}
while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --json-dir) JSON=${2:?--json-dir needs a directory}; shift ;;
        --cache) CACHE=${2:?--cache needs a directory}; shift ;;
        -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "debian.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[[ -n $JSON ]] || bench_die "--json-dir DIR is required"
if ((QUICK)); then R_BOOT=(1 2) R_STOP=(1 2); else R_BOOT=(3 3) R_STOP=(3 3); fi
WARMUP=0

bench_check_host
command -v debootstrap >/dev/null || bench_die "debootstrap missing: run scripts/install-deps.sh"
mkdir -p "$JSON"
BENCH_WORK=$(mktemp -d /tmp/sysc-bench-XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_setup_roots
LOG=$BENCH_WORK/hyperfine.log
if [[ -n $CACHE ]]; then
    mkdir -p "$CACHE" "$SYSC_ROOT/var/cache/sysc"
    ln -s "$(realpath "$CACHE")" "$SYSC_ROOT/var/cache/sysc/debian"
fi

# --- the rootfs: sysc's template once, LXC a copy of the result before its first boot -------
DEB=${BENCH_TAG}deb
bench_log "debian: building the image (debootstrap unless cached; 1-3 min)"
# A kept cache that already holds a built image makes this a copy, not a debootstrap.
CACHED=0
if [[ -n $CACHE ]] && compgen -G "$CACHE/bookworm/*/systemd-*" >/dev/null; then CACHED=1; fi
t0=$EPOCHREALTIME
"$SYSC" create -q debian "$DEB" --storage dir || bench_die "sysc create debian failed"
t1=$EPOCHREALTIME
python3 -c 'import json,sys; print(json.dumps({"image_build_s": round(float(sys.argv[2]) - float(sys.argv[1]), 1),
    "cached": sys.argv[3] == "1"}))' "$t0" "$t1" "$CACHED" >"$JSON/debian.json"
mkdir -p "$LXCP/$DEB"
cp -a "$(sysc_rootfs "$DEB")" "$LXCP/$DEB/rootfs"
# The busybox config with systemd's halt signal (sysc detects SIGRTMIN+3 for systemd).
lxc_config "$DEB" "$LXCP/$DEB/rootfs" | sed 's/^lxc.signal.halt = .*/lxc.signal.halt = SIGRTMIN+3/' >"$LXCP/$DEB/config"

# "running": `systemctl is-system-running --wait` answers running; retried while systemd has
# not opened its socket yet. degraded (a failed unit) or a timeout fails the run.
# shellcheck disable=SC2016  # a command string for /bin/sh
running_loop() {  # running_loop ATTACH-CMD-STRING
    printf 'i=0; while :; do s=$(%s -- /bin/systemctl is-system-running --wait 2>/dev/null); case $s in running) break ;; degraded|maintenance|stopping) echo "state $s" >&2; exit 1 ;; esac; i=$((i+1)); [ $i -lt 3000 ] || exit 1; sleep 0.01; done' "$1"
}
SYSC_UP="$(sysc_cmd start -q "$DEB") >/dev/null && $(running_loop "$(sysc_cmd attach "$DEB")")"
LXC_UP="$(lxc_cmd lxc-start -n "$DEB") && $(running_loop "$(lxc_cmd lxc-attach -n "$DEB")")"
KILL_BOTH="$(sysc_kill "$DEB"); $(lxc_kill "$DEB")"

# One boot of each outside the timing (first boot: machine-id, journal); both must reach running.
sh -c "$SYSC_UP" || bench_die "sysc: $DEB did not reach running"
sh -c "$LXC_UP" || bench_die "lxc: $DEB did not reach running"
sh -c "$KILL_BOTH"

bench_log "debian: boot to running"
ab debian_boot "${R_BOOT[@]}" "$SYSC_UP" "$LXC_UP" "$KILL_BOTH" "$KILL_BOTH"
sh -c "$KILL_BOTH"
bench_log "debian: clean stop"
ab debian_stop "${R_STOP[@]}" "$(sysc_cmd stop -q "$DEB")" "$(lxc_cmd lxc-stop -n "$DEB")" \
    "$KILL_BOTH; $SYSC_UP" "$KILL_BOTH; $LXC_UP"
sh -c "$KILL_BOTH"
