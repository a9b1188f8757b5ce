# Shared code of the bench/ scripts: the private sysc state root and LXC path, hyperfine rounds,
# the LXC container config that matches a sysc busybox container, and the cleanup trap.
# Sourced, never run. Host side, as root. Callers set BENCH_WORK (a fresh mktemp -d) first.
# shellcheck shell=bash disable=SC2016,SC2034  # command strings are for /bin/sh; globals are for callers

SYSC=${SYSC:-build/bin/sysc}
LXC_SHARE=/usr/share/lxc

# Names carry the PID so a second bench run on the same host cannot collide with this one
# (LXC names its cgroups lxc.payload.NAME at the root of every hierarchy).
BENCH_TAG=sb$$
CT=${BENCH_TAG}a   # the container start/stop/attach run on
CTC=${BENCH_TAG}c  # the container create makes and destroys

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# Fails with the reason when something the benchmark needs is missing.
bench_check_host() {
    ((EUID == 0)) || bench_die "run as root (containers need it)"
    [[ -x $SYSC ]] || bench_die "$SYSC not found: build sysc first or set SYSC=path/to/sysc"
    local tool
    for tool in hyperfine lxc-start lxc-attach lxc-stop lxc-create lxc-copy lxc-ls rsync python3 pgrep; do
        command -v "$tool" >/dev/null || bench_die "$tool missing: run scripts/install-deps.sh --with-bench"
    done
}

# A tmpfs on ROOT/run (a sysc state root), unmounted by bench_cleanup with the rest.
bench_run_tmpfs() {
    mkdir -p "$1/run"
    mount -t tmpfs -o mode=0755,size=64m sysc-bench-run "$1/run" || bench_die "could not mount a tmpfs on $1/run"
}

# Private sysc root (as scripts/demo.sh makes it) and private LXC path, both under BENCH_WORK.
bench_setup_roots() {
    SYSC_ROOT=$BENCH_WORK/sysc
    LXCP=$BENCH_WORK/lxc
    CG_PARENT=sysc-bench-$$
    # No lxcfs on either side (LXC's lxcfs hooks are dropped in lxc_config): equal work per start.
    printf '[cgroup]\nparent = %s\n[network]\nenabled = false\n[resources]\nlxcfs = false\n' "$CG_PARENT" |
        install -D /dev/stdin "$SYSC_ROOT/etc/sysc/sysc.conf"
    # /run is a tmpfs on the hosts sysc runs on, and so is the root's run/ here: its sockets,
    # spec and exit files cost what they cost there, not inode allocations on this disk (LXC
    # keeps its own under /run, or as abstract sockets).
    bench_run_tmpfs "$SYSC_ROOT"
    mkdir -p "$LXCP"
    export SYSC_ROOT
    # LXC keeps an empty lxc.pivot cgroup in every hierarchy; remove it afterwards only if this
    # run is the one that made it.
    PIVOTS_BEFORE=$(ls -d /sys/fs/cgroup/lxc.pivot /sys/fs/cgroup/*/lxc.pivot 2>/dev/null || true)
    # The containers claim their id ranges in sysc's host-wide registry (a private one would let
    # them overlap a real container's ids); a registry this run made is removed once it is empty.
    if [[ -e $IDMAP_DIR ]]; then IDMAP_DIR_MADE=0; else IDMAP_DIR_MADE=1; fi
}

IDMAP_DIR=/var/lib/sysc-idmap  # the directory of sysc's default idmap_registry

# Removes the registry directory this run made, if no claim is left in it. The test and the
# removal hold the registry's lock, as lxcd does for every change; an lxcd waiting for it then
# finds its lock file gone and makes a new one (lxcd/idmap_registry.cpp).
bench_remove_idmap_dir() {
    ((${IDMAP_DIR_MADE:-0})) && [[ -d $IDMAP_DIR ]] || return 0
    flock -n "$IDMAP_DIR/ranges.lock" sh -c '[ ! -s "$1" ] && rm -f "$1" "$1.lock"' _ "$IDMAP_DIR/ranges" || return 0
    rmdir "$IDMAP_DIR" 2>/dev/null || true
}

sysc_rootfs() { printf '%s/var/lib/sysc/containers/%s/rootfs' "$SYSC_ROOT" "$1"; }

# lxc_config NAME ROOTFS: an LXC config doing the same work as sysc for a busybox container.
# Stock common.conf (cap drops, seccomp, devices cgroup, proc/sys/cgroup mounts), then:
# no network device (sysc gives a container an empty netns too), no AppArmor (none on this
# host), SIGUSR1 as the halt signal (what sysc detects for busybox init), no extra ttys (sysc
# ttys = 0), a console pty logged to a file (sysc logs its console pty), /run and /run/lock
# tmpfs plus /dev/shm and /dev/mqueue (sysc mounts them; common.conf does not). The empty hook
# lines drop the hooks the lxcfs package adds through common.conf.d (the bench runs sysc with
# [resources] lxcfs = false too; LXC's post-stop hook sleeps 0.5 s on every stop, more than the
# whole runtime's teardown).
lxc_config() {
    local name=$1 rootfs=$2
    cat <<EOF
lxc.include = $LXC_SHARE/config/common.conf
lxc.hook.mount =
lxc.hook.post-stop =
lxc.uts.name = $name
lxc.rootfs.path = dir:$rootfs
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.signal.halt = SIGUSR1
lxc.signal.reboot = SIGTERM
lxc.tty.max = 0
lxc.console.logfile = $LXCP/$name/console.log
lxc.mount.entry = shm dev/shm tmpfs nosuid,nodev,mode=1777,create=dir 0 0
lxc.mount.entry = mqueue dev/mqueue mqueue nosuid,nodev,noexec,optional,create=dir 0 0
lxc.mount.entry = tmpfs run tmpfs nosuid,nodev,strictatime,mode=755,size=20% 0 0
lxc.mount.entry = tmpfs run/lock tmpfs nosuid,nodev,noexec,mode=1777,size=5m,create=dir 0 0
EOF
}

# lxc_define NAME ROOTFS: what lxc-create -t none writes (the config), with the given rootfs.
lxc_define() {
    mkdir -p "$LXCP/$1"
    lxc_config "$1" "$2" >"$LXCP/$1/config"
}

# Commands as strings for hyperfine (run by /bin/sh). "ready" = the start command returned and
# an attach of `true` succeeds; both sides retry the attach the same way (at most ~2 s).
sysc_cmd() { printf '%q ' "$SYSC" "$@"; }
lxc_cmd() { local tool=$1; shift; printf '%q -P %q' "$tool" "$LXCP"; printf ' %q' "$@"; }
ready_loop() {  # ready_loop ATTACH-CMD-STRING
    printf 'i=0; until %s -- true >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 400 ] || exit 1; sleep 0.005; done' "$1"
}
sysc_start_ready() { printf '%s >/dev/null && %s' "$(sysc_cmd start -q "$1")" "$(ready_loop "$(sysc_cmd attach "$1")")"; }
lxc_start_ready() { printf '%s && %s' "$(lxc_cmd lxc-start -n "$1")" "$(ready_loop "$(lxc_cmd lxc-attach -n "$1")")"; }
# busybox init ignores its halt signal until rcS has finished: wait for that before a clean
# stop is timed, so both runtimes get the halt signal at the same point of the boot. Checked
# inside the container (another container's rcS on the host must not count): no rcS, and init
# has another child (askfirst's, started once sysinit has returned; only for the moment between
# the fork and the exec of rcS could that child be sysinit's own).
RCS_DONE_SH='r=0; a=0; for s in /proc/[0-9]*/stat; do read -r p c st pp rest <"$s" 2>/dev/null || continue; [ "$c" = "(rcS)" ] && r=1; [ "$pp" = 1 ] && [ "$c" != "(rcS)" ] && a=1; done; [ $r = 0 ] && [ $a = 1 ]'
rcs_done_loop() {  # rcs_done_loop ATTACH-CMD-STRING
    printf 'i=0; until %s -- /bin/sh -c %q >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 400 ] || exit 1; sleep 0.005; done' "$1" "$RCS_DONE_SH"
}
sysc_kill() { printf '%s >/dev/null 2>&1 || true' "$(sysc_cmd stop --force "$1")"; }
lxc_kill() { printf '%s >/dev/null 2>&1 || true' "$(lxc_cmd lxc-stop -k -n "$1")"; }

# ab METRIC ROUNDS RUNS SYSC-CMD LXC-CMD [SYSC-PREPARE LXC-PREPARE]: hyperfine both commands,
# ROUNDS times, alternating which goes first; one JSON per round in $JSON, merged by report.py.
# Callers set JSON (directory), LOG (hyperfine output) and WARMUP (runs before each round).
ab() {
    local metric=$1 rounds=$2 runs=$3 a=$4 b=$5 pa=${6:-} pb=${7:-} r args
    for ((r = 1; r <= rounds; r++)); do
        args=(--style basic --runs "$runs" --warmup "$WARMUP" --export-json "$JSON/$metric.$r.json")
        [[ $metric == attach || $metric == list* ]] && args+=(-N)
        if ((r % 2)); then
            [[ -n $pa ]] && args+=(--prepare "$pa" --prepare "$pb")
            args+=(-n sysc "$a" -n lxc "$b")
        else
            [[ -n $pa ]] && args+=(--prepare "$pb" --prepare "$pa")
            args+=(-n lxc "$b" -n sysc "$a")
        fi
        echo "### $metric round $r" >>"$LOG"
        hyperfine "${args[@]}" >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; bench_die "$metric: hyperfine failed"; }
    done
    python3 bench/report.py --summary "$JSON" "$metric" >&2
}

# Cleanup: stop and remove everything this run made, whatever state it is in. Safe to call
# twice. Only touches BENCH_WORK, our cgroup parent and our LXC names.
bench_cleanup() {
    local rc=$? d pid
    trap - EXIT INT TERM
    [[ -n ${BENCH_WORK:-} && -d $BENCH_WORK ]] || return $rc
    bench_log "cleaning up $BENCH_WORK"
    if [[ -n ${LXCP:-} && -d $LXCP ]]; then
        for d in "$LXCP"/*/; do
            [[ -f $d/config ]] || continue
            timeout 20 lxc-stop -P "$LXCP" -n "$(basename "$d")" -k >/dev/null 2>&1 || true
        done
    fi
    if [[ -n ${SYSC_ROOT:-} && -d $SYSC_ROOT ]]; then
        # Every container defined in our root (density runs have hundreds), destroyed rather than
        # only stopped: destroy also releases its claim in the host-wide id range registry.
        for d in "$SYSC_ROOT"/etc/sysc/containers/*.conf; do
            [[ -f $d ]] || continue
            d=${d##*/}
            timeout 20 "$SYSC" destroy --force "${d%.conf}" >/dev/null 2>&1 || true
        done
        # A script's own teardown that needs lxcd (sysc network remove), before it goes.
        if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
        pid=$(cat "$SYSC_ROOT/run/sysc/lxcd.lock" 2>/dev/null || true)
        if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
        # Anything still in our cgroup parent (a shim or init the stops missed) is ours.
        for d in /sys/fs/cgroup/"$CG_PARENT" /sys/fs/cgroup/*/"$CG_PARENT"; do
            [[ -d $d ]] || continue
            # shellcheck disable=SC2038  # cgroup.procs holds pids, one a line
            find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        done
        sleep 0.2
        for d in /sys/fs/cgroup/"$CG_PARENT" /sys/fs/cgroup/*/"$CG_PARENT"; do
            if [[ -d $d ]]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
        done
    fi
    for d in /sys/fs/cgroup/lxc.*."$BENCH_TAG"* /sys/fs/cgroup/*/lxc.*."$BENCH_TAG"*; do
        if [[ -d $d ]]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
    for d in /sys/fs/cgroup/lxc.pivot /sys/fs/cgroup/*/lxc.pivot; do
        [[ -d $d ]] || continue
        grep -qxF "$d" <<<"${PIVOTS_BEFORE:-}" || rmdir "$d" 2>/dev/null || true
    done
    if declare -F bench_cleanup_late >/dev/null; then bench_cleanup_late || true; fi
    bench_remove_idmap_dir
    # Never recurse into a mount left below (an lxcfs of a root that had it on).
    grep -o "$BENCH_WORK/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$BENCH_WORK"
    return $rc
}
