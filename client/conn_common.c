/* Shared by the blocking and the async client (see conn_common.h). */
#include "conn_common.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Answers carry whole batches of rows: far above the request limits. */
#define ANSWER_FRAME_MAX ((size_t)256 << 20)
#define RBUF_MIN ((size_t)64 << 10)
/* The zone's retained chunk grows to fit the answers seen, up to this. */
#define ZONE_CHUNK_MAX ((size_t)64 << 20)
/* msgpack-c decodes with a fixed stack of this many levels
 * (MSGPACK_EMBED_STACK_SIZE in its private unpack_define.h). */
#define MSGPACK_C_DEPTH 32

/* ---- errors --------------------------------------------------------------- */

void rc_err_clear(struct rc_err *e)
{
	e->code[0] = '\0';
	e->msg[0] = '\0';
	e->line = -1;
	e->row = -1;
}

void rc_err_vset(struct rc_err *e, const char *code, const char *fmt, va_list ap)
{
	snprintf(e->code, sizeof e->code, "%s", code);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	e->line = -1;
	e->row = -1;
}

int rc_err_set(struct rc_err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc_err_vset(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int rc_err_nomem(struct rc_err *e)
{
	return rc_err_set(e, "ENOMEM", "out of memory");
}

/* Copies a msgpack string into a C buffer, truncating. */
static void str_copy(char *dst, size_t cap, const msgpack_object *o, const char *dflt)
{
	size_t n;

	if (!o || o->type != MSGPACK_OBJECT_STR) {
		snprintf(dst, cap, "%s", dflt);
		return;
	}
	n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
	memcpy(dst, o->via.str.ptr, n);
	dst[n] = '\0';
}

void rc_err_from_answer(struct rc_err *e, const msgpack_object *ans)
{
	const msgpack_object *eo = proto_map_get(ans, "error");
	int64_t v;

	rc_err_clear(e);
	if (!eo || eo->type != MSGPACK_OBJECT_MAP) {
		rc_err_set(e, "EPROTO", "error answer without an error map");
		return;
	}
	str_copy(e->code, sizeof e->code, proto_map_get(eo, "code"), "EPROTO");
	if (!e->code[0])   /* "" means no error to our callers */
		str_copy(e->code, sizeof e->code, NULL, "EPROTO");
	str_copy(e->msg, sizeof e->msg, proto_map_get(eo, "message"), "");
	if (rc_get_int(eo, "line", &v))
		e->line = v;
	if (rc_get_int(eo, "row", &v))
		e->row = v;
}

/* ---- receiving ------------------------------------------------------------ */

static void answer_limits(struct rowd_limits *l)
{
	/* The scanner still guards against headers that promise more than
	 * the frame can hold; the per-request limits do not apply to what
	 * the daemon sends back (a batch is one frame, rows nest inside the
	 * answer map and the rows array). */
	rowd_limits_default(l);
	l->frame_bytes = ANSWER_FRAME_MAX;
	l->elements = ANSWER_FRAME_MAX;
	l->str_bytes = ANSWER_FRAME_MAX;
	l->row_bytes = ANSWER_FRAME_MAX;
	l->depth = PROTO_SCAN_MAX_DEPTH;
}

int rc_in_init(struct rc_in *in)
{
	memset(in, 0, sizeof *in);
	answer_limits(&in->lim);
	proto_scanner_init(&in->scan);
	in->zone_ok = msgpack_zone_init(&in->zone, MSGPACK_ZONE_CHUNK_SIZE);
	if (!in->zone_ok)
		return -1;
	in->zone_first = in->zone.chunk_list.head;
	return 0;
}

void rc_in_free(struct rc_in *in)
{
	if (in->zone_ok)
		msgpack_zone_destroy(&in->zone);
	in->zone_ok = false;
	free(in->buf);
	in->buf = NULL;
}

void rc_in_compact(struct rc_in *in)
{
	if (in->pos == 0)
		return;
	if (in->pos < in->len)
		memmove(in->buf, in->buf + in->pos, in->len - in->pos);
	in->len -= in->pos;
	in->pos = 0;
}

int rc_in_room(struct rc_in *in)
{
	size_t cap;
	char *p;

	if (in->cap - in->len >= RBUF_MIN / 2)
		return 0;
	cap = in->cap ? in->cap * 2 : RBUF_MIN;
	p = realloc(in->buf, cap);
	if (!p)
		return -1;
	in->buf = p;
	in->cap = cap;
	return 0;
}

int rc_in_frame(struct rc_in *in, size_t *flen, struct rc_err *err)
{
	struct rowd_error perr;
	int r;

	rowd_error_clear(&perr);
	r = proto_scan(&in->scan, in->buf + in->pos, in->len - in->pos, &in->lim, flen, &perr);
	if (r < 0)
		return rc_err_set(err, "EPROTO", "bad answer: %s: %s", rowd_err_name(perr.code),
		                  perr.message);
	return r;
}

void rc_in_take(struct rc_in *in, size_t flen)
{
	in->pos += flen;
	proto_scanner_init(&in->scan);
}

/* Readies the zone for n bytes of answer. It is rebuilt bigger when the
 * answer will not fit its chunk (or the last one did not), so that it
 * settles instead of malloc'ing and freeing (mmap'ing and munmap'ing)
 * chunks for every batch. */
static int zone_reset(struct rc_in *in, size_t n)
{
	size_t want = in->zone_ok ? in->zone.chunk_size : MSGPACK_ZONE_CHUNK_SIZE;

	if (in->zone_overflowed)
		want *= 4;
	/* Decoded rows of strings take ~3x their encoded bytes; rows of
	 * small numbers more, which the overflow check above catches. */
	while (want < n * 4 && want < ZONE_CHUNK_MAX)
		want *= 2;
	if (want > ZONE_CHUNK_MAX)
		want = ZONE_CHUNK_MAX;
	in->zone_overflowed = false;
	if (in->zone_ok && want <= in->zone.chunk_size) {
		msgpack_zone_clear(&in->zone);   /* keeps the first chunk */
		return 0;
	}
	if (in->zone_ok)
		msgpack_zone_destroy(&in->zone);
	in->zone_ok = msgpack_zone_init(&in->zone, want) ||
	              msgpack_zone_init(&in->zone, MSGPACK_ZONE_CHUNK_SIZE);
	if (!in->zone_ok)
		return -1;
	in->zone_first = in->zone.chunk_list.head;
	return 0;
}

int rc_decode(struct rc_in *in, const char *p, size_t n, msgpack_object *out,
              struct rc_err *err)
{
	size_t off = 0;
	msgpack_unpack_return r;

	if (zone_reset(in, n) < 0) {
		rc_err_nomem(err);
		return -1;
	}
	/* msgpack_unpack is marked obsolete in msgpack-c but is the only
	 * entry point that decodes into a zone the caller keeps. */
	r = msgpack_unpack(p, n, &off, &in->zone, out);
	in->zone_overflowed = in->zone.chunk_list.head != in->zone_first;
	/* msgpack-c also says NOMEM for nesting deeper than its fixed stack. */
	if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
		rc_err_set(err, "ENOMEM", "cannot decode a %zu-byte answer: out of memory "
		           "or nested deeper than %d levels", n, MSGPACK_C_DEPTH);
		return -1;
	}
	if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
		rc_err_set(err, "EPROTO", "undecodable answer");
		return -2;
	}
	return 0;
}

/* ---- the connection ------------------------------------------------------- */

int rc_conn_init(struct rc_conn *c, const char *path)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	mpbuf_init(&c->jbuf);
	rc_err_clear(&c->err);
	if (!path || !*path)
		path = getenv("ROWD_SOCKET");
	if (!path || !*path)
		path = ROWD_DEFAULT_SOCKET;
	c->sock_path = strdup(path);
	if (!c->sock_path || rc_in_init(&c->in) < 0)
		return -1;
	return 0;
}

void rc_conn_break(struct rc_conn *c)
{
	c->broken = true;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

void rc_conn_free(struct rc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	rc_in_free(&c->in);
	mpbuf_free(&c->jbuf);
	free(c->sock_path);
	c->sock_path = NULL;
}

__attribute__((format(printf, 3, 4)))
static int conn_fail(struct rc_conn *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc_err_vset(&c->err, code, fmt, ap);
	va_end(ap);
	rc_conn_break(c);
	return -1;
}

/* A blocking connect(2) interrupted by a signal goes on in the
 * background: wait for it instead of connecting twice. */
static int wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r;

	do
		r = poll(&pfd, 1, -1);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : 0;
}

int rc_conn_connected(const struct rc_conn *c, struct rc_err *err)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr)
		return rc_err_set(err, "ECONN", "cannot connect to %s: %s", c->sock_path,
		                  strerror(soerr));
	return 0;
}

int rc_conn_connect(struct rc_conn *c, bool nonblock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(c->sock_path);

	if (n == 0 || n >= sizeof sa.sun_path)
		return conn_fail(c, "ECONN", "cannot connect to %s: socket path %s", c->sock_path,
		                 n ? "too long" : "empty");
	memcpy(sa.sun_path, c->sock_path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (c->fd < 0)
		return conn_fail(c, "ECONN", "cannot connect to %s: socket: %s", c->sock_path,
		                 strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return 0;
	/* A Unix socket connects at once or fails; EINPROGRESS (and EINTR,
	 * after which the connect goes on) are handled for other kernels. */
	if (nonblock && (errno == EINPROGRESS || errno == EINTR))
		return 1;
	if (!nonblock && errno == EINTR && wait_writable(c->fd) == 0) {
		if (rc_conn_connected(c, &c->err) < 0) {
			rc_conn_break(c);
			return -1;
		}
		return 0;
	}
	if (errno == EAGAIN)
		return conn_fail(c, "ECONN", "cannot connect to %s: the daemon's listen queue is "
		                 "full", c->sock_path);
	return conn_fail(c, "ECONN", "cannot connect to %s: %s", c->sock_path, strerror(errno));
}

/* ---- answers -------------------------------------------------------------- */

bool rc_get_int(const msgpack_object *map, const char *key, int64_t *v)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else
		return false;
	return true;
}

bool rc_get_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

bool rc_get_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

static bool key_is(const char *k, size_t n, const char *s)
{
	size_t len = strlen(s);

	return n == len && memcmp(k, s, len) == 0;
}

static bool value_uint(const struct rowd_value *v, uint64_t *out)
{
	if (v->type == ROWD_INT && v->via.i64 >= 0)
		*out = (uint64_t)v->via.i64;
	else if (v->type == ROWD_UINT)
		*out = v->via.u64;
	else
		return false;
	return true;
}

/* rows must be an array: its header gives the count. */
static int msg_rows(const struct rowd_value *v, struct rc_msg *m)
{
	const unsigned char *p = (const unsigned char *)v->via.str.ptr;

	if (v->type != ROWD_NESTED)
		return -1;
	if ((p[0] & 0xf0) == 0x90)
		m->nrows = p[0] & 0x0f;
	else if (p[0] == 0xdc && v->via.str.len >= 3)
		m->nrows = (uint32_t)p[1] << 8 | p[2];
	else if (p[0] == 0xdd && v->via.str.len >= 5)
		m->nrows = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	else
		return -1;
	m->has_rows = true;
	m->rows = v->via.str.ptr;
	m->rows_len = v->via.str.len;
	return 0;
}

static int msg_progress(const struct rowd_value *v, struct rc_msg *m)
{
	struct rowd_cursor cur;
	struct rowd_value f;
	const char *k;
	size_t kn;
	int r;

	if (v->type != ROWD_NESTED)
		return -1;
	rowd_cursor_init(&cur, v->via.str.ptr, v->via.str.len);
	if (rowd_cursor_next_row(&cur, NULL) != 1)
		return -1;
	while ((r = rowd_cursor_next_field(&cur, &k, &kn, &f)) == 1) {
		if (key_is(k, kn, "bytes_read"))
			value_uint(&f, &m->progress.bytes_read);
		else if (key_is(k, kn, "bytes_total"))
			value_uint(&f, &m->progress.bytes_total);
		else if (key_is(k, kn, "rows"))
			value_uint(&f, &m->progress.rows);
	}
	m->has_progress = r == 0;
	return r;
}

static int msg_field(const char *k, size_t kn, const struct rowd_value *v, struct rc_msg *m)
{
	if (key_is(k, kn, "id")) {
		m->id_nil = v->type == ROWD_NIL;
		m->has_id = value_uint(v, &m->id);
	} else if (key_is(k, kn, "ok")) {
		m->has_ok = v->type == ROWD_BOOL;
		m->ok = m->has_ok && v->via.boolean;
	} else if (key_is(k, kn, "rows")) {
		return msg_rows(v, m);
	} else if (key_is(k, kn, "seq")) {
		value_uint(v, &m->seq);
	} else if (key_is(k, kn, "progress")) {
		return msg_progress(v, m);
	} else if (key_is(k, kn, "eof")) {
		m->eof = v->type == ROWD_BOOL && v->via.boolean;
	}
	return 0;
}

int rc_msg_scan(const char *p, size_t n, struct rc_msg *m)
{
	struct rowd_cursor cur;
	struct rowd_value v;
	const char *k;
	size_t kn;
	int r;

	memset(m, 0, sizeof *m);
	m->id_nil = true;
	rowd_cursor_init(&cur, p, n);
	if (rowd_cursor_next_row(&cur, NULL) != 1)
		return -1;
	while ((r = rowd_cursor_next_field(&cur, &k, &kn, &v)) == 1)
		if (msg_field(k, kn, &v, m) < 0)
			return -1;
	return r;
}

void rc_convert_result(const msgpack_object *ans, struct rowd_convert_result *out)
{
	const msgpack_object *s = proto_map_get(ans, "seconds");

	memset(out, 0, sizeof *out);
	rc_get_uint(ans, "rows_in", &out->rows_in);
	rc_get_uint(ans, "rows_out", &out->rows_out);
	rc_get_uint(ans, "rows_skipped", &out->rows_skipped);
	rc_get_uint(ans, "bytes_in", &out->bytes_in);
	rc_get_uint(ans, "bytes_out", &out->bytes_out);
	if (s && (s->type == MSGPACK_OBJECT_FLOAT64 || s->type == MSGPACK_OBJECT_FLOAT32))
		out->seconds = s->via.f64;
	out->cancelled = rc_get_bool(ans, "cancelled");
}

/* ---- requests ------------------------------------------------------------- */

int rc_put_kstr(struct mpbuf *b, const char *key, const char *val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_cstr(b, val) < 0 ? -1 : 0;
}

int rc_put_kuint(struct mpbuf *b, const char *key, uint64_t val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_uint(b, val) < 0 ? -1 : 0;
}

static int put_kbool(struct mpbuf *b, const char *key, bool val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_bool(b, val) < 0 ? -1 : 0;
}

int rc_req_begin(struct mpbuf *b, uint64_t id, const char *op, uint32_t nfields,
                 struct rc_err *err)
{
	if (mpbuf_map_hdr(b, nfields + (op ? 2 : 1)) < 0 || rc_put_kuint(b, "id", id) < 0 ||
	    (op && rc_put_kstr(b, "op", op) < 0))
		return rc_err_nomem(err);
	return 0;
}

static bool is_map_hdr(unsigned char b)
{
	return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
}

/* Appends JSON text `json` as msgpack to b; it must be an object. what
 * names it in messages. */
static int json_object(struct mpbuf *b, const char *json, const char *what, struct rc_err *e)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t at = b->len;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	if (proto_json_to_msgpack(json, strlen(json), &lim, b, &err) < 0) {
		if (err.code == ROWD_ENOMEM)
			return rc_err_nomem(e);
		return rc_err_set(e, "EINVAL", "%s: %s", what, err.message);
	}
	if (b->len == at || !is_map_hdr((unsigned char)b->data[at]))
		return rc_err_set(e, "EINVAL", "%s must be a JSON object", what);
	return 0;
}

static int pack_json_field(struct mpbuf *b, const char *key, const char *json,
                           const char *what, struct rc_err *err)
{
	if (mpbuf_cstr(b, key) < 0)
		return rc_err_nomem(err);
	return json_object(b, json, what, err);
}

uint32_t rc_open_nfields(const struct rowd_open_opts *o)
{
	if (!o)
		return 1;
	return 1 + !!o->mode + !!o->format + !!o->codec + !!o->engine + !!o->options_json +
	       !!o->codec_options_json;
}

int rc_pack_open_fields(struct mpbuf *b, const char *path, const struct rowd_open_opts *o,
                        struct rc_err *err)
{
	if (rc_put_kstr(b, "path", path) < 0)
		return rc_err_nomem(err);
	if (!o)
		return 0;
	if ((o->mode && rc_put_kstr(b, "mode", o->mode) < 0) ||
	    (o->format && rc_put_kstr(b, "format", o->format) < 0) ||
	    (o->codec && rc_put_kstr(b, "codec", o->codec) < 0) ||
	    (o->engine && rc_put_kstr(b, "engine", o->engine) < 0))
		return rc_err_nomem(err);
	if (o->options_json &&
	    pack_json_field(b, "options", o->options_json, "options_json", err) < 0)
		return -1;
	if (o->codec_options_json &&
	    pack_json_field(b, "codec_options", o->codec_options_json, "codec_options_json",
	                    err) < 0)
		return -1;
	return 0;
}

uint32_t rc_stream_nfields(const struct rowd_stream_opts *o, bool progress)
{
	return 1 + (o && o->batch) + (o && o->limit) + progress;
}

int rc_pack_stream_fields(struct mpbuf *b, int handle, const struct rowd_stream_opts *o,
                          bool progress, struct rc_err *err)
{
	if (rc_put_kuint(b, "handle", (uint64_t)handle) < 0 ||
	    (o && o->batch && rc_put_kuint(b, "batch", o->batch) < 0) ||
	    (o && o->limit && rc_put_kuint(b, "limit", o->limit) < 0) ||
	    (progress && put_kbool(b, "progress", true) < 0))
		return rc_err_nomem(err);
	return 0;
}

uint32_t rc_convert_nfields(bool progress)
{
	return 2 + progress;
}

static int pack_open_map(struct mpbuf *b, const char *key, const char *path,
                         const struct rowd_open_opts *o, struct rc_err *err)
{
	if (mpbuf_cstr(b, key) < 0 || mpbuf_map_hdr(b, rc_open_nfields(o)) < 0)
		return rc_err_nomem(err);
	return rc_pack_open_fields(b, path, o, err);
}

int rc_pack_convert_fields(struct mpbuf *b, const char *from, const struct rowd_open_opts *fo,
                           const char *to, const struct rowd_open_opts *to_opts,
                           bool progress, struct rc_err *err)
{
	if (pack_open_map(b, "from", from, fo, err) < 0 ||
	    pack_open_map(b, "to", to, to_opts, err) < 0)
		return -1;
	if (progress && put_kbool(b, "progress", true) < 0)
		return rc_err_nomem(err);
	return 0;
}

/* Says why a request (the packed map p[0..n)) cannot be sent as a
 * generic request, or NULL. Walks the fields with the cursor: no
 * decoding, no allocation. */
static const char *request_refusal(const char *p, size_t n, uint32_t *count)
{
	struct rowd_cursor cur;
	struct rowd_value v;
	const char *k;
	size_t kn;
	int r;

	rowd_cursor_init(&cur, p, n);
	if (rowd_cursor_next_row(&cur, count) != 1)
		return "request must be a JSON object";
	while ((r = rowd_cursor_next_field(&cur, &k, &kn, &v)) == 1) {
		if (key_is(k, kn, "id"))
			return "request must not carry an id: the library adds it";
		if (key_is(k, kn, "op") && v.type == ROWD_STR &&
		    key_is(v.via.str.ptr, v.via.str.len, "stream"))
			return "stream answers with many messages: use the stream function";
		if (key_is(k, kn, "progress") && v.type == ROWD_BOOL && v.via.boolean)
			return "progress messages need the convert or stream function";
	}
	return r < 0 ? "request is not well-formed" : NULL;   /* the parser made it: cannot be */
}

/* Bytes of the map header at p (known to be one). */
static size_t map_hdr_len(unsigned char b)
{
	return b == 0xde ? 3 : b == 0xdf ? 5 : 1;
}

int rc_json_request(struct mpbuf *jbuf, const char *json, const char **fields, size_t *len,
                    uint32_t *count, struct rc_err *err)
{
	const char *why;
	size_t hl;

	if (!json)
		return rc_err_set(err, "EINVAL", "request JSON is NULL");
	jbuf->len = 0;
	if (json_object(jbuf, json, "request", err) < 0)
		return -1;
	why = request_refusal(jbuf->data, jbuf->len, count);
	if (why)
		return rc_err_set(err, "EINVAL", "%s", why);
	/* One more field, the id, must still fit the header's count. */
	if (*count == UINT32_MAX)
		return rc_err_set(err, "EINVAL", "request has too many fields");
	hl = map_hdr_len((unsigned char)jbuf->data[0]);
	*fields = jbuf->data + hl;
	*len = jbuf->len - hl;
	return 0;
}
