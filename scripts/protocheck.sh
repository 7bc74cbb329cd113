#!/bin/sh
# Compares the wire schema of proto/ with the upstream reference definitions
# using ../shared/tools/protocheck (paths relative to the repository root).
# Extra arguments (--complete, --service NAME, -I DIR) are passed through to
# the check of proto/; the script fails (non-zero) when either check fails,
# with the first failing check's exit code (0 same, 1 differences, 2 does not
# compile).
# Without ../shared the check is skipped and the script exits 0.
#
# Two roots are checked: proto/ holds the core daemon's containerd API and is
# compiled into the core library, while plugins/cri/proto/ holds the
# Kubernetes CRI API (runtime.v1), which belongs to the CRI plugin only. They
# are kept apart so the core does not carry the CRI messages; the CRI root is
# checked with --complete so every RuntimeService/ImageService method must be
# present.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
checker="$root/../shared/tools/protocheck"

if [ ! -f "$checker" ]; then
	echo "protocheck: skipped: ../shared not present (looked for $checker)"
	exit 0
fi

cd "$root"

rc=0
/usr/bin/python3 "$checker" "$@" proto || rc=$?

cri_rc=0
/usr/bin/python3 "$checker" --complete \
	--service runtime.v1.RuntimeService \
	--service runtime.v1.ImageService \
	plugins/cri/proto || cri_rc=$?

if [ "$rc" -eq 0 ]; then
	rc=$cri_rc
fi
exit "$rc"
