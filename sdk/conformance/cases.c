/* The table of cases, in the order they run: the vtable first, then the
 * life cycle and its errors, content through real mounts, labels and times,
 * usage, walk and filters, scale, and persistence. `checks` is what
 * `--list` and sdk/CONFORMANCE.md show. */
#include "cases.h"
#include "util/mem.h"

const struct conf_case conf_cases[] = {
	{"abi.ops", "ops->size covers the ABI 1.1 ops; stat, update, usage, mounts, prepare, view, commit, remove, walk are non-NULL (cleanup optional)", false, case_abi_ops},
	{"basic.prepare-commit", "prepare gives an ACTIVE snapshot with mounts; commit makes a COMMITTED one and the key disappears (stat NOT_FOUND) and can be reused; parent \"\" is no parent", false, case_basic_prepare_commit},
	{"basic.kinds", "stat reports VIEW, ACTIVE, COMMITTED and the committed parent of each", false, case_basic_kinds},
	{"prepare.exists", "prepare/view to a key or name that exists: ALREADY_EXISTS; the existing snapshot is unchanged", false, case_prepare_exists},
	{"prepare.parent-missing", "prepare/view on an unknown parent: NOT_FOUND; nothing is created", false, case_prepare_parent_missing},
	{"prepare.parent-not-committed", "prepare/view on an ACTIVE or VIEW parent: INVALID_ARGUMENT; nothing is created", false, case_prepare_parent_not_committed},
	{"prepare.empty-key", "an empty key (prepare, view) or name (commit): INVALID_ARGUMENT", false, case_prepare_empty_key},
	{"commit.not-active", "commit of a VIEW or a COMMITTED snapshot: FAILED_PRECONDITION; it stays as it was", false, case_commit_view},
	{"commit.exists", "commit to a name that exists: ALREADY_EXISTS; the active snapshot stays and can be committed elsewhere", false, case_commit_exists},
	{"commit.missing", "commit of an unknown key: NOT_FOUND", false, case_commit_missing},
	{"mounts.kinds", "mounts of ACTIVE are usable, of VIEW carry \"ro\" on every mount, of COMMITTED: FAILED_PRECONDITION", false, case_mounts_kinds},
	{"remove.parent", "remove of a snapshot with children (ACTIVE, VIEW or COMMITTED ones): FAILED_PRECONDITION, it stays; once the children are gone it succeeds", false, case_remove_parent},
	{"unknown-keys", "stat, mounts, usage, update, remove, commit of unknown keys: NOT_FOUND", false, case_unknown_keys},
	{"content.chain", "a 4-level parent chain: each layer's files visible through a child's mounts, later layers win; a view shows the committed content only", true, case_content_chain},
	{"view.readonly", "writing through a view's mounts fails with EROFS (views with and without parent)", true, case_view_readonly},
	{"content.committed-immutable", "a committed snapshot's content never changes: a child's writes, deletes and new files stay in the child; siblings are isolated", true, case_committed_immutable},
	{"content.chain-50", "a 50-layer chain mounts and shows the bottom file and every layer's file", true, case_chain_50},
	{"labels.create", "labels given to prepare, view and commit are reported exactly; commit replaces the active snapshot's labels; keys and labels are copied (inputs are borrowed)", false, case_labels_create},
	{"labels.update", "update with no path, `labels`, `labels.<k>` on every kind; other paths INVALID_ARGUMENT; parent and kind untouched; created_at stays, updated_at moves", false, case_labels_update},
	{"times", "created_at is the creation time and equals updated_at until an update", false, case_times},
	{"usage.active", "usage of an ACTIVE snapshot grows by at least the bytes written (and inodes by the files created)", true, case_usage_active},
	{"usage.committed", "usage of a COMMITTED snapshot is stable, also after a child writes; a child's usage grows by what it writes", true, case_usage_committed},
	{"walk.exact", "walk reports every snapshot exactly once with the exact name, parent, kind, labels and times stat reports", false, case_walk_exact},
	{"walk.filters", "the daemon's filter engine over walk's results gives containerd's expected sets (kind, name, parent, labels, ~= regexps)", false, case_walk_filters},
	{"walk.stop", "a non-zero return of the walk callback stops the walk and is walk's result", false, case_walk_stop},
	{"concurrency", "8 threads x 50 prepare/commit/remove on distinct keys, with concurrent walks and stats: no error, nothing lost or duplicated", false, case_concurrent},
	{"remove.1000", "1000 snapshots (active and committed) created and removed: all gone from stat and walk", false, case_remove_1000},
	{"keys.odd", "keys with slashes, spaces, a tab, unicode, `..` components, colons and 512 bytes are kept exactly and never escape the plugin's root", false, case_keys_odd},
	{"cleanup", "cleanup (if the plugin has it) succeeds, also twice and on nothing, and leaves remaining snapshots intact", false, case_cleanup},
	{"persistence.restart", "after close and a new init on the same root and state, every snapshot is there with the same kind, parent, labels and times; content and a mount made before are intact", true, case_persist_restart},
	{"persistence.reboot", "the same after the state directory was emptied (it is a tmpfs, gone at reboot)", true, case_persist_reboot},
};

const size_t conf_n_cases = ARRAY_LEN(conf_cases);
