/* async_gather: many files on one connection, processed concurrently.
 *
 *     async_gather [-s SOCKET] FILE...
 *
 * The C form of the asyncio.gather example: every file is opened at once
 * on a single connection, and each open's callback starts a stream of
 * that file; the daemon reads the files in parallel on its workers and
 * their batches arrive interleaved. Each batch is walked with the cursor
 * (no decoding, no allocation): per file we count rows and fields and sum
 * the bytes of string values. The last stream to end frees the context
 * from inside its callback (the free waits for the callback to return),
 * which leaves the event loop nothing to wait for, so it returns.
 *
 * Exit status: 0 when every file was read, 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include <rowd/rowd.h>
#include <rowd/adapters/libevent.h>

#define BATCH 5000

struct file {
	struct gather *g;
	const char *name;
	char *path;
	uint64_t rows, fields, text_bytes;
	int finish_order;           /* 1 = first to end */
	bool failed;
};

struct gather {
	rowd_async *ac;
	struct file *files;
	int nfiles, ended, failed;
};

/* The daemon resolves paths beneath its roots: send the absolute path of
 * a file that exists here, else the name as given. */
static char *abs_input(const char *name)
{
	char *p = realpath(name, NULL);

	return p ? p : strdup(name);
}

static void file_failed(struct file *f, const char *what, const char *code, const char *msg)
{
	fprintf(stderr, "async_gather: %s: %s: %s: %s\n", f->name, what, code, msg);
	f->failed = true;
	f->g->failed++;
}

/* One file is over (read or failed); the last one ends the session. */
static void file_ended(struct file *f)
{
	struct gather *g = f->g;

	f->finish_order = ++g->ended;
	if (g->ended == g->nfiles)
		rowd_async_free(g->ac);   /* deferred: we are inside a callback */
}

static int on_batch(const struct rowd_batch *b, void *arg)
{
	struct file *f = arg;
	struct rowd_cursor cur;
	struct rowd_value v;
	const char *key;
	size_t keylen;
	uint32_t nfields;
	int r;

	rowd_cursor_init(&cur, b->raw, b->raw_len);
	while ((r = rowd_cursor_next_row(&cur, &nfields)) == 1) {
		f->rows++;
		f->fields += nfields;
		while ((r = rowd_cursor_next_field(&cur, &key, &keylen, &v)) == 1)
			if (v.type == ROWD_STR)
				f->text_bytes += v.via.str.len;
		if (r < 0)
			break;
	}
	if (r < 0) {
		file_failed(f, "stream", "EPROTO", "malformed rows in a batch");
		return 1;   /* cancels the stream */
	}
	return 0;
}

static void on_stream_done(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct file *f = arg;

	(void)ac;
	if (r->errcode && !f->failed)
		file_failed(f, "stream", r->errcode, r->errstr);
	file_ended(f);
}

static void on_open(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct rowd_stream_opts o = { .batch = BATCH, .raw = true };
	struct file *f = arg;

	if (r->errcode) {
		file_failed(f, "open", r->errcode, r->errstr);
		file_ended(f);
		return;
	}
	if (rowd_async_stream(ac, r->handle, &o, on_batch, NULL, on_stream_done, f) < 0) {
		file_failed(f, "stream", rowd_async_errcode(ac), rowd_async_errstr(ac));
		file_ended(f);
	}
	/* No close: the handles go with the connection. */
}

static void on_disconnect(rowd_async *ac, int status, void *arg)
{
	struct gather *g = arg;

	/* status 0 is our own free at the end; -1 a lost connection, after
	 * every pending callback has had its ECONN. */
	if (status != 0) {
		fprintf(stderr, "async_gather: %s: %s\n", rowd_async_errcode(ac),
		        rowd_async_errstr(ac));
		g->ac = NULL;
		rowd_async_free(ac);
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void print_summary(const struct gather *g, double secs)
{
	uint64_t rows = 0;

	for (int i = 0; i < g->nfiles; i++) {
		const struct file *f = &g->files[i];

		if (f->failed)
			continue;
		printf("%s: %" PRIu64 " rows, %" PRIu64 " fields, %" PRIu64
		       " bytes of text (ended #%d)\n", f->name, f->rows, f->fields, f->text_bytes,
		       f->finish_order);
		rows += f->rows;
	}
	printf("%d files, %" PRIu64 " rows in %.3f s on one connection\n", g->nfiles - g->failed,
	       rows, secs);
}

/* Opens every file at once; each open's callback starts its stream. */
static int start(struct gather *g)
{
	for (int i = 0; i < g->nfiles; i++) {
		struct file *f = &g->files[i];

		f->path = abs_input(f->name);
		if (!f->path) {
			fprintf(stderr, "async_gather: out of memory\n");
			return -1;
		}
		if (rowd_async_open(g->ac, f->path, NULL, on_open, f) < 0) {
			fprintf(stderr, "async_gather: %s: open: %s: %s\n", f->name,
			        rowd_async_errcode(g->ac), rowd_async_errstr(g->ac));
			return -1;
		}
	}
	return 0;
}

static int run(struct gather *g, const char *socket)
{
	struct event_base *base = event_base_new();
	struct timespec t0;
	int rc = 1;

	if (!base) {
		fprintf(stderr, "async_gather: cannot make an event base\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g->ac = rowd_async_connect(socket);
	if (!g->ac || rowd_async_broken(g->ac) || rowd_libevent_attach(g->ac, base) < 0) {
		fprintf(stderr, "async_gather: %s\n",
		        g->ac ? rowd_async_errstr(g->ac) : "out of memory");
		rowd_async_free(g->ac);
		event_base_free(base);
		return 1;
	}
	rowd_async_on_disconnect(g->ac, on_disconnect, g);
	if (start(g) == 0) {
		/* Returns when no event is left: the context has been freed. */
		event_base_dispatch(base);
		print_summary(g, seconds_since(&t0));
		rc = g->failed || g->ended < g->nfiles;
	} else {
		rowd_async_free(g->ac);
	}
	event_base_free(base);
	return rc;
}

int main(int argc, char **argv)
{
	struct gather g = { 0 };
	const char *socket = NULL;
	int ch, rc;

	while ((ch = getopt(argc, argv, "s:h")) != -1) {
		if (ch == 's') {
			socket = optarg;
		} else {
			fprintf(stderr, "usage: async_gather [-s SOCKET] FILE...\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: async_gather [-s SOCKET] FILE...\n");
		return 2;
	}
	g.nfiles = argc - optind;
	g.files = calloc((size_t)g.nfiles, sizeof *g.files);
	if (!g.files) {
		fprintf(stderr, "async_gather: out of memory\n");
		return 1;
	}
	for (int i = 0; i < g.nfiles; i++) {
		g.files[i].g = &g;
		g.files[i].name = argv[optind + i];
	}
	rc = run(&g, socket);
	for (int i = 0; i < g.nfiles; i++)
		free(g.files[i].path);
	free(g.files);
	return rc;
}
