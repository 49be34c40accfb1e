#!/bin/sh
# Greenzone bootstrap: from the drive to the installer with nothing but what every supported Linux
# has (a POSIX shell, coreutils, tar, gzip, awk and OpenSSL 3). No Python, no internet, no package
# manager: the bundle carries the Python runtime and every wheel.
#
#   sh /media/usb/greenzone-bundle/install.sh [--key FILE.pub] [--prefix DIR] [--bin-dir DIR]
#                                             [--no-start] [ARGS for `greenzone install`...]
#
# Before running anything from the drive it checks the bundle's ed25519 signature with the vendor's
# public key (default: the .pub file beside the bundle directory) and the sha256 of every file it is
# about to use against the signed manifest. It then unpacks the runtime under PREFIX (default
# /opt/greenzone), makes a virtual environment with it (the machine's own Python, if any, is never
# used), installs the wheels with `--no-index --require-hashes`, links `greenzone` into BIN_DIR and
# starts `greenzone install` with the bundle and key filled in. A second run reuses what is already
# installed and correct. Exit codes follow greenzone's: 2 the bundle does not verify, 3 bad input,
# 4 this machine lacks something (architecture, tools, disk space), 130 interrupted.
set -eu
umask 022

say() { printf 'greenzone bootstrap: %s\n' "$*" >&2; }
die() {
    code=$1 message=$2
    printf 'greenzone bootstrap: error: %s\n' "$message" >&2
    [ $# -ge 3 ] && printf 'greenzone bootstrap: fix: %s\n' "$3" >&2
    exit "$code"
}
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

BUNDLE=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
KEY=""
PREFIX=${GREENZONE_PREFIX:-/opt/greenzone}
BIN_DIR=${GREENZONE_BIN_DIR:-/usr/local/bin}
START=1
while [ $# -gt 0 ]; do
    case $1 in
        --key) [ $# -ge 2 ] || die 3 "--key needs a file" "e.g. --key /media/usb/greenzone-bundle.pub"; KEY=$2; shift 2 ;;
        --key=*) KEY=${1#--key=}; shift ;;
        --prefix) [ $# -ge 2 ] || die 3 "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --bin-dir) [ $# -ge 2 ] || die 3 "--bin-dir needs a directory"; BIN_DIR=$2; shift 2 ;;
        --bin-dir=*) BIN_DIR=${1#--bin-dir=}; shift ;;
        --no-start) START=0; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) break ;;  # the rest is for `greenzone install`
    esac
done
[ -n "$KEY" ] || KEY="$BUNDLE.pub"
case $PREFIX in /*) ;; *) die 3 "--prefix must be an absolute path, got '$PREFIX'" ;; esac

for tool in uname tar gzip sha256sum openssl base64 awk df mkdir mv ln rm cut; do
    command -v "$tool" >/dev/null 2>&1 || die 4 "'$tool' is not installed" "install it from the OS media (it is part of every supported OS's base)"
done
case $(openssl version 2>/dev/null) in
    "OpenSSL 3"* | "OpenSSL 4"*) ;;
    *) die 4 "OpenSSL 3 or later is needed to check the ed25519 signature; this machine has: $(openssl version 2>&1 || true)" "use a supported OS (Ubuntu 22.04+, RHEL 9+, Debian 12+)" ;;
esac

MANIFEST="$BUNDLE/bundle.yaml"
SIGNATURE="$BUNDLE/bundle.yaml.sig"
[ -f "$MANIFEST" ] || die 3 "$BUNDLE holds no bundle.yaml" "run this script from the bundle directory on the drive (copy the whole directory)"
[ -f "$KEY" ] || die 3 "the vendor's public key $KEY does not exist" "copy the vendor's .pub file beside the bundle directory, or give --key FILE"
[ -f "$SIGNATURE" ] || die 2 "the bundle is unsigned ($SIGNATURE is missing)" "ask the vendor for a signed bundle; never install an unsigned one"

CHILD=""
# Long steps run in the background and are waited for: a shell runs a trap only after the foreground
# command ends, so a SIGTERM would otherwise wait for the whole pip install before cleaning up.
run() {
    "$@" &
    CHILD=$!
    status=0
    wait "$CHILD" || status=$?
    CHILD=""
    return "$status"
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenzone-bootstrap.XXXXXX" 2>/dev/null) \
    || die 4 "cannot create a temporary directory under ${TMPDIR:-/tmp}" "point TMPDIR at a writable directory"
PARTIAL=""
cleanup() { rm -rf "$WORK"; [ -z "$PARTIAL" ] || rm -rf "$PARTIAL"; }
trap cleanup EXIT
interrupted() {
    trap '' INT TERM HUP  # a second signal must not cut the cleanup short
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
    cleanup
    trap - EXIT
    printf 'greenzone bootstrap: interrupted; nothing half-made was kept, run it again to continue\n' >&2
    exit 130
}
trap interrupted INT TERM HUP

# 1. The signature: nothing from the drive runs before the manifest is known to be the vendor's.
base64 -d <"$SIGNATURE" >"$WORK/signature" 2>/dev/null || die 2 "$SIGNATURE is not a base64 signature" "copy the bundle again from the vendor"
if ! openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in "$MANIFEST" -sigfile "$WORK/signature" >/dev/null 2>&1; then
    die 2 "the signature of $MANIFEST does not match the key $KEY" "the bundle was changed after signing or the key is not the vendor's: get both again from the vendor"
fi
say "signature of $MANIFEST verified with $KEY"

# 2. What the manifest says each file is (bundle.yaml lists `- path:`, `size:`, `sha256:` per file).
awk '
    /^- path: / { path = substr($0, 9); gsub(/^["'\'']|["'\'']$/, "", path) }
    /^  size: / { size = $2 }
    /^  sha256: / { print $2 "  " path "  " size }
' "$MANIFEST" >"$WORK/listed"
expected() { awk -v p="$1" '$2 == p { print $1; exit }' "$WORK/listed"; }

machine=$(uname -m)
RUNTIME=$(awk -v m="$machine" '$2 ~ "^runtime/" && index($2, "-" m "-") { print $2; exit }' "$WORK/listed")
if [ -z "$RUNTIME" ]; then
    built_for=$(awk '$2 ~ "^runtime/" { print $2 }' "$WORK/listed" | tr '\n' ' ')
    [ -n "$built_for" ] || die 3 "this bundle carries no Python runtime" "use a bundle built by greenzone 0.2 or later"
    die 4 "this bundle is for another architecture ($built_for); this machine is $machine" "ask the vendor for a bundle built for $machine"
fi
REQUIREMENTS=wheels/requirements.txt
OWN_WHEEL=$(awk '$2 ~ "^wheels/greenzone-.*\\.whl$" { print $2; exit }' "$WORK/listed")
PIP_WHEEL=$(awk '$2 ~ "^wheels/pip-.*\\.whl$" { print $2; exit }' "$WORK/listed")
[ -n "$OWN_WHEEL" ] && [ -n "$PIP_WHEEL" ] && [ -n "$(expected "$REQUIREMENTS")" ] \
    || die 3 "the bundle lacks the installer's wheels (wheels/greenzone-*.whl, pip and requirements.txt)" "rebuild the bundle with the lock's \`wheels:\` section"

# 3. The bytes of everything used below, before any of it runs.
awk '$2 ~ "^wheels/" || $2 == "'"$RUNTIME"'" { print $1 "  " $2 }' "$WORK/listed" >"$WORK/used.sha256"
if ! (cd "$BUNDLE" && sha256sum --quiet --strict -c "$WORK/used.sha256") >"$WORK/sums.log" 2>&1; then
    bad=$(grep -v ': OK$' "$WORK/sums.log" | head -n 3 | tr '\n' ' ')
    die 2 "files on the drive do not match the signed manifest: $bad" "copy the bundle again; \`greenzone bundle verify\` names every damaged file"
fi
for wheel in "$BUNDLE"/wheels/*.whl; do
    [ -n "$(expected "wheels/${wheel##*/}")" ] || die 2 "wheels/${wheel##*/} is not in the signed manifest" "remove it; a bundle holds only what its manifest lists"
done
say "runtime and $(grep -c '\.whl$' "$WORK/used.sha256") wheels match the signed manifest"

# 4. Room for the runtime (about 4 times its archive) and the environment (about 3 times the wheels).
needed_kib=$(awk '$2 ~ "^wheels/" { w += $3 } $2 == "'"$RUNTIME"'" { r += $3 } END { printf "%d", (r * 4 + w * 3) / 1024 + 65536 }' "$WORK/listed")
probe=$PREFIX
while [ ! -d "$probe" ]; do probe=$(dirname -- "$probe"); done
free_kib=$(df -Pk "$probe" | awk 'NR == 2 { print $4 }')
[ "$free_kib" -ge "$needed_kib" ] || die 4 "not enough free space under $probe: $((free_kib / 1024)) MiB free, $((needed_kib / 1024)) MiB needed" "free space there, or give another --prefix"

# 5. The runtime, once per runtime archive; an unfinished unpack (no marker) is redone.
mkdir -p "$PREFIX/runtimes" "$PREFIX/venvs" || die 4 "cannot create $PREFIX" "run as root, or give a writable --prefix"
runtime_id=$(expected "$RUNTIME" | cut -c1-16)
RUNTIME_DIR="$PREFIX/runtimes/$runtime_id"
if [ ! -f "$RUNTIME_DIR/.complete" ]; then
    PARTIAL="$PREFIX/runtimes/.$runtime_id.partial"
    rm -rf "$PARTIAL" "$RUNTIME_DIR"
    mkdir -p "$PARTIAL"
    run tar -xzf "$BUNDLE/$RUNTIME" -C "$PARTIAL" || die 4 "cannot unpack $RUNTIME into $PREFIX" "check the free space and permissions there"
    [ -x "$PARTIAL/python/bin/python3" ] || die 2 "$RUNTIME holds no python/bin/python3" "the runtime archive is not a python-build-standalone install_only build; rebuild the bundle"
    : >"$PARTIAL/.complete"
    mv "$PARTIAL" "$RUNTIME_DIR"
    PARTIAL=""
    say "Python runtime unpacked into $RUNTIME_DIR"
else
    say "Python runtime already in $RUNTIME_DIR (kept)"
fi
PYTHON="$RUNTIME_DIR/python/bin/python3"
"$PYTHON" -c 'import sys' 2>/dev/null || die 4 "the bundle's Python does not run on this machine: $("$PYTHON" -c 'import sys' 2>&1 | head -n 1)" "this OS's glibc may be older than the runtime needs (2.17); use a supported OS"

# 6. The environment, once per bundle manifest: venvs are not relocatable, so it is built in place
#    and marked complete last; an unfinished one is removed and rebuilt.
bundle_id=$(sha256sum "$MANIFEST" | cut -c1-16)
VENV="$PREFIX/venvs/$bundle_id"
if [ ! -f "$VENV/.complete" ]; then
    PARTIAL=$VENV
    rm -rf "$VENV"
    run "$PYTHON" -m venv --without-pip "$VENV" || die 4 "cannot create the environment $VENV" "check the free space and permissions under $PREFIX"
    # pip runs from its own (hash-checked) wheel: the runtime's ensurepip is never needed.
    if ! run "$VENV/bin/python" "$BUNDLE/$PIP_WHEEL/pip" install --quiet --no-index --no-cache-dir \
        --disable-pip-version-check --only-binary=:all: --require-hashes \
        --find-links "$BUNDLE/wheels" -r "$BUNDLE/$REQUIREMENTS" >"$WORK/pip.log" 2>&1; then
        tail -n 5 "$WORK/pip.log" >&2
        die 4 "installing the bundle's wheels failed (above)" "check the free space under $PREFIX; a wheel missing from the bundle means it was built wrongly"
    fi
    if ! run "$VENV/bin/python" -m pip install --quiet --no-index --no-cache-dir --disable-pip-version-check \
        --no-deps "$BUNDLE/$OWN_WHEEL" >"$WORK/pip.log" 2>&1; then
        tail -n 5 "$WORK/pip.log" >&2
        die 4 "installing $OWN_WHEEL failed (above)" "check the free space under $PREFIX"
    fi
    : >"$VENV/.complete"
    PARTIAL=""
    say "greenzone installed into $VENV"
else
    say "greenzone already installed from this bundle in $VENV (kept)"
fi

# 7. `current` points at this bundle's environment (replaced in one rename); greenzone on the PATH.
ln -sfn "venvs/$bundle_id" "$PREFIX/current.new"
mv -fT "$PREFIX/current.new" "$PREFIX/current"
mkdir -p "$BIN_DIR" && ln -sfn "$PREFIX/current/bin/greenzone" "$BIN_DIR/greenzone" \
    || die 4 "cannot link greenzone into $BIN_DIR" "give a writable --bin-dir, or run as root"
say "$("$PREFIX/current/bin/greenzone" --version) is ready: $BIN_DIR/greenzone"

if [ "$START" -eq 1 ]; then
    trap - EXIT INT TERM HUP
    rm -rf "$WORK"
    exec "$PREFIX/current/bin/greenzone" install --bundle "$BUNDLE" --key "$KEY" "$@"
fi
