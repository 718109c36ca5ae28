/* Clients and conditions that misbehave, against the real daemon: write
 * errors (a file size limit, a full file system), disconnects while a
 * write is in flight, a half-closed socket during a stream, a slow reader,
 * 1000 connections streaming at once, 10k open/close cycles, a daemon out
 * of file descriptors, SIGKILL during a write below a subdirectory.
 *
 * After each scenario the daemon must answer ping, hold no handle, have
 * as many descriptors open as before (/proc/PID/fd) and an RSS within
 * 16 MiB of what it had before.
 *
 * Covered elsewhere, not repeated here: a disconnect after write_bulk with
 * the handle open, SIGKILL after write_bulk and the restart's clean-up,
 * SIGTERM with write handles open, half a frame then a disconnect or a
 * shutdown, half-closed text and binary sessions (test_e2e.c); a stalled
 * reader, a disconnect in the middle of a stream (test_stream.c); SIGTERM
 * with streams and converts running (tests/shell/config.sh). */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>

#include "rowd/rowd.h"
#include "daemon_fixture.h"

#define SAMPLE "tests/data/conformance/iterabledata/2cols6rows.csv"
#define RSS_SLACK_KIB (16 * 1024)

/* Under a sanitizer or valgrind the daemon's freed memory sits in a
 * quarantine (ASan's holds up to 256 MB): RSS says nothing there. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED() false
#else
#define RSS_CHECKED() (!getenv("ROWD_VALGRIND") || !*getenv("ROWD_VALGRIND") || \
                       strcmp(getenv("ROWD_VALGRIND"), "0") == 0)
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the daemon of the test and what it holds ------------------------------ */

static struct daemon D;
static bool D_live;
static char mounted[400];   /* a tmpfs to take down before the clean-up */

static void cleanup(void)
{
	if (mounted[0]) {
		umount2(mounted, MNT_DETACH);
		mounted[0] = '\0';
	}
	if (D_live) {
		daemon_cleanup(&D);
		D_live = false;
	}
}

static void start(const char *const *extra)
{
	static bool registered;

	if (!registered) {
		atexit(cleanup);   /* also when an assertion ends the test */
		registered = true;
	}
	ck_assert_msg(daemon_start(&D, extra), "rowd did not start (log %s)", D.log);
	D_live = true;
	ck_assert(daemon_put_src(&D, SAMPLE, "f.csv"));
}

static void stop(void)
{
	ck_assert_msg(daemon_stop(&D), "rowd did not exit 0 on SIGTERM");
	daemon_cleanup(&D);
	D_live = false;
}

static bool alive(void)
{
	return D.pid > 0 && waitpid(D.pid, NULL, WNOHANG) == 0;
}

static int fd_count(void)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)D.pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static long rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)D.pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* CPU seconds the daemon has used (user + system). */
static double cpu_seconds(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)D.pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof buf, f))
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')');   /* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static rowd_ctx *conn(void)
{
	rowd_ctx *c = rowd_connect(D.sock);

	ck_assert_msg(c && !rowd_ctx_broken(c), "connect: %s", c ? rowd_errstr(c) : "no memory");
	return c;
}

static int64_t ans_int(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = o ? rowd_map_get(o, key) : NULL;

	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)v->via.u64;
	if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return v->via.i64;
	return -1;
}

/* What the daemon holds once the clients of a scenario are gone. */
struct baseline {
	rowd_ctx *ctl;   /* a connection kept for stats and ping */
	int fds;
	long rss;
};

static void stats(rowd_ctx *ctl, int64_t *conns, int64_t *handles)
{
	const msgpack_object *a;

	ck_assert_msg(rowd_request_json(ctl, "{\"op\":\"stats\"}", &a) == 0, "stats: %s",
	              rowd_errstr(ctl));
	*conns = ans_int(rowd_map_get(a, "connections"), "now");
	*handles = ans_int(a, "handles");
}

/* After a first read (lazy allocations done), with only ctl connected. */
static void take_baseline(struct baseline *b)
{
	rowd_ctx *c;
	int h;

	b->ctl = conn();
	c = conn();
	h = rowd_open(c, "f.csv", NULL);
	ck_assert_int_gt(h, 0);
	ck_assert_int_eq(rowd_totals(c, h), 6);
	ck_assert_int_eq(rowd_close(c, h, NULL), 0);
	rowd_free(c);
	/* The connection above is torn down on the loop: wait for it. */
	for (int i = 0; i < 250; i++) {
		int64_t conns, handles;

		stats(b->ctl, &conns, &handles);
		if (conns == 1 && handles == 0)
			break;
		usleep(20000);
	}
	b->fds = fd_count();
	b->rss = rss_kib();
	ck_assert(b->fds > 0 && b->rss > 0);
}

/* The daemon is back where it was: every client of the scenario gone,
 * no handle, no descriptor more, memory within the slack, and it answers. */
static void check_settled(const struct baseline *b, const char *what)
{
	int64_t conns = -1, handles = -1;
	int fds = -1;
	long rss;

	ck_assert_msg(alive(), "%s: the daemon died", what);
	for (int i = 0; i < 250; i++) {
		stats(b->ctl, &conns, &handles);
		fds = fd_count();
		if (conns == 1 && handles == 0 && fds == b->fds)
			break;
		usleep(20000);
	}
	ck_assert_msg(conns == 1, "%s: %lld connections remain (1 expected: ours)", what,
	              (long long)conns);
	ck_assert_msg(handles == 0, "%s: %lld handles remain", what, (long long)handles);
	ck_assert_msg(fds == b->fds, "%s: %d descriptors open, %d before", what, fds, b->fds);
	rss = rss_kib();
	ck_assert_msg(!RSS_CHECKED() || rss - b->rss <= RSS_SLACK_KIB, "%s: RSS %ld KiB, %ld KiB before",
	              what, rss, b->rss);
	ck_assert_msg(rowd_ping(b->ctl) == 0, "%s: ping: %s", what, rowd_errstr(b->ctl));
	fprintf(stderr, "%s: settled: %d fds, RSS %ld KiB (baseline %ld)\n", what, fds, rss, b->rss);
}

/* ---- raw connections ------------------------------------------------------- */

struct raw {
	int fd;
	msgpack_unpacker up;
	msgpack_unpacked res;
};

static void raw_init(struct raw *r, int fd)
{
	r->fd = fd;
	ck_assert(msgpack_unpacker_init(&r->up, 4096));
	msgpack_unpacked_init(&r->res);
}

static void raw_open(struct raw *r)
{
	int fd = daemon_connect_raw(&D);

	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	raw_init(r, fd);
}

static void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	msgpack_unpacked_destroy(&r->res);
	msgpack_unpacker_destroy(&r->up);
}

static bool send_all(int fd, const void *p, size_t n)
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

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* {op, id, k1: s1?, k2: v2?} */
static void raw_req(struct raw *r, const char *op, int64_t id, const char *k1, const char *s1,
                    const char *k2, int64_t v2)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2 + (k1 != NULL) + (k2 != NULL));
	pack_str(&pk, "op");
	pack_str(&pk, op);
	pack_str(&pk, "id");
	msgpack_pack_int64(&pk, id);
	if (k1) {
		pack_str(&pk, k1);
		pack_str(&pk, s1);
	}
	if (k2) {
		pack_str(&pk, k2);
		msgpack_pack_int64(&pk, v2);
	}
	ck_assert_msg(send_all(r->fd, sb.data, sb.size), "send %s: %s", op, strerror(errno));
	msgpack_sbuffer_destroy(&sb);
}

/* Feeds what the socket holds to the unpacker: 1 read, 0 nothing, -1 EOF. */
static int raw_fill(struct raw *r, size_t max)
{
	ssize_t n;

	msgpack_unpacker_reserve_buffer(&r->up, max);
	n = read(r->fd, msgpack_unpacker_buffer(&r->up),
	         max < msgpack_unpacker_buffer_capacity(&r->up) ? max
	                                                        : msgpack_unpacker_buffer_capacity(&r->up));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	msgpack_unpacker_buffer_consumed(&r->up, (size_t)n);
	return 1;
}

/* The next message in r->res.data: 1, or 0 at the deadline, -1 at EOF. */
static int raw_next(struct raw *r, double deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		double left;
		int rc;

		if (msgpack_unpacker_next(&r->up, &r->res) == MSGPACK_UNPACK_SUCCESS)
			return 1;
		left = deadline - now();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			return 0;
		rc = raw_fill(r, 1 << 16);
		if (rc < 0)
			return -1;
	}
}

static const char *ans_code(const msgpack_object *o)
{
	static char buf[32];
	const msgpack_object *e = rowd_map_get(o, "error");
	const msgpack_object *c = e ? rowd_map_get(e, "code") : NULL;

	if (!c || c->type != MSGPACK_OBJECT_STR)
		return "";
	snprintf(buf, sizeof buf, "%.*s", (int)c->via.str.size, c->via.str.ptr);
	return buf;
}

/* Waits for the answer with this id; it must be ok. */
static const msgpack_object *raw_expect_ok(struct raw *r, int64_t id, const char *what)
{
	double deadline = now() + 20;

	for (;;) {
		int rc = raw_next(r, deadline);

		ck_assert_msg(rc == 1, "%s: %s", what, rc ? "the connection closed" : "no answer");
		if (ans_int(&r->res.data, "id") == id)
			break;
	}
	ck_assert_msg(!*ans_code(&r->res.data), "%s: %s", what, ans_code(&r->res.data));
	return &r->res.data;
}

/* ---- rows ------------------------------------------------------------------ */

/* n rows {"id": i, "text": width letters}, packed back to back; random
 * letters when noisy (so that a codec cannot squeeze them). */
static char *make_rows(size_t n, size_t width, bool noisy, size_t *len)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *text = malloc(width);
	unsigned seed = 12345;

	ck_assert_ptr_nonnull(text);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < width; k++)
			text[k] = noisy ? letters[rand_r(&seed) % 62] : letters[(i + k) % 26];
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "id");
		msgpack_pack_uint64(&pk, i);
		pack_str(&pk, "text");
		msgpack_pack_str_with_body(&pk, text, width);
	}
	free(text);
	*len = sb.size;
	return msgpack_sbuffer_release(&sb);
}

/* A whole write_bulk frame around packed rows. */
static char *write_bulk_frame(int64_t id, int handle, const char *rows, size_t len, size_t n,
                              size_t *flen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "op");
	pack_str(&pk, "write_bulk");
	pack_str(&pk, "id");
	msgpack_pack_int64(&pk, id);
	pack_str(&pk, "handle");
	msgpack_pack_int(&pk, handle);
	pack_str(&pk, "rows");
	msgpack_pack_array(&pk, n);
	msgpack_sbuffer_write(&sb, rows, len);
	*flen = sb.size;
	return msgpack_sbuffer_release(&sb);
}

/* A CSV of n rows under the root (the source of the streams). */
static void put_csv(const char *rel, int n)
{
	size_t cap = (size_t)n * 80 + 64, len = 0;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	len += (size_t)snprintf(buf, cap, "id,name,text\n");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%d,name%d,lorem ipsum dolor sit amet %d\n",
		                        i, i, i);
	ck_assert(daemon_put(&D, rel, buf, len));
	free(buf);
}

static void expect_content(const char *rel, const char *want, const char *what)
{
	size_t n = 0;
	char *got = daemon_get(&D, rel, &n);

	ck_assert_msg(got, "%s: %s cannot be read", what, rel);
	ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0,
	              "%s: %s holds %zu bytes \"%.40s\", expected \"%s\"", what, rel, n, got, want);
	free(got);
}

static bool exists(const char *rel)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", D.root, rel);
	return lstat(path, &st) == 0;
}

/* Temp files (".NAME.rowd-tmp-XXXXXX") in dir (relative to the root). */
static int tmp_files(const char *dir)
{
	char path[1024];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", D.root, dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".rowd-tmp-"))
			n++;
	closedir(d);
	return n;
}

static int wait_tmp_files(const char *dir, int want)
{
	int n = tmp_files(dir);

	for (int i = 0; i < 300 && n != want; i++) {
		usleep(10000);
		n = tmp_files(dir);
	}
	return n;
}

/* ======================================================================= */
/* write errors                                                             */
/* ======================================================================= */

/* The writes of one full-device or file-size scenario, in dir ("" or
 * "small/"): each must end in EIO, leave the target as it was and no
 * temp file. */
static void write_errors(const char *dir, const char *what)
{
	char rel[256], out[256];
	struct rowd_open_opts gz = { .mode = "w" };
	struct rowd_open_opts w = { .mode = "w" };
	size_t len;
	char *rows;
	rowd_ctx *c = conn();
	int h, rc;

	/* 1. Rows that fit the output buffer: the error comes with close. */
	snprintf(rel, sizeof rel, "%sout.csv", dir);
	ck_assert(daemon_put(&D, rel, "OLD\n", 4));
	rows = make_rows(100, 1000, false, &len);       /* ~100 KB */
	h = rowd_open(c, rel, &w);
	ck_assert_msg(h > 0, "%s: open: %s", what, rowd_errstr(c));
	ck_assert_msg(rowd_write_bulk_packed(c, h, rows, len, 100) == 100, "%s: write_bulk: %s: %s",
	              what, rowd_errcode(c), rowd_errstr(c));
	free(rows);
	rc = rowd_close(c, h, NULL);
	ck_assert_msg(rc < 0 && strcmp(rowd_errcode(c), "EIO") == 0,
	              "%s: close of a write that does not fit: %d %s %s", what, rc, rowd_errcode(c),
	              rowd_errstr(c));
	fprintf(stderr, "%s: close answered %s: %s\n", what, rowd_errcode(c), rowd_errstr(c));
	expect_content(rel, "OLD\n", what);
	ck_assert_int_eq(tmp_files(dir), 0);

	/* 2. More than the output buffer: write_bulk itself fails; close
	 * answers the error again and removes the temp file. */
	rows = make_rows(1000, 1000, false, &len);      /* ~1 MB */
	h = rowd_open(c, rel, &w);
	ck_assert_int_gt(h, 0);
	rc = rowd_write_bulk_packed(c, h, rows, len, 1000);
	ck_assert_msg(rc < 0 && strcmp(rowd_errcode(c), "EIO") == 0, "%s: big write_bulk: %d %s %s",
	              what, rc, rowd_errcode(c), rowd_errstr(c));
	fprintf(stderr, "%s: write_bulk answered %s: %s\n", what, rowd_errcode(c), rowd_errstr(c));
	ck_assert_msg(rowd_ping(c) == 0, "%s: the connection broke", what);
	rc = rowd_close(c, h, NULL);
	ck_assert_msg(rc < 0 && strcmp(rowd_errcode(c), "EIO") == 0,
	              "%s: close after a failed write: %d %s %s", what, rc, rowd_errcode(c),
	              rowd_errstr(c));
	free(rows);
	expect_content(rel, "OLD\n", what);
	ck_assert_int_eq(tmp_files(dir), 0);

	/* 3. The same through gzip, a new target. */
	snprintf(out, sizeof out, "%snew.jsonl.gz", dir);
	rows = make_rows(1000, 1000, true, &len);
	h = rowd_open(c, out, &gz);
	ck_assert_int_gt(h, 0);
	rc = rowd_write_bulk_packed(c, h, rows, len, 1000);
	if (rc >= 0)
		rc = rowd_close(c, h, NULL);
	else
		ck_assert_int_lt(rowd_close(c, h, NULL), 0);
	ck_assert_msg(rc < 0 && strcmp(rowd_errcode(c), "EIO") == 0, "%s: gzip: %d %s %s", what, rc,
	              rowd_errcode(c), rowd_errstr(c));
	free(rows);
	ck_assert_msg(!exists(out), "%s: %s exists after a failed write", what, out);
	ck_assert_int_eq(tmp_files(dir), 0);

	/* 4. convert into the same place. */
	{
		struct rowd_convert_result res;

		snprintf(out, sizeof out, "%sconv.jsonl", dir);
		rc = rowd_convert(c, "big.csv", NULL, out, NULL, NULL, NULL, &res);
		ck_assert_msg(rc < 0 && strcmp(rowd_errcode(c), "EIO") == 0, "%s: convert: %d %s %s",
		              what, rc, rowd_errcode(c), rowd_errstr(c));
		ck_assert_msg(!exists(out), "%s: %s exists after a failed convert", what, out);
		ck_assert_int_eq(tmp_files(dir), 0);
	}
	/* A write that fits still works. */
	snprintf(out, sizeof out, "%ssmall.jsonl", dir);
	h = rowd_open(c, out, &w);
	ck_assert_int_gt(h, 0);
	rows = make_rows(2, 10, false, &len);
	ck_assert_int_eq(rowd_write_bulk_packed(c, h, rows, len, 2), 2);
	free(rows);
	ck_assert_msg(rowd_close(c, h, NULL) == 0, "%s: a small write: %s", what, rowd_errstr(c));
	ck_assert(exists(out));
	rowd_free(c);
}

START_TEST(test_write_file_size_limit)
{
	struct rlimit old, lim;
	struct baseline b;

	/* The daemon inherits a 64 KiB file size limit: its writes fail with
	 * EFBIG (and SIGXFSZ, which must not kill it). */
	ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	ck_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	start(NULL);
	ck_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
	put_csv("big.csv", 20000);
	take_baseline(&b);
	write_errors("", "file size limit");
	ck_assert_msg(alive(), "the daemon died of the file size limit");
	check_settled(&b, "file size limit");
	rowd_free(b.ctl);
	stop();
}
END_TEST

START_TEST(test_write_disk_full)
{
	struct baseline b;
	char dir[400];

	/* A 64 KiB tmpfs in a mount namespace of this test process (and of
	 * the daemon it starts): nobody else sees it, and it goes away with
	 * them. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "disk full: skipped: no mount namespace here (%s)\n", strerror(errno));
		return;
	}
	start(NULL);
	snprintf(dir, sizeof dir, "%s/small", D.root);
	ck_assert(mkdir(dir, 0755) == 0);
	if (mount("rowd-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") < 0) {
		fprintf(stderr, "disk full: skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
		stop();
		return;
	}
	snprintf(mounted, sizeof mounted, "%s", dir);
	put_csv("big.csv", 20000);
	take_baseline(&b);
	write_errors("small/", "disk full");
	check_settled(&b, "disk full");
	rowd_free(b.ctl);
	umount2(mounted, MNT_DETACH);
	mounted[0] = '\0';
	stop();
}
END_TEST

/* ======================================================================= */
/* disconnects while a write is in flight                                   */
/* ======================================================================= */

/* Opens rel for writing on a raw connection; returns the handle. */
static int raw_open_w(struct raw *r, const char *rel)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t h;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "op");
	pack_str(&pk, "open");
	pack_str(&pk, "id");
	msgpack_pack_int(&pk, 1);
	pack_str(&pk, "path");
	pack_str(&pk, rel);
	pack_str(&pk, "mode");
	pack_str(&pk, "w");
	ck_assert(send_all(r->fd, sb.data, sb.size));
	msgpack_sbuffer_destroy(&sb);
	h = ans_int(raw_expect_ok(r, 1, "open w"), "handle");
	ck_assert_int_gt(h, 0);
	return (int)h;
}

START_TEST(test_disconnect_during_write)
{
	struct baseline b;
	struct raw r;
	size_t len, flen;
	char *rows, *frame, *got;
	const char *old = "OLD\n";
	int h;

	start(NULL);
	take_baseline(&b);
	rows = make_rows(2000, 500, false, &len);   /* ~1 MB in one frame */
	frame = write_bulk_frame(2, 1, rows, len, 2000, &flen);

	/* Mid-frame: half of a 1 MB write_bulk, then gone. */
	ck_assert(daemon_put(&D, "out.jsonl", old, strlen(old)));
	raw_open(&r);
	h = raw_open_w(&r, "out.jsonl");
	ck_assert_int_eq(h, 1);
	ck_assert(send_all(r.fd, frame, flen / 2));
	raw_close(&r);
	ck_assert_int_eq(wait_tmp_files("", 0), 0);
	expect_content("out.jsonl", old, "disconnect mid-frame");
	check_settled(&b, "disconnect mid-frame");

	/* The whole frame sent, gone before the answer: the write runs or is
	 * cancelled, the target stays. */
	raw_open(&r);
	raw_open_w(&r, "out.jsonl");
	ck_assert(send_all(r.fd, frame, flen));
	raw_close(&r);
	ck_assert_int_eq(wait_tmp_files("", 0), 0);
	expect_content("out.jsonl", old, "disconnect during write_bulk");
	check_settled(&b, "disconnect during write_bulk");

	/* write_bulk answered, close sent, gone before its answer: the commit
	 * is all or nothing. */
	for (int round = 0; round < 3; round++) {
		size_t n = 0;

		raw_open(&r);
		raw_open_w(&r, "out.jsonl");
		ck_assert(send_all(r.fd, frame, flen));
		raw_expect_ok(&r, 2, "write_bulk");
		raw_req(&r, "close", 3, NULL, NULL, "handle", 1);
		if (round == 1)
			usleep(2000);
		raw_close(&r);
		ck_assert_int_eq(wait_tmp_files("", 0), 0);
		got = daemon_get(&D, "out.jsonl", &n);
		ck_assert_ptr_nonnull(got);
		/* Either as before, or every row (jsonl: one line per row). */
		if (!(n == strlen(old) && memcmp(got, old, n) == 0)) {
			size_t lines = 0;

			for (size_t i = 0; i < n; i++)
				lines += got[i] == '\n';
			ck_assert_msg(lines == 2000 && got[n - 1] == '\n',
			              "close then disconnect: a partial target (%zu bytes, %zu lines)", n,
			              lines);
			ck_assert(daemon_put(&D, "out.jsonl", old, strlen(old)));
		}
		free(got);
	}
	check_settled(&b, "disconnect after close");
	free(frame);
	free(rows);
	rowd_free(b.ctl);
	stop();
}
END_TEST

/* ======================================================================= */
/* readers that misbehave                                                   */
/* ======================================================================= */

/* Streams `rel` on r: counts the rows of the batches until the final
 * message; returns rows_total (and *rows the rows seen). A reader that
 * takes only `chunk` bytes every `pause_us` when chunk is not 0. */
static int64_t stream_all(struct raw *r, int64_t id, uint64_t *rows, size_t chunk, int pause_us,
                          double seconds)
{
	double deadline = now() + seconds;

	*rows = 0;
	for (;;) {
		const msgpack_object *o, *v;
		int rc;

		if (chunk) {
			rc = msgpack_unpacker_next(&r->up, &r->res) == MSGPACK_UNPACK_SUCCESS;
			if (!rc) {
				struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

				ck_assert_msg(now() < deadline, "slow reader: the stream did not end in time");
				if (poll(&pfd, 1, 1000) <= 0)
					continue;
				ck_assert_msg(raw_fill(r, chunk) >= 0, "slow reader: the connection closed");
				usleep((useconds_t)pause_us);
				continue;
			}
		} else {
			rc = raw_next(r, deadline);
			ck_assert_msg(rc == 1, "stream: %s", rc ? "the connection closed" : "no end in time");
		}
		o = &r->res.data;
		if (ans_int(o, "id") != id)
			continue;
		ck_assert_msg(!*ans_code(o), "stream: %s", ans_code(o));
		v = rowd_map_get(o, "rows");
		if (v && v->type == MSGPACK_OBJECT_ARRAY)
			*rows += v->via.array.size;
		if (rowd_map_get(o, "rows_total"))
			return ans_int(o, "rows_total");
	}
}

START_TEST(test_half_closed_stream)
{
	struct baseline b;
	struct raw r;
	uint64_t rows;
	int rc;

	start(NULL);
	put_csv("mid.csv", 20000);
	take_baseline(&b);
	raw_open(&r);
	raw_req(&r, "open", 1, "path", "mid.csv", NULL, 0);
	raw_req(&r, "stream", 2, NULL, NULL, "handle", 1);
	raw_req(&r, "close", 3, NULL, NULL, "handle", 1);
	ck_assert(shutdown(r.fd, SHUT_WR) == 0);
	ck_assert_int_eq(stream_all(&r, 2, &rows, 0, 0, 20), 20000);
	ck_assert_int_eq(rows, 20000);
	raw_expect_ok(&r, 3, "close after the stream");
	/* Then the daemon closes. */
	rc = raw_next(&r, now() + 5);
	ck_assert_msg(rc == -1, "half-closed: the connection stays open after the answers (%d)", rc);
	raw_close(&r);
	check_settled(&b, "half-closed stream");
	rowd_free(b.ctl);
	stop();
}
END_TEST

START_TEST(test_slow_reader)
{
	static const char *const extra[] = { "-o", "out_high=256K", "-o", "out_low=64K", NULL };
	struct baseline b;
	struct raw r;
	uint64_t rows;
	double t0;

	start(extra);
	put_csv("mid.csv", 30000);   /* ~1.7 MB of msgpack */
	take_baseline(&b);
	raw_open(&r);
	setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &(int){ 16 * 1024 }, sizeof(int));
	raw_req(&r, "open", 1, "path", "mid.csv", NULL, 0);
	raw_req(&r, "stream", 2, NULL, NULL, "handle", 1);
	t0 = now();
	/* 8 KiB every millisecond at most: the daemon waits on us. */
	ck_assert_int_eq(stream_all(&r, 2, &rows, 8192, 1000, 30), 30000);
	ck_assert_int_eq(rows, 30000);
	fprintf(stderr, "slow reader: %.2f s for the stream, RSS %ld KiB\n", now() - t0, rss_kib());
	raw_close(&r);
	check_settled(&b, "slow reader");
	rowd_free(b.ctl);
	stop();
}
END_TEST

/* ======================================================================= */
/* many connections, many cycles                                            */
/* ======================================================================= */

#define NCONN 1000

START_TEST(test_thousand_streams)
{
	struct rlimit rl;
	struct baseline b;
	struct raw *r = calloc(NCONN, sizeof *r);
	struct pollfd *pfd = calloc(NCONN, sizeof *pfd);
	uint64_t *rows = calloc(NCONN, sizeof *rows);
	bool *done = calloc(NCONN, sizeof *done);
	int ndone = 0;
	double t0, deadline;

	ck_assert(r && pfd && rows && done);
	/* Our side needs a descriptor per connection too. */
	ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < NCONN + 100) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
		ck_assert_msg(rl.rlim_cur >= NCONN + 100 && setrlimit(RLIMIT_NOFILE, &rl) == 0,
		              "cannot raise the open files limit to %d", NCONN + 100);
	}
	start(NULL);
	take_baseline(&b);
	t0 = now();
	for (int i = 0; i < NCONN; i++) {
		raw_open(&r[i]);
		raw_req(&r[i], "open", 1, "path", "f.csv", NULL, 0);
		raw_req(&r[i], "stream", 2, NULL, NULL, "handle", 1);
	}
	deadline = now() + 30;
	while (ndone < NCONN) {
		int n = 0;

		ck_assert_msg(now() < deadline, "1000 streams: %d of %d ended in time", ndone, NCONN);
		for (int i = 0; i < NCONN; i++) {
			pfd[i].fd = done[i] ? -1 : r[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, NCONN, 1000) <= 0)
			continue;
		for (int i = 0; i < NCONN; i++) {
			if (!pfd[i].revents)
				continue;
			ck_assert_msg(raw_fill(&r[i], 1 << 16) >= 0, "1000 streams: connection %d closed", i);
			while (msgpack_unpacker_next(&r[i].up, &r[i].res) == MSGPACK_UNPACK_SUCCESS) {
				const msgpack_object *o = &r[i].res.data, *v;

				ck_assert_msg(!*ans_code(o), "1000 streams: connection %d: %s", i, ans_code(o));
				if (ans_int(o, "id") != 2)
					continue;
				v = rowd_map_get(o, "rows");
				if (v && v->type == MSGPACK_OBJECT_ARRAY)
					rows[i] += v->via.array.size;
				if (rowd_map_get(o, "rows_total")) {
					ck_assert_int_eq(ans_int(o, "rows_total"), 6);
					ck_assert_int_eq(rows[i], 6);
					done[i] = true;
					ndone++;
					n++;
				}
			}
		}
	}
	fprintf(stderr, "1000 streams: %.2f s, daemon: %d fds, RSS %ld KiB\n", now() - t0, fd_count(),
	        rss_kib());
	for (int i = 0; i < NCONN; i++)
		raw_close(&r[i]);
	check_settled(&b, "1000 connections");
	free(r);
	free(pfd);
	free(rows);
	free(done);
	rowd_free(b.ctl);
	stop();
}
END_TEST

START_TEST(test_open_close_cycles)
{
	struct baseline b;
	rowd_ctx *c;
	double t0;

	start(NULL);
	take_baseline(&b);
	c = conn();
	t0 = now();
	for (int i = 0; i < 10000; i++) {
		int h = rowd_open(c, "f.csv", NULL);

		ck_assert_msg(h == 1, "cycle %d: open answered %d: %s", i, h, rowd_errstr(c));
		if (i % 10 == 0) {
			const msgpack_object *rows;
			bool eof;

			ck_assert_int_eq(rowd_read_bulk(c, h, 2, &rows, &eof), 2);
		}
		ck_assert_msg(rowd_close(c, h, NULL) == 0, "cycle %d: close: %s", i, rowd_errstr(c));
	}
	fprintf(stderr, "10k open/close cycles: %.2f s\n", now() - t0);
	rowd_free(c);
	check_settled(&b, "10k open/close cycles");
	/* And connections: 2000 times connect, ping, go. */
	t0 = now();
	for (int i = 0; i < 2000; i++) {
		c = conn();
		ck_assert_int_eq(rowd_ping(c), 0);
		rowd_free(c);
	}
	fprintf(stderr, "2000 connect/ping/disconnect cycles: %.2f s\n", now() - t0);
	check_settled(&b, "2000 connection cycles");
	rowd_free(b.ctl);
	stop();
}
END_TEST

/* ======================================================================= */
/* the daemon out of descriptors                                            */
/* ======================================================================= */

START_TEST(test_out_of_descriptors)
{
	struct rlimit tight = { 48, 48 };
	struct raw r[80];
	double cpu0, cpu1;
	int64_t id = 100;

	start(NULL);
	/* The daemon's limit lowered from outside: it cannot raise it back. */
	ck_assert_msg(prlimit(D.pid, RLIMIT_NOFILE, &tight, NULL) == 0, "prlimit: %s",
	              strerror(errno));
	/* More clients than it has descriptors: the extra ones wait in the
	 * listen backlog (connect() succeeds there). */
	for (int i = 0; i < 80; i++)
		raw_open(&r[i]);
	cpu0 = cpu_seconds();
	usleep(500000);
	cpu1 = cpu_seconds();
	/* Not spinning on a listening socket it cannot accept from. */
	ck_assert_msg(cpu1 - cpu0 < 0.2, "out of descriptors: the daemon used %.2f s of CPU in 0.5 s",
	              cpu1 - cpu0);
	raw_req(&r[0], "ping", id, NULL, NULL, NULL, 0);
	raw_expect_ok(&r[0], id, "ping while out of descriptors");
	/* An open needs a descriptor too: it fails cleanly or works. */
	raw_req(&r[1], "open", ++id, "path", "f.csv", NULL, 0);
	ck_assert_int_eq(raw_next(&r[1], now() + 5), 1);
	fprintf(stderr, "out of descriptors: open answered %s\n",
	        *ans_code(&r[1].res.data) ? ans_code(&r[1].res.data) : "ok");
	/* Once clients leave, the waiting ones are served (the last 20 are
	 * among those that were never accepted: 48 descriptors hold about
	 * 35 connections). */
	for (int i = 0; i < 60; i++)
		raw_close(&r[i]);
	for (int i = 60; i < 80; i++) {
		raw_req(&r[i], "ping", ++id, NULL, NULL, NULL, 0);
		raw_expect_ok(&r[i], id, "ping of a client that waited");
	}
	for (int i = 60; i < 80; i++)
		raw_close(&r[i]);
	ck_assert(alive());
	{
		char *log = daemon_get(&D, "../rowd.log", NULL);

		ck_assert_ptr_nonnull(log);
		ck_assert_msg(strstr(log, "pausing accept"), "the shortage is not logged");
		ck_assert_msg(!strstr(log, "Error from accept"), "libevent's accept warnings were logged");
		free(log);
	}
	stop();
}
END_TEST

/* ======================================================================= */
/* SIGKILL during a write below a subdirectory                              */
/* ======================================================================= */

START_TEST(test_sigkill_write_in_subdir)
{
	struct raw r;
	size_t len, flen;
	char *rows, *frame;
	char dir[400];

	start(NULL);
	snprintf(dir, sizeof dir, "%s/a", D.root);
	ck_assert(mkdir(dir, 0755) == 0);
	snprintf(dir, sizeof dir, "%s/a/b", D.root);
	ck_assert(mkdir(dir, 0755) == 0);
	ck_assert(daemon_put(&D, "a/b/out.jsonl", "OLD\n", 4));
	rows = make_rows(4000, 500, false, &len);   /* ~2 MB: still being written */
	frame = write_bulk_frame(2, 1, rows, len, 4000, &flen);
	raw_open(&r);
	raw_open_w(&r, "a/b/out.jsonl");
	ck_assert(send_all(r.fd, frame, flen));
	ck_assert_int_eq(tmp_files("a/b"), 1);
	daemon_kill(&D);
	raw_close(&r);
	expect_content("a/b/out.jsonl", "OLD\n", "after SIGKILL");
	ck_assert_int_eq(tmp_files("a/b"), 1);
	ck_assert_msg(daemon_restart(&D, NULL), "restart after SIGKILL failed");
	ck_assert_msg(tmp_files("a/b") == 0, "a stale temp file two levels down survived the restart");
	expect_content("a/b/out.jsonl", "OLD\n", "after the restart");
	free(frame);
	free(rows);
	stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("abuse");
	TCase *tc = tcase_create("abuse");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_write_file_size_limit);
	tcase_add_test(tc, test_write_disk_full);
	tcase_add_test(tc, test_disconnect_during_write);
	tcase_add_test(tc, test_half_closed_stream);
	tcase_add_test(tc, test_slow_reader);
	tcase_add_test(tc, test_thousand_streams);
	tcase_add_test(tc, test_open_close_cycles);
	tcase_add_test(tc, test_out_of_descriptors);
	tcase_add_test(tc, test_sigkill_write_in_subdir);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
