/* Benchmark client for tests/bench/run.sh: each subcommand measures one
 * thing through the real daemon with librowd and prints one line.
 *
 *   bench stream SOCK PATH [BATCH]     rows through rowd_stream + cursor
 *   bench stream-obj SOCK PATH         the same, rows as msgpack_object
 *   bench concurrent SOCK P1 P2        two streams on one async connection
 *   bench sequential SOCK P1 P2        the same files one after the other
 *   bench ping SOCK PATH N             ping latency while N streams run
 *   bench stall SOCK PATH PID          daemon RSS while a reader stalls
 *   bench idle SOCK N PID              daemon RSS with N idle connections
 *   bench write SOCK IN OUT            write_bulk rows/s (IN read first)
 */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rowd/rowd.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(rowd_ctx *c, const char *what)
{
	fprintf(stderr, "bench: %s: %s: %s\n", what, c ? rowd_errcode(c) : "", c ? rowd_errstr(c) : "");
	exit(1);
}

/* Touches every key and value so that nothing is skipped unread. */
struct walk {
	uint64_t rows, bytes;
};

static int walk_cursor(const struct rowd_batch *b, void *arg)
{
	struct walk *w = arg;
	struct rowd_cursor cur;
	struct rowd_value v;
	const char *key;
	size_t keylen;
	int r;

	rowd_cursor_init(&cur, b->raw, b->raw_len);
	while ((r = rowd_cursor_next_row(&cur, NULL)) == 1) {
		w->rows++;
		while ((r = rowd_cursor_next_field(&cur, &key, &keylen, &v)) == 1)
			w->bytes += keylen + (v.type == ROWD_STR ? v.via.str.len : 8);
		if (r < 0)
			return 1;
	}
	return r < 0 ? 1 : 0;
}

static int walk_objects(const struct rowd_batch *b, void *arg)
{
	struct walk *w = arg;

	for (uint32_t i = 0; i < b->rows->via.array.size; i++) {
		const msgpack_object *row = &b->rows->via.array.ptr[i];

		w->rows++;
		for (uint32_t k = 0; k < row->via.map.size; k++) {
			const msgpack_object *val = &row->via.map.ptr[k].val;

			w->bytes += row->via.map.ptr[k].key.via.str.size +
			            (val->type == MSGPACK_OBJECT_STR ? val->via.str.size : 8);
		}
	}
	return 0;
}

static uint64_t stream_file(rowd_ctx *c, const char *path, size_t batch, bool raw, struct walk *w)
{
	struct rowd_stream_opts so = { .batch = batch, .raw = raw };
	int h = rowd_open(c, path, NULL);

	if (h < 0)
		die(c, path);
	if (rowd_stream(c, h, &so, raw ? walk_cursor : walk_objects, NULL, w) < 0)
		die(c, "stream");
	if (rowd_close(c, h, NULL) < 0)
		die(c, "close");
	return w->rows;
}

static int cmd_stream(int argc, char **argv, bool raw)
{
	rowd_ctx *c = rowd_connect(argv[0]);
	struct walk w = { 0 };
	size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 5000;
	double t0;

	if (!c || rowd_ctx_broken(c))
		die(c, "connect");
	t0 = now();
	stream_file(c, argv[1], batch, raw, &w);
	printf("%.3f %llu\n", now() - t0, (unsigned long long)w.rows);
	rowd_free(c);
	return 0;
}

static int cmd_sequential(char **argv)
{
	rowd_ctx *c = rowd_connect(argv[0]);
	struct walk w = { 0 };
	double t0;

	if (!c || rowd_ctx_broken(c))
		die(c, "connect");
	t0 = now();
	stream_file(c, argv[1], 5000, true, &w);
	stream_file(c, argv[2], 5000, true, &w);
	printf("%.3f %llu\n", now() - t0, (unsigned long long)w.rows);
	rowd_free(c);
	return 0;
}

/* ---- two streams at once on one async connection ------------------------ */

struct conc {
	struct walk w;         /* first: the batch callback sees a struct walk */
	rowd_async *ac;
	int streams_done, failed;
	struct rowd_stream_opts so;
};

static void on_stream_done(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct conc *cc = arg;

	if (r->errcode) {
		fprintf(stderr, "bench: stream: %s: %s\n", r->errcode, r->errstr);
		cc->failed = 1;
	}
	cc->streams_done++;
}

static void on_open(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct conc *cc = arg;

	if (r->errcode) {
		fprintf(stderr, "bench: open: %s: %s\n", r->errcode, r->errstr);
		cc->failed = 1;
		cc->streams_done++;
		return;
	}
	if (rowd_async_stream(ac, r->handle, &cc->so, walk_cursor, NULL, on_stream_done, cc) < 0)
		cc->failed = 1;
}

static int cmd_concurrent(char **argv)
{
	struct conc cc = { .so = { .batch = 5000, .raw = true } };
	double t0 = now();

	cc.ac = rowd_async_connect(argv[0]);
	if (!cc.ac || rowd_async_broken(cc.ac))
		die(NULL, "async connect");
	if (rowd_async_open(cc.ac, argv[1], NULL, on_open, &cc) < 0 ||
	    rowd_async_open(cc.ac, argv[2], NULL, on_open, &cc) < 0)
		die(NULL, "async open");
	while (cc.streams_done < 2 && !cc.failed && !rowd_async_broken(cc.ac)) {
		struct pollfd pfd = { .fd = rowd_async_fd(cc.ac), .events = POLLIN };

		if (rowd_async_want_write(cc.ac))
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if (pfd.revents & POLLOUT)
			rowd_async_handle_write(cc.ac);
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			rowd_async_handle_read(cc.ac);
	}
	printf("%.3f %llu\n", now() - t0, (unsigned long long)cc.w.rows);
	rowd_async_free(cc.ac);
	return cc.failed;
}

/* ---- ping latency under load -------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_ping(char **argv)
{
	int n = atoi(argv[2]);
	pid_t kids[16];
	double lat[20000];
	size_t count = 0;
	rowd_ctx *c;
	double end;

	if (n > 16)
		n = 16;
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			/* Each loader streams the file over and over. */
			rowd_ctx *lc = rowd_connect(argv[0]);
			struct walk w = { 0 };

			for (;;)
				stream_file(lc, argv[1], 5000, true, &w);
		}
	}
	c = rowd_connect(argv[0]);
	if (!c || rowd_ctx_broken(c))
		die(c, "connect");
	usleep(300000);
	end = now() + 3.0;
	while (now() < end && count < sizeof lat / sizeof lat[0]) {
		double t0 = now();

		if (rowd_ping(c) < 0)
			die(c, "ping");
		lat[count++] = (now() - t0) * 1e6;
		usleep(1000);
	}
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	qsort(lat, count, sizeof lat[0], cmp_double);
	printf("%.0f %.0f %zu\n", lat[count / 2], lat[count * 99 / 100], count);
	rowd_free(c);
	return 0;
}

/* ---- memory ------------------------------------------------------------- */

static long rss_kib(const char *pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int raw_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

/* A reader that asks for a stream and never reads: the daemon must stop
 * producing at its output watermark. */
static int cmd_stall(char **argv)
{
	char req[512];
	long before = rss_kib(argv[2]), after;
	int fd = raw_connect(argv[0]);
	size_t n;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "open", 4);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "path", 4);
	msgpack_pack_str_with_body(&pk, argv[1], strlen(argv[1]));
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "stream", 6);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_int(&pk, 2);
	msgpack_pack_str_with_body(&pk, "handle", 6);
	msgpack_pack_int(&pk, 1);
	n = sb.size < sizeof req ? sb.size : sizeof req;
	memcpy(req, sb.data, n);
	msgpack_sbuffer_destroy(&sb);
	if (write(fd, req, n) != (ssize_t)n)
		return 1;
	sleep(3);
	after = rss_kib(argv[2]);
	printf("%ld %ld\n", before, after);
	close(fd);
	return 0;
}

static int cmd_idle(char **argv)
{
	int n = atoi(argv[1]);
	long before = rss_kib(argv[2]), after;
	rowd_ctx **cs = calloc((size_t)n, sizeof *cs);

	for (int i = 0; i < n; i++) {
		cs[i] = rowd_connect(argv[0]);
		if (!cs[i] || rowd_ping(cs[i]) < 0)
			die(cs[i], "idle connect");
	}
	usleep(200000);
	after = rss_kib(argv[2]);
	printf("%ld %ld\n", before, after);
	for (int i = 0; i < n; i++)
		rowd_free(cs[i]);
	free(cs);
	return 0;
}

/* ---- write path --------------------------------------------------------- */

struct batches {
	char **data;
	size_t *len;
	uint32_t *count;
	size_t n, cap;
	uint64_t rows;
};

/* Keeps each batch's maps (the array header dropped) for write_bulk. */
static int keep_batch(const struct rowd_batch *b, void *arg)
{
	struct batches *bs = arg;
	const unsigned char *p = (const unsigned char *)b->raw;
	size_t hdr = (p[0] & 0xf0) == 0x90 ? 1 : p[0] == 0xdc ? 3 : 5;

	if (bs->n == bs->cap) {
		bs->cap = bs->cap ? bs->cap * 2 : 256;
		bs->data = realloc(bs->data, bs->cap * sizeof *bs->data);
		bs->len = realloc(bs->len, bs->cap * sizeof *bs->len);
		bs->count = realloc(bs->count, bs->cap * sizeof *bs->count);
		if (!bs->data || !bs->len || !bs->count)
			return 1;
	}
	bs->len[bs->n] = b->raw_len - hdr;
	bs->data[bs->n] = malloc(bs->len[bs->n]);
	if (!bs->data[bs->n])
		return 1;
	memcpy(bs->data[bs->n], b->raw + hdr, bs->len[bs->n]);
	bs->count[bs->n++] = b->count;
	bs->rows += b->count;
	return 0;
}

static int cmd_write(char **argv)
{
	rowd_ctx *c = rowd_connect(argv[0]);
	struct rowd_stream_opts so = { .batch = 1000, .raw = true };
	struct rowd_open_opts wo = { .mode = "w" };
	struct batches bs = { 0 };
	uint64_t written = 0;
	double t0;
	int h;

	if (!c || rowd_ctx_broken(c))
		die(c, "connect");
	h = rowd_open(c, argv[1], NULL);
	if (h < 0 || rowd_stream(c, h, &so, keep_batch, NULL, &bs) < 0 || rowd_close(c, h, NULL) < 0)
		die(c, "read input");
	t0 = now();
	h = rowd_open(c, argv[2], &wo);
	if (h < 0)
		die(c, "open output");
	for (size_t i = 0; i < bs.n; i++)
		if (rowd_write_bulk_packed(c, h, bs.data[i], bs.len[i], bs.count[i]) < 0)
			die(c, "write_bulk");
	if (rowd_close(c, h, &written) < 0)
		die(c, "close output");
	printf("%.3f %llu\n", now() - t0, (unsigned long long)written);
	for (size_t i = 0; i < bs.n; i++)
		free(bs.data[i]);
	free(bs.data);
	free(bs.len);
	free(bs.count);
	rowd_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench stream|stream-obj|concurrent|sequential|ping|stall|idle|write SOCK ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "stream") == 0)
		return cmd_stream(argc - 2, argv + 2, true);
	if (strcmp(argv[1], "stream-obj") == 0)
		return cmd_stream(argc - 2, argv + 2, false);
	if (strcmp(argv[1], "concurrent") == 0 && argc >= 5)
		return cmd_concurrent(argv + 2);
	if (strcmp(argv[1], "sequential") == 0 && argc >= 5)
		return cmd_sequential(argv + 2);
	if (strcmp(argv[1], "ping") == 0 && argc >= 5)
		return cmd_ping(argv + 2);
	if (strcmp(argv[1], "stall") == 0 && argc >= 5)
		return cmd_stall(argv + 2);
	if (strcmp(argv[1], "idle") == 0)
		return cmd_idle(argv + 2);
	if (strcmp(argv[1], "write") == 0 && argc >= 5)
		return cmd_write(argv + 2);
	fprintf(stderr, "bench: unknown command %s\n", argv[1]);
	return 2;
}
