/* The vtable itself: size and required members (snapshotter.h, ABI.md). */
#include <stddef.h>

#include "cases.h"

#define R_SIZE "snapshotter.h: ops->size is sizeof(struct ucd_snapshotter_ops) as compiled, covering the ABI 1.1 ops"
#define R_REQUIRED "snapshotter.h: every op but cleanup is required (a NULL op makes the daemon answer UNIMPLEMENTED)"

#define REQUIRE_OP(t, ops, m) \
	TC_CHECK((t), (ops)->m != NULL, R_REQUIRED, "`%s` is NULL", #m)

void case_abi_ops(struct tcase *t)
{
	const struct ucd_snapshotter_ops *ops = t->inst.ops;
	size_t need = offsetof(struct ucd_snapshotter_ops, cleanup) + sizeof ops->cleanup;
	if (!TC_CHECK(t, ops->size >= need, R_SIZE, "ops->size is %u; the ABI 1.1 ops need %zu", ops->size, need))
		return;   /* members past size are not the plugin's: do not read them */
	REQUIRE_OP(t, ops, stat);
	REQUIRE_OP(t, ops, update);
	REQUIRE_OP(t, ops, usage);
	REQUIRE_OP(t, ops, mounts);
	REQUIRE_OP(t, ops, prepare);
	REQUIRE_OP(t, ops, view);
	REQUIRE_OP(t, ops, commit);
	REQUIRE_OP(t, ops, remove);
	REQUIRE_OP(t, ops, walk);
}
