#!/bin/sh
# Compares the wire schema of proto/ with the upstream reference definitions
# using ../shared/tools/protocheck (paths relative to the repository root).
# Extra arguments (--complete, --service NAME, -I DIR) are passed through;
# so is the checker's exit code (0 same, 1 differences, 2 does not compile).
# Without ../shared the check is skipped and the script exits 0.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
checker="$root/../shared/tools/protocheck"

if [ ! -f "$checker" ]; then
	echo "protocheck: skipped: ../shared not present (looked for $checker)"
	exit 0
fi

cd "$root"
exec /usr/bin/python3 "$checker" "$@" proto
