#!/bin/sh
# Installs the Debian 12 packages that building, running and testing ucontainerd need.
# Idempotent: packages already present are left alone, so a warm machine pays nothing.
set -eu

# Build: compiler toolchain, the libraries DESIGN.md names, and the protobuf compilers.
BUILD="build-essential cmake pkg-config libuv1-dev libnghttp2-dev libprotobuf-c-dev
protobuf-c-compiler protobuf-compiler libprotobuf-dev libssl-dev libsqlite3-dev
libjson-c-dev libarchive-dev zlib1g-dev"
# Running: the OCI runtime the default config's shim drives (crun is optional:
# `ctr run --runc-binary /usr/bin/crun`).
RUN="runc"
# Tests: Debian's ctr (client only), python3-grpcio for calls ctr has no command for,
# the upstream toml-test corpus, the runtimes and registry the image and
# container tests drive, a static busybox to build test images from, and
# xfsprogs for the overlayfs snapshotter's test on xfs without d_type;
# the fuzz targets: clang with its sanitizer and libFuzzer runtimes
# (libclang-rt-14-dev has libclang_rt.fuzzer, .asan, .ubsan) and
# llvm-symbolizer (llvm-14) for readable stack traces.
TEST="containerd python3-grpcio python3-protobuf golang-github-burntsushi-toml-dev
runc crun docker-registry procps python3-hpack busybox-static xfsprogs
clang libclang-rt-14-dev llvm-14"

want="$BUILD $RUN"
[ "${1:-}" = "--test" ] && want="$BUILD $RUN $TEST"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
