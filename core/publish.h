/* `ucontainerd publish`: see publish.c. */
#pragma once

/* argv: what follows `publish`. Returns the process exit status. */
int publish_run(const char *ttrpc_address, int argc, char **argv);
