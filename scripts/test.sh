#!/bin/sh
# Builds ucontainerd and runs every test: the wire-contract check against the
# upstream protos, then the whole ctest suite (unit tests, plugin-loader
# fixtures, integration tests that drive the real daemon with Debian's ctr and
# a python3-grpcio client) twice: in a normal build and in an
# AddressSanitizer + UndefinedBehaviorSanitizer build; then every libFuzzer
# target, built with clang in a third build (build-fuzz), for a short run on
# its corpus (UCD_FUZZ_SECONDS each, default 20; 0 skips them): a crash, a
# leak or a sanitizer report fails the script (docs/fuzzing.md).
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
fuzz_seconds=${UCD_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" -gt 0 ]; then
	echo "== build-fuzz: configure and build the fuzz targets (clang, libFuzzer)"
	CC=clang cmake -S "$top" -B "$top/build-fuzz" -DUCD_FUZZ=ON -DUCD_BUILD_TESTS=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build-fuzz" -j"$jobs" --target fuzz
	findings=$(mktemp -d /tmp/ucd-fuzz-findings-XXXXXX)
	echo "== build-fuzz: each target ${fuzz_seconds}s on its corpus"
	# A fixed seed: a failure here reproduces with the same command.
	if ! FUZZ_SEED=1 FUZZ_WORK="$findings/work" sh "$top/scripts/fuzz.sh" all "$fuzz_seconds" "$findings"; then
		echo "== fuzzing found something: inputs and logs in $findings"
		exit 1
	fi
	rm -rf "$findings"
fi
echo "== all tests passed"
