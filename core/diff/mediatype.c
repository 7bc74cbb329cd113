/* Which layer media types we unpack, and whether their bytes may be
 * compressed: the rules of containerd's images.DiffCompression, so the same
 * blobs are accepted and refused. */
#include <stdlib.h>
#include <string.h>

#include "diff/diff.h"
#include "util/error.h"
#include "util/mem.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int diff_media_type_compression(const char *media_type, enum diff_compression *out, struct ucd_error **err)
{
	/* "base+ext1+ext2": the base names the layer kind, the LAST of the
	 * sorted extensions its compression (containerd sorts them too). */
	autofree char *copy = xstrdup(media_type ? media_type : "");
	char *ext[16];
	size_t n_ext = 0;
	char *plus = strchr(copy, '+');
	if (plus != NULL) {
		*plus = '\0';
		for (char *p = plus + 1; p != NULL && n_ext < ARRAY_LEN(ext);) {
			ext[n_ext++] = p;
			if ((p = strchr(p, '+')) != NULL)
				*p++ = '\0';
		}
		qsort(ext, n_ext, sizeof ext[0], cmp_str);
	}
	const char *base = copy;

	if (strcmp(base, "application/vnd.docker.image.rootfs.diff.tar") == 0 ||
	    strcmp(base, "application/vnd.docker.image.rootfs.foreign.diff.tar") == 0 ||
	    strcmp(base, "application/vnd.docker.image.rootfs.diff.tar.gzip") == 0 ||
	    strcmp(base, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == 0) {
		/* Docker's plain type is known to carry gzip data too: detect. A
		 * wrapped Docker type (`+something`) is passed through as is. */
		*out = n_ext > 0 ? DIFF_PLAIN_TAR : DIFF_DETECT;
		return 0;
	}
	if (strcmp(base, DIFF_MT_LAYER) == 0 || strcmp(base, "application/vnd.oci.image.layer.nondistributable.v1.tar") == 0) {
		const char *last = n_ext > 0 ? ext[n_ext - 1] : "";
		*out = strcmp(last, "gzip") == 0 || strcmp(last, "zstd") == 0 ? DIFF_DETECT : DIFF_PLAIN_TAR;
		return 0;
	}
	return error_set(err, UCD_UNKNOWN, 0, "failed to get stream processor for %s: no processor for media-type",
			 media_type ? media_type : "");
}
