#!/usr/bin/env bash
# Where sysc's time goes: for start, clean stop, forced stop, attach and list of container NAME,
# one untraced wall time, then one run under strace (-f -tt -T) of the CLI, lxcd and the shim,
# merged into one timeline by bench/trace_summary.py (sleeps, gaps, slow syscalls, key steps).
#
#   bash bench/profile.sh NAME    NAME is a stopped sysc busybox container of $SYSC_ROOT
#
# run.sh calls it at the end of a full run (SYSC_ROOT and SYSC set, lxcd running); by hand, make
# a container in a throw-away root first as scripts/demo.sh does. strace slows every syscall
# down, so the traced times are longer than the untraced ones: read the traces for *where*
# the time goes (sleeps and waits show at their real length), the untraced line for how much.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: profile.sh NAME}
SYSC=${SYSC:-build/bin/sysc}
source bench/lib.sh  # RCS_DONE_SH
: "${SYSC_ROOT:?set SYSC_ROOT to the state root of NAME}"
command -v strace >/dev/null || { echo "profile.sh: strace missing (apt-get install strace)" >&2; exit 1; }
LXCD_PID=$(cat "$SYSC_ROOT/run/sysc/lxcd.lock")
T=$(mktemp -d /tmp/sysc-profile-XXXXXX)
STRACE_PID=
cleanup() {
    if [[ -n $STRACE_PID ]]; then kill -INT "$STRACE_PID" 2>/dev/null || true; wait "$STRACE_PID" 2>/dev/null || true; fi
    if [[ -n ${PROFILE_KEEP:-} ]]; then mkdir -p "$PROFILE_KEEP" && cp "$T"/* "$PROFILE_KEEP"/; fi
    rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
shim_pid() { "$SYSC" info "$NAME" 2>/dev/null | awk -F': *' '/^ *Shim PID/ { print $2 }'; }
wait_ready() {
    local _
    for _ in $(seq 400); do "$SYSC" attach "$NAME" -- true >/dev/null 2>&1 && break; sleep 0.005; done
    for _ in $(seq 400); do "$SYSC" attach "$NAME" -- /bin/sh -c "$RCS_DONE_SH" >/dev/null 2>&1 && break; sleep 0.005; done
}

# profile LABEL CMD...: untraced once, then traced (daemon side attached before the CLI runs).
profile() {
    local label=$1 t0
    shift
    t0=$(now); "$@" >/dev/null; echo "== $label: \`${*#"$SYSC "}\` untraced $(ms_since "$t0") ms"
}
traced() {
    local label=$1 shim args=(-p "$LXCD_PID")
    shift
    shim=$(shim_pid)
    [[ -n $shim && $shim != - ]] && args+=(-p "$shim")
    strace -f -tt -T -qq -o "$T/$label.daemon" "${args[@]}" &
    STRACE_PID=$!
    sleep 0.5  # strace attaches asynchronously
    strace -f -tt -T -qq -o "$T/$label.cli" "$@" >/dev/null
    sleep 0.2  # let the daemon side finish its epilogue (reaping, db write)
    kill -INT "$STRACE_PID"; wait "$STRACE_PID" 2>/dev/null || true; STRACE_PID=
    python3 bench/trace_summary.py "$T/$label.cli" "$T/$label.daemon"
    echo
}

"$SYSC" stop --force "$NAME" >/dev/null 2>&1 || true

profile start "$SYSC" start -q "$NAME"
"$SYSC" stop --force "$NAME" >/dev/null
traced start "$SYSC" start -q "$NAME"
wait_ready

profile attach "$SYSC" attach "$NAME" -- true
traced attach "$SYSC" attach "$NAME" -- true

profile stop "$SYSC" stop -q "$NAME"
"$SYSC" start -q "$NAME" && wait_ready
traced stop "$SYSC" stop -q "$NAME"

"$SYSC" start -q "$NAME" && wait_ready
profile kill "$SYSC" stop --force -q "$NAME"
"$SYSC" start -q "$NAME" && wait_ready
traced kill "$SYSC" stop --force -q "$NAME"

profile list "$SYSC" list
traced list "$SYSC" list
