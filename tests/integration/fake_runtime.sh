#!/bin/sh
# A stand-in OCI runtime for tests: every command fails the way crun fails
# on a hybrid cgroup layout, logging the error as JSON to --log as crun does.
log=""
while [ $# -gt 0 ]; do
	case $1 in
	--log) log=$2; shift ;;
	--log=*) log=${1#--log=} ;;
	esac
	shift
done
[ -n "$log" ] && printf '{"msg": "cgroups in hybrid mode not supported, drop all controllers from cgroupv2", "level": "error", "time": "2026-01-01T00:00:00Z"}\n' >> "$log"
echo "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" >&2
exit 1
