/* Raw-socket helpers (see wire.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rowd_proto.h"
#include "wire.h"

bool wire_json(struct mpbuf *b, const char *json)
{
	struct rowd_limits lim;
	struct rowd_error err;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	return proto_json_to_msgpack(json, strlen(json), &lim, b, &err) == 0;
}

bool wire_send(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Complete msgpack objects at the start of p[0..n) (at most max); -1 when
 * the bytes are not msgpack. */
static int count_objects(const char *p, size_t n, int max)
{
	size_t off = 0;
	int k = 0;

	while (k < max && off < n) {
		msgpack_unpacked up;
		msgpack_unpack_return r;

		msgpack_unpacked_init(&up);
		r = msgpack_unpack_next(&up, p, n, &off);
		msgpack_unpacked_destroy(&up);
		if (r == MSGPACK_UNPACK_CONTINUE)
			break;
		if (r != MSGPACK_UNPACK_SUCCESS)
			return -1;
		k++;
	}
	return k;
}

/* Reads into *buf until done(buf) or the peer closes or wait_ms. */
static void read_until(int fd, char **buf, size_t *len, size_t *cap, int wait_ms, bool *eof,
                       bool (*done)(const char *, size_t, int), int want)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	*eof = false;
	while (!done(*buf, *len, want)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = wait_ms - ms_since(&t0);
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		if (*cap - *len < 65536) {
			char *p = realloc(*buf, *cap + 65536 * 4);

			if (!p)
				return;
			*buf = p;
			*cap += 65536 * 4;
		}
		r = read(fd, *buf + *len, *cap - *len - 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {          /* ECONNRESET after a close is the close */
			*eof = true;
			return;
		}
		*len += (size_t)r;
		(*buf)[*len] = 0;
	}
}

static bool enough_objects(const char *p, size_t n, int want)
{
	int k = count_objects(p, n, want);

	return k < 0 || k >= want;
}

int wire_read(int fd, struct wire_answers *w, int want, int wait_ms)
{
	size_t cap = 0, off = 0;

	memset(w, 0, sizeof *w);
	if (want > WIRE_MAX)
		want = WIRE_MAX;
	read_until(fd, &w->buf, &w->len, &cap, wait_ms, &w->eof, enough_objects, want);
	while (w->n < want && off < w->len) {
		msgpack_unpacked_init(&w->up[w->n]);
		if (msgpack_unpack_next(&w->up[w->n], w->buf, w->len, &off) != MSGPACK_UNPACK_SUCCESS) {
			msgpack_unpacked_destroy(&w->up[w->n]);
			break;
		}
		w->n++;
	}
	return w->n;
}

void wire_answers_free(struct wire_answers *w)
{
	for (int i = 0; i < w->n; i++)
		msgpack_unpacked_destroy(&w->up[i]);
	free(w->buf);
	memset(w, 0, sizeof *w);
}

bool wire_closed(int fd, int wait_ms)
{
	struct wire_answers w;
	bool closed;

	wire_read(fd, &w, 1, wait_ms);
	closed = w.eof && w.n == 0 && w.len == 0;
	wire_answers_free(&w);
	return closed;
}

static bool enough_lines(const char *p, size_t n, int want)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k >= want;
}

char *wire_text(int fd, int want, int wait_ms, int *lines, bool *eof)
{
	char *buf = calloc(1, 1);
	size_t len = 0, cap = buf ? 1 : 0;

	read_until(fd, &buf, &len, &cap, wait_ms, eof, enough_lines, want);
	*lines = 0;
	for (size_t i = 0; i < len; i++)
		*lines += buf[i] == '\n';
	return buf;
}

const msgpack_object *wire_get(const msgpack_object *map, const char *key)
{
	return map ? proto_map_get(map, key) : NULL;
}

const char *wire_code(const msgpack_object *ans)
{
	static char code[32];
	const msgpack_object *ok = wire_get(ans, "ok");
	const msgpack_object *c = wire_get(wire_get(ans, "error"), "code");

	if ((ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) || !c ||
	    c->type != MSGPACK_OBJECT_STR)
		return "";
	snprintf(code, sizeof code, "%.*s", (int)c->via.str.size, c->via.str.ptr);
	return code;
}

const char *wire_msg(const msgpack_object *ans)
{
	static char msg[ROWD_ERRMSG_MAX + 1];
	const msgpack_object *m = wire_get(wire_get(ans, "error"), "message");

	if (!m || m->type != MSGPACK_OBJECT_STR)
		return "";
	snprintf(msg, sizeof msg, "%.*s", (int)m->via.str.size, m->via.str.ptr);
	return msg;
}

bool wire_msg_has(const msgpack_object *ans, const char *needle)
{
	return strstr(wire_msg(ans), needle) != NULL;
}

const msgpack_object *wire_by_id(const struct wire_answers *w, uint64_t id)
{
	for (int i = 0; i < w->n; i++) {
		const msgpack_object *v = wire_get(&w->up[i].data, "id");

		if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == id)
			return &w->up[i].data;
	}
	return NULL;
}
