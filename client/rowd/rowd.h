/* librowd: client library for the rowd row-stream daemon.
 *
 * Blocking API. A context is one connection speaking the binary (msgpack)
 * protocol. Every call returns -1 on failure and leaves the code (the
 * daemon's stable string, e.g. "EFORMAT", or a local one: "ECONN" for a
 * broken connection) and message in the context; a context whose
 * connection broke stays broken (rowd_ctx_broken()).
 *
 * Rows are msgpack_object maps valid until the next call on the context.
 */
#ifndef ROWD_ROWD_H
#define ROWD_ROWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rowd_ctx rowd_ctx;

/* Default socket: $ROWD_SOCKET, then this. */
#define ROWD_DEFAULT_SOCKET "/run/rowd/rowd.sock"

/* Connects to path (NULL = default). Returns NULL only when out of memory;
 * otherwise check rowd_ctx_broken(). */
rowd_ctx *rowd_connect(const char *path);
void rowd_free(rowd_ctx *c);

bool rowd_ctx_broken(const rowd_ctx *c);
/* Last error: code string ("" when none), message, and the line/row the
 * daemon named (-1 when none). */
const char *rowd_errcode(const rowd_ctx *c);
const char *rowd_errstr(const rowd_ctx *c);
int64_t rowd_errline(const rowd_ctx *c);
int64_t rowd_errrow(const rowd_ctx *c);

struct rowd_open_opts {
	const char *mode;          /* "r" (default) or "w" */
	const char *format;        /* NULL = detect */
	const char *codec;         /* NULL = detect */
	const char *engine;        /* NULL = internal */
	const char *options_json;  /* format options as a JSON object, or NULL */
	const char *codec_options_json;
};

/* Opens path on the daemon; returns the handle (>= 1) or -1. The whole
 * answer (format, codec, columns, ...) is available via rowd_last_answer(). */
int rowd_open(rowd_ctx *c, const char *path, const struct rowd_open_opts *opts);

/* One row: 1 and *row set, 0 at end of data, -1 on error. */
int rowd_read(rowd_ctx *c, int handle, const msgpack_object **row);
/* Up to n rows: returns the count (0..n) and sets *rows to an array object
 * of maps and *eof; -1 on error. */
int rowd_read_bulk(rowd_ctx *c, int handle, size_t n, const msgpack_object **rows,
                   bool *eof);

int rowd_write(rowd_ctx *c, int handle, const msgpack_object *row);
/* rows: an array object of maps. */
int rowd_write_bulk(rowd_ctx *c, int handle, const msgpack_object *rows);
/* count maps already packed back to back in buf. */
int rowd_write_bulk_packed(rowd_ctx *c, int handle, const char *buf, size_t len,
                           size_t count);

int rowd_reset(rowd_ctx *c, int handle);
/* Exact row count, or -1 (ENOTSUP when the format cannot tell). */
int64_t rowd_totals(rowd_ctx *c, int handle);
/* Closes; for a write handle commits and sets *rows_written (may be NULL). */
int rowd_close(rowd_ctx *c, int handle, uint64_t *rows_written);

int rowd_ping(rowd_ctx *c);
/* Any request given as a JSON object without "id" (added by the library),
 * e.g. {"op":"stats"}. Returns 0 and sets *answer to the answer map. */
int rowd_request_json(rowd_ctx *c, const char *json, const msgpack_object **answer);
/* The answer map of the last successful call. */
const msgpack_object *rowd_last_answer(const rowd_ctx *c);

/* Helpers over rows. */
const msgpack_object *rowd_map_get(const msgpack_object *map, const char *key);
/* Appends the object as JSON to a malloc'd buffer; returns 0/-1. */
int rowd_to_json(const msgpack_object *o, char **buf, size_t *len, size_t *cap);

#ifdef __cplusplus
}
#endif
#endif
