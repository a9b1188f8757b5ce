#!/usr/bin/env bash
# Density: N busybox containers running at once, sysc's set and LXC's set one after the other
# (never both at once): wall time to start them all, host memory per container, and RSS/PSS of
# the per-container supervisor (sysc-shim vs LXC's "[lxc monitor]"). Each round also measures
# the floor no runtime goes below: N sets of the same kernel objects without any runtime (new
# net, mount, pid, ipc, uts and cgroup namespaces and a cgroup in every hierarchy, holding one
# `sleep`), so that the memory above it (the runtime's own, plus the busybox payload, the same
# on both sides) can be compared too.
#
#   bash bench/density.sh [--quick] [--count N] [--rounds R] [--max [N]] [--json FILE]
#   --quick     10 containers, one round (default: 200 containers, 2 rounds, order swapped)
#   --max [N]   instead: sysc alone tries to run N (default 1000) at once, reports how many ran
#   --json FILE write the raw numbers there (report.py reads them), else print them
#
# Needs root, a built sysc, lxc. Private roots under /tmp, all removed on exit; no network.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

COUNT=200 ROUNDS=2 MAX=0 JSON_FILE=
while (($#)); do
    case $1 in
        --quick) COUNT=10 ROUNDS=1 ;;
        --count) COUNT=${2:?--count needs N}; shift ;;
        --rounds) ROUNDS=${2:?--rounds needs R}; shift ;;
        --max) MAX=1000; if [[ ${2:-} =~ ^[0-9]+$ ]]; then MAX=$2; shift; fi ;;
        --json) JSON_FILE=${2:?--json needs a file}; shift ;;
        -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "density.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

bench_check_host
BENCH_WORK=$(mktemp -d /tmp/sysc-bench-XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_setup_roots
SETTLE=3  # seconds after the last container answered, before memory is read (rcS finishes)

meminfo() { awk -v k="$1:" '$1 == k { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
# The memory processes and the kernel hold, what the kernel can reclaim left out (page cache,
# which holds each side's own log and rootfs files, and reclaimable slab: dentries, inodes):
# anonymous pages, tmpfs, unreclaimable slab, page tables, per-CPU areas and vmalloc (kernel
# stacks included), in bytes.
held() {
    awk '$1 ~ /^(AnonPages|Shmem|SUnreclaim|PageTables|Percpu|VmallocUsed):$/ { s += $2 } END { printf "%.0f\n", s * 1024 }' /proc/meminfo
}
# Waits until MemAvailable and the memory held have stayed within 1 MiB (~5 KiB a container at
# N = 200) of where they were three seconds before, at most 60 s. The kernel frees a killed
# container's namespaces (the network one above all) from a work queue, seconds after its
# processes are gone: read without this wait, the previous side's late frees show up in this
# side's figure.
mem_quiet() {
    local a0 h0 a1 h1 i calm=0
    a0=$(meminfo MemAvailable) h0=$(held)
    for ((i = 1; i <= 60; i++)); do
        sleep 1
        a1=$(meminfo MemAvailable) h1=$(held)
        if ((a1 - a0 < 1048576 && a0 - a1 < 1048576 && h1 - h0 < 1048576 && h0 - h1 < 1048576)); then
            calm=$((calm + 1))
            if ((calm == 3)); then bench_log "density: memory quiet after $i s"; return; fi
        else
            calm=0 a0=$a1 h0=$h1  # the window starts again from here
        fi
    done
    bench_log "density: memory still moving after 60 s; read as it is"
}
now() { printf '%s' "$EPOCHREALTIME"; }
# Memory charged to a container's cgroup (v1 memory controller when the host has one, else v2).
cg_mem() {
    local f
    for f in "/sys/fs/cgroup/memory/$1/memory.usage_in_bytes" "/sys/fs/cgroup/$1/memory.current"; do
        if [[ -r $f ]]; then cat "$f"; return; fi
    done
    echo 0
}
# rollup PID PATTERN: "RSS_KB PSS_KB" of one process from its smaps_rollup, after checking that
# its command line matches PATTERN (the supervisor we mean, not whatever has that pid).
rollup() {
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || bench_die "supervisor pid $1 is gone"
    # shellcheck disable=SC2053  # $2 is a glob pattern
    [[ $cmd == $2 ]] || bench_die "pid $1 is '$cmd', not the supervisor ($2)"
    awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' "/proc/$1/smaps_rollup"
}
SYSC_SUPERVISOR_CMD='*sysc-shim*'
LXC_SUPERVISOR_CMD='\[lxc monitor\]*'  # lxc-start renames its monitor "[lxc monitor] PATH NAME"
name_of() { printf '%sd%04d' "$BENCH_TAG" "$1"; }

# --- one side ---------------------------------------------------------------------------------
# Every *_create / *_start / *_ready / *_supervisor / *_stop / *_destroy takes a container name.
sysc_create() { "$SYSC" create -q busybox "$1" --storage dir; }
sysc_start() { "$SYSC" start -q "$1"; }
sysc_ready() { "$SYSC" attach "$1" -- true >/dev/null 2>&1; }
sysc_cgroup() { printf '%s/%s' "$CG_PARENT" "$1"; }
sysc_supervisor() { "$SYSC" info "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["shim_pid"])'; }
sysc_stop() { "$SYSC" stop --force -q "$1" >/dev/null 2>&1; }
sysc_destroy() { "$SYSC" destroy --force "$1" >/dev/null 2>&1 || true; }
sysc_running() { "$SYSC" list --format json | python3 -c 'import json,sys; print(sum(c["state"] == "RUNNING" for c in json.load(sys.stdin)))'; }

# LXC: each container gets its own copy of the rootfs, as sysc's dir storage does.
lxc_create() { mkdir -p "$LXCP/$1" && cp -a "$BASE_ROOTFS" "$LXCP/$1/rootfs" && lxc_define "$1" "$LXCP/$1/rootfs"; }
lxc_start() { lxc-start -P "$LXCP" -n "$1"; }
lxc_ready() { lxc-attach -P "$LXCP" -n "$1" -- true >/dev/null 2>&1; }
lxc_cgroup() { printf 'lxc.payload.%s' "$1"; }
# The monitor is the parent of the container's init (lxc-start forks it, it clones the init).
lxc_supervisor() {
    local init
    init=$(lxc-info -P "$LXCP" -n "$1" -p -H)
    awk '/^PPid:/ { print $2 }' "/proc/$init/status"
}
lxc_stop() { lxc-stop -P "$LXCP" -n "$1" -k >/dev/null 2>&1; }
lxc_destroy() { rm -rf "${LXCP:?}/$1"; }
lxc_running() { lxc-ls -P "$LXCP" --running -1 | wc -l; }

# side_round SIDE ORDER: create N, start them all (timed), read memory, kill and destroy them.
# Prints one JSON object.
side_round() {
    local side=$1 order=$2 i n t0 t1 t2 t3 t4 avail0 comm0 held0 avail1 comm1 held1 cg=0 rss=0 pss=0 pid r p pat rp
    local -a names=()
    bench_log "density: $side, creating $COUNT containers"
    for ((i = 1; i <= COUNT; i++)); do
        n=$(name_of "$i")
        names+=("$n")
        "${side}_create" "$n" >/dev/null || bench_die "$side: create $n failed"
    done
    mem_quiet
    avail0=$(meminfo MemAvailable) comm0=$(meminfo Committed_AS) held0=$(held)
    bench_log "density: $side, starting $COUNT containers"
    t0=$(now)
    for n in "${names[@]}"; do "${side}_start" "$n" || bench_die "$side: start $n failed"; done
    t1=$(now)
    for n in "${names[@]}"; do
        for ((i = 0; ; i++)); do
            "${side}_ready" "$n" && break
            ((i < 400)) || bench_die "$side: $n does not answer attach"
            sleep 0.005
        done
    done
    t2=$(now)
    sleep "$SETTLE"
    mem_quiet
    avail1=$(meminfo MemAvailable) comm1=$(meminfo Committed_AS) held1=$(held)
    for n in "${names[@]}"; do
        cg=$((cg + $(cg_mem "$("${side}_cgroup" "$n")")))
        pid=$("${side}_supervisor" "$n")
        if [[ $side == sysc ]]; then pat=$SYSC_SUPERVISOR_CMD; else pat=$LXC_SUPERVISOR_CMD; fi
        rp=$(rollup "$pid" "$pat")
        read -r r p <<<"$rp"
        rss=$((rss + r)) pss=$((pss + p))
    done
    local running
    running=$("${side}_running")
    bench_log "density: $side, $running running; killing them"
    t3=$(now)
    for n in "${names[@]}"; do "${side}_stop" "$n" || true; done
    t4=$(now)
    for n in "${names[@]}"; do "${side}_destroy" "$n"; done
    printf '{"side": "%s", "order": %d, "count": %d, "running": %d, "start_all_s": %s, "ready_all_s": %s, ' \
        "$side" "$order" "$COUNT" "$running" "$(bc_sub "$t1" "$t0")" "$(bc_sub "$t2" "$t0")"
    printf '"kill_all_s": %s, "memavailable_drop_bytes": %d, "held_growth_bytes": %d, "committed_as_growth_bytes": %d, ' \
        "$(bc_sub "$t4" "$t3")" $((avail0 - avail1)) $((held1 - held0)) $((comm1 - comm0))
    printf '"cgroup_memory_bytes": %d, "supervisor_rss_kb": %d, "supervisor_pss_kb": %d}' "$cg" "$rss" "$pss"
}
bc_sub() { python3 -c "print(round($1 - $2, 3))"; }

# --- the floor: the kernel objects of a container without any runtime ---------------------------
FLOOR_CG=sysc-bench-floor-$$
declare -A FLOOR_PID=()
# Every cgroup hierarchy of the host: the cgroup2-only root, or each v1 mount plus the unified one.
cg_hierarchies() {
    if [[ -e /sys/fs/cgroup/cgroup.procs ]]; then echo /sys/fs/cgroup; return; fi
    local d
    for d in /sys/fs/cgroup/*/; do [[ -e ${d}cgroup.procs ]] && echo "${d%/}"; done
}
# A new v1 cpuset takes no task until it has cpus and mems: its parent's.
cpuset_init() {
    local f
    for f in cpuset.cpus cpuset.mems; do
        [[ -e $1/$f && -z $(cat "$1/$f") ]] && cat "$(dirname "$1")/$f" >"$1/$f"
    done
    return 0
}
floor_start() {
    local n=$1 h
    for h in $(cg_hierarchies); do
        mkdir -p "$h/$FLOOR_CG/$n"
        cpuset_init "$h/$FLOOR_CG"
        cpuset_init "$h/$FLOOR_CG/$n"
    done
    # The subshell joins the cgroups, then unshare forks the sleep into the new namespaces.
    (
        for h in $(cg_hierarchies); do echo "$BASHPID" >"$h/$FLOOR_CG/$n/cgroup.procs"; done
        # (unshare complains on stderr when its sleep is killed: the round counts the sleeps)
        exec unshare --net --mount --pid --ipc --uts --cgroup --fork --kill-child sleep 100000 2>/dev/null
    ) &
    FLOOR_PID[$n]=$!
}
# The sleep first (unshare, still waiting for it, reaps it), then unshare is reaped here: nothing
# is left for the host's init to collect.
floor_stop() {
    local n=$1 u=${FLOOR_PID[$1]:-}
    [[ -n $u ]] || return 0
    pkill -KILL -P "$u" 2>/dev/null || true
    wait "$u" 2>/dev/null || true
    unset "FLOOR_PID[$n]"
}
floor_remove_cgroups() {
    local h i
    for h in $(cg_hierarchies); do
        [[ -d $h/$FLOOR_CG ]] || continue
        for i in 1 2 3 4 5; do
            find "$h/$FLOOR_CG" -depth -type d -exec rmdir {} + 2>/dev/null && break
            sleep 0.1
        done
    done
}
bench_cleanup_late() {
    local n
    for n in "${!FLOOR_PID[@]}"; do floor_stop "$n"; done
    floor_remove_cgroups
}

# floor_round ORDER: the floor's memory per container, read as side_round reads it. One JSON object.
floor_round() {
    local i n avail0 comm0 held0 avail1 comm1 held1 cg=0 running
    mem_quiet
    avail0=$(meminfo MemAvailable) comm0=$(meminfo Committed_AS) held0=$(held)
    bench_log "density: floor, starting $COUNT sets of namespaces and cgroups"
    for ((i = 1; i <= COUNT; i++)); do floor_start "$(name_of "$i")"; done
    sleep "$SETTLE"
    mem_quiet
    avail1=$(meminfo MemAvailable) comm1=$(meminfo Committed_AS) held1=$(held)
    for ((i = 1; i <= COUNT; i++)); do cg=$((cg + $(cg_mem "$FLOOR_CG/$(name_of "$i")"))); done
    running=$(pgrep -c -f '^sleep 100000$' || true)
    for ((i = 1; i <= COUNT; i++)); do floor_stop "$(name_of "$i")"; done
    floor_remove_cgroups
    printf '{"side": "floor", "order": %d, "count": %d, "running": %d, ' "$1" "$COUNT" "$running"
    printf '"memavailable_drop_bytes": %d, "held_growth_bytes": %d, "committed_as_growth_bytes": %d, ' \
        $((avail0 - avail1)) $((held1 - held0)) $((comm1 - comm0))
    printf '"cgroup_memory_bytes": %d}' "$cg"
}

# --- the 1000-container run: sysc alone, overlay storage (created in milliseconds) -------------
max_run() {
    local i n out ok=0 failed=0 err='' t0 t1 running
    bench_log "density max: creating $MAX sysc containers (overlay)"
    for ((i = 1; i <= MAX; i++)); do "$SYSC" create -q busybox "$(name_of "$i")" --storage overlay || bench_die "create $i failed"; done
    bench_log "density max: starting them"
    t0=$(now)
    for ((i = 1; i <= MAX; i++)); do
        n=$(name_of "$i")
        if out=$("$SYSC" start -q "$n" 2>&1); then
            ok=$((ok + 1))
        else
            failed=$((failed + 1))
            [[ -n $err ]] || err="$n: $out"
            ((failed < 10)) || break
        fi
    done
    t1=$(now)
    sleep "$SETTLE"
    running=$(sysc_running)
    local answering=0
    for ((i = 1; i <= MAX; i++)); do sysc_ready "$(name_of "$i")" && answering=$((answering + 1)); done
    bench_log "density max: $ok started, $running running, $answering answer attach"
    for ((i = 1; i <= MAX; i++)); do sysc_stop "$(name_of "$i")" || true; done
    for ((i = 1; i <= MAX; i++)); do sysc_destroy "$(name_of "$i")"; done
    python3 -c 'import json,sys; print(json.dumps({"max": {"attempted": int(sys.argv[1]), "started": int(sys.argv[2]),
        "running": int(sys.argv[3]), "answering": int(sys.argv[4]), "start_all_s": float(sys.argv[5]),
        "first_error": sys.argv[6]}}))' "$MAX" "$ok" "$running" "$answering" "$(bc_sub "$t1" "$t0")" "$err"
}

# --- main ---------------------------------------------------------------------------------------
"$SYSC" create -q busybox "${BENCH_TAG}base" --storage dir
BASE_ROOTFS=$BENCH_WORK/base-rootfs
cp -a "$(sysc_rootfs "${BENCH_TAG}base")" "$BASE_ROOTFS"
"$SYSC" destroy --force "${BENCH_TAG}base" >/dev/null

if ((MAX)); then
    max_run >"$BENCH_WORK/max.json"
    result=$(cat "$BENCH_WORK/max.json")
else
    ROUNDS_FILE=$BENCH_WORK/rounds.json
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then order=(sysc lxc); else order=(lxc sysc); fi
        for side in floor "${order[@]}"; do
            [[ -s $ROUNDS_FILE ]] && printf ',\n' >>"$ROUNDS_FILE"
            if [[ $side == floor ]]; then floor_round "$r" >>"$ROUNDS_FILE"; else side_round "$side" "$r" >>"$ROUNDS_FILE"; fi
        done
    done
    result=$(printf '{"count": %d, "settle_s": %d, "rounds": [\n%s]}' "$COUNT" "$SETTLE" "$(cat "$ROUNDS_FILE")")
fi
if [[ -n $JSON_FILE ]]; then printf '%s\n' "$result" >"$JSON_FILE"; else printf '%s\n' "$result"; fi
