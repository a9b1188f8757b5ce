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
    "create_dir": ("(4a) create, dir",
                   "`sysc create busybox NAME --storage dir` (a `cp -a` of the cached image) / "
                   "`lxc-copy -n BASE -N NAME` (LXC has no image cache for its busybox template: "
                   "its counterpart of an image is a stopped container on the same rootfs, which "
                   "lxc-copy copies with rsync). Each run's container is destroyed before the "
                   "next, outside the timing."),
    "create_overlay": ("(4b) create, overlay",
                       "`sysc create busybox NAME --storage overlay` (the image as read-only lower "
                       "layer) / `lxc-copy -s -B overlay -n BASE -N NAME` (snapshot clone: the base "
                       "rootfs as lower layer). Destroyed between runs, outside the timing."),
    "create": ("(4c) create, template run",
               "`sysc create busybox NAME --storage dir --no-cache` / `lxc-create -t busybox -n "
               "NAME`: both run their template every time (copy the host's static busybox, make "
               "the applet links); sysc also copies the fresh image. Neither downloads."),
    "create_btrfs": ("(4d) create, btrfs",
                     "`sysc create busybox NAME --storage btrfs` (a snapshot of the image's "
                     "subvolume) / `lxc-copy -s -B btrfs -n BASE -N NAME` (a snapshot of the base "
                     "container's rootfs subvolume), both on one loop-mounted btrfs of the run's "
                     "own. Destroyed between runs, outside the timing."),
    "debian_boot": ("(9a) debian boot to running",
                    "`sysc start NAME` / `lxc-start -n NAME`, then `attach NAME -- systemctl "
                    "is-system-running --wait` until it says `running` (retried every 10 ms while "
                    "systemd is not listening yet; `degraded` fails the run). Same Debian bookworm "
                    "rootfs (sysc's debian template; LXC boots a copy), no network device, killed "
                    "before every run."),
    "debian_stop": ("(9b) debian stop, clean",
                    "`sysc stop NAME` / `lxc-stop -n NAME` on a booted Debian (`running`): "
                    "SIGRTMIN+3 on both sides (`lxc.signal.halt = SIGRTMIN+3`), systemd's own "
                    "shutdown until the init is gone."),
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


def load_part(json_dir, name):
    """A part's own JSON (density.json, network.json, ...), None when that part did not run."""
    path = os.path.join(json_dir, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt_num(v):
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


# density row -> (label, function of one round's record giving the value)
DENSITY_ROWS = [
    ("start all N, start commands only (s)", lambda r: r["start_all_s"]),
    ("start all N until each answers attach (s)", lambda r: r["ready_all_s"]),
    ("kill all N (s)", lambda r: r["kill_all_s"]),
    ("host MemAvailable drop / N (KiB)", lambda r: r["memavailable_drop_bytes"] / r["count"] / 1024),
    ("host memory held, growth / N (KiB)",
     lambda r: r["held_growth_bytes"] / r["count"] / 1024 if "held_growth_bytes" in r else float("nan")),
    ("host Committed_AS growth / N (KiB)", lambda r: r["committed_as_growth_bytes"] / r["count"] / 1024),
    ("container cgroup memory / N (KiB)", lambda r: r["cgroup_memory_bytes"] / r["count"] / 1024),
    ("supervisor RSS / N (KiB)", lambda r: r["supervisor_rss_kb"] / r["count"]),
    ("supervisor PSS / N (KiB)", lambda r: r["supervisor_pss_kb"] / r["count"]),
]


def density_section(d, dmax):
    p = print
    p("\n## (7) Density\n")
    if d is None:
        p("Not measured in this run (`bench/density.sh` did not run or failed).")
    else:
        n = d["count"]
        sides = {side: [r for r in d["rounds"] if r["side"] == side] for side in ("sysc", "lxc")}
        p(f"`bench/density.sh`: {n} busybox containers running at once, sysc's set and LXC's set "
          f"one after the other (never both), {len(sides['sysc'])} round(s) per side, order "
          "swapped each round. Median over rounds, each round's value in brackets.\n")
        p("| metric | sysc | LXC | sysc/LXC |\n|---|---:|---:|---:|")
        for label, f in DENSITY_ROWS:
            vals = {side: [f(r) for r in rs] for side, rs in sides.items()}
            if any(x != x for v in vals.values() for x in v):  # NaN: a record without this figure
                continue
            med = {side: statistics.median(v) for side, v in vals.items()}
            cell = lambda side: (fmt_num(med[side]) + (" [" + ", ".join(fmt_num(x) for x in vals[side])
                                                        + "]" if len(vals[side]) > 1 else ""))
            ratio = f"**{med['sysc'] / med['lxc']:.2f}**" if med["lxc"] > 0 else "–"
            p(f"| {label.replace('N', str(n), 1) if label.startswith(('start', 'kill')) else label} "
              f"| {cell('sysc')} | {cell('lxc')} | {ratio} |")
        run = {side: min(r["running"] for r in rs) for side, rs in sides.items()}
        p(f"| running at once (fewest of the rounds) | {run['sysc']} / {n} | {run['lxc']} / {n} | |")
        p("\nDefinitions, the same on both sides: containers are created first (outside the "
          "timing; each gets its own copy of the rootfs: sysc `--storage dir`, LXC `cp -a`), "
          "then started one after the other (`sysc start` / `lxc-start`), then each is attached "
          "(`true`, retried every 5 ms) until it answers. Memory is read before the starts and "
          f"again {d.get('settle_s', 3)} s after the last one answered, each time once "
          "/proc/meminfo has been quiet for 3 s (the kernel frees the previous side's namespaces "
          "from a work queue, seconds after they are killed). **host MemAvailable drop** and "
          "**Committed_AS growth** = /proc/meminfo before minus after (host-wide: includes the "
          "supervisors, kernel objects of the namespaces and other tenants' drift), divided by "
          "N; **host memory held** = the growth of AnonPages + Shmem + SUnreclaim + PageTables "
          "+ Percpu + VmallocUsed (kernel stacks included) / N: what processes and the kernel "
          "hold, page cache and reclaimable slab (dentries, inodes) left out; **container cgroup memory** = sum of the containers' own "
          "cgroups' `memory.usage_in_bytes` (v1; `memory.current` on cgroup2: the payload, "
          "page cache it touched included, supervisor excluded) / N; **supervisor RSS/PSS** = "
          "`Rss`/`Pss` of /proc/PID/smaps_rollup of the per-container supervisor (sysc-shim; "
          "LXC's `[lxc monitor]`, the parent of the container's init), summed and divided by N "
          "(PSS splits the pages the N supervisors share). **kill all**: `sysc stop --force` / "
          "`lxc-stop -k` one after the other.")
        floor = [r for r in d["rounds"] if r["side"] == "floor"]
        if floor:
            kinds = [("host MemAvailable drop", "memavailable_drop_bytes"), ("host memory held", "held_growth_bytes")]
            kinds = [(label, key) for label, key in kinds if all(key in r for r in d["rounds"])]
            per = lambda r, key: r[key] / r["count"] / 1024
            fl = {key: statistics.median(per(r, key) for r in floor) for _, key in kinds}
            lxc = {key: statistics.median(per(r, key) for r in sides["lxc"]) for _, key in kinds}
            p("\n**The floor** (a `floor` round before each pair: no runtime; "
              f"{n} sets of new net, mount, pid, ipc, uts and cgroup namespaces with a cgroup in "
              "every hierarchy, each holding one `sleep`, read the same way): "
              + "; ".join(f"{label} / N {fmt_num(fl[key])} KiB ["
                          + ", ".join(fmt_num(per(r, key)) for r in floor) + "]"
                          + (f", {fl[key] / lxc[key]:.2f} of LXC's" if lxc[key] > 0 else "") for label, key in kinds)
              + "; container cgroup memory / N "
              f"{fmt_num(statistics.median(r['cgroup_memory_bytes'] / r['count'] / 1024 for r in floor))} KiB.\n")
            p("| above the floor (runtime + busybox payload over one `sleep`) | sysc | LXC | sysc/LXC |\n"
              "|---|---:|---:|---:|")
            for label, key in kinds:
                above = {side: statistics.median(per(r, key) for r in rs) - fl[key] for side, rs in sides.items()}
                ratio = f"**{above['sysc'] / above['lxc']:.2f}**" if above["lxc"] > 0 else "–"
                p(f"| {label} / N minus the floor (KiB) | {fmt_num(above['sysc'])} | {fmt_num(above['lxc'])} | {ratio} |")
    if dmax is not None:
        m = dmax["max"]
        p(f"\n**sysc alone, {m['attempted']} containers** (`bench/density.sh --max`, overlay "
          f"storage): {m['started']} started in {m['start_all_s']:.0f} s, {m['running']} "
          f"RUNNING at once, {m['answering']} answered an attach."
          + (f" First failure: `{m['first_error']}`." if m["first_error"] else ""))


def network_section(net):
    p = print
    p("\n## (8) Network throughput, host → container\n")
    if net is None:
        p("Not measured in this run (`bench/network.sh` did not run or failed).")
        return
    g = net["gbit_s"]
    med = {side: statistics.median(v) for side, v in g.items()}
    p(f"`bench/network.sh`: `iperf3 -c ADDR -t {net['seconds_per_run']} -J` on the host against "
      "`iperf3 -s -D` inside a busybox container (the host's iperf3 and its libraries copied into "
      "the rootfs), Gbit/s received, runs alternating between the sides. sysc: its own veth on "
      f"bridge `{net['sysc_bridge']}` (a state root of the benchmark's own, no NAT, no DHCP); "
      f"LXC: `lxc.net.0.type = veth` on bridge `{net['lxc_bridge']}` made by the script, static "
      "address. Traffic only between the host and the two containers.\n")
    p("| metric | sysc median | sysc min–max | LXC median | LXC min–max | sysc/LXC | runs |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    p(f"| TCP host → container (Gbit/s) | {med['sysc']:.2f} | {min(g['sysc']):.2f}–{max(g['sysc']):.2f} "
      f"| {med['lxc']:.2f} | {min(g['lxc']):.2f}–{max(g['lxc']):.2f} | "
      + (f"**{med['sysc'] / med['lxc']:.2f}** " if med["lxc"] > 0 else "– ") +
      f"| {len(g['sysc'])} / {len(g['lxc'])} |")
    pairs = [s / x for s, x in zip(g["sysc"], g["lxc"]) if x > 0]
    if len(pairs) > 1:
        p(f"\nRun by run (each sysc run against the LXC run next to it): sysc/LXC median "
          f"**{statistics.median(pairs):.2f}**, min–max {min(pairs):.2f}–{max(pairs):.2f}.")
    p("\n(Higher is better here: a ratio above 1 means sysc is faster.)")


def report(a):
    counts = a.list_counts.split()
    have = lambda m: bool(glob.glob(os.path.join(a.json_dir, f"{m}.*.json")))
    metrics = [m for m in METRICS if have(m) and not m.startswith("debian")]
    metrics += [f"list{n}" for n in counts if have(f"list{n}")]
    metrics += [m for m in METRICS if have(m) and m.startswith("debian")]
    data = {m: load(a.json_dir, m) for m in metrics}
    title = {m: METRICS[m][0] for m in METRICS}
    title.update({f"list{n}": f"(6) list, {n} containers" for n in counts})

    p = print
    p("# sysc vs LXC: benchmark results\n")
    p(f"Generated by `bash bench/run.sh{' --quick' if a.mode == 'quick' else ''}` "
      f"in {a.seconds} s; see bench/README.md for how each metric is measured. "
      "Times in milliseconds; ratio = sysc median / LXC median (below 1: sysc is faster). "
      "Both sides boot the same busybox root filesystem (LXC's is a copy of the one sysc's "
      "template made), without a network device, except (8) network; (9) boots Debian with "
      "systemd.\n")
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
    p("sysc runs in a state root of the benchmark's own, its `run/` a tmpfs as `/run` is on a "
      "host (sockets, spec and exit files); LXC in an LXC path of its own. Both on the same disk.\n")
    for m in metrics:
        text = METRICS[m][1] if m in METRICS else LIST_TEXT.format(n=m[4:])
        p(f"- **{title[m]}**: {text}")
    density, density_max = load_part(a.json_dir, "density"), load_part(a.json_dir, "density_max")
    network, debian = load_part(a.json_dir, "network"), load_part(a.json_dir, "debian")
    density_section(density, density_max)
    network_section(network)
    if debian is not None:
        p(f"\n(9) debian: building the image with sysc's debian template took "
          f"{debian['image_build_s']:.0f} s"
          + (" (from the kept template cache)" if debian.get("cached") else
             " (debootstrap from the mirror, then the copy into the container)")
          + "; LXC boots a `cp -a` copy of that container's rootfs.")
    elif not any(m.startswith("debian") for m in metrics):
        p("\n(9) debian: not measured in this run (`bench/debian.sh` did not run or failed).")
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
            json.dump({"unit": "seconds", "machine": dict(machine(a.load)), "metrics": merged,
                       "density": density, "density_max": density_max, "network": network,
                       "debian": debian}, f, indent=1)
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
