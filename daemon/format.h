/* Formats: rows in and out of decoded bytes, behind one vtable.
 *
 * A format knows nothing of sockets, handles or codecs: a reader pulls
 * bytes from a struct input and packs rows (msgpack maps) straight into the
 * answer buffer; a writer turns msgpack row objects into bytes in a struct
 * output. One file per format in daemon/formats/, registered in
 * formats/registry.c.
 */
#ifndef ROWD_FORMAT_H
#define ROWD_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "input.h"
#include "output.h"
#include "wfile.h"
#include "rowd_proto.h"

enum {
	FMT_CAP_READ   = 1 << 0,
	FMT_CAP_WRITE  = 1 << 1,
	FMT_CAP_TOTALS = 1 << 2,   /* exact totals (by a counting pass) */
	FMT_CAP_TABLES = 1 << 3,
	FMT_CAP_NESTED = 1 << 4,   /* values may be maps/arrays */
	FMT_CAP_STREAM = 1 << 5,
	FMT_CAP_BINARY = 1 << 6,   /* not text: detect reports no encoding */
	FMT_CAP_RAW    = 1 << 7,   /* reads/writes the file itself (random
	                              access: SQLite, XLSX); no codec */
};

struct format_ops;

/* What a reader or writer is opened with. */
struct fmt_args {
	const struct format_ops *fmt;     /* the format chosen (csv vs tsv ...) */
	struct input *in;                 /* readers */
	struct output *out;               /* writers */
	const msgpack_object *options;    /* map, or NULL when none given */
	const struct rowd_limits *limits;
	/* FMT_CAP_RAW formats: readers get the file's fd (read only, keep
	 * your own offsets: pread or a dup) and its /proc/self/fd path;
	 * writers get the temp file (wf->fd, and a path through wf->dirfd)
	 * that close will rename over the target. */
	int fd;
	const char *fd_path;
	const struct wfile *wf;
};

struct format_ops {
	const char *name;                 /* "csv", "tsv", "jsonl", ... */
	const char *const *extensions;    /* without dot, NULL-terminated */
	unsigned caps;
	/* Non-NULL for a format this build cannot serve: why (the library it
	 * lacks). Such entries have no functions; opening them is ENOTSUP. */
	const char *unavailable;

	/* Content detection on the decoded head of a file: 0 (no) .. 100
	 * (certain). NULL = never detected by content. */
	int (*probe)(const char *head, size_t n);
	/* For the detect op: packs extra key/value pairs about the decoded
	 * head (delimiter, header, ...) into b and adds them to *count. May
	 * be NULL. */
	int (*describe)(const struct format_ops *f, const char *head, size_t n,
	                struct mpbuf *b, uint32_t *count);

	/* Multi-table sources (SQLite tables, sheets): packs an array of the
	 * table names in source order. NULL = no tables (ENOTSUP). */
	int (*tables)(const struct fmt_args *a, struct mpbuf *out, struct rowd_error *err);

	/* Reader. Unknown or ill-typed options are EINVAL naming the option.
	 * rd_open may read the header (through a->in). */
	int (*rd_open)(const struct fmt_args *a, void **state, struct rowd_error *err);
	/* Appends up to max rows, each one msgpack map, to out and sets *nrows.
	 * Returns 1 when the source is exhausted (after the rows appended now),
	 * 0 when more rows may follow, -1 on error: EFORMAT with err->line (and
	 * err->row = 1-based row number) for bad input, ELIMIT for a row over
	 * limits->row_bytes, ECODEC/EIO from the input. Rows appended before an
	 * error stay valid in out and are counted in *nrows. With on_error
	 * "skip", bad rows are skipped and *skipped is incremented instead. */
	int (*rd_next)(void *state, struct mpbuf *out, size_t max, size_t *nrows,
	               uint64_t *skipped, struct rowd_error *err);
	/* Packs the column names (an array of str) when known, returns 1;
	 * returns 0 when the format does not know them. May be NULL. */
	int (*rd_columns)(void *state, struct mpbuf *out);
	/* Optional, for totals: counts the rows still to come without packing
	 * them, a stretch at a time (Avro: its blocks' row counts), adding
	 * to *rows. Returns 1 when the source is exhausted, 0 when more
	 * follows, -1 on error. NULL = totals counts through rd_next. */
	int (*rd_count)(void *state, uint64_t *rows, struct rowd_error *err);
	void (*rd_close)(void *state);

	/* Writer. NULL wr_open = read only. wr_row takes one row (a map;
	 * other types are EINVAL). wr_finish writes any trailer into a->out
	 * (the caller then finishes the output). */
	int (*wr_open)(const struct fmt_args *a, void **state, struct rowd_error *err);
	int (*wr_row)(void *state, const msgpack_object *row, struct rowd_error *err);
	int (*wr_finish)(void *state, struct rowd_error *err);
	void (*wr_close)(void *state);
};

/* Registry (formats/registry.c). */
const struct format_ops *format_find(const char *name, size_t len);
/* By extension of a file name once the codec extension is removed
 * ("x.csv.gz" -> csv); NULL if unknown. */
const struct format_ops *format_by_extension(const char *filename);
/* By content: the best probe() score over the decoded head; NULL if none. */
const struct format_ops *format_by_content(const char *head, size_t n);
const struct format_ops *const *format_list(void);

#endif
