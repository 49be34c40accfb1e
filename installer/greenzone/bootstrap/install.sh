#!/bin/sh
# Greenzone bootstrap: from the drive to the installer with nothing but what the supported Linux
# systems have (a POSIX shell, coreutils, tar, gzip, awk and OpenSSL 3). No Python, no internet, no
# package manager: the bundle carries the Python runtime and every wheel.
#
#   sh /media/usb/greenzone-bundle/install.sh [--key FILE.pub] [--key-sha256 HEX] [--prefix DIR]
#        [--bin-dir DIR] [--no-start] [-- ARGS for `greenzone install`...]
#
# It copies what it will use (the manifest, its signature, the runtime, the wheels) off the drive
# into a private directory, checks the manifest's ed25519 signature with the vendor key (default:
# the .pub file beside the bundle; --key-sha256 pins its fingerprint, told to you by the vendor out
# of band) and every copy's sha256 against the manifest, and only then uses those copies: it unpacks
# the runtime under PREFIX (/opt/greenzone), makes a virtual environment with it (the machine's own
# Python, if any, is never used), installs the wheels with `--no-index --require-hashes`, links
# `greenzone` into BIN_DIR (/usr/local/bin) and starts `greenzone install` with bundle and key filled
# in. A second run reuses what is installed and correct. Exit codes as greenzone's: 2 the bundle does
# not verify, 3 bad input, 4 this machine lacks something, 130 interrupted.
set -eu
umask 022

say() { printf 'greenzone bootstrap: %s\n' "$*" >&2; }
die() {
    code=$1 message=$2
    printf 'greenzone bootstrap: error: %s\n' "$message" >&2
    [ $# -ge 3 ] && printf 'greenzone bootstrap: fix: %s\n' "$3" >&2
    exit "$code"
}
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//'; }

BUNDLE=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
KEY=""
KEY_SHA256=${GREENZONE_KEY_SHA256:-}
PREFIX=${GREENZONE_PREFIX:-/opt/greenzone}
BIN_DIR=${GREENZONE_BIN_DIR:-/usr/local/bin}
START=1
while [ $# -gt 0 ]; do
    case $1 in
        --key) [ $# -ge 2 ] || die 3 "--key needs a file" "e.g. --key /media/usb/greenzone-bundle.pub"; KEY=$2; shift 2 ;;
        --key=*) KEY=${1#--key=}; shift ;;
        --key-sha256) [ $# -ge 2 ] || die 3 "--key-sha256 needs the key's fingerprint"; KEY_SHA256=$2; shift 2 ;;
        --key-sha256=*) KEY_SHA256=${1#--key-sha256=}; shift ;;
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
for argument in "$@"; do
    case $argument in
        --key | --key=* | --key-sha256* | --prefix* | --bin-dir* | --no-start)
            die 3 "$argument comes after an argument for \`greenzone install\`" "put the bootstrap's own options first: install.sh [--prefix DIR ...] -- [install arguments]" ;;
    esac
done
[ "$START" -eq 1 ] || [ $# -eq 0 ] || die 3 "with --no-start, the arguments for \`greenzone install\` ($*) would be ignored" "drop them, or drop --no-start"
[ -n "$KEY" ] || KEY="$BUNDLE.pub"
case $PREFIX in /*) ;; *) die 3 "--prefix must be an absolute path, got '$PREFIX'" ;; esac
case $BIN_DIR in /*) ;; *) die 3 "--bin-dir must be an absolute path, got '$BIN_DIR'" ;; esac

for tool in uname tar gzip sha256sum base64 awk df mkdir mv ln rm cut cp sync; do
    command -v "$tool" >/dev/null 2>&1 || die 4 "'$tool' is not installed" "install it from the OS media"
done
# OpenSSL 3 verifies ed25519 signatures of raw data (`pkeyutl -rawin`); RHEL 8 and SLES 15 carry it
# beside their 1.1.1 as `openssl3` (EPEL's openssl3; SLES's openssl-3).
OPENSSL=""
for candidate in openssl openssl3; do
    case $("$candidate" version 2>/dev/null || true) in
        "OpenSSL 3"* | "OpenSSL 4"*) OPENSSL=$candidate; break ;;
    esac
done
[ -n "$OPENSSL" ] || die 4 "OpenSSL 3 is needed to check the bundle's ed25519 signature; this machine has: $(openssl version 2>&1 || echo none)" \
    "Ubuntu 22.04+, Debian 12+ and RHEL/Rocky 9+ have it; on RHEL/Rocky 8 install the openssl3 package (EPEL), on SLES 15 openssl-3"

[ -f "$BUNDLE/bundle.yaml" ] || die 3 "$BUNDLE holds no bundle.yaml" "run this script from the bundle directory on the drive (copy the whole directory)"
[ -f "$KEY" ] || die 3 "the vendor's public key $KEY does not exist" "copy the vendor's .pub file beside the bundle directory, or give --key FILE"
[ -f "$BUNDLE/bundle.yaml.sig" ] || die 2 "the bundle is unsigned ($BUNDLE/bundle.yaml.sig is missing)" "ask the vendor for a signed bundle; never install an unsigned one"

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
WORK=$(CDPATH='' cd -- "$WORK" && pwd -P)
PARTIAL=""
LOCKED=""
cleanup() {
    rm -rf "$WORK"
    [ -z "$PARTIAL" ] || rm -rf "$PARTIAL"
    [ -z "$LOCKED" ] || rmdir "$LOCKED" 2>/dev/null || true
}
interrupted() {
    trap '' INT TERM HUP  # a second signal must not cut the cleanup short
    # Every child of this shell, with theirs: the one `run` started even in the instant before `$!`
    # was read, and whatever it started (pgrep/pkill are procps, in every supported OS's base).
    if command -v pgrep >/dev/null 2>&1; then
        for pid in $(pgrep -P $$ 2>/dev/null); do
            pkill -TERM -P "$pid" 2>/dev/null || true
            kill "$pid" 2>/dev/null || true
        done
    elif [ -n "$CHILD" ]; then
        kill "$CHILD" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    cleanup
    trap - EXIT
    printf 'greenzone bootstrap: interrupted; nothing half-made was kept, run it again to continue\n' >&2
    exit 130
}
trap cleanup EXIT
trap interrupted INT TERM HUP

# 1. The key, and the signature of a private copy of the manifest: nothing read from the drive after
#    this point is trusted unless it is a copy checked against this manifest.
"$OPENSSL" pkey -pubin -in "$KEY" -noout 2>/dev/null \
    || die 3 "$KEY is not a PEM public key" "use the .pub file the vendor gave (\`greenzone bundle keygen\` writes it); an OpenSSH or private key will not do"
fingerprint=$("$OPENSSL" pkey -pubin -in "$KEY" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -n "$KEY_SHA256" ] && [ "$KEY_SHA256" != "$fingerprint" ]; then
    die 2 "the key $KEY has fingerprint $fingerprint, not the $KEY_SHA256 you were given" "the key on the drive is not the vendor's: get the drive again"
fi
cp "$BUNDLE/bundle.yaml" "$WORK/bundle.yaml" && cp "$BUNDLE/bundle.yaml.sig" "$WORK/bundle.yaml.sig" \
    || die 4 "cannot copy the manifest into $WORK" "point TMPDIR at a directory with free space"
base64 -d <"$WORK/bundle.yaml.sig" >"$WORK/signature" 2>/dev/null || die 2 "bundle.yaml.sig is not a base64 signature" "copy the bundle again from the vendor"
if ! "$OPENSSL" pkeyutl -verify -pubin -inkey "$KEY" -rawin -in "$WORK/bundle.yaml" -sigfile "$WORK/signature" >"$WORK/openssl.log" 2>&1; then
    if grep -qi "signature verification failure" "$WORK/openssl.log"; then
        die 2 "the signature of bundle.yaml does not match the key $KEY (fingerprint $fingerprint)" "the bundle was changed after signing or the key is not the vendor's: get both again from the vendor"
    fi
    die 4 "OpenSSL could not check the signature: $(head -n 2 "$WORK/openssl.log" | tr '\n' ' ')" "this OpenSSL may refuse ed25519 (a FIPS policy?); check on another machine with \`greenzone bundle verify\`"
fi
say "signature of bundle.yaml verified with $KEY (key sha256 $fingerprint)"

# 2. What the signed manifest says each file is (PyYAML writes `- path:`, `size:`, `sha256:`).
awk '
    /^- path: / { path = substr($0, 9); gsub(/^["'\'']|["'\'']$/, "", path) }
    /^  size: / { size = $2 }
    /^  sha256: / { print $2 "  " path "  " size }
' "$WORK/bundle.yaml" >"$WORK/listed"
expected() { P=$1 awk '$2 == ENVIRON["P"] { print $1; exit }' "$WORK/listed"; }

machine=$(uname -m)
RUNTIME=$(M=$machine awk '$2 ~ "^runtime/" && index($2, "-" ENVIRON["M"] "-") { print $2; exit }' "$WORK/listed")
if [ -z "$RUNTIME" ]; then
    built_for=$(awk '$2 ~ "^runtime/" { print $2 }' "$WORK/listed" | tr '\n' ' ')
    [ -n "$built_for" ] || die 3 "this bundle carries no Python runtime" "use a bundle built from a lock with a \`kind: runtime\` file"
    die 4 "this bundle is for another architecture ($built_for); this machine is $machine" "ask the vendor for a bundle built for $machine"
fi
one() {  # the single listed file matching a pattern: two would leave the choice to sort order
    found=$(P=$1 awk '$2 ~ ENVIRON["P"] { print $2 }' "$WORK/listed")
    [ "$(printf '%s\n' "$found" | grep -c .)" -eq 1 ] \
        || die 2 "the manifest lists $(printf '%s' "$found" | grep -c .) files matching $2, not one" "rebuild the bundle into an empty --out"
    printf '%s' "$found"
}
OWN_WHEEL=$(one '^wheels/greenzone-[^/]*\.whl$' "wheels/greenzone-*.whl")
PIP_WHEEL=$(one '^wheels/pip-[^/]*\.whl$' "wheels/pip-*.whl")
[ -n "$(expected wheels/requirements.txt)" ] || die 3 "the bundle lacks wheels/requirements.txt" "rebuild the bundle with the lock's \`wheels: requirements:\`"

# 3. Room for the copies, the runtime (about 4 times its archive) and the environment (about 3 times
#    the wheels); then the copies, checked.
kib() { awk -v f="$1" '$2 ~ "^wheels/" { w += $3 } $2 == ENVIRON["RUNTIME"] { r += $3 } END { printf "%d", (f == "copies" ? r + w : r * 4 + w * 3) / 1024 + 65536 }' "$WORK/listed"; }
free() { probe=$1; while [ ! -d "$probe" ]; do probe=$(dirname -- "$probe"); done; df -Pk "$probe" | awk 'NR == 2 { print $4 }'; }
export RUNTIME
[ "$(free "$WORK")" -ge "$(RUNTIME=$RUNTIME kib copies)" ] || die 4 "not enough free space in $WORK for a checked copy of the runtime and wheels" "point TMPDIR at a directory with $(( $(kib copies) / 1024 )) MiB free"
[ "$(free "$PREFIX")" -ge "$(kib install)" ] || die 4 "not enough free space under $PREFIX: $(( $(free "$PREFIX") / 1024 )) MiB free, $(( $(kib install) / 1024 )) MiB needed" "free space there, or give another --prefix"
mkdir -p "$WORK/runtime" "$WORK/wheels"
awk '$2 ~ "^wheels/" || $2 == ENVIRON["RUNTIME"] { print $2 }' "$WORK/listed" >"$WORK/used"
while IFS= read -r relative; do
    cp "$BUNDLE/$relative" "$WORK/$relative" 2>/dev/null || die 2 "$relative is listed in the manifest but cannot be read from the drive" "copy the bundle again; \`greenzone bundle verify\` names every damaged file"
done <"$WORK/used"
awk '$2 ~ "^wheels/" || $2 == ENVIRON["RUNTIME"] { print $1 "  " $2 }' "$WORK/listed" >"$WORK/used.sha256"
if ! (cd "$WORK" && sha256sum --quiet --strict -c used.sha256) >"$WORK/sums.log" 2>&1; then
    bad=$(grep -v ': OK$' "$WORK/sums.log" | grep -v '^sha256sum' | head -n 3 | tr '\n' ' ')
    die 2 "files on the drive do not match the signed manifest: $bad" "copy the bundle again; \`greenzone bundle verify\` names every damaged file"
fi
for wheel in "$BUNDLE"/wheels/*.whl; do
    [ -n "$(expected "wheels/${wheel##*/}")" ] || die 2 "wheels/${wheel##*/} is not in the signed manifest" "remove it; a bundle holds only what its manifest lists"
done
say "runtime and $(grep -c '\.whl$' "$WORK/used.sha256") wheels copied off the drive and matching the signed manifest"

# Only one bootstrap at a time under a prefix: two would remove each other's half-made directories.
mkdir -p "$PREFIX/runtimes" "$PREFIX/venvs" 2>/dev/null || die 4 "cannot create $PREFIX" "run as root, or give a writable --prefix"
mkdir "$PREFIX/.bootstrap.lock" 2>/dev/null || die 4 "another bootstrap is running under $PREFIX" "wait for it; if none runs (one was killed), remove $PREFIX/.bootstrap.lock"
LOCKED="$PREFIX/.bootstrap.lock"

# 4. The runtime, once per runtime archive; an unfinished unpack (no marker) is redone. Owners are
#    not taken from the archive (-o): root must not run a Python some build account owns.
runtime_id=$(expected "$RUNTIME" | cut -c1-16)
RUNTIME_DIR="$PREFIX/runtimes/$runtime_id"
if [ ! -f "$RUNTIME_DIR/.complete" ]; then
    PARTIAL="$PREFIX/runtimes/.$runtime_id.partial"
    rm -rf "$PARTIAL" "$RUNTIME_DIR"
    mkdir -p "$PARTIAL"
    run tar -xzof "$WORK/$RUNTIME" -C "$PARTIAL" || die 4 "cannot unpack $RUNTIME into $PREFIX" "check the free space and permissions there"
    [ -x "$PARTIAL/python/bin/python3" ] || die 2 "$RUNTIME holds no python/bin/python3" "the runtime archive is not a python-build-standalone install_only build; rebuild the bundle"
    sync
    : >"$PARTIAL/.complete"
    mv "$PARTIAL" "$RUNTIME_DIR"
    PARTIAL=""
    say "Python runtime unpacked into $RUNTIME_DIR"
else
    say "Python runtime already in $RUNTIME_DIR (kept)"
fi
PYTHON="$RUNTIME_DIR/python/bin/python3"
"$PYTHON" -I -c 'import sys' 2>/dev/null || die 4 "the bundle's Python does not run here: $("$PYTHON" -I -c 'import sys' 2>&1 | head -n 1)" \
    "if $PREFIX is on a noexec mount, give another --prefix; otherwise this OS's glibc is older than the runtime needs"

# 5. The environment, once per bundle manifest: venvs are not relocatable, so it is built in place
#    and marked complete last; an unfinished one is removed and rebuilt. Python runs isolated (-I)
#    and pip with --isolated: no PYTHONPATH, PIP_* variable or pip.conf of this machine applies.
bundle_id=$(sha256sum "$WORK/bundle.yaml" | cut -c1-16)
VENV="$PREFIX/venvs/$bundle_id"
if [ ! -f "$VENV/.complete" ]; then
    PARTIAL=$VENV
    rm -rf "$VENV"
    run "$PYTHON" -I -m venv --without-pip "$VENV" || die 4 "cannot create the environment $VENV" "check the free space and permissions under $PREFIX"
    # Greenzone's own wheel joins the hashed requirements with the manifest's hash for it, so one pip
    # run installs everything, each file checked, and a missing dependency is an error.
    cp "$WORK/wheels/requirements.txt" "$WORK/all-requirements.txt"
    printf 'greenzone @ file://%s --hash=sha256:%s\n' "$WORK/$OWN_WHEEL" "$(expected "$OWN_WHEEL")" >>"$WORK/all-requirements.txt"
    # pip runs from its own (checked) wheel: the runtime's ensurepip is never needed.
    if ! run "$VENV/bin/python" -I "$WORK/$PIP_WHEEL/pip" install --isolated --quiet \
        --no-index --no-cache-dir --disable-pip-version-check --only-binary=:all: --require-hashes \
        --find-links "$WORK/wheels" -r "$WORK/all-requirements.txt" >"$WORK/pip.log" 2>&1; then
        grep -i "error\|hash\|requirement" "$WORK/pip.log" | tail -n 12 >&2 || tail -n 12 "$WORK/pip.log" >&2
        die 4 "installing the bundle's wheels failed (above)" "check the free space under $PREFIX; a wheel missing from the bundle means it was built wrongly"
    fi
    "$VENV/bin/python" -I -m pip check --isolated >"$WORK/pip-check.log" 2>&1 \
        || die 2 "the installed packages do not fit together: $(head -n 3 "$WORK/pip-check.log" | tr '\n' ' ')" "the bundle was built wrongly; ask the vendor for a new one"
    "$VENV/bin/greenzone" --version >"$WORK/version" 2>&1 \
        || die 4 "the installed greenzone does not start: $(head -n 2 "$WORK/version" | tr '\n' ' ')" "check $VENV and the free space under $PREFIX"
    sync
    : >"$VENV/.complete"
    PARTIAL=""
    say "greenzone installed into $VENV"
else
    say "greenzone already installed from this bundle in $VENV (kept)"
fi

# 6. `current` points at this bundle's environment (replaced in one rename); greenzone on the PATH.
{ ln -sfn "venvs/$bundle_id" "$PREFIX/current.new" && mv -fT "$PREFIX/current.new" "$PREFIX/current"; } \
    || die 4 "cannot point $PREFIX/current at the new environment" "check the permissions under $PREFIX"
{ mkdir -p "$BIN_DIR" && ln -sfn "$PREFIX/current/bin/greenzone" "$BIN_DIR/greenzone"; } 2>/dev/null \
    || die 4 "cannot link greenzone into $BIN_DIR" "give a writable --bin-dir, or run as root"
version=$("$PREFIX/current/bin/greenzone" --version 2>&1) || die 4 "greenzone does not start: $version" "run the bootstrap again"
rmdir "$LOCKED" && LOCKED=""
say "$version is ready: $BIN_DIR/greenzone"

if [ "$START" -eq 1 ]; then
    trap - EXIT INT TERM HUP
    rm -rf "$WORK"
    exec "$PREFIX/current/bin/greenzone" install --bundle "$BUNDLE" --key "$KEY" "$@"
fi
