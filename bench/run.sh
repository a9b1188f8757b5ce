#!/usr/bin/env bash
# sysc vs LXC 5 on the same busybox root filesystem: start, stop, attach, create and list
# latency with hyperfine, sysc and LXC runs alternating in rounds; then density (density.sh),
# network throughput (network.sh) and a Debian systemd boot (debian.sh); summary in
# bench/RESULTS.md.
#
#   bash bench/run.sh            full run (~7 min on 2 cores, +1 with --density-max), writes bench/RESULTS.md and bench/results.json
#   bash bench/run.sh --quick    smoke run (~2 min; ~4 min the first time: debootstrap): few runs, small counts; report on stdout only
#   options: --out FILE (report path), --json FILE (merged raw times), --no-profile,
#            --no-density, --no-network, --no-debian (skip those parts),
#            --density-max [N] (also: can sysc run N=1000 busybox containers at once; ~3 min),
#            --debian-cache DIR (keep the debian template's cache there across runs),
#            --only LIST (only these of start,stop,kill,attach,create,list, comma-separated; no
#            density/network/debian/profile; report on stdout unless --out is given)
#   env:     SYSC=path/to/sysc (default build/bin/sysc; lxcd, sysc-shim, templates beside it),
#            SYSC_REV=commit to name in the report (default: git HEAD of this tree)
#
# Needs root, a built sysc and scripts/install-deps.sh --with-bench (hyperfine, lxc, rsync,
# iperf3). Everything lives in private state roots and LXC paths under /tmp and is removed on
# exit, also on failure. Only network.sh gives containers a network device: a veth on a bridge
# of its own; its traffic stays between the host and its two containers. debian.sh's first
# build downloads packages from the Debian mirror on the host (debootstrap), as the template does.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }

MODE=full OUT= JSON_OUT= PROFILE=1 DENSITY=1 NETWORK=1 DEBIAN=1 DENSITY_MAX=0 DEBIAN_CACHE= ONLY=
while (($#)); do
    case $1 in
        --quick) MODE=quick ;;
        --no-density) DENSITY=0 ;;
        --no-network) NETWORK=0 ;;
        --no-debian) DEBIAN=0 ;;
        --density-max) DENSITY_MAX=1000; if [[ ${2:-} =~ ^[0-9]+$ ]]; then DENSITY_MAX=$2; shift; fi ;;
        --debian-cache) DEBIAN_CACHE=${2:?--debian-cache needs a directory}; shift ;;
        --out) OUT=${2:?--out needs a file}; shift ;;
        --json) JSON_OUT=${2:?--json needs a file}; shift ;;
        --no-profile) PROFILE=0 ;;
        --only) ONLY=,${2:?--only needs a list like start,attach},; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# Rounds x runs per round per side. Rounds alternate the order (sysc first, then LXC first) so
# slow drift of the machine (other tenants, page cache) hits both sides alike.
if [[ $MODE == quick ]]; then
    R_START=(2 2) R_STOP=(1 2) R_KILL=(2 2) R_ATTACH=(2 5) R_CREATE=(2 2) R_LIST=(1 3)
    LIST_COUNTS=(10 20) WARMUP=0
    : "${OUT:=}" "${JSON_OUT:=}"
    PROFILE=0
else
    R_START=(6 10) R_STOP=(3 5) R_KILL=(6 10) R_ATTACH=(6 40) R_CREATE=(6 8) R_LIST=(4 10)
    LIST_COUNTS=(100 500) WARMUP=1
    : "${OUT:=bench/RESULTS.md}" "${JSON_OUT:=bench/results.json}"
fi

if [[ -n $ONLY ]]; then
    for part in ${ONLY//,/ }; do
        [[ $part =~ ^(start|stop|kill|attach|create|list)$ ]] || { echo "run.sh: --only: unknown part '$part'" >&2; exit 2; }
    done
    DENSITY=0 NETWORK=0 DEBIAN=0 DENSITY_MAX=0 PROFILE=0
    [[ $OUT == bench/RESULTS.md ]] && OUT=
    [[ $JSON_OUT == bench/results.json ]] && JSON_OUT=
fi
wanted() { [[ -z $ONLY || $ONLY == *,$1,* ]]; }

bench_check_host
BENCH_WORK=$(mktemp -d /tmp/sysc-bench-XXXXXX)
# The btrfs state root of (4d), when there is one: its lxcd goes before its filesystem is unmounted.
bench_cleanup_extra() {
    local pid
    [[ -n ${BT_ROOT:-} ]] || return 0
    pid=$(cat "$BT_ROOT/run/sysc/lxcd.lock" 2>/dev/null || true)
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_setup_roots
JSON=$BENCH_WORK/json
LOG=$BENCH_WORK/hyperfine.log
mkdir -p "$JSON"
T0=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the two containers, on the same rootfs -----------------------------------------------
bench_log "mode $MODE; sysc $SYSC; state under $BENCH_WORK"
"$SYSC" create busybox "$CT" >/dev/null
mkdir -p "$LXCP/$CT"
cp -a "$(sysc_rootfs "$CT")" "$LXCP/$CT/rootfs"
lxc_define "$CT" "$LXCP/$CT/rootfs"

KILL_BOTH="$(sysc_kill "$CT"); $(lxc_kill "$CT")"
SYSC_READY=$(sysc_start_ready "$CT")
LXC_READY=$(lxc_start_ready "$CT")
SYSC_RCS_DONE=$(rcs_done_loop "$(sysc_cmd attach "$CT")")
LXC_RCS_DONE=$(rcs_done_loop "$(lxc_cmd lxc-attach -n "$CT")")
# One boot of each outside the timing: both must work before anything is measured.
sh -c "$SYSC_READY" || bench_die "sysc: $CT did not start"
sh -c "$LXC_READY" || bench_die "lxc: $CT did not start"
sh -c "$KILL_BOTH"

# --- (1) start: start command until an attach of `true` succeeds ---------------------------
wanted start && bench_log "start latency" && ab start "${R_START[@]}" "$SYSC_READY" "$LXC_READY" "$KILL_BOTH" "$KILL_BOTH"
sh -c "$KILL_BOTH"

# --- (2a) clean stop: halt signal SIGUSR1 on both, init halts by itself (~2 s of busybox sleep)
wanted stop && bench_log "stop latency (clean halt)" && ab stop "${R_STOP[@]}" "$(sysc_cmd stop -q "$CT")" "$(lxc_cmd lxc-stop -n "$CT")" \
    "$KILL_BOTH; $SYSC_READY && $SYSC_RCS_DONE" "$KILL_BOTH; $LXC_READY && $LXC_RCS_DONE"

# --- (2b) forced stop: SIGKILL, the runtime's own teardown only -----------------------------
wanted kill && bench_log "stop latency (kill)" && ab kill "${R_KILL[@]}" "$(sysc_cmd stop --force -q "$CT")" "$(lxc_cmd lxc-stop -k -n "$CT")" \
    "$KILL_BOTH; $SYSC_READY && $SYSC_RCS_DONE" "$KILL_BOTH; $LXC_READY && $LXC_RCS_DONE"

# --- (3) attach `true` to a running container ----------------------------------------------
if wanted attach; then
    bench_log "attach latency"
    sh -c "$SYSC_READY && $LXC_READY && $SYSC_RCS_DONE && $LXC_RCS_DONE" || bench_die "could not start both containers"
    ab attach "${R_ATTACH[@]}" "$(sysc_cmd attach "$CT" -- true)" "$(lxc_cmd lxc-attach -n "$CT" -- true)"
    sh -c "$KILL_BOTH"
fi

# --- (4) create: a copy of the cached image, the image as overlay lower layer, the template ------
# sysc's image was built by the create of $CT above. LXC has no image cache for its busybox
# template; its counterpart of an image is a stopped container on the same rootfs ($CT):
# lxc-copy copies it (dir: rsync of the rootfs, like sysc's `cp -a` of the image) or, with
# -s -B overlay, makes a snapshot clone with that rootfs as the lower layer.
if wanted create; then
    bench_log "create time"
    SYSC_DESTROY_C="$(sysc_cmd destroy --force "$CTC") >/dev/null 2>&1 || true"
    LXC_DESTROY_C="$(lxc_cmd lxc-destroy -n "$CTC") >/dev/null 2>&1 || true"
    ab create_dir "${R_CREATE[@]}" "$(sysc_cmd create -q busybox "$CTC" --storage dir)" \
        "$(lxc_cmd lxc-copy -n "$CT" -N "$CTC")" "$SYSC_DESTROY_C" "$LXC_DESTROY_C"
    ab create_overlay "${R_CREATE[@]}" "$(sysc_cmd create -q busybox "$CTC" --storage overlay)" \
        "$(lxc_cmd lxc-copy -s -B overlay -n "$CT" -N "$CTC")" "$SYSC_DESTROY_C" "$LXC_DESTROY_C"
    # Both templates run every time: sysc --no-cache builds a fresh image (and copies it).
    CREATE_CONF=$BENCH_WORK/create.conf
    lxc_config "$CTC" unused | grep -v '^lxc.rootfs.path' >"$CREATE_CONF"
    ab create "${R_CREATE[@]}" "$(sysc_cmd create -q busybox "$CTC" --storage dir --no-cache)" \
        "$(lxc_cmd lxc-create -n "$CTC" -t busybox -f "$CREATE_CONF")" "$SYSC_DESTROY_C" "$LXC_DESTROY_C"
    sh -c "$SYSC_DESTROY_C; $LXC_DESTROY_C"
    # btrfs where the kernel has it: a loop-mounted btrfs of the run's own holds a second sysc
    # state directory (its image a subvolume, each create a snapshot of it) and a second LXC
    # path whose base rootfs is a subvolume (lxc-copy -s -B btrfs: a snapshot clone).
    if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
        BT_ROOT=$BENCH_WORK/sysc-btrfs BT_LXCP=$BENCH_WORK/sysc-btrfs/var/lib/sysc/lxc
        install -D "$SYSC_ROOT/etc/sysc/sysc.conf" "$BT_ROOT/etc/sysc/sysc.conf"
        mkdir -p "$BT_ROOT/var/lib/sysc"
        truncate -s 1G "$BENCH_WORK/btrfs.img"
        mkfs.btrfs -q "$BENCH_WORK/btrfs.img" >/dev/null
        mount -o loop "$BENCH_WORK/btrfs.img" "$BT_ROOT/var/lib/sysc"
        bench_run_tmpfs "$BT_ROOT"
        "$SYSC" --root "$BT_ROOT" create -q busybox "$CTC" --storage btrfs  # builds the image subvolume
        "$SYSC" --root "$BT_ROOT" destroy --force "$CTC" >/dev/null
        mkdir -p "$BT_LXCP/$CT"
        btrfs subvolume create "$BT_LXCP/$CT/rootfs" >/dev/null
        cp -a "$(sysc_rootfs "$CT")/." "$BT_LXCP/$CT/rootfs/"
        LXCP=$BT_LXCP lxc_define "$CT" "$BT_LXCP/$CT/rootfs"
        sed -i 's#^lxc.rootfs.path = dir:#lxc.rootfs.path = btrfs:#' "$BT_LXCP/$CT/config"
        ab create_btrfs "${R_CREATE[@]}" "$(sysc_cmd --root "$BT_ROOT" create -q busybox "$CTC" --storage btrfs)" \
            "$(LXCP=$BT_LXCP lxc_cmd lxc-copy -s -B btrfs -n "$CT" -N "$CTC")" \
            "$(sysc_cmd --root "$BT_ROOT" destroy --force "$CTC") >/dev/null 2>&1 || true" \
            "$(LXCP=$BT_LXCP lxc_cmd lxc-destroy -n "$CTC") >/dev/null 2>&1 || true"
        "$SYSC" --root "$BT_ROOT" destroy --force "$CTC" >/dev/null 2>&1 || true
        lxc-destroy -P "$BT_LXCP" -n "$CTC" >/dev/null 2>&1 || true
    else
        bench_log "create on btrfs: skipped (no btrfs in the kernel or no mkfs.btrfs)"
    fi
fi

# --- (6) list with N stopped containers defined ---------------------------------------------
if wanted list; then
    defined=0
    for n in "${LIST_COUNTS[@]}"; do
        bench_log "defining $n containers on each side"
        t=$SECONDS
        while ((defined < n)); do
            defined=$((defined + 1))
            name=$(printf 'l%04d' "$defined")
            # sysc: a real create (one rootfs each); LXC: the config lxc-create writes, all
            # pointing at one rootfs copy (lxc-ls reads configs only, never a stopped rootfs).
            "$SYSC" create busybox "$name" >/dev/null
            lxc_define "$name" "$LXCP/$CT/rootfs"
        done
        bench_log "defined $n in $((SECONDS - t)) s"
        ab "list$n" "${R_LIST[@]}" "$(sysc_cmd list)" "$(lxc_cmd lxc-ls -f)"
    done
fi

# --- density, network, debian: separate scripts with their own state roots -----------------
# A part that fails is logged and left out of the report; the others still run.
SUB=()
[[ $MODE == quick ]] && SUB=(--quick)
part() {  # part NAME COMMAND...
    local name=$1 t=$SECONDS
    shift
    bench_log "$name"
    if "$@"; then bench_log "$name done in $((SECONDS - t)) s"; else bench_log "error: $name failed, left out of the report"; fi
}
((DENSITY)) && part density bash bench/density.sh "${SUB[@]}" --json "$JSON/density.json"
((DENSITY_MAX)) && part "density, $DENSITY_MAX sysc containers" bash bench/density.sh --max "$DENSITY_MAX" --json "$JSON/density_max.json"
((NETWORK)) && part network bash bench/network.sh "${SUB[@]}" --json "$JSON/network.json"
((DEBIAN)) && part debian bash bench/debian.sh "${SUB[@]}" --json-dir "$JSON" ${DEBIAN_CACHE:+--cache "$DEBIAN_CACHE"}

# --- profile of sysc's slow paths and the report --------------------------------------------
PROFILE_TXT=$BENCH_WORK/profile.txt
if ((PROFILE)); then
    bench_log "profiling sysc"
    bash bench/profile.sh "$CT" >"$PROFILE_TXT" 2>&1 || bench_log "profile.sh failed, ignoring"
fi
report_args=(--json-dir "$JSON" --mode "$MODE" --list-counts "${LIST_COUNTS[*]}"
    --seconds $((SECONDS - T0)) --load "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)")
[[ -s $PROFILE_TXT ]] && report_args+=(--profile "$PROFILE_TXT")
[[ $MODE == full && -f bench/analysis.md ]] && report_args+=(--analysis bench/analysis.md)
[[ -n $JSON_OUT ]] && report_args+=(--json-out "$JSON_OUT")
if [[ -n $OUT ]]; then
    python3 bench/report.py "${report_args[@]}" >"$OUT"
    bench_log "wrote $OUT${JSON_OUT:+ and $JSON_OUT} in $((SECONDS - T0)) s"
else
    python3 bench/report.py "${report_args[@]}"
    bench_log "done in $((SECONDS - T0)) s"
fi
