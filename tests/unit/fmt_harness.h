/* Drives a format reader or writer over in-memory bytes, for unit tests.
 * Rows cross the harness as JSON Lines text so tests read naturally. */
#ifndef ROWD_FMT_HARNESS_H
#define ROWD_FMT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "format.h"
#include "rowd_proto.h"

struct fmt_result {
	int rc;                  /* 0 ok, -1 error */
	struct rowd_error err;
	char *jsonl;             /* rows read, one JSON object per line (malloc) */
	size_t nrows;
	uint64_t skipped;
	char *columns;           /* JSON array of column names, or NULL */
	char *packed;            /* the rows as packed (concatenated maps, malloc) */
	size_t packed_len;
};

/* Reads all rows of data (through codec, NULL = none) with options given
 * as a JSON object text (NULL = none), batch rows per rd_next call. */
struct fmt_result fmt_read_all(const struct format_ops *f, const void *data, size_t n,
                               const char *options_json, size_t batch);
/* Same with the given limits (row_bytes sizes the input window too). */
struct fmt_result fmt_read_all_limits(const struct format_ops *f, const void *data, size_t n,
                                      const char *options_json, size_t batch,
                                      const struct rowd_limits *limits);
/* Same, data read from a file. */
struct fmt_result fmt_read_file(const struct format_ops *f, const char *path,
                                const char *options_json, const struct codec_ops *codec);
void fmt_result_free(struct fmt_result *r);

/* Writes rows (JSON Lines text) with the writer and returns the bytes
 * produced (malloc'd, *n set), or NULL with err filled. */
char *fmt_write_all(const struct format_ops *f, const char *rows_jsonl,
                    const char *options_json, size_t *n, struct rowd_error *err);

/* Formats that read or write the file themselves (FMT_CAP_RAW). Every
 * reader above also gets fmt_args.fd and fd_path, as jobs.c gives them. */
struct fmt_result fmt_read_raw(const struct format_ops *f, const char *path,
                               const char *options_json, size_t batch);
/* Writes rows (JSON Lines text) to dir/name as jobs.c does: through a temp
 * file beside it (fmt_args.wf), renamed over the target when commit, else
 * abandoned after the rows (wr_close without wr_finish, temp removed).
 * Returns 0, or -1 with err. */
int fmt_write_raw(const struct format_ops *f, const char *dir, const char *name,
                  const char *rows_jsonl, const char *options_json, bool commit,
                  struct rowd_error *err);
/* The tables hook over a file: a JSON array text (malloc'd), or NULL with
 * err. */
char *fmt_tables_raw(const struct format_ops *f, const char *path, const char *options_json,
                     struct rowd_error *err);
/* fmt_read_raw and fmt_tables_raw with options as a msgpack object (NULL:
 * none), for options JSON cannot spell (bin, ext, non-UTF-8 str). */
struct fmt_result fmt_read_raw_obj(const struct format_ops *f, const char *path,
                                   const msgpack_object *options, size_t batch);
char *fmt_tables_raw_obj(const struct format_ops *f, const char *path,
                         const msgpack_object *options, struct rowd_error *err);

/* Rows given packed (concatenated msgpack objects, each handed to wr_row
 * as the daemon's write op does). With accepted (one flag per row), a row
 * refused with EINVAL or ELIMIT is marked false and the writer goes on, as
 * after a refused write; without it the first refusal ends the write. */
char *fmt_write_packed(const struct format_ops *f, const char *packed, size_t len,
                       const char *options_json, bool *accepted, size_t *n,
                       struct rowd_error *err);
/* fmt_write_raw with packed rows, committed. */
int fmt_write_raw_packed(const struct format_ops *f, const char *dir, const char *name,
                         const char *packed, size_t len, const char *options_json,
                         bool *accepted, struct rowd_error *err);

/* Format options as a JSON object text (NULL = none) to the msgpack
 * object *out points to (in up, over raw). */
int fmt_parse_options(const char *json, msgpack_unpacked *up, struct mpbuf *raw,
                      const msgpack_object **out, struct rowd_error *err);
/* A memfd holding data[0..n); aborts on failure. */
int fmt_memfd(const void *data, size_t n);

/* A codec that hands out 1..7 bytes per read: every record, line or
 * document then straddles window ends, which exercises resumed scans. */
extern const struct codec_ops fmt_codec_trickle;

/* Reads a whole file (malloc'd, NUL-terminated; *n set). */
char *fmt_slurp(const char *path, size_t *n);

#endif
