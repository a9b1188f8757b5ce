#!/usr/bin/env python3
"""Merge bench/run.sh's hyperfine JSON files (one per metric and round) into bench/RESULTS.md.

  report.py --summary JSON_DIR METRIC       one line per metric, for run.sh's progress
  report.py --json-dir DIR [--mode M] [--list-counts "100 500"] [--seconds S]
            [--profile FILE] [--analysis FILE] [--json-out FILE]     markdown on stdout
"""
import argparse
import datetime
import glob
import json
import os
import re
import statistics
import subprocess
import sys

# metric -> (title, what is timed)
METRICS = {
    "start": ("(1) start latency",
              "`sysc start NAME` / `lxc-start -n NAME` until `attach NAME -- true` succeeds "
              "(the attach is retried every 5 ms on both sides). Before each run both containers "
              "are killed."),
    "stop": ("(2a) stop latency, clean halt",
             "`sysc stop NAME` / `lxc-stop -n NAME` on a booted container whose rcS has finished. "
             "Both send SIGUSR1 (sysc detects busybox init; LXC has `lxc.signal.halt = SIGUSR1`), "
             "so on both sides busybox init runs its shutdown actions, sends SIGTERM, sleeps 1 s, "
             "sends SIGKILL, sleeps 1 s and halts: about 2 s of every run is busybox's own sleep, "
             "the same on both sides. The difference between the two is the runtime's cost."),
    "kill": ("(2b) stop latency, forced",
             "`sysc stop --force NAME` / `lxc-stop -k -n NAME`: SIGKILL to init, then each "
             "runtime's teardown (wait for exit, cgroup removal, state update). No busybox sleep."),
    "attach": ("(3) attach latency",
               "`sysc attach NAME -- true` / `lxc-attach -n NAME -- true` into a running "
               "container, stdin not a terminal, no shell around the command."),
    "create": ("(4) create time",
               "`sysc create busybox NAME` / `lxc-create -t busybox -n NAME`. Both templates "
               "copy the host's static busybox and make the applet links; neither downloads, so "
               "the cache is always warm. Each run's container is destroyed before the next, "
               "outside the timing."),
}
LIST_TEXT = ("`sysc list` / `lxc-ls -f` with {n} stopped containers defined, plus the "
             "benchmark container. sysc's are real `sysc create busybox` containers; LXC's are "
             "config files (what `lxc-create -t none` writes) pointing at one rootfs, which is "
             "all `lxc-ls` reads for a stopped container.")


def load(json_dir, metric):
    """{command name: {"times": [...], "round_medians": [...]}} over all rounds of metric."""
    out = {}
    files = sorted(glob.glob(os.path.join(json_dir, f"{metric}.*.json")),
                   key=lambda p: int(p.rsplit(".", 2)[1]))
    for path in files:
        with open(path) as f:
            data = json.load(f)
        for res in data["results"]:
            entry = out.setdefault(res["command"], {"times": [], "round_medians": []})
            entry["times"].extend(res["times"])
            entry["round_medians"].append(res["median"])
    return out


def stats(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "n": len(times)}


def ms(seconds):
    v = seconds * 1000
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def metric_row(title, data):
    s, l = stats(data["sysc"]["times"]), stats(data["lxc"]["times"])
    ratio = s["median"] / l["median"]
    return (f"| {title} | {ms(s['median'])} | {ms(s['min'])}–{ms(s['max'])} | {ms(l['median'])} "
            f"| {ms(l['min'])}–{ms(l['max'])} | **{ratio:.2f}** | {s['n']} / {l['n']} |")


def summary(json_dir, metric):
    data = load(json_dir, metric)
    s, l = stats(data["sysc"]["times"]), stats(data["lxc"]["times"])
    return (f"  {metric}: sysc {ms(s['median'])} ms [{ms(s['min'])}–{ms(s['max'])}], "
            f"lxc {ms(l['median'])} ms [{ms(l['min'])}–{ms(l['max'])}], "
            f"sysc/lxc {s['median'] / l['median']:.2f} (n={s['n']}/{l['n']})")


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(load=None):
    cpu = sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1")
    rev = os.environ.get("SYSC_REV", "")
    if not rev:
        rev = sh("git rev-parse --short HEAD")
        if rev and sh("git status --porcelain -- . ':!bench'"):
            rev += " (with uncommitted changes)"
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu}, `nproc` = {sh('nproc')} (shared with other tenants)"),
        ("memory (`free -h`)", " ".join(sh("free -h | sed -n 2p").split())),
        ("kernel (`uname -r`)", sh("uname -r")),
        ("cgroups", "hybrid: v1 controllers + v2 at /sys/fs/cgroup/unified" if os.path.isdir(
            "/sys/fs/cgroup/unified") else sh("stat -fc %T /sys/fs/cgroup")),
        ("LXC", sh("lxc-start --version") + " (Debian package `lxc`)"),
        ("hyperfine", sh("hyperfine --version").replace("hyperfine ", "")),
        ("busybox", sh("busybox 2>&1 | head -1 | awk '{print $2}'") + " (busybox-static)"),
        ("sysc", f"commit {rev}"),
    ] + ([("load average (1/5/15 min)", f"{load[0]} at the start, {load[1]} at the end: "
           "other tenants' builds share the 2 cores, which widens the min–max")] if load else [])


def report(a):
    counts = a.list_counts.split()
    metrics = [m for m in METRICS if glob.glob(os.path.join(a.json_dir, f"{m}.*.json"))]
    metrics += [f"list{n}" for n in counts]
    data = {m: load(a.json_dir, m) for m in metrics}
    title = {m: METRICS[m][0] for m in METRICS}
    title.update({f"list{n}": f"(6) list, {n} containers" for n in counts})

    p = print
    p("# sysc vs LXC: benchmark results\n")
    p(f"Generated by `bash bench/run.sh{' --quick' if a.mode == 'quick' else ''}` "
      f"in {a.seconds} s; see bench/README.md for how each metric is measured. "
      "Times in milliseconds; ratio = sysc median / LXC median (below 1: sysc is faster). "
      "Both sides boot the same busybox root filesystem (LXC's is a copy of the one sysc's "
      "template made), without a network device.\n")
    p("## Machine\n")
    p("| | |\n|---|---|")
    for k, v in machine(a.load):
        p(f"| {k} | {v} |")
    p("\n## Results\n")
    p("| metric | sysc median | sysc min–max | LXC median | LXC min–max | sysc/LXC | runs (sysc / LXC) |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for m in metrics:
        p(metric_row(title[m], data[m]))
    p("\nhyperfine's own median of each round (from its exported JSON), in ms, in round order:\n")
    p("| metric | sysc | LXC |\n|---|---|---|")
    for m in metrics:
        fmt = lambda side: ", ".join(ms(x) for x in data[m][side]["round_medians"])
        p(f"| {title[m]} | {fmt('sysc')} | {fmt('lxc')} |")
    p("\n## What each metric times\n")
    for m in metrics:
        text = METRICS[m][1] if m in METRICS else LIST_TEXT.format(n=m[4:])
        p(f"- **{title[m]}**: {text}")
    p("\n## Not measured yet\n")
    p("- **(7) density** (memory and PIDs per idle container, how many fit): needs the debian "
      "template to say anything useful; a busybox container is a few hundred KiB either way.")
    p("- **(8) network** (veth setup time, throughput container↔host with iperf3): sysc has "
      "bridged networking now, but the comparison needs an LXC bridge of the benchmark's own "
      "(not lxc-net's lxcbr0/dnsmasq) and iperf3 in both root filesystems; until then both "
      "sides run without a network device (sysc with `[network] enabled = false`).")
    p("- **debian / systemd root filesystems**: the metrics above on a systemd boot, once sysc "
      "has a debian template (start then means `systemctl is-system-running` succeeds).")
    if a.analysis and os.path.exists(a.analysis):
        p("")
        with open(a.analysis) as f:
            p(f.read().rstrip())
    if a.profile and os.path.exists(a.profile):
        p("\n## Raw profile of this run (bench/profile.sh)\n")
        p("```")
        with open(a.profile) as f:
            p(f.read().rstrip())
        p("```")
    if a.json_out:
        merged = {m: {side: {**stats(v["times"]), "round_medians": v["round_medians"],
                             "times": v["times"]} for side, v in data[m].items()}
                  for m in metrics}
        with open(a.json_out, "w") as f:
            json.dump({"unit": "seconds", "machine": dict(machine(a.load)), "metrics": merged}, f,
                      indent=1)
            f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary", nargs=2, metavar=("JSON_DIR", "METRIC"))
    ap.add_argument("--json-dir")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--list-counts", default="")
    ap.add_argument("--seconds", default="?")
    ap.add_argument("--profile")
    ap.add_argument("--load", nargs=2, metavar=("START", "END"), help="1/5/15-min load averages")
    ap.add_argument("--analysis")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if a.summary:
        print(summary(*a.summary))
    elif a.json_dir:
        report(a)
    else:
        ap.error("--summary or --json-dir is required")


if __name__ == "__main__":
    sys.exit(main())
