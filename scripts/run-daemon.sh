#!/bin/sh
# Builds ucontainerd and runs it in the foreground with the default config
# that `ucontainerd config default` prints (written to
# /etc/ucontainerd/config.toml unless that file already exists).
# Socket: /run/ucontainerd/ucontainerd.sock. Try: ctr -a /run/ucontainerd/ucontainerd.sock version
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/scripts/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)"
if [ ! -e /etc/ucontainerd/config.toml ]; then
	mkdir -p /etc/ucontainerd
	"$top/build/bin/ucontainerd" config default > /etc/ucontainerd/config.toml
	echo "wrote /etc/ucontainerd/config.toml"
fi
exec "$top/build/bin/ucontainerd" --config /etc/ucontainerd/config.toml "$@"
