/* End-to-end tests of librowd's async API (and of the blocking stream and
 * convert calls, and rowcat's progress bar): the real daemon/rowd on a temp socket (daemon_fixture.c),
 * driven through the libevent adapter or through a bare poll() loop.
 * Every test starts its own daemon and stops it with SIGTERM, so a daemon
 * that crashes or exits unclean fails the test; under ASan a use after
 * free in the library (a deferred free done wrong) fails it too. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <msgpack.h>

#include "rowd/rowd.h"
#include "rowd/adapters/libevent.h"
#include "daemon_fixture.h"

#define SAMPLE "tests/data/conformance/iterabledata/2cols6rows.csv"
#define SIX_JSON                                                                       \
	"[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"},"          \
	"{\"id\":\"3\",\"name\":\"Michael\"},{\"id\":\"4\",\"name\":\"Anna\"},"        \
	"{\"id\":\"5\",\"name\":\"Orban\"},{\"id\":\"6\",\"name\":\"Lucy\"}]"
/* Rows of big.csv, made by start(). */
#define BIG_ROWS 50000

static struct daemon dm;
static bool dm_live;
static struct event_base *base;

/* ---- the daemon ----------------------------------------------------------- */

static void cleanup(void)
{
	if (dm_live)
		daemon_cleanup(&dm);
	dm_live = false;
	if (base)
		event_base_free(base);
	base = NULL;
}

static void put_rows(const char *rel, int rows)
{
	size_t cap = (size_t)rows * 32 + 64, len = 0;
	char *csv = malloc(cap);

	ck_assert_ptr_nonnull(csv);
	len += (size_t)snprintf(csv, cap, "id,name\n");
	for (int i = 1; i <= rows; i++)
		len += (size_t)snprintf(csv + len, cap - len, "%d,name number %d\n", i, i);
	ck_assert(daemon_put(&dm, rel, csv, len));
	free(csv);
}

/* A small output high watermark, so that a stream waits for its reader
 * early and a cancel always lands mid-stream. */
static void start(void)
{
	static const char *const extra[] = { "-o", "out_high=16K", "-o", "out_low=4K", NULL };

	ck_assert_msg(daemon_start(&dm, extra), "rowd did not start (log %s)", dm.log);
	dm_live = true;
	ck_assert(daemon_put_src(&dm, SAMPLE, "f.csv"));
	put_rows("big.csv", BIG_ROWS);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void stop(void)
{
	ck_assert_msg(daemon_stop(&dm), "rowd did not exit 0 on SIGTERM");
	cleanup();
}

/* ---- loops ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the libevent loop until *n >= want (a timer keeps it from blocking
 * for good when the library has nothing registered). */
static void spin(const int *n, int want, const char *what)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = { 0, 20000 };
	int64_t deadline = now_ms() + 30000;

	ck_assert(t && event_add(t, &tv) == 0);
	while (*n < want) {
		ck_assert_msg(now_ms() < deadline, "timed out waiting for %s (%d of %d)", what, *n,
		              want);
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
}

/* The same with poll(2) and the fd API, no event library. */
static void poll_spin(rowd_async *ac, const int *n, int want, const char *what)
{
	int64_t deadline = now_ms() + 30000;

	while (*n < want) {
		struct pollfd pfd = { .fd = rowd_async_fd(ac), .events = POLLIN };

		ck_assert_msg(now_ms() < deadline, "timed out waiting for %s", what);
		ck_assert_int_ge(pfd.fd, 0);
		if (rowd_async_want_write(ac))
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			rowd_async_handle_read(ac);
		if ((pfd.revents & POLLOUT) && *n < want)
			rowd_async_handle_write(ac);
	}
}

static rowd_async *aconn(void)
{
	rowd_async *ac = rowd_async_connect(dm.sock);

	ck_assert_ptr_nonnull(ac);
	ck_assert_msg(!rowd_async_broken(ac), "connect: %s: %s", rowd_async_errcode(ac),
	              rowd_async_errstr(ac));
	ck_assert_int_eq(rowd_libevent_attach(ac, base), 0);
	return ac;
}

/* ---- what callbacks saw --------------------------------------------------- */

struct rec {
	int calls;
	char code[16];
	char msg[256];
	int handle;
	uint64_t count;
	bool eof, cancelled, limit_reached, had_answer;
	char json[4096];
};

static void to_json(const msgpack_object *o, char *out, size_t cap)
{
	char *buf = NULL;
	size_t len = 0, bcap = 0;

	ck_assert(rowd_to_json(o, &buf, &len, &bcap) == 0);
	snprintf(out, cap, "%.*s", (int)len, buf);
	free(buf);
}

static void on_reply(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct rec *x = arg;

	(void)ac;
	x->calls++;
	snprintf(x->code, sizeof x->code, "%s", r->errcode ? r->errcode : "");
	snprintf(x->msg, sizeof x->msg, "%s", r->errstr);
	ck_assert_ptr_nonnull(r->errstr);
	x->handle = r->handle;
	x->count = r->count;
	x->eof = r->eof;
	x->cancelled = r->cancelled;
	x->limit_reached = r->limit_reached;
	x->had_answer = r->answer != NULL;
	x->json[0] = '\0';
	if (r->rows)
		to_json(r->rows, x->json, sizeof x->json);
}

static void expect_ok(const struct rec *x, const char *what)
{
	ck_assert_msg(x->calls == 1, "%s: %d calls", what, x->calls);
	ck_assert_msg(x->code[0] == '\0', "%s: %s: %s", what, x->code, x->msg);
}

static void expect_err(const struct rec *x, const char *code, const char *what)
{
	ck_assert_msg(x->calls == 1, "%s: %d calls", what, x->calls);
	ck_assert_msg(strcmp(x->code, code) == 0, "%s: want %s, got '%s' (%s)", what, code,
	              x->code, x->msg);
}

/* Counts finished requests across several recs. */
static int done_count(struct rec *const *recs, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += recs[i]->calls > 0;
	return k;
}

/* ---- streams -------------------------------------------------------------- */

struct srec {
	rowd_async *ac;
	int64_t id;
	bool raw;
	int batches, progress;
	uint64_t rows;
	long next_id;               /* the id the next row must carry */
	bool in_order;
	uint64_t seq_next;
	bool seq_ok;
	int stop_at;                /* batch callback returns 1 at this batch */
	int cancel_at;              /* rowd_async_cancel at this batch */
	int free_at;                /* rowd_async_free at this batch */
	bool stopped;
	int late_batches;           /* delivered after the stop */
	struct rec done;
};

static void srec_init(struct srec *s, rowd_async *ac)
{
	memset(s, 0, sizeof *s);
	s->ac = ac;
	s->next_id = 1;
	s->in_order = s->seq_ok = true;
}

/* A decimal number in a string that is not NUL-terminated. */
static long num(const char *p, size_t n)
{
	long v = 0;

	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (p[i] - '0');
	return n ? v : -1;
}

/* The id field of a row as a number, read with the cursor. */
static long cursor_id(struct rowd_cursor *cur)
{
	struct rowd_value v;
	const char *k;
	size_t kn;

	while (rowd_cursor_next_field(cur, &k, &kn, &v) == 1)
		if (kn == 2 && memcmp(k, "id", 2) == 0 && v.type == ROWD_STR)
			return num(v.via.str.ptr, v.via.str.len);
	return -1;
}

static void check_batch_rows(struct srec *s, const struct rowd_batch *b)
{
	struct rowd_cursor cur;
	uint32_t n = 0;

	rowd_cursor_init(&cur, b->raw, b->raw_len);
	while (rowd_cursor_next_row(&cur, NULL) == 1) {
		long id = cursor_id(&cur);

		if (!s->raw) {
			const msgpack_object *o = rowd_map_get(&b->rows->via.array.ptr[n], "id");

			ck_assert(o && o->type == MSGPACK_OBJECT_STR);
			ck_assert_int_eq(num(o->via.str.ptr, o->via.str.size), id);
		}
		s->in_order &= id == s->next_id++;
		n++;
	}
	ck_assert_uint_eq(n, b->count);
}

static int on_batch(const struct rowd_batch *b, void *arg)
{
	struct srec *s = arg;

	ck_assert(s->raw ? b->rows == NULL : b->rows != NULL);
	if (s->stopped) {
		s->late_batches++;
		return 0;
	}
	s->batches++;
	s->rows += b->count;
	s->seq_ok &= b->seq == s->seq_next++;
	check_batch_rows(s, b);
	if (s->cancel_at == s->batches) {
		ck_assert_int_eq(rowd_async_cancel(s->ac, s->id), 0);
		s->stopped = true;
	}
	if (s->free_at == s->batches) {
		rowd_async_free(s->ac);
		s->stopped = true;
	}
	if (s->stop_at == s->batches) {
		s->stopped = true;
		return 1;
	}
	return 0;
}

static int on_progress(const struct rowd_progress *p, void *arg)
{
	struct srec *s = arg;

	ck_assert(p->bytes_read <= p->bytes_total);
	s->progress++;
	return 0;
}

static void on_stream_done(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	on_reply(ac, r, &((struct srec *)arg)->done);
}

static int64_t stream(rowd_async *ac, int h, size_t batch, struct srec *s, bool progress)
{
	struct rowd_stream_opts o = { .batch = batch, .raw = s->raw };

	s->id = rowd_async_stream(ac, h, &o, on_batch, progress ? on_progress : NULL,
	                          on_stream_done, s);
	ck_assert_msg(s->id > 0, "stream: %s: %s", rowd_async_errcode(ac), rowd_async_errstr(ac));
	return s->id;
}

static int open_sync_wait(rowd_async *ac, const char *path, const char *mode)
{
	struct rowd_open_opts o = { .mode = mode };
	struct rec r = { 0 };

	ck_assert(rowd_async_open(ac, path, &o, on_reply, &r) > 0);
	spin(&r.calls, 1, "open");
	expect_ok(&r, "open");
	return r.handle;
}

/* ======================================================================= */

START_TEST(test_open_read_bulk)
{
	struct rec o = { 0 }, r1 = { 0 }, r2 = { 0 }, c = { 0 };
	struct rec *all[] = { &o, &r1, &r2, &c };
	rowd_async *ac;

	start();
	ac = aconn();
	/* Pipelined: the handle of a connection's first open is 1. */
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, &o) > 0);
	ck_assert(rowd_async_read_bulk(ac, 1, 4, on_reply, &r1) > 0);
	ck_assert(rowd_async_read_bulk(ac, 1, 4, on_reply, &r2) > 0);
	ck_assert(rowd_async_close(ac, 1, on_reply, &c) > 0);
	ck_assert_uint_eq(rowd_async_pending(ac), 4);
	ck_assert_int_eq(o.calls, 0);   /* callbacks only from the loop */
	spin(&c.calls, 1, "close");
	ck_assert_int_eq(done_count(all, 4), 4);
	expect_ok(&o, "open");
	ck_assert_int_eq(o.handle, 1);
	expect_ok(&r1, "read_bulk 1");
	expect_ok(&r2, "read_bulk 2");
	ck_assert_str_eq(r1.json, "[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"},"
	                 "{\"id\":\"3\",\"name\":\"Michael\"},{\"id\":\"4\",\"name\":\"Anna\"}]");
	ck_assert(!r1.eof);
	ck_assert_str_eq(r2.json, "[{\"id\":\"5\",\"name\":\"Orban\"},{\"id\":\"6\",\"name\":\"Lucy\"}]");
	ck_assert(r2.eof);
	expect_ok(&c, "close");
	ck_assert_uint_eq(c.count, 6);   /* rows_read */
	ck_assert_uint_eq(rowd_async_pending(ac), 0);
	rowd_async_free(ac);
	stop();
}
END_TEST

/* Answers for two handles interleave; each goes to its own callback. */
START_TEST(test_two_handles)
{
	struct rec reads[20];
	struct srec sa, sb;
	rowd_async *ac;
	int ha, hb;

	start();
	ac = aconn();
	ha = open_sync_wait(ac, "big.csv", NULL);
	hb = open_sync_wait(ac, "f.csv", NULL);
	ck_assert(ha == 1 && hb == 2);
	/* A stream on one handle while read_bulks go to the other. */
	srec_init(&sa, ac);
	stream(ac, ha, 500, &sa, false);
	memset(reads, 0, sizeof reads);
	for (int i = 0; i < 20; i++)
		ck_assert(rowd_async_read_bulk(ac, hb, 1, on_reply, &reads[i]) > 0);
	spin(&sa.done.calls, 1, "stream of big.csv");
	spin(&reads[19].calls, 1, "read_bulks");   /* one handle's answers keep their order */
	expect_ok(&sa.done, "stream");
	ck_assert_uint_eq(sa.rows, BIG_ROWS);
	ck_assert(sa.in_order && sa.seq_ok);
	for (int i = 0; i < 20; i++) {
		expect_ok(&reads[i], "read_bulk");
		ck_assert_int_eq(strlen(reads[i].json) > 2, i < 6);
	}
	/* Two streams at once. */
	srec_init(&sa, ac);
	srec_init(&sb, ac);
	ck_assert(rowd_async_reset(ac, hb, NULL, NULL) > 0);
	ck_assert(rowd_async_reset(ac, ha, NULL, NULL) > 0);
	stream(ac, ha, 1000, &sa, false);
	stream(ac, hb, 2, &sb, false);
	spin(&sa.done.calls, 1, "stream a");
	spin(&sb.done.calls, 1, "stream b");
	ck_assert(sa.rows == BIG_ROWS && sb.rows == 6 && sb.batches == 3);
	ck_assert_uint_eq(sa.done.count, BIG_ROWS);
	ck_assert(sa.done.eof && !sa.done.cancelled && !sa.done.limit_reached);
	rowd_async_free(ac);
	stop();
}
END_TEST

START_TEST(test_stream_callbacks)
{
	struct srec s;
	struct rowd_stream_opts lim = { .batch = 7, .limit = 100, .raw = true };
	rowd_async *ac;
	int h;

	start();
	ac = aconn();
	h = open_sync_wait(ac, "big.csv", NULL);
	/* Objects, with progress. */
	srec_init(&s, ac);
	stream(ac, h, 1000, &s, true);
	spin(&s.done.calls, 1, "stream");
	expect_ok(&s.done, "stream done");
	ck_assert(s.in_order && s.seq_ok);
	ck_assert_int_eq(s.batches, BIG_ROWS / 1000);
	ck_assert_uint_eq(s.done.count, BIG_ROWS);
	ck_assert_msg(s.progress >= 1, "no progress message");
	ck_assert(s.done.had_answer && s.done.eof);
	/* Raw batches for the cursor, and a limit. */
	ck_assert(rowd_async_reset(ac, h, NULL, NULL) > 0);
	srec_init(&s, ac);
	s.raw = true;
	s.id = rowd_async_stream(ac, h, &lim, on_batch, NULL, on_stream_done, &s);
	ck_assert(s.id > 0);
	spin(&s.done.calls, 1, "stream with limit");
	expect_ok(&s.done, "limited stream");
	ck_assert(s.rows == 100 && s.done.count == 100 && s.done.limit_reached);
	ck_assert_int_eq(s.batches, 15);   /* 14 x 7 + 2 */
	/* The handle goes on after the limit. */
	{
		struct rec r = { 0 };

		ck_assert(rowd_async_read_bulk(ac, h, 1, on_reply, &r) > 0);
		spin(&r.calls, 1, "read_bulk after the limit");
		ck_assert_str_eq(r.json, "[{\"id\":\"101\",\"name\":\"name number 101\"}]");
	}
	rowd_async_free(ac);
	stop();
}
END_TEST

/* Cancel from the batch callback's return value and with
 * rowd_async_cancel: no batch after it, the end says cancelled, and the
 * handle reads on from where the stream stopped. */
static void cancel_case(bool by_return)
{
	struct srec s;
	struct rec r = { 0 };
	rowd_async *ac;
	char want[128];
	int h;

	start();
	ac = aconn();
	h = open_sync_wait(ac, "big.csv", NULL);
	srec_init(&s, ac);
	if (by_return)
		s.stop_at = 2;
	else
		s.cancel_at = 2;
	stream(ac, h, 100, &s, true);
	spin(&s.done.calls, 1, "cancelled stream");
	expect_ok(&s.done, "cancelled stream");
	ck_assert_msg(s.done.cancelled, "the end does not say cancelled (rows_total %lu)",
	              (unsigned long)s.done.count);
	ck_assert_int_eq(s.late_batches, 0);
	ck_assert_int_eq(s.batches, 2);
	ck_assert(s.done.count >= 200 && s.done.count < BIG_ROWS);
	ck_assert(rowd_async_read_bulk(ac, h, 1, on_reply, &r) > 0);
	spin(&r.calls, 1, "read_bulk after cancel");
	expect_ok(&r, "read_bulk after cancel");
	snprintf(want, sizeof want, "[{\"id\":\"%lu\",\"name\":\"name number %lu\"}]",
	         (unsigned long)s.done.count + 1, (unsigned long)s.done.count + 1);
	ck_assert_str_eq(r.json, want);
	ck_assert_int_eq(rowd_async_cancel(ac, s.id), -1);   /* over */
	ck_assert_str_eq(rowd_async_errcode(ac), "EINVAL");
	rowd_async_free(ac);
	stop();
}

START_TEST(test_cancel_by_return)
{
	cancel_case(true);
}
END_TEST

START_TEST(test_cancel_by_id)
{
	cancel_case(false);
}
END_TEST

START_TEST(test_write_bulk_close)
{
	static const char rows_json[] = "[{\"a\":\"1\",\"b\":\"x\"},{\"a\":\"2\",\"b\":\"y\"}]";
	struct rec w1 = { 0 }, w2 = { 0 }, w3 = { 0 }, c = { 0 };
	struct rec *all[] = { &w1, &w2, &w3, &c };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object rows;
	rowd_async *ac;
	size_t off = 0;
	char *got, json[256];
	int h;

	start();
	ac = aconn();
	h = open_sync_wait(ac, "out.csv", "w");
	/* Rows as objects (copied by the call: freed before the answer). */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	for (int i = 1; i <= 2; i++) {
		char v[2] = { (char)('0' + i), 0 };

		msgpack_pack_map(&pk, 2);
		msgpack_pack_str(&pk, 1);
		msgpack_pack_str_body(&pk, "a", 1);
		msgpack_pack_str(&pk, 1);
		msgpack_pack_str_body(&pk, v, 1);
		msgpack_pack_str(&pk, 1);
		msgpack_pack_str_body(&pk, "b", 1);
		msgpack_pack_str(&pk, 1);
		msgpack_pack_str_body(&pk, i == 1 ? "x" : "y", 1);
	}
	ck_assert(msgpack_zone_init(&zone, 1024));
	ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &zone, &rows), MSGPACK_UNPACK_SUCCESS);
	ck_assert(rowd_async_write_bulk(ac, h, &rows, on_reply, &w1) > 0);
	to_json(&rows, json, sizeof json);
	ck_assert_str_eq(json, rows_json);
	msgpack_zone_destroy(&zone);
	/* The same rows packed back to back (skip the array header). */
	ck_assert(rowd_async_write_bulk_packed(ac, h, sb.data + 1, sb.size - 1, 2, on_reply, &w2) > 0);
	msgpack_sbuffer_destroy(&sb);
	ck_assert(rowd_async_write_bulk_packed(ac, h, NULL, 0, 0, on_reply, &w3) > 0);
	ck_assert(rowd_async_write_bulk_packed(ac, h, "x", 1, 2, on_reply, &w3) == -1);
	ck_assert_str_eq(rowd_async_errcode(ac), "EINVAL");
	ck_assert(rowd_async_close(ac, h, on_reply, &c) > 0);
	spin(&c.calls, 1, "close");
	ck_assert_int_eq(done_count(all, 4), 4);
	expect_ok(&w1, "write_bulk");
	ck_assert_uint_eq(w1.count, 2);
	expect_ok(&w2, "write_bulk_packed");
	ck_assert_uint_eq(w2.count, 2);
	expect_ok(&w3, "empty write_bulk_packed");
	ck_assert_uint_eq(w3.count, 0);
	expect_ok(&c, "close");
	ck_assert_uint_eq(c.count, 4);
	got = daemon_get(&dm, "out.csv", NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "a,b\n1,x\n2,y\n1,x\n2,y\n");
	free(got);
	rowd_async_free(ac);
	stop();
}
END_TEST

/* ---- frees and disconnects ------------------------------------------------ */

struct dstate {
	int calls, status;
	char code[16];
	rowd_async *free_me;
};

static void on_disconnect(rowd_async *ac, int status, void *arg)
{
	struct dstate *d = arg;

	d->calls++;
	d->status = status;
	snprintf(d->code, sizeof d->code, "%s", rowd_async_errcode(ac));
	if (status != 0)
		ck_assert_int_eq(rowd_async_fd(ac), -1);
	if (d->free_me)
		rowd_async_free(d->free_me);
}

/* Callbacks that free the context: the batch callback of a stream, with
 * other requests pending; an open callback. The free waits for the
 * callback to return, no answer is delivered after it, every pending
 * request hears ECONN, then the disconnect callback runs with 0. */
START_TEST(test_free_in_callback)
{
	struct rec other = { 0 }, ping = { 0 };
	struct dstate d = { 0 };
	struct srec s;
	rowd_async *ac;
	int h;

	start();
	ac = aconn();
	rowd_async_on_disconnect(ac, on_disconnect, &d);
	h = open_sync_wait(ac, "big.csv", NULL);
	srec_init(&s, ac);
	s.free_at = 1;
	stream(ac, h, 100, &s, false);
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, &other) > 0);
	ck_assert(rowd_async_request_json(ac, "{\"op\":\"ping\"}", on_reply, &ping) > 0);
	spin(&d.calls, 1, "the free");
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(s.batches, 1);
	ck_assert_int_eq(s.late_batches, 0);
	expect_err(&s.done, "ECONN", "stream of a freed context");
	ck_assert(strstr(s.done.msg, "freed") != NULL);
	/* Answered before the free or not: a callback each, exactly once. */
	ck_assert_int_eq(other.calls, 1);
	ck_assert_int_eq(ping.calls, 1);
	/* The loop has nothing left of the context. */
	ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);

	stop();
}
END_TEST

static void free_on_reply(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	on_reply(ac, r, arg);
	rowd_async_free(ac);
	/* Requests after the free asked are refused. */
	ck_assert(rowd_async_read_bulk(ac, 1, 1, on_reply, NULL) == -1);
}

START_TEST(test_free_in_reply)
{
	struct rec o = { 0 }, r = { 0 };
	struct dstate d = { 0 };
	rowd_async *ac;

	start();
	ac = aconn();
	rowd_async_on_disconnect(ac, on_disconnect, &d);
	ck_assert(rowd_async_open(ac, "f.csv", NULL, free_on_reply, &o) > 0);
	ck_assert(rowd_async_read_bulk(ac, 1, 6, on_reply, &r) > 0);
	spin(&d.calls, 1, "free from the open callback");
	expect_ok(&o, "open");
	expect_err(&r, "ECONN", "read_bulk pending at the free");
	ck_assert_int_eq(d.status, 0);
	stop();
}
END_TEST

/* The daemon dies: every pending callback gets ECONN, the disconnect
 * callback runs with -1, the context stays (broken) until freed. */
START_TEST(test_disconnect)
{
	struct rec r[3] = { { 0 } };
	struct dstate d = { 0 };
	struct srec s;
	rowd_async *ac;
	int h;

	start();
	ac = aconn();
	rowd_async_on_disconnect(ac, on_disconnect, &d);
	h = open_sync_wait(ac, "big.csv", NULL);
	srec_init(&s, ac);
	stream(ac, h, 100, &s, false);
	spin(&s.batches, 1, "the first batch");
	for (int i = 0; i < 3; i++)
		ck_assert(rowd_async_request_json(ac, "{\"op\":\"ping\"}", on_reply, &r[i]) > 0);
	daemon_kill(&dm);
	spin(&d.calls, 1, "the disconnect");
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.code, "ECONN");
	expect_err(&s.done, "ECONN", "stream at the disconnect");
	for (int i = 0; i < 3; i++)
		ck_assert_msg(r[i].calls == 1 && (strcmp(r[i].code, "ECONN") == 0 || !r[i].code[0]),
		              "ping %d: %d calls, %s", i, r[i].calls, r[i].code);
	ck_assert(rowd_async_broken(ac));
	ck_assert_int_eq(rowd_async_fd(ac), -1);
	ck_assert_uint_eq(rowd_async_pending(ac), 0);
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, &r[0]) == -1);
	ck_assert_str_eq(rowd_async_errcode(ac), "ECONN");
	rowd_async_free(ac);
	ck_assert_int_eq(d.calls, 1);   /* not told twice */
	cleanup();
}
END_TEST

/* Requests made, then the daemon dies before any byte is sent; the
 * disconnect callback frees the context. */
START_TEST(test_disconnect_unsent)
{
	struct rec o = { 0 };
	struct dstate d = { 0 };
	rowd_async *ac;

	start();
	ac = aconn();
	rowd_async_on_disconnect(ac, on_disconnect, &d);
	d.free_me = ac;
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, &o) > 0);
	daemon_kill(&dm);
	spin(&d.calls, 1, "the disconnect");
	expect_err(&o, "ECONN", "unsent open");
	ck_assert_int_eq(d.status, -1);
	ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
	cleanup();
}
END_TEST

START_TEST(test_connect_fails)
{
	rowd_async *ac = rowd_async_connect("/nonexistent/rowd.sock");

	ck_assert_ptr_nonnull(ac);
	ck_assert(rowd_async_broken(ac));
	ck_assert_str_eq(rowd_async_errcode(ac), "ECONN");
	ck_assert_int_eq(rowd_async_fd(ac), -1);
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, NULL) == -1);
	rowd_async_free(ac);
}
END_TEST

/* Daemon errors go to the request they answer; a bad request is refused
 * before it is sent. */
START_TEST(test_errors)
{
	struct rec a = { 0 }, b = { 0 }, c = { 0 }, t = { 0 };
	struct rec *all[] = { &a, &b, &c, &t };
	rowd_async *ac;

	start();
	ac = aconn();
	ck_assert(rowd_async_open(ac, "missing.csv", NULL, on_reply, &a) > 0);
	ck_assert(rowd_async_read_bulk(ac, 9, 1, on_reply, &b) > 0);
	ck_assert(rowd_async_request_json(ac, "{\"op\":\"ping\"}", on_reply, &c) > 0);
	ck_assert(rowd_async_open(ac, "f.csv", NULL, on_reply, &t) > 0);
	spin(&t.calls, 1, "open");
	ck_assert_int_eq(done_count(all, 4), 4);
	expect_err(&a, "ENOENT", "open missing");
	ck_assert(a.had_answer);
	expect_err(&b, "EBADHANDLE", "read_bulk on no handle");
	expect_ok(&c, "ping");
	expect_ok(&t, "open after errors");
	ck_assert(rowd_async_read_bulk(ac, 0, 1, on_reply, &b) == -1);
	ck_assert_str_eq(rowd_async_errcode(ac), "EBADHANDLE");
	ck_assert(rowd_async_request_json(ac, "{\"op\":\"stream\",\"handle\":1}", on_reply, &b) == -1);
	ck_assert_str_eq(rowd_async_errcode(ac), "EINVAL");
	ck_assert(rowd_async_request_json(ac, "{\"id\":5,\"op\":\"ping\"}", on_reply, &b) == -1);
	ck_assert(rowd_async_request_json(ac, "[1]", on_reply, &b) == -1);
	ck_assert(rowd_async_cancel(ac, 12345) == -1);
	ck_assert_uint_eq(rowd_async_pending(ac), 0);
	ck_assert_int_eq(rowd_libevent_attach(ac, base), -1);   /* attached already */
	rowd_async_free(ac);
	stop();
}
END_TEST

/* The fd API alone drives a whole session. */
START_TEST(test_poll_loop)
{
	struct rec o = { 0 }, c = { 0 }, conv = { 0 };
	struct srec s;
	rowd_async *ac;
	char *got;

	start();
	ac = rowd_async_connect(dm.sock);
	ck_assert(ac && !rowd_async_broken(ac));
	ck_assert(rowd_async_want_write(ac) == false);
	ck_assert(rowd_async_open(ac, "big.csv", NULL, on_reply, &o) > 0);
	ck_assert(rowd_async_want_write(ac));
	srec_init(&s, ac);
	s.raw = true;
	stream(ac, 1, 2000, &s, false);
	ck_assert(rowd_async_close(ac, 1, on_reply, &c) > 0);
	ck_assert(rowd_async_convert(ac, "f.csv", NULL, "six.jsonl", NULL, NULL, on_reply,
	                             &conv) > 0);
	poll_spin(ac, &c.calls, 1, "close");
	if (!conv.calls)
		poll_spin(ac, &conv.calls, 1, "convert");
	expect_ok(&o, "open");
	expect_ok(&s.done, "stream");
	ck_assert(s.rows == BIG_ROWS && s.in_order && s.batches == BIG_ROWS / 2000);
	expect_ok(&c, "close");
	expect_ok(&conv, "convert");
	ck_assert_uint_eq(conv.count, 6);
	ck_assert(!rowd_async_want_write(ac));
	got = daemon_get(&dm, "six.jsonl", NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert(strncmp(got, "{\"id\":\"1\",\"name\":\"John\"}\n", 25) == 0);
	free(got);
	rowd_async_free(ac);
	stop();
}
END_TEST

/* ---- the blocking stream and convert -------------------------------------- */

struct sync_rec {
	int batches, progress;
	uint64_t rows;
	long next_id;
	bool in_order, raw;
	int stop_at;
};

static int sync_batch(const struct rowd_batch *b, void *arg)
{
	struct sync_rec *s = arg;
	struct rowd_cursor cur;

	ck_assert(s->raw ? b->rows == NULL : b->rows && b->rows->via.array.size == b->count);
	rowd_cursor_init(&cur, b->raw, b->raw_len);
	while (rowd_cursor_next_row(&cur, NULL) == 1)
		s->in_order &= cursor_id(&cur) == s->next_id++;
	s->batches++;
	s->rows += b->count;
	return s->stop_at == s->batches;
}

static int sync_progress(const struct rowd_progress *p, void *arg)
{
	struct sync_rec *s = arg;

	s->progress++;
	ck_assert(p->bytes_total > 0);
	return 0;
}

static rowd_ctx *sconn(void)
{
	rowd_ctx *c = rowd_connect(dm.sock);

	ck_assert(c && !rowd_ctx_broken(c));
	return c;
}

START_TEST(test_sync_stream)
{
	struct sync_rec s = { .next_id = 1, .in_order = true };
	struct rowd_stream_opts o = { .batch = 1000 };
	const msgpack_object *rows, *ans;
	bool eof;
	int64_t n;
	rowd_ctx *c;
	int h;

	start();
	c = sconn();
	h = rowd_open(c, "big.csv", NULL);
	ck_assert_int_eq(h, 1);
	n = rowd_stream(c, h, &o, sync_batch, sync_progress, &s);
	ck_assert_msg(n == BIG_ROWS, "rowd_stream: %lld (%s: %s)", (long long)n, rowd_errcode(c),
	              rowd_errstr(c));
	ck_assert(s.in_order && s.rows == BIG_ROWS && s.batches == BIG_ROWS / 1000);
	ck_assert(s.progress >= 1);
	ans = rowd_last_answer(c);
	ck_assert(ans && rowd_map_get(ans, "eof") && rowd_map_get(ans, "eof")->via.boolean);
	ck_assert_int_eq(rowd_ping(c), 0);

	/* Raw batches; the callback stops at the third: cancelled, in step. */
	ck_assert_int_eq(rowd_reset(c, h), 0);
	memset(&s, 0, sizeof s);
	s.next_id = 1;
	s.in_order = s.raw = true;
	s.stop_at = 3;
	o.batch = 100;
	o.raw = true;
	n = rowd_stream(c, h, &o, sync_batch, NULL, &s);
	ck_assert_msg(n >= 300 && n < BIG_ROWS, "cancelled stream: %lld (%s: %s)", (long long)n,
	              rowd_errcode(c), rowd_errstr(c));
	ck_assert_int_eq(s.batches, 3);
	ck_assert(rowd_map_get(rowd_last_answer(c), "cancelled"));
	ck_assert_int_eq(rowd_read_bulk(c, h, 1, &rows, &eof), 1);
	{
		const msgpack_object *id = rowd_map_get(&rows->via.array.ptr[0], "id");

		ck_assert(id && id->type == MSGPACK_OBJECT_STR);
		ck_assert_int_eq(num(id->via.str.ptr, id->via.str.size), n + 1);
	}
	ck_assert_int_eq(rowd_ping(c), 0);

	/* A stream that fails midway: the rows before the bad line came. */
	{
		static const char bad[] = "a,b\n1,2\n3,4\n5\n7,8\n";

		ck_assert(daemon_put(&dm, "bad.csv", bad, sizeof bad - 1));
		h = rowd_open(c, "bad.csv", NULL);
		ck_assert_int_gt(h, 0);
		memset(&s, 0, sizeof s);
		s.in_order = true;
		o.batch = 1;
		o.raw = false;
		ck_assert_int_eq(rowd_stream(c, h, &o, sync_batch, NULL, &s), -1);
		ck_assert_str_eq(rowd_errcode(c), "EFORMAT");
		ck_assert_int_eq(rowd_errline(c), 4);
		ck_assert_int_eq(s.rows, 2);
		ck_assert(!rowd_ctx_broken(c));
		ck_assert_int_eq(rowd_ping(c), 0);
	}
	/* A stop asked at the only batch: the stream has mostly ended by the
	 * time the cancel comes, which the daemon then refuses (after the
	 * final message): the call still ends in step, with the final. */
	h = rowd_open(c, "f.csv", NULL);
	ck_assert_int_gt(h, 0);
	memset(&s, 0, sizeof s);
	s.next_id = 1;
	s.in_order = true;
	s.stop_at = 1;
	o.batch = 6;
	n = rowd_stream(c, h, &o, sync_batch, NULL, &s);
	ck_assert_msg(n == 6, "stream stopped at its only batch: %lld (%s: %s)", (long long)n,
	              rowd_errcode(c), rowd_errstr(c));
	ans = rowd_last_answer(c);
	ck_assert(ans && rowd_map_get(ans, "rows_total") &&
	          rowd_map_get(ans, "rows_total")->via.u64 == 6);
	ck_assert_int_eq(rowd_ping(c), 0);
	/* No batch callback: the rows are only counted. */
	ck_assert_int_eq(rowd_reset(c, h), 0);
	ck_assert_int_eq(rowd_stream(c, h, &o, NULL, NULL, NULL), 6);
	ck_assert_int_eq(rowd_request_json(c, "{\"op\":\"stream\",\"handle\":1}", &ans), -1);
	ck_assert_str_eq(rowd_errcode(c), "EINVAL");
	rowd_free(c);
	stop();
}
END_TEST

static int stop_progress(const struct rowd_progress *p, void *arg)
{
	(*(int *)arg)++;
	(void)p;
	return 1;
}

START_TEST(test_sync_convert)
{
	struct rowd_convert_result res;
	struct rowd_open_opts to = { .format = "jsonl" };
	rowd_ctx *c;
	char *got;
	int calls = 0;

	start();
	c = sconn();
	ck_assert_msg(rowd_convert(c, "f.csv", NULL, "out.txt", &to, NULL, NULL, &res) == 0,
	              "convert: %s: %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert(res.rows_in == 6 && res.rows_out == 6 && res.rows_skipped == 0 && !res.cancelled);
	ck_assert(res.bytes_in > 0 && res.bytes_out > 0 && res.seconds >= 0);
	got = daemon_get(&dm, "out.txt", NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert(strncmp(got, "{\"id\":\"1\",\"name\":\"John\"}\n", 25) == 0);
	free(got);

	/* Progress, then a callback that cancels: the target stays absent.
	 * (Big enough not to be done within the first 50 ms step.) */
	put_rows("huge.csv", 1000000);
	ck_assert_int_eq(rowd_convert(c, "huge.csv", NULL, "big.jsonl", NULL, stop_progress,
	                              &calls, &res), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert(res.cancelled);
	ck_assert_int_eq(daemon_count_files(&dm, "big.jsonl"), 0);
	ck_assert_int_eq(rowd_ping(c), 0);

	ck_assert_int_eq(rowd_convert(c, "missing.csv", NULL, "x.jsonl", NULL, NULL, NULL, &res), -1);
	ck_assert_str_eq(rowd_errcode(c), "ENOENT");
	ck_assert_int_eq(rowd_ping(c), 0);
	rowd_free(c);
	stop();
}
END_TEST

/* ---- rowcat's progress bar ------------------------------------------------ */

/* Runs rowcat with args (NULL-terminated) on the test daemon; returns its
 * exit status and what it wrote to stderr (malloc'd). */
static int rowcat(const char *const *args, char **err)
{
	char rowcat_path[512], err_path[400];
	const char *argv[16];
	int n = 0, status = 0;
	size_t len;
	pid_t pid;

	snprintf(rowcat_path, sizeof rowcat_path, "%s/client/rowcat", TOP_BUILDDIR);
	snprintf(err_path, sizeof err_path, "%s/rowcat.err", dm.dir);
	argv[n++] = rowcat_path;
	argv[n++] = "-s";
	argv[n++] = dm.sock;
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (!freopen(err_path, "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(99);
		execv(argv[0], (char *const *)argv);
		_exit(98);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	{
		FILE *f = fopen(err_path, "r");

		ck_assert_ptr_nonnull(f);
		*err = NULL;
		len = 0;
		if (getdelim(err, &len, 0, f) < 0) {
			free(*err);
			*err = strdup("");
		}
		fclose(f);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A stream asked for progress sends it after its first batch, so printing
 * a file with --progress always draws; a convert draws only if it outlasts
 * its first step, so there the run is only checked to succeed. */
START_TEST(test_rowcat_progress)
{
	char in[400], out[400], *err;

	start();
	snprintf(in, sizeof in, "%s/big.csv", dm.root);
	snprintf(out, sizeof out, "%s/big.jsonl", dm.root);
	/* Forced onto a file: one line per progress message. */
	ck_assert_int_eq(rowcat((const char *[]){ "--progress", in, NULL }, &err), 0);
	ck_assert_msg(strstr(err, "big.csv [") && strstr(err, "%") && strstr(err, " rows\n"),
	              "--progress: stderr '%s'", err);
	free(err);
	ck_assert_int_eq(rowcat((const char *[]){ "--progress", "-o", out, in, NULL }, &err), 0);
	ck_assert_msg(!strstr(err, "rowcat:"), "--progress -o: stderr '%s'", err);
	free(err);
	/* Rows printed, stderr not a terminal: no bar by default. */
	ck_assert_int_eq(rowcat((const char *[]){ in, NULL }, &err), 0);
	ck_assert_str_eq(err, "");
	free(err);
	/* The last of --progress and --no-progress wins. */
	ck_assert_int_eq(rowcat((const char *[]){ "--progress", "--no-progress", in, NULL }, &err), 0);
	ck_assert_str_eq(err, "");
	free(err);
	stop();
}
END_TEST

static Suite *async_suite(void)
{
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("async");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, NULL, cleanup);
	tcase_add_test(tc, test_open_read_bulk);
	tcase_add_test(tc, test_two_handles);
	tcase_add_test(tc, test_stream_callbacks);
	tcase_add_test(tc, test_cancel_by_return);
	tcase_add_test(tc, test_cancel_by_id);
	tcase_add_test(tc, test_write_bulk_close);
	tcase_add_test(tc, test_free_in_callback);
	tcase_add_test(tc, test_free_in_reply);
	tcase_add_test(tc, test_disconnect);
	tcase_add_test(tc, test_disconnect_unsent);
	tcase_add_test(tc, test_connect_fails);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_poll_loop);
	suite_add_tcase(s, tc);

	tc = tcase_create("sync");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, NULL, cleanup);
	tcase_add_test(tc, test_sync_stream);
	tcase_add_test(tc, test_sync_convert);
	tcase_add_test(tc, test_rowcat_progress);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char run_dir[] = "/tmp/rowd-async-run-XXXXXX";
	SRunner *sr;
	int failed;

	/* A daemon that goes away must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(run_dir) || setenv("TMPDIR", run_dir, 1) < 0) {
		perror("test_async: temp dir");
		return 99;
	}
	sr = srunner_create(async_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(run_dir);
	return failed ? 1 : 0;
}
