#!/bin/sh
# Stand-in OCI runtimes for tests. Every command fails, logging its error as
# JSON to --log as crun and runc do (the shim reports that line):
#   fake_runtime.sh   the way crun fails on a hybrid cgroup layout;
#   argv_runtime.sh   (a link to this file) with the arguments it was given
#                     as the error, so a test reads them in ctr's message.
log=""
args="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--log) log=$2; shift ;;
	--log=*) log=${1#--log=} ;;
	esac
	shift
done
case $(basename "$0") in
argv_runtime.sh) msg="argv: $args" ;;
*) msg="cgroups in hybrid mode not supported, drop all controllers from cgroupv2" ;;
esac
[ -n "$log" ] && printf '{"msg": "%s", "level": "error", "time": "2026-01-01T00:00:00Z"}\n' "$msg" >> "$log"
echo "$msg" >&2
exit 1
