/* async_enrich: rows of one file, enriched, written to another while the
 * first is still being read.
 *
 *     async_enrich [-s SOCKET] IN OUT
 *
 * Every row of IN gets two more fields: "_row", its number (from 1), and
 * "_text_bytes", the bytes of its string values. Both files are open on
 * one connection; reads and writes are pipelined so that the daemon reads
 * batch k+1 of IN while it writes batch k to OUT.
 *
 * Why read_bulk and not a stream: a stream pushes batches as fast as the
 * daemon can read them, and every batch we write back queues up on the
 * daemon until OUT's writer catches up. Here reading is paced by writing:
 * a read goes out only while fewer than WINDOW writes are unanswered, so
 * memory on both sides stays bounded however slow OUT is.
 *
 * OUT is replaced atomically when it is closed; on any error the program
 * frees the connection without closing OUT, and the daemon discards the
 * partial file: OUT is then exactly as it was.
 *
 * Exit status: 0 on success, 1 on an error, 2 on a usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libgen.h>   /* after string.h: the POSIX basename */
#include <event2/event.h>
#include <msgpack.h>

#include <rowd/rowd.h>
#include <rowd/adapters/libevent.h>

#define BATCH 2000    /* rows per read_bulk / write_bulk */
#define WINDOW 2      /* write_bulks in flight at most */

struct enrich {
	rowd_async *ac;
	const char *in_name, *out_name;
	int hin, hout;              /* 0 until opened */
	bool reading;               /* a read_bulk is in flight */
	bool eof;                   /* IN has no more rows */
	bool closing;
	int writes;                 /* write_bulks in flight */
	uint64_t rows_in, rows_out;
	msgpack_sbuffer out;        /* the enriched batch, reused */
	msgpack_packer pk;
	int rc;                     /* 0 until something fails */
};

static void pump(struct enrich *e);

/* Stops everything: freeing the context without closing OUT makes the
 * daemon discard what was written. Safe inside callbacks (deferred). */
static void fail(struct enrich *e, const char *what, const char *code, const char *msg)
{
	if (e->rc)
		return;   /* the first error is the one that counts */
	fprintf(stderr, "async_enrich: %s: %s: %s\n", what, code, msg);
	e->rc = 1;
	rowd_async_free(e->ac);
}

static void fail_call(struct enrich *e, const char *what)
{
	fail(e, what, rowd_async_errcode(e->ac), rowd_async_errstr(e->ac));
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* A row with the two fields added, packed into e->out. msgpack-c's packer
 * writing to an sbuffer only fails when out of memory. */
static int enrich_row(struct enrich *e, const msgpack_object *row)
{
	const msgpack_object_map *m = &row->via.map;
	uint64_t text = 0;
	int r = msgpack_pack_map(&e->pk, m->size + 2);

	for (uint32_t i = 0; i < m->size && r == 0; i++) {
		if (m->ptr[i].val.type == MSGPACK_OBJECT_STR)
			text += m->ptr[i].val.via.str.size;
		r = msgpack_pack_object(&e->pk, m->ptr[i].key) |
		    msgpack_pack_object(&e->pk, m->ptr[i].val);
	}
	if (r == 0) {
		pack_cstr(&e->pk, "_row");
		r = msgpack_pack_uint64(&e->pk, ++e->rows_in);
	}
	if (r == 0) {
		pack_cstr(&e->pk, "_text_bytes");
		r = msgpack_pack_uint64(&e->pk, text);
	}
	return r;
}

static void on_closed(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct enrich *e = arg;

	if (r->errcode) {
		fail(e, e->out_name, r->errcode, r->errstr);
		return;
	}
	printf("%s: %" PRIu64 " rows enriched into %s\n", e->in_name, r->count, e->out_name);
	rowd_async_free(ac);   /* IN's handle goes with the connection */
}

/* Everything read has been written: commit OUT. */
static void finish_if_done(struct enrich *e)
{
	if (!e->eof || e->writes > 0 || e->reading || e->closing || e->rc)
		return;
	e->closing = true;
	if (rowd_async_close(e->ac, e->hout, on_closed, e) < 0)
		fail_call(e, e->out_name);
}

static void on_written(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct enrich *e = arg;

	(void)ac;
	e->writes--;
	if (r->errcode) {
		fail(e, e->out_name, r->errcode, r->errstr);
		return;
	}
	e->rows_out += r->count;
	pump(e);
	finish_if_done(e);
}

static void on_read(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct enrich *e = arg;
	const msgpack_object *rows = r->rows;

	e->reading = false;
	if (r->errcode) {
		fail(e, e->in_name, r->errcode, r->errstr);
		return;
	}
	e->eof = r->eof || rows->via.array.size == 0;
	msgpack_sbuffer_clear(&e->out);
	for (uint32_t i = 0; i < rows->via.array.size; i++) {
		const msgpack_object *row = &rows->via.array.ptr[i];

		if (row->type != MSGPACK_OBJECT_MAP) {
			fail(e, e->in_name, "EFORMAT", "a row that is not a map");
			return;
		}
		if (enrich_row(e, row)) {
			fail(e, e->in_name, "ENOMEM", "cannot pack an enriched row");
			return;
		}
	}
	/* The next read goes out before this batch's write is answered. */
	if (rows->via.array.size > 0) {
		if (rowd_async_write_bulk_packed(ac, e->hout, e->out.data, e->out.size,
		                                 rows->via.array.size, on_written, e) < 0) {
			fail_call(e, e->out_name);
			return;
		}
		e->writes++;
	}
	pump(e);
	finish_if_done(e);
}

/* Keeps one read in flight while the write window has room. */
static void pump(struct enrich *e)
{
	if (e->reading || e->eof || e->writes >= WINDOW || e->rc || !e->hin || !e->hout)
		return;
	if (rowd_async_read_bulk(e->ac, e->hin, BATCH, on_read, e) < 0) {
		fail_call(e, e->in_name);
		return;
	}
	e->reading = true;
}

static void on_open_in(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct enrich *e = arg;

	(void)ac;
	if (r->errcode) {
		fail(e, e->in_name, r->errcode, r->errstr);
		return;
	}
	e->hin = r->handle;
	pump(e);
}

static void on_open_out(rowd_async *ac, const struct rowd_reply *r, void *arg)
{
	struct enrich *e = arg;

	(void)ac;
	if (r->errcode) {
		fail(e, e->out_name, r->errcode, r->errstr);
		return;
	}
	e->hout = r->handle;
	pump(e);
}

static void on_disconnect(rowd_async *ac, int status, void *arg)
{
	struct enrich *e = arg;

	/* Pending callbacks have had their ECONN (and reported it). */
	if (status != 0) {
		fail(e, "connection", rowd_async_errcode(ac), rowd_async_errstr(ac));
		rowd_async_free(ac);
	}
}

/* The daemon resolves paths beneath its roots: send the absolute path of
 * IN when it exists here, and of OUT's directory; else the name as given
 * (relative to the daemon's first root). NULL when out of memory. */
static char *abs_path(const char *name, bool output)
{
	char *copy, *base_copy, *dir, *res = NULL;

	if (!output) {
		res = realpath(name, NULL);
		return res ? res : strdup(name);
	}
	copy = strdup(name);
	base_copy = strdup(name);
	dir = copy ? realpath(dirname(copy), NULL) : NULL;
	if (!copy || !base_copy)
		res = NULL;
	else if (!dir)
		res = strdup(name);
	else if ((res = malloc(strlen(dir) + strlen(name) + 2)))
		sprintf(res, "%s/%s", strcmp(dir, "/") ? dir : "", basename(base_copy));
	free(dir);
	free(copy);
	free(base_copy);
	return res;
}

static int start(struct enrich *e)
{
	struct rowd_open_opts w = { .mode = "w" };
	char *in = abs_path(e->in_name, false), *out = abs_path(e->out_name, true);
	int rc = -1;

	if (!in || !out)
		fprintf(stderr, "async_enrich: out of memory\n");
	else if (rowd_async_open(e->ac, in, NULL, on_open_in, e) < 0)
		fail_call(e, e->in_name);
	else if (rowd_async_open(e->ac, out, &w, on_open_out, e) < 0)
		fail_call(e, e->out_name);
	else
		rc = 0;
	free(in);
	free(out);
	return rc;
}

static int run(struct enrich *e, const char *socket)
{
	struct event_base *base = event_base_new();

	if (!base) {
		fprintf(stderr, "async_enrich: cannot make an event base\n");
		return 1;
	}
	e->ac = rowd_async_connect(socket);
	if (!e->ac || rowd_async_broken(e->ac) || rowd_libevent_attach(e->ac, base) < 0) {
		fprintf(stderr, "async_enrich: %s\n",
		        e->ac ? rowd_async_errstr(e->ac) : "out of memory");
		rowd_async_free(e->ac);
		event_base_free(base);
		return 1;
	}
	rowd_async_on_disconnect(e->ac, on_disconnect, e);
	if (start(e) == 0)
		event_base_dispatch(base);   /* until the context is freed */
	else if (!e->rc)
		rowd_async_free(e->ac);
	event_base_free(base);
	return (e->rc || !e->closing) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct enrich e = { .rc = 0 };
	const char *socket = NULL;
	int ch, rc;

	while ((ch = getopt(argc, argv, "s:h")) != -1) {
		if (ch != 's') {
			fprintf(stderr, "usage: async_enrich [-s SOCKET] IN OUT\n");
			return ch == 'h' ? 0 : 2;
		}
		socket = optarg;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: async_enrich [-s SOCKET] IN OUT\n");
		return 2;
	}
	e.in_name = argv[optind];
	e.out_name = argv[optind + 1];
	msgpack_sbuffer_init(&e.out);
	msgpack_packer_init(&e.pk, &e.out, msgpack_sbuffer_write);
	rc = run(&e, socket);
	msgpack_sbuffer_destroy(&e.out);
	return rc;
}
