/* Request dispatch on the loop thread: answers that need no I/O are given
 * here; everything else becomes a job (strand-bound when it names a
 * handle). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "conn.h"
#include "format.h"
#include "handle.h"
#include "jobs.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"
#include "workers.h"

static int kv_uint(struct mpbuf *b, const char *k, uint64_t v)
{
	return mpbuf_cstr(b, k) < 0 || mpbuf_uint(b, v) < 0 ? -1 : 0;
}

static int kv_str(struct mpbuf *b, const char *k, const char *v)
{
	return mpbuf_cstr(b, k) < 0 || mpbuf_cstr(b, v) < 0 ? -1 : 0;
}

static int pack_exts(struct mpbuf *b, const char *const *ext)
{
	uint32_t n = 0;

	while (ext[n])
		n++;
	if (mpbuf_array_hdr(b, n) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (mpbuf_cstr(b, ext[i]) < 0)
			return -1;
	return 0;
}

static int kv_bool(struct mpbuf *b, const char *k, bool v)
{
	return mpbuf_cstr(b, k) < 0 || mpbuf_bool(b, v) < 0 ? -1 : 0;
}

static int pack_formats(struct mpbuf *b)
{
	const struct format_ops *const *f = format_list();
	uint32_t n = 0;

	while (f[n])
		n++;
	if (mpbuf_cstr(b, "formats") < 0 || mpbuf_array_hdr(b, n) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		unsigned caps = f[i]->caps;
		bool ok = !f[i]->unavailable;

		if (mpbuf_map_hdr(b, 9) < 0 || kv_str(b, "name", f[i]->name) < 0 ||
		    mpbuf_cstr(b, "extensions") < 0 || pack_exts(b, f[i]->extensions) < 0 ||
		    kv_bool(b, "available", ok) < 0 ||
		    kv_bool(b, "read", caps & FMT_CAP_READ) < 0 ||
		    kv_bool(b, "write", caps & FMT_CAP_WRITE) < 0 ||
		    kv_bool(b, "totals", caps & FMT_CAP_TOTALS) < 0 ||
		    kv_bool(b, "tables", caps & FMT_CAP_TABLES) < 0 ||
		    kv_bool(b, "nested", caps & FMT_CAP_NESTED) < 0 ||
		    kv_bool(b, "stream", caps & FMT_CAP_STREAM) < 0)
			return -1;
	}
	return 0;
}

static int pack_codecs(struct mpbuf *b)
{
	const struct codec_ops *const *c = codec_list();
	uint32_t n = 0;

	while (c[n])
		n++;
	if (mpbuf_cstr(b, "codecs") < 0 || mpbuf_array_hdr(b, n) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (mpbuf_map_hdr(b, 5) < 0 || kv_str(b, "name", c[i]->name) < 0 ||
		    mpbuf_cstr(b, "extensions") < 0 || pack_exts(b, c[i]->extensions) < 0 ||
		    kv_bool(b, "available", !c[i]->unavailable) < 0 ||
		    kv_bool(b, "read", c[i]->rd_open != NULL) < 0 ||
		    kv_bool(b, "write", c[i]->wr_open != NULL) < 0)
			return -1;
	return 0;
}

static int pack_limits(struct mpbuf *b, const struct rowd_limits *l)
{
	return mpbuf_cstr(b, "limits") < 0 || mpbuf_map_hdr(b, 13) < 0 ||
	       kv_uint(b, "frame_bytes", l->frame_bytes) < 0 ||
	       kv_uint(b, "text_line", l->text_line) < 0 || kv_uint(b, "depth", l->depth) < 0 ||
	       kv_uint(b, "elements", l->elements) < 0 || kv_uint(b, "str_bytes", l->str_bytes) < 0 ||
	       kv_uint(b, "row_bytes", l->row_bytes) < 0 ||
	       kv_uint(b, "batch_rows", l->batch_rows) < 0 ||
	       kv_uint(b, "handles_per_conn", l->handles_per_conn) < 0 ||
	       kv_uint(b, "connections", l->connections) < 0 ||
	       kv_uint(b, "queued_jobs", l->queued_jobs) < 0 ||
	       kv_uint(b, "out_high", l->out_high) < 0 || kv_uint(b, "out_low", l->out_low) < 0 ||
	       kv_uint(b, "idle_timeout", l->idle_timeout) < 0 ? -1 : 0;
}

static int answer_hello(struct conn *c, const struct rowd_request *req, struct mpbuf *b)
{
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	if (kv_str(b, "server", "rowd") < 0 || kv_str(b, "version", PACKAGE_VERSION) < 0 ||
	    kv_uint(b, "protocol", ROWD_PROTOCOL_VERSION) < 0 || pack_formats(b) < 0 ||
	    pack_codecs(b) < 0 || pack_limits(b, &c->srv->cfg.limits) < 0)
		return -1;
	proto_map_close(b, at, count + 6);
	return 0;
}

static int pack_errors(struct mpbuf *b)
{
	size_t at;
	uint32_t n = 0;

	if (mpbuf_cstr(b, "errors") < 0 || (at = proto_map_open(b)) == (size_t)-1)
		return -1;
	for (int i = 1; i < ROWD_ERR_COUNT; i++) {
		uint64_t v = atomic_load(&g_stats.errors[i]);

		if (v) {
			if (kv_uint(b, rowd_err_name((enum rowd_err)i), v) < 0)
				return -1;
			n++;
		}
	}
	proto_map_close(b, at, n);
	return 0;
}

/* {name: {rows_read, bytes_read, rows_written, bytes_written}} for every
 * format that has seen a row or a byte. */
static int pack_format_stats(struct mpbuf *b)
{
	const struct format_ops *const *f = format_list();
	size_t at;
	uint32_t n = 0;

	if (mpbuf_cstr(b, "formats") < 0 || (at = proto_map_open(b)) == (size_t)-1)
		return -1;
	for (size_t i = 0; f[i]; i++) {
		struct fmt_stats *st = stats_format(f[i]);
		uint64_t rr, br, rw, bw;

		if (!st)
			continue;
		rr = atomic_load(&st->rows_read);
		br = atomic_load(&st->bytes_read);
		rw = atomic_load(&st->rows_written);
		bw = atomic_load(&st->bytes_written);
		if (!rr && !br && !rw && !bw)
			continue;
		if (mpbuf_cstr(b, f[i]->name) < 0 || mpbuf_map_hdr(b, 4) < 0 ||
		    kv_uint(b, "rows_read", rr) < 0 || kv_uint(b, "bytes_read", br) < 0 ||
		    kv_uint(b, "rows_written", rw) < 0 || kv_uint(b, "bytes_written", bw) < 0)
			return -1;
		n++;
	}
	proto_map_close(b, at, n);
	return 0;
}

/* Each field is counted as it is packed, so that the map header always
 * matches what follows. */
#define FIELD(expr) do { if ((expr) < 0) return -1; count++; } while (0)

static int answer_stats(struct conn *c, const struct rowd_request *req, struct mpbuf *b)
{
	struct server *s = c->srv;
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	FIELD(kv_uint(b, "uptime", (uint64_t)(time(NULL) - g_stats.started)));
	FIELD(mpbuf_cstr(b, "connections") < 0 || mpbuf_map_hdr(b, 3) < 0 ||
	      kv_uint(b, "now", s->nconns) < 0 || kv_uint(b, "total", g_stats.conns_total) < 0 ||
	      kv_uint(b, "rejected", g_stats.conns_rejected) < 0 ? -1 : 0);
	FIELD(kv_uint(b, "handles", g_stats.handles_now));
	FIELD(kv_uint(b, "requests", g_stats.requests));
	FIELD(kv_uint(b, "jobs_queued", atomic_load(&g_stats.jobs_queued)));
	FIELD(kv_uint(b, "jobs_running", atomic_load(&g_stats.jobs_running)));
	FIELD(kv_uint(b, "workers", workers_count(s->workers)));
	FIELD(kv_uint(b, "rows_out", atomic_load(&g_stats.rows_out)));
	FIELD(kv_uint(b, "rows_in", atomic_load(&g_stats.rows_in)));
	FIELD(kv_uint(b, "bytes_out", atomic_load(&g_stats.bytes_out)));
	FIELD(kv_uint(b, "bytes_in", atomic_load(&g_stats.bytes_in)));
	FIELD(pack_format_stats(b));
	FIELD(kv_uint(b, "limits_hit", atomic_load(&g_stats.limits_hit)));
	FIELD(pack_limits(b, &s->cfg.limits));
	FIELD(kv_uint(b, "loop_lag_us", g_stats.loop_lag_us_last));
	FIELD(kv_uint(b, "loop_lag_us_max", g_stats.loop_lag_us_max));
	FIELD(kv_uint(b, "reloads", g_stats.reloads));
	FIELD(kv_uint(b, "reload_failures", g_stats.reload_failures));
	FIELD(kv_uint(b, "config_generation", s->rt->generation));
	FIELD(kv_bool(b, "stopping", s->stopping));
	FIELD(pack_errors(b));
	proto_map_close(b, at, count);
	return 0;
}

#undef FIELD

static int answer_simple(const struct rowd_request *req, struct mpbuf *b, const char *key,
                         const char *text)
{
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	if (text) {
		if (kv_str(b, key, text) < 0)
			return -1;
	} else if (mpbuf_cstr(b, key) < 0 || mpbuf_bool(b, true) < 0) {
		return -1;
	}
	proto_map_close(b, at, count + 1);
	return 0;
}

/* Answers given on the loop thread. Returns 1 when answered. */
static int answer_inline(struct conn *c, const struct rowd_request *req, struct rowd_error *err)
{
	struct mpbuf b;
	int rc;

	mpbuf_init(&b);
	switch (req->op) {
	case OP_PING: rc = answer_simple(req, &b, "pong", NULL); break;
	case OP_HELP: rc = answer_simple(req, &b, "help", proto_text_help()); break;
	case OP_HELLO: rc = answer_hello(c, req, &b); break;
	case OP_STATS: rc = answer_stats(c, req, &b); break;
	default: return 0;
	}
	if (rc < 0) {
		mpbuf_free(&b);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	conn_send_answer(c, &b);
	return 1;
}

static struct handle *lookup(struct conn *c, uint32_t num, struct rowd_error *err)
{
	if (num == 0 || num > c->nslots || !c->slots[num - 1]) {
		rowd_error_set(err, ROWD_EBADHANDLE, "no handle %u on this connection", num);
		return NULL;
	}
	return c->slots[num - 1];
}

/* Marks a stream for cancelling; its next step ends it with
 * {cancelled: true}. The handle stays open where the stream stopped. */
static int cancel(struct conn *c, const struct rowd_request *req, struct rowd_error *err)
{
	struct reqmsg *target = handle_find_stream(c, req->target_raw, req->target_len);
	struct mpbuf b;

	for (struct reqmsg *m = c->converts; m && !target; m = m->next_active)
		if (m->req.id_len == req->target_len &&
		    memcmp(m->req.id_raw, req->target_raw, req->target_len) == 0)
			target = m;
	if (!target)
		return rowd_error_set(err, ROWD_EINVAL, "no stream or convert with that id on this connection");
	atomic_store(&target->cancel, true);
	mpbuf_init(&b);
	if (answer_simple(req, &b, "cancelling", NULL) < 0) {
		mpbuf_free(&b);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	conn_send_answer(c, &b);
	return 0;
}

static int route(struct conn *c, struct reqmsg *m, struct rowd_error *err)
{
	struct server *s = c->srv;
	const struct rowd_request *req = &m->req;
	struct handle *h;
	int r;

	if (s->stopping)
		return rowd_error_set(err, ROWD_ESHUTDOWN, "the daemon is shutting down");
	r = answer_inline(c, req, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (req->op == OP_CANCEL)
		return cancel(c, req, err);
	if (s->queued >= s->cfg.limits.queued_jobs)
		return rowd_error_set(err, ROWD_ELIMIT, "too many queued requests (queued_jobs limit %zu)",
		                      s->cfg.limits.queued_jobs);
	if (req->op == OP_CONVERT) {
		m->next_active = c->converts;
		c->converts = m;
	}
	if (req->op == OP_DETECT || req->op == OP_TABLES || req->op == OP_CONVERT) {
		s->queued++;
		jobs_submit(c, NULL, m);
		return 1;
	}
	if (req->op == OP_OPEN) {
		h = handle_new(c, err);
		if (!h)
			return -1;
		handle_enqueue(h, m);
		return 1;
	}
	h = lookup(c, req->handle, err);
	if (!h)
		return -1;
	/* The number is free again as soon as close arrives, like an fd. */
	if (req->op == OP_CLOSE)
		handle_detach(h);
	handle_enqueue(h, m);
	return 1;
}

void dispatch_request(struct conn *c, struct reqmsg *m)
{
	struct rowd_error err;
	int r;

	g_stats.requests++;
	rowd_error_clear(&err);
	r = proto_request_decode(&m->up.data, &c->srv->cfg.limits, &m->req, &err);
	conn_default_id(c, m->req.id_raw, &m->req.id_len);
	if (r < 0) {
		conn_send_error(c, m->req.id_raw, m->req.id_len, &err);
		reqmsg_free(m);
		return;
	}
	/* route: -1 error, 0 answered here, 1 the request was handed on. */
	r = route(c, m, &err);
	if (r < 0)
		conn_send_error(c, m->req.id_raw, m->req.id_len, &err);
	if (r <= 0)
		reqmsg_free(m);
}
