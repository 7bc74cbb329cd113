#!/bin/sh
# Captures real inputs for the fuzz corpora from the integration tests:
# the daemon of each test file runs with rec.c preloaded, which records the
# bytes of every connection; extract.py turns them into seeds, and libFuzzer
# (-merge=1) keeps those that add coverage to tests/fuzz/corpus/<target>/.
#
#   sh tests/fuzz/capture/capture.sh BUILD FUZZ_BUILD [test_x.py ...]
#
# BUILD: a normal build (its daemon, shim and plugins run the tests);
# FUZZ_BUILD: a UCD_FUZZ=ON build (its targets do the merge). Default test
# files: ctr grpc content snapshots images diff ttrpc tasks badinput cli.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=$(cd "$1" && pwd)
fuzz=$(cd "$2" && pwd)
shift 2
tests=${*:-"test_ctr.py test_grpc.py test_content.py test_snapshots.py test_images.py test_diff.py test_ttrpc.py test_tasks.py test_badinput.py test_cli.py"}
work=$(mktemp -d /tmp/ucd-capture-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/raw" "$work/seeds"
cc -O2 -Wall -shared -fPIC -o "$work/rec.so" "$top/tests/fuzz/capture/rec.c" -ldl
cat >"$work/daemon" <<SH
#!/bin/sh
UCD_CAPTURE_DIR=$work/raw LD_PRELOAD=$work/rec.so exec "$build/bin/ucontainerd" "\$@"
SH
chmod +x "$work/daemon"
for t in $tests; do
	echo "== capturing $t"
	/usr/bin/python3 "$top/tests/integration/$t" --daemon "$work/daemon" \
		--descriptors "$build/proto/ucontainerd.pb" --build-dir "$build" --ctr /usr/bin/ctr |
		grep -E "^(not ok|[0-9]+ passed)" || true
done
echo "== $(ls "$work/raw" | wc -l) streams captured"
for target in proto_requests task_requests; do
	FUZZ_LIST_METHODS=1 "$build/fuzz/fuzz_replay_$target" /dev/null | grep '^[0-9]' >"$work/methods-$target.txt"
done
/usr/bin/python3 "$top/tests/fuzz/capture/extract.py" "$work/raw" "$work/seeds" \
	proto_requests="$work/methods-proto_requests.txt" task_requests="$work/methods-task_requests.txt"
for target in grpc_conn proto_requests task_requests ttrpc shim_request config toml; do
	[ -d "$work/seeds/$target" ] || continue
	mkdir -p "$top/tests/fuzz/corpus/$target"
	before=$(ls "$top/tests/fuzz/corpus/$target" | wc -l)
	"$fuzz/fuzz/fuzz_$target" -merge=1 -max_len=1048576 "$top/tests/fuzz/corpus/$target" "$work/seeds/$target" \
		>"$work/merge-$target.log" 2>&1 || { tail -20 "$work/merge-$target.log"; exit 1; }
	echo "== $target: $(ls "$work/seeds/$target" | wc -l) candidates, corpus $before -> $(ls "$top/tests/fuzz/corpus/$target" | wc -l)"
done
