/* Format test harness (see fmt_harness.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"

extern const struct codec_ops codec_none;

int fmt_parse_options(const char *json, msgpack_unpacked *up, struct mpbuf *raw,
                      const msgpack_object **out, struct rowd_error *err)
{
	struct rowd_limits lim;
	size_t off = 0;

	*out = NULL;
	if (!json)
		return 0;
	rowd_limits_default(&lim);
	if (proto_json_to_msgpack(json, strlen(json), &lim, raw, err) < 0)
		return -1;
	switch (msgpack_unpack_next(up, raw->data, raw->len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return rowd_error_set(err, ROWD_ENOMEM, "harness: out of memory");
	default:
		return rowd_error_set(err, ROWD_EINVAL, "harness: bad options");
	}
	*out = &up->data;
	return 0;
}

/* Decodes one row the harness packed; msgpack-c fails only for memory. */
static int unpack_row(msgpack_unpacked *up, const struct mpbuf *row, struct rowd_error *err)
{
	size_t off = 0;

	if (msgpack_unpack_next(up, row->data, row->len, &off) != MSGPACK_UNPACK_SUCCESS)
		return rowd_error_set(err, ROWD_ENOMEM, "harness: out of memory decoding a row");
	return 0;
}

/* Converts concatenated packed maps to JSON Lines. */
static char *rows_to_jsonl(const struct mpbuf *rows)
{
	struct mpbuf out;
	msgpack_unpacked up;
	size_t off = 0;

	mpbuf_init(&out);
	msgpack_unpacked_init(&up);
	while (off < rows->len &&
	       msgpack_unpack_next(&up, rows->data, rows->len, &off) == MSGPACK_UNPACK_SUCCESS) {
		proto_object_to_json(&up.data, &out);
		mpbuf_append(&out, "\n", 1);
	}
	msgpack_unpacked_destroy(&up);
	mpbuf_append(&out, "", 1);
	return out.data;
}

/* Options as JSON text, or (by_obj) as an object already (NULL: none). */
static struct fmt_result read_fd(const struct format_ops *f, int fd,
                                 const char *options_json, bool by_obj,
                                 const msgpack_object *opts, size_t batch,
                                 const struct codec_ops *codec,
                                 const struct rowd_limits *limits)
{
	struct fmt_result r = { .rc = -1 };
	struct rowd_limits lim;
	struct input in;
	struct fmt_args a = { 0 };
	struct mpbuf optraw, rows, cols;
	msgpack_unpacked optup;
	void *st = NULL;
	char fd_path[32];
	int more;

	rowd_error_clear(&r.err);
	if (limits)
		lim = *limits;
	else
		rowd_limits_default(&lim);
	mpbuf_init(&optraw);
	mpbuf_init(&rows);
	mpbuf_init(&cols);
	msgpack_unpacked_init(&optup);
	if (by_obj)
		a.options = opts;
	else if (fmt_parse_options(options_json, &optup, &optraw, &a.options, &r.err) < 0)
		goto out;
	if (input_open(&in, fd, codec ? codec : &codec_none, NULL, lim.row_bytes, &r.err) < 0)
		goto out;
	a.fmt = f;
	a.in = &in;
	a.limits = &lim;
	/* What jobs.c gives every reader; FMT_CAP_RAW formats use it. */
	snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
	a.fd = fd;
	a.fd_path = fd_path;
	if (f->rd_open(&a, &st, &r.err) < 0)
		goto close_in;
	do {
		size_t got = 0;

		more = f->rd_next(st, &rows, batch, &got, &r.skipped, &r.err);
		r.nrows += got;
	} while (more == 0);
	r.rc = more < 0 ? -1 : 0;
	if (f->rd_columns && f->rd_columns(st, &cols) == 1) {
		struct mpbuf js;
		msgpack_unpacked up;
		size_t off = 0;

		mpbuf_init(&js);
		msgpack_unpacked_init(&up);
		if (msgpack_unpack_next(&up, cols.data, cols.len, &off) == MSGPACK_UNPACK_SUCCESS)
			proto_object_to_json(&up.data, &js);
		mpbuf_append(&js, "", 1);
		r.columns = js.data;
		msgpack_unpacked_destroy(&up);
	}
	f->rd_close(st);
close_in:
	input_close(&in);
out:
	r.jsonl = rows_to_jsonl(&rows);
	r.packed = mpbuf_steal(&rows, &r.packed_len);
	mpbuf_free(&cols);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	return r;
}

int fmt_memfd(const void *data, size_t n)
{
	int fd = memfd_create("fmt", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		abort();
	return fd;
}

struct fmt_result fmt_read_all(const struct format_ops *f, const void *data, size_t n,
                               const char *options_json, size_t batch)
{
	int fd = fmt_memfd(data, n);
	struct fmt_result r;

	r = read_fd(f, fd, options_json, false, NULL, batch, NULL, NULL);
	close(fd);
	return r;
}

struct fmt_result fmt_read_all_limits(const struct format_ops *f, const void *data, size_t n,
                                      const char *options_json, size_t batch,
                                      const struct rowd_limits *limits)
{
	int fd = fmt_memfd(data, n);
	struct fmt_result r;

	r = read_fd(f, fd, options_json, false, NULL, batch, NULL, limits);
	close(fd);
	return r;
}

struct fmt_result fmt_read_file(const struct format_ops *f, const char *path,
                                const char *options_json, const struct codec_ops *codec)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct fmt_result r;

	if (fd < 0) {
		perror(path);
		abort();
	}
	r = read_fd(f, fd, options_json, false, NULL, 1000, codec, NULL);
	close(fd);
	return r;
}

void fmt_result_free(struct fmt_result *r)
{
	free(r->jsonl);
	free(r->columns);
	free(r->packed);
	r->jsonl = r->columns = r->packed = NULL;
}

/* ---- writers ------------------------------------------------------------- */

/* Rows for a writer: JSON Lines text, or packed msgpack objects. */
struct rows_in {
	const char *jsonl;
	const char *packed;
	size_t packed_len;
	bool *accepted;
};

static int write_one(const struct format_ops *f, void *st, const msgpack_object *row,
                     struct output *out, struct rowd_error *err)
{
	return f->wr_row(st, row, err) < 0 || output_flush_if_full(out, err) < 0 ? -1 : 0;
}

/* JSON Lines: the first bad line or refused row ends the write. */
static int write_jsonl(const struct format_ops *f, void *st, const char *rows_jsonl,
                       const struct rowd_limits *lim, struct output *out, struct rowd_error *err)
{
	struct mpbuf row;
	msgpack_unpacked up;
	const char *p = rows_jsonl;
	int rc = 0;

	mpbuf_init(&row);
	msgpack_unpacked_init(&up);
	while (*p && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		row.len = 0;
		if (len && (proto_json_to_msgpack(p, len, lim, &row, err) < 0 ||
		            unpack_row(&up, &row, err) < 0 ||
		            write_one(f, st, &up.data, out, err) < 0))
			rc = -1;
		p += len + (nl ? 1 : 0);
	}
	mpbuf_free(&row);
	msgpack_unpacked_destroy(&up);
	return rc;
}

/* Packed rows. With accepted, a row refused with EINVAL or ELIMIT is
 * marked and skipped: a client may go on writing after a refused row.
 * Each row is freed before the next, as the daemon frees its requests. */
static int write_packed(const struct format_ops *f, void *st, const struct rows_in *src,
                        struct output *out, struct rowd_error *err)
{
	msgpack_unpacked up;
	size_t off = 0, i = 0;
	int rc = 0;

	msgpack_unpacked_init(&up);
	while (rc == 0 && off < src->packed_len) {
		int ur = msgpack_unpack_next(&up, src->packed, src->packed_len, &off);

		if (ur != MSGPACK_UNPACK_SUCCESS) {
			rc = ur == MSGPACK_UNPACK_NOMEM_ERROR
			     ? rowd_error_set(err, ROWD_ENOMEM, "harness: out of memory decoding a row")
			     : rowd_error_set(err, ROWD_EINVAL, "harness: undecodable packed rows");
			break;
		}
		if (write_one(f, st, &up.data, out, err) == 0) {
			if (src->accepted)
				src->accepted[i] = true;
		} else if (src->accepted && (err->code == ROWD_EINVAL || err->code == ROWD_ELIMIT)) {
			src->accepted[i] = false;
			rowd_error_clear(err);
		} else {
			rc = -1;
		}
		i++;
	}
	msgpack_unpacked_destroy(&up);
	return rc;
}

static int write_rows(const struct format_ops *f, void *st, const struct rows_in *src,
                      const struct rowd_limits *lim, struct output *out, struct rowd_error *err)
{
	if (src->jsonl)
		return write_jsonl(f, st, src->jsonl, lim, out, err);
	return write_packed(f, st, src, out, err);
}

/* The writer over a memfd; returns its bytes (malloc'd, NUL-terminated). */
static char *write_mem(const struct format_ops *f, const struct rows_in *src,
                       const char *options_json, size_t *n, struct rowd_error *err)
{
	struct rowd_limits lim;
	struct output out;
	struct fmt_args a = { 0 };
	struct mpbuf optraw;
	msgpack_unpacked optup;
	void *st = NULL;
	char *res = NULL;
	int fd = memfd_create("fmtw", MFD_CLOEXEC);
	int rc = -1;

	rowd_error_clear(err);
	rowd_limits_default(&lim);
	mpbuf_init(&optraw);
	msgpack_unpacked_init(&optup);
	if (fd < 0)
		abort();
	if (fmt_parse_options(options_json, &optup, &optraw, &a.options, err) < 0)
		goto out;
	if (output_open(&out, fd, &codec_none, NULL, err) < 0)
		goto close_out;   /* output_open may have allocated its buffer */
	a.fmt = f;
	a.out = &out;
	a.limits = &lim;
	if (f->wr_open(&a, &st, err) < 0)
		goto close_out;
	if (write_rows(f, st, src, &lim, &out, err) < 0)
		goto close_fmt;
	if (f->wr_finish(st, err) < 0 || output_finish(&out, err) < 0)
		goto close_fmt;
	rc = 0;
close_fmt:
	f->wr_close(st);
close_out:
	output_close(&out);
out:
	if (rc == 0) {
		off_t size = lseek(fd, 0, SEEK_END);

		/* Out of memory here is a failure like any other
		 * (tests/unit/test_alloc_fail.c makes it happen). */
		res = malloc((size_t)size + 1);
		if (!res) {
			rowd_error_set(err, ROWD_ENOMEM, "harness: out of memory");
		} else {
			if (pread(fd, res, (size_t)size, 0) != size)
				abort();
			res[size] = 0;
			*n = (size_t)size;
		}
	}
	close(fd);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	return res;
}

char *fmt_write_all(const struct format_ops *f, const char *rows_jsonl,
                    const char *options_json, size_t *n, struct rowd_error *err)
{
	struct rows_in src = { .jsonl = rows_jsonl };

	return write_mem(f, &src, options_json, n, err);
}

char *fmt_write_packed(const struct format_ops *f, const char *packed, size_t len,
                       const char *options_json, bool *accepted, size_t *n,
                       struct rowd_error *err)
{
	struct rows_in src = { .packed = packed, .packed_len = len, .accepted = accepted };

	return write_mem(f, &src, options_json, n, err);
}

char *fmt_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size + 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		abort();
	buf[size] = 0;
	fclose(f);
	if (n)
		*n = (size_t)size;
	return buf;
}

/* ---- FMT_CAP_RAW formats ------------------------------------------------- */

struct fmt_result fmt_read_raw(const struct format_ops *f, const char *path,
                               const char *options_json, size_t batch)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct fmt_result r;

	if (fd < 0) {
		perror(path);
		abort();
	}
	r = read_fd(f, fd, options_json, false, NULL, batch, NULL, NULL);
	close(fd);
	return r;
}

struct fmt_result fmt_read_raw_obj(const struct format_ops *f, const char *path,
                                   const msgpack_object *options, size_t batch)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct fmt_result r;

	if (fd < 0) {
		perror(path);
		abort();
	}
	r = read_fd(f, fd, NULL, true, options, batch, NULL, NULL);
	close(fd);
	return r;
}

/* As jobs_open_writer: the temp file beside the target, the output over
 * it, and the wfile for formats that write the file themselves. */
static int write_file(const struct format_ops *f, const char *dir, const char *name,
                      const struct rows_in *src, const char *options_json, bool commit,
                      struct rowd_error *err)
{
	struct rowd_limits lim;
	struct wfile wf = { .fd = -1, .dirfd = -1 };
	struct output out;
	struct fmt_args a = { 0 };
	struct mpbuf optraw;
	msgpack_unpacked optup;
	void *st = NULL;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;

	rowd_error_clear(err);
	rowd_limits_default(&lim);
	mpbuf_init(&optraw);
	msgpack_unpacked_init(&optup);
	if (dirfd < 0) {
		perror(dir);
		abort();
	}
	if (fmt_parse_options(options_json, &optup, &optraw, &a.options, err) < 0) {
		close(dirfd);
		goto out;
	}
	if (wfile_open(&wf, dirfd, strdup(name), err) < 0)
		goto out;
	if (output_open(&out, wf.fd, &codec_none, NULL, err) < 0) {
		wfile_abort(&wf);
		goto out;
	}
	a.fmt = f;
	a.out = &out;
	a.limits = &lim;
	a.fd = -1;
	a.wf = &wf;
	if (f->wr_open(&a, &st, err) == 0) {
		rc = write_rows(f, st, src, &lim, &out, err);
		if (rc == 0 && commit && (f->wr_finish(st, err) < 0 || output_finish(&out, err) < 0))
			rc = -1;
		f->wr_close(st);
	}
	output_close(&out);
	if (rc == 0 && commit)
		rc = wfile_commit(&wf, err);
	else
		wfile_abort(&wf);
out:
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	return rc;
}

int fmt_write_raw(const struct format_ops *f, const char *dir, const char *name,
                  const char *rows_jsonl, const char *options_json, bool commit,
                  struct rowd_error *err)
{
	struct rows_in src = { .jsonl = rows_jsonl };

	return write_file(f, dir, name, &src, options_json, commit, err);
}

int fmt_write_raw_packed(const struct format_ops *f, const char *dir, const char *name,
                         const char *packed, size_t len, const char *options_json,
                         bool *accepted, struct rowd_error *err)
{
	struct rows_in src = { .packed = packed, .packed_len = len, .accepted = accepted };

	return write_file(f, dir, name, &src, options_json, true, err);
}

static char *tables_fd(const struct format_ops *f, const char *path, const char *options_json,
                       bool by_obj, const msgpack_object *opts, struct rowd_error *err)
{
	struct rowd_limits lim;
	struct fmt_args a = { 0 };
	struct input in;
	struct mpbuf optraw, names, js;
	msgpack_unpacked optup, up;
	char fd_path[32];
	char *res = NULL;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		perror(path);
		abort();
	}
	rowd_error_clear(err);
	rowd_limits_default(&lim);
	mpbuf_init(&optraw);
	mpbuf_init(&names);
	mpbuf_init(&js);
	msgpack_unpacked_init(&optup);
	msgpack_unpacked_init(&up);
	if (by_obj)
		a.options = opts;
	else if (fmt_parse_options(options_json, &optup, &optraw, &a.options, err) < 0)
		goto out;
	if (input_open(&in, fd, &codec_none, NULL, lim.row_bytes, err) < 0)
		goto out;
	snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
	a.fmt = f;
	a.in = &in;
	a.limits = &lim;
	a.fd = fd;
	a.fd_path = fd_path;
	if (f->tables(&a, &names, err) == 0 &&
	    msgpack_unpack_next(&up, names.data, names.len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    proto_object_to_json(&up.data, &js) == 0 && mpbuf_append(&js, "", 1) == 0)
		res = mpbuf_steal(&js, &off);
	input_close(&in);
out:
	close(fd);
	mpbuf_free(&optraw);
	mpbuf_free(&names);
	mpbuf_free(&js);
	msgpack_unpacked_destroy(&optup);
	msgpack_unpacked_destroy(&up);
	return res;
}

char *fmt_tables_raw(const struct format_ops *f, const char *path, const char *options_json,
                     struct rowd_error *err)
{
	return tables_fd(f, path, options_json, false, NULL, err);
}

char *fmt_tables_raw_obj(const struct format_ops *f, const char *path,
                         const msgpack_object *options, struct rowd_error *err)
{
	return tables_fd(f, path, NULL, true, options, err);
}

/* ---- fmt_codec_trickle ----------------------------------------------------- */

struct trickle { struct rawin *in; unsigned n; };

static int trickle_open(struct rawin *in, const msgpack_object *o, void **st,
                        struct rowd_error *err)
{
	struct trickle *t = calloc(1, sizeof *t);

	(void)o;
	if (!t)
		return rowd_error_set(err, ROWD_ENOMEM, "harness: out of memory");
	t->in = in;
	*st = t;
	return 0;
}

static ssize_t trickle_read(void *st, void *buf, size_t n, struct rowd_error *err)
{
	struct trickle *t = st;
	size_t k = 1 + t->n++ % 7;

	return rawin_read(t->in, buf, n < k ? n : k, err);
}

const struct codec_ops fmt_codec_trickle = {
	.name = "trickle",
	.extensions = (const char *const[]){ NULL },
	.rd_open = trickle_open,
	.rd_read = trickle_read,
	.rd_close = free,
};
