#!/usr/bin/env python3
"""Summarize strace -f -tt -T files of one operation (the CLI's first) as one timeline.

  trace_summary.py CLI_TRACE [OTHER_TRACE...]

Prints, in ms from the CLI's first syscall: the traced span, every sleep (nanosleep and
clock_nanosleep, the fixed waits a fix can remove), the process steps (clone, execve, exit,
signals sent, reaping, cgroup rmdir, pivot_root), the count of mounts, and the longest
blocking calls (who waited for whom).
"""
import re
import sys

LINE = re.compile(r"^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+) (.*)$")
CALL = re.compile(r"^(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*?)(?:= (-?\w+)(.*?))?(?: <(\d+\.\d+)>)?$")
SLEEPS = {"nanosleep", "clock_nanosleep"}
STEPS = {"clone", "clone3", "fork", "vfork", "execve", "pidfd_send_signal", "kill", "waitid",
         "wait4", "rmdir", "pivot_root", "connect", "setns", "unshare"}
WAITS = {"epoll_wait", "epoll_pwait", "poll", "ppoll", "read", "recvmsg", "recvfrom", "wait4",
         "waitid", "accept4", "accept", "select", "pselect6"} | SLEEPS


def parse(path, events):
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, h, mi, s, rest = m.groups()
            t = int(h) * 3600 + int(mi) * 60 + float(s)
            if rest.startswith("+++"):
                events.append((t, int(pid), "exit", rest.strip("+ "), 0.0))
                continue
            if rest.startswith("---") or rest.endswith("<unfinished ...>"):
                continue
            c = CALL.match(rest)
            if not c:
                continue
            name, args, ret, _, dur = c.groups()
            d = float(dur) if dur else 0.0
            # -tt stamps the call's entry (or its resumption); -T is its duration.
            start = t - d if rest.startswith("<...") else t
            events.append((start, int(pid), name, f"{args.strip()[:90]} = {ret}", d))


def main():
    events = []
    parse(sys.argv[1], events)
    cli_pids = {e[1] for e in events}
    if not events:
        print("  (empty trace)")
        return
    t0 = min(e[0] for e in events)
    t_end = max(e[0] + e[4] for e in events)
    for path in sys.argv[2:]:
        parse(path, events)
    # Keep what happened while the CLI ran, plus the daemon's epilogue up to 50 ms after.
    events = sorted(e for e in events if t0 - 0.001 <= e[0] <= t_end + 0.05)
    rel = lambda t: (t - t0) * 1000
    who = lambda pid: f"{'cli' if pid in cli_pids else 'pid'} {pid}"
    print(f"  traced span of the CLI: {rel(t_end):.1f} ms; daemon-side events up to "
          f"{rel(max(e[0] + e[4] for e in events)):.1f} ms")
    sleeps = [e for e in events if e[2] in SLEEPS]
    total = sum(e[4] for e in sleeps) * 1000
    print(f"  sleeps: {len(sleeps)}, {total:.1f} ms in all")
    for e in sleeps[:25]:
        print(f"    {rel(e[0]):8.1f} ms  {who(e[1])}: {e[2]}({e[3]}) took {e[4] * 1000:.1f} ms")
    if len(sleeps) > 25:
        print(f"    ... {len(sleeps) - 25} more")
    mounts = [e for e in events if e[2] in ("mount", "mount_setattr", "open_tree", "move_mount")]
    if mounts:
        print(f"  mount calls: {len(mounts)}, {sum(e[4] for e in mounts) * 1000:.1f} ms in the calls, "
              f"{rel(mounts[0][0]):.1f}–{rel(mounts[-1][0]):.1f} ms")
    print("  steps:")
    for e in events:
        if e[2] in STEPS or e[2] == "exit":
            if e[2] in ("wait4", "waitid") and ("= 0" in e[3] or "EAGAIN" in e[3] or "ECHILD" in e[3]):
                continue
            print(f"    {rel(e[0]):8.1f} ms  {who(e[1])}: {e[2]} {e[3]}"
                  + (f" [{e[4] * 1000:.1f} ms]" if e[4] >= 0.0005 else ""))
    waits = sorted((e for e in events if e[2] in WAITS and e[4] >= 0.001), key=lambda e: -e[4])
    print("  longest blocking calls:")
    for e in waits[:8]:
        print(f"    {rel(e[0]):8.1f} ms  {who(e[1])}: {e[2]} for {e[4] * 1000:.1f} ms ({e[3][:60]})")


if __name__ == "__main__":
    main()
