/* What the blocking (librowd.c) and async (librowd_async.c) clients share:
 * errors as values, the receive buffer with its frame scanner and decoding
 * zone, request packing, and a cursor-based look at an answer's envelope.
 * Nothing here touches a socket. Private to librowd (prefix rc_).
 */
#ifndef ROWD_CONN_COMMON_H
#define ROWD_CONN_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rowd/rowd.h"
#include "rowd_proto.h"

/* ---- errors --------------------------------------------------------------- */

#define RC_ERRCODE_MAX 16

struct rc_err {
	char code[RC_ERRCODE_MAX];   /* "" when none */
	char msg[ROWD_ERRMSG_MAX];
	int64_t line, row;
};

void rc_err_clear(struct rc_err *e);
void rc_err_vset(struct rc_err *e, const char *code, const char *fmt, va_list ap);
/* Returns -1 for `return rc_err_set(...)`. */
int rc_err_set(struct rc_err *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rc_err_nomem(struct rc_err *e);
/* Takes the daemon's {error: {code, message, line?, row?}} of an ok:false
 * answer. */
void rc_err_from_answer(struct rc_err *e, const msgpack_object *ans);

/* ---- receiving ------------------------------------------------------------ */

/* Received bytes; frames start at pos. The buffer is compacted, never
 * shrunk, and the zone keeps its chunk across answers, so that a run of
 * similar batches settles to no allocation at all. */
struct rc_in {
	char *buf;
	size_t len, cap, pos;
	struct proto_scanner scan;   /* resumable: over the frame at pos */
	struct rowd_limits lim;

	msgpack_zone zone;           /* holds the last decoded object */
	bool zone_ok;
	void *zone_first;            /* head chunk right after init/clear */
	bool zone_overflowed;
};

int rc_in_init(struct rc_in *in);
void rc_in_free(struct rc_in *in);
/* Drops the frames before pos. Only once nothing decoded from them (or
 * pointing into them) is referenced any more. */
void rc_in_compact(struct rc_in *in);
/* Room for a read at buf + len (cap - len bytes); -1 when out of memory. */
int rc_in_room(struct rc_in *in);
/* 1 and *flen when a whole frame starts at pos, 0 when more bytes are
 * needed, -1 (EPROTO/ELIMIT in err) when the bytes cannot be an answer. */
int rc_in_frame(struct rc_in *in, size_t *flen, struct rc_err *err);
/* Moves past the frame at pos. */
void rc_in_take(struct rc_in *in, size_t flen);
/* Decodes p[0..n) (inside buf) into the zone, replacing what it held.
 * 0; -1 out of memory (the stream is still in step); -2 undecodable. */
int rc_decode(struct rc_in *in, const char *p, size_t n, msgpack_object *out,
              struct rc_err *err);

/* ---- the connection ------------------------------------------------------- */

/* The core both contexts are built on, as hiredis keeps a redisContext
 * inside its redisAsyncContext: the socket, the receive side, request
 * ids and the error. Once broken it stays broken, with the error that
 * broke it. */
struct rc_conn {
	int fd;
	bool broken;
	char *sock_path;
	uint64_t last_id;            /* id of the last request packed */
	struct rc_in in;
	struct mpbuf jbuf;           /* scratch: JSON requests parsed to msgpack */
	struct rc_err err;
};

/* path NULL: $ROWD_SOCKET, then the default. -1 when out of memory (then
 * rc_conn_free). */
int rc_conn_init(struct rc_conn *c, const char *path);
/* Connects; nonblock for the async context. 0: connected; 1: going on in
 * the background (wait for writability, then rc_conn_connected); -1:
 * broken, err set. */
int rc_conn_connect(struct rc_conn *c, bool nonblock);
/* How a background connect went: 0, or -1 with *err set (the caller
 * breaks the connection). */
int rc_conn_connected(const struct rc_conn *c, struct rc_err *err);
/* Breaks the connection (the error stays as it was set). */
void rc_conn_break(struct rc_conn *c);
void rc_conn_free(struct rc_conn *c);

/* ---- answers -------------------------------------------------------------- */

bool rc_get_int(const msgpack_object *map, const char *key, int64_t *v);
bool rc_get_uint(const msgpack_object *map, const char *key, uint64_t *v);
bool rc_get_bool(const msgpack_object *map, const char *key);

/* The envelope of one answer frame, read with the cursor: no decoding,
 * so a batch of rows can be handed out raw. */
struct rc_msg {
	bool has_id;                 /* id is a non-negative integer */
	uint64_t id;
	bool id_nil;                 /* id absent or nil: a frame the daemon could not read */
	bool has_ok, ok;
	bool has_rows;               /* rows: an array */
	const char *rows;
	size_t rows_len;
	uint32_t nrows;
	uint64_t seq;
	bool has_progress;
	struct rowd_progress progress;
	bool eof;
};

/* 0, or -1 when p[0..n) is not a map with string keys. */
int rc_msg_scan(const char *p, size_t n, struct rc_msg *m);

/* A message of a stream or convert that ends it (besides errors): a
 * stream's says eof (it might carry the last rows too), a convert's is
 * the one that is neither rows nor progress. */
static inline bool rc_msg_final(const struct rc_msg *m)
{
	return m->ok && (m->eof || (!m->has_rows && !m->has_progress));
}

/* ---- requests ------------------------------------------------------------- */

/* Starts a request map with id, op (NULL: among the fields) and room for
 * nfields more. All packers return -1 (ENOMEM, or EINVAL for bad JSON
 * options) with err set. */
int rc_req_begin(struct mpbuf *b, uint64_t id, const char *op, uint32_t nfields,
                 struct rc_err *err);
int rc_put_kstr(struct mpbuf *b, const char *key, const char *val);
int rc_put_kuint(struct mpbuf *b, const char *key, uint64_t val);

/* open: path and the options given. */
uint32_t rc_open_nfields(const struct rowd_open_opts *o);
int rc_pack_open_fields(struct mpbuf *b, const char *path, const struct rowd_open_opts *o,
                        struct rc_err *err);
/* stream: handle, batch?, limit?, progress?. */
uint32_t rc_stream_nfields(const struct rowd_stream_opts *o, bool progress);
int rc_pack_stream_fields(struct mpbuf *b, int handle, const struct rowd_stream_opts *o,
                          bool progress, struct rc_err *err);
/* convert: from, to, progress?. */
uint32_t rc_convert_nfields(bool progress);
int rc_pack_convert_fields(struct mpbuf *b, const char *from, const struct rowd_open_opts *fo,
                           const char *to, const struct rowd_open_opts *to_opts,
                           bool progress, struct rc_err *err);
/* A JSON request as the fields of a request map: parsed into jbuf, then
 * fields and len give its fields (without the map header) and count
 * says how many. Refuses an id (the library numbers requests) and
 * requests answered by several messages (stream, progress: they have
 * their own functions). */
int rc_json_request(struct mpbuf *jbuf, const char *json, const char **fields, size_t *len,
                    uint32_t *count, struct rc_err *err);

/* The convert result picked out of its final answer. */
void rc_convert_result(const msgpack_object *ans, struct rowd_convert_result *out);

#endif
