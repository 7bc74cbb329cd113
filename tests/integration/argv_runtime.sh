#!/bin/sh
# A stand-in OCI runtime for tests: every command fails, and its error (the
# JSON line in --log that the shim reports, as crun and runc write it) is
# the arguments it was given, so a test can read them in ctr's error.
log=""
args="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--log) log=$2; shift ;;
	--log=*) log=${1#--log=} ;;
	esac
	shift
done
[ -n "$log" ] && printf '{"msg": "argv: %s", "level": "error", "time": "2026-01-01T00:00:00Z"}\n' "$args" >> "$log"
echo "argv: $args" >&2
exit 1
