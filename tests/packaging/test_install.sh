#!/bin/sh
# Installs the build into a prefix, moves the prefix elsewhere (it must not
# care where it lives), runs the installed daemon from there and checks with
# Debian's ctr that it found its plugins; then builds a plugin out of tree
# with nothing but the installed SDK (pkg-config) and sees it load `ok`.
set -u
build=$1
tmp=$(mktemp -d /tmp/ucd-install-XXXXXX)
pid=""
n=0 failed=0
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
check() {   # check NAME CMD...
	name=$1
	shift
	n=$((n + 1))
	if "$@" >/dev/null 2>&1; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
	fi
}

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
mv "$tmp/prefix" "$tmp/moved"
P=$tmp/moved
check "binary installed" test -x "$P/bin/ucontainerd"
check "plugins installed by URI" test -f "$P/lib/ucontainerd/plugins/io.containerd.content.v1.content.so"
check "layer module installed beside the plugins" test -f "$P/lib/ucontainerd/ucd-layers.so"
check "sdk headers installed" test -f "$P/include/ucontainerd/plugin.h" -a -f "$P/include/ucontainerd/host.h"
check "systemd unit installed" grep -q "Type=notify" "$P/lib/systemd/system/ucontainerd.service"
pc=$(find "$P" -name ucontainerd-plugin.pc | head -n1)
check "pkg-config file installed" test -n "$pc"

# An out-of-tree plugin, built from the installed SDK only.
mkdir -p "$tmp/vendor"
cat >"$tmp/vendor/vendor.c" <<'C'
#include <ucontainerd/ucontainerd.h>
static int vendor_init(const struct ucd_host *host, const struct ucd_init_ctx *ic,
		       struct ucd_plugin_out *out, struct ucd_error **err)
{
	(void)host; (void)ic; (void)out; (void)err;
	return 0;
}
static const struct ucd_plugin_desc desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.testing.v1",
	.id = "vendor",
	.init = vendor_init,
};
UCD_PLUGIN_DEFINE(desc)
C
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(pkg-config --define-prefix --cflags ucontainerd-plugin)
plugindir=$(pkg-config --define-prefix --variable=plugindir ucontainerd-plugin)
check "pkg-config plugindir is the installed plugin dir" test "$plugindir" = "$P/lib/ucontainerd/plugins"
check "out-of-tree plugin builds against the SDK" \
	cc $cflags -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
	-o "$P/lib/ucontainerd/plugins/io.containerd.testing.v1.vendor.so" "$tmp/vendor/vendor.c"

# The SDK's example snapshotter, built out of the tree with its own Makefile
# against the installed SDK, passes the installed conformance tester.
ex=$(find "$P/share/doc" -path "*sdk/examples/snapshotter" -type d | head -n 1)
check "example snapshotter installed with its Makefile" test -f "$ex/Makefile" -a -f "$ex/copy_snapshotter.c"
cp -r "$ex" "$tmp/example"
check "example snapshotter builds out of the tree" \
	make -s -C "$tmp/example" PKG_CONFIG="pkg-config --define-prefix" CFLAGS="-O2 -Werror"
check "installed conformance tester passes the example" \
	"$P/bin/ucontainerd-snapshotter-conformance" "$tmp/example/io.containerd.snapshotter.v1.example.so"

sock=$tmp/u.sock
"$P/bin/ucontainerd" --root "$tmp/root" --state "$tmp/state" --address "$sock" >"$tmp/daemon.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && ! ctr -a "$sock" version >/dev/null 2>&1; do
	sleep 0.05
	i=$((i + 1))
done
ctr -a "$sock" plugins ls >"$tmp/plugins.txt" 2>&1
cat "$tmp/plugins.txt" | sed 's/^/# /'
check "installed daemon answers" ctr -a "$sock" version
check "installed plugins are found next to the moved binary" grep -Eq "io.containerd.content.v1 +content .*(ok|skip)" "$tmp/plugins.txt"
check "out-of-tree plugin loads ok" grep -Eq "io.containerd.testing.v1 +vendor .* ok" "$tmp/plugins.txt"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "SIGTERM: clean exit" test "$rc" -eq 0
check "SIGTERM: socket removed" test ! -e "$sock"
[ $failed -gt 0 ] && sed 's/^/# /' "$tmp/daemon.log"
echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
