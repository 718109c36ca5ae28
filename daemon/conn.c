/* Connections: socket input, framing, output, lifetime (see conn.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "handle.h"
#include "log.h"
#include "peer.h"
#include "server.h"
#include "stats.h"

#define READ_CHUNK (64 * 1024)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void conn_forget_convert(struct conn *c, struct reqmsg *m)
{
	for (struct reqmsg **p = &c->converts; *p; p = &(*p)->next_active)
		if (*p == m) {
			*p = m->next_active;
			return;
		}
}

static void free_ref(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

bool conn_output_full(const struct conn *c)
{
	return !c->dead &&
	       evbuffer_get_length(bufferevent_get_output(c->bev)) >= c->srv->cfg.limits.out_high;
}

void conn_send(struct conn *c, char *data, size_t len)
{
	if (c->dead || len == 0) {
		free(data);
		return;
	}
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), data, len, free_ref, NULL) < 0) {
		free(data);
		log_warn("conn %llu: cannot queue output", (unsigned long long)c->id);
		conn_kill(c);
		return;
	}
	atomic_fetch_add_explicit(&g_stats.bytes_out, len, memory_order_relaxed);
}

void conn_send_answer(struct conn *c, struct mpbuf *b)
{
	size_t len;
	char *data;

	if (c->enc == ENC_TEXT) {
		struct mpbuf js;
		struct rowd_error err;

		mpbuf_init(&js);
		if (proto_msgpack_to_json(b->data, b->len, &js, &err) < 0) {
			log_error("conn %llu: an answer did not convert to JSON: %s",
			          (unsigned long long)c->id, err.message);
			mpbuf_free(&js);
			mpbuf_free(b);
			return;
		}
		mpbuf_free(b);
		*b = js;
	}
	data = mpbuf_steal(b, &len);
	conn_send(c, data, len);
}

void conn_send_error(struct conn *c, const char *id_raw, size_t id_len,
                     const struct rowd_error *err)
{
	struct mpbuf b;

	stats_error(err->code);
	mpbuf_init(&b);
	if (proto_answer_error(&b, id_raw, id_len, err) < 0) {
		mpbuf_free(&b);
		return;
	}
	conn_send_answer(c, &b);
}

/* Protocol errors that end the connection: one answer, then close. */
static void conn_fatal(struct conn *c, const struct rowd_error *err)
{
	log_info("conn %llu: %s: %s, closing", (unsigned long long)c->id,
	         rowd_err_name(err->code), err->message);
	conn_send_error(c, NULL, 0, err);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	conn_check_done(c);
}

/* Binary frames: the scanner finds where each object ends, enforcing the
 * limits before msgpack-c allocates anything. */
static void process_binary(struct conn *c)
{
	const struct rowd_limits *lim = &c->srv->cfg.limits;

	while (!c->closing && !c->dead && c->in_off < c->in.len && !conn_output_full(c)) {
		struct rowd_error err;
		size_t flen = 0;
		int r;
		char *copy;
		struct reqmsg *m;

		rowd_error_clear(&err);
		r = proto_scan(&c->scan, c->in.data + c->in_off, c->in.len - c->in_off, lim, &flen, &err);
		if (r == 0)
			return;
		if (r < 0) {
			conn_fatal(c, &err);
			return;
		}
		copy = malloc(flen);
		if (copy)
			memcpy(copy, c->in.data + c->in_off, flen);
		c->in_off += flen;
		proto_scanner_init(&c->scan);
		/* Out of memory fails this request only: the scanner found
		 * where the frame ends, so the next one can still be read. */
		if (!copy) {
			rowd_error_set(&err, ROWD_ENOMEM, "out of memory for a request");
			conn_send_error(c, NULL, 0, &err);
			continue;
		}
		m = reqmsg_from(copy, flen, &err);
		if (!m && err.code == ROWD_ENOMEM) {
			conn_send_error(c, NULL, 0, &err);
			continue;
		}
		if (!m) {
			conn_fatal(c, &err);
			return;
		}
		dispatch_request(c, m);
	}
}

void conn_default_id(const struct conn *c, char *id_raw, size_t *id_len)
{
	struct mpbuf b = { .data = id_raw, .len = 0, .cap = ROWD_ID_MAX };

	if (c->enc != ENC_TEXT || *id_len)
		return;
	mpbuf_uint(&b, c->text_lines);
	*id_len = b.len;
}

static void process_text_line(struct conn *c, const char *line, size_t len)
{
	char id_raw[ROWD_ID_MAX];
	size_t id_len = 0;

	const struct rowd_limits *lim = &c->srv->cfg.limits;
	struct rowd_error err;
	struct mpbuf req;
	struct reqmsg *m;
	char *buf;
	size_t blen;

	if (len && line[len - 1] == '\r')
		len--;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len == 0)
		return;
	c->text_lines++;
	conn_default_id(c, id_raw, &id_len);
	rowd_error_clear(&err);
	mpbuf_init(&req);
	if (proto_text_to_request(line, len, lim, &req, &err) < 0) {
		mpbuf_free(&req);
		conn_send_error(c, id_raw, id_len, &err);
		return;
	}
	buf = mpbuf_steal(&req, &blen);
	m = reqmsg_from(buf, blen, &err);
	if (!m) {
		conn_send_error(c, id_raw, id_len, &err);
		return;
	}
	dispatch_request(c, m);
}

static void process_text(struct conn *c)
{
	size_t max = c->srv->cfg.limits.text_line;

	while (!c->closing && !c->dead && c->in_off < c->in.len && !conn_output_full(c)) {
		const char *p = c->in.data + c->in_off;
		size_t avail = c->in.len - c->in_off;
		const char *nl = memchr(p, '\n', avail);
		size_t len = nl ? (size_t)(nl - p) : avail;

		if (len > max) {
			struct rowd_error err;

			rowd_error_clear(&err);
			rowd_error_set(&err, ROWD_ELIMIT, "line exceeds the text_line limit (%zu bytes)", max);
			conn_fatal(c, &err);
			return;
		}
		if (!nl) {
			/* A last line without newline counts once the peer is done. */
			if (!c->eof)
				return;
			c->in_off = c->in.len;
			process_text_line(c, p, len);
			return;
		}
		c->in_off += len + 1;
		process_text_line(c, p, len);
	}
}

static void compact_input(struct conn *c)
{
	if (c->in_off == c->in.len) {
		c->in_off = c->in.len = 0;
	} else if (c->in_off > READ_CHUNK) {
		memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
}

/* Requests are decoded only while the output is under out_high: a client
 * that sends without reading (a burst of `hello`s) cannot make the
 * answers pile up; the rest waits in c->in until on_write. */
static void process_input(struct conn *c)
{
	if (c->enc == ENC_UNKNOWN && c->in.len > c->in_off) {
		unsigned char b = (unsigned char)c->in.data[c->in_off];

		c->enc = ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) ? ENC_BINARY : ENC_TEXT;
	}
	if (c->enc == ENC_BINARY)
		process_binary(c);
	else if (c->enc == ENC_TEXT)
		process_text(c);
	compact_input(c);
	if (!c->dead && conn_output_full(c))
		bufferevent_disable(c->bev, EV_READ);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	size_t avail;

	while ((avail = evbuffer_get_length(input)) > 0 && !c->closing) {
		int n;

		if (mpbuf_reserve(&c->in, avail) < 0) {
			log_error("conn %llu: out of memory for input", (unsigned long long)c->id);
			conn_kill(c);
			return;
		}
		n = evbuffer_remove(input, c->in.data + c->in.len, avail);
		if (n <= 0)
			break;
		c->in.len += (size_t)n;
		c->last_active_ms = mono_ms();
		atomic_fetch_add_explicit(&g_stats.bytes_in, (uint64_t)n, memory_order_relaxed);
		process_input(c);
		if (c->dead)
			return;
	}
	if (c->closing)
		evbuffer_drain(input, evbuffer_get_length(input));
	if (c->srv->stopping)
		conn_check_done(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* Called when output drains to the low watermark. */
	if (!c->dead && !c->closing && c->in_off < c->in.len && !conn_output_full(c))
		process_input(c);
	if (c->dead)
		return;
	while (c->blocked && !conn_output_full(c)) {
		struct handle *h = c->blocked;

		c->blocked = h->next_blocked;
		h->next_blocked = NULL;
		h->blocked = false;
		handle_kick(h);
	}
	if (!c->closing && !c->eof && !c->dead && !conn_output_full(c))
		bufferevent_enable(c->bev, EV_READ);
	conn_check_done(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_EOF) {
		/* The peer shut down its sending side: answer what it sent. */
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		if (c->enc == ENC_TEXT)
			process_text(c);
		conn_check_done(c);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		log_debug("conn %llu: %s", (unsigned long long)c->id, strerror(errno));
	conn_kill(c);
}

static void on_output_moved(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	if (info->n_deleted)
		c->last_active_ms = mono_ms();
}

static bool conn_idle(const struct conn *c)
{
	if (c->jobs)
		return false;
	for (size_t i = 0; i < c->nslots; i++)
		if (c->slots[i] && (c->slots[i]->busy || c->slots[i]->q_head))
			return false;
	return true;
}

/* Bytes the peer sent that were not read yet. */
static bool unread_input(const struct conn *c)
{
	int n = 0;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		return true;
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &n) == 0 && n > 0;
}

void conn_check_done(struct conn *c)
{
	bool draining = c->srv->stopping && !c->closing && !c->eof;

	/* Half-closed, condemned or drained: finish every queued answer,
	 * then close once the output is on the wire. */
	if (c->dead || !(c->closing || c->eof || c->srv->stopping) || !conn_idle(c))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return;
	/* A stopping daemon still answers what was sent (ESHUTDOWN). */
	if (draining && unread_input(c)) {
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	conn_kill(c);
}

void conn_drain(struct conn *c)
{
	if (c->dead)
		return;
	while (c->blocked) {
		struct handle *h = c->blocked;

		c->blocked = h->next_blocked;
		h->next_blocked = NULL;
		h->blocked = false;
		handle_kick(h);
	}
	conn_check_done(c);
}

void conn_limits_changed(struct conn *c)
{
	if (!c->dead)
		bufferevent_setwatermark(c->bev, EV_WRITE, c->srv->cfg.limits.out_low, 0);
}

/* Idle: for timeout seconds no byte came in, no byte of the output was
 * taken by the client, and no job ran for the connection. An open handle
 * does not keep it alive, nor a stream whose client stopped reading; a
 * long job (a convert, a count) does. */
void conn_check_idle(struct conn *c, unsigned timeout)
{
	struct rowd_error err;

	if (c->dead || c->jobs || mono_ms() - c->last_active_ms < (uint64_t)timeout * 1000u)
		return;
	if (c->closing || evbuffer_get_length(bufferevent_get_output(c->bev)) != 0) {
		/* The client stopped reading: an answer would not get through. */
		log_info("conn %llu: its output has not moved for %u s (idle_timeout %u), closing",
		         (unsigned long long)c->id, timeout, timeout);
		stats_error(ROWD_ELIMIT);
		conn_kill(c);
		return;
	}
	rowd_error_clear(&err);
	rowd_error_set(&err, ROWD_ELIMIT, "idle for %u s: closed by the idle_timeout limit (%u s)",
	               timeout, timeout);
	/* The answer gets a full timeout to be read before a stall kill. */
	c->last_active_ms = mono_ms();
	conn_fatal(c, &err);
}

void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	bufferevent_free(c->bev);
	c->bev = NULL;
	for (size_t i = 0; i < c->nslots; i++)
		if (c->slots[i])
			handle_teardown(c->slots[i]);
	c->blocked = NULL;
	conn_maybe_free(c);
}

void conn_maybe_free(struct conn *c)
{
	if (!c->dead || c->jobs || c->nhandles)
		return;
	server_conn_gone(c->srv, c);
	free(c->slots);
	mpbuf_free(&c->in);
	free(c);
}

struct conn *conn_new(struct server *srv, int fd, const struct peer *p)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	mpbuf_init(&c->in);
	proto_scanner_init(&c->scan);
	c->last_active_ms = mono_ms();
	c->pid = p->pid;
	c->uid = p->uid;
	c->gid = p->gid;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		return NULL;
	}
	/* Output taken by the client is activity (idle_timeout). */
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_moved, c);
	if (!c->out_cb) {
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, srv->cfg.limits.out_low, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}
