/* The daemon's lifetime: set up in order, serve, shut down in reverse. */
#pragma once
#include "config/config.h"

/* Runs the daemon with a loaded config until SIGTERM/SIGINT. Returns the
 * process exit status. `plugin_dir` is the effective plugin directory. */
int daemon_run(struct config *cfg, const char *plugin_dir);
