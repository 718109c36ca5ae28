/* librowd: client library for the rowd row-stream daemon.
 *
 * Three parts, all on connections speaking the binary (msgpack) protocol:
 *
 * - the blocking API (rowd_ctx): one call, one answer;
 * - the async API (rowd_async): requests with callbacks, pipelined on one
 *   connection and matched to their answers by id, driven by an event
 *   loop through a header-only adapter (rowd/adapters/libevent.h) or by
 *   any poll loop (rowd_async_fd and friends): the library links no event
 *   loop;
 * - a zero-allocation cursor over packed rows (struct rowd_cursor).
 *
 * A context (blocking or async) is not thread-safe: use each from one
 * thread at a time.
 *
 * Blocking API: every call returns -1 on failure and leaves the code (the
 * daemon's stable string, e.g. "EFORMAT", or a local one: "ECONN" for a
 * broken connection) and message in the context; a context whose
 * connection broke stays broken (rowd_ctx_broken()). Rows are
 * msgpack_object maps valid until the next call on the context.
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
typedef struct rowd_async rowd_async;

/* Default socket: $ROWD_SOCKET, then this. */
#define ROWD_DEFAULT_SOCKET "/run/rowd/rowd.sock"

struct rowd_open_opts {
	const char *mode;          /* "r" (default) or "w" */
	const char *format;        /* NULL = detect */
	const char *codec;         /* NULL = detect */
	const char *engine;        /* NULL = internal */
	const char *options_json;  /* format options as a JSON object, or NULL */
	const char *codec_options_json;
};

/* ---- streams (both APIs) ------------------------------------------------ */

struct rowd_stream_opts {
	size_t batch;              /* rows per message; 0 = the daemon's default */
	uint64_t limit;            /* stop after this many rows; 0 = all */
	/* Hand batches out as packed bytes only (rows NULL): for the cursor,
	 * nothing is decoded. */
	bool raw;
};

/* One message of rows. Everything in it is valid during the callback. */
struct rowd_batch {
	const msgpack_object *rows;   /* array of row maps; NULL with opts.raw */
	const char *raw;              /* the packed rows array (header included): */
	size_t raw_len;               /*   rowd_cursor_init(&cur, raw, raw_len)   */
	uint32_t count;               /* rows in this batch */
	uint64_t seq;                 /* 0, 1, 2, ... */
};

/* Where a stream or convert stands (sent every ~250 ms when asked for).
 * bytes_total is 0 when the source size is unknown (a pipe). */
struct rowd_progress {
	uint64_t bytes_read;
	uint64_t bytes_total;
	uint64_t rows;
};

/* Return 0 to go on; anything else cancels the stream (or convert): the
 * library sends `cancel`, delivers no more batches or progress, and the
 * stream ends as the daemon reports it. */
typedef int (*rowd_batch_cb)(const struct rowd_batch *batch, void *arg);
typedef int (*rowd_progress_cb)(const struct rowd_progress *progress, void *arg);

/* ---- the blocking API --------------------------------------------------- */

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

/* Opens path on the daemon; returns the handle (>= 1) or -1. The whole
 * answer (format, codec, columns, ...) is available via rowd_last_answer(). */
int rowd_open(rowd_ctx *c, const char *path, const struct rowd_open_opts *opts);

/* One row: 1 and *row set, 0 at end of data, -1 on error. */
int rowd_read(rowd_ctx *c, int handle, const msgpack_object **row);
/* Up to n rows: returns the count (0..n) and sets *rows to an array object
 * of maps and *eof; -1 on error. */
int rowd_read_bulk(rowd_ctx *c, int handle, size_t n, const msgpack_object **rows,
                   bool *eof);

/* Streams the rows of handle: batch_cb is called for every message of
 * rows (NULL: they are only counted), progress_cb (may be NULL; progress
 * is asked for only when given) for progress. Returns the daemon's
 * rows_total, or -1. A callback that
 * returns non-zero cancels: the library sends `cancel`, drops what still
 * arrives, and returns rows_total, which then counts the rows the handle
 * moved past (batches dropped after the cancel included); the handle
 * stays open there. rowd_last_answer() is the final message
 * ({eof, rows_total, cancelled?, limit_reached?, skipped?}). The
 * callbacks must not call other functions on the context. */
int64_t rowd_stream(rowd_ctx *c, int handle, const struct rowd_stream_opts *opts,
                    rowd_batch_cb batch_cb, rowd_progress_cb progress_cb, void *arg);

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

struct rowd_convert_result {
	uint64_t rows_in, rows_out, rows_skipped;
	uint64_t bytes_in, bytes_out;
	double seconds;
	bool cancelled;            /* a progress callback asked to stop */
};

/* Copies from_path into to_path on the daemon (no rows cross the
 * socket; the target is replaced atomically). The opts may be NULL; their
 * modes are the daemon's ("r" from, "w" to). progress_cb may be NULL.
 * Returns 0 and fills *out (may be NULL), or -1. When progress_cb returns
 * non-zero the convert is cancelled, the target stays as it was, and the
 * call returns 0 with out->cancelled set. */
int rowd_convert(rowd_ctx *c, const char *from_path, const struct rowd_open_opts *from_opts,
                 const char *to_path, const struct rowd_open_opts *to_opts,
                 rowd_progress_cb progress_cb, void *arg, struct rowd_convert_result *out);

int rowd_ping(rowd_ctx *c);
/* Any request given as a JSON object without "id" (added by the library),
 * e.g. {"op":"stats"}. Returns 0 and sets *answer to the answer map.
 * Requests answered by several messages (stream, progress) are refused. */
int rowd_request_json(rowd_ctx *c, const char *json, const msgpack_object **answer);
/* The answer map of the last successful call. */
const msgpack_object *rowd_last_answer(const rowd_ctx *c);

/* ---- the async API ------------------------------------------------------ */

/* What a request came to, given to its callback; valid during the
 * callback only. */
struct rowd_reply {
	/* NULL on success. Otherwise the daemon's code ("EFORMAT", ...), or
	 * "ECONN" when the connection dropped or the context was freed
	 * before the answer came, and the message. */
	const char *errcode;
	const char *errstr;           /* "" on success */
	int64_t errline, errrow;      /* named by the daemon, else -1 */
	/* The answer map (for a stream or convert: its last message), or NULL
	 * when no answer came. */
	const msgpack_object *answer;
	/* Picked out of the answer, by request: */
	int handle;                   /* open: the new handle */
	const msgpack_object *rows;   /* read_bulk: array of row maps */
	bool eof;                     /* read_bulk: the source is done */
	/* write_bulk: rows written; close: rows_written (w) or rows_read (r);
	 * totals: the count; stream: rows_total; convert: rows_out. */
	uint64_t count;
	bool cancelled;               /* stream, convert: ended by a cancel */
	bool limit_reached;           /* stream: ended at opts.limit */
};

typedef void (*rowd_reply_cb)(rowd_async *ac, const struct rowd_reply *reply, void *arg);
/* status 0: the context is being freed; -1: the connection was lost (see
 * rowd_async_errcode/errstr; the context stays, broken, until the caller
 * frees it, which it may do here). Called once, after every pending
 * request's callback got its ECONN error. */
typedef void (*rowd_disconnect_cb)(rowd_async *ac, int status, void *arg);

/* Starts a non-blocking connect to path (NULL = default). Returns NULL
 * only when out of memory; a connect that fails at once leaves the
 * context broken (rowd_async_broken). Requests may be made at once: they
 * go out when the connection is up. */
rowd_async *rowd_async_connect(const char *path);
/* Frees the context. Pending requests' callbacks get an ECONN error, then
 * the disconnect callback runs with status 0. Inside a callback of this
 * context the free waits until the callback returns; no further
 * callbacks of answers run. */
void rowd_async_free(rowd_async *ac);

bool rowd_async_broken(const rowd_async *ac);
/* The last error: of the request call that last failed, or the one that
 * broke the connection. "" when none. */
const char *rowd_async_errcode(const rowd_async *ac);
const char *rowd_async_errstr(const rowd_async *ac);
/* Requests sent (or queued) and not yet fully answered. */
size_t rowd_async_pending(const rowd_async *ac);
void rowd_async_on_disconnect(rowd_async *ac, rowd_disconnect_cb cb, void *arg);

/* Driving from any poll loop: wait for the fd to be readable (always)
 * and writable (while rowd_async_want_write), then call the handlers.
 * A callback run by a handler may have freed the context: check before
 * touching it again. Called from inside a callback the handlers do
 * nothing (the running handler goes on). The fd is -1 once the
 * connection is broken. */
int rowd_async_fd(const rowd_async *ac);
bool rowd_async_want_write(const rowd_async *ac);
void rowd_async_handle_read(rowd_async *ac);
void rowd_async_handle_write(rowd_async *ac);

/* Event-library glue, filled in by an adapter: the library calls these
 * when it wants (or stops wanting) to read or write, and cleanup when
 * the context is freed. */
struct rowd_async_events {
	void *data;
	void (*add_read)(void *data);
	void (*del_read)(void *data);
	void (*add_write)(void *data);
	void (*del_write)(void *data);
	void (*cleanup)(void *data);
};
/* Installs the adapter; -1 when one is installed already or the
 * connection is broken. Reading starts at once. */
int rowd_async_set_events(rowd_async *ac, const struct rowd_async_events *ev);

/* Requests: each returns its id (> 0) or -1 (then the callback is never
 * called; see rowd_async_errcode). cb may be NULL. Callbacks run from the
 * handlers, never from inside these calls. */
int64_t rowd_async_open(rowd_async *ac, const char *path, const struct rowd_open_opts *opts,
                        rowd_reply_cb cb, void *arg);
int64_t rowd_async_read_bulk(rowd_async *ac, int handle, size_t n, rowd_reply_cb cb,
                             void *arg);
/* batch_cb per message of rows (NULL: only counted), progress_cb (may be
 * NULL; asked for only when given) for progress, done_cb once at the end
 * (or error). Callback return values as for rowd_stream. The id serves
 * rowd_async_cancel. */
int64_t rowd_async_stream(rowd_async *ac, int handle, const struct rowd_stream_opts *opts,
                          rowd_batch_cb batch_cb, rowd_progress_cb progress_cb,
                          rowd_reply_cb done_cb, void *arg);
/* The rows are copied: they need not outlive the call. */
int64_t rowd_async_write_bulk(rowd_async *ac, int handle, const msgpack_object *rows,
                              rowd_reply_cb cb, void *arg);
int64_t rowd_async_write_bulk_packed(rowd_async *ac, int handle, const char *buf, size_t len,
                                     size_t count, rowd_reply_cb cb, void *arg);
int64_t rowd_async_reset(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg);
int64_t rowd_async_totals(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg);
int64_t rowd_async_close(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg);
int64_t rowd_async_convert(rowd_async *ac, const char *from_path,
                           const struct rowd_open_opts *from_opts, const char *to_path,
                           const struct rowd_open_opts *to_opts, rowd_progress_cb progress_cb,
                           rowd_reply_cb done_cb, void *arg);
/* As rowd_request_json. */
int64_t rowd_async_request_json(rowd_async *ac, const char *json, rowd_reply_cb cb,
                                void *arg);
/* Cancels the stream or convert with that id: no more of its batches or
 * progress are delivered; its done callback tells how it ended. -1 when
 * no such request is pending. */
int rowd_async_cancel(rowd_async *ac, int64_t id);

/* ---- helpers over rows -------------------------------------------------- */

/* NULL-safe, so that lookups chain: rowd_map_get(rowd_map_get(a, "x"), "y"). */
const msgpack_object *rowd_map_get(const msgpack_object *map, const char *key);
/* Appends the object as JSON to a malloc'd buffer; returns 0/-1. */
int rowd_to_json(const msgpack_object *o, char **buf, size_t *len, size_t *cap);

/* ---- the cursor --------------------------------------------------------- */

/* Walks packed rows without allocating or copying: over a packed array of
 * maps (a batch's raw bytes) or over maps packed back to back (one packed
 * map is a run of one). It never reads outside [buf, buf + len) and
 * answers -1 for malformed bytes; once -1, always -1. Strings point into
 * the buffer. */
enum rowd_type {
	ROWD_NIL,
	ROWD_BOOL,
	ROWD_INT,      /* any integer that fits int64_t */
	ROWD_UINT,     /* only above INT64_MAX */
	ROWD_DOUBLE,   /* float32 too */
	ROWD_STR,
	ROWD_BIN,
	ROWD_NESTED,   /* map, array or ext: via.str spans its packed bytes */
};

struct rowd_value {
	enum rowd_type type;
	union {
		bool boolean;
		int64_t i64;
		uint64_t u64;
		double f64;
		struct {
			const char *ptr;
			size_t len;
		} str;                 /* STR, BIN, NESTED */
	} via;
};

/* The members are private. */
struct rowd_cursor {
	const unsigned char *p, *end;
	uint64_t rows_left;        /* UINT64_MAX: maps back to back until end */
	uint32_t fields_left;      /* of the current row */
	bool broken;
};

void rowd_cursor_init(struct rowd_cursor *cur, const void *buf, size_t len);
/* Moves to the next row (skipping fields of the current one not read):
 * 1 and *nfields (may be NULL), 0 at the end, -1 on malformed bytes. */
int rowd_cursor_next_row(struct rowd_cursor *cur, uint32_t *nfields);
/* The next field of the current row: 1, 0 when the row has no more, -1
 * on malformed bytes (keys must be strings). */
int rowd_cursor_next_field(struct rowd_cursor *cur, const char **key, size_t *keylen,
                           struct rowd_value *val);

#ifdef __cplusplus
}
#endif
#endif
