/* ucd-layers.so: the layer code behind the table the daemon loads at its
 * first layer apply or diff (see diff_layers_load in diff.h). */
#include "diff/diff.h"

__attribute__((visibility("default"))) const struct diff_layers ucd_diff_layers_v1 = {
	.apply = diff_apply,
	.trees = diff_trees,
};
