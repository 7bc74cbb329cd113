#!/bin/sh
# Builds ucontainerd and runs every test: the wire-contract check against the
# upstream protos, then the whole ctest suite (unit tests, plugin-loader
# fixtures, integration tests that drive the real daemon with Debian's ctr and
# a python3-grpcio client) twice: in a normal build and in an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/scripts/deps.sh" --test
jobs=$(nproc)

echo "== protocheck: our protos against ../shared/reference"
sh "$top/scripts/protocheck.sh"

for variant in build build-asan; do
	flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo"
	[ "$variant" = build-asan ] && flags="-DCMAKE_BUILD_TYPE=Debug -DUCD_SANITIZE=ON"
	echo "== $variant: configure and build"
	cmake -S "$top" -B "$top/$variant" $flags >/dev/null
	cmake --build "$top/$variant" -j"$jobs"
	echo "== $variant: ctest"
	# ASan: a leak or error anywhere fails the test that caused it.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir "$top/$variant" --output-on-failure -j"$jobs" --timeout 300
done
echo "== all tests passed"
