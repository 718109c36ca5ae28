/* Codecs: byte streams in and out of a file, behind one vtable.
 *
 * A codec knows nothing of formats. Readers pull raw bytes through a
 * struct rawin (pread at its own position, so several readers can share
 * one fd: `totals` counts on a second reader while the handle keeps its
 * place). Writers push bytes to a struct rawout (a temp file).
 */
#ifndef ROWD_CODEC_H
#define ROWD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <msgpack.h>

#include "rowd_proto.h"

/* Raw input: a regular file read with pread from pos. */
struct rawin {
	int fd;
	uint64_t pos;      /* next byte to read; also bytes_read for progress */
	uint64_t size;     /* file size at open (progress total) */
};

/* Reads up to n bytes; 0 at end of file; -1 with EIO. */
ssize_t rawin_read(struct rawin *in, void *buf, size_t n, struct rowd_error *err);

/* Raw output: an fd written sequentially; errors (ENOSPC, EIO) are EIO. */
struct rawout {
	int fd;
	uint64_t written;
	/* The target's file name (no directories) for codecs that record it
	 * (zip names its member after it); NULL when unknown. */
	const char *name;
};

int rawout_write(struct rawout *out, const void *buf, size_t n, struct rowd_error *err);

struct codec_ops {
	const char *name;                 /* "none", "gzip", ... */
	const char *const *extensions;    /* without dot, NULL-terminated */
	/* Non-NULL when this build lacks the codec's library (ENOTSUP). */
	const char *unavailable;
	/* Content detection on the first bytes of the file; NULL = none. */
	bool (*magic)(const unsigned char *head, size_t n);

	/* Reader. rd_read returns bytes produced, 0 at the end of the stream,
	 * -1 with ECODEC (offset = compressed byte position) or EIO. */
	int (*rd_open)(struct rawin *in, const msgpack_object *codec_options,
	               void **state, struct rowd_error *err);
	ssize_t (*rd_read)(void *state, void *buf, size_t n, struct rowd_error *err);
	/* Containers (zip): the name of the member being read, once a read
	 * has opened it; NULL before, or when there is none. Detection asks
	 * it for the format's extension. NULL for plain codecs. */
	const char *(*rd_name)(void *state);
	void (*rd_close)(void *state);

	/* Writer. wr_finish writes the trailer; wr_close frees (after finish
	 * or to abandon). NULL wr_open = read only. */
	int (*wr_open)(struct rawout *out, const msgpack_object *codec_options,
	               void **state, struct rowd_error *err);
	int (*wr_write)(void *state, const void *buf, size_t n, struct rowd_error *err);
	int (*wr_finish)(void *state, struct rowd_error *err);
	void (*wr_close)(void *state);
};

/* Registry (codecs/registry.c): a static table, "none" first. */
const struct codec_ops *codec_find(const char *name, size_t len);
/* By the last extension of a file name ("x.csv.gz" -> gzip); NULL if none. */
const struct codec_ops *codec_by_extension(const char *filename);
/* By magic bytes; "none" when nothing matches. */
const struct codec_ops *codec_by_magic(const unsigned char *head, size_t n);
const struct codec_ops *const *codec_list(void);

/* Checks that codec_options holds only known keys ("level" for most). */
int codec_options_level(const msgpack_object *codec_options, int min, int max,
                        int dflt, int *level, struct rowd_error *err);

#endif
