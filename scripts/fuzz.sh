#!/bin/sh
# Runs one libFuzzer target (docs/fuzzing.md) for a while:
#
#   sh scripts/fuzz.sh TARGET SECONDS [FINDINGS_DIR]
#
# TARGET is a name of tests/fuzz/fuzz_<name>.c (grpc_conn, proto_requests,
# task_requests, toml, config, filters, ttrpc, layer_apply, shim_request) or
# `all`.
# Builds build-fuzz (clang, -DUCD_FUZZ=ON) when needed, then runs the target
# at nice 19 on its corpus, tests/fuzz/corpus/<name>/, which it only reads:
# new inputs go to a scratch directory (kept, and named at the end, so that
# they can be merged into the corpus with -merge=1), crashes, leaks and
# timeouts to FINDINGS_DIR (default: fuzz-findings/<name>-<date>/ here).
#
# Environment:
#   FUZZ_BUILD=dir     the fuzz build directory (default <top>/build-fuzz)
#   FUZZ_JOBS=n        n worker processes at once (libFuzzer -fork=n); the
#                      CPU time is then n x SECONDS
#   FUZZ_SEED=n        a fixed seed (the CI runs use 1)
#   FUZZ_WORK=dir      where the scratch corpus goes (default: mktemp; with
#                      `all`, one subdirectory per target)
#   FUZZ_ARGS="..."    more libFuzzer flags
#   FUZZ_CPU_SECONDS=n run again (on the same new inputs) until the runs'
#                      CPU seconds add up to n: the issue's CPU-hour is
#                      FUZZ_CPU_SECONDS=3600 (SECONDS is then the first run's)
# Exit status: 0 when the run found nothing, non-zero otherwise.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ]; then
	echo "usage: $0 TARGET SECONDS [FINDINGS_DIR]" >&2
	exit 2
fi
target=$1
seconds=$2
build=${FUZZ_BUILD:-$top/build-fuzz}
targets="toml config filters ttrpc grpc_conn proto_requests task_requests layer_apply shim_request"

if [ "$target" = all ]; then
	rc=0
	for t in $targets; do
		FUZZ_WORK=${FUZZ_WORK:+$FUZZ_WORK/$t} sh "$0" "$t" "$seconds" ${3:+"$3/$t"} || rc=1
	done
	exit $rc
fi
case " $targets " in
*" $target "*) ;;
*)
	echo "fuzz.sh: unknown target $target (known: $targets)" >&2
	exit 2
	;;
esac

if [ ! -f "$build/CMakeCache.txt" ]; then
	CC=clang cmake -S "$top" -B "$build" -DUCD_FUZZ=ON -DUCD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
nice -n 19 cmake --build "$build" -j"$(nproc)" --target "fuzz_$target" >/dev/null
build=$(cd "$build" && pwd)

findings=${3:-$PWD/fuzz-findings/$target-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$findings"
findings=$(cd "$findings" && pwd)
work=${FUZZ_WORK:-$(mktemp -d /tmp/ucd-fuzz-run-XXXXXX)}
mkdir -p "$work/corpus" "$work/tmp" "$work/cwd"
work=$(cd "$work" && pwd)
# the target's own temporary files (its sockets, database, scratch roots)
# go under the work dir, and leave with it even after a crash
export TMPDIR="$work/tmp"

corpus="$top/tests/fuzz/corpus/$target"
extra=""
toml_test=/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests
if [ "$target" = toml ] && [ -d "$toml_test" ]; then
	extra="$toml_test/valid $toml_test/invalid"   # Debian's golang-github-burntsushi-toml-dev
fi
dict=""
[ -f "$top/tests/fuzz/dict/$target.dict" ] && dict="-dict=$top/tests/fuzz/dict/$target.dict"
seed=""
[ -n "${FUZZ_SEED:-}" ] && seed="-seed=$FUZZ_SEED"
# Inputs beyond these sizes make each run slow without reaching more code
# (a connection's worth of requests is enough; a layer of a few entries).
maxlen=""
case $target in
grpc_conn | proto_requests | task_requests | shim_request | ttrpc) maxlen="-max_len=65536" ;;
layer_apply) maxlen="-max_len=262144" ;;
esac
fork=""
[ -n "${FUZZ_JOBS:-}" ] && fork="-fork=$FUZZ_JOBS -ignore_crashes=0"

# CPU seconds (user + system) of this shell's finished children so far, from
# `times` run by this shell itself (in a $(...) subshell it would see none)
cpu_children() {
	sed -n 2p "$1" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

# The runs: one of SECONDS, or with FUZZ_CPU_SECONDS, as many as it takes
# (each as long as the CPU seconds still missing, divided among the jobs)
# for their CPU seconds to add up to that much: a run shares the machine.
goal=${FUZZ_CPU_SECONDS:-0}
jobs=${FUZZ_JOBS:-1}
total=0
round=0
: >"$findings/log.txt"
while :; do
	round=$((round + 1))
	echo "== fuzz_$target: ${seconds}s, corpus $corpus, new inputs in $work/corpus, findings in $findings"
	times >"$work/times0"
	set +e
	# detect_leaks: LeakSanitizer after every input that allocated more
	# than it freed; -timeout: an input taking 25 s is a finding (a hang).
	# The working directory is an empty one of the run's own: layer_apply
	# checks that a layer leaves the current directory as it was, and a
	# busy one (where logs of other runs grow) would be a false finding.
	cd "$work/cwd"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		nice -n 19 "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$findings/" $dict $seed $maxlen $fork ${FUZZ_ARGS:-} \
		"$work/corpus" "$corpus" $extra >>"$findings/log.txt" 2>&1
	rc=$?
	set -e
	cd /
	times >"$work/times1"
	cpu=$(($(cpu_children "$work/times1") - $(cpu_children "$work/times0")))
	total=$((total + cpu))
	echo "stat::cpu_seconds: $cpu" | tee -a "$findings/log.txt"
	rm -f "$work/times0" "$work/times1"
	[ $rc -eq 0 ] && [ "$total" -lt "$goal" ] || break
	seconds=$(((goal - total + jobs - 1) / jobs + 5))
done
[ "$round" -gt 1 ] && echo "stat::cpu_seconds_total: $total in $round runs" | tee -a "$findings/log.txt"
grep -E "^(stat::|Done )" "$findings/log.txt" | grep -v cpu_seconds || true
if [ $rc -ne 0 ] || ls "$findings" | grep -qE "^(crash|leak|timeout|oom|slow-unit)-"; then
	echo "fuzz_$target: FINDINGS (exit $rc):"
	ls "$findings" | grep -vE "^log.txt$" | sed 's/^/  /'
	grep -E "ERROR|SUMMARY|fuzz: " "$findings/log.txt" | head -20
	rc=1
else
	echo "fuzz_$target: no findings ($(ls "$work/corpus" | wc -l) new inputs kept in $work/corpus;"
	echo "  to keep them: $build/fuzz/fuzz_$target -merge=1 $corpus $work/corpus)"
	rm -rf "$work/tmp" "$work/cwd"
	[ -n "${FUZZ_WORK:-}" ] || [ "$(ls "$work/corpus" | wc -l)" -gt 0 ] || rm -rf "$work"
	rmdir "$findings" 2>/dev/null || true
fi
exit $rc
