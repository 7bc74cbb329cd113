/* systemd's readiness protocol (sd_notify(3)) for Type=notify units: one
 * datagram to the unix socket named by $NOTIFY_SOCKET.
 *
 * Why not libsystemd: it is the only user of that library here, and loading
 * it drags in libgcrypt, liblzma, libzstd, liblz4, libcap and libgpg-error.
 * Measured with bench/run.sh, that chain cost about 1 ms of start-up and
 * 0.9 MB of resident memory for what is a single sendmsg. */
#pragma once

/* Sends `state` ("READY=1", "STOPPING=1", ...). No-op without
 * $NOTIFY_SOCKET; failures are logged at debug level, never fatal. */
void notify_systemd(const char *state);
