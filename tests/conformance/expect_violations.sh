#!/bin/sh
# Runs the conformance tester against the SDK's example snapshotter built with
# UCD_EXAMPLE_BREAK_RULES (tests/fixtures/snapshotter), which breaks exactly
# two rules (a VIEW's mounts are writable; remove ignores children), and
# checks that the tester fails it for exactly those, naming the rules: the
# cases that see them fail, every other case passes.
#   expect_violations.sh TESTER BROKEN.so
set -u
tester=$1 so=$2
out=$("$tester" "$so" 2>&1)
rc=$?
printf '%s\n' "$out"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" -eq 1 ] || fail "the tester exited $rc, want 1"

# Case names that failed, sorted, one line.
failed=$(printf '%s\n' "$out" | sed -n 's/^not ok [0-9]* - \([^:]*\):.*/\1/p' | sort | tr '\n' ' ')
if [ "$(id -u)" -eq 0 ]; then
	# persistence.*: after a new init, removing a parent must still be refused
	want="mounts.kinds persistence.reboot persistence.restart remove.parent view.readonly "
else
	want="mounts.kinds remove.parent "     # cases that mount are skipped without root
fi
[ "$failed" = "$want" ] || fail "failed cases are [$failed], want [$want]"

# The diagnostics name the rules broken.
printf '%s\n' "$out" | grep -q 'FAILED_PRECONDITION for remove of a snapshot with children' ||
	fail "no diagnostic names the remove-with-children rule"
printf '%s\n' "$out" | grep -q "every mount carries \"ro\"" ||
	fail "no diagnostic names the read-only view rule"
if [ "$(id -u)" -eq 0 ]; then
	printf '%s\n' "$out" | grep -q 'fails with EROFS' || fail "no diagnostic names the EROFS rule"
fi
echo "PASS: the tester caught both violations and nothing else"
