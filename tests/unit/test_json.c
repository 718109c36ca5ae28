/* Unit tests of the JSON Lines and JSON formats (daemon/formats/jsonl.c,
 * daemon/formats/json.c). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"

extern const struct format_ops format_jsonl, format_json;
extern const struct codec_ops codec_none;

#define CONF TOP_SRCDIR "/tests/data/conformance"
#define SIX_ROWS \
	"{\"id\":\"1\",\"name\":\"John\"}\n{\"id\":\"2\",\"name\":\"Mary\"}\n" \
	"{\"id\":\"3\",\"name\":\"Michael\"}\n{\"id\":\"4\",\"name\":\"Anna\"}\n" \
	"{\"id\":\"5\",\"name\":\"Orban\"}\n{\"id\":\"6\",\"name\":\"Lucy\"}\n"

/* An assertion for loops: Check reports every ck_assert it passes through
 * (a write per call), which millions of appends cannot afford. */
#define MUST(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

/* ---- a driver that keeps the rows as msgpack ------------------------------ */

/* Everything one full read produced. */
struct mp_read {
	int rc;                  /* last rd_next: 1 exhausted, -1 error */
	struct rowd_error err;
	struct mpbuf rows;       /* packed rows, concatenated */
	size_t nrows;
	uint64_t skipped;
	size_t calls;
	bool over_max;           /* some call returned more rows than asked */
};

static struct mp_read read_mp_codec(const struct format_ops *f, const void *data, size_t n,
                                    const char *opts_json, size_t batch,
                                    const struct rowd_limits *lim, const struct codec_ops *codec)
{
	struct mp_read r = { .rc = -1 };
	struct mpbuf optraw;
	msgpack_unpacked optup;
	struct fmt_args a = { .fmt = f, .limits = lim };
	struct input in;
	void *st = NULL;
	int fd = memfd_create("t", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, data, n) == (ssize_t)n);
	rowd_error_clear(&r.err);
	mpbuf_init(&r.rows);
	mpbuf_init(&optraw);
	msgpack_unpacked_init(&optup);
	if (opts_json) {
		size_t off = 0;

		ck_assert_int_eq(proto_json_to_msgpack(opts_json, strlen(opts_json), lim, &optraw,
		                                       &r.err), 0);
		ck_assert(msgpack_unpack_next(&optup, optraw.data, optraw.len, &off) ==
		          MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	ck_assert_int_eq(input_open(&in, fd, codec, NULL, lim->row_bytes, &r.err), 0);
	a.in = &in;
	if (f->rd_open(&a, &st, &r.err) == 0) {
		do {
			size_t got = 99;

			r.rc = f->rd_next(st, &r.rows, batch, &got, &r.skipped, &r.err);
			r.over_max |= got > batch;
			r.nrows += got;
			r.calls++;
			MUST(r.calls < 10000000);
		} while (r.rc == 0);
		f->rd_close(st);
	}
	input_close(&in);
	close(fd);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	return r;
}

static struct mp_read read_mp_lim(const struct format_ops *f, const void *data, size_t n,
                                  const char *opts_json, size_t batch,
                                  const struct rowd_limits *lim)
{
	return read_mp_codec(f, data, n, opts_json, batch, lim, &codec_none);
}

static struct mp_read read_mp(const struct format_ops *f, const void *data, size_t n,
                              const char *opts_json, size_t batch)
{
	struct rowd_limits lim;

	rowd_limits_default(&lim);
	return read_mp_lim(f, data, n, opts_json, batch, &lim);
}

static struct mp_read read_str(const struct format_ops *f, const char *s, const char *opts,
                               size_t batch)
{
	return read_mp(f, s, strlen(s), opts, batch);
}

static void mp_read_free(struct mp_read *r)
{
	mpbuf_free(&r->rows);
}

/* Packs JSON Lines text (one object per line) the way proto does. */
static struct mpbuf pack_lines(const char *text)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct mpbuf b;

	rowd_limits_default(&lim);
	mpbuf_init(&b);
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);

		if (len && proto_json_to_msgpack(text, len, &lim, &b, &err) != 0)
			ck_abort_msg("bad expected row %.*s: %s", (int)len, text, err.message);
		text += len + (nl ? 1 : 0);
	}
	return b;
}

/* The rows of r, as JSON Lines text (malloc'd). */
static char *rows_text(const struct mpbuf *rows)
{
	struct mpbuf out;
	msgpack_unpacked up;
	size_t off = 0;

	mpbuf_init(&out);
	msgpack_unpacked_init(&up);
	while (off < rows->len) {
		ck_assert(msgpack_unpack_next(&up, rows->data, rows->len, &off) ==
		          MSGPACK_UNPACK_SUCCESS);
		ck_assert_int_eq(proto_object_to_json(&up.data, &out), 0);
		MUST(mpbuf_append(&out, "\n", 1) == 0);
	}
	msgpack_unpacked_destroy(&up);
	MUST(mpbuf_append(&out, "", 1) == 0);
	return out.data;
}

/* Rows equal the expected JSON Lines, byte for byte in msgpack (both
 * sides pack canonically). */
static void assert_rows(const struct mp_read *r, const char *expected)
{
	struct mpbuf want = pack_lines(expected);

	if (want.len != r->rows.len || (want.len && memcmp(want.data, r->rows.data, want.len) != 0)) {
		char *got = rows_text(&r->rows);

		ck_abort_msg("rows differ:\n got: %s\nwant: %s", got, expected);
		free(got);
	}
	mpbuf_free(&want);
}

static void assert_ok_rows(const struct mp_read *r, const char *expected, size_t nrows)
{
	ck_assert_msg(r->rc == 1, "rc %d: %s %s", r->rc, rowd_err_name(r->err.code), r->err.message);
	ck_assert_int_eq(r->nrows, nrows);
	ck_assert(!r->over_max);
	assert_rows(r, expected);
}

static void assert_error(const struct mp_read *r, enum rowd_err code, const char *needle)
{
	ck_assert_msg(r->rc == -1, "expected %s, got rc %d", rowd_err_name(code), r->rc);
	ck_assert_msg(r->err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(r->err.code), r->err.message);
	if (needle)
		ck_assert_msg(strstr(r->err.message, needle), "message '%s' lacks '%s'",
		              r->err.message, needle);
}

static void app(struct mpbuf *b, const char *s)
{
	MUST(mpbuf_append(b, s, strlen(s)) == 0);
}

static char *slurp(const char *path, size_t *n)
{
	char *s = fmt_slurp(path, n);

	ck_assert_msg(s != NULL, "cannot read %s", path);
	return s;
}

/* ---- conformance fixtures ------------------------------------------------- */

static void check_six(const struct format_ops *f, const char *file, const char *opts)
{
	struct fmt_result r = fmt_read_file(f, file, opts, NULL);

	ck_assert_msg(r.rc == 0, "%s: %s", file, r.err.message);
	ck_assert_int_eq(r.nrows, 6);
	ck_assert_str_eq(r.jsonl, SIX_ROWS);
	fmt_result_free(&r);
}

START_TEST(iterabledata_six_rows)
{
	check_six(&format_jsonl, CONF "/iterabledata/2cols6rows_flat.jsonl", NULL);
	check_six(&format_jsonl, CONF "/iterabledata/2cols6rows_flat.ndjson", NULL);
	check_six(&format_json, CONF "/iterabledata/2cols6rows_array.json", NULL);
	check_six(&format_json, CONF "/iterabledata/2cols6rows_tag.json",
	          "{\"tagname\": \"persons\"}");
}
END_TEST

START_TEST(iterabledata_books)
{
	size_t n;
	char *text = slurp(CONF "/iterabledata/books.jsonl", &n);
	struct mp_read r = read_mp(&format_jsonl, text, n, NULL, 1000);
	char *p, *q;

	/* Expected: the same lines without their \r. */
	for (p = q = text; *p; p++)
		if (*p != '\r')
			*q++ = *p;
	*q = '\0';
	assert_ok_rows(&r, text, 3);
	mp_read_free(&r);
	free(text);
}
END_TEST

START_TEST(registry_entries)
{
	ck_assert_str_eq(format_jsonl.name, "jsonl");
	ck_assert_str_eq(format_jsonl.extensions[0], "jsonl");
	ck_assert_str_eq(format_jsonl.extensions[1], "ndjson");
	ck_assert_ptr_null(format_jsonl.extensions[2]);
	ck_assert_str_eq(format_json.name, "json");
	ck_assert_str_eq(format_json.extensions[0], "json");
	ck_assert_ptr_null(format_json.extensions[1]);
	ck_assert(format_jsonl.caps & FMT_CAP_NESTED);
	ck_assert(format_json.caps & FMT_CAP_WRITE);
}
END_TEST

/* ---- JSONTestSuite ------------------------------------------------------- */

#define SUITE_DIR CONF "/json-test-suite/test_parsing"

/* Calls fn for every file of the suite starting with prefix. */
static void each_suite_file(const char *prefix, void (*fn)(const char *name, char *text, size_t n))
{
	DIR *d = opendir(SUITE_DIR);
	struct dirent *e;
	size_t count = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		char *text;
		size_t n;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", SUITE_DIR, e->d_name);
		text = slurp(path, &n);
		fn(e->d_name, text, n);
		free(text);
		count++;
	}
	closedir(d);
	ck_assert_uint_gt(count, 0);
}

/* {"v": text} as one line. */
static char *wrap_row(const char *prefix, const char *text, size_t n, size_t *len, bool join)
{
	struct mpbuf b;

	mpbuf_init(&b);
	MUST(mpbuf_append(&b, prefix, strlen(prefix)) == 0);
	MUST(mpbuf_append(&b, "{\"v\": ", 6) == 0);
	for (size_t i = 0; i < n; i++) {
		char c = join && text[i] == '\n' ? ' ' : text[i];

		MUST(mpbuf_append(&b, &c, 1) == 0);
	}
	MUST(mpbuf_append(&b, "}\n", 2) == 0);
	*len = b.len;
	return b.data;
}

static size_t trim_end(const char *text, size_t n)
{
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	return n;
}

/* The value of "v" in the only row of r. */
static void row_v(const struct mp_read *r, msgpack_unpacked *up, const msgpack_object **v)
{
	size_t off = 0;

	ck_assert(msgpack_unpack_next(up, r->rows.data, r->rows.len, &off) == MSGPACK_UNPACK_SUCCESS);
	*v = proto_map_get(&up->data, "v");
	ck_assert_ptr_nonnull(*v);
}

static void y_file(const char *name, char *text, size_t n)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct mpbuf want;
	msgpack_unpacked wp, up1, up2;
	const msgpack_object *v1, *v2;
	size_t len, off = 0;
	char *line, *arr;
	struct mp_read r1, r2;

	n = trim_end(text, n);
	rowd_limits_default(&lim);
	mpbuf_init(&want);
	ck_assert_msg(proto_json_to_msgpack(text, n, &lim, &want, &err) == 0, "%s: %s", name,
	              err.message);
	msgpack_unpacked_init(&wp);
	ck_assert(msgpack_unpack_next(&wp, want.data, want.len, &off) == MSGPACK_UNPACK_SUCCESS);

	line = wrap_row("", text, n, &len, true);
	r1 = read_mp(&format_jsonl, line, len, NULL, 1000);
	ck_assert_msg(r1.rc == 1 && r1.nrows == 1, "%s: %s", name, r1.err.message);
	/* The same row as the element of a JSON array. */
	arr = wrap_row("[", text, n, &len, true);
	arr[len - 1] = ']';
	r2 = read_mp(&format_json, arr, len, NULL, 1000);
	ck_assert_msg(r2.rc == 1 && r2.nrows == 1, "%s (json): %s", name, r2.err.message);

	msgpack_unpacked_init(&up1);
	msgpack_unpacked_init(&up2);
	row_v(&r1, &up1, &v1);
	row_v(&r2, &up2, &v2);
	ck_assert_msg(msgpack_object_equal(*v1, wp.data), "%s: value differs", name);
	ck_assert_msg(msgpack_object_equal(*v2, wp.data), "%s (json): value differs", name);

	msgpack_unpacked_destroy(&wp);
	msgpack_unpacked_destroy(&up1);
	msgpack_unpacked_destroy(&up2);
	mp_read_free(&r1);
	mp_read_free(&r2);
	mpbuf_free(&want);
	free(line);
	free(arr);
}

START_TEST(suite_y_files)
{
	each_suite_file("y_", y_file);
}
END_TEST

/* Documents that only break the depth limit. */
static bool deep(const char *name)
{
	return strstr(name, "100000_opening_arrays") || strstr(name, "open_array_object");
}

static void n_file(const char *name, char *text, size_t n)
{
	size_t len;
	char *doc = wrap_row("{\"first\": 1}\n", text, n, &len, false);
	struct mp_read r = read_mp(&format_jsonl, doc, len, NULL, 1000);

	ck_assert_msg(r.rc == -1, "%s: accepted", name);
	ck_assert_msg(r.err.code == ROWD_EFORMAT || (deep(name) && r.err.code == ROWD_ELIMIT),
	              "%s: %s %s", name, rowd_err_name(r.err.code), r.err.message);
	ck_assert_msg(r.err.line == 2, "%s: line %" PRId64, name, r.err.line);
	ck_assert_msg(strncmp(r.err.message, "line 2: ", 8) == 0, "%s: %s", name, r.err.message);
	ck_assert_int_eq(r.nrows, 1);
	assert_rows(&r, "{\"first\": 1}");
	mp_read_free(&r);
	free(doc);

	/* As an element of a JSON array, after a good row. */
	doc = wrap_row("[{\"first\": 1},\n", text, n, &len, false);
	doc[len - 1] = ']';
	r = read_mp(&format_json, doc, len, NULL, 1000);
	ck_assert_msg(r.rc == -1, "%s (json): accepted", name);
	ck_assert_msg(r.err.code == ROWD_EFORMAT || (deep(name) && r.err.code == ROWD_ELIMIT),
	              "%s (json): %s %s", name, rowd_err_name(r.err.code), r.err.message);
	ck_assert_msg(r.err.line >= 2 && r.err.offset >= 15, "%s (json): line %" PRId64, name,
	              r.err.line);
	/* {"v": {}}} is a whole row before its error, in an array. */
	ck_assert_msg(r.nrows == 1 || r.nrows == 2, "%s (json): %zu rows", name, r.nrows);
	mp_read_free(&r);
	free(doc);
}

START_TEST(suite_n_files)
{
	each_suite_file("n_", n_file);
}
END_TEST

static void i_file(const char *name, char *text, size_t n)
{
	size_t len;
	char *doc = wrap_row("", text, trim_end(text, n), &len, true);
	struct mp_read r = read_mp(&format_jsonl, doc, len, NULL, 1000);

	ck_assert(r.rc == 1 || r.rc == -1);
	mp_read_free(&r);
	r = read_mp(&format_json, text, n, NULL, 1000);   /* the bare document */
	ck_assert(r.rc == 1 || r.rc == -1);
	mp_read_free(&r);
	free(doc);
}

START_TEST(suite_i_files)
{
	each_suite_file("i_", i_file);
}
END_TEST

/* ---- JSON Lines reader ---------------------------------------------------- */

#define ROWS3 "{\"a\":1}\n{\"b\":[1,2,{\"c\":null}]}\n{\"d\":\"x\"}\n"

START_TEST(jsonl_batches_equal)
{
	struct mpbuf big;
	size_t batches[] = { 1, 2, 3, 1000 };

	mpbuf_init(&big);
	for (int i = 0; i < 5000; i++) {
		char line[128];
		int k = snprintf(line, sizeof line,
		                 "{\"i\":%d,\"s\":\"r%d\",\"f\":%d.5,\"n\":[%d,{\"x\":true}]}\n",
		                 i, i, i, -i);

		MUST(mpbuf_append(&big, line, (size_t)k) == 0);
	}
	MUST(mpbuf_append(&big, "", 1) == 0);
	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		struct mp_read r = read_str(&format_jsonl, big.data, NULL, batches[b]);

		assert_ok_rows(&r, big.data, 5000);
		ck_assert_uint_ge(r.calls, 5000 / batches[b]);
		mp_read_free(&r);
	}
	mpbuf_free(&big);
}
END_TEST

START_TEST(jsonl_blank_lines_crlf_bom)
{
	struct mp_read r;

	r = read_str(&format_jsonl, "\n  \n{\"a\":1}\r\n\t\r\n\r\n{\"b\":2}\n\n", NULL, 1000);
	assert_ok_rows(&r, "{\"a\":1}\n{\"b\":2}", 2);
	mp_read_free(&r);

	r = read_str(&format_jsonl, "\xef\xbb\xbf{\"a\":1}\r\n{\"b\":2}", NULL, 1);
	assert_ok_rows(&r, "{\"a\":1}\n{\"b\":2}", 2);
	mp_read_free(&r);

	/* A BOM anywhere else is not whitespace. */
	r = read_str(&format_jsonl, "{\"a\":1}\n\xef\xbb\xbf{\"b\":2}\n", NULL, 1000);
	assert_error(&r, ROWD_EFORMAT, "line 2: ");
	mp_read_free(&r);

	r = read_str(&format_jsonl, "", NULL, 1000);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_jsonl, "\xef\xbb\xbf", NULL, 1000);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_jsonl, " \r\n\n", NULL, 1000);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);

	/* Last line without a newline, after a blank one. */
	r = read_str(&format_jsonl, ROWS3 "\n{\"e\":5}", NULL, 2);
	assert_ok_rows(&r, ROWS3 "{\"e\":5}", 4);
	mp_read_free(&r);
}
END_TEST

START_TEST(jsonl_not_an_object)
{
	const char *bad[] = { "[1,2]", "5", "\"x\"", "null", "true", "  -1", "{\"a\":1} {\"b\":2}",
	                      "{\"a\":1,}", "{'a':1}", "{\"a\":\"\xff\"}", "{\"a\":1", "x" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char doc[128];
		struct mp_read r;

		snprintf(doc, sizeof doc, "{\"ok\":1}\n\n%s\n{\"ok\":2}\n", bad[i]);
		r = read_str(&format_jsonl, doc, NULL, 1000);
		assert_error(&r, ROWD_EFORMAT, "line 3: ");
		ck_assert_int_eq(r.err.line, 3);
		ck_assert_int_eq(r.err.row, 2);
		ck_assert_int_ge(r.err.offset, 10);
		ck_assert_int_eq(r.nrows, 1);
		assert_rows(&r, "{\"ok\":1}");
		mp_read_free(&r);
	}
}
END_TEST

START_TEST(jsonl_error_is_sticky_and_batched)
{
	struct rowd_limits lim;
	struct fmt_args a = { .fmt = &format_jsonl };
	struct input in;
	struct rowd_error err;
	struct mpbuf out;
	uint64_t skipped = 0;
	size_t got;
	void *st;
	const char *doc = "{\"a\":1}\n{\"a\":2}\n[3]\n{\"a\":4}\n";
	int fd = memfd_create("t", 0);

	ck_assert(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
	rowd_limits_default(&lim);
	a.limits = &lim;
	mpbuf_init(&out);
	ck_assert_int_eq(input_open(&in, fd, &codec_none, NULL, lim.row_bytes, &err), 0);
	a.in = &in;
	ck_assert_int_eq(format_jsonl.rd_open(&a, &st, &err), 0);
	ck_assert_int_eq(format_jsonl.rd_next(st, &out, 1, &got, &skipped, &err), 0);
	ck_assert_int_eq(got, 1);
	ck_assert_int_eq(format_jsonl.rd_next(st, &out, 5, &got, &skipped, &err), -1);
	ck_assert_int_eq(got, 1);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	ck_assert_int_eq(err.line, 3);
	/* It stays failed, rows in out stay as they were. */
	rowd_error_clear(&err);
	ck_assert_int_eq(format_jsonl.rd_next(st, &out, 5, &got, &skipped, &err), -1);
	ck_assert_int_eq(got, 0);
	ck_assert_int_eq(err.line, 3);
	format_jsonl.rd_close(st);
	input_close(&in);
	close(fd);
	{
		struct mp_read r = { .rows = out };

		assert_rows(&r, "{\"a\":1}\n{\"a\":2}");
	}
	mpbuf_free(&out);
}
END_TEST

START_TEST(jsonl_on_error_skip)
{
	struct mp_read r = read_str(&format_jsonl,
	                            "{\"a\":1}\n[1]\nnope\n{\"a\":2}\n{\"a\":\n\n{\"a\":3}",
	                            "{\"on_error\": \"skip\"}", 2);

	assert_ok_rows(&r, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}", 3);
	ck_assert_int_eq(r.skipped, 3);
	mp_read_free(&r);

	r = read_str(&format_jsonl, "{\"a\":1}\n[1]\n", "{\"on_error\": \"raise\"}", 2);
	assert_error(&r, ROWD_EFORMAT, "line 2: expected a JSON object, got an array");
	mp_read_free(&r);
}
END_TEST

START_TEST(jsonl_options)
{
	struct mp_read r;

	r = read_str(&format_jsonl, ROWS3, "{\"delimiter\": \",\"}", 10);
	assert_error(&r, ROWD_EINVAL, "delimiter");
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"on_error\": \"ignore\"}", 10);
	assert_error(&r, ROWD_EINVAL, "on_error");
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"on_error\": 1}", 10);
	assert_error(&r, ROWD_EINVAL, "on_error");
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"encoding\": \"latin-1\"}", 10);
	assert_error(&r, ROWD_ENOTSUP, "latin-1");
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"encoding\": 8}", 10);
	assert_error(&r, ROWD_EINVAL, "encoding");
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"encoding\": \"UTF-8\", \"on_error\": \"raise\"}", 10);
	assert_ok_rows(&r, ROWS3, 3);
	mp_read_free(&r);
	r = read_str(&format_jsonl, ROWS3, "{\"encoding\": \"utf8\"}", 10);
	assert_ok_rows(&r, ROWS3, 3);
	mp_read_free(&r);
}
END_TEST

START_TEST(jsonl_limits)
{
	struct rowd_limits lim;
	struct mp_read r;
	struct mpbuf doc;
	const char *deep = "{\"a\":1}\n{\"a\":[[[[[[1]]]]]]}\n";

	rowd_limits_default(&lim);
	lim.depth = 4;
	r = read_mp_lim(&format_jsonl, deep, strlen(deep), NULL, 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "line 2: ");
	ck_assert_int_eq(r.nrows, 1);
	mp_read_free(&r);
	/* on_error skip does not hide a limit. */
	r = read_mp_lim(&format_jsonl, deep, strlen(deep), "{\"on_error\":\"skip\"}", 100, &lim);
	assert_error(&r, ROWD_ELIMIT, NULL);
	mp_read_free(&r);

	/* A line over row_bytes, in a file much larger than the window. */
	rowd_limits_default(&lim);
	lim.row_bytes = 1000;
	mpbuf_init(&doc);
	for (int i = 0; i < 20000; i++)
		MUST(mpbuf_append(&doc, "{\"k\":\"0123456789012345678901234567890\"}\n", 40) == 0);
	MUST(mpbuf_append(&doc, "{\"k\":\"", 6) == 0);
	for (int i = 0; i < 100000; i++)
		MUST(mpbuf_append(&doc, "y", 1) == 0);
	MUST(mpbuf_append(&doc, "\"}\n{\"a\":1}\n", 11) == 0);
	r = read_mp_lim(&format_jsonl, doc.data, doc.len, NULL, 333, &lim);
	assert_error(&r, ROWD_ELIMIT, "line 20001: ");
	ck_assert_int_eq(r.err.line, 20001);
	ck_assert_int_eq(r.nrows, 20000);
	mp_read_free(&r);

	/* A short line that packs large (floats take 9 bytes). */
	doc.len = 0;
	MUST(mpbuf_append(&doc, "{\"f\":[", 6) == 0);
	for (int i = 0; i < 150; i++)
		MUST(mpbuf_append(&doc, "0.5,", 4) == 0);
	MUST(mpbuf_append(&doc, "0.5]}\n", 6) == 0);
	r = read_mp_lim(&format_jsonl, doc.data, doc.len, NULL, 333, &lim);
	assert_error(&r, ROWD_ELIMIT, "row_bytes");
	ck_assert_int_eq(r.rows.len, 0);
	mp_read_free(&r);
	mpbuf_free(&doc);
}
END_TEST

START_TEST(jsonl_many_rows_across_chunks)
{
	struct mpbuf doc;
	struct mp_read a, b;

	/* ~6 MB with varying line lengths, so lines straddle every input
	 * chunk boundary. */
	mpbuf_init(&doc);
	for (int i = 0; i < 100000; i++) {
		char line[256];
		int k = snprintf(line, sizeof line, "{\"id\":%d,\"pad\":\"%.*s\",\"u\":\"\\u00e9\xe2\x9c\x93\"}\n",
		                 i, i % 97, "................................................................................................");

		MUST(mpbuf_append(&doc, line, (size_t)k) == 0);
	}
	a = read_mp(&format_jsonl, doc.data, doc.len, NULL, 1000);
	b = read_mp(&format_jsonl, doc.data, doc.len, NULL, 7);
	ck_assert_int_eq(a.rc, 1);
	ck_assert_int_eq(a.nrows, 100000);
	ck_assert_int_eq(b.nrows, 100000);
	ck_assert(a.rows.len == b.rows.len && memcmp(a.rows.data, b.rows.data, a.rows.len) == 0);
	mp_read_free(&a);
	mp_read_free(&b);
	mpbuf_free(&doc);
}
END_TEST

START_TEST(jsonl_probe)
{
	const char *jl = "{\"a\":1}\n{\"a\":2}\n";
	const char *arr = "[{\"a\":1},\n{\"a\":2}]";
	const char *obj = "{\"persons\":\n[{\"a\":1}]}";

	ck_assert_int_gt(format_jsonl.probe(jl, strlen(jl)), format_json.probe(jl, strlen(jl)));
	ck_assert_int_gt(format_json.probe(arr, strlen(arr)), format_jsonl.probe(arr, strlen(arr)));
	ck_assert_int_gt(format_json.probe(obj, strlen(obj)), format_jsonl.probe(obj, strlen(obj)));
	ck_assert_int_eq(format_jsonl.probe("id,name\n1,2\n", 12), 0);
	ck_assert_int_eq(format_json.probe("id,name\n1,2\n", 12), 0);
	ck_assert_int_eq(format_json.probe("", 0), 0);
	ck_assert_int_eq(format_jsonl.probe("", 0), 0);
	ck_assert_int_gt(format_jsonl.probe("\xef\xbb\xbf{\"a\":1}\r\n{", 13), 50);
}
END_TEST

/* ---- round trips through the writers ------------------------------------- */

#define TYPED \
	"{\"u\":18446744073709551615,\"i\":-9223372036854775808,\"z\":0,\"neg\":-1}\n" \
	"{\"f\":0.1,\"g\":1e+300,\"h\":-2.5e-300,\"w\":3.0,\"m\":-0.0,\"e\":5e-324}\n" \
	"{\"n\":{\"a\":[1,[2,[3,{}]],[]],\"b\":null,\"t\":true,\"f\":false},\"k\":{}}\n" \
	"{\"s\":\"h\xc3\xa9llo \xe2\x9c\x93 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\\t\\u0000\\u001f/\",\"\xc3\xa9\":\"\"}\n" \
	"{}\n"

static void round_trip(const struct format_ops *f, const char *opts)
{
	size_t n;
	struct rowd_error err;
	char *bytes = fmt_write_all(f, TYPED, opts, &n, &err);
	struct mp_read r;

	ck_assert_msg(bytes != NULL, "%s: %s", f->name, err.message);
	r = read_mp(f, bytes, n, opts, 2);
	assert_ok_rows(&r, TYPED, 5);
	mp_read_free(&r);
	free(bytes);
}

START_TEST(writers_round_trip)
{
	round_trip(&format_jsonl, NULL);
	round_trip(&format_jsonl, "{\"encoding\":\"utf-8\"}");
	round_trip(&format_json, NULL);
	round_trip(&format_json, "{\"tagname\":\"persons\"}");
	round_trip(&format_json, "{\"tagname\":\"we\\\"ird\\n\"}");
}
END_TEST

START_TEST(jsonl_writer_output)
{
	size_t n;
	struct rowd_error err;
	char *out = fmt_write_all(&format_jsonl, "{\"a\": 1, \"b\": [true, null]}\n{\"c\": 1.5}\n",
	                          NULL, &n, &err);

	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "{\"a\":1,\"b\":[true,null]}\n{\"c\":1.5}\n");
	free(out);
	out = fmt_write_all(&format_jsonl, "", NULL, &n, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(n, 0);
	free(out);

	ck_assert_ptr_null(fmt_write_all(&format_jsonl, "{\"a\":1}\n[1]\n", NULL, &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_null(fmt_write_all(&format_jsonl, "{}", "{\"tagname\":\"x\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert(strstr(err.message, "tagname"));
	ck_assert_ptr_null(fmt_write_all(&format_jsonl, "{}", "{\"encoding\":\"cp1251\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_ENOTSUP);
}
END_TEST

START_TEST(json_writer_output)
{
	size_t n;
	struct rowd_error err;
	char *out;

	out = fmt_write_all(&format_json, "{\"a\":1}\n{\"b\":\"x\"}\n", NULL, &n, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "[\n{\"a\":1},\n{\"b\":\"x\"}\n]\n");
	free(out);
	out = fmt_write_all(&format_json, "{\"a\":1}\n", "{\"tagname\":\"persons\"}", &n, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "{\"persons\": [\n{\"a\":1}\n]}\n");
	free(out);
	out = fmt_write_all(&format_json, "", NULL, &n, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "[]\n");
	free(out);
	out = fmt_write_all(&format_json, "", "{\"tagname\":\"persons\"}", &n, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "{\"persons\": []}\n");
	free(out);

	ck_assert_ptr_null(fmt_write_all(&format_json, "{\"a\":1}\n\"s\"\n", NULL, &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_null(fmt_write_all(&format_json, "{}", "{\"tagname\":1}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_null(fmt_write_all(&format_json, "{}", "{\"on_error\":\"skip\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_null(fmt_write_all(&format_json, "{}", "{\"encoding\":\"utf-16\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_ENOTSUP);
}
END_TEST

/* A large output crosses the output chunk: every byte must arrive. */
START_TEST(writers_large_output)
{
	struct mpbuf rows;
	const struct format_ops *fs[] = { &format_jsonl, &format_json };

	mpbuf_init(&rows);
	for (int i = 0; i < 30000; i++) {
		char line[96];
		int k = snprintf(line, sizeof line, "{\"i\":%d,\"s\":\"some text for row %d\"}\n", i, i);

		MUST(mpbuf_append(&rows, line, (size_t)k) == 0);
	}
	MUST(mpbuf_append(&rows, "", 1) == 0);
	for (size_t k = 0; k < 2; k++) {
		size_t n;
		struct rowd_error err;
		char *bytes = fmt_write_all(fs[k], rows.data, NULL, &n, &err);
		struct mp_read r;

		ck_assert_ptr_nonnull(bytes);
		ck_assert_uint_gt(n, 2 * OUTPUT_CHUNK);
		r = read_mp(fs[k], bytes, n, NULL, 1000);
		assert_ok_rows(&r, rows.data, 30000);
		mp_read_free(&r);
		free(bytes);
	}
	mpbuf_free(&rows);
}
END_TEST

/* ---- JSON reader ---------------------------------------------------------- */

/* The JSON Lines text of n generated rows, and the same rows as a JSON
 * array with awkward whitespace between tokens. */
static void gen_rows(int n, struct mpbuf *lines, struct mpbuf *array)
{
	mpbuf_init(lines);
	mpbuf_init(array);
	MUST(mpbuf_append(array, "[", 1) == 0);
	for (int i = 0; i < n; i++) {
		char line[512];
		int k = snprintf(line, sizeof line,
		                 "{\"id\":%d,\"name\":\"n\\u00e9%d\",\"score\":%d.25,\"big\":%" PRIu64 ","
		                 "\"tags\":[\"a\",\"%.*s\"],\"o\":{\"x\":%d,\"y\":[null,false]},\"e\":{}}\n",
		                 i, i, i, UINT64_MAX - (uint64_t)i, i % 200,
		                 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		                 -i);

		MUST(mpbuf_append(lines, line, (size_t)k) == 0);
		if (i)
			MUST(mpbuf_append(array, i % 3 ? ",\n  " : " ,", i % 3 ? 4 : 2) == 0);
		MUST(mpbuf_append(array, line, (size_t)k - 1) == 0);
	}
	MUST(mpbuf_append(array, "\n]\n", 3) == 0);
	MUST(mpbuf_append(lines, "", 1) == 0);
}

START_TEST(json_large_array_batches)
{
	struct mpbuf lines, array;
	struct mpbuf want;
	size_t batches[] = { 1, 2, 7, 1000, 100000 };

	gen_rows(100000, &lines, &array);
	ck_assert_uint_gt(array.len, 20 * 256 * 1024);
	want = pack_lines(lines.data);
	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		struct mp_read r = read_mp(&format_json, array.data, array.len, NULL, batches[b]);

		ck_assert_msg(r.rc == 1, "batch %zu: %s", batches[b], r.err.message);
		ck_assert_int_eq(r.nrows, 100000);
		ck_assert(!r.over_max);
		ck_assert_uint_ge(r.calls, 100000 / batches[b]);
		ck_assert(r.rows.len == want.len && memcmp(r.rows.data, want.data, want.len) == 0);
		mp_read_free(&r);
	}
	mpbuf_free(&want);
	mpbuf_free(&lines);
	mpbuf_free(&array);
}
END_TEST

START_TEST(json_tagname_with_large_neighbours)
{
	struct mpbuf lines, array, doc, want;
	struct mp_read r;

	gen_rows(20000, &lines, &array);
	mpbuf_init(&doc);
	/* A big nested value before, a decoy key inside it, a big array after. */
	app(&doc, "\xef\xbb\xbf{\"meta\": {\"persons\": [{\"decoy\":1}], \"blob\": ");
	MUST(mpbuf_append(&doc, array.data, array.len) == 0);
	app(&doc, "}, \"persons\": ");
	MUST(mpbuf_append(&doc, array.data, array.len) == 0);
	app(&doc, ", \"tail\": [");
	for (int i = 0; i < 200000; i++)
		app(&doc, "[1,{\"persons\":[]}],");
	app(&doc, "\"end\"], \"persons\": [{\"dup\":1}], \"x\": \"");
	for (int i = 0; i < 1000000; i++)
		MUST(mpbuf_append(&doc, "s", 1) == 0);
	MUST(mpbuf_append(&doc, "\"}\n", 3) == 0);
	want = pack_lines(lines.data);
	r = read_mp(&format_json, doc.data, doc.len, "{\"tagname\":\"persons\"}", 999);
	ck_assert_msg(r.rc == 1, "%s", r.err.message);
	ck_assert_int_eq(r.nrows, 20000);
	ck_assert(r.rows.len == want.len && memcmp(r.rows.data, want.data, want.len) == 0);
	mp_read_free(&r);

	/* Without tagname the document is not an array. */
	r = read_mp(&format_json, doc.data, doc.len, NULL, 999);
	assert_error(&r, ROWD_EFORMAT, "expected a top-level array of objects (or set tagname)");
	ck_assert_int_eq(r.err.offset, 4);   /* after the BOM and the '{' */
	mp_read_free(&r);

	mpbuf_free(&want);
	mpbuf_free(&doc);
	mpbuf_free(&lines);
	mpbuf_free(&array);
}
END_TEST

START_TEST(json_document_shapes)
{
	struct mp_read r;
	const char *tag = "{\"tagname\":\"persons\"}";

	r = read_str(&format_json, "[]", NULL, 10);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_json, " \n", NULL, 10);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_json, "", NULL, 10);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_json, "{\"persons\": []}", tag, 10);
	assert_ok_rows(&r, "", 0);
	mp_read_free(&r);
	r = read_str(&format_json, "[{}, {\"a\": {}}]", NULL, 10);
	assert_ok_rows(&r, "{}\n{\"a\":{}}", 2);
	mp_read_free(&r);

	r = read_str(&format_json, "{\"a\": 1}", NULL, 10);
	assert_error(&r, ROWD_EFORMAT, "expected a top-level array of objects (or set tagname)");
	mp_read_free(&r);
	r = read_str(&format_json, "5", NULL, 10);
	assert_error(&r, ROWD_EFORMAT, "expected a top-level array of objects (or set tagname)");
	mp_read_free(&r);
	r = read_str(&format_json, "{\"x\": [{\"a\":1}], \"y\": 2}", tag, 10);
	assert_error(&r, ROWD_EFORMAT, "no key 'persons' at the top level");
	mp_read_free(&r);
	r = read_str(&format_json, "[{\"a\":1}]", tag, 10);
	assert_error(&r, ROWD_EFORMAT, "persons");
	mp_read_free(&r);
	r = read_str(&format_json, "{\"persons\": {\"a\":1}}", tag, 10);
	assert_error(&r, ROWD_EFORMAT, "key 'persons' must hold an array of objects");
	mp_read_free(&r);
	r = read_str(&format_json, "{\"persons\": null}", tag, 10);
	assert_error(&r, ROWD_EFORMAT, "key 'persons' must hold an array of objects");
	mp_read_free(&r);
}
END_TEST

START_TEST(json_trailing_and_truncated)
{
	const char *bad[] = { "[{\"a\":1}] x", "[{\"a\":1}] []", "[{\"a\":1}]]", "[{\"a\":1}] {",
	                      "[{\"a\":1}, {\"b\":", "[{\"a\":1},", "[{\"a\":1}", "[{\"a\":1}, {\"b\":tru",
	                      "[{\"a\":1}, {\"b\":\"\xc3\"}]", "[{\"a\":1}, {\"b\":1,}]" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mp_read r = read_str(&format_json, bad[i], NULL, 10);

		assert_error(&r, ROWD_EFORMAT, NULL);
		ck_assert_msg(r.nrows == 1, "%s: %zu rows", bad[i], r.nrows);
		ck_assert_int_ge(r.err.offset, 8);
		assert_rows(&r, "{\"a\":1}");
		mp_read_free(&r);
	}
	{
		struct mp_read r = read_str(&format_json, "[{\"a\":1}] \r\n\t ", NULL, 10);

		assert_ok_rows(&r, "{\"a\":1}", 1);
		mp_read_free(&r);
	}
}
END_TEST

START_TEST(json_bad_elements)
{
	const char *doc = "[{\"a\":1},\n{\"a\":2},\n\"s\",\n[1,[2,{\"x\":3}]],\n{\"a\":3},\n7]";
	struct mp_read r;

	for (size_t batch = 1; batch <= 1000; batch *= 10) {
		r = read_str(&format_json, doc, NULL, batch);
		assert_error(&r, ROWD_EFORMAT, "row 3: expected an object, got a string");
		ck_assert_int_eq(r.err.row, 3);
		ck_assert_int_eq(r.err.line, 3);
		ck_assert_int_eq(r.nrows, 2);
		assert_rows(&r, "{\"a\":1}\n{\"a\":2}");
		mp_read_free(&r);
	}
	r = read_str(&format_json, doc, "{\"on_error\":\"skip\"}", 1);
	assert_ok_rows(&r, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}", 3);
	ck_assert_int_eq(r.skipped, 3);
	mp_read_free(&r);

	r = read_str(&format_json, "[{\"a\":1},[]]", NULL, 1);
	assert_error(&r, ROWD_EFORMAT, "row 2: expected an object, got an array");
	mp_read_free(&r);
}
END_TEST

START_TEST(json_error_after_carried_rows)
{
	struct mpbuf doc;
	struct mp_read r;

	/* The bad element is parsed in the same slice as rows beyond the
	 * batch: they are handed out first, then the error. */
	mpbuf_init(&doc);
	MUST(mpbuf_append(&doc, "[", 1) == 0);
	for (int i = 0; i < 50; i++)
		MUST(mpbuf_append(&doc, "{\"a\":1},", 8) == 0);
	MUST(mpbuf_append(&doc, "null]", 5) == 0);
	r = read_mp(&format_json, doc.data, doc.len, NULL, 3);
	assert_error(&r, ROWD_EFORMAT, "row 51: ");
	ck_assert_int_eq(r.nrows, 50);
	ck_assert_int_eq(r.calls, 17);
	ck_assert_int_eq(r.err.offset, 1 + 50 * 8 + 4);
	mp_read_free(&r);

	/* Likewise with a syntax error. */
	doc.len -= 5;
	MUST(mpbuf_append(&doc, "{\"a\" 1}]", 8) == 0);
	r = read_mp(&format_json, doc.data, doc.len, NULL, 7);
	assert_error(&r, ROWD_EFORMAT, "invalid JSON at line 1");
	ck_assert_int_eq(r.nrows, 50);
	mp_read_free(&r);
	mpbuf_free(&doc);
}
END_TEST

START_TEST(json_limits)
{
	struct rowd_limits lim;
	struct mp_read r;
	const char *deep = "[{\"a\":1},{\"a\":[[[[[1]]]]]}]";
	const char *wide = "[{\"a\":[1,2,3,4,5]}]";
	const char *str = "[{\"a\":\"0123456789\"}]";
	const char *deep_skip = "{\"x\":[[[[[[[[1]]]]]]]],\"persons\":[]}";

	rowd_limits_default(&lim);
	lim.depth = 4;
	r = read_mp_lim(&format_json, deep, strlen(deep), NULL, 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "depth");
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.nrows, 1);
	mp_read_free(&r);
	r = read_mp_lim(&format_json, deep_skip, strlen(deep_skip), "{\"tagname\":\"persons\"}", 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "depth");
	mp_read_free(&r);

	rowd_limits_default(&lim);
	lim.elements = 4;
	r = read_mp_lim(&format_json, wide, strlen(wide), NULL, 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "elements");
	mp_read_free(&r);

	rowd_limits_default(&lim);
	lim.str_bytes = 9;
	r = read_mp_lim(&format_json, str, strlen(str), NULL, 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "str_bytes");
	mp_read_free(&r);

	rowd_limits_default(&lim);
	lim.row_bytes = 12;
	r = read_mp_lim(&format_json, str, strlen(str), NULL, 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "row_bytes");
	ck_assert_int_eq(r.rows.len, 0);
	mp_read_free(&r);
}
END_TEST

/* One huge token (here a string in a skipped value) cannot make yajl
 * buffer without bound. */
START_TEST(json_huge_token)
{
	struct rowd_limits lim;
	struct mpbuf doc;
	struct mp_read r;

	rowd_limits_default(&lim);
	lim.str_bytes = 1000;
	lim.row_bytes = 1000;
	mpbuf_init(&doc);
	MUST(mpbuf_append(&doc, "{\"x\":\"", 6) == 0);
	for (int i = 0; i < 400000; i++)
		MUST(mpbuf_append(&doc, "z", 1) == 0);
	MUST(mpbuf_append(&doc, "\",\"persons\":[]}", 15) == 0);
	r = read_mp_lim(&format_json, doc.data, doc.len, "{\"tagname\":\"persons\"}", 100, &lim);
	assert_error(&r, ROWD_ELIMIT, "token");
	mp_read_free(&r);
	mpbuf_free(&doc);
}
END_TEST

START_TEST(json_options)
{
	struct mp_read r;

	r = read_str(&format_json, "[]", "{\"table\": \"x\"}", 10);
	assert_error(&r, ROWD_EINVAL, "table");
	mp_read_free(&r);
	r = read_str(&format_json, "[]", "{\"tagname\": [\"x\"]}", 10);
	assert_error(&r, ROWD_EINVAL, "tagname");
	mp_read_free(&r);
	r = read_str(&format_json, "[]", "{\"encoding\": \"windows-1251\"}", 10);
	assert_error(&r, ROWD_ENOTSUP, "windows-1251");
	mp_read_free(&r);
	r = read_str(&format_json, "[{\"a\":1}]", "{\"encoding\": \"utf-8\", \"on_error\": \"skip\"}", 10);
	assert_ok_rows(&r, "{\"a\":1}", 1);
	mp_read_free(&r);
}
END_TEST

/* The JSON reader's number parsing (with its fast path for decimals)
 * gives the bits proto's strtod gives the JSON Lines reader. */
START_TEST(json_numbers_match_jsonl)
{
	const char *fixed[] = {
		"0.1", "0.3", "-0.0", "1.5", "123456789012345.678", "9007199254740993.0",
		"4503599627370497.5", "1.7976931348623157", "2.2250738585072014",
		"0.0000000000000000000001", "1234567.000000000000001", "99999999999999999999",
		"-9223372036854775809", "18446744073709551616", "1e22", "1E-7", "-2.5e+3",
		"0.00000000000000000000000000000000000001", "9007199254740992.5", "123.",
	};
	struct mpbuf lines, arr;
	unsigned seed = 12345;

	mpbuf_init(&lines);
	mpbuf_init(&arr);
	app(&arr, "[");
	for (int i = 0; i < 20000 + (int)(sizeof fixed / sizeof fixed[0]); i++) {
		char num[64], row[96];
		int k = i - 20000;

		if (k >= 0) {
			snprintf(num, sizeof num, "%s", fixed[k]);
		} else {
			/* 1..19 random digits with the point somewhere inside. */
			int nd = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 19;
			int dot = (int)((seed = seed * 1103515245 + 12345) >> 16) % nd;
			char *p = num;

			if (i & 1)
				*p++ = '-';
			for (int d = 0; d < nd; d++) {
				if (d == dot && d > 0)
					*p++ = '.';
				*p++ = (char)('0' + (d == 0 ? 1 + ((seed = seed * 1103515245 + 12345) >> 16) % 9
				                          : ((seed = seed * 1103515245 + 12345) >> 16) % 10));
			}
			*p = '\0';
		}
		if (strchr(num, '.') && num[strlen(num) - 1] == '.')
			continue;     /* "123." is not JSON */
		snprintf(row, sizeof row, "{\"n\":%s}\n", num);
		app(&lines, row);
		if (arr.len > 1)
			app(&arr, ",");
		row[strlen(row) - 1] = '\0';
		app(&arr, row);
	}
	app(&arr, "]");
	MUST(mpbuf_append(&lines, "", 1) == 0);
	{
		struct mp_read r = read_mp(&format_json, arr.data, arr.len, NULL, 1000);

		ck_assert_int_eq(r.rc, 1);
		assert_rows(&r, lines.data);
		mp_read_free(&r);
	}
	mpbuf_free(&lines);
	mpbuf_free(&arr);
}
END_TEST

START_TEST(json_strings_strict_utf8)
{
	/* Overlong, encoded surrogate, lone \u surrogate, bad byte. */
	const char *bad[] = { "\xc0\xaf", "\xed\xa0\x80", "\\udc00", "\xff", "\xf4\x90\x80\x80" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char doc[96];
		struct mp_read r;

		snprintf(doc, sizeof doc, "[{\"a\":1},{\"s\":\"x%sy\"}]", bad[i]);
		r = read_str(&format_json, doc, NULL, 10);
		assert_error(&r, ROWD_EFORMAT, "UTF-8");
		ck_assert_int_eq(r.nrows, 1);
		ck_assert_int_eq(r.err.row, 2);
		mp_read_free(&r);
		snprintf(doc, sizeof doc, "{\"a\":1}\n{\"s\":\"x%sy\"}\n", bad[i]);
		r = read_str(&format_jsonl, doc, NULL, 10);
		assert_error(&r, ROWD_EFORMAT, "line 2: ");
		mp_read_free(&r);
		/* In a skipped value too. */
		snprintf(doc, sizeof doc, "{\"x\":[\"%s\"],\"persons\":[]}", bad[i]);
		r = read_str(&format_json, doc, "{\"tagname\":\"persons\"}", 10);
		assert_error(&r, ROWD_EFORMAT, NULL);
		mp_read_free(&r);
	}
	{
		struct mp_read r = read_str(&format_json, "[{\"s\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}]", NULL, 10);

		assert_ok_rows(&r, "{\"s\":\"\xf0\x9f\x98\x80 \xf0\x9f\x98\x80\"}", 1);
		mp_read_free(&r);
	}
}
END_TEST

START_TEST(json_form_feed)
{
	struct mp_read r = read_str(&format_json, "[{\"a\":1},\n{\"b\":\f2}]", NULL, 10);

	assert_error(&r, ROWD_EFORMAT, "control character 0x0c");
	ck_assert_int_eq(r.err.offset, 15);
	ck_assert_int_eq(r.err.line, 2);
	ck_assert_int_eq(r.nrows, 1);
	mp_read_free(&r);
}
END_TEST

START_TEST(json_error_lines)
{
	struct mp_read r = read_str(&format_json, "[\n{\"a\":1},\r\n{\"a\":2},\n\n  {\"a\": ?}]", NULL, 1);

	assert_error(&r, ROWD_EFORMAT, "invalid JSON at line 5");
	ck_assert_int_eq(r.err.line, 5);
	ck_assert_int_eq(r.err.row, 3);
	ck_assert_int_eq(r.nrows, 2);
	mp_read_free(&r);
}
END_TEST

/* ---- input errors --------------------------------------------------------- */

/* A codec that passes the first fail_after bytes through, then reports a
 * corrupt stream, as a truncated gzip member would. */
static uint64_t fail_after;

struct failing {
	struct rawin *in;
	uint64_t left;
};

static int failing_rd_open(struct rawin *in, const msgpack_object *opts, void **state,
                           struct rowd_error *err)
{
	struct failing *c = malloc(sizeof *c);

	ck_assert_ptr_nonnull(c);
	c->in = in;
	c->left = fail_after;
	*state = c;
	return 0;
}

static ssize_t failing_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct failing *c = state;
	ssize_t r;

	if (c->left == 0) {
		rowd_error_set(err, ROWD_ECODEC, "corrupt test stream");
		err->offset = 4242;
		return -1;
	}
	r = rawin_read(c->in, buf, n < c->left ? n : (size_t)c->left, err);
	if (r > 0)
		c->left -= (uint64_t)r;
	return r;
}

static void failing_rd_close(void *state)
{
	free(state);
}

static const struct codec_ops codec_failing = {
	.name = "failing",
	.rd_open = failing_rd_open,
	.rd_read = failing_rd_read,
	.rd_close = failing_rd_close,
};

START_TEST(input_errors_propagate)
{
	struct mpbuf lines, array;
	struct rowd_limits lim;
	const struct format_ops *fs[] = { &format_jsonl, &format_json };

	rowd_limits_default(&lim);
	gen_rows(5000, &lines, &array);
	fail_after = 300000;
	for (size_t k = 0; k < 2; k++) {
		struct mpbuf *doc = k == 0 ? &lines : &array;
		struct mp_read r = read_mp_codec(fs[k], doc->data, doc->len, NULL, 100, &lim,
		                                 &codec_failing);
		struct mpbuf want = pack_lines(lines.data);

		assert_error(&r, ROWD_ECODEC, "corrupt test stream");
		ck_assert_int_eq(r.err.offset, 4242);
		/* Every row that was whole before the failure, and only whole rows. */
		ck_assert_uint_gt(r.nrows, 1000);
		ck_assert_uint_lt(r.nrows, 5000);
		ck_assert(r.rows.len < want.len && memcmp(r.rows.data, want.data, r.rows.len) == 0);
		mp_read_free(&r);
		mpbuf_free(&want);
	}
	mpbuf_free(&lines);
	mpbuf_free(&array);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *t = tcase_create(name);

	/* The large documents take a while under ASan. */
	tcase_set_timeout(t, 300);
	suite_add_tcase(s, t);
	return t;
}

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *t;

	t = tcase(s, "conformance");
	tcase_add_test(t, iterabledata_six_rows);
	tcase_add_test(t, iterabledata_books);
	tcase_add_test(t, registry_entries);
	tcase_add_test(t, suite_y_files);
	tcase_add_test(t, suite_n_files);
	tcase_add_test(t, suite_i_files);

	t = tcase(s, "jsonl");
	tcase_add_test(t, jsonl_batches_equal);
	tcase_add_test(t, jsonl_blank_lines_crlf_bom);
	tcase_add_test(t, jsonl_not_an_object);
	tcase_add_test(t, jsonl_error_is_sticky_and_batched);
	tcase_add_test(t, jsonl_on_error_skip);
	tcase_add_test(t, jsonl_options);
	tcase_add_test(t, jsonl_limits);
	tcase_add_test(t, jsonl_many_rows_across_chunks);
	tcase_add_test(t, jsonl_probe);

	t = tcase(s, "writers");
	tcase_add_test(t, writers_round_trip);
	tcase_add_test(t, jsonl_writer_output);
	tcase_add_test(t, json_writer_output);
	tcase_add_test(t, writers_large_output);

	t = tcase(s, "json");
	tcase_add_test(t, json_large_array_batches);
	tcase_add_test(t, json_tagname_with_large_neighbours);
	tcase_add_test(t, json_document_shapes);
	tcase_add_test(t, json_trailing_and_truncated);
	tcase_add_test(t, json_bad_elements);
	tcase_add_test(t, json_error_after_carried_rows);
	tcase_add_test(t, json_limits);
	tcase_add_test(t, json_huge_token);
	tcase_add_test(t, json_options);
	tcase_add_test(t, json_error_lines);
	tcase_add_test(t, json_numbers_match_jsonl);
	tcase_add_test(t, json_strings_strict_utf8);
	tcase_add_test(t, json_form_feed);
	tcase_add_test(t, input_errors_propagate);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
