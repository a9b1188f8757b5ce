#!/usr/bin/env bash
# Builds the config fuzz target with clang (libFuzzer + ASan + UBSan) from the sources and runs it
# for a bounded number of inputs. Usage: tests/fuzz/run.sh OUTDIR [RUNS]. Exit 0: no crash, no report.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: run.sh OUTDIR [RUNS]}
runs=${2:-200000}
mkdir -p "$out/corpus"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is not installed (scripts/install-deps.sh installs it)"; exit 1; }
flags=(-std=gnu++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src")
clang++ "${flags[@]}" "$src"/tests/fuzz/fuzz_config.cpp "$src"/config/*.cpp "$src"/common/fs.cpp \
    $(pkg-config --cflags --libs inih libcap) -o "$out/fuzz_config"
# Seeds: the default files sysc writes, and a few edits.
printf 'init\n/bin/sh -c x\n[container]\n#init = /sbin/init\n' > "$out/corpus/seed1"
printf 'net.0.ipv4\n10.1.2.3\n[net.0]\ntype = veth\n' > "$out/corpus/seed2"
printf 'environment.X\n1\n[environment]\ncontainer = lxc\n[security]\ncap_drop = sys_time\n' > "$out/corpus/seed3"
"$out/fuzz_config" -runs="$runs" -max_len=4096 -timeout=10 "$out/corpus" 2>&1 | tail -n 5
