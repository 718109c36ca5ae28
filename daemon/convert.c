/* The convert op: rows copied from a source to a target on a worker, no
 * rows crossing the socket. It runs as a series of steps (~50 ms each) so
 * that progress messages go out and a cancel is seen between steps; the
 * target is written atomically like any write handle. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"

#define STEP_US 50000
#define PROGRESS_EVERY_US 250000
#define CONVERT_BATCH 1000

struct convert {
	struct runtime *rt;           /* the format states point into it */
	struct handle src, dst;
	msgpack_zone zone;
	struct mpbuf rows;
	uint64_t rows_in, rows_out;
	uint64_t t0_us, next_progress_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void side_init(struct handle *h, char mode)
{
	memset(h, 0, sizeof *h);
	h->mode = mode;
	h->fd = -1;
	h->wf.fd = h->wf.dirfd = -1;
}

void convert_free(struct reqmsg *m)
{
	struct convert *cv = m->state;

	if (!cv)
		return;
	handle_release_state(&cv->src);
	handle_release_state(&cv->dst);
	runtime_unref(cv->rt);
	msgpack_zone_destroy(&cv->zone);
	mpbuf_free(&cv->rows);
	free(cv);
	m->state = NULL;
}

static struct convert *convert_start(struct rjob *rj, struct rowd_error *err)
{
	const struct rowd_request *req = &rj->msg->req;
	struct job_env env = { &rj->rt->roots, &rj->rt->row_limits };
	struct convert *cv = calloc(1, sizeof *cv);

	if (!cv || !msgpack_zone_init(&cv->zone, 64 * 1024)) {
		free(cv);
		rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		return NULL;
	}
	cv->rt = runtime_ref(rj->rt);
	side_init(&cv->src, 'r');
	side_init(&cv->dst, 'w');
	mpbuf_init(&cv->rows);
	rj->msg->state = cv;
	cv->t0_us = now_us();
	if (jobs_open_reader(&cv->src, &env, &req->open, err) < 0 ||
	    jobs_open_writer(&cv->dst, &env, &req->to, err) < 0) {
		convert_free(rj->msg);
		return NULL;
	}
	return cv;
}

static int kv_u(struct mpbuf *b, const char *k, uint64_t v)
{
	return mpbuf_cstr(b, k) < 0 || mpbuf_uint(b, v) < 0 ? -1 : 0;
}

static int answer_final(struct rjob *rj, struct convert *cv, bool cancelled, struct mpbuf *b)
{
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	if (kv_u(b, "rows_in", cv->rows_in) < 0 || kv_u(b, "rows_out", cv->rows_out) < 0 ||
	    kv_u(b, "rows_skipped", cv->src.skipped) < 0 ||
	    kv_u(b, "bytes_in", cv->src.in.raw.pos) < 0 ||
	    kv_u(b, "bytes_out", cv->dst.out.raw.written) < 0 ||
	    mpbuf_cstr(b, "seconds") < 0 ||
	    mpbuf_double(b, (double)(now_us() - cv->t0_us) / 1e6) < 0)
		return -1;
	count += 6;
	if (cancelled) {
		if (mpbuf_cstr(b, "cancelled") < 0 || mpbuf_bool(b, true) < 0)
			return -1;
		count++;
	}
	proto_map_close(b, at, count);
	return 0;
}

static int progress(struct rjob *rj, struct convert *cv, struct mpbuf *b)
{
	const struct rowd_request *req = &rj->msg->req;
	uint64_t now = now_us();
	uint32_t count;
	size_t at;

	if (!req->progress || now < cv->next_progress_us)
		return 0;
	cv->next_progress_us = now + PROGRESS_EVERY_US;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (mpbuf_cstr(b, "progress") < 0 || mpbuf_map_hdr(b, 3) < 0 ||
	    kv_u(b, "bytes_read", cv->src.in.raw.pos) < 0 ||
	    kv_u(b, "bytes_total", cv->src.in.raw.size) < 0 || kv_u(b, "rows", cv->rows_out) < 0)
		return -1;
	proto_map_close(b, at, count + 1);
	return 0;
}

/* Copies one batch; returns 1 at the end of the source, 0 for more. */
static int copy_batch(struct convert *cv, size_t batch, struct rowd_error *err)
{
	size_t got = 0, off = 0;
	uint64_t in0 = cv->src.in.raw.pos, out0 = cv->dst.out.raw.written, rows0 = cv->rows_out;
	int r;

	cv->rows.len = 0;
	msgpack_zone_clear(&cv->zone);
	r = cv->src.fmt->rd_next(cv->src.fst, &cv->rows, batch, &got, &cv->src.skipped, err);
	if (r < 0)
		return -1;
	cv->rows_in += got;
	stats_format_read(cv->src.fmt, got, cv->src.in.raw.pos - in0);
	for (size_t i = 0; i < got; i++) {
		msgpack_object row;
		msgpack_unpack_return ur = msgpack_unpack(cv->rows.data, cv->rows.len, &off, &cv->zone, &row);

		/* EXTRA_BYTES: more rows follow this one in the batch. */
		if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES)
			return rowd_error_set(err, ROWD_EIO, "internal: a packed row did not decode");
		if (cv->dst.fmt->wr_row(cv->dst.fst, &row, err) < 0) {
			err->row = (int64_t)(cv->rows_in - got + i + 1);
			return -1;
		}
		if (output_flush_if_full(&cv->dst.out, err) < 0)
			return -1;
		cv->rows_out++;
	}
	stats_format_written(cv->dst.fmt, cv->rows_out - rows0, cv->dst.out.raw.written - out0);
	return r;
}

int convert_step(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct convert *cv = rj->msg->state;
	size_t batch = rj->msg->req.batch ? (size_t)rj->msg->req.batch : CONVERT_BATCH;
	uint64_t deadline = now_us() + STEP_US;
	int r;

	if (!cv && !(cv = convert_start(rj, err)))
		return -1;
	if (batch > rj->rt->limits.batch_rows)
		batch = rj->rt->limits.batch_rows;
	if (rj->stopping) {
		/* The target stays as it was; the temp file goes. */
		rj->more = false;
		rowd_error_set(err, ROWD_ESHUTDOWN, "the daemon is shutting down: convert stopped after "
		               "%llu rows, target untouched", (unsigned long long)cv->rows_out);
		convert_free(rj->msg);
		return -1;
	}
	if (atomic_load(&rj->msg->cancel)) {
		rj->more = false;
		handle_release_state(&cv->dst);   /* target untouched */
		r = answer_final(rj, cv, true, b);
		convert_free(rj->msg);
		return r < 0 ? rowd_error_set(err, ROWD_ENOMEM, "out of memory") : 0;
	}
	do {
		r = copy_batch(cv, batch, err);
	} while (r == 0 && now_us() < deadline);
	if (r < 0) {
		convert_free(rj->msg);
		return -1;
	}
	if (r == 1) {
		uint64_t out0 = cv->dst.out.raw.written;

		rj->more = false;
		if (jobs_commit_writer(&cv->dst, err) < 0) {
			convert_free(rj->msg);
			return -1;
		}
		stats_format_written(cv->dst.fmt, 0, cv->dst.out.raw.written - out0);
		r = answer_final(rj, cv, false, b);
		convert_free(rj->msg);
		return r < 0 ? rowd_error_set(err, ROWD_ENOMEM, "out of memory") : 0;
	}
	rj->more = true;
	if (progress(rj, cv, b) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	return 0;
}
