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
 * shrunk, and the zone is cleared rather than freed. (msgpack-c 4.0's
 * msgpack_unpack_next frees and re-creates the zone of its msgpack_unpacked
 * on every call, which is the allocation churn we must avoid, so decoding
 * goes through msgpack_unpack with our own zone.)
 */
#include "rowd/rowd.h"
#include "rowd_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* Answers carry whole batches of rows: far above the request limits. */
#define ANSWER_FRAME_MAX ((size_t)256 << 20)
#define RBUF_MIN ((size_t)64 << 10)
/* The zone's retained chunk grows to fit the answers seen, up to this. */
#define ZONE_CHUNK_MAX ((size_t)64 << 20)
#define ERRCODE_MAX 16
/* msgpack-c decodes with a fixed stack of this many levels
 * (MSGPACK_EMBED_STACK_SIZE in its private unpack_define.h). */
#define MSGPACK_C_DEPTH 32

struct rowd_ctx {
	int fd;
	bool broken;
	char *sock_path;

	uint64_t id;                /* id of the request in flight / last sent */
	struct mpbuf wbuf;          /* the request being sent */
	struct mpbuf jbuf;          /* scratch: JSON parsed to msgpack */

	char *rbuf;                 /* received bytes; frames from rpos on */
	size_t rlen, rcap, rpos;
	struct rowd_limits answer_lim;

	msgpack_zone zone;          /* holds the decoded answer */
	bool zone_ok;
	void *zone_first;           /* head chunk right after init/clear */
	bool zone_overflowed;

	const msgpack_object *last; /* answer of the last successful call */
	msgpack_object answer;

	char errcode[ERRCODE_MAX];
	char errstr[ROWD_ERRMSG_MAX];
	int64_t errline, errrow;
};

/* ---- errors ----------------------------------------------------------- */

static void err_clear(rowd_ctx *c)
{
	c->errcode[0] = '\0';
	c->errstr[0] = '\0';
	c->errline = -1;
	c->errrow = -1;
}

static int vfail(rowd_ctx *c, const char *code, const char *fmt, va_list ap)
{
	snprintf(c->errcode, sizeof c->errcode, "%s", code);
	vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
	c->errline = -1;
	c->errrow = -1;
	c->last = NULL;
	return -1;
}

/* A local error about this call only; the connection is fine. */
__attribute__((format(printf, 3, 4)))
static int fail(rowd_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	return -1;
}

/* The byte stream can no longer be trusted (socket error, EOF, a frame we
 * cannot decode, an answer to some other request): the context is done. */
static void conn_drop(rowd_ctx *c)
{
	c->broken = true;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

__attribute__((format(printf, 3, 4)))
static int fail_broken(rowd_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	conn_drop(c);
	return -1;
}

static int fail_nomem(rowd_ctx *c)
{
	return fail(c, "ENOMEM", "out of memory");
}

/* ---- connecting ------------------------------------------------------- */

/* connect(2) interrupted by a signal goes on in the background: wait for
 * it and collect its result instead of connecting twice. */
static int connect_finish(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t len = sizeof soerr;
	int r;

	do
		r = poll(&pfd, 1, -1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -1;
	if (soerr) {
		errno = soerr;
		return -1;
	}
	return 0;
}

static int sock_connect(rowd_ctx *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(c->sock_path);

	if (n == 0 || n >= sizeof sa.sun_path)
		return fail_broken(c, "ECONN", "cannot connect to %s: socket path %s",
		                   c->sock_path, n ? "too long" : "empty");
	memcpy(sa.sun_path, c->sock_path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail_broken(c, "ECONN", "cannot connect to %s: socket: %s",
		                   c->sock_path, strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
	    (errno != EINTR || connect_finish(c->fd) < 0))
		return fail_broken(c, "ECONN", "cannot connect to %s: %s", c->sock_path,
		                   strerror(errno));
	return 0;
}

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

rowd_ctx *rowd_connect(const char *path)
{
	rowd_ctx *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	if (!path || !*path)
		path = getenv("ROWD_SOCKET");
	if (!path || !*path)
		path = ROWD_DEFAULT_SOCKET;
	c->fd = -1;
	c->sock_path = strdup(path);
	if (!c->sock_path)
		goto nomem;
	c->zone_ok = msgpack_zone_init(&c->zone, MSGPACK_ZONE_CHUNK_SIZE);
	if (!c->zone_ok)
		goto nomem;
	c->zone_first = c->zone.chunk_list.head;
	mpbuf_init(&c->wbuf);
	mpbuf_init(&c->jbuf);
	answer_limits(&c->answer_lim);
	err_clear(c);
	sock_connect(c);
	return c;
nomem:
	free(c->sock_path);
	free(c);
	return NULL;
}

void rowd_free(rowd_ctx *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->zone_ok)
		msgpack_zone_destroy(&c->zone);
	mpbuf_free(&c->wbuf);
	mpbuf_free(&c->jbuf);
	free(c->rbuf);
	free(c->sock_path);
	free(c);
}

bool rowd_ctx_broken(const rowd_ctx *c)
{
	return c->broken;
}

const char *rowd_errcode(const rowd_ctx *c)
{
	return c->errcode;
}

const char *rowd_errstr(const rowd_ctx *c)
{
	return c->errstr;
}

int64_t rowd_errline(const rowd_ctx *c)
{
	return c->errline;
}

int64_t rowd_errrow(const rowd_ctx *c)
{
	return c->errrow;
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
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
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

/* ---- receiving -------------------------------------------------------- */

/* Drops the frames already consumed. Only called once the previous
 * answer is no longer referenced (its request has been packed). */
static void rbuf_compact(rowd_ctx *c)
{
	if (c->rpos == 0)
		return;
	if (c->rpos < c->rlen)
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
	c->rlen -= c->rpos;
	c->rpos = 0;
}

static int rbuf_room(rowd_ctx *c)
{
	size_t cap;
	char *p;

	if (c->rcap - c->rlen >= RBUF_MIN / 2)
		return 0;
	cap = c->rcap ? c->rcap * 2 : RBUF_MIN;
	p = realloc(c->rbuf, cap);
	if (!p)
		return fail_broken(c, "ENOMEM", "out of memory for a %zu-byte answer",
		                   c->rlen);
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

static int read_more(rowd_ctx *c)
{
	ssize_t r;

	if (rbuf_room(c) < 0)
		return -1;
	do
		r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return fail_broken(c, "ECONN", "receive from %s: %s", c->sock_path,
		                   strerror(errno));
	if (r == 0)
		return fail_broken(c, "ECONN", "rowd closed the connection (%s)",
		                   c->sock_path);
	c->rlen += (size_t)r;
	return 0;
}

/* Reads until a whole frame starts at rpos; returns its length. */
static int recv_frame(rowd_ctx *c, size_t *flen)
{
	struct proto_scanner scan;
	struct rowd_error err;

	rowd_error_clear(&err);
	proto_scanner_init(&scan);
	for (;;) {
		int r = proto_scan(&scan, c->rbuf + c->rpos, c->rlen - c->rpos,
		                   &c->answer_lim, flen, &err);

		if (r > 0)
			return 0;
		if (r < 0)
			return fail_broken(c, "EPROTO", "bad answer from %s: %s: %s",
			                   c->sock_path, rowd_err_name(err.code), err.message);
		if (read_more(c) < 0)
			return -1;
	}
}

/* Readies the zone for an answer of flen bytes. The zone keeps one chunk
 * across answers; it is rebuilt bigger when the answer will not fit it
 * (or the last one did not), so that a run of similar batches settles to
 * no allocation at all instead of malloc'ing and freeing (mmap'ing and
 * munmap'ing) chunks for every batch. */
static int zone_reset(rowd_ctx *c, size_t flen)
{
	size_t want = c->zone_ok ? c->zone.chunk_size : MSGPACK_ZONE_CHUNK_SIZE;

	if (c->zone_overflowed)
		want *= 4;
	/* Decoded rows of strings take ~3x their encoded bytes; rows of
	 * small numbers more, which the overflow check above catches. */
	while (want < flen * 4 && want < ZONE_CHUNK_MAX)
		want *= 2;
	if (want > ZONE_CHUNK_MAX)
		want = ZONE_CHUNK_MAX;
	c->zone_overflowed = false;
	if (c->zone_ok && want <= c->zone.chunk_size) {
		msgpack_zone_clear(&c->zone);   /* keeps the first chunk */
		return 0;
	}
	if (c->zone_ok)
		msgpack_zone_destroy(&c->zone);
	c->zone_ok = msgpack_zone_init(&c->zone, want) ||
	             msgpack_zone_init(&c->zone, MSGPACK_ZONE_CHUNK_SIZE);
	if (!c->zone_ok)
		return fail_nomem(c);
	c->zone_first = c->zone.chunk_list.head;
	return 0;
}

static int decode_frame(rowd_ctx *c, size_t flen, msgpack_object *out)
{
	size_t off = 0;
	msgpack_unpack_return r;

	if (zone_reset(c, flen) < 0) {
		c->rpos += flen;   /* the stream stays in step */
		return -1;
	}
	/* msgpack_unpack is marked obsolete in msgpack-c but is the only
	 * entry point that decodes into a zone the caller keeps. */
	r = msgpack_unpack(c->rbuf + c->rpos, flen, &off, &c->zone, out);
	c->rpos += flen;
	c->zone_overflowed = c->zone.chunk_list.head != c->zone_first;
	/* msgpack-c also says NOMEM for nesting deeper than its fixed stack. */
	if (r == MSGPACK_UNPACK_NOMEM_ERROR)
		return fail(c, "ENOMEM", "cannot decode a %zu-byte answer: out of memory "
		            "or nested deeper than %d levels", flen, MSGPACK_C_DEPTH);
	if (r != MSGPACK_UNPACK_SUCCESS || off != flen)
		return fail_broken(c, "EPROTO", "undecodable answer from %s", c->sock_path);
	return 0;
}

/* ---- answers ---------------------------------------------------------- */

static bool get_int(const msgpack_object *map, const char *key, int64_t *v)
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

static bool get_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

static bool get_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
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

/* Takes the daemon's error {code, message, line?, row?} as ours. */
static int daemon_error(rowd_ctx *c, const msgpack_object *ans)
{
	const msgpack_object *e = proto_map_get(ans, "error");
	int64_t v;

	err_clear(c);
	c->last = NULL;
	if (!e || e->type != MSGPACK_OBJECT_MAP) {
		str_copy(c->errcode, sizeof c->errcode, NULL, "EPROTO");
		str_copy(c->errstr, sizeof c->errstr, NULL, "error answer without an error map");
		return -1;
	}
	str_copy(c->errcode, sizeof c->errcode, proto_map_get(e, "code"), "EPROTO");
	if (!c->errcode[0])   /* "" means no error to our callers */
		str_copy(c->errcode, sizeof c->errcode, NULL, "EPROTO");
	str_copy(c->errstr, sizeof c->errstr, proto_map_get(e, "message"), "");
	if (get_int(e, "line", &v))
		c->errline = v;
	if (get_int(e, "row", &v))
		c->errrow = v;
	return -1;
}

/* Checks the envelope of an answer to request c->id. */
static int check_answer(rowd_ctx *c, const msgpack_object *ans)
{
	const msgpack_object *id, *ok;

	if (ans->type != MSGPACK_OBJECT_MAP)
		return fail_broken(c, "EPROTO", "answer from %s is not a map", c->sock_path);
	id = proto_map_get(ans, "id");
	ok = proto_map_get(ans, "ok");
	if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN)
		return fail_broken(c, "EPROTO", "answer from %s without ok", c->sock_path);
	if ((!id || id->type == MSGPACK_OBJECT_NIL) && !ok->via.boolean) {
		/* The daemon could not read our frame at all: it says why and
		 * closes the connection. */
		daemon_error(c, ans);
		conn_drop(c);
		return -1;
	}
	if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 != c->id)
		return fail_broken(c, "EPROTO",
		                   "answer from %s does not match request %" PRIu64,
		                   c->sock_path, c->id);
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

	if (e == EPIPE || e == ECONNRESET) {
		rbuf_compact(c);
		if (recv_frame(c, &flen) == 0 && decode_frame(c, flen, &c->answer) == 0 &&
		    c->answer.type == MSGPACK_OBJECT_MAP &&
		    (ok = proto_map_get(&c->answer, "ok")) &&
		    ok->type == MSGPACK_OBJECT_BOOLEAN && !ok->via.boolean) {
			daemon_error(c, &c->answer);
			conn_drop(c);
			return -1;
		}
	}
	return fail_broken(c, "ECONN", "send to %s: %s", c->sock_path, strerror(e));
}

/* Sends the request in wbuf (followed by tail, when not NULL) and waits
 * for its answer. */
static int call_tail(rowd_ctx *c, const char *tail, size_t tail_len)
{
	struct iovec iov[2] = {
		{ .iov_base = c->wbuf.data, .iov_len = c->wbuf.len },
		{ .iov_base = (void *)tail, .iov_len = tail_len },
	};
	size_t flen;

	if (send_iov(c, iov, tail_len ? 2 : 1) < 0)
		return -1;
	/* The request is out: the previous answer is no longer referenced. */
	rbuf_compact(c);
	if (recv_frame(c, &flen) < 0)
		return -1;
	if (decode_frame(c, flen, &c->answer) < 0)
		return -1;
	return check_answer(c, &c->answer);
}

static int call(rowd_ctx *c)
{
	return call_tail(c, NULL, 0);
}

/* ---- requests --------------------------------------------------------- */

static int put_kstr(struct mpbuf *b, const char *key, const char *val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_cstr(b, val) < 0 ? -1 : 0;
}

static int put_kuint(struct mpbuf *b, const char *key, uint64_t val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_uint(b, val) < 0 ? -1 : 0;
}

/* Starts a request map of nfields fields besides id and op (op NULL:
 * the caller supplies it among the fields). The previous answer stays
 * intact: the caller may still be packing parts of it. */
static int req_begin(rowd_ctx *c, const char *op, uint32_t nfields)
{
	if (c->broken)
		return -1;   /* keeps the error that broke it */
	err_clear(c);
	c->last = NULL;
	c->wbuf.len = 0;
	c->id++;
	if (mpbuf_map_hdr(&c->wbuf, nfields + (op ? 2 : 1)) < 0 ||
	    put_kuint(&c->wbuf, "id", c->id) < 0 ||
	    (op && put_kstr(&c->wbuf, "op", op) < 0))
		return fail_nomem(c);
	return 0;
}

/* Most ops address one handle and carry nothing else. */
static int req_handle(rowd_ctx *c, const char *op, int handle, uint32_t more)
{
	if (c->broken)
		return -1;
	if (handle < 1)
		return fail(c, "EBADHANDLE", "bad handle %d (handles count from 1)", handle);
	if (req_begin(c, op, more + 1) < 0)
		return -1;
	if (put_kuint(&c->wbuf, "handle", (uint64_t)handle) < 0)
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

static bool is_map_hdr(unsigned char b)
{
	return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
}

/* Appends JSON text `json` as msgpack to b; it must be an object. what
 * names it in messages. */
static int json_object(rowd_ctx *c, struct mpbuf *b, const char *json, const char *what)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t at = b->len;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	if (proto_json_to_msgpack(json, strlen(json), &lim, b, &err) < 0) {
		if (err.code == ROWD_ENOMEM)
			return fail_nomem(c);
		return fail(c, "EINVAL", "%s: %s", what, err.message);
	}
	if (b->len == at || !is_map_hdr((unsigned char)b->data[at]))
		return fail(c, "EINVAL", "%s must be a JSON object", what);
	return 0;
}

/* ---- the API ---------------------------------------------------------- */

static uint32_t open_fields(const struct rowd_open_opts *o)
{
	if (!o)
		return 1;
	return 1 + !!o->mode + !!o->format + !!o->codec + !!o->engine +
	       !!o->options_json + !!o->codec_options_json;
}

static int pack_json_field(rowd_ctx *c, const char *key, const char *json,
                           const char *what)
{
	if (mpbuf_cstr(&c->wbuf, key) < 0)
		return fail_nomem(c);
	return json_object(c, &c->wbuf, json, what);
}

static int pack_open_opts(rowd_ctx *c, const struct rowd_open_opts *o)
{
	struct mpbuf *b = &c->wbuf;

	if ((o->mode && put_kstr(b, "mode", o->mode) < 0) ||
	    (o->format && put_kstr(b, "format", o->format) < 0) ||
	    (o->codec && put_kstr(b, "codec", o->codec) < 0) ||
	    (o->engine && put_kstr(b, "engine", o->engine) < 0))
		return fail_nomem(c);
	if (o->options_json &&
	    pack_json_field(c, "options", o->options_json, "options_json") < 0)
		return -1;
	if (o->codec_options_json &&
	    pack_json_field(c, "codec_options", o->codec_options_json,
	                    "codec_options_json") < 0)
		return -1;
	return 0;
}

int rowd_open(rowd_ctx *c, const char *path, const struct rowd_open_opts *opts)
{
	uint64_t h;

	if (c->broken)
		return -1;
	if (!path)
		return fail(c, "EINVAL", "rowd_open: path is NULL");
	if (req_begin(c, "open", open_fields(opts)) < 0)
		return -1;
	if (put_kstr(&c->wbuf, "path", path) < 0)
		return fail_nomem(c);
	if (opts && pack_open_opts(c, opts) < 0)
		return -1;
	if (call(c) < 0)
		return -1;
	if (!get_uint(c->last, "handle", &h) || h < 1 || h > INT_MAX)
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
	if (r || !get_bool(c->last, "eof"))
		return fail(c, "EPROTO", "read answer without a row map or eof");
	return 0;
}

int rowd_read_bulk(rowd_ctx *c, int handle, size_t n, const msgpack_object **rows,
                   bool *eof)
{
	const msgpack_object *r;

	if (c->broken)
		return -1;
	if (n > INT_MAX)
		return fail(c, "EINVAL", "read_bulk: n %zu is too large", n);
	if (req_handle(c, "read_bulk", handle, 1) < 0)
		return -1;
	if (put_kuint(&c->wbuf, "n", n) < 0)
		return fail_nomem(c);
	if (call(c) < 0)
		return -1;
	r = proto_map_get(c->last, "rows");
	if (!r || r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size > n)
		return fail(c, "EPROTO", "read_bulk answer without a rows array of at most %zu",
		            n);
	*rows = r;
	*eof = get_bool(c->last, "eof");
	return (int)r->via.array.size;
}

int rowd_write(rowd_ctx *c, int handle, const msgpack_object *row)
{
	if (c->broken)
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

	if (!get_uint(c->last, "written", &n))
		return fail(c, "EPROTO", "write answer without written");
	return n > INT_MAX ? INT_MAX : (int)n;
}

int rowd_write_bulk(rowd_ctx *c, int handle, const msgpack_object *rows)
{
	if (c->broken)
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
	if (c->broken)
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
	if (!get_uint(c->last, "rows", &n) || n > INT64_MAX)
		return fail(c, "EPROTO", "totals answer without rows");
	return (int64_t)n;
}

int rowd_close(rowd_ctx *c, int handle, uint64_t *rows_written)
{
	uint64_t n = 0;

	if (req_handle(c, "close", handle, 0) < 0 || call(c) < 0)
		return -1;
	get_uint(c->last, "rows_written", &n);
	if (rows_written)
		*rows_written = n;
	return 0;
}

int rowd_ping(rowd_ctx *c)
{
	if (req_begin(c, "ping", 0) < 0 || call(c) < 0)
		return -1;
	if (!get_bool(c->last, "pong"))
		return fail(c, "EPROTO", "ping answer without pong");
	return 0;
}

/* Bytes of the map header at p (known to be one). */
static size_t map_hdr_len(unsigned char b)
{
	return b == 0xde ? 3 : b == 0xdf ? 5 : 1;
}

static uint32_t map_hdr_count(const unsigned char *p)
{
	if (p[0] == 0xde)
		return (uint32_t)p[1] << 8 | p[2];
	if (p[0] == 0xdf)
		return (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	return p[0] & 0x0f;
}

/* Whether the packed object p[0..n) is the string s. */
static bool packed_str_is(const char *p, size_t n, const char *s)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t len = strlen(s), hl;

	if (n == 0)
		return false;
	if ((u[0] & 0xe0) == 0xa0)
		hl = 1;
	else if (u[0] == 0xd9)
		hl = 2;
	else if (u[0] == 0xda)
		hl = 3;
	else if (u[0] == 0xdb)
		hl = 5;
	else
		return false;
	return n == hl + len && memcmp(p + hl, s, len) == 0;
}

/* Says why a request (the count fields packed at p[0..n)) cannot go
 * through the blocking API, or NULL: the library numbers requests itself,
 * and an op answered by several messages would leave the later ones to be
 * taken for the answers of the next calls. Walks the fields with the
 * frame scanner: no decoding, no allocation. */
static const char *request_refusal(const char *p, size_t n, uint32_t count)
{
	struct rowd_limits lim;
	struct proto_scanner s;
	struct rowd_error err;
	size_t at = 0, klen, vlen;

	rowd_limits_default(&lim);
	lim.frame_bytes = n;
	for (uint32_t i = 0; i < count; i++) {
		const char *key = p + at, *val;

		proto_scanner_init(&s);
		if (proto_scan(&s, key, n - at, &lim, &klen, &err) != 1)
			return "request is not well-formed";  /* the parser made it: cannot be */
		val = key + klen;
		proto_scanner_init(&s);
		if (proto_scan(&s, val, n - at - klen, &lim, &vlen, &err) != 1)
			return "request is not well-formed";
		at += klen + vlen;
		if (packed_str_is(key, klen, "id"))
			return "request must not carry an id: the library adds it";
		if (packed_str_is(key, klen, "op") && packed_str_is(val, vlen, "stream"))
			return "stream answers with many messages: not in the blocking API";
		if (packed_str_is(key, klen, "progress") && vlen == 1 &&
		    (unsigned char)val[0] == 0xc3)
			return "progress messages are not in the blocking API";
	}
	return NULL;
}

int rowd_request_json(rowd_ctx *c, const char *json, const msgpack_object **answer)
{
	const unsigned char *m;
	const char *why;
	size_t hl;
	uint32_t count;

	if (c->broken)
		return -1;
	if (!json)
		return fail(c, "EINVAL", "request JSON is NULL");
	c->jbuf.len = 0;
	if (json_object(c, &c->jbuf, json, "request") < 0)
		return -1;
	m = (const unsigned char *)c->jbuf.data;
	hl = map_hdr_len(m[0]);
	count = map_hdr_count(m);
	if (count == UINT32_MAX)
		return fail(c, "EINVAL", "request has too many fields");
	why = request_refusal(c->jbuf.data + hl, c->jbuf.len - hl, count);
	if (why)
		return fail(c, "EINVAL", "%s", why);
	/* The fields are copied as parsed, behind a header counting the id. */
	if (req_begin(c, NULL, count) < 0)
		return -1;
	if (mpbuf_append(&c->wbuf, c->jbuf.data + hl, c->jbuf.len - hl) < 0)
		return fail_nomem(c);
	if (call(c) < 0)
		return -1;
	if (answer)
		*answer = c->last;
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
