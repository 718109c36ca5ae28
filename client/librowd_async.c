/* librowd: the async client API (see rowd/rowd.h).
 *
 * One context is one non-blocking connection. A request is packed straight
 * into the output buffer and remembered, with its callbacks, in a list in
 * the order sent; the library numbers requests itself, and an answer is
 * matched to its request by id (answers for different handles interleave,
 * so the match is a search; in practice the answer is for one of the
 * oldest requests, so it ends near the head).
 *
 * The library never waits and never owns an event loop: it says what it
 * wants through the adapter hooks (struct rowd_async_events) or through
 * rowd_async_want_write, and does the I/O when the handlers are called.
 * Callbacks run only from the handlers (and from rowd_async_free), never
 * from inside a request call, so a caller never sees a callback run
 * before the call that made the request has returned.
 *
 * Re-entrancy, after hiredis: while a handler runs (depth > 0) a free is
 * only noted, and carried out once the handler is about to return; the
 * handlers themselves do nothing when called from inside a callback. So
 * no callback can pull the context (or the request it is being called
 * for) from under the code that called it.
 */
#include "conn_common.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes read per call of the read handler before it lets the loop serve
 * other sources: level-triggered readiness brings it back at once. */
#define READ_BUDGET ((size_t)4 << 20)
/* Sent bytes are dropped from the output buffer's front once this many
 * (and at least half of it) have gone. */
#define OUT_COMPACT ((size_t)64 << 10)

enum req_kind {
	RK_OPEN,
	RK_READ_BULK,
	RK_WRITE,       /* count = written */
	RK_CLOSE,       /* count = rows_written or rows_read */
	RK_TOTALS,      /* count = rows */
	RK_PLAIN,       /* reset, generic requests */
	RK_STREAM,
	RK_CONVERT,
	RK_CANCEL,      /* sent by the library; its answer is dropped */
};

struct areq {
	struct areq *prev, *next;
	uint64_t id;
	enum req_kind kind;
	rowd_reply_cb cb;
	rowd_batch_cb batch_cb;
	rowd_progress_cb progress_cb;
	void *arg;
	bool raw;
	bool stopping;      /* cancel sent: deliver no more batches or progress */
	bool nomem;         /* a batch could not be decoded: the end says so */
};

struct rowd_async {
	struct rc_conn conn;        /* socket, receive side, ids, error */
	bool connecting;

	struct mpbuf out;           /* packed requests; [out_pos, len) not yet sent */
	size_t out_pos;
	msgpack_object answer;

	struct areq *head, *tail;   /* pending requests, in the order sent */
	size_t npending;

	struct rowd_async_events ev;
	bool has_ev;
	bool reading, writing;      /* interest, as told to the adapter */

	rowd_disconnect_cb on_disconnect;
	void *disconnect_arg;
	bool disconnect_told;

	unsigned depth;             /* > 0: a handler (or the free) is running */
	bool free_asked;            /* rowd_async_free from inside a handler */
	bool freeing;
};

/* ---- errors and the end of a connection --------------------------------- */

/* A request call's own error. A broken context keeps the error that broke
 * it: that is the one to report. */
__attribute__((format(printf, 3, 4)))
static int fail(rowd_async *ac, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (ac->conn.broken)
		return -1;
	va_start(ap, fmt);
	rc_err_vset(&ac->conn.err, code, fmt, ap);
	va_end(ap);
	return -1;
}

static void reply_init(struct rowd_reply *r)
{
	memset(r, 0, sizeof *r);
	r->errstr = "";
	r->errline = -1;
	r->errrow = -1;
	r->handle = -1;
}

static void reply_error(struct rowd_reply *r, const struct rc_err *e)
{
	r->errcode = e->code;
	r->errstr = e->msg;
	r->errline = e->line;
	r->errrow = e->row;
}

static void unlink_req(rowd_async *ac, struct areq *rq)
{
	if (rq->prev)
		rq->prev->next = rq->next;
	else
		ac->head = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	else
		ac->tail = rq->prev;
	ac->npending--;
}

/* Ends a request: out of the list first, so that a callback that frees
 * the context does not see it again. */
static void deliver(rowd_async *ac, struct areq *rq, const struct rowd_reply *r)
{
	unlink_req(ac, rq);
	if (rq->cb && rq->kind != RK_CANCEL)
		rq->cb(ac, r, rq->arg);
	free(rq);
}

/* Every request still pending gets ECONN with why. */
static void fail_pending(rowd_async *ac, const char *why)
{
	struct rc_err e;
	struct rowd_reply r;

	rc_err_set(&e, "ECONN", "%s", why);
	reply_init(&r);
	reply_error(&r, &e);
	while (ac->head)
		deliver(ac, ac->head, &r);
}

static void tell_disconnect(rowd_async *ac, int status)
{
	if (ac->disconnect_told || !ac->on_disconnect)
		return;
	ac->disconnect_told = true;
	ac->on_disconnect(ac, status, ac->disconnect_arg);
}

static void set_reading(rowd_async *ac, bool on)
{
	if (ac->reading == on)
		return;
	ac->reading = on;
	if (ac->has_ev)
		(on ? ac->ev.add_read : ac->ev.del_read)(ac->ev.data);
}

static void set_writing(rowd_async *ac, bool on)
{
	if (ac->writing == on)
		return;
	ac->writing = on;
	if (ac->has_ev)
		(on ? ac->ev.add_write : ac->ev.del_write)(ac->ev.data);
}

static void update_writing(rowd_async *ac)
{
	set_writing(ac, !ac->conn.broken && (ac->connecting || ac->out_pos < ac->out.len));
}

/* The connection is gone (or was never made): it stays broken with this
 * error; every pending request and then the disconnect callback hear of
 * it. */
static void drop(rowd_async *ac, const struct rc_err *why)
{
	char msg[ROWD_ERRMSG_MAX + RC_ERRCODE_MAX + 4];

	if (ac->conn.broken)
		return;
	ac->conn.err = *why;
	ac->connecting = false;
	set_reading(ac, false);
	set_writing(ac, false);
	rc_conn_break(&ac->conn);
	if (strcmp(why->code, "ECONN") == 0)
		snprintf(msg, sizeof msg, "%s", why->msg);
	else
		snprintf(msg, sizeof msg, "%s: %s", why->code, why->msg);
	fail_pending(ac, msg);
	tell_disconnect(ac, -1);
}

__attribute__((format(printf, 3, 4)))
static void drop_with(rowd_async *ac, const char *code, const char *fmt, ...)
{
	struct rc_err e;
	va_list ap;

	va_start(ap, fmt);
	rc_err_vset(&e, code, fmt, ap);
	va_end(ap);
	drop(ac, &e);
}

/* ---- the context -------------------------------------------------------- */

rowd_async *rowd_async_connect(const char *path)
{
	rowd_async *ac = calloc(1, sizeof *ac);
	int r;

	if (!ac)
		return NULL;
	mpbuf_init(&ac->out);
	if (rc_conn_init(&ac->conn, path) < 0) {
		rc_conn_free(&ac->conn);
		free(ac);
		return NULL;
	}
	r = rc_conn_connect(&ac->conn, true);
	ac->connecting = r == 1;
	update_writing(ac);
	return ac;
}

/* Runs with depth raised for good: callbacks run from here may ask for a
 * free again or make requests, and both are refused. */
static void destroy(rowd_async *ac)
{
	ac->freeing = true;
	ac->depth++;
	fail_pending(ac, "the context was freed");
	tell_disconnect(ac, 0);
	set_reading(ac, false);
	set_writing(ac, false);
	if (ac->has_ev && ac->ev.cleanup)
		ac->ev.cleanup(ac->ev.data);
	rc_conn_free(&ac->conn);
	mpbuf_free(&ac->out);
	free(ac);
}

void rowd_async_free(rowd_async *ac)
{
	if (!ac || ac->freeing)
		return;
	if (ac->depth > 0) {
		ac->free_asked = true;
		return;
	}
	destroy(ac);
}

/* Handlers are bracketed by enter/leave; after leave the context may be
 * gone. */
static bool enter(rowd_async *ac)
{
	if (ac->depth > 0 || ac->freeing)
		return false;
	ac->depth++;
	return true;
}

static void leave(rowd_async *ac)
{
	if (--ac->depth == 0 && ac->free_asked)
		destroy(ac);
}

bool rowd_async_broken(const rowd_async *ac)
{
	return ac->conn.broken;
}

const char *rowd_async_errcode(const rowd_async *ac)
{
	return ac->conn.err.code;
}

const char *rowd_async_errstr(const rowd_async *ac)
{
	return ac->conn.err.msg;
}

size_t rowd_async_pending(const rowd_async *ac)
{
	return ac->npending;
}

void rowd_async_on_disconnect(rowd_async *ac, rowd_disconnect_cb cb, void *arg)
{
	ac->on_disconnect = cb;
	ac->disconnect_arg = arg;
}

int rowd_async_fd(const rowd_async *ac)
{
	return ac->conn.broken ? -1 : ac->conn.fd;
}

bool rowd_async_want_write(const rowd_async *ac)
{
	return ac->writing;
}

int rowd_async_set_events(rowd_async *ac, const struct rowd_async_events *ev)
{
	bool writing = ac->writing;

	if (ac->has_ev)
		return fail(ac, "EINVAL", "an event adapter is attached already");
	if (ac->conn.broken || ac->freeing)
		return -1;
	if (!ev || !ev->add_read || !ev->del_read || !ev->add_write || !ev->del_write)
		return fail(ac, "EINVAL", "event adapter without its hooks");
	ac->ev = *ev;
	ac->has_ev = true;
	set_reading(ac, true);
	/* Tell the adapter what was wanted before it came. */
	ac->writing = false;
	set_writing(ac, writing);
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

/* A connect in progress is done when the socket is writable; SO_ERROR
 * says how it went. */
static void connect_check(rowd_async *ac)
{
	struct pollfd pfd = { .fd = ac->conn.fd, .events = POLLOUT };
	struct rc_err why;

	if (poll(&pfd, 1, 0) == 0)
		return;
	ac->connecting = false;
	if (rc_conn_connected(&ac->conn, &why) < 0)
		drop(ac, &why);
}

static void out_sent(rowd_async *ac)
{
	if (ac->out_pos == ac->out.len) {
		ac->out_pos = ac->out.len = 0;
	} else if (ac->out_pos >= OUT_COMPACT && ac->out_pos >= ac->out.len / 2) {
		memmove(ac->out.data, ac->out.data + ac->out_pos, ac->out.len - ac->out_pos);
		ac->out.len -= ac->out_pos;
		ac->out_pos = 0;
	}
}

static void read_input(rowd_async *ac);

/* The daemon refuses a frame it cannot take with one answer saying why,
 * then closes: read that before calling it a broken pipe. */
static void send_failed(rowd_async *ac, int e)
{
	if (e == EPIPE || e == ECONNRESET)
		read_input(ac);
	if (!ac->conn.broken)
		drop_with(ac, "ECONN", "send to %s: %s", ac->conn.sock_path, strerror(e));
}

static void flush_output(rowd_async *ac)
{
	while (ac->out_pos < ac->out.len) {
		/* MSG_NOSIGNAL: a daemon that went away is an error value,
		 * not a SIGPIPE that kills the caller's process. */
		ssize_t w = send(ac->conn.fd, ac->out.data + ac->out_pos, ac->out.len - ac->out_pos,
		                 MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			send_failed(ac, errno);
			return;
		}
		ac->out_pos += (size_t)w;
	}
	out_sent(ac);
	update_writing(ac);
}

void rowd_async_handle_write(rowd_async *ac)
{
	if (ac->conn.broken || !enter(ac))
		return;
	if (ac->connecting)
		connect_check(ac);
	if (!ac->conn.broken && !ac->connecting)
		flush_output(ac);
	update_writing(ac);
	leave(ac);
}

/* ---- requests ----------------------------------------------------------- */

/* Starts a request in the output buffer; *mark says where, for undo. */
static int begin(rowd_async *ac, const char *op, uint32_t nfields, size_t *mark)
{
	if (ac->freeing || ac->free_asked)
		return fail(ac, "EINVAL", "the context is being freed");
	if (ac->conn.broken)
		return -1;   /* keeps the error that broke it */
	rc_err_clear(&ac->conn.err);
	*mark = ac->out.len;
	if (rc_req_begin(&ac->out, ac->conn.last_id + 1, op, nfields, &ac->conn.err) < 0) {
		ac->out.len = *mark;
		return -1;
	}
	return 0;
}

/* Packing failed after begin: the request's bytes go. */
static int64_t undo(rowd_async *ac, size_t mark)
{
	ac->out.len = mark;
	return -1;
}

static int64_t undo_nomem(rowd_async *ac, size_t mark)
{
	rc_err_nomem(&ac->conn.err);
	return undo(ac, mark);
}

/* The request packed since mark is complete: remember it, and ask to
 * write. Returns the id. */
static int64_t commit(rowd_async *ac, size_t mark, const struct areq *tmpl)
{
	struct areq *rq = malloc(sizeof *rq);

	if (!rq)
		return undo_nomem(ac, mark);
	*rq = *tmpl;
	rq->id = ++ac->conn.last_id;
	rq->prev = ac->tail;
	rq->next = NULL;
	if (ac->tail)
		ac->tail->next = rq;
	else
		ac->head = rq;
	ac->tail = rq;
	ac->npending++;
	update_writing(ac);
	return (int64_t)rq->id;
}

static int64_t commit_simple(rowd_async *ac, size_t mark, enum req_kind kind,
                             rowd_reply_cb cb, void *arg)
{
	struct areq t = { .kind = kind, .cb = cb, .arg = arg };

	return commit(ac, mark, &t);
}

static int check_handle(rowd_async *ac, int handle)
{
	if (ac->conn.broken)
		return -1;
	if (handle < 1)
		return fail(ac, "EBADHANDLE", "bad handle %d (handles count from 1)", handle);
	return 0;
}

/* Requests that address one handle: {id, op, handle} and more fields. */
static int begin_handle(rowd_async *ac, const char *op, int handle, uint32_t more,
                        size_t *mark)
{
	if (check_handle(ac, handle) < 0 || begin(ac, op, more + 1, mark) < 0)
		return -1;
	if (rc_put_kuint(&ac->out, "handle", (uint64_t)handle) < 0)
		return (int)undo_nomem(ac, *mark);
	return 0;
}

int64_t rowd_async_open(rowd_async *ac, const char *path, const struct rowd_open_opts *opts,
                        rowd_reply_cb cb, void *arg)
{
	size_t mark;

	if (!path)
		return fail(ac, "EINVAL", "rowd_async_open: path is NULL");
	if (begin(ac, "open", rc_open_nfields(opts), &mark) < 0)
		return -1;
	if (rc_pack_open_fields(&ac->out, path, opts, &ac->conn.err) < 0)
		return undo(ac, mark);
	return commit_simple(ac, mark, RK_OPEN, cb, arg);
}

int64_t rowd_async_read_bulk(rowd_async *ac, int handle, size_t n, rowd_reply_cb cb,
                             void *arg)
{
	size_t mark;

	if (n > INT_MAX)
		return fail(ac, "EINVAL", "read_bulk: n %zu is too large", n);
	if (begin_handle(ac, "read_bulk", handle, 1, &mark) < 0)
		return -1;
	if (rc_put_kuint(&ac->out, "n", n) < 0)
		return undo_nomem(ac, mark);
	return commit_simple(ac, mark, RK_READ_BULK, cb, arg);
}

int64_t rowd_async_stream(rowd_async *ac, int handle, const struct rowd_stream_opts *opts,
                          rowd_batch_cb batch_cb, rowd_progress_cb progress_cb,
                          rowd_reply_cb done_cb, void *arg)
{
	struct areq t = {
		.kind = RK_STREAM, .cb = done_cb, .batch_cb = batch_cb,
		.progress_cb = progress_cb, .arg = arg, .raw = opts && opts->raw,
	};
	bool progress = progress_cb != NULL;
	size_t mark;

	if (check_handle(ac, handle) < 0 ||
	    begin(ac, "stream", rc_stream_nfields(opts, progress), &mark) < 0)
		return -1;
	if (rc_pack_stream_fields(&ac->out, handle, opts, progress, &ac->conn.err) < 0)
		return undo(ac, mark);
	return commit(ac, mark, &t);
}

int64_t rowd_async_write_bulk(rowd_async *ac, int handle, const msgpack_object *rows,
                              rowd_reply_cb cb, void *arg)
{
	msgpack_packer pk;
	size_t mark;

	if (!rows || rows->type != MSGPACK_OBJECT_ARRAY)
		return fail(ac, "EINVAL", "write_bulk: rows must be an array");
	if (begin_handle(ac, "write_bulk", handle, 1, &mark) < 0)
		return -1;
	msgpack_packer_init(&pk, &ac->out, mpbuf_packer_write);
	if (mpbuf_cstr(&ac->out, "rows") < 0 || msgpack_pack_object(&pk, *rows) < 0)
		return undo_nomem(ac, mark);
	return commit_simple(ac, mark, RK_WRITE, cb, arg);
}

int64_t rowd_async_write_bulk_packed(rowd_async *ac, int handle, const char *buf, size_t len,
                                     size_t count, rowd_reply_cb cb, void *arg)
{
	size_t mark;

	if (count > UINT32_MAX || (count > 0 && (!buf || len < count)) ||
	    (count == 0 && len > 0))
		return fail(ac, "EINVAL", "write_bulk_packed: %zu bytes cannot hold %zu maps",
		            len, count);
	if (begin_handle(ac, "write_bulk", handle, 1, &mark) < 0)
		return -1;
	if (mpbuf_cstr(&ac->out, "rows") < 0 || mpbuf_array_hdr(&ac->out, (uint32_t)count) < 0 ||
	    mpbuf_append(&ac->out, buf, len) < 0)
		return undo_nomem(ac, mark);
	return commit_simple(ac, mark, RK_WRITE, cb, arg);
}

static int64_t handle_only(rowd_async *ac, const char *op, enum req_kind kind, int handle,
                           rowd_reply_cb cb, void *arg)
{
	size_t mark;

	if (begin_handle(ac, op, handle, 0, &mark) < 0)
		return -1;
	return commit_simple(ac, mark, kind, cb, arg);
}

int64_t rowd_async_reset(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg)
{
	return handle_only(ac, "reset", RK_PLAIN, handle, cb, arg);
}

int64_t rowd_async_totals(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg)
{
	return handle_only(ac, "totals", RK_TOTALS, handle, cb, arg);
}

int64_t rowd_async_close(rowd_async *ac, int handle, rowd_reply_cb cb, void *arg)
{
	return handle_only(ac, "close", RK_CLOSE, handle, cb, arg);
}

int64_t rowd_async_convert(rowd_async *ac, const char *from_path,
                           const struct rowd_open_opts *from_opts, const char *to_path,
                           const struct rowd_open_opts *to_opts, rowd_progress_cb progress_cb,
                           rowd_reply_cb done_cb, void *arg)
{
	struct areq t = {
		.kind = RK_CONVERT, .cb = done_cb, .progress_cb = progress_cb, .arg = arg,
	};
	bool progress = progress_cb != NULL;
	size_t mark;

	if (!from_path || !to_path)
		return fail(ac, "EINVAL", "rowd_async_convert: a path is NULL");
	if (begin(ac, "convert", rc_convert_nfields(progress), &mark) < 0)
		return -1;
	if (rc_pack_convert_fields(&ac->out, from_path, from_opts, to_path, to_opts, progress,
	                           &ac->conn.err) < 0)
		return undo(ac, mark);
	return commit(ac, mark, &t);
}

int64_t rowd_async_request_json(rowd_async *ac, const char *json, rowd_reply_cb cb,
                                void *arg)
{
	const char *fields;
	size_t len, mark;
	uint32_t count;

	if (ac->conn.broken)
		return -1;
	if (rc_json_request(&ac->conn.jbuf, json, &fields, &len, &count, &ac->conn.err) < 0)
		return -1;
	if (begin(ac, NULL, count, &mark) < 0)
		return -1;
	if (mpbuf_append(&ac->out, fields, len) < 0)
		return undo_nomem(ac, mark);
	return commit_simple(ac, mark, RK_PLAIN, cb, arg);
}

static struct areq *find(rowd_async *ac, uint64_t id)
{
	for (struct areq *rq = ac->head; rq; rq = rq->next)
		if (rq->id == id)
			return rq;
	return NULL;
}

/* Sends a cancel for rq; from then on none of its batches or progress
 * are delivered. Without memory for the cancel, the rest of the stream is
 * read and dropped: it still ends. */
static void stop(rowd_async *ac, struct areq *rq)
{
	struct areq t = { .kind = RK_CANCEL };
	struct rc_err keep = ac->conn.err;   /* not a call of the caller's: leave its error */
	size_t mark;

	if (rq->stopping)
		return;
	rq->stopping = true;
	if (begin(ac, "cancel", 1, &mark) == 0) {
		if (rc_put_kuint(&ac->out, "target", rq->id) < 0)
			undo(ac, mark);
		else
			commit(ac, mark, &t);
	}
	ac->conn.err = keep;
}

int rowd_async_cancel(rowd_async *ac, int64_t id)
{
	struct areq *rq;

	if (ac->conn.broken)
		return -1;
	rq = id > 0 ? find(ac, (uint64_t)id) : NULL;
	if (!rq || (rq->kind != RK_STREAM && rq->kind != RK_CONVERT))
		return fail(ac, "EINVAL", "no stream or convert %" PRId64 " is pending", id);
	stop(ac, rq);
	return 0;
}

/* ---- answers ------------------------------------------------------------ */

/* Decodes received bytes into the zone: 0; -1 with e set (out of
 * memory: the request fails, the connection goes on); -2 after dropping
 * the connection. */
static int decode_into(rowd_async *ac, const char *p, size_t n, msgpack_object *out,
                       struct rc_err *e)
{
	int r = rc_decode(&ac->conn.in, p, n, out, e);

	if (r == -2)
		drop(ac, e);
	return r;
}

/* The fields a request's callback gets besides the answer; -1 (with e)
 * when the answer lacks what it must have. */
static int pick_fields(const struct areq *rq, const msgpack_object *ans, struct rowd_reply *r,
                       struct rc_err *e)
{
	uint64_t u = 0;

	switch (rq->kind) {
	case RK_OPEN:
		if (!rc_get_uint(ans, "handle", &u) || u < 1 || u > INT_MAX)
			return rc_err_set(e, "EPROTO", "open answer without a valid handle");
		r->handle = (int)u;
		break;
	case RK_READ_BULK:
		r->rows = proto_map_get(ans, "rows");
		if (!r->rows || r->rows->type != MSGPACK_OBJECT_ARRAY)
			return rc_err_set(e, "EPROTO", "read_bulk answer without a rows array");
		r->eof = rc_get_bool(ans, "eof");
		break;
	case RK_WRITE:
		rc_get_uint(ans, "written", &r->count);
		break;
	case RK_CLOSE:
		if (!rc_get_uint(ans, "rows_written", &r->count))
			rc_get_uint(ans, "rows_read", &r->count);
		break;
	case RK_TOTALS:
		rc_get_uint(ans, "rows", &r->count);
		break;
	case RK_STREAM:
		rc_get_uint(ans, "rows_total", &r->count);
		r->eof = rc_get_bool(ans, "eof");
		r->limit_reached = rc_get_bool(ans, "limit_reached");
		r->cancelled = rc_get_bool(ans, "cancelled");
		break;
	case RK_CONVERT:
		rc_get_uint(ans, "rows_out", &r->count);
		r->cancelled = rc_get_bool(ans, "cancelled");
		break;
	default:
		break;
	}
	return 0;
}

/* The last (or only) message of rq: decoded whole, handed to its
 * callback, and rq is done. */
static void finish(rowd_async *ac, struct areq *rq, const struct rc_msg *msg, const char *p,
                   size_t flen)
{
	struct rowd_reply r;
	struct rc_err e;
	int d = rq->kind == RK_CANCEL ? 0 : decode_into(ac, p, flen, &ac->answer, &e);

	if (d == -2)
		return;   /* rq heard of it with the others */
	reply_init(&r);
	if (rq->kind == RK_CANCEL) {
		/* Its answer is the library's: ok, or "no such stream" when the
		 * stream had ended first. */
	} else if (d < 0) {
		reply_error(&r, &e);
	} else if (!msg->ok) {
		rc_err_from_answer(&e, &ac->answer);
		reply_error(&r, &e);
		r.answer = &ac->answer;
	} else if (rq->nomem) {
		rc_err_set(&e, "ENOMEM",
		           "out of memory decoding a batch: the stream was cancelled");
		reply_error(&r, &e);
		r.answer = &ac->answer;
	} else {
		r.answer = &ac->answer;
		if (pick_fields(rq, &ac->answer, &r, &e) < 0)
			reply_error(&r, &e);
	}
	deliver(ac, rq, &r);
}

static void stream_batch(rowd_async *ac, struct areq *rq, const struct rc_msg *msg)
{
	struct rowd_batch b = {
		.raw = msg->rows, .raw_len = msg->rows_len, .count = msg->nrows, .seq = msg->seq,
	};
	msgpack_object rows;
	struct rc_err e;

	if (rq->stopping || !rq->batch_cb)
		return;
	if (!rq->raw) {
		int d = decode_into(ac, msg->rows, msg->rows_len, &rows, &e);

		if (d == -2)
			return;
		if (d < 0) {
			rq->nomem = true;
			stop(ac, rq);
			return;
		}
		b.rows = &rows;
	}
	if (rq->batch_cb(&b, rq->arg))
		stop(ac, rq);
}

/* The rows and progress of a message of a stream or convert. */
static void multi_message(rowd_async *ac, struct areq *rq, const struct rc_msg *msg)
{
	if (msg->has_rows)
		stream_batch(ac, rq, msg);
	if (ac->conn.broken || ac->free_asked)
		return;
	if (msg->has_progress && !rq->stopping && rq->progress_cb &&
	    rq->progress_cb(&msg->progress, rq->arg))
		stop(ac, rq);
}

/* The daemon could not read one of our frames: it says why (id nil),
 * then closes. */
static void daemon_fatal(rowd_async *ac, const char *p, size_t flen)
{
	struct rc_err e;

	if (decode_into(ac, p, flen, &ac->answer, &e) == 0)
		rc_err_from_answer(&e, &ac->answer);
	drop(ac, &e);
}

static void dispatch(rowd_async *ac, const char *p, size_t flen)
{
	struct rc_msg msg;
	struct areq *rq;

	if (rc_msg_scan(p, flen, &msg) < 0 || !msg.has_ok) {
		drop_with(ac, "EPROTO", "answer from %s is not a map with ok", ac->conn.sock_path);
		return;
	}
	if (msg.id_nil && !msg.ok) {
		daemon_fatal(ac, p, flen);
		return;
	}
	rq = msg.has_id ? find(ac, msg.id) : NULL;
	if (!rq) {
		drop_with(ac, "EPROTO", "answer from %s to no pending request", ac->conn.sock_path);
		return;
	}
	if ((rq->kind == RK_STREAM || rq->kind == RK_CONVERT) && msg.ok) {
		multi_message(ac, rq, &msg);
		if (ac->conn.broken || ac->free_asked || !rc_msg_final(&msg))
			return;
	}
	finish(ac, rq, &msg, p, flen);
}

/* Hands out every complete frame received; stops at a free. */
static void dispatch_frames(rowd_async *ac)
{
	while (!ac->conn.broken && !ac->free_asked) {
		size_t flen;
		struct rc_err e;
		int r = rc_in_frame(&ac->conn.in, &flen, &e);

		if (r == 0)
			break;
		if (r < 0) {
			drop(ac, &e);
			return;
		}
		dispatch(ac, ac->conn.in.buf + ac->conn.in.pos, flen);
		rc_in_take(&ac->conn.in, flen);
	}
	/* The callbacks are over: nothing points into the buffer now. */
	rc_in_compact(&ac->conn.in);
}

static void read_input(rowd_async *ac)
{
	size_t got = 0;

	while (!ac->conn.broken && !ac->free_asked && got < READ_BUDGET) {
		size_t room;
		ssize_t r;

		if (rc_in_room(&ac->conn.in) < 0) {
			drop_with(ac, "ENOMEM", "out of memory for a %zu-byte answer",
			          ac->conn.in.len - ac->conn.in.pos);
			return;
		}
		room = ac->conn.in.cap - ac->conn.in.len;
		r = read(ac->conn.fd, ac->conn.in.buf + ac->conn.in.len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			drop_with(ac, "ECONN", "receive from %s: %s", ac->conn.sock_path,
			          strerror(errno));
			return;
		}
		if (r == 0) {
			drop_with(ac, "ECONN", "rowd closed the connection (%s)", ac->conn.sock_path);
			return;
		}
		ac->conn.in.len += (size_t)r;
		got += (size_t)r;
		dispatch_frames(ac);
		if ((size_t)r < room)
			return;   /* the socket is drained */
	}
}

void rowd_async_handle_read(rowd_async *ac)
{
	if (ac->conn.broken || !enter(ac))
		return;
	if (ac->connecting)
		connect_check(ac);
	if (!ac->conn.broken && !ac->connecting)
		read_input(ac);
	if (!ac->free_asked)
		update_writing(ac);   /* callbacks may have made requests */
	leave(ac);
}
