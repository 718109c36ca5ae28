/* The work of each request, on a worker (see jobs.h). Strand-bound jobs
 * own their handle's format/codec state while they run. */
#include "config.h"

#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "jobs.h"
#include "log.h"
#include "paths.h"
#include "rowsize.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"
#include "workers.h"

/* Rows per format call during a counting pass. */
#define COUNT_BATCH 4096

/* A handle's jobs use the configuration it was opened with (its format
 * state points into it); other jobs the one they were submitted with. */
static void job_env(const struct rjob *rj, struct job_env *env)
{
	const struct runtime *rt = rj->h && rj->h->rt ? rj->h->rt : rj->rt;

	env->roots = &rt->roots;
	env->limits = &rt->row_limits;
}

static int put_key(struct mpbuf *b, const char *k)
{
	return mpbuf_cstr(b, k);
}

static int pack_caps(struct mpbuf *b, unsigned caps)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ FMT_CAP_READ, "read" }, { FMT_CAP_WRITE, "write" }, { FMT_CAP_TOTALS, "totals" },
		{ FMT_CAP_TABLES, "tables" }, { FMT_CAP_NESTED, "nested" }, { FMT_CAP_STREAM, "stream" },
	};
	size_t at = proto_array_open(b);
	uint32_t n = 0;

	if (at == (size_t)-1)
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (caps & names[i].bit) {
			if (mpbuf_cstr(b, names[i].name) < 0)
				return -1;
			n++;
		}
	proto_array_close(b, at, n);
	return 0;
}

void handle_release_state(struct handle *h)
{
	if (h->fst) {
		if (h->mode == 'w')
			h->fmt->wr_close(h->fst);
		else
			h->fmt->rd_close(h->fst);
		h->fst = NULL;
	}
	input_close(&h->in);
	output_close(&h->out);
	if (h->wf.fd >= 0 || h->wf.tmpname)
		wfile_abort(&h->wf);
	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
}

/* What a reader of h is opened with; in is h->in or a counting pass's. */
static void reader_args(struct handle *h, const struct rowd_limits *limits,
                        const msgpack_object *options, struct input *in, struct fmt_args *a)
{
	memset(a, 0, sizeof *a);
	a->fmt = h->fmt;
	a->in = in;
	a->options = options;
	a->limits = limits;
	a->fd = h->fd;
	snprintf(h->fd_path, sizeof h->fd_path, "/proc/self/fd/%d", h->fd);
	a->fd_path = h->fd_path;
}

/* Formats that read the file themselves cannot sit behind a codec. */
static int check_raw(const struct handle *h, struct rowd_error *err)
{
	if ((h->fmt->caps & FMT_CAP_RAW) && strcmp(h->codec->name, "none") != 0)
		return rowd_error_set(err, ROWD_ENOTSUP, "format %s cannot be read or written through codec %s",
		                      h->fmt->name, h->codec->name);
	return 0;
}

int jobs_open_reader(struct handle *h, const struct job_env *env,
                       const struct rowd_open_spec *spec, struct rowd_error *err)
{
	struct fmt_args a;

	h->fd = paths_open_read(env->roots, spec->path, spec->path_len, err);
	if (h->fd < 0)
		return -1;
	if (detect_read(h->fd, spec->path, spec->path_len, spec, env->limits->row_bytes,
	                &h->codec, &h->fmt, err) < 0)
		return -1;
	if (!h->fmt->rd_open)
		return rowd_error_set(err, ROWD_ENOTSUP, "format %s cannot be read", h->fmt->name);
	if (check_raw(h, err) < 0 ||
	    input_open(&h->in, h->fd, h->codec, spec->codec_options, env->limits->row_bytes, err) < 0)
		return -1;
	reader_args(h, env->limits, spec->options, &h->in, &a);
	return h->fmt->rd_open(&a, &h->fst, err);
}

int jobs_open_writer(struct handle *h, const struct job_env *env,
                       const struct rowd_open_spec *spec, struct rowd_error *err)
{
	struct fmt_args a = { 0 };
	char *name = NULL;
	int dirfd;

	dirfd = paths_open_parent(env->roots, spec->path, spec->path_len, &name, err);
	if (dirfd < 0)
		return -1;
	if (detect_write(name, spec, &h->codec, &h->fmt, err) < 0) {
		close(dirfd);
		free(name);
		return -1;
	}
	if (!h->fmt->wr_open) {
		close(dirfd);
		free(name);
		return rowd_error_set(err, ROWD_ENOTSUP, "format %s cannot be written", h->fmt->name);
	}
	if (wfile_open(&h->wf, dirfd, name, err) < 0)
		return -1;
	if (check_raw(h, err) < 0 ||
	    output_open_named(&h->out, h->wf.fd, h->wf.name, h->codec, spec->codec_options,
	                      err) < 0)
		return -1;
	a.fmt = h->fmt;
	a.out = &h->out;
	a.options = spec->options;
	a.limits = env->limits;
	a.fd = -1;
	a.wf = &h->wf;
	return h->fmt->wr_open(&a, &h->fst, err);
}

static int do_open(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_open_spec *spec = &rj->msg->req.open;
	struct job_env env;
	uint32_t count;
	size_t at;

	if (!h->rt)
		h->rt = runtime_ref(rj->rt);
	job_env(rj, &env);
	if (spec->engine && !(spec->engine_len == 8 && memcmp(spec->engine, "internal", 8) == 0))
		return rowd_error_set(err, ROWD_ENOTSUP, "engine '%.*s' is not available (engines: internal)",
		                      (int)(spec->engine_len > 32 ? 32 : spec->engine_len), spec->engine);
	h->mode = spec->mode ? spec->mode : 'r';
	if ((h->mode == 'w' ? jobs_open_writer : jobs_open_reader)(h, &env, spec, err) < 0)
		return -1;
	/* The options stay referenced by the format state. */
	h->open_msg = rj->msg;
	at = proto_answer_begin(b, rj->msg->req.id_raw, rj->msg->req.id_len, true, &count);
	if (put_key(b, "handle") < 0 || mpbuf_uint(b, h->num) < 0 ||
	    put_key(b, "mode") < 0 || mpbuf_str(b, h->mode == 'w' ? "w" : "r", 1) < 0 ||
	    put_key(b, "format") < 0 || mpbuf_cstr(b, h->fmt->name) < 0 ||
	    put_key(b, "codec") < 0 || mpbuf_cstr(b, h->codec->name) < 0 ||
	    put_key(b, "capabilities") < 0 || pack_caps(b, h->fmt->caps) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	count += 5;
	if (h->mode == 'r' && h->fmt->rd_columns) {
		size_t mark = b->len;

		if (put_key(b, "columns") < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		if (h->fmt->rd_columns(h->fst, b) == 1)
			count++;
		else
			b->len = mark;
	}
	proto_map_close(b, at, count);
	return 0;
}

static int need_mode(const struct handle *h, char mode, struct rowd_error *err)
{
	if (h->mode == mode)
		return 0;
	return rowd_error_set(err, ROWD_EBADHANDLE, "handle %u is open for %s", h->num,
	                      h->mode == 'w' ? "writing" : "reading");
}

/* Reads up to n rows into b. An error after some rows is kept for the
 * next read so that the good rows before it are not lost. */
static int read_rows(struct handle *h, struct mpbuf *b, size_t n, size_t *got,
                     struct rowd_error *err)
{
	uint64_t pos0 = h->in.raw.pos;

	*got = 0;
	if (h->has_pending_err) {
		*err = h->pending_err;
		h->has_pending_err = false;
		return -1;
	}
	while (*got < n && !h->eof) {
		size_t k = 0;
		int r = h->fmt->rd_next(h->fst, b, n - *got, &k, &h->skipped, err);

		*got += k;
		h->rows_read += k;
		if (r < 0) {
			if (*got == 0)
				return -1;
			h->pending_err = *err;
			h->has_pending_err = true;
			rowd_error_clear(err);
			break;
		}
		if (r == 1)
			h->eof = true;
		if (atomic_load(&h->cancel))
			return rowd_error_set(err, ROWD_ECANCELLED, "cancelled");
	}
	atomic_fetch_add_explicit(&g_stats.rows_out, *got, memory_order_relaxed);
	stats_format_read(h->fmt, *got, h->in.raw.pos - pos0);
	return 0;
}

static int finish_eof(struct handle *h, struct mpbuf *b, uint32_t *count)
{
	(*count)++;
	if (put_key(b, "eof") < 0 || mpbuf_bool(b, h->eof && !h->has_pending_err) < 0)
		return -1;
	if (h->skipped) {
		(*count)++;
		if (put_key(b, "skipped") < 0 || mpbuf_uint(b, h->skipped) < 0)
			return -1;
	}
	return 0;
}

static int do_read(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at, mark, got;

	if (need_mode(h, 'r', err) < 0)
		return -1;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	mark = b->len;
	if (put_key(b, "row") < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	if (read_rows(h, b, 1, &got, err) < 0)
		return -1;
	if (got == 0)
		b->len = mark;
	else
		count++;
	if (got == 0 || h->eof) {
		if (finish_eof(h, b, &count) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	proto_map_close(b, at, count);
	return 0;
}

static int do_read_bulk(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at, arr, got;

	if (need_mode(h, 'r', err) < 0)
		return -1;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (put_key(b, "rows") < 0 || (arr = proto_array_open(b)) == (size_t)-1)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	if (read_rows(h, b, (size_t)req->n, &got, err) < 0)
		return -1;
	proto_array_close(b, arr, (uint32_t)got);
	count++;
	if (finish_eof(h, b, &count) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	proto_map_close(b, at, count);
	return 0;
}

static int write_one(struct handle *h, const msgpack_object *row, struct rowd_error *err)
{
	size_t size, max = h->rt->row_limits.row_bytes;

	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "a row must be a map");
	/* Written rows obey the limit that read rows do. */
	size = row_packed_size(row);
	if (size > max)
		return rowd_error_set(err, ROWD_ELIMIT, "row of %zu bytes exceeds the row_bytes limit (%zu)",
		                      size, max);
	if (h->fmt->wr_row(h->fst, row, err) < 0 || output_flush_if_full(&h->out, err) < 0)
		return -1;
	h->rows_written++;
	return 0;
}

static int answer_written(struct rjob *rj, struct mpbuf *b, uint64_t n, struct rowd_error *err)
{
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	if (put_key(b, "written") < 0 || mpbuf_uint(b, n) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	proto_map_close(b, at, count + 1);
	atomic_fetch_add_explicit(&g_stats.rows_in, n, memory_order_relaxed);
	return 0;
}

static int do_write(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	uint64_t pos0 = h->out.raw.written;

	if (need_mode(h, 'w', err) < 0 || write_one(h, rj->msg->req.row, err) < 0)
		return -1;
	stats_format_written(h->fmt, 1, h->out.raw.written - pos0);
	return answer_written(rj, b, 1, err);
}

static int do_write_bulk(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const msgpack_object *rows = rj->msg->req.rows;
	uint64_t pos0 = h->out.raw.written;

	if (need_mode(h, 'w', err) < 0)
		return -1;
	for (uint32_t i = 0; i < rows->via.array.size; i++) {
		if (write_one(h, &rows->via.array.ptr[i], err) < 0) {
			stats_format_written(h->fmt, i, h->out.raw.written - pos0);
			char msg[ROWD_ERRMSG_MAX];

			/* Rows before the bad one are written; say so. */
			memcpy(msg, err->message, sizeof msg);
			rowd_error_set(err, err->code, "row %u of the batch: %.180s (%u rows before it were written)",
			               i + 1, msg, i);
			err->row = (int64_t)i + 1;
			return -1;
		}
		if (atomic_load(&h->cancel))
			return rowd_error_set(err, ROWD_ECANCELLED, "cancelled");
	}
	stats_format_written(h->fmt, rows->via.array.size, h->out.raw.written - pos0);
	return answer_written(rj, b, rows->via.array.size, err);
}

static int do_reset(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	const struct rowd_open_spec *spec = &h->open_msg->req.open;
	struct fmt_args a;
	struct job_env env;
	uint32_t count;
	size_t at;

	if (need_mode(h, 'r', err) < 0)
		return -1;
	job_env(rj, &env);
	h->fmt->rd_close(h->fst);
	h->fst = NULL;
	h->eof = false;
	h->has_pending_err = false;
	h->rows_read = h->skipped = 0;
	if (input_rewind(&h->in, err) < 0)
		return -1;
	reader_args(h, env.limits, spec->options, &h->in, &a);
	if (h->fmt->rd_open(&a, &h->fst, err) < 0)
		return -1;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	proto_map_close(b, at, count);
	return 0;
}

/* The exact number of rows a full read returns: a second reader over the
 * same fd (pread keeps the handle's own position untouched). */
static int count_rows(struct handle *h, const struct rowd_limits *limits, uint64_t *total,
                      struct rowd_error *err)
{
	const struct rowd_open_spec *spec = &h->open_msg->req.open;
	struct fmt_args a = { 0 };
	struct input in;
	struct mpbuf scratch;
	uint64_t skipped = 0;
	void *st = NULL;
	int r = -1;

	*total = 0;
	mpbuf_init(&scratch);
	if (input_open(&in, h->fd, h->codec, spec->codec_options, limits->row_bytes, err) < 0)
		goto out;
	reader_args(h, limits, spec->options, &in, &a);
	if (h->fmt->rd_open(&a, &st, err) < 0)
		goto out;
	do {
		size_t got = 0;

		scratch.len = 0;
		if (h->fmt->rd_count) {
			r = h->fmt->rd_count(st, total, err);
		} else {
			r = h->fmt->rd_next(st, &scratch, COUNT_BATCH, &got, &skipped, err);
			*total += got;
		}
		if (r == 0 && atomic_load(&h->cancel))
			r = rowd_error_set(err, ROWD_ECANCELLED, "cancelled");
	} while (r == 0);
	h->fmt->rd_close(st);
out:
	input_close(&in);
	mpbuf_free(&scratch);
	return r < 0 ? -1 : 0;
}

static int do_totals(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	struct job_env env;
	uint64_t total;
	uint32_t count;
	size_t at;

	if (need_mode(h, 'r', err) < 0)
		return -1;
	if (!(h->fmt->caps & FMT_CAP_TOTALS))
		return rowd_error_set(err, ROWD_ENOTSUP, "format %s cannot count its rows", h->fmt->name);
	job_env(rj, &env);
	if (count_rows(h, env.limits, &total, err) < 0)
		return -1;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (put_key(b, "rows") < 0 || mpbuf_uint(b, total) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	proto_map_close(b, at, count + 1);
	return 0;
}

static int do_close(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at;
	uint64_t pos0 = h->out.raw.written;

	if (h->mode == 'w') {
		if (jobs_commit_writer(h, err) < 0)
			return -1;
		/* The buffered tail and the format's trailer. */
		stats_format_written(h->fmt, 0, h->out.raw.written - pos0);
	}
	handle_release_state(h);
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (h->mode == 'w') {
		if (put_key(b, "rows_written") < 0 || mpbuf_uint(b, h->rows_written) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		count++;
	} else {
		if (put_key(b, "rows_read") < 0 || mpbuf_uint(b, h->rows_read) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		count++;
	}
	proto_map_close(b, at, count);
	return 0;
}

#define STREAM_BATCH_DEFAULT 1000
#define PROGRESS_EVERY_US 250000

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int stream_progress(struct rjob *rj, struct mpbuf *b)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	uint64_t now = mono_us();
	uint32_t count;
	size_t at;

	if (!h->stream.progress || now < h->stream.next_progress_us)
		return 0;
	h->stream.next_progress_us = now + PROGRESS_EVERY_US;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (put_key(b, "progress") < 0 || mpbuf_map_hdr(b, 3) < 0 ||
	    put_key(b, "bytes_read") < 0 || mpbuf_uint(b, h->in.raw.pos) < 0 ||
	    put_key(b, "bytes_total") < 0 || mpbuf_uint(b, h->in.raw.size) < 0 ||
	    put_key(b, "rows") < 0 || mpbuf_uint(b, h->stream.rows_total) < 0)
		return -1;
	proto_map_close(b, at, count + 1);
	return 0;
}

/* The last message of a stream: {eof: true, rows_total} (+ cancelled or
 * limit_reached when it ended early). */
static int stream_end(struct rjob *rj, struct mpbuf *b, const char *why)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	uint32_t count;
	size_t at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);

	if (put_key(b, "eof") < 0 || mpbuf_bool(b, true) < 0 ||
	    put_key(b, "rows_total") < 0 || mpbuf_uint(b, h->stream.rows_total) < 0)
		return -1;
	count += 2;
	if (why) {
		if (put_key(b, why) < 0 || mpbuf_bool(b, true) < 0)
			return -1;
		count++;
	}
	if (h->skipped) {
		if (put_key(b, "skipped") < 0 || mpbuf_uint(b, h->skipped) < 0)
			return -1;
		count++;
	}
	proto_map_close(b, at, count);
	h->stream.active = false;
	rj->more = false;
	return 0;
}

/* One step of a stream: one batch message {rows, seq}, maybe a progress
 * message, and the final message when the data (or the limit) ends. */
static int do_stream(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	struct handle *h = rj->h;
	const struct rowd_request *req = &rj->msg->req;
	struct job_env env;
	uint32_t count;
	size_t at, arr, got, want;

	if (need_mode(h, 'r', err) < 0)
		return -1;
	job_env(rj, &env);
	if (!h->stream.active) {
		h->stream.active = true;
		h->stream.seq = h->stream.rows_total = 0;
		h->stream.remaining = req->limit ? req->limit : UINT64_MAX;
		h->stream.batch = req->batch ? (size_t)req->batch : STREAM_BATCH_DEFAULT;
		/* The limit in force now, not the one of the open. */
		if (h->stream.batch > rj->rt->limits.batch_rows)
			h->stream.batch = rj->rt->limits.batch_rows;
		h->stream.progress = req->progress;
		h->stream.next_progress_us = 0;
	}
	rj->more = true;
	if (rj->stopping) {
		h->stream.active = false;
		rj->more = false;
		return rowd_error_set(err, ROWD_ESHUTDOWN, "the daemon is shutting down: "
		                      "stream stopped after %llu rows",
		                      (unsigned long long)h->stream.rows_total);
	}
	if (atomic_load(&rj->msg->cancel))
		return stream_end(rj, b, "cancelled") < 0 ? rowd_error_set(err, ROWD_ENOMEM, "out of memory") : 0;
	want = h->stream.batch < h->stream.remaining ? h->stream.batch : (size_t)h->stream.remaining;
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	if (put_key(b, "rows") < 0 || (arr = proto_array_open(b)) == (size_t)-1)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	if (read_rows(h, b, want, &got, err) < 0) {
		h->stream.active = false;
		rj->more = false;
		return -1;
	}
	if (got) {
		proto_array_close(b, arr, (uint32_t)got);
		if (put_key(b, "seq") < 0 || mpbuf_uint(b, h->stream.seq++) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		proto_map_close(b, at, count + 2);
		h->stream.rows_total += got;
		h->stream.remaining -= got;
	} else {
		b->len = 0;
	}
	if (stream_progress(rj, b) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	if ((h->eof && !h->has_pending_err) || h->stream.remaining == 0) {
		if (stream_end(rj, b, h->eof ? NULL : "limit_reached") < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	return 0;
}

int jobs_commit_writer(struct handle *h, struct rowd_error *err)
{
	if (h->fmt->wr_finish(h->fst, err) < 0 || output_finish(&h->out, err) < 0) {
		handle_release_state(h);
		return -1;
	}
	h->fmt->wr_close(h->fst);
	h->fst = NULL;
	output_close(&h->out);
	if (wfile_commit(&h->wf, err) < 0) {
		handle_release_state(h);
		return -1;
	}
	return 0;
}

/* detect: format, codec, and what the head tells (encoding, and the
 * format's own findings such as a CSV delimiter). */
static int describe_head(int fd, const struct codec_ops *codec, const struct format_ops *fmt,
                         const struct rowd_request *req, const struct job_env *env,
                         struct mpbuf *b, uint32_t *count, struct rowd_error *err)
{
	const char *member;
	struct input in;
	int rc = -1;

	if (detect_head(&in, fd, codec, req->open.codec_options, env->limits->row_bytes, err) < 0)
		goto out;
	/* A container says which member it read. */
	if (codec->rd_name && (member = codec->rd_name(in.codec_state))) {
		if (put_key(b, "member") < 0 || mpbuf_cstr(b, member) < 0)
			goto nomem;
		(*count)++;
	}
	if (!(fmt->caps & FMT_CAP_BINARY)) {
		const char *enc = detect_encoding(input_ptr(&in), input_avail(&in));

		if (put_key(b, "encoding") < 0 || mpbuf_cstr(b, enc) < 0)
			goto nomem;
		(*count)++;
		if (detect_to_utf8(&in, enc, err) < 0)
			goto out;
	}
	if (fmt->describe && fmt->describe(fmt, input_ptr(&in), input_avail(&in), b, count) < 0)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	rowd_error_set(err, ROWD_ENOMEM, "out of memory");
out:
	input_close(&in);
	return rc;
}

/* tables: the names of a multi-table source, in source order. */
static int list_tables(int fd, const struct codec_ops *codec, const struct format_ops *fmt,
                       const struct rowd_request *req, const struct job_env *env,
                       struct mpbuf *b, struct rowd_error *err)
{
	struct handle tmp = { .fd = fd, .fmt = fmt, .codec = codec };
	struct fmt_args a;
	struct input in;
	uint32_t count;
	size_t at;
	int rc;

	if (!fmt->tables)
		return rowd_error_set(err, ROWD_ENOTSUP, "format %s has no tables", fmt->name);
	if (check_raw(&tmp, err) < 0)
		return -1;
	if (input_open(&in, fd, codec, req->open.codec_options, env->limits->row_bytes, err) < 0) {
		input_close(&in);
		return -1;
	}
	reader_args(&tmp, env->limits, req->open.options, &in, &a);
	at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
	rc = put_key(b, "tables") < 0 ? rowd_error_set(err, ROWD_ENOMEM, "out of memory")
	                              : fmt->tables(&a, b, err);
	input_close(&in);
	if (rc < 0)
		return -1;
	proto_map_close(b, at, count + 1);
	return 0;
}

/* detect and tables: no handle, a private fd. */
static int do_detect(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	const struct rowd_request *req = &rj->msg->req;
	const struct codec_ops *codec;
	const struct format_ops *fmt;
	struct job_env env;
	uint32_t count;
	size_t at;
	int fd, rc;

	job_env(rj, &env);
	fd = paths_open_read(env.roots, req->open.path, req->open.path_len, err);
	if (fd < 0)
		return -1;
	rc = detect_read(fd, req->open.path, req->open.path_len, &req->open, env.limits->row_bytes,
	                 &codec, &fmt, err);
	if (rc == 0 && req->op == OP_TABLES) {
		rc = list_tables(fd, codec, fmt, req, &env, b, err);
		close(fd);
		return rc;
	}
	if (rc == 0) {
		at = proto_answer_begin(b, req->id_raw, req->id_len, true, &count);
		if (put_key(b, "format") < 0 || mpbuf_cstr(b, fmt->name) < 0 ||
		    put_key(b, "codec") < 0 || mpbuf_cstr(b, codec->name) < 0)
			rc = rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		count += 2;
		if (rc == 0)
			rc = describe_head(fd, codec, fmt, req, &env, b, &count, err);
		if (rc == 0)
			proto_map_close(b, at, count);
	}
	close(fd);
	return rc;
}

static int run_request(struct rjob *rj, struct mpbuf *b, struct rowd_error *err)
{
	if (rj->h && atomic_load(&rj->h->cancel))
		return rowd_error_set(err, ROWD_ECANCELLED, "connection closed");
	switch (rj->msg->req.op) {
	case OP_OPEN: return do_open(rj, b, err);
	case OP_READ: return do_read(rj, b, err);
	case OP_READ_BULK: return do_read_bulk(rj, b, err);
	case OP_STREAM: return do_stream(rj, b, err);
	case OP_WRITE: return do_write(rj, b, err);
	case OP_WRITE_BULK: return do_write_bulk(rj, b, err);
	case OP_RESET: return do_reset(rj, b, err);
	case OP_TOTALS: return do_totals(rj, b, err);
	case OP_CLOSE: return do_close(rj, b, err);
	case OP_DETECT:
	case OP_TABLES: return do_detect(rj, b, err);
	case OP_CONVERT: return convert_step(rj, b, err);
	default:
		return rowd_error_set(err, ROWD_ENOTSUP, "op %s is not run by workers",
		                      rowd_op_name(rj->msg->req.op));
	}
}

/* Errors of requests that name a file say which (error.path). */
static int answer_failure(const struct rowd_request *req, const struct rowd_error *err,
                          struct mpbuf *b)
{
	/* Not convert: its error may be about either of its two files. */
	bool file_op = req->op == OP_OPEN || req->op == OP_DETECT || req->op == OP_TABLES;

	if (file_op && req->open.path)
		return proto_answer_error_path(b, req->id_raw, req->id_len, err, req->open.path,
		                               req->open.path_len);
	return proto_answer_error(b, req->id_raw, req->id_len, err);
}

/* A step may produce several messages (stream batch, progress, end). */
static int to_json_lines(const struct mpbuf *b, struct mpbuf *out)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t off = 0;

	rowd_limits_default(&lim);
	lim.frame_bytes = SIZE_MAX / 4;
	lim.elements = SIZE_MAX / 4;
	lim.str_bytes = SIZE_MAX / 4;
	lim.depth = PROTO_SCAN_MAX_DEPTH;
	while (off < b->len) {
		struct proto_scanner sc;
		size_t flen = 0;

		proto_scanner_init(&sc);
		if (proto_scan(&sc, b->data + off, b->len - off, &lim, &flen, &err) != 1 ||
		    proto_msgpack_to_json(b->data + off, flen, out, &err) < 0)
			return -1;
		off += flen;
	}
	return 0;
}

static void rjob_run(struct job *j)
{
	struct rjob *rj = (struct rjob *)j;
	struct rowd_error err;
	struct mpbuf b;

	if (!rj->msg) {
		handle_release_state(rj->h);
		return;
	}
	rowd_error_clear(&err);
	mpbuf_init(&b);
	if (run_request(rj, &b, &err) < 0) {
		const struct rowd_request *req = &rj->msg->req;

		rj->failed = true;
		rj->err = err;
		stats_error(err.code);
		b.len = 0;
		if (answer_failure(req, &err, &b) < 0)
			b.len = 0;
		if (req->op == OP_OPEN) {
			handle_release_state(rj->h);
			rj->h->open_msg = NULL;
		}
		if (req->op == OP_CONVERT) {
			convert_free(rj->msg);
			rj->more = false;
		}
	}
	/* Text connections get JSON; converting here keeps it off the loop. */
	if (rj->enc == ENC_TEXT && b.len) {
		if (to_json_lines(&b, &rj->out) < 0)
			rj->out.len = 0;
		mpbuf_free(&b);
	} else {
		rj->out = b;
	}
}

/* Answers the requests queued behind an open that failed. */
static void fail_queue(struct handle *h, const struct rowd_error *why)
{
	struct conn *c = h->conn;

	while (h->q_head) {
		struct reqmsg *m = h->q_head;
		struct rowd_error err;

		h->q_head = m->next;
		c->srv->queued--;
		rowd_error_clear(&err);
		rowd_error_set(&err, ROWD_EBADHANDLE, "handle %u was not opened: %s: %.200s", h->num,
		               rowd_err_name(why->code), why->message);
		conn_send_error(c, m->req.id_raw, m->req.id_len, &err);
		reqmsg_free(m);
	}
	h->q_tail = NULL;
}

static void rjob_done(struct job *j)
{
	struct rjob *rj = (struct rjob *)j;
	struct conn *c = rj->conn;
	struct handle *h = rj->h;
	enum rowd_op op = rj->msg ? rj->msg->req.op : OP_COUNT;
	size_t len;
	char *data = mpbuf_steal(&rj->out, &len);

	conn_send(c, data, len);
	if (rj->msg)
		c->srv->queued--;
	if (h) {
		bool requeued = false;

		h->busy = false;
		h->running = NULL;
		if (op == OP_STREAM && rj->more && !rj->failed && !atomic_load(&h->cancel)) {
			handle_requeue_front(h, rj->msg);
			requeued = true;
		}
		if (!rj->msg || op == OP_CLOSE) {
			h->released = true;
		} else if (op == OP_OPEN && rj->failed) {
			h->released = true;
			handle_detach(h);
			fail_queue(h, &rj->err);
		}
		if ((op != OP_OPEN || rj->failed) && !requeued)
			reqmsg_free(rj->msg);
		/* Torn down while this job ran: release now. */
		if (!h->released && atomic_load(&h->cancel))
			jobs_submit_release(c, h);
		else if (!h->released)
			handle_kick(h);
		handle_maybe_free(h);
	} else if (op == OP_CONVERT && rj->more) {
		/* Next step; a dead connection's convert is cancelled so that
		 * its step frees the state on a worker. */
		if (c->dead)
			atomic_store(&rj->msg->cancel, true);
		c->srv->queued++;
		jobs_submit(c, NULL, rj->msg);
	} else {
		if (op == OP_CONVERT)
			conn_forget_convert(c, rj->msg);
		reqmsg_free(rj->msg);
	}
	runtime_unref(rj->rt);
	free(rj);
	c->jobs--;
	/* Either call may free c: nothing touches it afterwards. */
	if (c->dead)
		conn_maybe_free(c);
	else
		conn_check_done(c);
}

static const struct job_ops rjob_ops = { rjob_run, rjob_done };

static struct rjob *rjob_new(struct conn *c, struct handle *h, struct reqmsg *m)
{
	struct rjob *rj = calloc(1, sizeof *rj);

	if (!rj)
		return NULL;
	rj->base.ops = &rjob_ops;
	rj->conn = c;
	rj->h = h;
	rj->msg = m;
	rj->enc = c->enc;
	rj->rt = runtime_ref(c->srv->rt);
	rj->stopping = c->srv->stopping;
	mpbuf_init(&rj->out);
	return rj;
}

void jobs_submit(struct conn *c, struct handle *h, struct reqmsg *m)
{
	struct rjob *rj = rjob_new(c, h, m);

	if (!rj) {
		struct rowd_error err;

		rowd_error_clear(&err);
		rowd_error_set(&err, ROWD_ENOMEM, "out of memory");
		conn_send_error(c, m->req.id_raw, m->req.id_len, &err);
		reqmsg_free(m);
		c->srv->queued--;
		if (h)
			h->busy = false;
		return;
	}
	c->jobs++;
	workers_submit(c->srv->workers, &rj->base);
}

void jobs_submit_release(struct conn *c, struct handle *h)
{
	struct rjob *rj = rjob_new(c, h, NULL);

	if (!rj) {
		/* Cannot defer: release here rather than leak the files. */
		handle_release_state(h);
		h->released = true;
		return;
	}
	h->busy = true;
	c->jobs++;
	workers_submit(c->srv->workers, &rj->base);
}
