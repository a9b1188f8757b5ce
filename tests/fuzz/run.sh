#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) from the sources and runs each
# for a bounded number of inputs. Usage: tests/fuzz/run.sh OUTDIR [RUNS] [TARGET...]
# (targets: config, api; default both). Exit 0: no crash, no report. The run is reproducible:
# libFuzzer's seed is FUZZ_SEED (default 1); set another one to explore further.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: run.sh OUTDIR [RUNS] [TARGET...]}
runs=${2:-200000}
shift $(( $# >= 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config api)
command -v clang++ >/dev/null || { echo "fuzz: clang++ is not installed (scripts/install-deps.sh installs it)"; exit 1; }
fuzz_seed=${FUZZ_SEED:-1}
flags=(-std=gnu++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src")

fuzz_config() {
  mkdir -p "$out/corpus"
  clang++ "${flags[@]}" "$src"/tests/fuzz/fuzz_config.cpp "$src"/config/*.cpp "$src"/common/fs.cpp \
      $(pkg-config --cflags --libs inih libcap) -o "$out/fuzz_config"
  # Seeds: the default files sysc writes, and a few edits.
  printf 'init\n/bin/sh -c x\n[container]\n#init = /sbin/init\n' > "$out/corpus/seed1"
  printf 'net.0.ipv4\n10.1.2.3\n[net.0]\ntype = veth\n' > "$out/corpus/seed2"
  printf 'environment.X\n1\n[environment]\ncontainer = lxc\n[security]\ncap_drop = sys_time\n' > "$out/corpus/seed3"
  "$out/fuzz_config" -seed="$fuzz_seed" -runs="$runs" -max_len=4096 -timeout=10 "$out/corpus" 2>&1 | tail -n 5
}

fuzz_api() {
  local corpus="$out/corpus_api"
  mkdir -p "$corpus"
  clang++ "${flags[@]}" "$src"/tests/fuzz/fuzz_api.cpp "$src"/lxcd/api_request.cpp "$src"/common/names.cpp \
      -o "$out/fuzz_api"
  # Seeds: one request of each kind, as "METHOD\nTARGET\nUPGRADE\nBODY".
  local i=0
  while IFS= read -r seed; do
    printf '%b' "$seed" > "$corpus/seed$((i++))"
  done <<'SEEDS'
GET\n/1.0\n\n
GET\n/1.0/containers\n\n
POST\n/1.0/containers\n\n{"name": "web1", "template": "busybox", "template_args": ["--release", "x"]}
GET\n/1.0/containers/web1\n\n
DELETE\n/1.0/containers/web1?force=1\n\n
POST\n/1.0/containers/web1/stop\n\n{"timeout": 30, "force": false}
POST\n/1.0/containers/web1/restart\n\n{"force": true}
GET\n/1.0/containers/web1/console\nsysc-console\n
GET\n/1.0/containers/web1/console/log\n\n
PUT\n/1.0/containers/web1/config/limits.memory\n\n{"value": "512M"}
DELETE\n/1.0/containers/web1/config/environment.X%2DY\n\n
POST\n/1.0/containers/web1/ports\n\n{"proto": "tcp", "host_port": 8080, "container_port": 80}
DELETE\n/1.0/containers/web1/ports/tcp/8080\n\n
DELETE\n/1.0/network\n\n
GET\n/1.0/network\n\n
GET\n/1.0/images\n\n
POST\n/1.0/images\n\n{"template": "debian", "template_args": ["--release", "bookworm"]}
POST\n/1.0/shutdown\n\n
GET\n/1.0/events?container=web1\n\n
POST\n/1.0/import\n\n{"file": "/srv/web1.tar.gz", "name": "web2", "storage": "overlay"}
POST\n/1.0/containers/web1/copy\n\n{"name": "web2"}
POST\n/1.0/containers/web1/snapshots\n\n{"name": "s1"}
POST\n/1.0/containers/web1/snapshots/s1/restore\n\n{"stop": true}
DELETE\n/1.0/containers/web1/snapshots/s1\n\n
POST\n/1.0/containers/web1/export\n\n{"file": "/srv/web1.tar.gz", "snapshots": true}
SEEDS
  "$out/fuzz_api" -seed="$fuzz_seed" -runs="$runs" -max_len=4096 -timeout=10 "$corpus" 2>&1 | tail -n 5
}

for t in "${targets[@]}"; do
  echo "== fuzz_$t"
  "fuzz_$t"
done
