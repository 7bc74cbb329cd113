#!/bin/sh
# ucontainerd against Debian's containerd 1.6, side by side: cold start to the
# first Version answer, RSS and threads at rest, unary calls/s with p50/p99 on
# 1 and 8 connections, daemon CPU per 10k calls. See docs/benchmarks.md.
#
# usage (as root): sh bench/run.sh [--ucd PATH] [--build-dir DIR] [--containerd PATH]
#                                  [--what grpc,snapshots,content] [--starts N] [--rounds N] [--calls N]
#                                  [--warmup N] [--rest-delay S] [--json FILE]
#   --ucd PATH       benchmark this ucontainerd binary instead of building one
#   --build-dir DIR  where to build ucontainerd (RelWithDebInfo, no tests; default <repo>/build-bench)
#   --what LIST      which benchmarks: grpc (bench/bench.py), snapshots (bench/snapshots.py:
#                    Prepare/Commit/Remove on overlayfs), content (bench/content_ingest.py:
#                    `ctr content ingest` of 256 MiB); default all three
# The other options go to bench/bench.py (python3 bench/bench.py --help).
# Not part of the test suite (no ctest). Takes about a minute after the build.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cmdline="sh $0${*:+ $*}"
ucd=""
build="$top/build-bench"
containerd=/usr/bin/containerd
what=grpc,snapshots,content

# Pick out our options; the rest rotate to the end of "$@" for bench.py.
n=$#
while [ "$n" -gt 0 ]; do
	a=$1
	shift
	n=$((n - 1))
	case $a in
	--ucd | --build-dir | --containerd | --what)
		[ "$n" -gt 0 ] || { echo "run.sh: $a needs a value" >&2; exit 2; }
		v=$1
		shift
		n=$((n - 1))
		case $a in
		--ucd) ucd=$v ;;
		--build-dir) build=$v ;;
		--containerd) containerd=$v ;;
		--what) what=$v ;;
		esac
		;;
	--ucd=*) ucd=${a#*=} ;;
	--build-dir=*) build=${a#*=} ;;
	--containerd=*) containerd=${a#*=} ;;
	--what=*) what=${a#*=} ;;
	-h | --help)
		sed -n '2,12s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) set -- "$@" "$a" ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: run as root (both daemons need it)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/ucd-bench-run.XXXXXX)
py=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	# bench.py stops its daemons (by PID) and removes their directories itself,
	# on errors and on SIGTERM too; here only wait for it and drop our files.
	if [ -n "$py" ]; then
		kill -TERM "$py" 2>/dev/null || true
		wait "$py" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Packages: the build dependencies (scripts/deps.sh, a no-op when present),
# Debian's containerd and python3.
if [ -z "$ucd" ] && [ -f "$top/scripts/deps.sh" ]; then
	sh "$top/scripts/deps.sh"
fi
need=""
[ -x "$containerd" ] || [ "$containerd" != /usr/bin/containerd ] || need="$need containerd"
[ -x /usr/bin/python3 ] || need="$need python3"
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
pkg-config --exists libnghttp2 2>/dev/null || need="$need pkg-config libnghttp2-dev"
if [ -n "$need" ]; then
	echo "run.sh: installing$need" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >&2
fi
[ -x "$containerd" ] || { echo "run.sh: no containerd at $containerd" >&2; exit 1; }

if [ -z "$ucd" ]; then
	echo "# building ucontainerd (RelWithDebInfo) in $build" >&2
	if ! { cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUCD_BUILD_TESTS=OFF &&
		cmake --build "$build" -j"$(nproc)"; } >"$tmp/build.log" 2>&1; then
		tail -n 40 "$tmp/build.log" >&2
		echo "run.sh: building ucontainerd failed (full log above, last 40 lines)" >&2
		exit 1
	fi
	ucd="$build/bin/ucontainerd"
fi
[ -x "$ucd" ] || { echo "run.sh: no ucontainerd binary at $ucd" >&2; exit 1; }
case $ucd in /*) ;; *) ucd="$(pwd)/$ucd" ;; esac

echo "# compiling bench/grpc_load.c" >&2
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -Wno-unused-parameter -o "$tmp/grpc_load" "$top/bench/grpc_load.c" \
	$(pkg-config --cflags --libs libnghttp2)

# In the background so that a SIGTERM to this script reaches bench.py at once
# (the trap above forwards it); bench.py cleans up on SIGTERM/SIGINT/SIGHUP.
rc=0
case ",$what," in *,grpc,*)
	/usr/bin/python3 "$top/bench/bench.py" --ucd "$ucd" --containerd "$containerd" \
		--grpc-load "$tmp/grpc_load" --cmdline "$cmdline" "$@" &
	py=$!
	wait "$py" || rc=$?
	py=""
	;;
esac
case ",$what," in *,snapshots,*)
	echo "" && echo "# Snapshots service (bench/snapshots.py)"
	/usr/bin/python3 "$top/bench/snapshots.py" --ucd "$ucd" --containerd "$containerd" --cmdline "$cmdline" &
	py=$!
	wait "$py" || rc=$?
	py=""
	;;
esac
case ",$what," in *,content,*)
	echo "" && echo "# Content ingest (bench/content_ingest.py)"
	/usr/bin/python3 "$top/bench/content_ingest.py" --ucd "$ucd" --containerd "$containerd" --cmdline "$cmdline" &
	py=$!
	wait "$py" || rc=$?
	py=""
	;;
esac
exit "$rc"
