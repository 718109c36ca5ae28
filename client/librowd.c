/* librowd: the blocking client API (see rowd/rowd.h).
 *
 * One context is one connection in binary mode. A call packs its request
 * into the send buffer, writes it whole, then reads until one complete
 * answer frame is in the receive buffer and decodes it into the context's
 * zone. Strings of decoded objects point into the receive buffer, so both
 * the buffer and the zone stay untouched until the next call has packed
 * its request: a caller may pass rows of one answer straight to the next
 * call (read_bulk → write_bulk).
 *
 * Memory is reused across calls: the receive buffer is compacted, never
 * shrunk, and the zone is cleared rather than freed (conn_common.c).
 * msgpack-c 4.0's msgpack_unpack_next frees and re-creates the zone of its
 * msgpack_unpacked on every call, which is the allocation churn we must
 * avoid, so decoding goes through msgpack_unpack with our own zone.
 *
 * stream and convert answer with many messages: their envelopes are read
 * with the cursor, and a batch is decoded only when the caller wants
 * msgpack objects.
 */
#include "conn_common.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct rowd_ctx {
	struct rc_conn conn;        /* socket, receive side, ids, error */
	bool in_stream;             /* inside rowd_stream/rowd_convert */
	struct mpbuf wbuf;          /* the request being sent */
	const msgpack_object *last; /* answer of the last successful call */
	msgpack_object answer;
};

/* ---- errors ----------------------------------------------------------- */

/* A local error about this call only; the connection is fine. */
__attribute__((format(printf, 3, 4)))
static int fail(rowd_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc_err_vset(&c->conn.err, code, fmt, ap);
	va_end(ap);
	c->last = NULL;
	return -1;
}

/* The byte stream can no longer be trusted (socket error, EOF, a frame we
 * cannot decode, an answer to some other request): the context is done. */
static void conn_drop(rowd_ctx *c)
{
	c->last = NULL;
	rc_conn_break(&c->conn);
}

__attribute__((format(printf, 3, 4)))
static int fail_broken(rowd_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc_err_vset(&c->conn.err, code, fmt, ap);
	va_end(ap);
	conn_drop(c);
	return -1;
}

static int fail_nomem(rowd_ctx *c)
{
	return fail(c, "ENOMEM", "out of memory");
}

/* A packer failed and said why in c->conn.err. */
static int failed(rowd_ctx *c)
{
	c->last = NULL;
	return -1;
}

/* ---- connecting ------------------------------------------------------- */

rowd_ctx *rowd_connect(const char *path)
{
	rowd_ctx *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	mpbuf_init(&c->wbuf);
	if (rc_conn_init(&c->conn, path) < 0) {
		rowd_free(c);
		return NULL;
	}
	rc_conn_connect(&c->conn, false);
	return c;
}

void rowd_free(rowd_ctx *c)
{
	if (!c)
		return;
	rc_conn_free(&c->conn);
	mpbuf_free(&c->wbuf);
	free(c);
}

bool rowd_ctx_broken(const rowd_ctx *c)
{
	return c->conn.broken;
}

const char *rowd_errcode(const rowd_ctx *c)
{
	return c->conn.err.code;
}

const char *rowd_errstr(const rowd_ctx *c)
{
	return c->conn.err.msg;
}

int64_t rowd_errline(const rowd_ctx *c)
{
	return c->conn.err.line;
}

int64_t rowd_errrow(const rowd_ctx *c)
{
	return c->conn.err.row;
}

const msgpack_object *rowd_last_answer(const rowd_ctx *c)
{
	return c->last;
}

/* ---- sending ---------------------------------------------------------- */

static int send_failed(rowd_ctx *c, int e);

/* Writes the iovecs whole; consumes them. */
static int send_iov(rowd_ctx *c, struct iovec *iov, size_t n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };

	while (mh.msg_iovlen > 0) {
		/* MSG_NOSIGNAL: a daemon that went away is an error value,
		 * not a SIGPIPE that kills the caller's process. */
		ssize_t w = sendmsg(c->conn.fd, &mh, MSG_NOSIGNAL);
		size_t done;

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return send_failed(c, errno);
		}
		done = (size_t)w;
		while (mh.msg_iovlen > 0 && done >= mh.msg_iov->iov_len) {
			done -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + done;
			mh.msg_iov->iov_len -= done;
		}
	}
	return 0;
}

/* Sends the request in wbuf, followed by tail when tail_len > 0. */
static int send_request(rowd_ctx *c, const char *tail, size_t tail_len)
{
	struct iovec iov[2] = {
		{ .iov_base = c->wbuf.data, .iov_len = c->wbuf.len },
		{ .iov_base = (void *)tail, .iov_len = tail_len },
	};

	return send_iov(c, iov, tail_len ? 2 : 1);
}

/* ---- receiving -------------------------------------------------------- */

static int read_more(rowd_ctx *c)
{
	struct rc_in *in = &c->conn.in;
	ssize_t r;

	if (rc_in_room(in) < 0)
		return fail_broken(c, "ENOMEM", "out of memory for a %zu-byte answer",
		                   in->len - in->pos);
	do
		r = read(c->conn.fd, in->buf + in->len, in->cap - in->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return fail_broken(c, "ECONN", "receive from %s: %s", c->conn.sock_path,
		                   strerror(errno));
	if (r == 0)
		return fail_broken(c, "ECONN", "rowd closed the connection (%s)",
		                   c->conn.sock_path);
	in->len += (size_t)r;
	return 0;
}

/* Reads until a whole frame starts at in.pos; returns its length. */
static int recv_frame(rowd_ctx *c, size_t *flen)
{
	for (;;) {
		int r = rc_in_frame(&c->conn.in, flen, &c->conn.err);

		if (r > 0)
			return 0;
		if (r < 0) {
			conn_drop(c);
			return -1;
		}
		if (read_more(c) < 0)
			return -1;
	}
}

/* Decodes p[0..n) of the receive buffer into c->answer. */
static int decode(rowd_ctx *c, const char *p, size_t n)
{
	int r = rc_decode(&c->conn.in, p, n, &c->answer, &c->conn.err);

	c->last = NULL;
	if (r == -2)
		conn_drop(c);
	return r < 0 ? -1 : 0;
}

/* Takes the frame at in.pos and decodes it into c->answer. */
static int decode_frame(rowd_ctx *c, size_t flen)
{
	const char *p = c->conn.in.buf + c->conn.in.pos;

	rc_in_take(&c->conn.in, flen);   /* the stream stays in step even on ENOMEM */
	return decode(c, p, flen);
}

/* ---- answers ---------------------------------------------------------- */

/* Takes the daemon's error as ours. */
static int daemon_error(rowd_ctx *c, const msgpack_object *ans)
{
	rc_err_from_answer(&c->conn.err, ans);
	c->last = NULL;
	return -1;
}

/* The daemon could not read one of our frames at all: it says why (with
 * id nil) and closes the connection. */
static int daemon_fatal(rowd_ctx *c, const msgpack_object *ans)
{
	daemon_error(c, ans);
	conn_drop(c);
	return -1;
}

/* Checks the envelope of an answer to request c->conn.last_id. */
static int check_answer(rowd_ctx *c, const msgpack_object *ans)
{
	const msgpack_object *id, *ok;

	if (ans->type != MSGPACK_OBJECT_MAP)
		return fail_broken(c, "EPROTO", "answer from %s is not a map", c->conn.sock_path);
	id = proto_map_get(ans, "id");
	ok = proto_map_get(ans, "ok");
	if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN)
		return fail_broken(c, "EPROTO", "answer from %s without ok", c->conn.sock_path);
	if ((!id || id->type == MSGPACK_OBJECT_NIL) && !ok->via.boolean)
		return daemon_fatal(c, ans);
	if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 != c->conn.last_id)
		return fail_broken(c, "EPROTO",
		                   "answer from %s does not match request %" PRIu64,
		                   c->conn.sock_path, c->conn.last_id);
	if (!ok->via.boolean)
		return daemon_error(c, ans);
	c->last = ans;
	return 0;
}

/* The daemon refuses a request it cannot take (a frame over its limit)
 * with one answer saying why, and closes before reading the rest: when a
 * send fails, that answer may be waiting, and says more than EPIPE. */
static int send_failed(rowd_ctx *c, int e)
{
	const msgpack_object *ok;
	size_t flen;

	/* (Not amid a stream: the buffer holds its messages, unread.) */
	if ((e == EPIPE || e == ECONNRESET) && !c->in_stream) {
		rc_in_compact(&c->conn.in);
		if (recv_frame(c, &flen) == 0 && decode_frame(c, flen) == 0 &&
		    c->answer.type == MSGPACK_OBJECT_MAP &&
		    (ok = proto_map_get(&c->answer, "ok")) &&
		    ok->type == MSGPACK_OBJECT_BOOLEAN && !ok->via.boolean)
			return daemon_fatal(c, &c->answer);
	}
	return fail_broken(c, "ECONN", "send to %s: %s", c->conn.sock_path, strerror(e));
}

/* Sends the request in wbuf (followed by tail, when not NULL) and waits
 * for its answer. */
static int call_tail(rowd_ctx *c, const char *tail, size_t tail_len)
{
	size_t flen;

	if (send_request(c, tail, tail_len) < 0)
		return -1;
	/* The request is out: the previous answer is no longer referenced. */
	rc_in_compact(&c->conn.in);
	if (recv_frame(c, &flen) < 0 || decode_frame(c, flen) < 0)
		return -1;
	return check_answer(c, &c->answer);
}

static int call(rowd_ctx *c)
{
	return call_tail(c, NULL, 0);
}

/* ---- requests --------------------------------------------------------- */

/* Starts a request map of nfields fields besides id and op (op NULL:
 * the caller supplies it among the fields). The previous answer stays
 * intact: the caller may still be packing parts of it. */
static int req_begin(rowd_ctx *c, const char *op, uint32_t nfields)
{
	if (c->conn.broken)
		return -1;   /* keeps the error that broke it */
	if (c->in_stream)
		return fail(c, "EBUSY", "a stream or convert callback cannot make requests "
		            "on its own context");
	rc_err_clear(&c->conn.err);
	c->last = NULL;
	c->wbuf.len = 0;
	c->conn.last_id++;
	if (rc_req_begin(&c->wbuf, c->conn.last_id, op, nfields, &c->conn.err) < 0)
		return failed(c);
	return 0;
}

/* Most ops address one handle and carry nothing else. */
static int req_handle(rowd_ctx *c, const char *op, int handle, uint32_t more)
{
	if (c->conn.broken)
		return -1;
	if (handle < 1)
		return fail(c, "EBADHANDLE", "bad handle %d (handles count from 1)", handle);
	if (req_begin(c, op, more + 1) < 0)
		return -1;
	if (rc_put_kuint(&c->wbuf, "handle", (uint64_t)handle) < 0)
		return fail_nomem(c);
	return 0;
}

static int pack_object(rowd_ctx *c, const msgpack_object *o)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, &c->wbuf, mpbuf_packer_write);
	if (msgpack_pack_object(&pk, *o) < 0)
		return fail_nomem(c);
	return 0;
}

/* ---- the API ---------------------------------------------------------- */

int rowd_open(rowd_ctx *c, const char *path, const struct rowd_open_opts *opts)
{
	uint64_t h;

	if (c->conn.broken)
		return -1;
	if (!path)
		return fail(c, "EINVAL", "rowd_open: path is NULL");
	if (req_begin(c, "open", rc_open_nfields(opts)) < 0)
		return -1;
	if (rc_pack_open_fields(&c->wbuf, path, opts, &c->conn.err) < 0)
		return failed(c);
	if (call(c) < 0)
		return -1;
	if (!rc_get_uint(c->last, "handle", &h) || h < 1 || h > INT_MAX)
		return fail(c, "EPROTO", "open answer without a valid handle");
	return (int)h;
}

int rowd_read(rowd_ctx *c, int handle, const msgpack_object **row)
{
	const msgpack_object *r;

	if (req_handle(c, "read", handle, 0) < 0 || call(c) < 0)
		return -1;
	/* The last row may come with eof: true beside it; the row counts,
	 * the end shows at the next read. */
	r = proto_map_get(c->last, "row");
	if (r && r->type == MSGPACK_OBJECT_MAP) {
		*row = r;
		return 1;
	}
	if (r || !rc_get_bool(c->last, "eof"))
		return fail(c, "EPROTO", "read answer without a row map or eof");
	return 0;
}

int rowd_read_bulk(rowd_ctx *c, int handle, size_t n, const msgpack_object **rows,
                   bool *eof)
{
	const msgpack_object *r;

	if (c->conn.broken)
		return -1;
	if (n > INT_MAX)
		return fail(c, "EINVAL", "read_bulk: n %zu is too large", n);
	if (req_handle(c, "read_bulk", handle, 1) < 0)
		return -1;
	if (rc_put_kuint(&c->wbuf, "n", n) < 0)
		return fail_nomem(c);
	if (call(c) < 0)
		return -1;
	r = proto_map_get(c->last, "rows");
	if (!r || r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size > n)
		return fail(c, "EPROTO", "read_bulk answer without a rows array of at most %zu",
		            n);
	*rows = r;
	*eof = rc_get_bool(c->last, "eof");
	return (int)r->via.array.size;
}

int rowd_write(rowd_ctx *c, int handle, const msgpack_object *row)
{
	if (c->conn.broken)
		return -1;
	if (!row || row->type != MSGPACK_OBJECT_MAP)
		return fail(c, "EINVAL", "write: the row must be a map");
	if (req_handle(c, "write", handle, 1) < 0)
		return -1;
	if (mpbuf_cstr(&c->wbuf, "row") < 0)
		return fail_nomem(c);
	if (pack_object(c, row) < 0)
		return -1;
	return call(c);
}

/* The daemon's count of rows written, as the call's result. */
static int written(rowd_ctx *c)
{
	uint64_t n;

	if (!rc_get_uint(c->last, "written", &n))
		return fail(c, "EPROTO", "write answer without written");
	return n > INT_MAX ? INT_MAX : (int)n;
}

int rowd_write_bulk(rowd_ctx *c, int handle, const msgpack_object *rows)
{
	if (c->conn.broken)
		return -1;
	if (!rows || rows->type != MSGPACK_OBJECT_ARRAY)
		return fail(c, "EINVAL", "write_bulk: rows must be an array");
	if (req_handle(c, "write_bulk", handle, 1) < 0)
		return -1;
	if (mpbuf_cstr(&c->wbuf, "rows") < 0)
		return fail_nomem(c);
	if (pack_object(c, rows) < 0)
		return -1;
	if (call(c) < 0)
		return -1;
	return written(c);
}

int rowd_write_bulk_packed(rowd_ctx *c, int handle, const char *buf, size_t len,
                           size_t count)
{
	if (c->conn.broken)
		return -1;
	if (count > UINT32_MAX || (count > 0 && (!buf || len < count)) ||
	    (count == 0 && len > 0))
		return fail(c, "EINVAL", "write_bulk_packed: %zu bytes cannot hold %zu maps",
		            len, count);
	if (req_handle(c, "write_bulk", handle, 1) < 0)
		return -1;
	/* rows is the last field, so the caller's maps follow the array
	 * header on the wire as they are, with no copy. */
	if (mpbuf_cstr(&c->wbuf, "rows") < 0 || mpbuf_array_hdr(&c->wbuf, (uint32_t)count) < 0)
		return fail_nomem(c);
	if (call_tail(c, buf, len) < 0)
		return -1;
	return written(c);
}

int rowd_reset(rowd_ctx *c, int handle)
{
	if (req_handle(c, "reset", handle, 0) < 0)
		return -1;
	return call(c);
}

int64_t rowd_totals(rowd_ctx *c, int handle)
{
	uint64_t n;

	if (req_handle(c, "totals", handle, 0) < 0 || call(c) < 0)
		return -1;
	if (!rc_get_uint(c->last, "rows", &n) || n > INT64_MAX)
		return fail(c, "EPROTO", "totals answer without rows");
	return (int64_t)n;
}

int rowd_close(rowd_ctx *c, int handle, uint64_t *rows_written)
{
	uint64_t n = 0;

	if (req_handle(c, "close", handle, 0) < 0 || call(c) < 0)
		return -1;
	rc_get_uint(c->last, "rows_written", &n);
	if (rows_written)
		*rows_written = n;
	return 0;
}

int rowd_ping(rowd_ctx *c)
{
	if (req_begin(c, "ping", 0) < 0 || call(c) < 0)
		return -1;
	if (!rc_get_bool(c->last, "pong"))
		return fail(c, "EPROTO", "ping answer without pong");
	return 0;
}

int rowd_request_json(rowd_ctx *c, const char *json, const msgpack_object **answer)
{
	const char *fields;
	size_t len;
	uint32_t count;

	if (c->conn.broken)
		return -1;
	if (rc_json_request(&c->conn.jbuf, json, &fields, &len, &count, &c->conn.err) < 0)
		return failed(c);
	/* The fields are copied as parsed, behind a header counting the id. */
	if (req_begin(c, NULL, count) < 0)
		return -1;
	if (mpbuf_append(&c->wbuf, fields, len) < 0)
		return fail_nomem(c);
	if (call(c) < 0)
		return -1;
	if (answer)
		*answer = c->last;
	return 0;
}

/* ---- requests answered by many messages ------------------------------- */

/* A stream or convert in flight. Once a callback asks to stop, a cancel
 * goes out and nothing more is delivered; the call then waits for both
 * the end of the stream and the cancel's own answer, so that the context
 * is in step again for the next call. */
struct multi {
	uint64_t id;
	uint64_t cancel_id;         /* 0: none sent */
	bool cancel_answered;
	bool stopping;
	bool raw;
	rowd_batch_cb batch_cb;
	rowd_progress_cb progress_cb;
	void *arg;

	bool ended;                 /* the final message or an error came */
	bool failed;                /* an error: in c->conn.err */
	bool local_failed;          /* we stopped it: the error is in lerr */
	struct rc_err lerr;
	size_t final_off, final_len;   /* the final message, in the receive buffer */
};

static int multi_stop(rowd_ctx *c, struct multi *m)
{
	if (m->stopping)
		return 0;
	m->stopping = true;
	if (m->ended)
		return 0;
	c->wbuf.len = 0;
	m->cancel_id = ++c->conn.last_id;
	if (rc_req_begin(&c->wbuf, m->cancel_id, "cancel", 1, &c->conn.err) < 0 ||
	    rc_put_kuint(&c->wbuf, "target", m->id) < 0) {
		/* Without a cancel, the rest is read and dropped. */
		m->cancel_id = 0;
		return 0;
	}
	return send_request(c, NULL, 0);
}

/* A failure of ours (out of memory decoding a batch): the stream is
 * cancelled and the call fails with it once the stream has ended. */
static int multi_local_failure(rowd_ctx *c, struct multi *m)
{
	if (!m->local_failed) {
		m->local_failed = true;
		m->lerr = c->conn.err;
	}
	return multi_stop(c, m);
}

static int multi_batch(rowd_ctx *c, struct multi *m, const struct rc_msg *msg)
{
	struct rowd_batch b = {
		.raw = msg->rows, .raw_len = msg->rows_len, .count = msg->nrows, .seq = msg->seq,
	};
	msgpack_object rows;

	if (m->stopping || !m->batch_cb)
		return 0;
	if (!m->raw) {
		int r = rc_decode(&c->conn.in, msg->rows, msg->rows_len, &rows, &c->conn.err);

		if (r == -2) {
			conn_drop(c);
			return -1;
		}
		if (r < 0)
			return multi_local_failure(c, m);
		b.rows = &rows;
	}
	return m->batch_cb(&b, m->arg) ? multi_stop(c, m) : 0;
}

static int multi_progress(rowd_ctx *c, struct multi *m, const struct rc_msg *msg)
{
	if (m->stopping || !m->progress_cb)
		return 0;
	return m->progress_cb(&msg->progress, m->arg) ? multi_stop(c, m) : 0;
}

/* An error ends the request: decoded now for its fields. */
static int multi_error(rowd_ctx *c, struct multi *m, size_t flen)
{
	const char *p = c->conn.in.buf + c->conn.in.pos;

	m->ended = m->failed = true;
	if (decode(c, p, flen) < 0)
		return c->conn.broken ? -1 : 0;   /* ENOMEM stands as the error */
	daemon_error(c, &c->answer);
	return 0;
}

/* One message with the request's id (not yet taken from the buffer). */
static int multi_message(rowd_ctx *c, struct multi *m, const struct rc_msg *msg,
                         size_t flen)
{
	if (m->ended)
		return fail_broken(c, "EPROTO", "answer from %s after the end of request %" PRIu64,
		                   c->conn.sock_path, m->id);
	if (!msg->ok)
		return multi_error(c, m, flen);
	if (msg->has_rows && multi_batch(c, m, msg) < 0)
		return -1;
	if (msg->has_progress && multi_progress(c, m, msg) < 0)
		return -1;
	if (rc_msg_final(msg)) {
		m->ended = true;
		m->final_off = c->conn.in.pos;
		m->final_len = flen;
	}
	return 0;
}

/* Reads and dispatches one frame. */
static int multi_step(rowd_ctx *c, struct multi *m)
{
	struct rc_msg msg;
	size_t flen;
	int r = 0;

	if (recv_frame(c, &flen) < 0)
		return -1;
	if (rc_msg_scan(c->conn.in.buf + c->conn.in.pos, flen, &msg) < 0 || !msg.has_ok)
		return fail_broken(c, "EPROTO", "answer from %s is not a map with ok",
		                   c->conn.sock_path);
	if (msg.id_nil && !msg.ok) {
		if (decode_frame(c, flen) < 0)
			return -1;
		return daemon_fatal(c, &c->answer);
	}
	if (m->cancel_id && msg.has_id && msg.id == m->cancel_id)
		m->cancel_answered = true;   /* cancelling, or: it had ended already */
	else if (msg.has_id && msg.id == m->id)
		r = multi_message(c, m, &msg, flen);
	else
		return fail_broken(c, "EPROTO", "answer from %s does not match request %" PRIu64,
		                   c->conn.sock_path, m->id);
	if (r < 0)
		return -1;
	rc_in_take(&c->conn.in, flen);
	return 0;
}

static int multi_run(rowd_ctx *c, struct multi *m)
{
	int r = 0;

	c->in_stream = true;
	while (r == 0 && (!m->ended || (m->cancel_id && !m->cancel_answered))) {
		/* What was delivered is no longer referenced; the final
		 * message stays where it is until it is decoded. */
		if (!m->ended)
			rc_in_compact(&c->conn.in);
		r = multi_step(c, m);
	}
	c->in_stream = false;
	if (r < 0)
		return -1;
	if (m->local_failed) {
		c->conn.err = m->lerr;
		return failed(c);
	}
	if (m->failed)
		return failed(c);
	if (decode(c, c->conn.in.buf + m->final_off, m->final_len) < 0)
		return -1;
	c->last = &c->answer;
	return 0;
}

/* Sends the request in wbuf and runs it to its end. */
static int multi_call(rowd_ctx *c, struct multi *m)
{
	if (send_request(c, NULL, 0) < 0)
		return -1;
	m->id = c->conn.last_id;
	return multi_run(c, m);
}

int64_t rowd_stream(rowd_ctx *c, int handle, const struct rowd_stream_opts *opts,
                    rowd_batch_cb batch_cb, rowd_progress_cb progress_cb, void *arg)
{
	struct multi m = {
		.raw = opts && opts->raw, .batch_cb = batch_cb, .progress_cb = progress_cb,
		.arg = arg,
	};
	bool progress = progress_cb != NULL;
	uint64_t total;

	if (c->conn.broken)
		return -1;
	if (handle < 1)
		return fail(c, "EBADHANDLE", "bad handle %d (handles count from 1)", handle);
	if (req_begin(c, "stream", rc_stream_nfields(opts, progress)) < 0)
		return -1;
	if (rc_pack_stream_fields(&c->wbuf, handle, opts, progress, &c->conn.err) < 0)
		return failed(c);
	if (multi_call(c, &m) < 0)
		return -1;
	if (!rc_get_uint(c->last, "rows_total", &total) || total > INT64_MAX)
		return fail(c, "EPROTO", "stream end without rows_total");
	return (int64_t)total;
}

int rowd_convert(rowd_ctx *c, const char *from_path, const struct rowd_open_opts *from_opts,
                 const char *to_path, const struct rowd_open_opts *to_opts,
                 rowd_progress_cb progress_cb, void *arg, struct rowd_convert_result *out)
{
	struct multi m = { .progress_cb = progress_cb, .arg = arg };
	bool progress = progress_cb != NULL;

	if (c->conn.broken)
		return -1;
	if (!from_path || !to_path)
		return fail(c, "EINVAL", "rowd_convert: a path is NULL");
	if (req_begin(c, "convert", rc_convert_nfields(progress)) < 0)
		return -1;
	if (rc_pack_convert_fields(&c->wbuf, from_path, from_opts, to_path, to_opts, progress,
	                           &c->conn.err) < 0)
		return failed(c);
	if (multi_call(c, &m) < 0)
		return -1;
	if (out)
		rc_convert_result(c->last, out);
	return 0;
}

/* ---- helpers over rows ------------------------------------------------ */

/* NULL-safe, so that lookups chain: rowd_map_get(rowd_map_get(a, "x"), "y"). */
const msgpack_object *rowd_map_get(const msgpack_object *map, const char *key)
{
	return map ? proto_map_get(map, key) : NULL;
}

int rowd_to_json(const msgpack_object *o, char **buf, size_t *len, size_t *cap)
{
	struct mpbuf b = { .data = *buf, .len = *len, .cap = *cap };
	int r = proto_object_to_json(o, &b);

	if (r < 0)
		b.len = *len;   /* no half-written value */
	*buf = b.data;
	*len = b.len;
	*cap = b.cap;
	return r < 0 ? -1 : 0;
}
