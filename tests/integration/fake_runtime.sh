#!/bin/sh
# Stand-in OCI runtimes for tests. Every command fails, logging its error as
# JSON to --log as crun and runc do (the shim reports that line):
#   fake_runtime.sh   the way crun fails on a hybrid cgroup layout;
#   argv_runtime.sh   (a link to this file) with the arguments it was given
#                     as the error, so a test reads them in ctr's message;
#   hang_runtime.sh   (a link) except that `create` never returns (until
#                     killed) and the other commands succeed;
#   slow_runtime.sh   (a link) runc itself, its `create` 2 s late.
name=$(basename "$0")
case $name in
slow_runtime.sh)
	for a in "$@"; do
		[ "$a" = create ] && sleep 2
	done
	exec runc "$@" ;;
hang_runtime.sh)
	for a in "$@"; do
		# the shell itself waits, so that killing this pid ends it
		[ "$a" = create ] && while :; do sleep 1; done
	done
	exit 0 ;;
argv_runtime.sh) msg="argv: $*" ;;
*) msg="cgroups in hybrid mode not supported, drop all controllers from cgroupv2" ;;
esac
log=""
while [ $# -gt 0 ]; do
	case $1 in
	--log) log=$2; shift ;;
	--log=*) log=${1#--log=} ;;
	esac
	shift
done
[ -n "$log" ] && printf '{"msg": "%s", "level": "error", "time": "2026-01-01T00:00:00Z"}\n' "$msg" >> "$log"
echo "$msg" >&2
exit 1
