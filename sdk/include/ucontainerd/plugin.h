/* ucontainerd plugin SDK: the plugin descriptor and its life cycle.
 *
 * A plugin is a shared object named by its URI,
 *
 *         io.containerd.<kind>.<version>.<id>.so    e.g. io.containerd.snapshotter.v1.zfs.so
 *
 * installed in the daemon's plugin directory (`pkg-config --variable=plugindir
 * ucontainerd-plugin`). Its type is `io.containerd.<kind>.<version>` and its
 * id the rest, as in containerd; the type string selects the vtable the
 * plugin must provide (one SDK header per kind).
 *
 * The plugin exports exactly one symbol, `ucd_plugin_entry_v1`, through
 * UCD_PLUGIN_DEFINE. It returns a pointer to a static const descriptor; the
 * daemon reads it before calling any other plugin code and refuses, with a
 * message naming both versions, a plugin built for another ABI. See
 * sdk/ABI.md for what the version numbers promise.
 *
 * Minimal plugin:
 *
 *   #include <ucontainerd/ucontainerd.h>
 *
 *   static const struct ucd_host *host;
 *
 *   static int zfs_init(const struct ucd_host *h, const struct ucd_init_ctx *ic,
 *                       struct ucd_plugin_out *out, struct ucd_error **err)
 *   {
 *           host = h;
 *           if (!zfs_available(ic->root)) {
 *                   h->error_new(err, UCD_FAILED_PRECONDITION, 0, "zfs: `%s` is not on zfs", ic->root);
 *                   return UCD_PLUGIN_SKIP;
 *           }
 *           out->self = zfs_new(ic->root);
 *           out->ops = &zfs_ops;        // struct ucd_snapshotter_ops
 *           h->export_set(ic, "root", ic->root, NULL);
 *           return 0;
 *   }
 *
 *   static const char *const zfs_requires[] = { NULL };
 *   static const struct ucd_plugin_desc zfs_desc = {
 *           UCD_PLUGIN_DESC_INIT,
 *           .type = "io.containerd.snapshotter.v1",
 *           .id = "zfs",
 *           .requires_types = zfs_requires,
 *           .init = zfs_init,
 *           .close = zfs_close,
 *   };
 *   UCD_PLUGIN_DEFINE(zfs_desc)
 *
 * Build it with `-fvisibility=hidden` or the SDK's version script
 * (`-Wl,--version-script=$(pkg-config --variable=mapfile ucontainerd-plugin)`)
 * so that only the entry symbol is exported,
 * `-Wl,-z,defs` (a plugin links no symbol of the daemon: everything it may
 * call on the daemon is in struct ucd_host), and without ELF constructors
 * (`__attribute__((constructor))`, C++ static initializers with side
 * effects): they run inside dlopen(), before the daemon has checked the ABI.
 *
 * Life cycle, all on the daemon's loop thread:
 *
 *   dlopen(RTLD_NOW | RTLD_LOCAL)  unresolved symbols fail here: status `error`
 *   ucd_plugin_entry_v1()          must only return the descriptor
 *   ABI checks, type/id == file name, config fields well-formed
 *   order by `requires_types`      see struct ucd_plugin_desc.requires_types
 *   config parsed into a struct    see config.h
 *   init()                         0: `ok`; UCD_PLUGIN_SKIP: `skip`; < 0: `error`
 *   start(self)  (ABI 1.3)         the socket serves; in init order; < 0: `error`
 *   ... the daemon runs ...
 *   stop(self)   (ABI 1.3)         SIGTERM, still serving; reverse init order
 *   close(self)                    at shutdown, in reverse init order, ok plugins only
 *   dlclose()
 *
 * The status of every plugin (ok / skip + reason / error + message) is what
 * `ctr plugins ls` shows through the introspection service.
 */
#ifndef UCONTAINERD_PLUGIN_H
#define UCONTAINERD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <ucontainerd/config.h>
#include <ucontainerd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "UCDP": the first member of every descriptor. */
#define UCD_PLUGIN_MAGIC 0x55434450u
/* The plugin ABI these headers describe. Major: incompatible change (a
 * plugin must be rebuilt). Minor: members appended to the end of structs,
 * new config types, new host functions; a plugin built for 1.N runs on any
 * daemon providing 1.M with M >= N. See sdk/ABI.md. */
#define UCD_ABI_MAJOR 1
#define UCD_ABI_MINOR 3
/* The one exported symbol. Its name carries the ABI major, so that a future
 * major version can be told apart even before the descriptor is read. */
#define UCD_PLUGIN_ENTRY "ucd_plugin_entry_v1"

/* init()'s return value for "not applicable here" (containerd's
 * ErrSkipPlugin): the plugin is listed with status `skip`, and the message
 * of *err (set it!) says why, e.g. "overlayfs: `/var/lib/x` is on xfs
 * without d_type". A skip is not a failure: the daemon logs it at info. */
#define UCD_PLUGIN_SKIP 1

struct ucd_host;

/* What the daemon tells a plugin at init. Owned by the daemon, read-only,
 * valid from init until close() has returned (or until init returns, if it
 * does not return 0), so a plugin may keep the pointer, e.g. for
 * host->log(). Members are only ever appended; test UCD_INIT_CTX_HAS before
 * reading one added after ABI 1.0. */
struct ucd_init_ctx {
	/* sizeof(struct ucd_init_ctx) as the daemon was compiled. */
	uint32_t size;
	/* Zero; padding that a later minor may give a meaning. */
	uint32_t reserved0;
	/* "<type>.<id>", e.g. "io.containerd.snapshotter.v1.overlayfs". */
	const char *uri;
	/* "io.containerd.snapshotter.v1" */
	const char *type;
	/* "overlayfs" */
	const char *id;
	/* Persistent directory of this plugin, "<root>/<uri>" (containerd's
	 * ic.Root), e.g. "/var/lib/ucontainerd/io.containerd.snapshotter.v1.overlayfs".
	 * As in containerd, the daemon does NOT create it: a plugin that needs
	 * it creates it in init (mkdir(2), mode of its choosing, containerd uses
	 * 0711 or 0700); a skipped plugin leaves no directory behind. Its parent,
	 * the daemon's root, exists. */
	const char *root;
	/* Runtime directory (tmpfs, gone at reboot), "<state>/<uri>"
	 * (containerd's ic.State). Same rules as `root`. */
	const char *state;
	/* The plugin's config struct, `config_size` bytes filled as config.h
	 * describes; NULL when the descriptor declares no config. Read-only. */
	const void *config;
	/* The daemon's gRPC socket path (containerd's ic.Address), for plugins
	 * that hand it to other processes (shims). "" when unknown. */
	const char *address;
	/* The daemon's ttrpc socket path (containerd's ic.TTRPCAddress). "" when
	 * unknown. */
	const char *ttrpc_address;
	/* -- ABI 1.0 ends here; append only -- */
};

#define UCD_INIT_CTX_HAS(ic, m) \
	((ic)->size >= offsetof(struct ucd_init_ctx, m) + sizeof((ic)->m))

/* What init hands back on success (return 0). */
struct ucd_plugin_out {
	/* The plugin instance, passed back as the first argument of every op
	 * and of close(). May stay NULL. */
	void *self;
	/* The vtable for the plugin's type (e.g. const struct
	 * ucd_snapshotter_ops * for "io.containerd.snapshotter.v1"), static
	 * const storage; NULL for a type without ops. Other plugins find it
	 * through host->get_plugin(). */
	const void *ops;
};

/* The descriptor. Define it `static const`, start the initializer with
 * UCD_PLUGIN_DESC_INIT and name the members you set; leave `reserved` zero.
 * Strings and arrays it points to must be static (they are read before init
 * and after close). */
struct ucd_plugin_desc {
	/* UCD_PLUGIN_MAGIC. */
	uint32_t magic;
	/* sizeof(struct ucd_plugin_desc) as the plugin was compiled. */
	uint32_t struct_size;
	/* The ABI the plugin was built against: UCD_ABI_MAJOR, UCD_ABI_MINOR. */
	uint16_t abi_major;
	uint16_t abi_minor;
	/* Binary-compatibility signature: sizeof(void *), sizeof(off_t),
	 * sizeof(time_t), sizeof(long) as the plugin was compiled. A plugin
	 * built for another word size or with another _FILE_OFFSET_BITS /
	 * _TIME_BITS is refused instead of crashing. */
	uint8_t sizes[4];
	/* "io.containerd.<kind>.<version>" and the id; both must equal what the
	 * file name says. Type strings are containerd's (plugins/types.go):
	 * "io.containerd.content.v1", "io.containerd.snapshotter.v1",
	 * "io.containerd.runtime.v2", "io.containerd.grpc.v1", ... */
	const char *type;
	const char *id;
	/* Types this plugin must be initialized after (containerd's Requires;
	 * not named `requires`, a C++20 keyword), NULL-terminated; NULL or
	 * { NULL } for none. Every plugin of a listed type is initialized
	 * first, whatever its outcome; a type nobody
	 * provides is no error here: init runs anyway and decides (typically
	 * host->get_plugin() answers UCD_NOT_FOUND). { "*", NULL } means
	 * "after every plugin that does not itself require \"*\""; "*" must
	 * then be the only entry. Requiring one's own type is refused. A
	 * dependency loop makes every plugin in it fail with "dependency loop:
	 * a -> b -> a". Ties are broken by URI, so the order is reproducible. */
	const char *const *requires_types;
	/* The config fields (config.h), ended by UCD_FIELD_END; NULL for none. */
	const struct ucd_config_field *config;
	/* sizeof the plugin's config struct; 0 when `config` is NULL. */
	size_t config_size;
	/* Required. Called once, on the loop thread, after every plugin of a
	 * required type. `host` and `ic` stay valid until close() returns.
	 * Returns 0 with *out filled: status `ok`.
	 * Returns UCD_PLUGIN_SKIP with *err set (host->error_new): status
	 * `skip`, *err's message is the reason.
	 * Returns a negative value (-code) with *err set: status `error`.
	 * On skip or error, init releases whatever it acquired: close() will
	 * not be called. Blocking briefly (stat, mkdir, reading a small file)
	 * is fine; long work belongs to the ops, not to init. */
	int (*init)(const struct ucd_host *host, const struct ucd_init_ctx *ic,
	            struct ucd_plugin_out *out, struct ucd_error **err);
	/* Optional. Called at shutdown on the loop thread, in reverse init order
	 * (dependents first), only for plugins whose init returned 0. Releases
	 * `self` and everything the plugin holds; it must not fail. */
	void (*close)(void *self);
	/* Must be zero: room to grow within ABI 1.x. */
	uintptr_t reserved[4];
	/* -- ABI 1.0 ends here; append only -- */

	/* ABI 1.3. UV_VERSION_MAJOR (uv.h) of the libuv the plugin was built
	 * against, when it uses the daemon's loop (host->loop); 0 when it does
	 * not. A value other than the daemon's libuv major is refused at load:
	 * uv_loop_t and its handles are libuv's ABI, not ours. */
	uint32_t libuv_major;
	/* Must be zero. */
	uint32_t reserved2;
	/* ABI 1.3. Optional. Called once on the loop thread, after every plugin
	 * was initialized and the daemon serves its socket, in init order: the
	 * place for work that needs the daemon's services (in-process calls,
	 * call.h), such as recovering what the plugin ran before a restart.
	 * Returns 0; or a negative code with *err set: the plugin's status
	 * becomes `error` with that message (close() is still called). */
	int (*start)(void *self, struct ucd_error **err);
	/* ABI 1.3. Optional. Called once on the loop thread when the daemon
	 * begins to shut down (SIGTERM), before it stops serving, in reverse
	 * init order, for plugins whose init succeeded: stop taking new work.
	 * In-process calls still start here; the daemon then ends every open
	 * one with UCD_UNAVAILABLE as it stops serving, and close() follows. */
	void (*stop)(void *self);
};

/* True when descriptor `d` (as its plugin was compiled) has member `m`. */
#define UCD_PLUGIN_DESC_HAS(d, m) \
	((d)->struct_size >= offsetof(struct ucd_plugin_desc, m) + sizeof((d)->m))

/* Fills the version members; start every descriptor initializer with it. */
#define UCD_PLUGIN_DESC_INIT \
	.magic = UCD_PLUGIN_MAGIC, \
	.struct_size = (uint32_t)sizeof(struct ucd_plugin_desc), \
	.abi_major = UCD_ABI_MAJOR, \
	.abi_minor = UCD_ABI_MINOR, \
	.sizes = { (uint8_t)sizeof(void *), (uint8_t)sizeof(off_t), (uint8_t)sizeof(time_t), \
	           (uint8_t)sizeof(long) }

/* The entry function. It returns the descriptor and does nothing else. */
__attribute__((visibility("default"))) const struct ucd_plugin_desc *ucd_plugin_entry_v1(void);

/* Defines the entry function for descriptor `desc` (an lvalue). Use it once
 * per plugin, at file scope. */
#define UCD_PLUGIN_DEFINE(desc) \
	__attribute__((visibility("default"))) const struct ucd_plugin_desc *ucd_plugin_entry_v1(void) \
	{ \
		return &(desc); \
	}

#ifdef __cplusplus
}
#endif

#endif
