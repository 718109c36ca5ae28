/* End-to-end tests: the real daemon/rowd on a temp socket and a temp data
 * root (daemon_fixture.c), driven through librowd and through raw bytes on
 * the socket. Every test starts its own daemon in its body and stops it
 * with SIGTERM: a crash, an unclean exit or (under ROWD_VALGRIND=1) a
 * memory error fails the test.
 *
 * Tests marked BUG expose a defect of the daemon or of librowd that is
 * described beside them; they check what DESIGN.md promises. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>

#include "rowd/rowd.h"
#include "rowd_proto.h"
#include "daemon_fixture.h"

#define CONF "tests/data/conformance"
#define SPECTRUM CONF "/csv-spectrum"
#define ITERABLE CONF "/iterabledata"
#define JSUITE CONF "/json-test-suite/test_parsing"
#define SAMPLE ITERABLE "/2cols6rows.csv"

/* The six rows every 2cols6rows* file holds (tests/data/conformance/README.md). */
static const char SIX[] =
	"[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"},"
	"{\"id\":\"3\",\"name\":\"Michael\"},{\"id\":\"4\",\"name\":\"Anna\"},"
	"{\"id\":\"5\",\"name\":\"Orban\"},{\"id\":\"6\",\"name\":\"Lucy\"}]";

/* The same rows in 2cols6rows.dbf: numeric ids, the table's upper-case
 * field names. */
static const char SIX_DBF[] =
	"[{\"ID\":1,\"NAME\":\"John\"},{\"ID\":2,\"NAME\":\"Mary\"},"
	"{\"ID\":3,\"NAME\":\"Michael\"},{\"ID\":4,\"NAME\":\"Anna\"},"
	"{\"ID\":5,\"NAME\":\"Orban\"},{\"ID\":6,\"NAME\":\"Lucy\"}]";

/* Milliseconds to wait for an answer on a raw socket (valgrind is slow). */
static int answer_wait_ms(void)
{
	const char *v = getenv("ROWD_VALGRIND");

	return v && *v && strcmp(v, "0") != 0 ? 20000 : 5000;
}

/* ---- objects kept until the end of the test ---------------------------- */

struct held {
	struct held *next;
	struct mpbuf raw;
	msgpack_unpacked up;
};

static struct held *arena;

static void arena_free(void)
{
	while (arena) {
		struct held *h = arena;

		arena = h->next;
		msgpack_unpacked_destroy(&h->up);
		mpbuf_free(&h->raw);
		free(h);
	}
}

/* Decodes the one msgpack object in raw (taken over) and keeps it. */
static const msgpack_object *hold(struct mpbuf *raw)
{
	struct held *h = calloc(1, sizeof *h);
	size_t off = 0;

	ck_assert_ptr_nonnull(h);
	h->raw = *raw;
	mpbuf_init(raw);
	msgpack_unpacked_init(&h->up);
	h->next = arena;
	arena = h;
	ck_assert_msg(msgpack_unpack_next(&h->up, h->raw.data, h->raw.len, &off) ==
	              MSGPACK_UNPACK_SUCCESS, "cannot decode %zu msgpack bytes", h->raw.len);
	return &h->up.data;
}

static const msgpack_object *hold_copy(const void *p, size_t n)
{
	struct mpbuf b;

	mpbuf_init(&b);
	ck_assert(mpbuf_append(&b, p, n) == 0);
	return hold(&b);
}

/* A JSON text as a msgpack object (the project's own JSON parser). */
static const msgpack_object *J(const char *json)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct mpbuf b;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	mpbuf_init(&b);
	ck_assert_msg(proto_json_to_msgpack(json, strlen(json), &lim, &b, &err) == 0,
	              "bad JSON in the test: %s: %.200s", err.message, json);
	return hold(&b);
}

/* JSON of an object for messages (kept in a small ring). */
static const char *js(const msgpack_object *o)
{
	static char *ring[8];
	static int at;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!o)
		return "(none)";
	if (rowd_to_json(o, &buf, &len, &cap) < 0 || !(buf = realloc(buf, len + 1))) {
		free(buf);
		return "(unprintable)";
	}
	buf[len] = '\0';
	at = (at + 1) % 8;
	free(ring[at]);
	ring[at] = buf;
	return buf;
}

/* Structural equality; maps must also keep their key order (a row is the
 * ordered dict of the iterator library: CSV columns stay in header order). */
static bool obj_eq(const msgpack_object *a, const msgpack_object *b)
{
	bool fa = a->type == MSGPACK_OBJECT_FLOAT32 || a->type == MSGPACK_OBJECT_FLOAT64;
	bool fb = b->type == MSGPACK_OBJECT_FLOAT32 || b->type == MSGPACK_OBJECT_FLOAT64;

	if (fa && fb)
		return a->via.f64 == b->via.f64;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL: return true;
	case MSGPACK_OBJECT_BOOLEAN: return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return a->via.u64 == b->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return a->via.i64 == b->via.i64;
	case MSGPACK_OBJECT_STR:
		return a->via.str.size == b->via.str.size &&
		       memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
	case MSGPACK_OBJECT_BIN:
		return a->via.bin.size == b->via.bin.size &&
		       memcmp(a->via.bin.ptr, b->via.bin.ptr, a->via.bin.size) == 0;
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if (!obj_eq(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return false;
		for (uint32_t i = 0; i < a->via.map.size; i++)
			if (!obj_eq(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
			    !obj_eq(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
				return false;
		return true;
	case MSGPACK_OBJECT_EXT:
		return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size &&
		       memcmp(a->via.ext.ptr, b->via.ext.ptr, a->via.ext.size) == 0;
	default:
		return false;
	}
}

static void expect_obj(const msgpack_object *got, const msgpack_object *want, const char *what)
{
	ck_assert_msg(got, "%s: nothing, expected %s", what, js(want));
	ck_assert_msg(obj_eq(got, want), "%s:\n  got      %s\n  expected %s", what, js(got),
	              js(want));
}

static void expect_json(const msgpack_object *got, const char *want_json, const char *what)
{
	expect_obj(got, J(want_json), what);
}

/* Field of an answer map (NULL when absent). */
static const msgpack_object *field(const msgpack_object *map, const char *key)
{
	return map ? rowd_map_get(map, key) : NULL;
}

static bool is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static bool is_uint(const msgpack_object *o, uint64_t v)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == v;
}

static bool is_true(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* The error code of an answer, "" when it is ok. */
static const char *answer_code(const msgpack_object *ans)
{
	static char buf[32];
	const msgpack_object *code = field(field(ans, "error"), "code");

	if (is_true(field(ans, "ok")) || !code || code->type != MSGPACK_OBJECT_STR)
		return "";
	snprintf(buf, sizeof buf, "%.*s", (int)code->via.str.size, code->via.str.ptr);
	return buf;
}

/* ---- daemon lifetime ---------------------------------------------------- */

/* The daemons of the running test. Static, so that the exit handler can
 * still reach them when a failed assertion leaves the test function. */
static struct daemon pool[2];
static bool in_use[2];

/* At exit, and before each test (a checked fixture that starts nothing:
 * with CK_FORK=no it reclaims what a failed test left behind). */
static void cleanup_live(void)
{
	for (int i = 0; i < 2; i++)
		if (in_use[i]) {
			daemon_cleanup(&pool[i]);
			in_use[i] = false;
		}
	arena_free();
}

static void print_log(const struct daemon *d)
{
	char buf[4096];
	FILE *f = fopen(d->log, "r");
	size_t n;

	if (!f)
		return;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- %s ----\n%s----\n", d->log, buf);
}

/* Starts a daemon with f.csv (the six rows) in its root. */
static struct daemon *start(const char *const *extra)
{
	static bool registered;
	struct daemon *d = NULL;

	if (!registered) {
		atexit(cleanup_live);
		registered = true;
	}
	for (int i = 0; i < 2 && !d; i++)
		if (!in_use[i]) {
			in_use[i] = true;   /* removed at exit, also when the test fails */
			d = &pool[i];
		}
	ck_assert_msg(d, "more than 2 daemons in one test");
	if (!daemon_start(d, extra)) {
		print_log(d);
		ck_abort_msg("rowd did not start (log %s)", d->log);
	}
	ck_assert(daemon_put_src(d, SAMPLE, "f.csv"));
	return d;
}

static void forget(struct daemon *d)
{
	for (int i = 0; i < 2; i++)
		if (&pool[i] == d)
			in_use[i] = false;
	daemon_cleanup(d);
	arena_free();
}

static void stop(struct daemon *d)
{
	ck_assert_msg(daemon_stop(d),
	              "rowd did not exit 0 on SIGTERM (or valgrind found errors): see above");
	forget(d);
}

static bool alive(struct daemon *d)
{
	int status;

	return d->pid > 0 && waitpid(d->pid, &status, WNOHANG) == 0;
}

static void put(const struct daemon *d, const char *rel, const char *text)
{
	ck_assert_msg(daemon_put(d, rel, text, strlen(text)), "cannot write %s", rel);
}

static void put_src(const struct daemon *d, const char *src, const char *rel)
{
	ck_assert_msg(daemon_put_src(d, src, rel), "cannot copy %s", src);
}

static bool exists(const struct daemon *d, const char *rel)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", d->root, rel);
	return lstat(path, &st) == 0;
}

static void expect_content(const struct daemon *d, const char *rel, const char *want,
                           const char *what)
{
	size_t n = 0;
	char *got = daemon_get(d, rel, &n);

	ck_assert_msg(got, "%s: %s cannot be read", what, rel);
	ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0,
	              "%s: %s holds %zu bytes \"%.80s\", expected \"%s\"", what, rel, n, got, want);
	free(got);
}

static int wait_tmp_files(const struct daemon *d, int want, int ms)
{
	int n = daemon_count_files(d, ".rowd-tmp-");

	for (int i = 0; i < ms / 10 && n != want; i++) {
		usleep(10000);
		n = daemon_count_files(d, ".rowd-tmp-");
	}
	return n;
}

/* ---- librowd helpers ---------------------------------------------------- */

static rowd_ctx *conn(const struct daemon *d)
{
	rowd_ctx *c = rowd_connect(d->sock);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(!rowd_ctx_broken(c), "connect %s: %s", d->sock, rowd_errstr(c));
	return c;
}

#define OK(c, expr)                                                                  \
	do {                                                                         \
		if ((expr) < 0)                                                      \
			ck_abort_msg("%s failed: %s: %s", #expr, rowd_errcode(c),    \
			             rowd_errstr(c));                                \
	} while (0)

/* The call returned rc: it must have failed with code, and the connection
 * must still answer. */
static void expect_fail(rowd_ctx *c, int64_t rc, const char *code, const char *what)
{
	ck_assert_msg(rc < 0, "%s: succeeded (%lld), expected %s; answer %s", what, (long long)rc,
	              code, js(rowd_last_answer(c)));
	ck_assert_msg(strcmp(rowd_errcode(c), code) == 0, "%s: got %s (%s), expected %s", what,
	              rowd_errcode(c), rowd_errstr(c), code);
	ck_assert_msg(!rowd_ctx_broken(c), "%s: the connection broke: %s", what, rowd_errstr(c));
}

static void expect_ping(rowd_ctx *c, const char *after)
{
	ck_assert_msg(rowd_ping(c) == 0, "ping after %s: %s: %s", after, rowd_errcode(c),
	              rowd_errstr(c));
}

static int open_r(rowd_ctx *c, const char *path, const char *options_json)
{
	struct rowd_open_opts o = { .options_json = options_json };

	return rowd_open(c, path, &o);
}

static int open_w(rowd_ctx *c, const char *path, const char *options_json)
{
	struct rowd_open_opts o = { .mode = "w", .options_json = options_json };

	return rowd_open(c, path, &o);
}

/* Reads handle h to its end in batches of n; returns all rows as one array.
 * Checks the read_bulk contract on the way: exactly n rows unless eof. */
static const msgpack_object *read_all(rowd_ctx *c, int h, size_t n, const char *what)
{
	struct mpbuf b;
	msgpack_packer pk;
	uint32_t count = 0;
	char hdr[5];

	mpbuf_init(&b);
	msgpack_packer_init(&pk, &b, mpbuf_packer_write);
	for (int guard = 0; guard < 100000; guard++) {
		const msgpack_object *rows;
		bool eof = false;
		int k = rowd_read_bulk(c, h, n, &rows, &eof);

		ck_assert_msg(k >= 0, "%s: read_bulk after %u rows: %s: %s (line %lld)", what, count,
		              rowd_errcode(c), rowd_errstr(c), (long long)rowd_errline(c));
		for (int i = 0; i < k; i++)
			ck_assert(msgpack_pack_object(&pk, rows->via.array.ptr[i]) == 0);
		count += (uint32_t)k;
		if (eof)
			break;
		ck_assert_msg((size_t)k == n, "%s: read_bulk %zu gave %d rows without eof", what, n, k);
	}
	/* Array header in front of the packed rows. */
	hdr[0] = (char)0xdd;
	hdr[1] = (char)(count >> 24);
	hdr[2] = (char)(count >> 16);
	hdr[3] = (char)(count >> 8);
	hdr[4] = (char)count;
	ck_assert(mpbuf_reserve(&b, 5) == 0);
	memmove(b.data + 5, b.data, b.len);
	memcpy(b.data, hdr, 5);
	b.len += 5;
	return hold(&b);
}

/* Opens path for reading, reads it all in batches, closes it. */
static const msgpack_object *slurp_rows(rowd_ctx *c, const char *path, const char *options_json,
                                        size_t batch)
{
	const msgpack_object *rows;
	int h = open_r(c, path, options_json);

	ck_assert_msg(h > 0, "open %s (options %s): %s: %s", path,
	              options_json ? options_json : "none", rowd_errcode(c), rowd_errstr(c));
	rows = read_all(c, h, batch, path);   /* a copy: stays valid after close */
	OK(c, rowd_close(c, h, NULL));
	return rows;
}

/* ---- raw socket helpers ------------------------------------------------- */

static void raw_send(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_msg(w > 0, "send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Appends the msgpack of a JSON request to b. */
static void req(struct mpbuf *b, const char *json)
{
	struct rowd_limits lim;
	struct rowd_error err;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	ck_assert_msg(proto_json_to_msgpack(json, strlen(json), &lim, b, &err) == 0,
	              "bad request JSON in the test: %s", json);
}

/* Number of complete msgpack objects at the start of p[0..n); *ends gets
 * their end offsets. *bad is set when the bytes cannot be msgpack. */
static int count_objects(const char *p, size_t n, size_t *ends, int max, bool *bad)
{
	size_t off = 0;
	int k = 0;

	*bad = false;
	while (k < max && off < n) {
		msgpack_unpacked up;
		msgpack_unpack_return r;

		msgpack_unpacked_init(&up);
		r = msgpack_unpack_next(&up, p, n, &off);
		msgpack_unpacked_destroy(&up);
		if (r == MSGPACK_UNPACK_CONTINUE)
			break;
		if (r != MSGPACK_UNPACK_SUCCESS) {
			*bad = true;
			break;
		}
		ends[k++] = off;
	}
	return k;
}

/* Reads msgpack answers from fd until `want` are complete, the peer
 * closes (*eof), or the answer timeout. Returns how many were read. */
static int raw_answers(int fd, const msgpack_object **out, int want, bool *eof)
{
	struct mpbuf in;
	size_t ends[64];
	int k = 0, wait = answer_wait_ms();
	bool bad = false;
	struct timespec t0, t;

	ck_assert(want <= 64);
	*eof = false;
	mpbuf_init(&in);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long spent;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= wait || poll(&pfd, 1, (int)(wait - spent)) <= 0)
			break;
		ck_assert(mpbuf_reserve(&in, 65536) == 0);
		r = read(fd, in.data + in.len, in.cap - in.len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {   /* ECONNRESET after a close counts as the close */
			*eof = true;
			break;
		}
		in.len += (size_t)r;
		k = count_objects(in.data, in.len, ends, want, &bad);
		ck_assert_msg(!bad, "the daemon sent bytes that are not msgpack");
		if (k >= want)
			break;
	}
	k = count_objects(in.data, in.len, ends, want, &bad);
	for (int i = 0; i < k; i++)
		out[i] = hold_copy(in.data + (i ? ends[i - 1] : 0), ends[i] - (i ? ends[i - 1] : 0));
	mpbuf_free(&in);
	return k;
}

/* After the answers: the daemon closes the connection (within the wait). */
static bool raw_eof(int fd)
{
	const msgpack_object *extra[1];
	bool eof = false;
	int k = raw_answers(fd, extra, 1, &eof);

	return k == 0 && eof;
}

/* Reads text from fd until the peer closes or the timeout; *eof tells. */
static char *raw_text(int fd, bool *eof)
{
	struct mpbuf in;
	int wait = answer_wait_ms();

	*eof = false;
	mpbuf_init(&in);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, wait) <= 0)
			break;
		ck_assert(mpbuf_reserve(&in, 65536) == 0);
		r = read(fd, in.data + in.len, in.cap - in.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*eof = true;
			break;
		}
		in.len += (size_t)r;
	}
	ck_assert(mpbuf_reserve(&in, 1) == 0);
	in.data[in.len] = '\0';
	return in.data;
}

/* Splits text answers into objects (one JSON object per line). */
static int text_answers(char *text, const msgpack_object **out, int max)
{
	int k = 0;

	for (char *line = text, *nl; *line && k < max; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_msg(nl, "answer line without a newline: %s", line);
		*nl = '\0';
		out[k++] = J(line);
	}
	return k;
}

/* ======================================================================= */
/* basic                                                                   */
/* ======================================================================= */

static bool list_has(const msgpack_object *list, const char *name, bool need_write)
{
	if (!list || list->type != MSGPACK_OBJECT_ARRAY)
		return false;
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		const msgpack_object *e = &list->via.array.ptr[i];

		if (is_str(field(e, "name"), name))
			return is_true(field(e, "read")) && (!need_write || is_true(field(e, "write")));
	}
	return false;
}

START_TEST(test_hello_ping)
{
	static const char *const formats[] = { "csv", "tsv", "psv", "jsonl", "json" };
	struct daemon *d;
	const msgpack_object *ans = NULL;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	OK(c, rowd_request_json(c, "{\"op\":\"hello\",\"version\":1,\"client\":\"test_e2e\"}", &ans));
	ck_assert_msg(is_str(field(ans, "server"), "rowd"), "hello: %s", js(ans));
	ck_assert_msg(is_uint(field(ans, "protocol"), 1), "hello: protocol: %s", js(ans));
	ck_assert_msg(field(ans, "version") && field(ans, "version")->type == MSGPACK_OBJECT_STR,
	              "hello: version: %s", js(ans));
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		ck_assert_msg(list_has(field(ans, "formats"), formats[i], true),
		              "hello: format %s missing or not read+write: %s", formats[i],
		              js(field(ans, "formats")));
	ck_assert_msg(list_has(field(ans, "codecs"), "none", true) &&
	              list_has(field(ans, "codecs"), "gzip", true),
	              "hello: codecs none and gzip: %s", js(field(ans, "codecs")));
	ck_assert_msg(field(field(ans, "limits"), "text_line") &&
	              field(field(ans, "limits"), "batch_rows"),
	              "hello: limits: %s", js(field(ans, "limits")));
	for (int i = 0; i < 3; i++)
		OK(c, rowd_ping(c));
	ck_assert_msg(is_true(field(rowd_last_answer(c), "pong")), "ping: %s",
	              js(rowd_last_answer(c)));
	rowd_free(c);
	stop(d);
}
END_TEST

/* BUG: daemon/dispatch.c answer_stats() closes the answer map with
 * `count + 15` but packs 14 fields (uptime, connections, handles, requests,
 * jobs_queued, jobs_running, workers, rows_out, rows_in, bytes_out,
 * limits_hit, loop_lag_us, loop_lag_us_max, errors): the map header
 * promises one entry more than follows, so the next answer on the
 * connection is swallowed as a key (binary), the text-mode answer is
 * dropped (JSON conversion fails), and a librowd caller blocks forever
 * waiting for the missing entry. The raw check runs first so that the
 * test fails fast instead of hanging in librowd. */
START_TEST(test_stats)
{
	struct daemon *d;
	const msgpack_object *a[2], *ans = NULL, *conns;
	struct mpbuf b;
	bool eof;
	rowd_ctx *c;
	int fd, k;

	d = start(NULL);
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	mpbuf_init(&b);
	req(&b, "{\"id\":1,\"op\":\"stats\"}");
	req(&b, "{\"id\":2,\"op\":\"ping\"}");
	raw_send(fd, b.data, b.len);
	mpbuf_free(&b);
	k = raw_answers(fd, a, 2, &eof);
	ck_assert_msg(k == 2, "stats then ping: %d complete answers (first: %s)", k,
	              k ? js(a[0]) : "none");
	ck_assert_msg(is_uint(field(a[0], "id"), 1) && field(a[0], "connections"),
	              "stats: %s", js(a[0]));
	ck_assert_msg(is_uint(field(a[1], "id"), 2) && is_true(field(a[1], "pong")),
	              "ping after stats: %s", js(a[1]));
	close(fd);

	c = conn(d);
	OK(c, rowd_request_json(c, "{\"op\":\"stats\"}", &ans));
	conns = field(ans, "connections");
	ck_assert_msg(field(conns, "now") && field(conns, "now")->via.u64 >= 1, "stats: %s",
	              js(ans));
	ck_assert_msg(is_uint(field(ans, "workers"), 2), "stats: workers (rowd -w 2): %s", js(ans));
	ck_assert_msg(field(ans, "requests") && field(ans, "requests")->via.u64 >= 2,
	              "stats: requests: %s", js(ans));
	expect_ping(c, "stats");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_read_csv)
{
	struct daemon *d;
	const msgpack_object *rows, *row, *six, *ans;
	bool eof = true;
	uint64_t n = 99;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	six = J(SIX);
	c = conn(d);
	h = open_r(c, "f.csv", NULL);
	ck_assert_msg(h == 1, "first open: handle %d (%s: %s)", h, rowd_errcode(c), rowd_errstr(c));
	ans = rowd_last_answer(c);
	ck_assert_msg(is_str(field(ans, "format"), "csv") && is_str(field(ans, "codec"), "none"),
	              "open answer: %s", js(ans));
	expect_json(field(ans, "columns"), "[\"id\",\"name\"]", "open: columns");

	ck_assert_int_eq(rowd_read_bulk(c, h, 3, &rows, &eof), 3);
	ck_assert_msg(!eof, "eof after 3 of 6 rows");
	expect_json(rows, "[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"},"
	            "{\"id\":\"3\",\"name\":\"Michael\"}]", "read_bulk 3");
	ck_assert_int_eq(rowd_read(c, h, &row), 1);
	expect_obj(row, &six->via.array.ptr[3], "read (row 4)");
	ck_assert_int_eq(rowd_read_bulk(c, h, 2, &rows, &eof), 2);
	expect_json(rows, "[{\"id\":\"5\",\"name\":\"Orban\"},{\"id\":\"6\",\"name\":\"Lucy\"}]",
	            "read_bulk 2 (rows 5-6)");
	ck_assert_msg(rowd_read(c, h, &row) == 0, "read after the last row: %s: %s",
	              rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(rowd_read_bulk(c, h, 5, &rows, &eof) == 0 && eof,
	              "read_bulk at eof: %s", js(rowd_last_answer(c)));

	ck_assert_msg(rowd_totals(c, h) == 6, "totals: %s %s", rowd_errcode(c), rowd_errstr(c));
	/* totals does not move the handle. */
	ck_assert_int_eq(rowd_read_bulk(c, h, 5, &rows, &eof), 0);

	OK(c, rowd_reset(c, h));
	ck_assert_int_eq(rowd_read_bulk(c, h, 1, &rows, &eof), 1);
	expect_obj(&rows->via.array.ptr[0], &six->via.array.ptr[0], "row 1 after reset");
	expect_obj(read_all(c, h, 2, "after reset"),
	           J("[{\"id\":\"2\",\"name\":\"Mary\"},{\"id\":\"3\",\"name\":\"Michael\"},"
	             "{\"id\":\"4\",\"name\":\"Anna\"},{\"id\":\"5\",\"name\":\"Orban\"},"
	             "{\"id\":\"6\",\"name\":\"Lucy\"}]"), "the rest after reset");
	OK(c, rowd_close(c, h, &n));
	expect_fail(c, rowd_read(c, h, &row), "EBADHANDLE", "read after close");
	expect_ping(c, "close");
	rowd_free(c);
	stop(d);
}
END_TEST

/* Regression: the daemon answers the read of the last row with
 * {row: {...}, eof: true} when the format already knows it is the last
 * one (here: the file has no final newline); rowd_read() used to look at
 * eof first and drop that row. */
START_TEST(test_read_one_by_one)
{
	struct daemon *d;
	const msgpack_object *row, *six;
	rowd_ctx *c;
	int h, r, i;

	d = start(NULL);
	six = J(SIX);
	c = conn(d);
	h = open_r(c, "f.csv", NULL);
	ck_assert_int_eq(h, 1);
	for (i = 0; i < 10; i++) {
		r = rowd_read(c, h, &row);
		ck_assert_msg(r >= 0, "read %d: %s: %s", i + 1, rowd_errcode(c), rowd_errstr(c));
		if (r == 0)
			break;
		ck_assert_msg(i < 6, "read %d gave a row past the end: %s", i + 1, js(row));
		expect_obj(row, &six->via.array.ptr[i], "read one by one");
	}
	ck_assert_msg(i == 6, "read one by one gave %d rows, expected 6 (last answer %s)", i,
	              js(rowd_last_answer(c)));
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_many_handles)
{
	struct daemon *d;
	const msgpack_object *rows, *row;
	bool eof;
	rowd_ctx *c;
	int h1, h2, h3, h4;

	d = start(NULL);
	put(d, "g.jsonl", "{\"k\":1}\n{\"k\":2}\n{\"k\":3}\n{\"k\":4}\n");
	put(d, "h.tsv", "x\ty\na\tb\nc\td\n");
	c = conn(d);
	h1 = open_r(c, "f.csv", NULL);
	h2 = open_r(c, "g.jsonl", NULL);
	h3 = open_r(c, "h.tsv", NULL);
	ck_assert_msg(h1 == 1 && h2 == 2 && h3 == 3, "handles %d %d %d, expected 1 2 3", h1, h2, h3);
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "tsv"), "h.tsv: %s",
	              js(rowd_last_answer(c)));

	ck_assert_int_eq(rowd_read(c, h1, &row), 1);
	expect_json(row, "{\"id\":\"1\",\"name\":\"John\"}", "h1 row 1");
	ck_assert_int_eq(rowd_read_bulk(c, h2, 2, &rows, &eof), 2);
	expect_json(rows, "[{\"k\":1},{\"k\":2}]", "h2 rows 1-2");
	ck_assert_int_eq(rowd_read(c, h3, &row), 1);
	expect_json(row, "{\"x\":\"a\",\"y\":\"b\"}", "h3 row 1");
	ck_assert_int_eq(rowd_read_bulk(c, h1, 2, &rows, &eof), 2);
	expect_json(rows, "[{\"id\":\"2\",\"name\":\"Mary\"},{\"id\":\"3\",\"name\":\"Michael\"}]",
	            "h1 rows 2-3");
	ck_assert_int_eq(rowd_read(c, h2, &row), 1);
	expect_json(row, "{\"k\":3}", "h2 row 3");
	ck_assert_int_eq(rowd_read_bulk(c, h3, 5, &rows, &eof), 1);
	expect_json(rows, "[{\"x\":\"c\",\"y\":\"d\"}]", "h3 row 2");
	ck_assert_msg(eof, "h3: eof with its last row");

	/* Closing 1 frees the number: the next open gets it again, on a
	 * fresh reader of its own. */
	OK(c, rowd_close(c, h1, NULL));
	h4 = open_r(c, "g.jsonl", NULL);
	ck_assert_msg(h4 == 1, "open after close 1: handle %d, expected 1", h4);
	ck_assert_int_eq(rowd_read_bulk(c, h4, 1, &rows, &eof), 1);
	expect_json(rows, "[{\"k\":1}]", "new handle 1 row 1");
	ck_assert_int_eq(rowd_read_bulk(c, h2, 5, &rows, &eof), 1);
	expect_json(rows, "[{\"k\":4}]", "h2 row 4 after h1 changed");
	ck_assert_msg(eof, "h2: eof");
	ck_assert_int_eq(rowd_open(c, "f.csv", NULL), 4);
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_pipelining)
{
	struct daemon *d;
	const msgpack_object *a[3], *by_id[4] = { 0 };
	struct mpbuf b;
	bool eof;
	int fd, k;

	d = start(NULL);
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	mpbuf_init(&b);
	req(&b, "{\"id\":1,\"op\":\"open\",\"path\":\"f.csv\"}");
	req(&b, "{\"id\":2,\"op\":\"read_bulk\",\"handle\":1,\"n\":3}");
	req(&b, "{\"id\":3,\"op\":\"ping\"}");
	raw_send(fd, b.data, b.len);   /* one write */
	mpbuf_free(&b);
	k = raw_answers(fd, a, 3, &eof);
	ck_assert_msg(k == 3, "3 pipelined requests: %d answers", k);
	for (int i = 0; i < 3; i++) {
		const msgpack_object *id = field(a[i], "id");

		ck_assert_msg(id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER && id->via.u64 >= 1 &&
		              id->via.u64 <= 3 && !by_id[id->via.u64], "answer %d: bad id: %s", i,
		              js(a[i]));
		by_id[id->via.u64] = a[i];
	}
	ck_assert_msg(is_true(field(by_id[1], "ok")) && is_uint(field(by_id[1], "handle"), 1),
	              "open: %s", js(by_id[1]));
	expect_json(field(by_id[2], "rows"), "[{\"id\":\"1\",\"name\":\"John\"},"
	            "{\"id\":\"2\",\"name\":\"Mary\"},{\"id\":\"3\",\"name\":\"Michael\"}]",
	            "read_bulk queued behind its open");
	ck_assert_msg(is_true(field(by_id[3], "pong")), "ping: %s", js(by_id[3]));
	/* Answers of one handle keep request order. */
	for (int i = 0; i < 3; i++) {
		if (a[i] == by_id[2])
			ck_assert_msg(false, "read_bulk answered before its open");
		if (a[i] == by_id[1])
			break;
	}
	close(fd);
	stop(d);
}
END_TEST

/* A read queued behind an open that fails is answered, not lost. */
START_TEST(test_queued_behind_failed_open)
{
	struct daemon *d;
	const msgpack_object *a[3];
	struct mpbuf b;
	bool eof;
	int fd, k;

	d = start(NULL);
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	mpbuf_init(&b);
	req(&b, "{\"id\":1,\"op\":\"open\",\"path\":\"missing.csv\"}");
	req(&b, "{\"id\":2,\"op\":\"read\",\"handle\":1}");
	req(&b, "{\"id\":3,\"op\":\"ping\"}");
	raw_send(fd, b.data, b.len);
	mpbuf_free(&b);
	k = raw_answers(fd, a, 3, &eof);
	ck_assert_msg(k == 3, "%d answers, expected 3", k);
	for (int i = 0; i < 3; i++) {
		if (is_uint(field(a[i], "id"), 1))
			ck_assert_msg(strcmp(answer_code(a[i]), "ENOENT") == 0, "open: %s", js(a[i]));
		else if (is_uint(field(a[i], "id"), 2))
			ck_assert_msg(strcmp(answer_code(a[i]), "EBADHANDLE") == 0, "read: %s", js(a[i]));
		else
			ck_assert_msg(is_uint(field(a[i], "id"), 3) && is_true(field(a[i], "pong")),
			              "ping: %s", js(a[i]));
	}
	close(fd);
	stop(d);
}
END_TEST

/* ======================================================================= */
/* errors                                                                  */
/* ======================================================================= */

START_TEST(test_open_errors)
{
	static const struct {
		const char *path, *mode, *format, *options, *code, *in_message;
	} cases[] = {
		{ "missing.csv", NULL, NULL, NULL, "ENOENT", NULL },
		{ "f.csv", NULL, NULL, "{\"bogus\":1}", "EINVAL", "bogus" },
		{ "f.csv", NULL, "nope", NULL, "EINVAL", "nope" },
		{ "../x.csv", NULL, NULL, NULL, "EACCES", NULL },
		{ "sub/../../x.csv", NULL, NULL, NULL, "EACCES", NULL },
		{ "/etc/passwd", NULL, "csv", NULL, "EACCES", NULL },
		{ "../rowd-e2e-escape.jsonl", "w", NULL, NULL, "EACCES", NULL },
		{ "adir.jsonl", "w", NULL, NULL, "EEXIST", NULL },
	};
	struct daemon *d;
	char p[600];
	rowd_ctx *c;

	d = start(NULL);
	snprintf(p, sizeof p, "%s/adir.jsonl", d->root);
	ck_assert(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/sub", d->root);
	ck_assert(mkdir(p, 0755) == 0);
	c = conn(d);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rowd_open_opts o = { .mode = cases[i].mode, .format = cases[i].format,
		                            .options_json = cases[i].options };
		char what[300];

		snprintf(what, sizeof what, "open %s (mode %s)", cases[i].path,
		         cases[i].mode ? cases[i].mode : "r");
		expect_fail(c, rowd_open(c, cases[i].path, &o), cases[i].code, what);
		if (cases[i].in_message)
			ck_assert_msg(strstr(rowd_errstr(c), cases[i].in_message),
			              "%s: the message \"%s\" does not name '%s'", what, rowd_errstr(c),
			              cases[i].in_message);
		expect_ping(c, what);
	}
	ck_assert_msg(!exists(d, "../rowd-e2e-escape.jsonl"), "a write escaped the root");

	/* Allowed: an absolute path beneath the root. */
	snprintf(p, sizeof p, "%s/f.csv", d->root);
	expect_obj(slurp_rows(c, p, NULL, 10), J(SIX), "absolute path beneath the root");
	rowd_free(c);
	stop(d);
}
END_TEST

/* BUG (only where openat2 is missing: kernels before 5.6, and under
 * valgrind, which answers ENOSYS for it): the fallback walk in
 * daemon/paths.c openat2_beneath() opens directory components with
 * O_DIRECTORY|O_NOFOLLOW, so a symlinked directory fails with ENOTDIR,
 * which map_errno() reports as ENOENT "no such file" -- for
 * etcdir/passwd (etcdir -> /etc) the answer must be EACCES. The walk also
 * refuses every symlink, also those that stay inside the root (link.csv ->
 * f.csv gets EACCES), where DESIGN.md refuses only "symlinks out of" the
 * root and openat2(RESOLVE_BENEATH) accepts them. */
START_TEST(test_symlinks)
{
	static const struct {
		const char *path, *mode;
	} out[] = {
		{ "pw.csv", NULL },                                /* -> /etc/passwd */
		{ "etcdir/passwd", NULL },                         /* etcdir -> /etc */
		{ "etcdir/rowd-e2e-must-not-exist.jsonl", "w" },
		{ "pw.csv", "w" },                                 /* replace the link? */
	};
	struct daemon *d;
	char p[600];
	rowd_ctx *c;

	d = start(NULL);
	snprintf(p, sizeof p, "%s/pw.csv", d->root);
	ck_assert(symlink("/etc/passwd", p) == 0);
	snprintf(p, sizeof p, "%s/etcdir", d->root);
	ck_assert(symlink("/etc", p) == 0);
	snprintf(p, sizeof p, "%s/link.csv", d->root);
	ck_assert(symlink("f.csv", p) == 0);
	snprintf(p, sizeof p, "%s/sub", d->root);
	ck_assert(mkdir(p, 0755) == 0);
	put_src(d, SAMPLE, "sub/g.csv");
	snprintf(p, sizeof p, "%s/subdir", d->root);
	ck_assert(symlink("sub", p) == 0);
	c = conn(d);
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
		struct rowd_open_opts o = { .mode = out[i].mode, .format = "csv" };
		char what[300];

		snprintf(what, sizeof what, "open %s (mode %s)", out[i].path,
		         out[i].mode ? out[i].mode : "r");
		expect_fail(c, rowd_open(c, out[i].path, &o), "EACCES", what);
		expect_ping(c, what);
	}
	ck_assert_msg(access("/etc/rowd-e2e-must-not-exist.jsonl", F_OK) < 0,
	              "a write went through a symlink out of the root");
	{
		char target[64];
		ssize_t n;

		snprintf(p, sizeof p, "%s/pw.csv", d->root);
		n = readlink(p, target, sizeof target);
		ck_assert_msg(n == 11 && memcmp(target, "/etc/passwd", 11) == 0,
		              "the pw.csv symlink was replaced");
	}
	/* Symlinks that stay inside the root are fine. */
	expect_obj(slurp_rows(c, "link.csv", NULL, 10), J(SIX), "symlink to a file in the root");
	expect_obj(slurp_rows(c, "subdir/g.csv", NULL, 10), J(SIX), "symlink to a dir in the root");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_handle_errors)
{
	struct daemon *d;
	const msgpack_object *row, *rows, *ans = NULL;
	char req_json[200];
	uint64_t batch_rows;
	bool eof;
	rowd_ctx *c;
	int hr, hw;

	d = start(NULL);
	c = conn(d);
	expect_fail(c, rowd_read(c, 42, &row), "EBADHANDLE", "read on handle 42");
	expect_ping(c, "read on handle 42");
	expect_fail(c, rowd_close(c, 42, NULL), "EBADHANDLE", "close on handle 42");
	expect_ping(c, "close on handle 42");

	hr = open_r(c, "f.csv", NULL);
	ck_assert_int_eq(hr, 1);
	expect_fail(c, rowd_write(c, hr, J("{\"id\":\"7\",\"name\":\"X\"}")), "EBADHANDLE",
	            "write on a read handle");
	expect_ping(c, "write on a read handle");
	expect_fail(c, rowd_write_bulk(c, hr, J("[{\"id\":\"7\"}]")), "EBADHANDLE",
	            "write_bulk on a read handle");
	expect_ping(c, "write_bulk on a read handle");
	hw = open_w(c, "out.jsonl", NULL);
	ck_assert_int_eq(hw, 2);
	expect_fail(c, rowd_read(c, hw, &row), "EBADHANDLE", "read on a write handle");
	expect_ping(c, "read on a write handle");
	expect_fail(c, rowd_reset(c, hw), "EBADHANDLE", "reset on a write handle");

	/* read_bulk above the batch_rows limit. */
	OK(c, rowd_request_json(c, "{\"op\":\"hello\"}", &ans));
	ck_assert_msg(field(field(ans, "limits"), "batch_rows"), "hello: %s", js(ans));
	batch_rows = field(field(ans, "limits"), "batch_rows")->via.u64;
	expect_fail(c, rowd_read_bulk(c, hr, batch_rows + 1, &rows, &eof), "ELIMIT",
	            "read_bulk above batch_rows");
	expect_ping(c, "read_bulk above batch_rows");
	/* A request that does not decode is an error of that request only. */
	snprintf(req_json, sizeof req_json, "{\"op\":\"read_bulk\",\"handle\":%d,\"n\":\"three\"}", hr);
	ck_assert(rowd_request_json(c, req_json, &ans) < 0);
	ck_assert_msg(strcmp(rowd_errcode(c), "EPROTO") == 0 || strcmp(rowd_errcode(c), "EINVAL") == 0,
	              "n as a string: %s %s", rowd_errcode(c), rowd_errstr(c));
	expect_fail(c, rowd_request_json(c, "{\"op\":\"frobnicate\"}", &ans), "EPROTO",
	            "unknown op");
	expect_ping(c, "unknown op");
	/* The handle is still fine after all that. */
	ck_assert_int_eq(rowd_read_bulk(c, hr, 2, &rows, &eof), 2);
	expect_json(rows, "[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"}]",
	            "rows after the errors");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_handles_limit)
{
	static const char *const extra[] = { "-o", "handles_per_conn=2", NULL };
	struct daemon *d;
	rowd_ctx *c;

	d = start(extra);
	c = conn(d);
	ck_assert_int_eq(open_r(c, "f.csv", NULL), 1);
	ck_assert_int_eq(open_r(c, "f.csv", NULL), 2);
	expect_fail(c, open_r(c, "f.csv", NULL), "ELIMIT", "third handle with handles_per_conn=2");
	expect_ping(c, "ELIMIT");
	OK(c, rowd_close(c, 1, NULL));
	ck_assert_int_eq(open_r(c, "f.csv", NULL), 1);
	rowd_free(c);
	stop(d);
}
END_TEST

/* A FIFO in the root is refused at once (opening it must not block a
 * worker waiting for a writer). Raw socket: a hang fails within the wait. */
START_TEST(test_fifo)
{
	struct daemon *d;
	const msgpack_object *a[2];
	char p[600];
	struct mpbuf b;
	bool eof;
	int fd, k;

	d = start(NULL);
	snprintf(p, sizeof p, "%s/fifo.csv", d->root);
	ck_assert(mkfifo(p, 0644) == 0);
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	mpbuf_init(&b);
	req(&b, "{\"id\":1,\"op\":\"open\",\"path\":\"fifo.csv\"}");
	req(&b, "{\"id\":2,\"op\":\"open\",\"path\":\"fifo.csv\",\"format\":\"csv\"}");
	raw_send(fd, b.data, b.len);
	mpbuf_free(&b);
	k = raw_answers(fd, a, 2, &eof);
	ck_assert_msg(k == 2, "open of a FIFO: %d answers within %d ms", k, answer_wait_ms());
	ck_assert_msg(strcmp(answer_code(a[0]), "EACCES") == 0, "FIFO: %s", js(a[0]));
	ck_assert_msg(strcmp(answer_code(a[1]), "EACCES") == 0, "FIFO: %s", js(a[1]));
	close(fd);
	stop(d);
}
END_TEST

START_TEST(test_ragged_csv)
{
	struct daemon *d;
	const msgpack_object *rows, *ans;
	bool eof = true;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	put(d, "rag.csv", "a,b\n1,2\n3,4\n5\n6,7\n");
	put(d, "bad.jsonl", "{\"a\":1}\n[1,2]\n{\"a\":3}\n");
	c = conn(d);

	/* The good rows first, then the error naming the line. */
	h = open_r(c, "rag.csv", NULL);
	ck_assert_int_eq(h, 1);
	ck_assert_msg(rowd_read_bulk(c, h, 10, &rows, &eof) == 2,
	              "ragged CSV: the 2 good rows before line 4 first: %s %s",
	              rowd_errcode(c), rowd_errstr(c));
	expect_json(rows, "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]", "rows before the bad one");
	ck_assert_msg(!eof, "eof reported before the error");
	expect_fail(c, rowd_read_bulk(c, h, 10, &rows, &eof), "EFORMAT", "ragged row");
	ck_assert_msg(rowd_errline(c) == 4, "EFORMAT names line %lld, expected 4 (%s)",
	              (long long)rowd_errline(c), rowd_errstr(c));
	expect_ping(c, "EFORMAT");

	/* on_error skip: counted, not dropped silently. */
	h = open_r(c, "rag.csv", "{\"on_error\":\"skip\"}");
	ck_assert_msg(h > 0, "open with on_error skip: %s", rowd_errstr(c));
	ck_assert_int_eq(rowd_read_bulk(c, h, 10, &rows, &eof), 3);
	expect_json(rows, "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"},{\"a\":\"6\",\"b\":\"7\"}]",
	            "on_error skip rows");
	ans = rowd_last_answer(c);
	ck_assert_msg(eof && is_uint(field(ans, "skipped"), 1), "skip: eof and skipped 1: %s",
	              js(ans));
	ck_assert_msg(rowd_totals(c, h) == 3, "totals with on_error skip: %s %s",
	              rowd_errcode(c), rowd_errstr(c));

	/* JSON Lines: a line that is not an object. */
	h = open_r(c, "bad.jsonl", NULL);
	ck_assert_int_gt(h, 0);
	ck_assert_int_eq(rowd_read_bulk(c, h, 10, &rows, &eof), 1);
	expect_json(rows, "[{\"a\":1}]", "jsonl rows before the bad line");
	expect_fail(c, rowd_read_bulk(c, h, 10, &rows, &eof), "EFORMAT", "jsonl array line");
	ck_assert_msg(rowd_errline(c) == 2, "EFORMAT names line %lld, expected 2 (%s)",
	              (long long)rowd_errline(c), rowd_errstr(c));
	expect_ping(c, "jsonl EFORMAT");
	rowd_free(c);
	stop(d);
}
END_TEST

/* ======================================================================= */
/* writes                                                                  */
/* ======================================================================= */

#define NESTED_ROWS                                                                    \
	"[{\"a\":1,\"b\":{\"c\":[1,2.5,null,true,false]},\"s\":\"h\\u00e9llo \\u2713 \\ud834\\udd1e\"}," \
	"{\"a\":-9223372036854775808,\"b\":{},\"s\":\"\"},"                                \
	"{\"a\":18446744073709551615,\"b\":[[],[{}]],\"s\":\"q\\\"b\\\\n\\n\\t\"}]"

START_TEST(test_atomic_write)
{
	struct daemon *d;
	const msgpack_object *rows = J(NESTED_ROWS);
	uint64_t written = 0;
	rowd_ctx *c;
	int h, h2;

	d = start(NULL);
	put(d, "out.jsonl", "OLD\n");
	c = conn(d);
	h = open_w(c, "out.jsonl", NULL);
	ck_assert_msg(h == 1, "open w: %d %s %s", h, rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "jsonl"), "open w: %s",
	              js(rowd_last_answer(c)));
	h2 = open_w(c, "new.jsonl", NULL);
	ck_assert_int_eq(h2, 2);
	ck_assert_int_eq(rowd_write(c, h, &rows->via.array.ptr[0]), 0);
	ck_assert_msg(is_uint(field(rowd_last_answer(c), "written"), 1), "write: %s",
	              js(rowd_last_answer(c)));
	ck_assert_msg(rowd_write_bulk(c, h, J("[" "{\"a\":-9223372036854775808,\"b\":{},\"s\":\"\"},"
	              "{\"a\":18446744073709551615,\"b\":[[],[{}]],\"s\":\"q\\\"b\\\\n\\n\\t\"}]")) == 2,
	              "write_bulk: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_int_eq(rowd_write_bulk(c, h2, rows), 3);

	/* Before close: the targets are as they were. */
	expect_content(d, "out.jsonl", "OLD\n", "before close");
	ck_assert_msg(!exists(d, "new.jsonl"), "new.jsonl exists before close");
	ck_assert_int_eq(daemon_count_files(d, ".rowd-tmp-"), 2);

	OK(c, rowd_close(c, h, &written));
	ck_assert_msg(written == 3, "rows_written %llu, expected 3", (unsigned long long)written);
	ck_assert_msg(!exists(d, "new.jsonl"), "new.jsonl exists before its close");
	OK(c, rowd_close(c, h2, &written));
	ck_assert_int_eq(written, 3);
	ck_assert_int_eq(daemon_count_files(d, ".rowd-tmp-"), 0);

	/* Read back through the daemon. */
	expect_obj(slurp_rows(c, "out.jsonl", NULL, 2), rows, "out.jsonl read back");
	expect_obj(slurp_rows(c, "new.jsonl", NULL, 100), rows, "new.jsonl read back");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_disconnect_discards)
{
	struct daemon *d;
	rowd_ctx *c;
	int h, n;

	d = start(NULL);
	put(d, "out.jsonl", "OLD\n");
	c = conn(d);
	h = open_w(c, "out.jsonl", NULL);
	ck_assert_int_eq(h, 1);
	ck_assert_int_eq(rowd_write_bulk(c, h, J(NESTED_ROWS)), 3);
	ck_assert_int_eq(open_w(c, "new.csv", NULL), 2);
	ck_assert_int_eq(rowd_write(c, 2, J("{\"x\":\"1\"}")), 0);
	ck_assert_int_eq(daemon_count_files(d, ".rowd-tmp-"), 2);
	rowd_free(c);   /* no close */
	n = wait_tmp_files(d, 0, 2000);
	ck_assert_msg(n == 0, "%d temp files left 2 s after the disconnect", n);
	expect_content(d, "out.jsonl", "OLD\n", "after a disconnect without close");
	ck_assert_msg(!exists(d, "new.csv"), "new.csv appeared after a disconnect without close");
	ck_assert_msg(alive(d), "daemon died");
	stop(d);
}
END_TEST

START_TEST(test_sigkill_mid_write)
{
	struct daemon *d;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	put(d, "out.jsonl", "OLD\n");
	c = conn(d);
	h = open_w(c, "out.jsonl", NULL);
	ck_assert_int_eq(h, 1);
	ck_assert_int_eq(rowd_write_bulk(c, h, J(NESTED_ROWS)), 3);
	ck_assert_int_eq(open_w(c, "new.jsonl", NULL), 2);
	ck_assert_int_eq(rowd_write_bulk(c, 2, J(NESTED_ROWS)), 3);
	ck_assert_int_eq(daemon_count_files(d, ".rowd-tmp-"), 2);
	daemon_kill(d);
	rowd_free(c);
	expect_content(d, "out.jsonl", "OLD\n", "after SIGKILL");
	ck_assert_msg(!exists(d, "new.jsonl"), "new.jsonl exists after SIGKILL before close");

	ck_assert_msg(daemon_restart(d, NULL), "restart after SIGKILL failed");
	ck_assert_msg(daemon_count_files(d, ".rowd-tmp-") == 0,
	              "%d stale temp files after the restart", daemon_count_files(d, ".rowd-tmp-"));
	expect_content(d, "out.jsonl", "OLD\n", "after the restart");
	ck_assert_msg(!exists(d, "new.jsonl"), "new.jsonl exists after the restart");
	c = conn(d);
	expect_obj(slurp_rows(c, "f.csv", NULL, 10), J(SIX), "reading after the restart");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_sigterm_with_open_write)
{
	struct daemon *d;
	rowd_ctx *c;
	time_t t0;
	int h;

	d = start(NULL);
	put(d, "out.jsonl", "OLD\n");
	c = conn(d);
	h = open_w(c, "out.jsonl", NULL);
	ck_assert_int_eq(h, 1);
	ck_assert_int_eq(rowd_write_bulk(c, h, J(NESTED_ROWS)), 3);
	ck_assert_int_eq(open_w(c, "new.jsonl", NULL), 2);
	ck_assert_int_eq(rowd_write_bulk(c, 2, J(NESTED_ROWS)), 3);
	t0 = time(NULL);
	/* SIGTERM with the connection still attached and the handles open. */
	ck_assert_msg(daemon_stop(d), "SIGTERM with an open write handle: rowd did not exit 0");
	ck_assert_msg(time(NULL) - t0 <= 12, "SIGTERM took %lld s", (long long)(time(NULL) - t0));
	expect_content(d, "out.jsonl", "OLD\n", "after SIGTERM");
	ck_assert_msg(!exists(d, "new.jsonl"), "new.jsonl exists after SIGTERM without close");
	ck_assert_int_eq(daemon_count_files(d, ".rowd-tmp-"), 0);
	/* The client sees the connection end, not a hang. */
	ck_assert(rowd_ping(c) < 0);
	rowd_free(c);
	forget(d);
}
END_TEST

static char *slurp_src(const char *rel, size_t *n)
{
	char path[1024];
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof path, "%s/%s", TOP_SRCDIR, rel);
	f = fopen(path, "rb");
	ck_assert_msg(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size + 1);
	ck_assert(buf && fread(buf, 1, (size_t)size, f) == (size_t)size);
	buf[size] = '\0';
	fclose(f);
	if (n)
		*n = (size_t)size;
	return buf;
}

/* Writes rows to rel through the daemon and closes (commits). */
static void write_file(rowd_ctx *c, const char *rel, const msgpack_object *rows,
                       const char *options_json)
{
	uint64_t written = 0;
	int h = open_w(c, rel, options_json);

	ck_assert_msg(h > 0, "open %s for writing: %s: %s", rel, rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(rowd_write_bulk(c, h, rows) == (int)rows->via.array.size,
	              "write_bulk %s: %s: %s", rel, rowd_errcode(c), rowd_errstr(c));
	OK(c, rowd_close(c, h, &written));
	ck_assert_msg(written == rows->via.array.size, "%s: rows_written %llu", rel,
	              (unsigned long long)written);
}

START_TEST(test_write_formats)
{
	static const char csv_rows[] =
		"[{\"id\":\"1\",\"name\":\"John, Jr.\"},{\"id\":\"2\",\"name\":\"say \\\"hi\\\"\"},"
		"{\"id\":\"3\",\"name\":\"two\\nlines\"},{\"id\":\"4\",\"name\":\"\"},"
		"{\"id\":\"5\",\"name\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9 \\u2713\"},"
		"{\"id\":\"6\",\"name\":\" lead;trail \"}]";
	struct daemon *d;
	const msgpack_object *crows = J(csv_rows), *nrows = J(NESTED_ROWS);
	char *text, *line, *nl;
	size_t n = 0;
	uint32_t i = 0;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	write_file(c, "out.csv", crows, NULL);
	write_file(c, "out.csv.gz", crows, NULL);
	write_file(c, "out.tsv", crows, NULL);
	write_file(c, "out.json", nrows, NULL);
	write_file(c, "out.jsonl", nrows, NULL);
	write_file(c, "out.jsonl.gz", nrows, NULL);

	expect_obj(slurp_rows(c, "out.csv", NULL, 4), crows, "out.csv read back");
	expect_obj(slurp_rows(c, "out.csv.gz", NULL, 4), crows, "out.csv.gz read back");
	expect_obj(slurp_rows(c, "out.tsv", NULL, 100), crows, "out.tsv read back");
	expect_obj(slurp_rows(c, "out.json", NULL, 2), nrows, "out.json read back");
	expect_obj(slurp_rows(c, "out.jsonl", NULL, 2), nrows, "out.jsonl read back");
	expect_obj(slurp_rows(c, "out.jsonl.gz", NULL, 2), nrows, "out.jsonl.gz read back");
	ck_assert_msg(rowd_totals(c, open_r(c, "out.csv.gz", NULL)) == 6, "totals of out.csv.gz: %s",
	              rowd_errstr(c));

	/* What is on disk is the format, not something only rowd reads. */
	text = daemon_get(d, "out.csv", &n);
	ck_assert_msg(text && strncmp(text, "id,name\n1,\"John, Jr.\"\n", 22) == 0,
	              "out.csv starts with \"%.40s\"", text ? text : "(missing)");
	free(text);
	text = daemon_get(d, "out.csv.gz", &n);
	ck_assert_msg(text && n > 18 && (unsigned char)text[0] == 0x1f &&
	              (unsigned char)text[1] == 0x8b, "out.csv.gz is not gzip");
	free(text);
	text = daemon_get(d, "out.json", &n);
	ck_assert_ptr_nonnull(text);
	expect_obj(J(text), nrows, "out.json parsed as one JSON document");
	free(text);
	text = daemon_get(d, "out.jsonl", &n);
	ck_assert_ptr_nonnull(text);
	for (line = text; *line; line = nl + 1, i++) {
		nl = strchr(line, '\n');
		ck_assert_msg(nl, "out.jsonl: last line without newline");
		*nl = '\0';
		ck_assert_msg(i < 3, "out.jsonl: more than 3 lines");
		expect_obj(J(line), &nrows->via.array.ptr[i], "out.jsonl line parsed as JSON");
	}
	ck_assert_int_eq(i, 3);
	free(text);
	rowd_free(c);
	stop(d);
}
END_TEST

/* NESTED_ROWS as BSON can hold them: its largest integer is int64's. */
#define BSON_ROWS                                                                      \
	"[{\"a\":1,\"b\":{\"c\":[1,2.5,null,true,false]},\"s\":\"h\\u00e9llo \\u2713 \\ud834\\udd1e\"}," \
	"{\"a\":-9223372036854775808,\"b\":{},\"s\":\"\"},"                                \
	"{\"a\":9223372036854775807,\"b\":[[],[{}]],\"s\":\"q\\\"b\\\\n\\n\\t\"}]"

/* BSON written and read back through the daemon, plain and gzipped; what
 * is on disk is BSON (document lengths that add up to the file). */
START_TEST(test_write_bson)
{
	struct daemon *d;
	const msgpack_object *rows = J(BSON_ROWS);
	char *text;
	size_t n = 0, off = 0, docs = 0;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	c = conn(d);
	write_file(c, "out.bson", rows, NULL);
	write_file(c, "out.bson.gz", rows, NULL);
	expect_obj(slurp_rows(c, "out.bson", NULL, 2), rows, "out.bson read back");
	expect_obj(slurp_rows(c, "out.bson.gz", NULL, 2), rows, "out.bson.gz read back");
	h = open_r(c, "out.bson.gz", NULL);
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "bson") &&
	              is_str(field(rowd_last_answer(c), "codec"), "gzip"), "open out.bson.gz: %s",
	              js(rowd_last_answer(c)));
	ck_assert_msg(rowd_totals(c, h) == 3, "totals of out.bson.gz: %s", rowd_errstr(c));
	OK(c, rowd_close(c, h, NULL));

	text = daemon_get(d, "out.bson", &n);
	ck_assert_ptr_nonnull(text);
	while (off + 4 <= n) {
		const unsigned char *p = (const unsigned char *)text + off;
		size_t len = p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;

		ck_assert_msg(len >= 5 && off + len <= n && text[off + len - 1] == 0,
		              "out.bson: document %zu at %zu has length %zu", docs + 1, off, len);
		off += len;
		docs++;
	}
	ck_assert_msg(off == n && docs == 3, "out.bson: %zu documents in %zu of %zu bytes", docs,
	              off, n);
	free(text);
	text = daemon_get(d, "out.bson.gz", &n);
	ck_assert_msg(text && n > 18 && (unsigned char)text[0] == 0x1f &&
	              (unsigned char)text[1] == 0x8b, "out.bson.gz is not gzip");
	free(text);

	/* Above int64: EINVAL naming the field, and nothing of that row in
	 * the file; the handle goes on. */
	h = open_w(c, "big.bson", NULL);
	ck_assert_int_gt(h, 0);
	expect_fail(c, rowd_write(c, h, J("{\"u\":18446744073709551615}")), "EINVAL",
	            "uint64 above int64 to BSON");
	ck_assert_msg(strstr(rowd_errstr(c), "field 'u'"), "%s", rowd_errstr(c));
	ck_assert_int_eq(rowd_write(c, h, J("{\"u\":1}")), 0);
	OK(c, rowd_close(c, h, NULL));
	expect_obj(slurp_rows(c, "big.bson", NULL, 10), J("[{\"u\":1}]"), "big.bson read back");
	rowd_free(c);
	stop(d);
}
END_TEST

#ifdef HAVE_LIBZIP
/* zip through the daemon: a written archive reads back (totals, reset),
 * a member named apart from the archive decides the format, detect names
 * the member, convert writes an archive, member errors reach the client. */
START_TEST(test_zip_files)
{
	static const char crows_json[] =
		"[{\"id\":\"1\",\"name\":\"John, Jr.\"},{\"id\":\"2\",\"name\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9\"}]";
	struct daemon *d;
	const msgpack_object *crows = J(crows_json), *nrows = J(NESTED_ROWS), *ans = NULL;
	struct rowd_open_opts wo = { .mode = "w", .format = "jsonl",
	                             .codec_options_json = "{\"member\":\"data.jsonl\",\"level\":9}" };
	struct rowd_open_opts to = { .codec_options_json = "{\"level\":1}" };
	struct rowd_convert_result res;
	uint64_t written = 0;
	char *bytes;
	size_t n = 0;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	c = conn(d);
	write_file(c, "out.csv.zip", crows, NULL);
	bytes = daemon_get(d, "out.csv.zip", &n);
	ck_assert_msg(bytes && n > 30 && memcmp(bytes, "PK\x03\x04", 4) == 0, "out.csv.zip is no zip");
	free(bytes);
	h = open_r(c, "out.csv.zip", NULL);
	ck_assert_msg(h > 0, "open out.csv.zip: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "csv") &&
	              is_str(field(rowd_last_answer(c), "codec"), "zip"), "%s",
	              js(rowd_last_answer(c)));
	expect_obj(read_all(c, h, 1, "out.csv.zip"), crows, "out.csv.zip read back");
	ck_assert_msg(rowd_totals(c, h) == 2, "totals: %s", rowd_errstr(c));
	OK(c, rowd_reset(c, h));
	expect_obj(read_all(c, h, 10, "out.csv.zip"), crows, "out.csv.zip after reset");
	OK(c, rowd_close(c, h, NULL));

	/* x.zip holding data.jsonl: the member's extension decides. */
	h = rowd_open(c, "x.zip", &wo);
	ck_assert_msg(h > 0, "open x.zip for writing: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_int_eq(rowd_write_bulk(c, h, nrows), 3);
	OK(c, rowd_close(c, h, &written));
	ck_assert_int_eq(written, 3);
	h = open_r(c, "x.zip", NULL);
	ck_assert_msg(h > 0, "open x.zip: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "jsonl"), "x.zip: %s",
	              js(rowd_last_answer(c)));
	expect_obj(read_all(c, h, 2, "x.zip"), nrows, "x.zip read back");
	OK(c, rowd_close(c, h, NULL));
	OK(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"x.zip\"}", &ans));
	ck_assert_msg(is_str(field(ans, "format"), "jsonl") && is_str(field(ans, "codec"), "zip") &&
	              is_str(field(ans, "member"), "data.jsonl"), "detect x.zip: %s", js(ans));
	expect_fail(c, rowd_request_json(c, "{\"op\":\"open\",\"path\":\"x.zip\","
	                                 "\"codec_options\":{\"member\":\"nope.csv\"}}", &ans),
	            "EINVAL", "an unknown member");
	ck_assert_ptr_nonnull(strstr(rowd_errstr(c), "no member 'nope.csv'"));
	ck_assert_ptr_nonnull(strstr(rowd_errstr(c), "'data.jsonl'"));

	/* Converted into an archive on a worker; the member is named after
	 * the target. */
	put_src(d, SAMPLE, "six.csv");
	ck_assert_msg(rowd_convert(c, "six.csv", NULL, "six.jsonl.zip", &to, NULL, NULL, &res) == 0,
	              "convert: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_int_eq(res.rows_out, 6);
	expect_obj(slurp_rows(c, "six.jsonl.zip", NULL, 4), J(SIX), "six.jsonl.zip");
	OK(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"six.jsonl.zip\"}", &ans));
	ck_assert_msg(is_str(field(ans, "member"), "six.jsonl"), "detect: %s", js(ans));

	/* Not a zip, by name: ECODEC with an offset, and the connection lives. */
	put(d, "fake.csv.zip", "id,name\n1,Anna\n");
	expect_fail(c, open_r(c, "fake.csv.zip", NULL), "ECODEC", "a text file named .zip");
	ck_assert_ptr_nonnull(strstr(rowd_errstr(c), "not a zip archive"));
	expect_ping(c, "zip errors");
	rowd_free(c);
	stop(d);
}
END_TEST
#endif

/* ======================================================================= */
/* conformance through the daemon                                          */
/* ======================================================================= */

START_TEST(test_csv_spectrum)
{
	struct daemon *d;
	char dir[600];
	DIR *dh;
	struct dirent *e;
	int cases = 0;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	snprintf(dir, sizeof dir, "%s/" SPECTRUM "/csvs", TOP_SRCDIR);
	dh = opendir(dir);
	ck_assert_msg(dh, "no %s", dir);
	while ((e = readdir(dh))) {
		size_t len = strlen(e->d_name);
		char src[600], json[600], *want, *wrapped;
		int h;

		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") != 0)
			continue;
		snprintf(src, sizeof src, SPECTRUM "/csvs/%s", e->d_name);
		snprintf(json, sizeof json, SPECTRUM "/json/%.*s.json", (int)(len - 4), e->d_name);
		put_src(d, src, e->d_name);
		want = slurp_src(json, NULL);
		wrapped = malloc(strlen(want) + 3);
		ck_assert_ptr_nonnull(wrapped);
		if (strcmp(e->d_name, "location_coordinates.csv") == 0) {
			/* Upstream's expected file is a bare object with another
			 * phone number than its CSV (2095257564). */
			char *ph = strstr(want, "1234567890");

			ck_assert_ptr_nonnull(ph);
			memcpy(ph, "2095257564", 10);
			sprintf(wrapped, "[%s]", want);
		} else {
			strcpy(wrapped, want);
		}
		h = open_r(c, e->d_name, NULL);
		ck_assert_msg(h > 0, "open %s: %s %s", e->d_name, rowd_errcode(c), rowd_errstr(c));
		expect_obj(read_all(c, h, 2, e->d_name), J(wrapped), e->d_name);
		OK(c, rowd_close(c, h, NULL));
		free(want);
		free(wrapped);
		cases++;
	}
	closedir(dh);
	ck_assert_int_eq(cases, 12);
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_iterabledata)
{
	static const struct {
		const char *file, *options, *format;
	} cases[] = {
		{ "2cols6rows.csv", NULL, "csv" },
		{ "2cols6rows.csv.gz", NULL, "csv" },
		{ "2cols6rows_flat.jsonl", NULL, "jsonl" },
		{ "2cols6rows_flat.ndjson", NULL, "jsonl" },
		{ "2cols6rows_array.json", NULL, "json" },
		{ "2cols6rows_tag.json", "{\"tagname\":\"persons\"}", "json" },
		{ "2cols6rows_flat.bson", NULL, "bson" },
		{ "2cols6rows.avro", NULL, "avro" },
		{ "2cols6rows.dbf", NULL, "dbf" },
#ifdef HAVE_LIBZIP
		{ "2cols6rows.csv.zip", NULL, "csv" },
#endif
	};
	struct daemon *d;
	const msgpack_object *six = J(SIX);
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const msgpack_object *want;
		char src[300];
		int h;

		snprintf(src, sizeof src, ITERABLE "/%s", cases[i].file);
		put_src(d, src, cases[i].file);
		h = open_r(c, cases[i].file, cases[i].options);
		ck_assert_msg(h > 0, "open %s: %s %s", cases[i].file, rowd_errcode(c), rowd_errstr(c));
		ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), cases[i].format),
		              "%s: detected %s", cases[i].file, js(rowd_last_answer(c)));
		want = strcmp(cases[i].file, "2cols6rows.dbf") == 0 ? J(SIX_DBF) : six;
		expect_obj(read_all(c, h, 4, cases[i].file), want, cases[i].file);
		ck_assert_msg(rowd_totals(c, h) == 6, "%s: totals: %s %s", cases[i].file,
		              rowd_errcode(c), rowd_errstr(c));
		OK(c, rowd_reset(c, h));
		expect_obj(read_all(c, h, 100, cases[i].file), want, "after reset");
		OK(c, rowd_close(c, h, NULL));
	}
	rowd_free(c);
	stop(d);
}
END_TEST

/* Avro written by the daemon (our own writer) reads back through it, also
 * behind gzip, and is an Avro container on disk. */
START_TEST(test_avro_write)
{
	static const char rows[] =
		"[{\"id\":1,\"name\":\"John\",\"tags\":[\"a\"],\"geo\":{\"lat\":1.5}},"
		"{\"id\":2,\"name\":null,\"tags\":[],\"geo\":null},"
		"{\"id\":3,\"name\":\"\u00e9\",\"tags\":null,\"geo\":{\"lat\":-2.5}}]";
	struct daemon *d;
	const msgpack_object *want = J(rows);
	char *text;
	size_t n = 0;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	write_file(c, "out.avro", want, NULL);
	write_file(c, "out.avro.gz", want, "{\"codec\":\"deflate\",\"block_rows\":2}");
	expect_obj(slurp_rows(c, "out.avro", NULL, 2), want, "out.avro read back");
	expect_obj(slurp_rows(c, "out.avro.gz", NULL, 100), want, "out.avro.gz read back");
	ck_assert_msg(rowd_totals(c, open_r(c, "out.avro.gz", NULL)) == 3, "totals of out.avro.gz: %s",
	              rowd_errstr(c));
	text = daemon_get(d, "out.avro", &n);
	ck_assert_msg(text && n > 4 && memcmp(text, "Obj\x01", 4) == 0, "out.avro is not Avro");
	free(text);
	/* A row that does not fit the schema made from the first row. */
	{
		int h = open_w(c, "bad.avro", NULL);

		ck_assert_int_gt(h, 0);
		expect_fail(c, rowd_write_bulk(c, h, J("[{\"id\":1},{\"id\":\"x\"}]")), "EINVAL",
		            "avro row of another type");
		ck_assert_msg(strstr(rowd_errstr(c), "field \"id\""), "message: %s", rowd_errstr(c));
		OK(c, rowd_close(c, h, NULL));
	}
	rowd_free(c);
	stop(d);
}
END_TEST

/* Whether hello says this build reads the format. */
static bool format_built(rowd_ctx *c, const char *name)
{
	const msgpack_object *ans = NULL, *fmts;

	OK(c, rowd_request_json(c, "{\"op\":\"hello\"}", &ans));
	fmts = field(ans, "formats");
	ck_assert_msg(fmts && fmts->type == MSGPACK_OBJECT_ARRAY, "hello: %s", js(ans));
	for (uint32_t i = 0; i < fmts->via.array.size; i++) {
		const msgpack_object *f = &fmts->via.array.ptr[i], *av = field(f, "available"),
		                     *rd = field(f, "read");

		/* xlsx without libzip and libxml2 is available, write only. */
		if (is_str(field(f, "name"), name))
			return av && av->type == MSGPACK_OBJECT_BOOLEAN && av->via.boolean &&
			       rd && rd->type == MSGPACK_OBJECT_BOOLEAN && rd->via.boolean;
	}
	return false;
}

/* XLS and XLSX: rows, columns, totals, reset, tables, sheet option, and
 * clear errors; a format this build lacks is ENOTSUP. */
START_TEST(test_spreadsheets)
{
	static const char six_numeric[] =
		"[{\"id\":1,\"name\":\"John\"},{\"id\":2,\"name\":\"Mary\"},"
		"{\"id\":3,\"name\":\"Michael\"},{\"id\":4,\"name\":\"Anna\"},"
		"{\"id\":5,\"name\":\"Orban\"},{\"id\":6,\"name\":\"Lucy\"}]";
	static const struct {
		const char *file, *format, *tables_json;
		bool numeric;       /* ids are numbers (README of the fixtures) */
	} cases[] = {
		{ "2cols6rows.xlsx", "xlsx", "{\"op\":\"tables\",\"path\":\"2cols6rows.xlsx\"}", false },
		{ "2cols6rows.xls", "xls", "{\"op\":\"tables\",\"path\":\"2cols6rows.xls\"}", true },
	};
	struct daemon *d;
	const msgpack_object *six = J(SIX), *numeric = J(six_numeric);
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *f = cases[i].file;
		const msgpack_object *ans = NULL, *want = cases[i].numeric ? numeric : six;
		char src[300], bad[32];
		int h;

		snprintf(src, sizeof src, ITERABLE "/%s", f);
		put_src(d, src, f);
		if (!format_built(c, cases[i].format)) {
			expect_fail(c, open_r(c, f, NULL), "ENOTSUP", f);
			continue;
		}
		h = open_r(c, f, NULL);
		ck_assert_msg(h > 0, "open %s: %s %s", f, rowd_errcode(c), rowd_errstr(c));
		ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), cases[i].format) &&
		              is_str(field(rowd_last_answer(c), "codec"), "none"),
		              "%s: detected %s", f, js(rowd_last_answer(c)));
		expect_json(field(rowd_last_answer(c), "columns"), "[\"id\",\"name\"]", f);
		expect_obj(read_all(c, h, 4, f), want, f);
		ck_assert_msg(rowd_totals(c, h) == 6, "%s: totals: %s %s", f, rowd_errcode(c), rowd_errstr(c));
		OK(c, rowd_reset(c, h));
		expect_obj(read_all(c, h, 100, f), want, "after reset");
		OK(c, rowd_close(c, h, NULL));

		OK(c, rowd_request_json(c, cases[i].tables_json, &ans));
		expect_json(field(ans, "tables"), "[\"\u041b\u0438\u0441\u04421\"]", "tables");
		h = open_r(c, f, "{\"sheet\":\"\u041b\u0438\u0441\u04421\"}");
		ck_assert_msg(h > 0, "%s by sheet name: %s %s", f, rowd_errcode(c), rowd_errstr(c));
		expect_obj(read_all(c, h, 100, f), want, "sheet by name");
		OK(c, rowd_close(c, h, NULL));
		expect_fail(c, open_r(c, f, "{\"sheet\":\"nope\"}"), "EINVAL", "no such sheet");
		ck_assert_msg(strstr(rowd_errstr(c), "'nope'"), "%s", rowd_errstr(c));
		expect_fail(c, open_r(c, f, "{\"sheet\":1}"), "EINVAL", "sheet index out of range");
		expect_fail(c, open_r(c, f, "{\"delimiter\":\",\"}"), "EINVAL", "unknown option");

		/* Garbage under the name, and a write. */
		snprintf(bad, sizeof bad, "bad.%s", cases[i].format);
		put(d, bad, "this is no spreadsheet\n");
		expect_fail(c, open_r(c, bad, NULL), "EFORMAT", bad);
		snprintf(bad, sizeof bad, "out.%s", cases[i].format);
		if (strcmp(cases[i].format, "xls") == 0) {   /* xlsx: test_xlsx_files */
			expect_fail(c, open_w(c, bad, NULL), "ENOTSUP", "write");
			ck_assert(!exists(d, bad));
		}
	}
	expect_ping(c, "spreadsheets");
	rowd_free(c);
	stop(d);
}
END_TEST

/* XLSX written through the daemon (our own writer) and read back: the
 * reader's default strings and native types, totals, tables, a convert,
 * a refused row; behind a codec it is ENOTSUP and leaves no file. */
START_TEST(test_xlsx_files)
{
	static const char rows_json[] =
		"[{\"id\":1,\"name\":\"John, Jr. & <co>\",\"score\":1.5,\"ok\":true},"
		"{\"id\":2,\"name\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9\",\"score\":-0.25,\"ok\":false},"
		"{\"id\":3,\"name\":\"\",\"score\":null}]";
	static const char text_json[] =
		"[{\"id\":\"1\",\"name\":\"John, Jr. & <co>\",\"score\":\"1.5\",\"ok\":\"TRUE\"},"
		"{\"id\":\"2\",\"name\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9\",\"score\":\"-0.25\",\"ok\":\"FALSE\"},"
		"{\"id\":\"3\",\"name\":\"\",\"score\":null,\"ok\":null}]";
	static const char native_json[] =
		"[{\"id\":1,\"name\":\"John, Jr. & <co>\",\"score\":1.5,\"ok\":true},"
		"{\"id\":2,\"name\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9\",\"score\":-0.25,\"ok\":false},"
		"{\"id\":3,\"name\":\"\",\"score\":null,\"ok\":null}]";
	struct daemon *d;
	const msgpack_object *ans = NULL;
	struct rowd_convert_result res;
	char *bytes;
	size_t n = 0;
	rowd_ctx *c;
	int h;

	d = start(NULL);
	c = conn(d);
	if (!format_built(c, "xlsx")) {
		rowd_free(c);
		stop(d);
		return;
	}
	write_file(c, "out.xlsx", J(rows_json), "{\"sheet\":\"Data & more\"}");
	bytes = daemon_get(d, "out.xlsx", &n);
	ck_assert_msg(bytes && n > 30 && memcmp(bytes, "PK\x03\x04", 4) == 0, "out.xlsx is no zip");
	free(bytes);
	h = open_r(c, "out.xlsx", NULL);
	ck_assert_msg(h > 0, "open out.xlsx: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(is_str(field(rowd_last_answer(c), "format"), "xlsx"), "%s", js(rowd_last_answer(c)));
	expect_json(field(rowd_last_answer(c), "columns"), "[\"id\",\"name\",\"score\",\"ok\"]", "columns");
	expect_obj(read_all(c, h, 2, "out.xlsx"), J(text_json), "out.xlsx as text");
	ck_assert_msg(rowd_totals(c, h) == 3, "totals: %s", rowd_errstr(c));
	OK(c, rowd_close(c, h, NULL));
	expect_obj(slurp_rows(c, "out.xlsx", "{\"types\":\"native\"}", 10), J(native_json),
	           "out.xlsx native");
	OK(c, rowd_request_json(c, "{\"op\":\"tables\",\"path\":\"out.xlsx\"}", &ans));
	expect_json(field(ans, "tables"), "[\"Data & more\"]", "tables");
	OK(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"out.xlsx\"}", &ans));
	ck_assert_msg(is_str(field(ans, "format"), "xlsx"), "detect: %s", js(ans));

	/* A convert from CSV on a worker. */
	put_src(d, SAMPLE, "six.csv");
	ck_assert_msg(rowd_convert(c, "six.csv", NULL, "six.xlsx", NULL, NULL, NULL, &res) == 0,
	              "convert: %s %s", rowd_errcode(c), rowd_errstr(c));
	ck_assert_int_eq(res.rows_out, 6);
	expect_obj(slurp_rows(c, "six.xlsx", NULL, 4), J(SIX), "six.xlsx");

	/* A row with a key the header lacks: EINVAL naming it; the rows
	 * around it are kept. */
	h = open_w(c, "some.xlsx", NULL);
	ck_assert_int_gt(h, 0);
	expect_fail(c, rowd_write_bulk(c, h, J("[{\"a\":1},{\"b\":2}]")), "EINVAL", "a key not in the header");
	ck_assert_msg(strstr(rowd_errstr(c), "row 2: key 'b'"), "message: %s", rowd_errstr(c));
	OK(c, rowd_close(c, h, NULL));
	expect_obj(slurp_rows(c, "some.xlsx", "{\"types\":\"native\"}", 10), J("[{\"a\":1}]"), "some.xlsx");

	/* Options, and a raw format behind a codec. */
	expect_fail(c, open_w(c, "opt.xlsx", "{\"sheet\":\"a/b\"}"), "EINVAL", "bad sheet name");
	expect_fail(c, open_w(c, "opt.xlsx", "{\"level\":3}"), "EINVAL", "unknown option");
	ck_assert_msg(strstr(rowd_errstr(c), "level"), "message: %s", rowd_errstr(c));
	ck_assert(!exists(d, "opt.xlsx"));
	expect_fail(c, open_w(c, "x.xlsx.gz", NULL), "ENOTSUP", "xlsx behind gzip");
	ck_assert_msg(strstr(rowd_errstr(c), "codec gzip"), "message: %s", rowd_errstr(c));
	ck_assert(!exists(d, "x.xlsx.gz"));
	expect_ping(c, "xlsx writes");
	rowd_free(c);
	stop(d);
}
END_TEST

/* Each JSONTestSuite file of the given prefix as the value of one JSON
 * Lines row: {"v": <document>}. */
static void json_suite(char prefix)
{
	struct daemon *d;
	char dir[600];
	DIR *dh;
	struct dirent *e;
	int cases = 0, want_cases = prefix == 'n' ? 188 : prefix == 'y' ? 95 : 35;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	snprintf(dir, sizeof dir, "%s/" JSUITE, TOP_SRCDIR);
	dh = opendir(dir);
	ck_assert_msg(dh, "no %s", dir);
	while ((e = readdir(dh))) {
		char src[600], *doc, *row;
		const msgpack_object *rows;
		size_t n = 0;
		bool eof = false;
		int h, k;

		if (e->d_name[0] != prefix || e->d_name[1] != '_')
			continue;
		snprintf(src, sizeof src, JSUITE "/%s", e->d_name);
		doc = slurp_src(src, &n);
		row = malloc(n + 16);
		ck_assert_ptr_nonnull(row);
		if (prefix == 'y') {
			/* Outside strings a newline is whitespace; keep the row on
			 * one line. */
			for (size_t i = 0; i < n; i++)
				if (doc[i] == '\n' || doc[i] == '\r')
					doc[i] = ' ';
		}
		memcpy(row, "{\"v\": ", 6);
		memcpy(row + 6, doc, n);
		memcpy(row + 6 + n, "}\n", 3);
		ck_assert(daemon_put(d, "t.jsonl", row, n + 8));
		h = open_r(c, "t.jsonl", NULL);
		ck_assert_msg(h > 0, "%s: open: %s %s", e->d_name, rowd_errcode(c), rowd_errstr(c));
		k = rowd_read_bulk(c, h, 10, &rows, &eof);
		if (prefix == 'n') {
			ck_assert_msg(k < 0, "%s: accepted: %s", e->d_name,
			              js(rowd_last_answer(c)));
			if (strcmp(rowd_errcode(c), "ELIMIT") != 0) {
				ck_assert_msg(strcmp(rowd_errcode(c), "EFORMAT") == 0, "%s: %s %s",
				              e->d_name, rowd_errcode(c), rowd_errstr(c));
				ck_assert_msg(rowd_errline(c) == 1, "%s: EFORMAT names line %lld (%s)",
				              e->d_name, (long long)rowd_errline(c), rowd_errstr(c));
			} else {
				ck_assert_msg(strstr(e->d_name, "opening_arrays") ||
				              strstr(e->d_name, "open_array"),
				              "%s: ELIMIT for a small document: %s", e->d_name,
				              rowd_errstr(c));
			}
		} else if (prefix == 'y') {
			row[7 + n] = '\0';   /* the row without its newline */
			ck_assert_msg(k == 1, "%s: %d rows (%s %s)", e->d_name, k, rowd_errcode(c),
			              rowd_errstr(c));
			expect_obj(&rows->via.array.ptr[0], J(row), e->d_name);
		} else {
			ck_assert_msg(k == 1 || strcmp(rowd_errcode(c), "EFORMAT") == 0 ||
			              strcmp(rowd_errcode(c), "ELIMIT") == 0, "%s: %d %s %s",
			              e->d_name, k, rowd_errcode(c), rowd_errstr(c));
		}
		ck_assert_msg(!rowd_ctx_broken(c), "%s: connection broke", e->d_name);
		OK(c, rowd_close(c, h, NULL));
		expect_ping(c, e->d_name);
		free(doc);
		free(row);
		cases++;
	}
	closedir(dh);
	ck_assert_int_eq(cases, want_cases);
	ck_assert(alive(d));
	rowd_free(c);
	c = conn(d);
	expect_ping(c, "a new connection");
	rowd_free(c);
	stop(d);
}

START_TEST(test_json_suite_n)
{
	json_suite('n');
}
END_TEST

START_TEST(test_json_suite_y)
{
	json_suite('y');
}
END_TEST

START_TEST(test_json_suite_i)
{
	json_suite('i');
}
END_TEST

/* ======================================================================= */
/* detection                                                               */
/* ======================================================================= */

/* Without a telling extension: codec by magic bytes, format by content. */
START_TEST(test_detect_by_content)
{
	static const struct {
		const char *src, *name, *format, *codec;
	} cases[] = {
		{ "2cols6rows.csv.gz", "gzdata", "csv", "gzip" },
		{ "2cols6rows_flat.jsonl", "people.data", "jsonl", "none" },
		{ "2cols6rows_array.json", "array.data", "json", "none" },
		{ "2cols6rows.csv", "plain", "csv", "none" },
		{ "2cols6rows_flat.bson", "dump.data", "bson", "none" },
	};
	struct daemon *d;
	const msgpack_object *ans = NULL;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char src[300], req_json[300];
		int h;

		snprintf(src, sizeof src, ITERABLE "/%s", cases[i].src);
		put_src(d, src, cases[i].name);
		snprintf(req_json, sizeof req_json, "{\"op\":\"detect\",\"path\":\"%s\"}", cases[i].name);
		OK(c, rowd_request_json(c, req_json, &ans));
		ck_assert_msg(is_str(field(ans, "format"), cases[i].format) &&
		              is_str(field(ans, "codec"), cases[i].codec), "detect %s: %s",
		              cases[i].name, js(ans));
		h = open_r(c, cases[i].name, NULL);
		ck_assert_msg(h > 0, "open %s: %s %s", cases[i].name, rowd_errcode(c), rowd_errstr(c));
		ans = rowd_last_answer(c);
		ck_assert_msg(is_str(field(ans, "format"), cases[i].format) &&
		              is_str(field(ans, "codec"), cases[i].codec), "open %s: %s",
		              cases[i].name, js(ans));
		expect_obj(read_all(c, h, 5, cases[i].name), J(SIX), cases[i].name);
		OK(c, rowd_close(c, h, NULL));
	}
	/* An explicit format wins over the extension. */
	put(d, "rows.txt", "{\"a\":1}\n{\"a\":2}\n");
	{
		struct rowd_open_opts o = { .format = "jsonl" };
		int h = rowd_open(c, "rows.txt", &o);

		ck_assert_msg(h > 0, "open rows.txt format jsonl: %s", rowd_errstr(c));
		expect_obj(read_all(c, h, 5, "rows.txt"), J("[{\"a\":1},{\"a\":2}]"), "format jsonl");
	}
	expect_fail(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"missing.csv\"}", &ans),
	            "ENOENT", "detect of a missing file");
	expect_fail(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"../x.csv\"}", &ans),
	            "EACCES", "detect outside the root");
	expect_ping(c, "detect errors");
	rowd_free(c);
	stop(d);
}
END_TEST

/* BUG: daemon/jobs.c do_detect() answers only `format` and `codec`;
 * DESIGN.md (`detect` op) promises, for text formats, `encoding`,
 * `delimiter` and `header` too. */
START_TEST(test_detect_text_fields)
{
	struct daemon *d;
	const msgpack_object *ans = NULL;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	OK(c, rowd_request_json(c, "{\"op\":\"detect\",\"path\":\"f.csv\"}", &ans));
	ck_assert_msg(is_str(field(ans, "format"), "csv") && is_str(field(ans, "codec"), "none"),
	              "detect f.csv: %s", js(ans));
	ck_assert_msg(is_str(field(ans, "delimiter"), ","), "detect f.csv: no delimiter \",\": %s",
	              js(ans));
	ck_assert_msg(is_true(field(ans, "header")), "detect f.csv: no header true: %s", js(ans));
	ck_assert_msg(field(ans, "encoding") && field(ans, "encoding")->type == MSGPACK_OBJECT_STR,
	              "detect f.csv: no encoding: %s", js(ans));
	rowd_free(c);
	stop(d);
}
END_TEST

/* BUG: daemon/detect.c does no CSV delimiter sniffing (DESIGN.md,
 * Detection: "CSV delimiter and header sniffing"): a .csv file separated
 * by ';' or tabs is read as one column named "a;b" with values "1;2".
 * Reading it without options must give the two columns, and detect must
 * say the delimiter. */
START_TEST(test_sniff_delimiter)
{
	static const struct {
		const char *name, *text, *delim;
	} cases[] = {
		{ "semi.csv", "a;b\n1;2\n3;4\n", ";" },
		{ "tabs.csv", "a\tb\n1\t2\n3\t4\n", "\t" },
		{ "pipes.csv", "a|b\n1|2\n3|4\n", "|" },
	};
	struct daemon *d;
	rowd_ctx *c;

	d = start(NULL);
	c = conn(d);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const msgpack_object *ans = NULL;
		char req_json[200];

		put(d, cases[i].name, cases[i].text);
		/* With the delimiter given, it reads right. */
		snprintf(req_json, sizeof req_json, "{\"delimiter\":\"%s\"}",
		         cases[i].delim[0] == '\t' ? "\\t" : cases[i].delim);
		expect_obj(slurp_rows(c, cases[i].name, req_json, 10),
		           J("[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]"), "with the delimiter option");
		expect_obj(slurp_rows(c, cases[i].name, NULL, 10),
		           J("[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]"), cases[i].name);
		snprintf(req_json, sizeof req_json, "{\"op\":\"detect\",\"path\":\"%s\"}", cases[i].name);
		OK(c, rowd_request_json(c, req_json, &ans));
		ck_assert_msg(is_str(field(ans, "delimiter"), cases[i].delim), "detect %s: %s",
		              cases[i].name, js(ans));
	}
	rowd_free(c);
	stop(d);
}
END_TEST

/* ======================================================================= */
/* hostile protocol                                                        */
/* ======================================================================= */

/* A string literal as bytes + length (no terminating NUL). */
#define LIT(s) (s), sizeof(s) - 1

/* Sends bytes on a fresh raw connection and expects: the answers of
 * `before` valid requests, one error answer with code, then the close. */
static void expect_fatal(struct daemon *d, const void *bytes, size_t n, int before,
                         const char *code, const char *what)
{
	const msgpack_object *a[8];
	bool eof = false;
	int fd = daemon_connect_raw(d), k;
	rowd_ctx *c;

	ck_assert_int_ge(fd, 0);
	raw_send(fd, bytes, n);
	k = raw_answers(fd, a, before + 1, &eof);
	ck_assert_msg(k == before + 1, "%s: %d answers, expected %d", what, k, before + 1);
	for (int i = 0; i < before; i++)
		ck_assert_msg(is_true(field(a[i], "ok")), "%s: answer %d: %s", what, i, js(a[i]));
	ck_assert_msg(strcmp(answer_code(a[before]), code) == 0, "%s: %s, expected %s", what,
	              js(a[before]), code);
	ck_assert_msg(eof || raw_eof(fd), "%s: the connection stays open after %s", what, code);
	close(fd);
	ck_assert_msg(alive(d), "%s: the daemon died", what);
	c = conn(d);
	expect_ping(c, what);
	rowd_free(c);
}

START_TEST(test_undecodable_frame)
{
	struct daemon *d;
	struct mpbuf b;

	d = start(NULL);
	/* A map header whose first key is the never-used byte 0xc1. */
	expect_fatal(d, LIT("\x81\xc1"), 0, "EPROTO", "map + 0xc1");
	mpbuf_init(&b);
	req(&b, "{\"id\":1,\"op\":\"ping\"}");
	ck_assert(mpbuf_append(&b, LIT("\x82\xa2id\x02\xa2op\xc1")) == 0);
	expect_fatal(d, b.data, b.len, 1, "EPROTO", "ping then map + 0xc1");
	mpbuf_free(&b);
	stop(d);
}
END_TEST

START_TEST(test_huge_headers)
{
	struct daemon *d;

	d = start(NULL);
	/* {id: 1, rows: array32 of 4G elements}: refused before allocating. */
	expect_fatal(d, LIT("\x82\xa2id\x01\xa4rows\xdd\xff\xff\xff\xff"), 0, "ELIMIT",
	             "array32 of 4G elements");
	expect_fatal(d, LIT("\x81\xa4rows\xdf\xff\xff\xff\xff"), 0, "ELIMIT", "map32 of 4G entries");
	/* A string header far above the frame limit. */
	expect_fatal(d, LIT("\x81\xa4path\xdb\x7f\xff\xff\xff"), 0, "ELIMIT", "str32 of 2 GB");
	stop(d);
}
END_TEST

START_TEST(test_text_line_limit)
{
	static const char *const extra[] = { "-o", "text_line=1024", NULL };
	struct daemon *d;
	const msgpack_object *a[4];
	char *line, *text;
	bool eof;
	int fd, k;

	d = start(extra);
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	/* 1000 bytes: under the limit. Then 2000: over it. */
	line = malloc(4000);
	ck_assert_ptr_nonnull(line);
	memset(line, ' ', 996);
	memcpy(line + 996, "ping\n", 5);
	memset(line + 1001, 'x', 2000);
	line[3001] = '\n';
	raw_send(fd, line, 3002);
	text = raw_text(fd, &eof);
	k = text_answers(text, a, 4);
	ck_assert_msg(k == 2, "%d answers, expected 2: %s", k, text);
	ck_assert_msg(is_true(field(a[0], "pong")), "1000-byte line: %s", js(a[0]));
	ck_assert_msg(strcmp(answer_code(a[1]), "ELIMIT") == 0, "2000-byte line: %s", js(a[1]));
	ck_assert_msg(eof, "the connection stays open after ELIMIT");
	close(fd);
	free(text);

	/* Over the limit before any newline arrives. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	memset(line, 'y', 2000);
	raw_send(fd, line, 2000);
	text = raw_text(fd, &eof);
	k = text_answers(text, a, 4);
	ck_assert_msg(k == 1 && strcmp(answer_code(a[0]), "ELIMIT") == 0,
	              "long line without newline: %s", text);
	ck_assert_msg(eof, "the connection stays open after ELIMIT");
	close(fd);
	free(text);
	free(line);
	ck_assert(alive(d));
	stop(d);
}
END_TEST

START_TEST(test_half_frame)
{
	struct daemon *d;
	const msgpack_object *a[1];
	bool eof;
	rowd_ctx *c;
	int fd;

	d = start(NULL);
	/* Half a frame, then gone. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	raw_send(fd, "\x83\xa2id\x01\xa2op\xa4pi", 11);
	close(fd);
	/* Half a frame, then only the sending side shut: nothing to answer,
	 * the daemon closes. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	raw_send(fd, "\x83\xa2id\x01\xa2op\xa4pi", 11);
	ck_assert(shutdown(fd, SHUT_WR) == 0);
	ck_assert_msg(raw_answers(fd, a, 1, &eof) <= 1 && eof,
	              "half a frame + shutdown: the connection stays open");
	close(fd);
	/* Bytes trickled one at a time still make a request. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	{
		static const char ping[] = "\x82\xa2id\x07\xa2op\xa4ping";

		for (size_t i = 0; i + 1 < sizeof ping; i++) {
			raw_send(fd, ping + i, 1);
			usleep(1000);
		}
	}
	ck_assert_msg(raw_answers(fd, a, 1, &eof) == 1 && is_uint(field(a[0], "id"), 7) &&
	              is_true(field(a[0], "pong")), "trickled ping");
	close(fd);
	ck_assert(alive(d));
	c = conn(d);
	expect_ping(c, "half frames");
	rowd_free(c);
	stop(d);
}
END_TEST

START_TEST(test_half_close)
{
	static const char text_req[] = "open f.csv\nread_bulk 1 2\n";
	struct daemon *d;
	const msgpack_object *a[4];
	struct mpbuf b;
	char *text;
	bool eof;
	int fd, k;

	d = start(NULL);
	/* Text mode, as `printf ... | socat` does. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	raw_send(fd, text_req, sizeof text_req - 1);
	ck_assert(shutdown(fd, SHUT_WR) == 0);
	text = raw_text(fd, &eof);
	ck_assert_msg(eof, "text half-close: no EOF after the answers: %s", text);
	k = text_answers(text, a, 4);
	ck_assert_msg(k == 2, "text half-close: %d answers: %s", k, text);
	ck_assert_msg(is_uint(field(a[0], "handle"), 1) && is_uint(field(a[0], "id"), 1),
	              "open: %s", js(a[0]));
	ck_assert_msg(is_uint(field(a[1], "id"), 2), "read_bulk id: %s", js(a[1]));
	expect_json(field(a[1], "rows"),
	            "[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"}]",
	            "text read_bulk");
	free(text);
	close(fd);

	/* The same in binary. */
	fd = daemon_connect_raw(d);
	ck_assert_int_ge(fd, 0);
	mpbuf_init(&b);
	req(&b, "{\"id\":\"o\",\"op\":\"open\",\"path\":\"f.csv\"}");
	req(&b, "{\"id\":\"r\",\"op\":\"read_bulk\",\"handle\":1,\"n\":6}");
	raw_send(fd, b.data, b.len);
	mpbuf_free(&b);
	ck_assert(shutdown(fd, SHUT_WR) == 0);
	k = raw_answers(fd, a, 3, &eof);
	ck_assert_msg(k == 2 && eof, "binary half-close: %d answers, eof %d", k, eof);
	ck_assert_msg(is_str(field(a[0], "id"), "o") && is_uint(field(a[0], "handle"), 1),
	              "open: %s", js(a[0]));
	ck_assert_msg(is_str(field(a[1], "id"), "r"), "read_bulk: %s", js(a[1]));
	expect_obj(field(a[1], "rows"), J(SIX), "binary read_bulk");
	close(fd);
	stop(d);
}
END_TEST

/* ======================================================================= */

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_hello_ping);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_read_csv);
	tcase_add_test(tc, test_read_one_by_one);
	tcase_add_test(tc, test_many_handles);
	tcase_add_test(tc, test_pipelining);
	tcase_add_test(tc, test_queued_behind_failed_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_symlinks);
	tcase_add_test(tc, test_handle_errors);
	tcase_add_test(tc, test_handles_limit);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_ragged_csv);
	suite_add_tcase(s, tc);

	tc = tcase_create("writes");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_atomic_write);
	tcase_add_test(tc, test_disconnect_discards);
	tcase_add_test(tc, test_sigkill_mid_write);
	tcase_add_test(tc, test_sigterm_with_open_write);
	tcase_add_test(tc, test_write_formats);
	tcase_add_test(tc, test_write_bson);
#ifdef HAVE_LIBZIP
	tcase_add_test(tc, test_zip_files);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("conformance");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_csv_spectrum);
	tcase_add_test(tc, test_iterabledata);
	tcase_add_test(tc, test_avro_write);
	tcase_add_test(tc, test_spreadsheets);
	tcase_add_test(tc, test_xlsx_files);
	tcase_add_test(tc, test_json_suite_n);
	tcase_add_test(tc, test_json_suite_y);
	tcase_add_test(tc, test_json_suite_i);
	suite_add_tcase(s, tc);

	tc = tcase_create("detect");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_detect_by_content);
	tcase_add_test(tc, test_detect_text_fields);
	tcase_add_test(tc, test_sniff_delimiter);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, cleanup_live, NULL);
	tcase_add_test(tc, test_undecodable_frame);
	tcase_add_test(tc, test_huge_headers);
	tcase_add_test(tc, test_text_line_limit);
	tcase_add_test(tc, test_half_frame);
	tcase_add_test(tc, test_half_close);
	suite_add_tcase(s, tc);
	return s;
}

/* Check ends a failed test's process with _exit: no exit handler runs,
 * and the daemon dies with it (PR_SET_PDEATHSIG) but its temp dir stays.
 * So every temp dir lives in one run dir ($TMPDIR for the daemons too);
 * what is left there at the end belongs to failed tests: their daemon logs
 * are shown, then it all goes. */
static void report_leftovers(const char *run_dir)
{
	DIR *dh = opendir(run_dir);
	struct dirent *e;

	while (dh && (e = readdir(dh))) {
		struct daemon gone = { .pid = -1 };
		char *log;

		if (strncmp(e->d_name, "rowd-e2e-", 9) != 0)
			continue;
		snprintf(gone.dir, sizeof gone.dir, "%s/%.200s", run_dir, e->d_name);
		snprintf(gone.log, sizeof gone.log, "%.256s/rowd.log", gone.dir);
		log = NULL;
		{
			FILE *f = fopen(gone.log, "r");
			size_t cap = 0;

			if (f && getdelim(&log, &cap, 0, f) > 0)
				fprintf(stderr, "---- daemon log of a failed test (%s) ----\n%s----\n",
				        e->d_name, log);
			if (f)
				fclose(f);
		}
		free(log);
		daemon_cleanup(&gone);
	}
	if (dh)
		closedir(dh);
	{
		/* The rest: valgrind's vgdb pipes of killed daemons. */
		struct daemon all = { .pid = -1 };

		snprintf(all.dir, sizeof all.dir, "%s", run_dir);
		daemon_cleanup(&all);
	}
}

int main(void)
{
	char run_dir[] = "/tmp/rowd-e2e-run-XXXXXX";
	SRunner *sr;
	int failed;

	/* A daemon that goes away must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(run_dir) || setenv("TMPDIR", run_dir, 1) < 0) {
		perror("test_e2e: temp dir");
		return 99;
	}
	sr = srunner_create(e2e_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	report_leftovers(run_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
