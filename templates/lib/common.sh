# Shell helpers shared by sysc templates (bash): argument parsing, exit codes, progress lines
# and the files every rootfs needs. Sourced by a template running as root on the host; see
# templates/README.md for the contract these helpers implement.
# shellcheck shell=bash

readonly SYSC_EXIT_FAIL=1
readonly SYSC_EXIT_USAGE=2
readonly SYSC_EXIT_UNSUPPORTED=3

SYSC_TEMPLATE_NAME=${SYSC_TEMPLATE_NAME:-$(basename -- "$0")}

# progress PERCENT MESSAGE: the one stdout line format lxcd parses.
sysc_progress() {
    printf 'progress: %d %s\n' "$1" "$2"
}

sysc_die() {
    trap - ERR
    printf '%s: %s\n' "$SYSC_TEMPLATE_NAME" "$*" >&2
    exit "$SYSC_EXIT_FAIL"
}

sysc_usage_error() {
    trap - ERR
    printf '%s: %s\n' "$SYSC_TEMPLATE_NAME" "$*" >&2
    printf "Try '%s --help'.\n" "$SYSC_TEMPLATE_NAME" >&2
    exit "$SYSC_EXIT_USAGE"
}

sysc_unsupported() {
    trap - ERR
    printf '%s: %s\n' "$SYSC_TEMPLATE_NAME" "$*" >&2
    exit "$SYSC_EXIT_UNSUPPORTED"
}

# Any command failing unexpectedly ends the template with exit 1 and names the command, so a
# stray exit status 2 or 3 (grep, cp, ...) can never be mistaken for "usage" or "unsupported".
sysc_install_error_trap() {
    set -Eeuo pipefail
    trap 'sysc_die "${BASH_SOURCE[0]##*/}:$LINENO: command failed (status $?): $BASH_COMMAND"' ERR
}

# Map kernel machine names to Debian architecture names; unknown names pass through.
sysc_normalize_arch() {
    case "$1" in
        x86_64 | amd64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        i386 | i486 | i586 | i686) echo i386 ;;
        armv7l | armv7 | armhf) echo armhf ;;
        ppc64le | ppc64el) echo ppc64el ;;
        *) echo "$1" ;;
    esac
}

sysc_host_arch() {
    if command -v dpkg >/dev/null 2>&1; then
        dpkg --print-architecture 2>/dev/null || sysc_normalize_arch "$(uname -m)"
    else
        sysc_normalize_arch "$(uname -m)"
    fi
}

# sysc_parse_args "$@": the common options of the contract. Sets TPL_NAME TPL_ROOTFS
# TPL_RELEASE TPL_ARCH TPL_MIRROR TPL_CACHE_DIR (empty when not given) and the array TPL_EXTRA
# (everything after "--"). Calls the template's `usage` function for --help, then exits 0.
# shellcheck disable=SC2034  # the TPL_* variables are this function's output
sysc_parse_args() {
    TPL_NAME='' TPL_ROOTFS='' TPL_RELEASE='' TPL_ARCH='' TPL_MIRROR='' TPL_CACHE_DIR=''
    TPL_EXTRA=()
    local arg opt value
    for arg in "$@"; do
        if [[ $arg == -- ]]; then break; fi
        if [[ $arg == --help || $arg == -h ]]; then usage; exit 0; fi
    done
    while (($# > 0)); do
        arg=$1
        shift
        case "$arg" in
            --) TPL_EXTRA=("$@"); break ;;
            --name | --rootfs | --release | --arch | --mirror | --cache-dir)
                (($# > 0)) || sysc_usage_error "option '$arg' needs a value"
                opt=$arg value=$1
                shift
                ;;
            --name=* | --rootfs=* | --release=* | --arch=* | --mirror=* | --cache-dir=*)
                opt=${arg%%=*} value=${arg#*=}
                ;;
            -*) sysc_usage_error "unknown option '$arg'" ;;
            *) sysc_usage_error "unexpected argument '$arg' (template-specific arguments go after '--')" ;;
        esac
        [[ -n $value ]] || sysc_usage_error "option '$opt' needs a non-empty value"
        case "$opt" in
            --name) TPL_NAME=$value ;;
            --rootfs) TPL_ROOTFS=$value ;;
            --release) TPL_RELEASE=$value ;;
            --arch) TPL_ARCH=$(sysc_normalize_arch "$value") ;;
            --mirror) TPL_MIRROR=$value ;;
            --cache-dir) TPL_CACHE_DIR=$value ;;
        esac
    done
    [[ -n $TPL_NAME ]] || sysc_usage_error "missing required option '--name'"
    [[ -n $TPL_ROOTFS ]] || sysc_usage_error "missing required option '--rootfs'"
    [[ $TPL_NAME =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] ||
        sysc_usage_error "bad --name '$TPL_NAME': names are 1-63 characters of a-z, 0-9 and '-', not starting with '-'"
    sysc_check_rootfs "$TPL_ROOTFS"
}

# The rootfs must be an absolute, real (not symlinked), empty directory.
sysc_check_rootfs() {
    local dir=$1
    [[ $dir == /* ]] || sysc_usage_error "bad --rootfs '$dir': not an absolute path"
    [[ ! -L $dir ]] || sysc_usage_error "bad --rootfs '$dir': is a symlink"
    [[ -d $dir ]] || sysc_usage_error "bad --rootfs '$dir': not an existing directory"
    local entries
    entries=$(shopt -s nullglob dotglob; set -- "$dir"/*; echo $#)
    [[ $entries == 0 ]] || sysc_usage_error "bad --rootfs '$dir': not empty"
}

# sysc_put FILE: writes stdin (a here-document) to FILE without starting a process.
sysc_put() {
    local content
    IFS= read -r -d '' content || true
    printf '%s' "$content" >"$1"
}

# sysc_make_base_dirs ROOTFS: the directories every rootfs has, with their modes.
sysc_make_base_dirs() {
    local r=$1
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/lib,etc,proc,sys,dev,run,home} \
        "$r"/var/{log,lib,cache,spool}
    mkdir -m 0700 "$r/root"
    mkdir -m 1777 "$r/tmp" "$r/var/tmp"
}

# sysc_write_identity ROOTFS NAME: hostname, hosts and an empty resolv.conf (never the host's).
sysc_write_identity() {
    local r=$1 name=$2
    printf '%s\n' "$name" >"$r/etc/hostname"
    sysc_put "$r/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$name
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
    if [[ -e $r/etc/resolv.conf || -L $r/etc/resolv.conf ]]; then rm -f "$r/etc/resolv.conf"; fi
    printf '# No name servers yet: the container network setup writes them here.\n' \
        >"$r/etc/resolv.conf"
}

# sysc_clear_baked_identity ROOTFS: what a distribution installer bakes in but every clone
# must own itself. An empty machine-id makes systemd generate one on first boot.
sysc_clear_baked_identity() {
    local r=$1
    if [[ -e $r/etc/machine-id || -L $r/etc/machine-id ]]; then
        rm -f "$r/etc/machine-id"
        : >"$r/etc/machine-id"
    fi
    if [[ -f $r/var/lib/dbus/machine-id && ! -L $r/var/lib/dbus/machine-id ]]; then
        rm -f "$r/var/lib/dbus/machine-id"
        ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
    fi
    rm -f "$r"/etc/ssh/ssh_host_*
}

# sysc_relative_target LINK TARGET: both relative to the rootfs; sets REPLY to the relative
# symlink content that makes LINK point at TARGET (bin/sh bin/busybox -> busybox,
# usr/bin/wc bin/busybox -> ../../bin/busybox). Sets REPLY instead of printing so that callers
# looping over hundreds of links fork no subshells.
sysc_relative_target() {
    local link_dir=${1%/*} target=$2 up=''
    [[ $1 == */* ]] || link_dir=''
    while [[ -n $link_dir ]]; do
        if [[ $target == "$link_dir"/* ]]; then
            REPLY=$up${target#"$link_dir"/}
            return
        fi
        up+='../'
        if [[ $link_dir == */* ]]; then link_dir=${link_dir%/*}; else link_dir=''; fi
    done
    REPLY=$up$target
}

# sysc_symlinks: reads "TARGET<TAB>LINKPATH" lines on stdin and creates the symlinks, all in
# one perl process when perl is there (Debian's perl-base is essential). Links with the same
# TARGET text share one symlink inode: the first is symlink(2)ed, the others are hard links to
# it (link(2) does not follow symlinks). Allocating an inode per link made the busybox
# template's ~270 applet links cost more than everything else it does together.
sysc_symlinks() {
    if command -v perl >/dev/null 2>&1; then
        perl -e 'my %first;
            while (<STDIN>) {
                chomp; my ($t, $l) = split /\t/, $_, 2;
                if (exists $first{$t}) { link($first{$t}, $l) or die "link $l -> $first{$t}: $!\n"; }
                else { symlink($t, $l) or die "symlink $l -> $t: $!\n"; $first{$t} = $l; }
            }'
    else
        local target link
        while IFS=$'\t' read -r target link; do ln -s -- "$target" "$link"; done
    fi
}

# sysc_cache_lock DIR: hold an exclusive lock on DIR/.lock on fd 9 until the template exits.
sysc_cache_lock() {
    mkdir -p "$1"
    exec 9>"$1/.lock"
    flock 9
}
