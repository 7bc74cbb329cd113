/* ucd-layers.so: the layer code behind the table the daemon loads at its
 * first layer apply or diff (see diff_layers_load in diff.h). */
#include <openssl/crypto.h>

#include "diff/diff.h"

static void layers_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
}

__attribute__((visibility("default"))) const struct diff_layers ucd_diff_layers_v1 = {
	.init = layers_init,
	.apply = diff_apply,
	.trees = diff_trees,
};
