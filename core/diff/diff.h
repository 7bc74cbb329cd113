/* Layers: applying an OCI/Docker layer tar onto a directory, and computing
 * the layer that turns one directory tree into another (containerd's
 * archive.Apply and archive.WriteDiff with the walking differ's rules).
 *
 * Pure blocking library code: every function here does file I/O and runs on
 * a worker thread, never on the loop thread. Functions are reentrant; several
 * layers can be applied at once onto different directories. What each
 * refuses, and why, is in docs/diff.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontainerd/error.h>

/* Pulls the next bytes of a blob into buf; returns the count, 0 at the end,
 * or -code with *err set. */
typedef ssize_t (*diff_read_fn)(void *arg, void *buf, size_t n, struct ucd_error **err);
/* Pushes n bytes; returns 0 or -code with *err set. */
typedef int (*diff_write_fn)(void *arg, const void *buf, size_t n, struct ucd_error **err);
/* True when the caller gave up (the gRPC call was cancelled): the work stops
 * at the next entry with UCD_CANCELLED. */
typedef bool (*diff_cancelled_fn)(void *arg);

#define DIFF_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define DIFF_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define DIFF_DIGEST_MAX 72   /* "sha256:" + 64 hex + NUL */

/* How deep a directory tree the walks of this module follow (the diff's
 * comparison, removing a tree for a whiteout or an opaque directory): each
 * level holds open directories, and a layer or a container can build trees
 * 100,000 deep. Deeper trees are refused with an error that names the
 * limit, never a crash. The snapshot store walks to the same depth
 * (SNST_MAX_DEPTH). */
#define DIFF_MAX_DEPTH 512

/* What one layer may make the unpack do (docs/diff.md says why these
 * numbers). A layer over any ceiling is refused with ResourceExhausted
 * naming it. */
struct diff_limits {
	uint64_t entries;        /* archive entries (files, directories, links, whiteouts, ...) */
	uint64_t stream_bytes;   /* the uncompressed tar stream, trailing bytes included */
	uint64_t hole_bytes;     /* sparse files: apparent size not backed by data, all files together */
	uint64_t name_bytes;     /* entry names kept in memory while the layer is applied */
	uint64_t header_bytes;   /* bytes read for one entry's headers (pax records, GNU sparse maps) */
};
#define DIFF_MAX_ENTRIES (4ull << 20)          /* 4 Mi entries */
#define DIFF_MAX_STREAM_BYTES (1ull << 40)     /* 1 TiB */
#define DIFF_MAX_HOLE_BYTES (64ull << 30)      /* 64 GiB */
#define DIFF_MAX_NAME_BYTES (512ull << 20)     /* 512 MiB */
#define DIFF_MAX_HEADER_BYTES (4ull << 20)     /* 4 MiB */

/* How a layer's bytes are stored, by its media type (containerd's
 * images.DiffCompression): */
enum diff_compression {
	DIFF_PLAIN_TAR,   /* OCI `...tar` (and unknown `+ext` wrappings): read as is */
	DIFF_DETECT,      /* gzip, zstd or plain, told apart by the first bytes */
};
/* UCD_UNKNOWN "failed to get stream processor for <mt>: no processor for
 * media-type" for a media type that is not a layer, as containerd answers. */
int diff_media_type_compression(const char *media_type, enum diff_compression *out, struct ucd_error **err);

/* Where the layer goes. */
enum diff_apply_mode {
	/* A plain directory (native snapshot, a mounted overlay): a whiteout
	 * removes its target, an opaque marker removes what the directory held
	 * before this layer. */
	DIFF_APPLY_PLAIN,
	/* Straight onto an overlayfs upperdir: a whiteout becomes a 0/0
	 * character device, an opaque marker the xattr
	 * `trusted.overlay.opaque=y` (`user.overlay.opaque` with userxattr). */
	DIFF_APPLY_OVERLAY,
};

struct diff_apply_opts {
	enum diff_apply_mode mode;
	bool userxattr;                 /* overlay mounted with `userxattr` */
	/* Overlay lowerdirs, topmost first: a directory this layer has to
	 * create as a parent copies owner, mode, times and xattrs from the first
	 * lower that has it, so it does not mask the lower one's attributes. */
	const char *const *parents;
	size_t n_parents;
	diff_cancelled_fn cancelled;    /* may be NULL */
	void *cancel_arg;
	/* Ceilings for this apply; a zero member means its DIFF_MAX_* default.
	 * The Diff service leaves them all zero. */
	struct diff_limits limits;
};

/* A digest with the byte count it covers. */
struct diff_digest {
	char digest[DIFF_DIGEST_MAX];
	int64_t size;
};

/* Applies the layer read through `read` onto directory `root`. On success
 * *out is the digest and size of the UNCOMPRESSED stream, trailing bytes
 * after the tar's end included (containerd's diffID). Refusals of the
 * archive are UCD_INVALID_ARGUMENT naming the entry; filesystem failures
 * UCD_UNKNOWN with the path and errno text. A failed apply leaves what was
 * already written, as containerd does (the caller throws the snapshot away);
 * it never writes outside `root`. */
int diff_apply(const char *root, enum diff_compression comp, diff_read_fn read, void *read_arg,
	       const struct diff_apply_opts *opts, struct diff_digest *out, struct ucd_error **err);

struct diff_result {
	struct diff_digest blob;           /* what was written through `write` */
	struct diff_digest uncompressed;   /* the tar itself (== blob when not compressed) */
};

/* Writes the layer that turns `lower` into `upper` (both directories; lower
 * NULL: everything in upper is added) through `write`, gzip-compressed when
 * `gzip` (containerd's default media type) or plain. Deletions are `.wh.`
 * entries; hard links within upper stay hard links. */
int diff_trees(const char *lower, const char *upper, bool gzip, diff_write_fn write, void *write_arg,
	       diff_cancelled_fn cancelled, void *cancel_arg, struct diff_result *out, struct ucd_error **err);

/* --- the layer module ----------------------------------------------------------
 *
 * diff_apply and diff_trees live in ucd-layers.so (with libarchive, OpenSSL
 * and zlib, and the dozen libraries libarchive itself needs): the daemon
 * loads it at the first layer apply or diff rather than at start, where it
 * used to cost more than the rest of the start-up together. Unit tests link
 * the code directly (ucd_diff). */
struct diff_layers {
	/* Called once, by diff_layers_load on the thread that loads it (the
	 * loop): initialises the libraries (OpenSSL) there rather than on the
	 * first pool worker to hash. */
	void (*init)(void);
	int (*apply)(const char *root, enum diff_compression comp, diff_read_fn read, void *read_arg,
		     const struct diff_apply_opts *opts, struct diff_digest *out, struct ucd_error **err);
	int (*trees)(const char *lower, const char *upper, bool gzip, diff_write_fn write, void *write_arg,
		     diff_cancelled_fn cancelled, void *cancel_arg, struct diff_result *out, struct ucd_error **err);
};
/* The symbol ucd-layers.so exports. */
#define DIFF_LAYERS_SYMBOL "ucd_diff_layers_v1"
/* Loads ucd-layers.so once (the first call should come from the loop
 * thread: see init; later calls from any thread return the same table): from $UCD_LAYERS_LIB when set, else <daemon binary's
 * dir>/UCD_REL_LAYERS_DIR/ucd-layers.so. FAILED_PRECONDITION naming the
 * path and dlerror() when it cannot be loaded. */
int diff_layers_load(const struct diff_layers **out, struct ucd_error **err);
