#!/usr/bin/env bash
# Network throughput host -> container over a bridge, with iperf3: sysc's veth on its bridge
# (sbench0, 10.250.77.1/24, a sysc state root of its own with the network enabled, no NAT, no
# DHCP) vs LXC's veth on a bridge this script makes (lbench0, 10.250.78.1/24, static address).
# Both containers boot the same busybox rootfs with the host's iperf3 and its libraries copied
# in; `iperf3 -s -D` runs inside, `iperf3 -c ADDR -t T -J` on the host. Runs alternate
# (sysc, lxc, lxc, sysc, ...), after one uncounted warm-up run per side. Traffic only between
# the host and the two containers.
#
#   bash bench/network.sh [--quick] [--runs N] [--time T] [--json FILE]
#   --quick     1 run of 2 s per side (default: 12 runs of 3 s per side)
#
# Needs root, a built sysc, lxc, iperf3, iproute2, nft. Removes bridges, the nftables table and
# everything else it made on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=12 SECS=3 JSON_FILE=
while (($#)); do
    case $1 in
        --quick) RUNS=1 SECS=2 ;;
        --runs) RUNS=${2:?--runs needs N}; shift ;;
        --time) SECS=${2:?--time needs seconds}; shift ;;
        --json) JSON_FILE=${2:?--json needs a file}; shift ;;
        -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "network.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

SBR=sbench0 SNET=10.250.77.1/24
LBR=lbench0 LNET=10.250.78.1/24 LADDR=10.250.78.2

bench_check_host
for tool in iperf3 ip nft; do command -v "$tool" >/dev/null || bench_die "$tool missing: run scripts/install-deps.sh --with-bench"; done
for br in "$SBR" "$LBR"; do
    ! ip link show "$br" >/dev/null 2>&1 || bench_die "$br exists already (another benchmark running?)"
done
BENCH_WORK=$(mktemp -d /tmp/sysc-bench-XXXXXX)
LBR_MADE=0
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_setup_roots
# This root's sysc.conf: the network on, on its own bridge and subnet; no NAT (nothing leaves
# the host, ip_forward untouched) and no dnsmasq (the shim addresses eth0 before init runs).
printf '[cgroup]\nparent = %s\n[network]\nenabled = true\nbridge = %s\naddress = %s\nnat = false\ndhcp = false\n[resources]\nlxcfs = false\n' \
    "$CG_PARENT" "$SBR" "$SNET" >"$SYSC_ROOT/etc/sysc/sysc.conf"

# Cleanup hooks of lib.sh's trap: sysc's network while lxcd still runs, then leftovers.
bench_cleanup_extra() { timeout 20 "$SYSC" network remove >/dev/null 2>&1 || true; }
bench_cleanup_late() {
    if ip link show "$SBR" >/dev/null 2>&1; then ip link del "$SBR" || true; fi
    if nft list table ip "sysc_$SBR" >/dev/null 2>&1; then nft delete table ip "sysc_$SBR" || true; fi
    if ((LBR_MADE)) && ip link show "$LBR" >/dev/null 2>&1; then ip link del "$LBR" || true; fi
}

# install_iperf3 ROOTFS: the host's iperf3 and every library ldd names, at the same paths.
install_iperf3() {
    local bin f
    bin=$(command -v iperf3)
    for f in "$bin" $(ldd "$bin" | grep -o '/[^ ]*'); do
        cp -L --parents "$f" "$1/"
    done
}

# --- the two containers -------------------------------------------------------------------
"$SYSC" create -q busybox "$CT" --storage dir
install_iperf3 "$(sysc_rootfs "$CT")"
mkdir -p "$LXCP/$CT"
cp -a "$(sysc_rootfs "$CT")" "$LXCP/$CT/rootfs"
lxc_config "$CT" "$LXCP/$CT/rootfs" | sed '/^lxc.net.0.type/d' >"$LXCP/$CT/config"
cat >>"$LXCP/$CT/config" <<EOF
lxc.net.0.type = veth
lxc.net.0.link = $LBR
lxc.net.0.name = eth0
lxc.net.0.flags = up
lxc.net.0.mtu = 1500
lxc.net.0.ipv4.address = $LADDR/24
EOF
ip link add "$LBR" type bridge
LBR_MADE=1
ip link set "$LBR" mtu 1500
ip addr add "$LNET" dev "$LBR"
ip link set "$LBR" up

"$SYSC" start -q "$CT" || bench_die "sysc: $CT did not start"
SADDR=$("$SYSC" info "$CT" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipv4"])')
[[ -n $SADDR ]] || bench_die "sysc: $CT has no address"
lxc-start -P "$LXCP" -n "$CT" || bench_die "lxc: $CT did not start"
for side in sysc lxc; do
    for ((i = 0; ; i++)); do
        if [[ $side == sysc ]]; then
            "$SYSC" attach "$CT" -- iperf3 -s -D >/dev/null 2>&1 && break
        else
            lxc-attach -P "$LXCP" -n "$CT" -- iperf3 -s -D >/dev/null 2>&1 && break
        fi
        ((i < 200)) || bench_die "$side: iperf3 -s does not start in $CT"
        sleep 0.05
    done
done
bench_log "network: sysc $CT at $SADDR on $SBR, lxc $CT at $LADDR on $LBR"

# iperf_run ADDR [SECONDS]: Gbit/s received by the server (the container) in one run.
iperf_run() {
    local out i
    for ((i = 0; i < 50; i++)); do  # the server may still be starting: retry the connect
        if out=$(iperf3 -c "$1" -t "${2:-$SECS}" -J 2>/dev/null); then
            python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9, 3))' <<<"$out"
            return
        fi
        sleep 0.1
    done
    bench_die "iperf3 -c $1 failed: $(python3 -c 'import json,sys; print(json.load(sys.stdin).get("error", ""))' <<<"$out" 2>/dev/null)"
}

# Warm-up, not counted: neither side's first run after its container started is in the figures.
iperf_run "$SADDR" 1 >/dev/null
iperf_run "$LADDR" 1 >/dev/null
declare -A RES=([sysc]="" [lxc]="")
for ((r = 0; r < RUNS; r++)); do
    if ((r % 2)); then order=(lxc sysc); else order=(sysc lxc); fi
    for side in "${order[@]}"; do
        if [[ $side == sysc ]]; then addr=$SADDR; else addr=$LADDR; fi
        g=$(iperf_run "$addr")
        bench_log "network: $side run $((r + 1)): $g Gbit/s"
        RES[$side]+="${RES[$side]:+, }$g"
    done
done
result=$(printf '{"seconds_per_run": %d, "sysc_bridge": "%s", "lxc_bridge": "%s", "gbit_s": {"sysc": [%s], "lxc": [%s]}}' \
    "$SECS" "$SBR" "$LBR" "${RES[sysc]}" "${RES[lxc]}")
if [[ -n $JSON_FILE ]]; then printf '%s\n' "$result" >"$JSON_FILE"; else printf '%s\n' "$result"; fi
