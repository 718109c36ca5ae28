/* Every limit at its boundary, against the real daemon started with small
 * limits: at the limit a request passes, one past it is ELIMIT with the
 * limit's setting name and value in the message. Then peer credentials
 * (allow_uid / allow_gid) and path confinement as a client sees it.
 *
 * Boundaries (inclusive: a value equal to the limit is allowed):
 *   frame_bytes, text_line, str_bytes, row_bytes: that many bytes pass;
 *   depth, elements, batch_rows: that many levels / entries / rows pass;
 *   handles_per_conn, connections, queued_jobs: that many at once;
 *   idle_timeout: closed once nothing moved for that many seconds;
 *   out_high: no new work for a connection while its output holds that
 *   many bytes. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>

#include "rowd/rowd.h"
#include "rowd_proto.h"
#include "daemon_fixture.h"
#include "wire.h"

#define SAMPLE "tests/data/conformance/iterabledata/2cols6rows.csv"
#define WAIT_MS 5000

/* ---- the daemon of the running test ------------------------------------- */

static struct daemon dmn;
static bool live;

static void cleanup(void)
{
	if (live)
		daemon_cleanup(&dmn);
	live = false;
}

static void print_log(void)
{
	char *log;
	FILE *f = fopen(dmn.log, "r");
	size_t n = 0;

	if (!f)
		return;
	log = NULL;
	if (getdelim(&log, &n, 0, f) > 0)
		fprintf(stderr, "---- %s ----\n%s----\n", dmn.log, log);
	free(log);
	fclose(f);
}

/* Starts rowd with extra arguments and f.csv (six rows) in its root. */
static void start(const char *first, ...)
{
	static bool registered;
	const char *extra[32];
	va_list ap;
	int n = 0;

	if (!registered) {
		atexit(cleanup);
		registered = true;
	}
	va_start(ap, first);
	for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
		extra[n++] = a;
	va_end(ap);
	extra[n] = NULL;
	live = true;
	if (!daemon_start(&dmn, extra)) {
		print_log();
		ck_abort_msg("rowd did not start (log %s)", dmn.log);
	}
	ck_assert(daemon_put_src(&dmn, SAMPLE, "f.csv"));
}

static void stop(void)
{
	bool ok = daemon_stop(&dmn);

	if (!ok)
		print_log();
	cleanup();
	ck_assert_msg(ok, "rowd did not exit 0 on SIGTERM");
}

static bool log_has(const char *needle)
{
	FILE *f = fopen(dmn.log, "r");
	char *log = NULL;
	size_t n = 0;
	bool found = false;

	if (!f)
		return false;
	if (getdelim(&log, &n, 0, f) > 0)
		found = strstr(log, needle) != NULL;
	free(log);
	fclose(f);
	return found;
}

static void put(const char *rel, const char *text)
{
	ck_assert_msg(daemon_put(&dmn, rel, text, strlen(text)), "cannot write %s", rel);
}

static char *root_path(const char *rel)
{
	static char p[2][1024];
	static int at;

	at ^= 1;
	snprintf(p[at], sizeof p[at], "%s/%s", dmn.root, rel);
	return p[at];
}

/* ---- raw connections ------------------------------------------------------ */

static int raw(void)
{
	int fd = daemon_connect_raw(&dmn);

	ck_assert_msg(fd >= 0, "connect %s: %s", dmn.sock, strerror(errno));
	return fd;
}

static void send_json(int fd, const char *json)
{
	struct mpbuf b;

	mpbuf_init(&b);
	ck_assert_msg(wire_json(&b, json), "bad JSON in the test: %.200s", json);
	ck_assert_msg(wire_send(fd, b.data, b.len), "send: %s", strerror(errno));
	mpbuf_free(&b);
}

static void send_bytes(int fd, const void *p, size_t n)
{
	ck_assert_msg(wire_send(fd, p, n), "send: %s", strerror(errno));
}

/* One answer; the test fails when none comes. */
static const msgpack_object *one(int fd, struct wire_answers *w, const char *what)
{
	ck_assert_msg(wire_read(fd, w, 1, WAIT_MS) == 1, "%s: no answer (eof %d)", what, w->eof);
	return &w->up[0].data;
}

/* The connection still answers a ping. */
static void expect_alive(int fd, const char *what)
{
	struct wire_answers w;
	const msgpack_object *a;

	send_json(fd, "{\"id\":99,\"op\":\"ping\"}");
	a = one(fd, &w, what);
	ck_assert_msg(wire_get(a, "pong"), "%s: ping answered %s %s", what, wire_code(a), wire_msg(a));
	wire_answers_free(&w);
}

/* An ELIMIT answer naming the setting and its value. */
static void expect_limit(const msgpack_object *a, const char *name, const char *value,
                         const char *what)
{
	ck_assert_msg(strcmp(wire_code(a), "ELIMIT") == 0, "%s: got '%s' (%s), expected ELIMIT", what,
	              wire_code(a), wire_msg(a));
	ck_assert_msg(wire_msg_has(a, name) && wire_msg_has(a, value),
	              "%s: the message does not name %s and %s: %s", what, name, value, wire_msg(a));
}

/* A frame over a limit: one ELIMIT answer, then the daemon closes. */
static void expect_fatal_limit(const struct mpbuf *frame, const char *name, const char *value,
                               const char *what)
{
	struct wire_answers w;
	int fd = raw();

	send_bytes(fd, frame->data, frame->len);
	expect_limit(one(fd, &w, what), name, value, what);
	ck_assert_msg(w.eof || wire_closed(fd, WAIT_MS), "%s: the connection stays open", what);
	wire_answers_free(&w);
	close(fd);
}

/* A frame at a limit: answered with `code` (not ELIMIT), connection open. */
static void expect_passes(const struct mpbuf *frame, const char *code, const char *what)
{
	struct wire_answers w;
	const msgpack_object *a;
	int fd = raw();

	send_bytes(fd, frame->data, frame->len);
	a = one(fd, &w, what);
	ck_assert_msg(strcmp(wire_code(a), code) == 0, "%s: got '%s' (%s), expected '%s'", what,
	              wire_code(a), wire_msg(a), code);
	wire_answers_free(&w);
	expect_alive(fd, what);
	close(fd);
}

static void frame_json(struct mpbuf *b, const char *json)
{
	mpbuf_init(b);
	ck_assert_msg(wire_json(b, json), "bad JSON in the test: %.200s", json);
}

/* ---- librowd -------------------------------------------------------------- */

static rowd_ctx *lib(void)
{
	rowd_ctx *c = rowd_connect(dmn.sock);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(!rowd_ctx_broken(c), "connect: %s", rowd_errstr(c));
	return c;
}

static void lib_expect_limit(rowd_ctx *c, int64_t rc, const char *name, const char *value,
                             const char *what)
{
	ck_assert_msg(rc < 0, "%s: succeeded (%lld), expected ELIMIT", what, (long long)rc);
	ck_assert_msg(strcmp(rowd_errcode(c), "ELIMIT") == 0, "%s: %s %s, expected ELIMIT", what,
	              rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(strstr(rowd_errstr(c), name) && strstr(rowd_errstr(c), value),
	              "%s: the message does not name %s and %s: %s", what, name, value, rowd_errstr(c));
	ck_assert_msg(!rowd_ctx_broken(c), "%s: the connection broke", what);
}

static uint64_t stat_u(rowd_ctx *c, const char *key, const char *sub)
{
	const msgpack_object *ans, *v;

	ck_assert_msg(rowd_request_json(c, "{\"op\":\"stats\"}", &ans) == 0, "stats: %s",
	              rowd_errstr(c));
	v = wire_get(ans, key);
	if (sub)
		v = wire_get(v, sub);
	ck_assert_msg(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "stats: no %s", key);
	return v->via.u64;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ======================================================================= */
/* request limits                                                          */
/* ======================================================================= */

/* {"id":1,"op":"open","path":"a/a/a/..."} with a path of plen bytes. */
static void path_frame(struct mpbuf *b, size_t plen)
{
	char *json = malloc(plen + 64);
	size_t at;

	ck_assert_ptr_nonnull(json);
	at = (size_t)sprintf(json, "{\"id\":1,\"op\":\"open\",\"path\":\"");
	for (size_t i = 0; i < plen; i++)
		json[at++] = i % 2 ? '/' : 'a';
	strcpy(json + at, "\"}");
	frame_json(b, json);
	free(json);
}

/* The same request, exactly `size` bytes long. */
static void frame_of_size(struct mpbuf *b, size_t size)
{
	size_t plen;

	path_frame(b, 600);
	/* A str16 header either way: the frame grows byte for byte. */
	plen = 600 + size - b->len;
	mpbuf_free(b);
	path_frame(b, plen);
	ck_assert_uint_eq(b->len, size);
}

START_TEST(test_frame_bytes)
{
	struct mpbuf b;

	start("-o", "frame_bytes=1024", NULL);
	frame_of_size(&b, 1024);
	expect_passes(&b, "ENOENT", "a frame of exactly frame_bytes (1024)");
	mpbuf_free(&b);
	frame_of_size(&b, 1025);
	expect_fatal_limit(&b, "frame_bytes", "1024", "a frame of frame_bytes + 1");
	mpbuf_free(&b);
	stop();
}
END_TEST

START_TEST(test_depth)
{
	/* request map, options, x, [1]: four levels */
	static const char at_limit[] =
		"{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\",\"options\":{\"x\":[[1]]}}";
	static const char over[] =
		"{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\",\"options\":{\"x\":[[[1]]]}}";
	char text[512], *got;
	struct mpbuf b;
	int fd, lines;
	bool eof;

	start("-o", "depth=4", NULL);
	frame_json(&b, at_limit);
	expect_passes(&b, "EINVAL", "4 levels with depth=4 (the unknown option: EINVAL)");
	mpbuf_free(&b);
	frame_json(&b, over);
	expect_fatal_limit(&b, "depth", "4", "5 levels with depth=4");
	mpbuf_free(&b);

	/* Text mode: the same limit; a bad line costs only itself. */
	fd = raw();
	snprintf(text, sizeof text, "%s\n%s\nping\n", over, at_limit);
	send_bytes(fd, text, strlen(text));
	got = wire_text(fd, 3, WAIT_MS, &lines, &eof);
	ck_assert_msg(lines == 3, "text mode: %d answers: %s", lines, got);
	ck_assert_msg(strstr(got, "\"ELIMIT\"") && strstr(got, "depth limit (4)"),
	              "text mode, 5 levels: %s", got);
	ck_assert_msg(strstr(got, "\"EINVAL\"") && strstr(got, "pong"), "text mode, 4 levels: %s", got);
	free(got);
	close(fd);
	stop();
}
END_TEST

static void options_array_frame(struct mpbuf *b, int n)
{
	char json[512];
	size_t at;

	at = (size_t)sprintf(json, "{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\",\"options\":{\"x\":[");
	for (int i = 0; i < n; i++)
		at += (size_t)sprintf(json + at, "%s%d", i ? "," : "", i);
	strcpy(json + at, "]}}");
	frame_json(b, json);
}

START_TEST(test_elements)
{
	struct mpbuf b;

	start("-o", "elements=16", NULL);
	options_array_frame(&b, 16);
	expect_passes(&b, "EINVAL", "an array of 16 with elements=16");
	mpbuf_free(&b);
	options_array_frame(&b, 17);
	expect_fatal_limit(&b, "elements", "16", "an array of 17 with elements=16");
	mpbuf_free(&b);
	stop();
}
END_TEST

START_TEST(test_str_bytes)
{
	struct mpbuf b;

	start("-o", "str_bytes=256", NULL);
	path_frame(&b, 256);
	expect_passes(&b, "ENOENT", "a string of 256 bytes with str_bytes=256");
	mpbuf_free(&b);
	path_frame(&b, 257);
	expect_fatal_limit(&b, "str_bytes", "256", "a string of 257 bytes with str_bytes=256");
	mpbuf_free(&b);
	stop();
}
END_TEST

/* A text line of n bytes, newline not counted, that is a ping. */
static char *ping_line(size_t n)
{
	char *line = malloc(n + 2);

	ck_assert_ptr_nonnull(line);
	memset(line, ' ', n - 4);
	memcpy(line + n - 4, "ping\n", 6);
	return line;
}

START_TEST(test_text_line)
{
	char *line, *text;
	int fd, lines;
	bool eof;

	start("-o", "text_line=256", NULL);
	fd = raw();
	line = ping_line(256);
	send_bytes(fd, line, 257);
	free(line);
	text = wire_text(fd, 1, WAIT_MS, &lines, &eof);
	ck_assert_msg(lines == 1 && strstr(text, "pong"), "a 256-byte line, text_line=256: %s", text);
	free(text);
	line = ping_line(257);
	send_bytes(fd, line, 258);
	free(line);
	text = wire_text(fd, 2, WAIT_MS, &lines, &eof);
	ck_assert_msg(lines == 1 && strstr(text, "\"ELIMIT\"") && strstr(text, "text_line limit (256"),
	              "a 257-byte line: %s", text);
	ck_assert_msg(eof, "a line over text_line: the connection stays open");
	free(text);
	close(fd);
	stop();
}
END_TEST

/* A JSON Lines line {"a":"xxx..."} of len bytes plus its newline. */
static void json_row_line(char *s, size_t len)
{
	memcpy(s, "{\"a\":\"", 6);
	memset(s + 6, 'x', len - 8);
	memcpy(s + len - 2, "\"}\n", 4);
}

START_TEST(test_row_bytes_read)
{
	char text[2048];
	const msgpack_object *rows;
	bool eof;
	rowd_ctx *c;
	int h;

	start("-o", "row_bytes=256", NULL);
	json_row_line(text, 256);
	json_row_line(text + 257, 257);
	strcat(text, "{\"a\":\"y\"}\n");
	put("rows.jsonl", text);
	c = lib();
	h = rowd_open(c, "rows.jsonl", NULL);
	ck_assert_msg(h > 0, "open: %s", rowd_errstr(c));
	ck_assert_msg(rowd_read_bulk(c, h, 1, &rows, &eof) == 1, "a 256-byte line, row_bytes=256: %s %s",
	              rowd_errcode(c), rowd_errstr(c));
	lib_expect_limit(c, rowd_read_bulk(c, h, 1, &rows, &eof), "row_bytes", "256",
	                 "a 257-byte line, row_bytes=256");
	ck_assert_int_eq(rowd_errline(c), 2);
	ck_assert(rowd_ping(c) == 0);
	ck_assert(rowd_close(c, h, NULL) == 0);

	/* CSV holds the packed row to it: {"a": 251 bytes} packs to 256. */
	strcpy(text, "a\n");
	memset(text + 2, 'x', 251);
	text[253] = '\n';
	memset(text + 254, 'y', 252);
	strcpy(text + 506, "\n");
	put("rows.csv", text);
	h = rowd_open(c, "rows.csv", NULL);
	ck_assert_msg(h > 0, "open: %s", rowd_errstr(c));
	ck_assert_msg(rowd_read_bulk(c, h, 1, &rows, &eof) == 1, "a row packing to 256 bytes: %s %s",
	              rowd_errcode(c), rowd_errstr(c));
	lib_expect_limit(c, rowd_read_bulk(c, h, 1, &rows, &eof), "row_bytes", "256",
	                 "a row packing to 257 bytes");
	rowd_free(c);
	stop();
}
END_TEST

/* A decoded object from JSON, kept in up. */
static const msgpack_object *obj(msgpack_unpacked *up, struct mpbuf *b, const char *json)
{
	size_t off = 0;

	frame_json(b, json);
	msgpack_unpacked_init(up);
	ck_assert(msgpack_unpack_next(up, b->data, b->len, &off) == MSGPACK_UNPACK_SUCCESS);
	return &up->data;
}

/* {"a": "x" * n}: packs to n + 5 bytes for 32 <= n < 256. */
static const msgpack_object *row_of(msgpack_unpacked *up, struct mpbuf *b, size_t n)
{
	char json[300];

	strcpy(json, "{\"a\":\"");
	memset(json + 6, 'x', n);
	strcpy(json + 6 + n, "\"}");
	return obj(up, b, json);
}

START_TEST(test_row_bytes_write)
{
	struct rowd_open_opts w = { .mode = "w" };
	msgpack_unpacked u1, u2;
	struct mpbuf b1, b2;
	uint64_t written = 0;
	char *got;
	rowd_ctx *c;
	int h;

	start("-o", "row_bytes=256", NULL);
	c = lib();
	h = rowd_open(c, "out.jsonl", &w);
	ck_assert_msg(h > 0, "open w: %s", rowd_errstr(c));
	ck_assert_msg(rowd_write(c, h, row_of(&u1, &b1, 251)) >= 0, "a row of 256 bytes: %s",
	              rowd_errstr(c));
	lib_expect_limit(c, rowd_write(c, h, row_of(&u2, &b2, 252)), "row_bytes", "256",
	                 "a written row of 257 bytes");
	ck_assert(rowd_close(c, h, &written) == 0);
	ck_assert_uint_eq(written, 1);
	got = daemon_get(&dmn, "out.jsonl", NULL);
	ck_assert_msg(got && strchr(got, '\n') == strrchr(got, '\n'), "one line written: %s", got);
	free(got);
	msgpack_unpacked_destroy(&u1);
	msgpack_unpacked_destroy(&u2);
	mpbuf_free(&b1);
	mpbuf_free(&b2);
	rowd_free(c);
	stop();
}
END_TEST

START_TEST(test_batch_rows)
{
	static const char three[] = "[{\"a\":1},{\"a\":2},{\"a\":3}]";
	static const char four[] = "[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4}]";
	struct rowd_open_opts w = { .mode = "w" };
	struct rowd_stream_opts so = { .batch = 4 };
	const msgpack_object *rows;
	msgpack_unpacked u1, u2;
	struct mpbuf b1, b2;
	bool eof;
	rowd_ctx *c;
	int h;

	start("-o", "batch_rows=3", NULL);
	c = lib();
	h = rowd_open(c, "f.csv", NULL);
	ck_assert_msg(h > 0, "open: %s", rowd_errstr(c));
	ck_assert_int_eq(rowd_read_bulk(c, h, 3, &rows, &eof), 3);
	lib_expect_limit(c, rowd_read_bulk(c, h, 4, &rows, &eof), "batch_rows", "3", "read_bulk 4");
	lib_expect_limit(c, rowd_stream(c, h, &so, NULL, NULL, NULL), "batch_rows", "3",
	                 "stream batch=4");
	so.batch = 3;
	ck_assert_int_eq(rowd_stream(c, h, &so, NULL, NULL, NULL), 3);
	ck_assert(rowd_close(c, h, NULL) == 0);
	h = rowd_open(c, "out.jsonl", &w);
	ck_assert_msg(h > 0, "open w: %s", rowd_errstr(c));
	ck_assert_msg(rowd_write_bulk(c, h, obj(&u1, &b1, three)) >= 0, "write_bulk 3: %s",
	              rowd_errstr(c));
	lib_expect_limit(c, rowd_write_bulk(c, h, obj(&u2, &b2, four)), "batch_rows", "3",
	                 "write_bulk of 4 rows");
	ck_assert(rowd_close(c, h, NULL) == 0);
	msgpack_unpacked_destroy(&u1);
	msgpack_unpacked_destroy(&u2);
	mpbuf_free(&b1);
	mpbuf_free(&b2);
	rowd_free(c);
	stop();
}
END_TEST

START_TEST(test_handles_per_conn)
{
	rowd_ctx *c;

	start("-o", "handles_per_conn=2", NULL);
	c = lib();
	ck_assert_int_eq(rowd_open(c, "f.csv", NULL), 1);
	ck_assert_int_eq(rowd_open(c, "f.csv", NULL), 2);
	lib_expect_limit(c, rowd_open(c, "f.csv", NULL), "handles_per_conn", "2", "a third handle");
	ck_assert(rowd_close(c, 2, NULL) == 0);
	ck_assert_int_eq(rowd_open(c, "f.csv", NULL), 2);
	rowd_free(c);
	stop();
}
END_TEST

/* ======================================================================= */
/* connection limits                                                       */
/* ======================================================================= */

START_TEST(test_connections)
{
	struct wire_answers w;
	const msgpack_object *a, *id;
	int c1, c2, c3, fd = -1;
	bool served = false;
	long t0;

	start("-o", "connections=2", NULL);
	c1 = raw();
	expect_alive(c1, "connection 1 of 2");
	c2 = raw();
	expect_alive(c2, "connection 2 of 2");
	c3 = raw();
	a = one(c3, &w, "connection 3 with connections=2");
	expect_limit(a, "connections", "2", "connection 3 with connections=2");
	id = wire_get(a, "id");
	ck_assert_msg(id && id->type == MSGPACK_OBJECT_NIL, "the refusal answers no request: id nil");
	ck_assert_msg(w.eof || wire_closed(c3, WAIT_MS), "connection 3 is closed after its answer");
	wire_answers_free(&w);
	close(c3);
	expect_alive(c2, "connection 2 after a refusal");

	/* One goes: the next is served (once the daemon has seen it go). */
	close(c1);
	t0 = now_ms();
	while (!served && now_ms() - t0 < WAIT_MS) {
		fd = raw();
		send_json(fd, "{\"id\":1,\"op\":\"ping\"}");
		a = one(fd, &w, "a connection after one closed");
		served = wire_get(a, "pong") != NULL;
		if (!served) {
			ck_assert_str_eq(wire_code(a), "ELIMIT");
			close(fd);
			usleep(10000);
		}
		wire_answers_free(&w);
	}
	ck_assert_msg(served, "no connection was accepted again after one closed");
	close(fd);
	close(c2);
	ck_assert_msg(log_has("refused: the connections limit (2) is reached"), "the refusal is logged");
	stop();
}
END_TEST

START_TEST(test_queued_jobs)
{
	struct wire_answers w;
	const msgpack_object *a;
	struct mpbuf b;
	char json[128];
	int fd;

	start("-o", "queued_jobs=4", NULL);
	fd = raw();
	send_json(fd, "{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\"}");
	a = one(fd, &w, "open");
	ck_assert_msg(wire_get(a, "handle"), "open: %s", wire_msg(a));
	wire_answers_free(&w);
	/* Five reads in one write: all reach the loop in one callback, before
	 * any can finish, so four are in flight when the fifth arrives. */
	mpbuf_init(&b);
	for (int i = 10; i < 15; i++) {
		snprintf(json, sizeof json, "{\"id\":%d,\"op\":\"read\",\"handle\":1}", i);
		ck_assert(wire_json(&b, json));
	}
	send_bytes(fd, b.data, b.len);
	mpbuf_free(&b);
	ck_assert_int_eq(wire_read(fd, &w, 5, WAIT_MS), 5);
	for (int i = 10; i < 14; i++) {
		a = wire_by_id(&w, (uint64_t)i);
		ck_assert_msg(a && wire_get(a, "row"), "read %d of 4 queued: %s %s", i - 9, wire_code(a),
		              wire_msg(a));
	}
	a = wire_by_id(&w, 14);
	ck_assert_ptr_nonnull(a);
	expect_limit(a, "queued_jobs", "4", "a fifth request with queued_jobs=4");
	wire_answers_free(&w);
	expect_alive(fd, "after queued_jobs");
	close(fd);
	stop();
}
END_TEST

/* A CSV of n rows of about 60 bytes under the root. */
static void big_csv(const char *rel, int n)
{
	FILE *f = fopen(root_path(rel), "w");

	ck_assert_ptr_nonnull(f);
	fputs("id,name,text\n", f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%d,name%d,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", i, i);
	ck_assert(fclose(f) == 0);
}

/* Reads a stream's messages (request id) to its end; returns the rows
 * received and sets *total from the final message. */
static uint64_t drain_stream(int fd, uint64_t id, uint64_t *total, bool *closed)
{
	msgpack_unpacker up;
	msgpack_unpacked msg;
	uint64_t rows = 0;
	long t0 = now_ms();
	bool done = false;

	*total = 0;
	*closed = false;
	ck_assert(msgpack_unpacker_init(&up, 1 << 20));
	msgpack_unpacked_init(&msg);
	while (!done && now_ms() - t0 < 20000) {
		ssize_t r;

		ck_assert(msgpack_unpacker_reserve_buffer(&up, 1 << 16));
		r = read(fd, msgpack_unpacker_buffer(&up), msgpack_unpacker_buffer_capacity(&up));
		if (r <= 0) {
			*closed = true;
			break;
		}
		msgpack_unpacker_buffer_consumed(&up, (size_t)r);
		while (msgpack_unpacker_next(&up, &msg) == MSGPACK_UNPACK_SUCCESS) {
			const msgpack_object *v = wire_get(&msg.data, "id"), *t;

			if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != id)
				continue;
			if ((v = wire_get(&msg.data, "rows")) && v->type == MSGPACK_OBJECT_ARRAY)
				rows += v->via.array.size;
			if ((t = wire_get(&msg.data, "rows_total"))) {
				*total = t->via.u64;
				done = true;
			}
		}
	}
	msgpack_unpacked_destroy(&msg);
	msgpack_unpacker_destroy(&up);
	return rows;
}

/* A client that stops reading a stream costs out_high, not the file:
 * the stream pauses, and resumes when the client reads again. */
START_TEST(test_out_high_stream)
{
	const int n = 200000;
	struct wire_answers w;
	uint64_t r1, r2, got, total;
	rowd_ctx *c;
	bool closed;
	int fd;

	start("-o", "out_high=64K", "-o", "out_low=16K", NULL);
	big_csv("big.csv", n);
	fd = raw();
	send_json(fd, "{\"id\":1,\"op\":\"open\",\"path\":\"big.csv\"}");
	ck_assert_msg(wire_get(one(fd, &w, "open"), "handle"), "open big.csv");
	wire_answers_free(&w);
	send_json(fd, "{\"id\":2,\"op\":\"stream\",\"handle\":1,\"batch\":100}");
	c = lib();
	usleep(400000);
	r1 = stat_u(c, "rows_out", NULL);
	usleep(300000);
	r2 = stat_u(c, "rows_out", NULL);
	/* 64K buffered + the socket's own buffer (~200K): a few thousand
	 * rows of ~75 packed bytes, far from 200000. */
	ck_assert_msg(r1 == r2, "the stream goes on while nobody reads: %llu then %llu rows",
	              (unsigned long long)r1, (unsigned long long)r2);
	ck_assert_msg(r1 > 0 && r1 < (uint64_t)n / 10, "%llu rows produced for a client that reads nothing",
	              (unsigned long long)r1);
	got = drain_stream(fd, 2, &total, &closed);
	ck_assert_msg(got == (uint64_t)n && total == (uint64_t)n,
	              "after reading again: %llu rows, rows_total %llu, expected %d", (unsigned long long)got,
	              (unsigned long long)total, n);
	close(fd);
	rowd_free(c);
	stop();
}
END_TEST

/* The socket's own buffer: what the kernel holds for an unread peer. */
static size_t socket_buffer(void)
{
	FILE *f = fopen("/proc/sys/net/core/wmem_default", "r");
	unsigned long v = 0;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? v : 212992;
}

/* Requests are not even decoded while the output is over out_high: a
 * burst of `hello`s (big answers) does not pile up answers beyond
 * out_high + the socket buffer + one answer. */
START_TEST(test_out_high_requests)
{
	const int n = 2000;
	uint64_t q1, q2, bound;
	char *burst, *text;
	int fd, lines;
	size_t hello;
	rowd_ctx *c;
	bool eof;

	start("-o", "out_high=4096", "-o", "out_low=1024", NULL);
	c = lib();
	fd = raw();
	send_bytes(fd, "hello\n", 6);
	text = wire_text(fd, 1, WAIT_MS, &lines, &eof);
	hello = strlen(text);
	free(text);
	ck_assert_msg(lines == 1 && hello > 1000, "hello: %zu bytes", hello);
	bound = (2 * socket_buffer() + 4096) / hello + 2;
	burst = malloc((size_t)n * 6 + 1);
	ck_assert_ptr_nonnull(burst);
	for (int i = 0; i < n; i++)
		memcpy(burst + i * 6, "hello\n", 6);
	send_bytes(fd, burst, (size_t)n * 6);
	free(burst);
	usleep(300000);
	q1 = stat_u(c, "requests", NULL);
	usleep(200000);
	q2 = stat_u(c, "requests", NULL);
	ck_assert_msg(q2 == q1 + 1, "requests still decoded for a client that reads nothing: %llu, %llu",
	              (unsigned long long)q1, (unsigned long long)q2);
	/* The earlier hello and this stats are in q1 too. */
	ck_assert_msg(q1 - 2 <= bound, "%llu hellos of %zu bytes answered into an unread socket, at most %llu expected",
	              (unsigned long long)q1 - 2, hello, (unsigned long long)bound);
	text = wire_text(fd, n, 20000, &lines, &eof);
	ck_assert_msg(lines == n, "after reading again: %d answers of %d", lines, n);
	free(text);
	close(fd);
	rowd_free(c);
	stop();
}
END_TEST

/* idle_timeout=1: a connection that pings every 0.7 s stays; one with
 * an open handle and nothing asked is told (ELIMIT) and closed after 1 s;
 * one whose client stopped reading a stream is closed without a word. */
START_TEST(test_idle_timeout)
{
	struct wire_answers w;
	long t0, t_idle = -1, t_stall = -1, last_ping;
	int stalled, idle, busy;
	uint64_t got, total;
	rowd_ctx *c;
	bool closed;

	start("-o", "idle_timeout=1", "-o", "out_high=64K", "-o", "out_low=16K", NULL);
	big_csv("big.csv", 50000);
	c = lib();
	stalled = raw();
	send_json(stalled, "{\"id\":1,\"op\":\"open\",\"path\":\"big.csv\"}");
	ck_assert(wire_get(one(stalled, &w, "open big.csv"), "handle"));
	wire_answers_free(&w);
	send_json(stalled, "{\"id\":2,\"op\":\"stream\",\"handle\":1,\"batch\":100}");
	idle = raw();
	send_json(idle, "{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\"}");
	ck_assert(wire_get(one(idle, &w, "open f.csv"), "handle"));
	wire_answers_free(&w);
	busy = raw();
	t0 = last_ping = now_ms();
	ck_assert_uint_eq(stat_u(c, "connections", "now"), 4);
	while (now_ms() - t0 < 2600) {
		if (now_ms() - last_ping >= 700) {
			expect_alive(busy, "a connection that pings every 0.7 s");
			last_ping = now_ms();
		}
		if (t_idle < 0 && wire_read(idle, &w, 1, 50) == 1) {
			t_idle = now_ms() - t0;
			expect_limit(&w.up[0].data, "idle_timeout", "1 s", "an idle connection");
			ck_assert_msg(w.eof || wire_closed(idle, WAIT_MS), "closed after the idle answer");
		}
		wire_answers_free(&w);
		/* Asking keeps the observer itself alive. */
		if (stat_u(c, "connections", "now") == 2 && t_stall < 0 && t_idle >= 0)
			t_stall = now_ms() - t0;
		usleep(20000);
	}
	ck_assert_msg(t_idle >= 900 && t_idle <= 1800, "the idle connection went after %ld ms", t_idle);
	ck_assert_msg(t_stall >= 0 && t_stall <= 1800, "the stalled stream went after %ld ms", t_stall);
	expect_alive(busy, "the busy connection at the end");
	/* What was buffered still arrives, then the close. */
	got = drain_stream(stalled, 2, &total, &closed);
	ck_assert_msg(closed && total == 0 && got < 50000, "stalled: %llu rows, then closed %d",
	              (unsigned long long)got, closed);
	ck_assert(log_has("(idle_timeout 1), closing"));
	close(stalled);
	close(idle);
	close(busy);
	rowd_free(c);
	stop();
}
END_TEST

/* ======================================================================= */
/* peer credentials                                                        */
/* ======================================================================= */

/* A child with gid and one supplementary group (uid stays 0, so that it
 * may open the 0600 socket) pings: 0 pong, 1 EACCES, 2 anything else. */
static int child_ping(gid_t gid, gid_t group)
{
	static const char ping[] = "\x82\xa2id\x01\xa2op\xa4ping";
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct wire_answers w;
		int fd, rc = 2;

		if (setgroups(1, &group) < 0 || setresgid(gid, gid, gid) < 0)
			_exit(3);
		fd = daemon_connect_raw(&dmn);
		if (fd < 0)
			_exit(4);
		/* A refused peer may find the socket closed already (EPIPE):
		 * the answer is still there to read. */
		wire_send(fd, ping, sizeof ping - 1);
		if (wire_read(fd, &w, 1, WAIT_MS) == 1) {
			if (wire_get(&w.up[0].data, "pong"))
				rc = 0;
			else if (strcmp(wire_code(&w.up[0].data), "EACCES") == 0)
				rc = 1;
		}
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died");
	return WEXITSTATUS(status);
}

START_TEST(test_peer_creds)
{
	struct wire_answers w;
	const msgpack_object *a;
	char line[128];
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "test_peer_creds: skipped (needs root to be another gid)\n");
		return;
	}
	start("-o", "allow_uid=4242", "-o", "allow_gid=4343", NULL);
	fd = raw();
	a = one(fd, &w, "root, not on the lists");
	ck_assert_msg(strcmp(wire_code(a), "EACCES") == 0 && wire_msg_has(a, "allow_uid"),
	              "root, not on the lists: %s %s", wire_code(a), wire_msg(a));
	ck_assert_msg(w.eof || wire_closed(fd, WAIT_MS), "refused: then closed");
	wire_answers_free(&w);
	close(fd);
	snprintf(line, sizeof line, "connection from uid 0 gid 0 pid %d refused", (int)getpid());
	ck_assert_msg(log_has(line), "the log has '%s'", line);
	ck_assert_int_eq(child_ping(4343, 4343), 0);      /* primary gid listed */
	ck_assert_int_eq(child_ping(4444, 4343), 0);      /* a supplementary one */
	ck_assert_int_eq(child_ping(4444, 4444), 1);      /* neither */
	ck_assert(log_has("connected: uid 0 gid 4444"));
	stop();

	start("-o", "allow_uid=0", NULL);
	fd = raw();
	expect_alive(fd, "root with allow_uid=0");
	close(fd);
	snprintf(line, sizeof line, "connected: uid 0 gid 0 pid %d", (int)getpid());
	ck_assert_msg(log_has(line), "the log has '%s'", line);
	stop();
}
END_TEST

/* ======================================================================= */
/* paths, as a client sends them                                            */
/* ======================================================================= */

/* An open of path (JSON-escaped) with mode: the answer's code. */
static const char *open_code(int fd, const char *path_json, const char *mode, char *msg, size_t mlen)
{
	static char code[32];
	struct wire_answers w;
	const msgpack_object *a;
	size_t n = strlen(path_json) + 96;
	char *json = malloc(n);

	ck_assert_ptr_nonnull(json);
	snprintf(json, n, "{\"id\":7,\"op\":\"open\",\"path\":\"%s\",\"mode\":\"%s\"}", path_json, mode);
	send_json(fd, json);
	free(json);
	a = one(fd, &w, path_json);
	snprintf(code, sizeof code, "%s", wire_get(a, "handle") ? "ok" : wire_code(a));
	snprintf(msg, mlen, "%s", wire_msg(a));
	if (wire_get(a, "handle")) {
		wire_answers_free(&w);
		send_json(fd, "{\"id\":8,\"op\":\"close\",\"handle\":1}");
		one(fd, &w, "close");
	}
	wire_answers_free(&w);
	return code;
}

static void expect_open(int fd, const char *path_json, const char *mode, const char *code,
                        const char *needle)
{
	char msg[ROWD_ERRMSG_MAX + 1];
	const char *got = open_code(fd, path_json, mode, msg, sizeof msg);

	ck_assert_msg(strcmp(got, code) == 0 && (!needle || strstr(msg, needle)),
	              "open %.60s (%s, %zu bytes): %s %s, expected %s %s", path_json, mode,
	              strlen(path_json), got, msg, code, needle ? needle : "");
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t u = strlen(unit);
	char *s = malloc(u * times + strlen(tail) + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	strcpy(s + u * times, tail);
	return s;
}

START_TEST(test_path_inputs)
{
	struct stat st;
	char *p;
	int fd;

	start(NULL);
	fd = raw();
	/* A NUL is refused, never cut short into a valid path. */
	expect_open(fd, "f.csv\\u0000/../../etc/passwd", "r", "EINVAL", "NUL");
	expect_open(fd, "new.csv\\u0000x", "w", "EINVAL", "NUL");
	ck_assert_msg(lstat(root_path("new.csv"), &st) < 0, "a write with a NUL created a file");
	/* PATH_MAX - 1 bytes reach f.csv; PATH_MAX bytes are refused. */
	p = repeat("./", (PATH_MAX - 1 - 5) / 2, "f.csv");
	ck_assert_uint_eq(strlen(p), PATH_MAX - 1);
	expect_open(fd, p, "r", "ok", NULL);
	free(p);
	p = repeat("./", (PATH_MAX - 5) / 2, "/f.csv");
	ck_assert_uint_eq(strlen(p), PATH_MAX);
	expect_open(fd, p, "r", "EINVAL", "PATH_MAX");
	free(p);
	p = repeat("a", NAME_MAX, "");
	expect_open(fd, p, "r", "ENOENT", NULL);
	free(p);
	p = repeat("a", NAME_MAX + 1, "/f.csv");
	expect_open(fd, p, "r", "EINVAL", "NAME_MAX");
	free(p);

	/* A directory is not read, and is not written over. */
	ck_assert(mkdir(root_path("sub"), 0755) == 0);
	put("sub/x.csv", "a\n1\n");
	expect_open(fd, "sub", "r", "EACCES", "directory");
	expect_open(fd, "sub", "w", "EEXIST", "directory");
	ck_assert(lstat(root_path("sub"), &st) == 0 && S_ISDIR(st.st_mode));
	ck_assert(lstat(root_path("sub/x.csv"), &st) == 0 && st.st_size == 4);
	ck_assert_int_eq(daemon_count_files(&dmn, ".rowd-tmp-"), 0);

	/* FIFOs and devices: regular files only, also as targets. */
	ck_assert(mkfifo(root_path("p.csv"), 0644) == 0);
	expect_open(fd, "p.csv", "r", "EACCES", "FIFO");
	expect_open(fd, "p.csv", "w", "EACCES", "FIFO");
	ck_assert(lstat(root_path("p.csv"), &st) == 0 && S_ISFIFO(st.st_mode));
	if (geteuid() == 0) {
		ck_assert(mknod(root_path("null.csv"), S_IFCHR | 0666, makedev(1, 3)) == 0);
		expect_open(fd, "null.csv", "r", "EACCES", "character device");
		expect_open(fd, "null.csv", "w", "EACCES", "character device");
		ck_assert(lstat(root_path("null.csv"), &st) == 0 && S_ISCHR(st.st_mode));
	} else {
		fprintf(stderr, "test_path_inputs: device file case skipped (not root)\n");
	}
	close(fd);
	stop();
}
END_TEST

/* The race: a thread swaps "swap" between a directory inside the root
 * and a symlink to a directory outside (renameat2 RENAME_EXCHANGE: the
 * name always exists), and "swapf" between a file and a symlink to a
 * file outside, while the client opens and reads them. Every open reads
 * "inside" or is refused; never a row from outside. */
struct flipper {
	char a[2][1100], b[2][1100];
	atomic_bool stop;
	long flips;           /* read after the join */
};

static void *flip(void *arg)
{
	struct flipper *f = arg;

	while (!atomic_load(&f->stop))
		for (int i = 0; i < 2; i++)
			if (renameat2(AT_FDCWD, f->a[i], AT_FDCWD, f->b[i], RENAME_EXCHANGE) == 0)
				f->flips++;
	return NULL;
}

static void race(bool no_openat2)
{
	static const char *const paths[2] = { "swap/data.csv", "swapf" };
	struct flipper f = { .flips = 0 };
	char outside[600], target[700];
	long inside = 0, refused = 0, t0;
	pthread_t th;
	rowd_ctx *c;

	if (no_openat2)
		setenv("ROWD_TEST_NO_OPENAT2", "1", 1);
	start(NULL);
	snprintf(outside, sizeof outside, "%s/outside", dmn.dir);
	ck_assert(mkdir(outside, 0755) == 0);
	snprintf(target, sizeof target, "%s/data.csv", outside);
	{
		FILE *o = fopen(target, "w");

		ck_assert_ptr_nonnull(o);
		fputs("v\noutside\n", o);
		fclose(o);
	}
	ck_assert(mkdir(root_path("swap"), 0755) == 0);
	put("swap/data.csv", "v\ninside\n");
	put("swapf", "v\ninside\n");
	ck_assert(symlink("../outside", root_path("alt")) == 0);
	ck_assert(symlink("../outside/data.csv", root_path("altf")) == 0);
	snprintf(f.a[0], sizeof f.a[0], "%s", root_path("swap"));
	snprintf(f.b[0], sizeof f.b[0], "%s", root_path("alt"));
	snprintf(f.a[1], sizeof f.a[1], "%s", root_path("swapf"));
	snprintf(f.b[1], sizeof f.b[1], "%s", root_path("altf"));
	c = lib();
	ck_assert(pthread_create(&th, NULL, flip, &f) == 0);
	t0 = now_ms();
	for (int i = 0; (i < 2000 || !inside || !refused) && now_ms() - t0 < 15000; i++) {
		struct rowd_open_opts o = { .format = "csv" };
		const msgpack_object *rows, *v;
		bool eof;
		int h = rowd_open(c, paths[i % 2], &o);

		if (h < 0) {
			ck_assert_msg(strcmp(rowd_errcode(c), "EACCES") == 0, "%s: %s %s", paths[i % 2],
			              rowd_errcode(c), rowd_errstr(c));
			refused++;
			continue;
		}
		ck_assert_msg(rowd_read_bulk(c, h, 1, &rows, &eof) == 1, "read: %s", rowd_errstr(c));
		v = wire_get(&rows->via.array.ptr[0], "v");
		ck_assert_msg(v && v->type == MSGPACK_OBJECT_STR && v->via.str.size == 6 &&
		              memcmp(v->via.str.ptr, "inside", 6) == 0,
		              "%s gave a row from outside the root (iteration %d)", paths[i % 2], i);
		inside++;
		ck_assert(rowd_close(c, h, NULL) == 0);
	}
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	ck_assert_msg(inside + refused >= 2000 && inside && refused,
	              "%ld opens inside, %ld refused, %ld swaps: the race did not run", inside, refused,
	              f.flips);
	rowd_free(c);
	stop();
}

START_TEST(test_path_race)
{
	race(false);
}
END_TEST

START_TEST(test_path_race_no_openat2)
{
	race(true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_frame_bytes);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_elements);
	tcase_add_test(tc, test_str_bytes);
	tcase_add_test(tc, test_text_line);
	tcase_add_test(tc, test_row_bytes_read);
	tcase_add_test(tc, test_row_bytes_write);
	tcase_add_test(tc, test_batch_rows);
	tcase_add_test(tc, test_handles_per_conn);
	tcase_add_test(tc, test_connections);
	tcase_add_test(tc, test_queued_jobs);
	tcase_add_test(tc, test_out_high_stream);
	tcase_add_test(tc, test_out_high_requests);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_peer_creds);
	tcase_add_test(tc, test_path_inputs);
	tcase_add_test(tc, test_path_race);
	tcase_add_test(tc, test_path_race_no_openat2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
