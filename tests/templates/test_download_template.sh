#!/bin/bash
# Contract test of the download template (templates/README.md): a fake image server in the
# LXC layout (meta/1.0/index-system, build dirs with rootfs.tar.xz, meta.tar.xz, SHA256SUMS,
# simplestreams streams/v1/*.json) served by busybox httpd on loopback; the newest build is
# picked, verified, cached and unpacked with a fresh identity; the cache serves when the server
# is down; a corrupted tarball is refused (by either sum source) and leaves nothing cached;
# exit codes 2 and 3 for usage errors and missing images.
#
#   test_download_template.sh [TEMPLATE-DIR]   (default: templates/ of this source tree)
#
# Exit 0 when every check passed, 1 otherwise. Everything lives under one temporary directory.
set -uo pipefail

TDIR=${1:-$(cd "$(dirname "$0")/../../templates" && pwd)}
TEMPLATE=$TDIR/download
NAME=dltest-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sysc-dl-test.XXXXXX")
HTTPD_PID=''
stop_server() {
    if [[ -n $HTTPD_PID ]]; then kill "$HTTPD_PID" 2>/dev/null; wait "$HTTPD_PID" 2>/dev/null; fi
    HTTPD_PID=''
}
trap 'stop_server; rm -rf "$WORK"' EXIT
failures=0

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

R=$WORK/rootfs
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
B_OLD=20260101_00:00
B_NEW=20261101_05:24
DIST=testos

# run_template ARGS...: sets RC, OUT, ERR; the rootfs is a fresh empty directory each time.
run_template() {
    rm -rf "$R" && mkdir -m 0755 "$R"
    env -i SYSC_TEMPLATE_API=1 LC_ALL=C \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "$TEMPLATE" --name "$NAME" --rootfs "$R" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}
expect_exit() { # expect_exit CODE STDERR-SUBSTRING ARGS...
    local code=$1 text=$2
    shift 2
    run_template "$@"
    if [[ $RC == "$code" && $ERR == *"$text"* ]]; then
        pass "exit $code naming [$text] for: $*"
    else
        fail "expected exit $code naming [$text] for: $* (got $RC: $ERR)"
    fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- the fake images: busybox rootfs with a baked identity and a marker per build ----------
IMG=$WORK/img
mkdir -m 0755 "$IMG"
if ! env -i PATH="$PATH" "$TDIR/busybox" --name image --rootfs "$IMG" >/dev/null 2>"$WORK/err"; then
    echo "not ok - cannot build the test image with the busybox template: $(cat "$WORK/err")"
    exit 1
fi
echo 0123456789abcdef0123456789abcdef >"$IMG/etc/machine-id"
echo LXC_NAME >"$IMG/etc/hostname"
mkdir -p "$IMG/etc/ssh" && echo key >"$IMG/etc/ssh/ssh_host_rsa_key"
META_SRC=$WORK/meta-src
mkdir -p "$META_SRC/templates"
printf 'lxc.include = LXC_TEMPLATE_CONFIG/common.conf\nlxc.arch = %s\n' "$ARCH" >"$META_SRC/config"
printf '/etc/hostname:\n  when: [create]\n  template: hostname.tpl\n' >"$META_SRC/templates/metadata.yaml"

SRV=$WORK/srv
make_build() { # make_build SRVDIR BUILD MARKER
    local dir=$1/images/$DIST/one/$ARCH/default/$2
    mkdir -p "$dir"
    echo "$3" >"$IMG/etc/build-marker"
    tar --numeric-owner -cJf "$dir/rootfs.tar.xz" -C "$IMG" .
    tar -cJf "$dir/meta.tar.xz" -C "$META_SRC" config templates
    (cd "$dir" && sha256sum rootfs.tar.xz meta.tar.xz >SHA256SUMS)
}
write_streams() { # write_streams SRVDIR: simplestreams index.json and images.json for both builds
    local s=$1 b items='' sep='' rel
    mkdir -p "$s/streams/v1"
    for b in "$B_OLD" "$B_NEW"; do
        rel=images/$DIST/one/$ARCH/default/$b
        items+="$sep\"$b\": {\"items\": {
            \"root.tar.xz\": {\"ftype\": \"root.tar.xz\", \"path\": \"$rel/rootfs.tar.xz\", \"sha256\": \"$(sha "$s/$rel/rootfs.tar.xz")\", \"size\": $(stat -c %s "$s/$rel/rootfs.tar.xz")},
            \"lxd.tar.xz\": {\"ftype\": \"lxd.tar.xz\", \"path\": \"$rel/lxd.tar.xz\", \"sha256\": \"$(printf '0%.0s' {1..64})\"}}}"
        sep=,
    done
    cat >"$s/streams/v1/index.json" <<EOF
{"format": "index:1.0", "index": {"images": {"datatype": "image-downloads",
 "path": "streams/v1/images.json", "format": "products:1.0",
 "products": ["$DIST:one:$ARCH:default"]}}}
EOF
    cat >"$s/streams/v1/images.json" <<EOF
{"format": "products:1.0", "content_id": "images", "products": {
 "$DIST:one:$ARCH:default": {"arch": "$ARCH", "os": "$DIST", "release": "one", "versions": {$items}}}}
EOF
}
write_index() { # write_index SRVDIR BUILD...: index-system lines for these builds (+ noise)
    local s=$1 b
    shift
    mkdir -p "$s/meta/1.0"
    {
        echo "otheros;two;$ARCH;default;20250101_00:00;/images/otheros/two/$ARCH/default/20250101_00:00/"
        for b in "$@"; do echo "$DIST;one;$ARCH;default;$b;/images/$DIST/one/$ARCH/default/$b/"; done
        echo "$DIST;one;$ARCH;cloud;$B_NEW;/images/$DIST/one/$ARCH/cloud/$B_NEW/"
        echo "$DIST;broken;$ARCH;default;$B_NEW;/images/$DIST/broken/$ARCH/default/$B_NEW/"
    } >"$s/meta/1.0/index-system"
}
make_build "$SRV" "$B_OLD" old
make_build "$SRV" "$B_NEW" new
write_streams "$SRV"

start_server() { # start_server DIR: busybox httpd on a free loopback port; sets URL
    local port
    stop_server
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        busybox httpd -f -p "127.0.0.1:$port" -h "$1" &
        HTTPD_PID=$!
        sleep 0.3
        if kill -0 "$HTTPD_PID" 2>/dev/null && curl -qsf -o /dev/null "http://127.0.0.1:$port/meta/1.0/index-system"; then
            URL=http://127.0.0.1:$port
            return 0
        fi
        stop_server
    done
    echo "not ok - cannot start busybox httpd on loopback"
    exit 1
}

# --- usage and exit codes -------------------------------------------------------------------
check "template is executable" test -x "$TEMPLATE"
"$TEMPLATE" --help >"$WORK/help" 2>&1
check "--help exits 0" test $? -eq 0
check "--help shows usage and the LXC templates note" \
    bash -c "grep -q '^Usage: download --name NAME' '$WORK/help' && grep -q 'templates' '$WORK/help'"
expect_exit 2 "download.mirror" --release one -- --dist "$DIST"
expect_exit 2 "'--dist D'" --release one --mirror http://127.0.0.1:9
expect_exit 2 "'--release'" --mirror http://127.0.0.1:9 -- --dist "$DIST"
expect_exit 2 "bad --dist 'a/b'" --release one --mirror http://127.0.0.1:9 -- --dist a/b
expect_exit 2 "'--bogus'" --release one --mirror http://127.0.0.1:9 -- --dist "$DIST" --bogus
expect_exit 2 "not an http(s)://" --release one --mirror ftp://example.invalid -- --dist "$DIST"

CACHE=$WORK/cache
TUPLE_DIR=$CACHE/$DIST/one/$ARCH/default
ARGS=(--release one --cache-dir "$CACHE")

# --- first the old build only, then a newer one: the newest is used, the old one pruned -----
write_index "$SRV" "$B_OLD"
start_server "$SRV"
run_template "${ARGS[@]}" --mirror "$URL" -- --dist "$DIST"
check "old-only index: success (stderr: $ERR)" test "$RC" -eq 0
check "old build unpacked" test "$(cat "$R/etc/build-marker" 2>/dev/null)" = old
check "old build cached" test -f "$TUPLE_DIR/$B_OLD/rootfs.tar.xz"

write_index "$SRV" "$B_NEW" "$B_OLD"
start=$(date +%s%N)
run_template "${ARGS[@]}" --mirror "$URL/" -- --dist "$DIST" --variant default
echo "# download + unpack took $((($(date +%s%N) - start) / 1000000)) ms"
check "newest build: success (stderr: $ERR)" test "$RC" -eq 0
check "success writes nothing to stderr" test -z "$ERR"
check "newest build unpacked" test "$(cat "$R/etc/build-marker" 2>/dev/null)" = new
check "rootfs.tar.xz verified" grep -q "^rootfs.tar.xz: SHA-256 $(sha "$SRV/images/$DIST/one/$ARCH/default/$B_NEW/rootfs.tar.xz") verified" "$WORK/out"
check "meta.tar.xz verified" grep -q '^meta.tar.xz: SHA-256 .* verified' "$WORK/out"
check "LXC config/templates reported as not applied" grep -q 'LXC config and templates are not applied' "$WORK/out"
check "newest cached with its meta" test -f "$TUPLE_DIR/$B_NEW/rootfs.tar.xz" -a -f "$TUPLE_DIR/$B_NEW/meta.tar.xz"
check "cached tarball is the server's" test "$(sha "$TUPLE_DIR/$B_NEW/rootfs.tar.xz")" = "$(sha "$SRV/images/$DIST/one/$ARCH/default/$B_NEW/rootfs.tar.xz")"
check "old build pruned from the cache" test ! -e "$TUPLE_DIR/$B_OLD"
check "no temporary entries in the cache" test -z "$(find "$CACHE" -name '.fetch-*')"
check "cache lock file" test -f "$CACHE/.lock"
check "no download leftovers in DIR" test -z "$(find "$R" -maxdepth 1 -name '.sysc-download*')"

last=-1 monotonic=1 lines=0
while IFS= read -r line; do
    if [[ $line =~ ^progress:\ ([0-9]{1,3})\ (.*)$ ]]; then
        ((BASH_REMATCH[1] >= last && BASH_REMATCH[1] <= 100)) || monotonic=0
        last=${BASH_REMATCH[1]} lines=$((lines + 1))
    elif [[ $line == progress* ]]; then monotonic=0; fi
done <<<"$OUT"
check "several well-formed, non-decreasing progress lines" test "$lines" -ge 4 -a "$monotonic" -eq 1
check "last progress is 100" test "$last" -eq 100

check "/etc/hostname is the name" test "$(cat "$R/etc/hostname")" = "$NAME"
check "/etc/hosts maps the name" grep -qE "^127\.0\.1\.1[[:space:]]+$NAME\$" "$R/etc/hosts"
check "baked machine-id emptied" test -f "$R/etc/machine-id" -a ! -s "$R/etc/machine-id"
check "SSH host keys removed" test ! -e "$R/etc/ssh/ssh_host_rsa_key"
check "resolv.conf comment-only" bash -c "! grep -qv '^#' '$R/etc/resolv.conf'"
check "/sbin/init from the image" test "$(readlink "$R/sbin/init")" = ../bin/busybox
check "/bin/busybox unpacked executable" test -x "$R/bin/busybox"
check "/tmp is 1777, /root 700" test "$(stat -c %a "$R/tmp")$(stat -c %a "$R/root")" = 1777700
if ((EUID == 0)); then
    check "numeric owners kept (root)" test "$(stat -c %u:%g "$R/etc/passwd")" = 0:0
    check "chroot: the unpacked busybox runs" test "$(chroot "$R" /bin/cat /etc/build-marker 2>&1)" = new
fi

# --- images the server does not have, and a listed build with missing files ---------------
expect_exit 3 "$DIST/nope/$ARCH/default" --release nope --mirror "$URL" -- --dist "$DIST"
check "exit 3 lists what the server has for the dist" \
    bash -c "[[ \"\$1\" == *one/$ARCH/cloud* && \"\$1\" == *one/$ARCH/default* ]]" _ "$ERR"
expect_exit 3 "no 'zzz' images" --release one --mirror "$URL" -- --dist zzz
foreign=arm64
[[ $ARCH != arm64 ]] || foreign=amd64
expect_exit 3 "$DIST/one/$foreign/default" --release one --arch "$foreign" --mirror "$URL" -- --dist "$DIST"
expect_exit 1 "HTTP 404" --release broken --cache-dir "$CACHE" --mirror "$URL" -- --dist "$DIST"
check "failed download leaves nothing in the cache" test -z "$(ls -A "$CACHE/$DIST/broken/$ARCH/default" 2>/dev/null)"

# --- two creates at once on an empty cache: both succeed, one entry, nothing temporary ------
PAR=$WORK/cache-par
pids=()
for i in 1 2; do
    mkdir -m 0755 "$WORK/par$i"
    env -i PATH="$PATH" LC_ALL=C "$TEMPLATE" --name "par$i" --rootfs "$WORK/par$i" --release one \
        --cache-dir "$PAR" --mirror "$URL" -- --dist "$DIST" >"$WORK/par$i.out" 2>"$WORK/par$i.err" &
    pids+=($!)
done
wait "${pids[0]}"; rc1=$?
wait "${pids[1]}"; rc2=$?
check "concurrent creates both succeed ($(cat "$WORK/par1.err" "$WORK/par2.err"))" test "$rc1$rc2" = 00
check "concurrent creates: each has its identity and the newest build" \
    test "$(cat "$WORK/par1/etc/hostname" "$WORK/par2/etc/hostname" "$WORK/par2/etc/build-marker")" = $'par1\npar2\nnew'
check "concurrent creates: one complete cache entry" \
    test "$(find "$PAR" -mindepth 5 -maxdepth 5 | wc -l)" = 1 -a -f "$PAR/$DIST/one/$ARCH/default/$B_NEW/rootfs.tar.xz"
rm -rf "$WORK"/par?

# --- without a cache: straight into DIR -----------------------------------------------------
run_template --release one --mirror "$URL" -- --dist "$DIST"
check "no --cache-dir: success (stderr: $ERR)" test "$RC" -eq 0
check "no --cache-dir: newest unpacked" test "$(cat "$R/etc/build-marker" 2>/dev/null)" = new
check "no --cache-dir: nothing left in DIR" test -z "$(find "$R" -maxdepth 1 -name '.sysc-download*')"

run_template --release one --mirror "file://$SRV" -- --dist "$DIST"
check "file:// server: success (stderr: $ERR)" test "$RC" -eq 0
check "file:// server: verified newest" grep -q '^rootfs.tar.xz: SHA-256 .* verified' "$WORK/out"

# --- server down: the cache serves -------------------------------------------------------
DOWN_URL=$URL
stop_server
run_template "${ARGS[@]}" --mirror "$DOWN_URL" -- --dist "$DIST"
check "server down, cached: success (stderr: $ERR)" test "$RC" -eq 0
check "server down: cached newest unpacked" test "$(cat "$R/etc/build-marker" 2>/dev/null)" = new
check "server down: says it uses the cache" grep -q "using cached build $B_NEW" "$WORK/out"
check "server down: identity set" test "$(cat "$R/etc/hostname")" = "$NAME"
expect_exit 1 "cannot read the image index" --release one --mirror "$DOWN_URL" -- --dist "$DIST"

# --- a corrupted rootfs.tar.xz (sums unchanged) is refused, by each sum source --------------
BAD=$WORK/srv-bad
cp -a "$SRV" "$BAD"
bad_file=$BAD/images/$DIST/one/$ARCH/default/$B_NEW/rootfs.tar.xz
good_sum=$(sha "$bad_file")
size=$(stat -c %s "$bad_file")
printf 'CORRUPTED' | dd of="$bad_file" bs=1 seek=$((size / 2)) conv=notrunc status=none
bad_sum=$(sha "$bad_file")
check "test image really corrupted" test "$good_sum" != "$bad_sum"
start_server "$BAD"
corrupt_case() { # corrupt_case LABEL SOURCE-SUBSTRING
    local cache=$WORK/cache-$1
    run_template --release one --cache-dir "$cache" --mirror "$URL" -- --dist "$DIST"
    check "$1: refused with exit 1 (got $RC)" test "$RC" -eq 1
    check "$1: message names SHA-256, the file and both hashes" \
        bash -c "[[ \"\$1\" == *SHA-256* && \"\$1\" == *rootfs.tar.xz* && \"\$1\" == *$good_sum* && \"\$1\" == *$bad_sum* ]]" _ "$ERR"
    check "$1: message names the sum source [$2]" bash -c "[[ \"\$1\" == *\"\$2\"* ]]" _ "$ERR" "$2"
    check "$1: nothing unpacked into DIR" test -z "$(ls -A "$R")"
    check "$1: nothing (half-)written in the cache" \
        test -z "$(find "$cache" -mindepth 1 -name '.fetch-*' -o -mindepth 1 -name "$B_NEW")"
}
corrupt_case both "SHA256SUMS"
rm "$BAD/images/$DIST/one/$ARCH/default/$B_NEW/SHA256SUMS"
corrupt_case simplestreams "streams/v1/images.json"
cp "$SRV/images/$DIST/one/$ARCH/default/$B_NEW/SHA256SUMS" "$BAD/images/$DIST/one/$ARCH/default/$B_NEW/"
rm -r "$BAD/streams"
corrupt_case sha256sums "$B_NEW/SHA256SUMS"

# --- no sums published at all: accepted, and said so ------------------------------------
rm -rf "$BAD" && cp -a "$SRV" "$BAD" && rm -r "$BAD/streams" "$BAD"/images/$DIST/one/"$ARCH"/default/*/SHA256SUMS
start_server "$BAD"
run_template --release one --mirror "$URL" -- --dist "$DIST"
check "no sums: success (stderr: $ERR)" test "$RC" -eq 0
check "no sums: says not verified" grep -q 'no SHA-256 sum published for rootfs.tar.xz' "$WORK/out"
stop_server

if ((failures > 0)); then
    echo "FAILED: $failures check(s)"
    exit 1
fi
echo "PASSED"
