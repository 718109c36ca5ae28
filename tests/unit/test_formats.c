/* Unit tests of the msgpack, LTSV and fixed-width formats
 * (daemon/formats/msgpack.c, ltsv.c, fwf.c). */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"

extern const struct format_ops format_msgpack, format_ltsv, format_fwf, format_tsv;
extern const struct format_ops format_csv, format_jsonl;
extern const struct codec_ops codec_none;

#define ITERABLE TOP_SRCDIR "/tests/data/conformance/iterabledata"
#define SIX_ROWS \
	"{\"id\":\"1\",\"name\":\"John\"}\n{\"id\":\"2\",\"name\":\"Mary\"}\n" \
	"{\"id\":\"3\",\"name\":\"Michael\"}\n{\"id\":\"4\",\"name\":\"Anna\"}\n" \
	"{\"id\":\"5\",\"name\":\"Orban\"}\n{\"id\":\"6\",\"name\":\"Lucy\"}\n"
/* The README says the .ltsv holds the six rows above; the file holds
 * these (other names). The file is the fixture we have. */
#define LTSV_ROWS \
	"{\"id\":\"1\",\"name\":\"Alice\"}\n{\"id\":\"2\",\"name\":\"Bob\"}\n" \
	"{\"id\":\"3\",\"name\":\"Charlie\"}\n{\"id\":\"4\",\"name\":\"Diana\"}\n" \
	"{\"id\":\"5\",\"name\":\"Eve\"}\n{\"id\":\"6\",\"name\":\"Frank\"}\n"

/* An assertion for loops: Check reports every ck_assert it passes. */
#define MUST(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

/* ---- a read driver that keeps the rows as msgpack ------------------------ */

struct rd {
	int rc;                  /* 0 read to the end, -1 error */
	struct rowd_error err;
	struct mpbuf rows;       /* packed rows, concatenated */
	size_t nrows;
	uint64_t skipped;
	bool over_max;           /* a call returned more rows than asked */
	char *columns;           /* rd_columns as JSON after open, or NULL */
};


static char *packed_to_json(const char *p, size_t n)
{
	struct mpbuf out;
	msgpack_unpacked up;
	size_t off = 0;

	mpbuf_init(&out);
	msgpack_unpacked_init(&up);
	while (off < n) {
		MUST(msgpack_unpack_next(&up, p, n, &off) == MSGPACK_UNPACK_SUCCESS);
		MUST(proto_object_to_json(&up.data, &out) == 0);
		MUST(mpbuf_append(&out, "\n", 1) == 0);
	}
	msgpack_unpacked_destroy(&up);
	MUST(mpbuf_append(&out, "", 1) == 0);
	return out.data;
}

static struct rd run(const struct format_ops *f, const void *data, size_t n, const char *opts,
                     size_t batch, const struct rowd_limits *limits, const struct codec_ops *codec)
{
	struct rd r = { .rc = -1 };
	struct rowd_limits lim;
	struct mpbuf optraw, cols;
	msgpack_unpacked optup;
	struct fmt_args a = { .fmt = f };
	struct input in;
	void *st = NULL;
	int fd = memfd_create("t", 0);

	MUST(fd >= 0 && write(fd, data, n) == (ssize_t)n);
	if (limits)
		lim = *limits;
	else
		rowd_limits_default(&lim);
	a.limits = &lim;
	rowd_error_clear(&r.err);
	mpbuf_init(&r.rows);
	mpbuf_init(&optraw);
	mpbuf_init(&cols);
	msgpack_unpacked_init(&optup);
	if (opts) {
		struct rowd_limits dflt;
		size_t off = 0;

		rowd_limits_default(&dflt);        /* options are not rows */
		MUST(proto_json_to_msgpack(opts, strlen(opts), &dflt, &optraw, &r.err) == 0);
		MUST(msgpack_unpack_next(&optup, optraw.data, optraw.len, &off) ==
		     MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	MUST(input_open(&in, fd, codec ? codec : &codec_none, NULL, lim.row_bytes, &r.err) == 0);
	a.in = &in;
	if (f->rd_open(&a, &st, &r.err) == 0) {
		int rc;

		if (f->rd_columns && f->rd_columns(st, &cols) == 1)
			r.columns = packed_to_json(cols.data, cols.len);
		do {
			size_t got = 99;

			rc = f->rd_next(st, &r.rows, batch, &got, &r.skipped, &r.err);
			r.over_max |= got > batch;
			r.nrows += got;
		} while (rc == 0);
		r.rc = rc < 0 ? -1 : 0;
		f->rd_close(st);
	}
	input_close(&in);
	close(fd);
	mpbuf_free(&optraw);
	mpbuf_free(&cols);
	msgpack_unpacked_destroy(&optup);
	return r;
}

static struct rd rd_str(const struct format_ops *f, const char *s, const char *opts)
{
	return run(f, s, strlen(s), opts, 1000, NULL, NULL);
}

static void rd_free(struct rd *r)
{
	mpbuf_free(&r->rows);
	free(r->columns);
}

/* Packs JSON Lines text the way proto does (canonical msgpack). */
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

/* The rows read are exactly `expected` (JSON Lines), byte for byte. */
static void assert_rows_at(const struct rd *r, const char *expected, const char *where)
{
	struct mpbuf want = pack_lines(expected);

	if (want.len != r->rows.len || (want.len && memcmp(want.data, r->rows.data, want.len))) {
		char *got = packed_to_json(r->rows.data, r->rows.len);

		ck_abort_msg("%s: rows differ:\n got: %s\nwant: %s", where, got, expected);
	}
	mpbuf_free(&want);
}

#define assert_rows(r, expected) assert_rows_at((r), (expected), __func__)

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Reads to the end without error, giving the rows expected. */
#define expect_ok(r, expected) do {                                              \
	ck_assert_msg((r)->rc == 0, "read failed: %s %s", rowd_err_name((r)->err.code),  \
	              (r)->err.message);                                             \
	ck_assert(!(r)->over_max);                                                   \
	assert_rows((r), (expected));                                                \
	ck_assert_uint_eq((r)->nrows, count_lines(expected));                        \
} while (0)

static void expect_err_at(const struct rd *r, enum rowd_err code, const char *needle,
                          const char *where)
{
	ck_assert_msg(r->rc == -1, "%s: expected %s, the read succeeded", where, rowd_err_name(code));
	ck_assert_msg(r->err.code == code, "%s: expected %s, got %s: %s", where, rowd_err_name(code),
	              rowd_err_name(r->err.code), r->err.message);
	ck_assert_msg(strstr(r->err.message, needle), "%s: message '%s' lacks '%s'", where,
	              r->err.message, needle);
}

#define expect_err(r, code, needle) expect_err_at((r), (code), (needle), __func__)

/* A read that fails at open or first rd_next with code and needle. */
static void expect_fail_n(const struct format_ops *f, const char *data, size_t n,
                          const char *opts, enum rowd_err code, const char *needle)
{
	struct rd r = run(f, data, n, opts, 1000, NULL, NULL);

	expect_err_at(&r, code, needle, opts ? opts : needle);
	rd_free(&r);
}

static void expect_read_fail(const struct format_ops *f, const char *text, const char *opts,
                             enum rowd_err code, const char *needle)
{
	expect_fail_n(f, text, strlen(text), opts, code, needle);
}

/* ---- write drivers ------------------------------------------------------- */

static char *write_ok(const struct format_ops *f, const char *rows, const char *opts, size_t *n)
{
	struct rowd_error err;
	char *out = fmt_write_all(f, rows, opts, n, &err);

	ck_assert_msg(out, "write failed: %s %s", rowd_err_name(err.code), err.message);
	return out;
}

static void expect_write(const struct format_ops *f, const char *rows, const char *opts,
                         const char *expected)
{
	size_t n;
	char *out = write_ok(f, rows, opts, &n);

	ck_assert_str_eq(out, expected);
	ck_assert_uint_eq(n, strlen(expected));
	free(out);
}

static void expect_write_fail(const struct format_ops *f, const char *rows, const char *opts,
                              enum rowd_err code, const char *needle)
{
	struct rowd_error err;
	size_t n;
	char *out = fmt_write_all(f, rows, opts, &n, &err);

	ck_assert_msg(!out, "write of %s should fail", rows);
	ck_assert_msg(err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

/* Writes rows given as concatenated msgpack objects (so that tests can
 * pass what JSON cannot say: float32, bin, integer keys, non-maps).
 * Returns the bytes (malloc'd, *n) or NULL with err. */
static char *write_packed_ex(const struct format_ops *f, const void *rows, size_t len,
                             const char *opts_json, size_t *n, struct rowd_error *err,
                             size_t *failures)
{
	struct rowd_limits lim;
	struct output out;
	struct fmt_args a = { .fmt = f };
	struct mpbuf optraw;
	msgpack_unpacked optup, up;
	void *st = NULL;
	char *res = NULL;
	int fd = memfd_create("w", 0);
	size_t off = 0;
	int rc = -1;

	MUST(fd >= 0);
	rowd_limits_default(&lim);
	rowd_error_clear(err);
	mpbuf_init(&optraw);
	msgpack_unpacked_init(&optup);
	msgpack_unpacked_init(&up);
	if (opts_json) {
		size_t o = 0;

		MUST(proto_json_to_msgpack(opts_json, strlen(opts_json), &lim, &optraw, err) == 0);
		MUST(msgpack_unpack_next(&optup, optraw.data, optraw.len, &o) == MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	MUST(output_open(&out, fd, &codec_none, NULL, err) == 0);
	a.out = &out;
	a.limits = &lim;
	if (f->wr_open(&a, &st, err) == 0) {
		rc = 0;
		while (rc == 0 && off < len) {
			MUST(msgpack_unpack_next(&up, rows, len, &off) == MSGPACK_UNPACK_SUCCESS);
			rc = f->wr_row(st, &up.data, err);
			/* As write_bulk's caller may: report the row, go on. */
			if (rc < 0 && failures) {
				++*failures;
				rc = 0;
			}
		}
		if (rc == 0)
			rc = f->wr_finish(st, err) < 0 || output_finish(&out, err) < 0 ? -1 : 0;
		f->wr_close(st);
	}
	output_close(&out);
	if (rc == 0) {
		off_t size = lseek(fd, 0, SEEK_END);

		res = malloc((size_t)size + 1);
		MUST(res && pread(fd, res, (size_t)size, 0) == size);
		res[size] = 0;
		*n = (size_t)size;
	}
	close(fd);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	msgpack_unpacked_destroy(&up);
	return res;
}

static char *write_packed(const struct format_ops *f, const void *rows, size_t len,
                          const char *opts_json, size_t *n, struct rowd_error *err)
{
	return write_packed_ex(f, rows, len, opts_json, n, err, NULL);
}

static void expect_write_packed_fail(const struct format_ops *f, const char *rows, size_t len,
                                     const char *opts, enum rowd_err code, const char *needle)
{
	struct rowd_error err;
	size_t n;
	char *out = write_packed(f, rows, len, opts, &n, &err);

	ck_assert_msg(!out, "write should fail (%s)", needle);
	ck_assert_msg(err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

static struct rd read_file(const struct format_ops *f, const char *name, const char *opts)
{
	char path[512];
	size_t n;
	char *data;
	struct rd r;

	snprintf(path, sizeof path, ITERABLE "/%s", name);
	data = fmt_slurp(path, &n);
	ck_assert_msg(data, "cannot read %s", path);
	r = run(f, data, n, opts, 1000, NULL, NULL);
	free(data);
	return r;
}

/* `rows` (JSON Lines) read with batch 1, 2 and 1000 and through the
 * trickle codec: all give the same bytes, and as many rows as lines. */
static void check_batches(const struct format_ops *f, const char *data, size_t n,
                          const char *opts, size_t nrows)
{
	static const size_t batches[] = { 1, 2, 1000 };
	struct rd ref = run(f, data, n, opts, 1000, NULL, NULL);

	ck_assert_msg(ref.rc == 0, "%s", ref.err.message);
	ck_assert_uint_eq(ref.nrows, nrows);
	for (size_t i = 0; i < 4; i++) {
		struct rd r = i < 3 ? run(f, data, n, opts, batches[i], NULL, NULL)
		                    : run(f, data, n, opts, 7, NULL, &fmt_codec_trickle);

		ck_assert_msg(r.rc == 0, "case %zu: %s", i, r.err.message);
		ck_assert(!r.over_max);
		ck_assert_uint_eq(r.nrows, nrows);
		ck_assert_uint_eq(r.rows.len, ref.rows.len);
		ck_assert(memcmp(r.rows.data, ref.rows.data, r.rows.len) == 0);
		rd_free(&r);
	}
	rd_free(&ref);
}

/* Rows of every kind a round trip must survive. */
#define TRICKY_ROWS \
	"{\"s\":\"héllo wörld ✓ 😀\",\"e\":\"\",\"u\":18446744073709551615," \
	"\"i\":-9223372036854775808,\"f\":1.5,\"g\":1e300,\"z\":0.0,\"t\":true,\"n\":null}\n" \
	"{\"s\":\"日本語\",\"e\":\"\",\"u\":0,\"i\":-1,\"f\":-0.25,\"g\":123456789.125," \
	"\"z\":1.0,\"t\":false,\"n\":null}\n"

/* ======================================================================== */
/* msgpack                                                                  */
/* ======================================================================== */

START_TEST(test_mp_fixture)
{
	char path[512];
	size_t n;
	char *file;
	struct rd r = read_file(&format_msgpack, "2cols6rows_flat.msgpack", NULL);

	expect_ok(&r, SIX_ROWS);
	/* Rows are the file's bytes, copied. */
	snprintf(path, sizeof path, ITERABLE "/2cols6rows_flat.msgpack");
	file = fmt_slurp(path, &n);
	ck_assert_uint_eq(r.rows.len, n);
	ck_assert(memcmp(r.rows.data, file, n) == 0);
	ck_assert_ptr_null(r.columns);
	free(file);
	rd_free(&r);
}
END_TEST

START_TEST(test_mp_roundtrip)
{
	size_t n;
	char *bytes = write_ok(&format_msgpack, TRICKY_ROWS, NULL, &n);
	struct rd r = run(&format_msgpack, bytes, n, NULL, 1000, NULL, NULL);

	expect_ok(&r, TRICKY_ROWS);
	/* The file is what was written: exactly the packed rows. */
	ck_assert_uint_eq(r.rows.len, n);
	rd_free(&r);
	free(bytes);

	/* Nested values stay nested. */
	static const char nested[] =
		"{\"a\":{\"b\":[1,2,{\"c\":null}],\"d\":{}},\"e\":[],\"f\":[[[\"x\"]]]}\n{}\n";
	bytes = write_ok(&format_msgpack, nested, NULL, &n);
	r = run(&format_msgpack, bytes, n, NULL, 1000, NULL, NULL);
	expect_ok(&r, nested);
	rd_free(&r);
	free(bytes);
}
END_TEST

/* What JSON cannot carry survives byte for byte: float32, bin, ext,
 * integer keys inside nested maps. */
START_TEST(test_mp_native_types)
{
	static const char rows[] =
		"\x84"
		"\xa1" "f" "\xca\x3f\xc0\x00\x00"           /* float32 1.5 */
		"\xa1" "b" "\xc4\x03\x00\x01\xff"           /* bin */
		"\xa1" "x" "\xd4\x01\x07"                   /* fixext1 */
		"\xa1" "m" "\x81\x01\xa3one";               /* {1: "one"} */
	struct rd r = run(&format_msgpack, rows, sizeof rows - 1, NULL, 1000, NULL, NULL);
	struct rowd_error err;
	size_t n;
	char *out;

	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 1);
	ck_assert_uint_eq(r.rows.len, sizeof rows - 1);
	ck_assert(memcmp(r.rows.data, rows, sizeof rows - 1) == 0);
	rd_free(&r);

	out = write_packed(&format_msgpack, rows, sizeof rows - 1, NULL, &n, &err);
	ck_assert_msg(out, "%s", err.message);
	ck_assert_uint_eq(n, sizeof rows - 1);
	ck_assert(memcmp(out, rows, n) == 0);
	free(out);
}
END_TEST

START_TEST(test_mp_not_a_map)
{
	/* Offsets: row 1 at 0 (7 bytes), row 2 at 7 (an array, 4 bytes), row 3 at 11. */
	static const char data[] = "\x81\xa1" "a" "\xa3" "one" "\x93\x01\x02\x03" "\x81\xa1" "b" "\x02";
	struct rd r = run(&format_msgpack, data, sizeof data - 1, NULL, 1000, NULL, NULL);

	expect_err(&r, ROWD_EFORMAT, "row 2 at offset 7: expected a map, got an array");
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.err.offset, 7);
	ck_assert_uint_eq(r.nrows, 1);
	assert_rows(&r, "{\"a\":\"one\"}\n");
	rd_free(&r);

	r = run(&format_msgpack, data, sizeof data - 1, "{\"on_error\":\"skip\"}", 1000, NULL, NULL);
	expect_ok(&r, "{\"a\":\"one\"}\n{\"b\":2}\n");
	ck_assert_uint_eq(r.skipped, 1);
	rd_free(&r);

	/* Every kind is named. */
	expect_read_fail(&format_msgpack, "\x01", NULL, ROWD_EFORMAT, "got an integer");
	expect_read_fail(&format_msgpack, "\xa1x", NULL, ROWD_EFORMAT, "got a string");
	expect_read_fail(&format_msgpack, "\xc3", NULL, ROWD_EFORMAT, "got a boolean");
	expect_fail_n(&format_msgpack, "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9, NULL,
	              ROWD_EFORMAT, "got a float");
	expect_fail_n(&format_msgpack, "\xc4\x00", 2, NULL, ROWD_EFORMAT, "got binary data");
	expect_fail_n(&format_msgpack, "\xd4\x01\x00", 3, NULL, ROWD_EFORMAT, "got an ext value");
	expect_read_fail(&format_msgpack, "\xc0", NULL, ROWD_EFORMAT, "got nil");
}
END_TEST

START_TEST(test_mp_keys_and_utf8)
{
	/* {1: "a"} at offset 3: the key at offset 4. */
	static const char intkey[] = "\x81\xa1" "a\x01" "\x81\x01\xa1" "a" "\x81\xa1" "c\x03";
	/* A value string with a lone continuation byte, at offset 3. */
	static const char badutf[] = "\x82\xa1" "a\xa2\xc3\x28\xa1" "b\x01";
	/* A nested map may have any keys; its strings must still be UTF-8. */
	static const char nested[] = "\x81\xa1" "a\x81\xa1\xff\x01";
	struct rd r = run(&format_msgpack, intkey, sizeof intkey - 1, NULL, 1000, NULL, NULL);

	expect_err(&r, ROWD_EFORMAT, "row 2 at offset 4: a key that is not a string at offset 5");
	ck_assert_int_eq(r.err.offset, 5);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	r = run(&format_msgpack, intkey, sizeof intkey - 1, "{\"on_error\":\"skip\"}", 1, NULL, NULL);
	expect_ok(&r, "{\"a\":1}\n{\"c\":3}\n");
	ck_assert_uint_eq(r.skipped, 1);
	rd_free(&r);

	r = run(&format_msgpack, badutf, sizeof badutf - 1, NULL, 1000, NULL, NULL);
	expect_err(&r, ROWD_EFORMAT, "not valid UTF-8 at offset 3");
	ck_assert_int_eq(r.err.offset, 3);
	rd_free(&r);
	r = run(&format_msgpack, badutf, sizeof badutf - 1, "{\"on_error\":\"skip\"}", 1000, NULL, NULL);
	expect_ok(&r, "");
	ck_assert_uint_eq(r.skipped, 1);
	rd_free(&r);

	r = run(&format_msgpack, nested, sizeof nested - 1, NULL, 1000, NULL, NULL);
	expect_err(&r, ROWD_EFORMAT, "not valid UTF-8");
	rd_free(&r);
	r = run(&format_msgpack, "\x81\xa1" "a\x81\x01\x02", 6, NULL, 1000, NULL, NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
}
END_TEST

START_TEST(test_mp_truncated)
{
	/* A good row (7 bytes), then a map cut inside its string. */
	static const char data[] = "\x81\xa1" "a\xa3" "one" "\x81\xa1" "b\xa5" "tw";
	struct rd r = run(&format_msgpack, data, sizeof data - 1, NULL, 1000, NULL, NULL);

	expect_err(&r, ROWD_EFORMAT, "truncated msgpack at offset 7");
	ck_assert_int_eq(r.err.offset, 7);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	ck_assert_msg(strstr(r.err.message, "stops at offset 13"), "%s", r.err.message);
	rd_free(&r);
	/* Not skippable: the next object cannot be found. */
	r = run(&format_msgpack, data, sizeof data - 1, "{\"on_error\":\"skip\"}", 1000, NULL, NULL);
	expect_err(&r, ROWD_EFORMAT, "truncated msgpack at offset 7");
	rd_free(&r);
	/* Cut inside a header, after a map header, and through the trickle
	 * codec (the scan resumes across refills, then meets the end). */
	expect_fail_n(&format_msgpack, "\xde\x00", 2, NULL, ROWD_EFORMAT, "truncated msgpack at offset 0");
	expect_read_fail(&format_msgpack, "\x82\xa1" "a\x01", NULL, ROWD_EFORMAT,
	                 "truncated msgpack at offset 0");
	r = run(&format_msgpack, data, sizeof data - 1, NULL, 1, NULL, &fmt_codec_trickle);
	expect_err(&r, ROWD_EFORMAT, "truncated msgpack at offset 7");
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
}
END_TEST

START_TEST(test_mp_reserved_byte)
{
	static const char data[] = "\x81\xa1" "a\x01" "\x82\xa1" "b\xc1";
	struct rd r = run(&format_msgpack, data, sizeof data - 1, "{\"on_error\":\"skip\"}", 1000,
	                  NULL, NULL);

	expect_err(&r, ROWD_EFORMAT, "row 2: reserved byte 0xc1 at offset 7");
	ck_assert_int_eq(r.err.offset, 7);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	expect_read_fail(&format_msgpack, "\xc1", NULL, ROWD_EFORMAT, "reserved byte 0xc1 at offset 0");
}
END_TEST

START_TEST(test_mp_limits)
{
	struct rowd_limits lim;
	struct mpbuf b;
	struct rd r;

	rowd_limits_default(&lim);
	lim.row_bytes = 64;
	/* Row 2 (at offset 4) holds a 100-byte string. */
	mpbuf_init(&b);
	MUST(mpbuf_append(&b, "\x81\xa1" "a\x01" "\x81\xa1" "b\xd9\x64", 8) == 0);
	for (int i = 0; i < 100; i++)
		MUST(mpbuf_append(&b, "x", 1) == 0);
	r = run(&format_msgpack, b.data, b.len, "{\"on_error\":\"skip\"}", 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "row 2 at offset 4: larger than the row_bytes limit (64)");
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.err.offset, 4);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	/* A header that promises more than row_bytes is refused before the
	 * bytes arrive (here they never do). */
	r = run(&format_msgpack, "\x81\xa1" "a\xdb\x00\x00\x10\x00", 8, NULL, 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "row_bytes");
	rd_free(&r);
	mpbuf_free(&b);

	rowd_limits_default(&lim);
	lim.depth = 3;
	r = run(&format_msgpack, "\x81\xa1" "a\x81\xa1" "b\x81\xa1" "c\x01", 10, NULL, 1000, &lim, NULL);
	ck_assert_int_eq(r.rc, 0);
	rd_free(&r);
	r = run(&format_msgpack, "\x81\xa1" "a\x81\xa1" "b\x81\xa1" "c\x91\x01", 11, NULL, 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "row 1: nesting deeper than the depth limit (3) at offset 9");
	ck_assert_int_eq(r.err.offset, 9);
	rd_free(&r);

	rowd_limits_default(&lim);
	lim.elements = 3;
	r = run(&format_msgpack, "\x84\xa1" "a\x01\xa1" "b\x01\xa1" "c\x01\xa1" "d\x01", 13, NULL,
	        1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "elements limit (3)");
	rd_free(&r);

	rowd_limits_default(&lim);
	lim.str_bytes = 4;
	r = run(&format_msgpack, "\x81\xa1" "a\xa5" "hello", 9, NULL, 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "row 1: str of 5 bytes exceeds the str_bytes limit (4) at offset 3");
	ck_assert_int_eq(r.err.offset, 3);
	rd_free(&r);

	/* A hostile array32 header with default limits: refused, nothing
	 * allocated for it. */
	r = run(&format_msgpack, "\x81\xa1" "a\xdd\xff\xff\xff\xff", 8, NULL, 1000, NULL, NULL);
	expect_err(&r, ROWD_ELIMIT, "elements limit");
	rd_free(&r);
}
END_TEST

START_TEST(test_mp_batches)
{
	struct mpbuf text;
	size_t n;
	char *bytes;

	mpbuf_init(&text);
	for (int i = 0; i < 2500; i++) {
		char line[128];
		int k = snprintf(line, sizeof line,
		                 "{\"id\":%d,\"name\":\"n%d\",\"v\":[%d,{\"x\":\"é\"}]}\n", i, i, i);

		MUST(mpbuf_append(&text, line, (size_t)k) == 0);
	}
	MUST(mpbuf_append(&text, "", 1) == 0);
	bytes = write_ok(&format_msgpack, text.data, NULL, &n);
	check_batches(&format_msgpack, bytes, n, NULL, 2500);
	free(bytes);
	mpbuf_free(&text);
}
END_TEST

START_TEST(test_mp_empty)
{
	struct rd r = run(&format_msgpack, "", 0, NULL, 1000, NULL, NULL);

	expect_ok(&r, "");
	rd_free(&r);
	r = run(&format_msgpack, "\x80\x80", 2, NULL, 1, NULL, NULL);
	expect_ok(&r, "{}\n{}\n");
	rd_free(&r);
}
END_TEST

START_TEST(test_mp_options)
{
	expect_read_fail(&format_msgpack, "", "{\"on_error\":\"ignore\"}", ROWD_EINVAL, "'on_error'");
	expect_read_fail(&format_msgpack, "", "{\"on_error\":1}", ROWD_EINVAL, "'on_error'");
	expect_read_fail(&format_msgpack, "", "{\"tagname\":\"x\"}", ROWD_EINVAL,
	                 "unknown option 'tagname' for format msgpack");
	expect_read_fail(&format_msgpack, "", "[1]", ROWD_EINVAL, "must be a map");
	expect_write_fail(&format_msgpack, "{\"a\":1}\n", "{\"on_error\":\"skip\"}", ROWD_EINVAL,
	                  "unknown option 'on_error'");
	{
		struct rd r = rd_str(&format_msgpack, "\x81\xa1" "a\x01", "{\"on_error\":\"raise\"}");

		expect_ok(&r, "{\"a\":1}\n");
		rd_free(&r);
	}
}
END_TEST

START_TEST(test_mp_write_errors)
{
	expect_write_packed_fail(&format_msgpack, "\x81\xa1" "a\x01" "\x93\x01\x02\x03", 8, NULL,
	                         ROWD_EINVAL, "row 2: a row must be a map");
	expect_write_packed_fail(&format_msgpack, "\x81\x01\x02", 3, NULL, ROWD_EINVAL,
	                         "row 1: keys must be strings");
	expect_write_packed_fail(&format_msgpack, "\x81\xa1" "a\xa1\xff", 5, NULL, ROWD_EINVAL,
	                         "row 1: a string is not valid UTF-8");
}
END_TEST

START_TEST(test_mp_probe)
{
	char path[512];
	size_t n;
	char *file;

	snprintf(path, sizeof path, ITERABLE "/2cols6rows_flat.msgpack");
	file = fmt_slurp(path, &n);
	ck_assert_int_eq(format_msgpack.probe(file, n), 70);
	/* Cut in the middle of a row: the rows before it decide. */
	ck_assert_int_eq(format_msgpack.probe(file, 20), 70);
	ck_assert_ptr_eq(format_by_content(file, n), &format_msgpack);
	free(file);
	snprintf(path, sizeof path, ITERABLE "/2cols6rows_flat.bson");
	file = fmt_slurp(path, &n);
	ck_assert_int_eq(format_msgpack.probe(file, n), 0);
	free(file);
	ck_assert_int_eq(format_msgpack.probe("", 0), 0);
	ck_assert_int_eq(format_msgpack.probe("{\"a\":1}\n", 8), 0);
	ck_assert_int_eq(format_msgpack.probe("\x80;Price\n", 8), 0);     /* cp1252 euro */
	ck_assert_int_eq(format_msgpack.probe("\x81\x01\x02", 3), 0);     /* integer key */
	ck_assert_int_eq(format_msgpack.probe("\x81\xa1" "a\xc1", 4), 0);
	ck_assert_int_eq(format_msgpack.probe("\x82\xa1" "a\x01", 4), 0); /* no whole row */
}
END_TEST

/* ======================================================================== */
/* LTSV                                                                     */
/* ======================================================================== */

START_TEST(test_ltsv_fixture)
{
	struct rd r = read_file(&format_ltsv, "2cols6rows.ltsv", NULL);

	expect_ok(&r, LTSV_ROWS);
	rd_free(&r);
}
END_TEST

START_TEST(test_ltsv_parse)
{
	struct rd r;

	/* Colons after the first belong to the value; \r\n; blank lines;
	 * a BOM; no final newline; empty values; empty fields. */
	r = rd_str(&format_ltsv,
	           "\xef\xbb\xbftime:12:30:01\thost:a.b\r\n\r\n\n"
	           "x:\t\ty:2\t\n"
	           "\t\n"
	           "k:v w\u00e9", NULL);
	expect_ok(&r, "{\"time\":\"12:30:01\",\"host\":\"a.b\"}\n{\"x\":\"\",\"y\":\"2\"}\n"
	              "{}\n{\"k\":\"v wé\"}\n");
	ck_assert_ptr_null(r.columns);
	rd_free(&r);
	/* A repeated label keeps the last value at the first place. */
	r = rd_str(&format_ltsv, "a:1\tb:2\ta:3\n", NULL);
	expect_ok(&r, "{\"a\":\"3\",\"b\":\"2\"}\n");
	rd_free(&r);
	/* Labels beyond ltsv.org's characters are read. */
	r = rd_str(&format_ltsv, "user agent:x\tµ:1\n", NULL);
	expect_ok(&r, "{\"user agent\":\"x\",\"µ\":\"1\"}\n");
	rd_free(&r);
	/* A lone \r inside a value stays. */
	r = rd_str(&format_ltsv, "a:x\ry\n", NULL);
	expect_ok(&r, "{\"a\":\"x\\ry\"}\n");
	rd_free(&r);
	r = rd_str(&format_ltsv, "", NULL);
	expect_ok(&r, "");
	rd_free(&r);
}
END_TEST

/* Many fields and many repeats: the label table, not a quadratic scan. */
START_TEST(test_ltsv_many_fields)
{
	struct mpbuf in, want;
	struct rd r;

	mpbuf_init(&in);
	mpbuf_init(&want);
	for (int rep = 0; rep < 3; rep++)
		for (int i = 0; i < 3000; i++) {
			char f[32];
			int k = snprintf(f, sizeof f, "%sk%d:%d", rep || i ? "\t" : "", i, rep);

			MUST(mpbuf_append(&in, f, (size_t)k) == 0);
		}
	MUST(mpbuf_append(&in, "\n", 1) == 0);
	MUST(mpbuf_append(&want, "{", 1) == 0);
	for (int i = 0; i < 3000; i++) {
		char f[32];
		int k = snprintf(f, sizeof f, "%s\"k%d\":\"2\"", i ? "," : "", i);

		MUST(mpbuf_append(&want, f, (size_t)k) == 0);
	}
	MUST(mpbuf_append(&want, "}\n", 3) == 0);
	r = run(&format_ltsv, in.data, in.len, NULL, 10, NULL, NULL);
	expect_ok(&r, want.data);
	rd_free(&r);
	mpbuf_free(&in);
	mpbuf_free(&want);
}
END_TEST

START_TEST(test_ltsv_errors)
{
	static const char text[] = "a:1\nb:2\tjunk\n\nc:3\n:x\nd:\xff\ne:5\n";
	/* UTF-8 named: without it, the \xff would make this windows-1252. */
	struct rd r = rd_str(&format_ltsv, text, "{\"encoding\":\"utf-8\"}");

	/* "b:2\tjunk" starts at offset 4; "junk" at 8. */
	expect_err(&r, ROWD_EFORMAT, "line 2: field 2 has no ':' (expected label:value)");
	ck_assert_int_eq(r.err.line, 2);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.err.offset, 8);
	ck_assert_uint_eq(r.nrows, 1);
	assert_rows(&r, "{\"a\":\"1\"}\n");
	rd_free(&r);

	r = rd_str(&format_ltsv, text, "{\"on_error\":\"skip\",\"encoding\":\"utf-8\"}");
	expect_ok(&r, "{\"a\":\"1\"}\n{\"c\":\"3\"}\n{\"e\":\"5\"}\n");
	ck_assert_uint_eq(r.skipped, 3);
	rd_free(&r);

	expect_read_fail(&format_ltsv, "a:1\n:x\n", NULL, ROWD_EFORMAT, "line 2: field 1 has an empty label");
	expect_read_fail(&format_ltsv, "a:1\nb:\xc3\x28\n", "{\"encoding\":\"utf8\"}", ROWD_EFORMAT,
	                 "line 2: invalid UTF-8");
	expect_read_fail(&format_ltsv, "plain text\n", NULL, ROWD_EFORMAT, "line 1: field 1 has no ':'");
}
END_TEST

START_TEST(test_ltsv_limits)
{
	struct rowd_limits lim;
	struct mpbuf b;
	struct rd r;

	rowd_limits_default(&lim);
	lim.row_bytes = 64;
	mpbuf_init(&b);
	MUST(mpbuf_append(&b, "a:1\nb:", 6) == 0);
	for (int i = 0; i < 400000; i++)
		MUST(mpbuf_append(&b, "x", 1) == 0);
	MUST(mpbuf_append(&b, "\nc:3\n", 5) == 0);
	r = run(&format_ltsv, b.data, b.len, "{\"on_error\":\"skip\"}", 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "line 2: longer than the row_bytes limit (64)");
	ck_assert_int_eq(r.err.line, 2);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	mpbuf_free(&b);

	/* A line of exactly row_bytes whose row packs to a few bytes more
	 * (a str8 header for the 62-byte value). */
	mpbuf_init(&b);
	MUST(mpbuf_append(&b, "k:", 2) == 0);
	for (int i = 0; i < 62; i++)
		MUST(mpbuf_append(&b, "v", 1) == 0);
	MUST(mpbuf_append(&b, "\n", 1) == 0);
	r = run(&format_ltsv, b.data, b.len, NULL, 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "line 1: the row packs to more than the row_bytes limit");
	rd_free(&r);
	mpbuf_free(&b);

	rowd_limits_default(&lim);
	lim.elements = 3;
	r = run(&format_ltsv, "a:1\tb:2\tc:3\td:4\n", 16, NULL, 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "line 1: more than 3 fields (the elements limit)");
	rd_free(&r);
}
END_TEST

START_TEST(test_ltsv_write)
{
	expect_write(&format_ltsv, "{\"a\":\"x\",\"b\":\"\",\"c\":1,\"d\":-2,\"e\":1.5,\"f\":2.0}\n"
	             "{\"t\":true,\"n\":null,\"o\":{\"k\":[1,\"v\"]},\"s\":\"a:b \\\"q\\\"\"}\n", NULL,
	             "a:x\tb:\tc:1\td:-2\te:1.5\tf:2.0\n"
	             "t:true\tn:\to:{\"k\":[1,\"v\"]}\ts:a:b \"q\"\n");
	expect_write(&format_ltsv, "", NULL, "");
	expect_write(&format_ltsv, "{\"a\":1}\n", "{\"encoding\":\"UTF-8\"}", "a:1\n");
}
END_TEST

START_TEST(test_ltsv_roundtrip)
{
	size_t n;
	char *bytes = write_ok(&format_ltsv, TRICKY_ROWS, NULL, &n);
	struct rd r = run(&format_ltsv, bytes, n, NULL, 1000, NULL, NULL);

	/* Values come back as strings; numbers as written. */
	expect_ok(&r, "{\"s\":\"héllo wörld ✓ 😀\",\"e\":\"\",\"u\":\"18446744073709551615\","
	              "\"i\":\"-9223372036854775808\",\"f\":\"1.5\",\"g\":\"1e+300\",\"z\":\"0.0\","
	              "\"t\":\"true\",\"n\":\"\"}\n"
	              "{\"s\":\"日本語\",\"e\":\"\",\"u\":\"0\",\"i\":\"-1\",\"f\":\"-0.25\","
	              "\"g\":\"123456789.125\",\"z\":\"1.0\",\"t\":\"false\",\"n\":\"\"}\n");
	rd_free(&r);
	free(bytes);

	/* Nested values flatten to JSON text, which reads back as such. */
	bytes = write_ok(&format_ltsv, "{\"a\":{\"b\":[1,null,\"c\\td\"]},\"e\":[]}\n", NULL, &n);
	ck_assert_str_eq(bytes, "a:{\"b\":[1,null,\"c\\td\"]}\te:[]\n");
	r = run(&format_ltsv, bytes, n, NULL, 1000, NULL, NULL);
	expect_ok(&r, "{\"a\":\"{\\\"b\\\":[1,null,\\\"c\\\\td\\\"]}\",\"e\":\"[]\"}\n");
	rd_free(&r);
	free(bytes);
}
END_TEST

START_TEST(test_ltsv_write_errors)
{
	expect_write_fail(&format_ltsv, "{\"a\":1}\n{\"a:b\":1}\n", NULL, ROWD_EINVAL,
	                  "row 2: key 'a:b' holds ':' and cannot be written in LTSV");
	expect_write_fail(&format_ltsv, "{\"a\\tb\":1}\n", NULL, ROWD_EINVAL, "holds a TAB");
	expect_write_fail(&format_ltsv, "{\"\":1}\n", NULL, ROWD_EINVAL, "an empty key");
	expect_write_fail(&format_ltsv, "{\"a\":\"x\\ty\"}\n", NULL, ROWD_EINVAL,
	                  "row 1: the value of 'a' holds a TAB and cannot be written in LTSV");
	expect_write_fail(&format_ltsv, "{\"a\":\"x\\ny\"}\n", NULL, ROWD_EINVAL,
	                  "holds a line feed and cannot be written in LTSV");
	expect_write_fail(&format_ltsv, "{\"a\":\"x\\r\"}\n", NULL, ROWD_EINVAL,
	                  "holds a CR and cannot be written in LTSV");
	expect_write_fail(&format_ltsv, "{}\n", NULL, ROWD_EINVAL, "row 1: an empty row");
	expect_write_packed_fail(&format_ltsv, "\x81\x01\x02", 3, NULL, ROWD_EINVAL,
	                         "row 1: keys must be strings");
	expect_write_packed_fail(&format_ltsv, "\x91\x01", 2, NULL, ROWD_EINVAL, "a row must be a map");
	expect_write_packed_fail(&format_ltsv, "\x81\xa1" "a\xd4\x01\x07", 6, NULL, ROWD_EINVAL,
	                         "row 1: key 'a': msgpack ext values have no text form");
}
END_TEST

START_TEST(test_ltsv_float32_bin)
{
	/* float32 prints as its shortest float32 text; bin as its bytes; nan. */
	static const char rows[] = "\x83\xa1" "f\xca\x3d\xcc\xcc\xcd" "\xa1" "b\xc4\x02hi"
	                           "\xa1" "n\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00";
	struct rowd_error err;
	size_t n;
	char *out = write_packed(&format_ltsv, rows, sizeof rows - 1, NULL, &n, &err);

	ck_assert_msg(out, "%s", err.message);
	ck_assert_str_eq(out, "f:0.1\tb:hi\tn:nan\n");
	free(out);
}
END_TEST

START_TEST(test_ltsv_options)
{
	expect_read_fail(&format_ltsv, "", "{\"delimiter\":\",\"}", ROWD_EINVAL,
	                 "unknown option 'delimiter' for format ltsv");
	expect_read_fail(&format_ltsv, "", "{\"on_error\":\"skip_all\"}", ROWD_EINVAL, "'on_error'");
	expect_read_fail(&format_ltsv, "", "{\"encoding\":\"klingon\"}", ROWD_EINVAL,
	                 "unknown encoding 'klingon'");
	expect_read_fail(&format_ltsv, "", "{\"encoding\":5}", ROWD_EINVAL, "'encoding'");
	expect_write_fail(&format_ltsv, "{\"a\":1}\n", "{\"on_error\":\"skip\"}", ROWD_EINVAL,
	                  "unknown option 'on_error' for writing format ltsv");
	expect_write_fail(&format_ltsv, "{\"a\":1}\n", "{\"encoding\":\"cp1251\"}", ROWD_ENOTSUP,
	                  "UTF-8 only");
	{
		struct rd r = rd_str(&format_ltsv, "a:1\n", "{\"encoding\":\"utf8\",\"on_error\":\"raise\"}");

		expect_ok(&r, "{\"a\":\"1\"}\n");
		rd_free(&r);
	}
}
END_TEST

START_TEST(test_ltsv_batches)
{
	struct mpbuf text;

	mpbuf_init(&text);
	for (int i = 0; i < 2500; i++) {
		char line[128];
		int k = snprintf(line, sizeof line, "%sid:%d\tname:n\u00e9%d\r\n",
		                 i % 100 == 0 ? "\n" : "", i, i);

		MUST(mpbuf_append(&text, line, (size_t)k) == 0);
	}
	check_batches(&format_ltsv, text.data, text.len, NULL, 2500);
	mpbuf_free(&text);
}
END_TEST

START_TEST(test_ltsv_probe)
{
	char path[512];
	size_t n;
	char *file;

	snprintf(path, sizeof path, ITERABLE "/2cols6rows.ltsv");
	file = fmt_slurp(path, &n);
	ck_assert_int_ge(format_ltsv.probe(file, n), 50);
	ck_assert_int_gt(format_ltsv.probe(file, n), format_tsv.probe(file, n));
	ck_assert_ptr_eq(format_by_content(file, n), &format_ltsv);
	free(file);
	ck_assert_int_eq(format_ltsv.probe("a\tb\n1\t2\n", 8), 0);
	ck_assert_int_eq(format_ltsv.probe("a,b\n1,2\n", 8), 0);
	ck_assert_int_eq(format_ltsv.probe("{\"a\":1}\n", 8), 0);
	ck_assert_int_eq(format_ltsv.probe("", 0), 0);
	/* A lone "word: text" per line could be many things. */
	ck_assert_int_lt(format_ltsv.probe("name: x\nage: 3\n", 15), 50);
}
END_TEST

/* ======================================================================== */
/* fixed width                                                              */
/* ======================================================================== */

#define FWF_OPTS "{\"widths\":[3,10],\"names\":[\"id\",\"name\"]}"

START_TEST(test_fwf_fixture)
{
	struct rd r = read_file(&format_fwf, "2cols6rows.fwf", FWF_OPTS);

	expect_ok(&r, SIX_ROWS);
	ck_assert_str_eq(r.columns, "[\"id\",\"name\"]\n");
	rd_free(&r);
	/* The file has no header line: without names, its first line is one. */
	r = read_file(&format_fwf, "2cols6rows.fwf", "{\"widths\":[3,10]}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 5);
	ck_assert_str_eq(r.columns, "[\"1\",\"John\"]\n");
	rd_free(&r);
}
END_TEST

START_TEST(test_fwf_header)
{
	/* widths 3, 8, 4; a blank line before the header; a trailing space
	 * past the last column; a short last line. */
	static const char text[] = "\xef\xbb\xbf\r\n"
	                           "id " "name    " "city" "\r\n"
	                           " 1 " "Ann     " "Oslo" "\r\n\r\n"
	                           "22 " "Bo      " "Rome" " \n"
	                           "3\n";
	struct rd r = rd_str(&format_fwf, text, "{\"widths\":[3,8,4]}");

	expect_ok(&r, "{\"id\":\"1\",\"name\":\"Ann\",\"city\":\"Oslo\"}\n"
	              "{\"id\":\"22\",\"name\":\"Bo\",\"city\":\"Rome\"}\n"
	              "{\"id\":\"3\",\"name\":\"\",\"city\":\"\"}\n");
	ck_assert_str_eq(r.columns, "[\"id\",\"name\",\"city\"]\n");
	rd_free(&r);
	/* A header alone, and nothing at all. */
	r = rd_str(&format_fwf, "a  b\n", "{\"widths\":[3,1]}");
	expect_ok(&r, "");
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]\n");
	rd_free(&r);
	r = rd_str(&format_fwf, "", "{\"widths\":[3,1]}");
	expect_ok(&r, "");
	ck_assert_ptr_null(r.columns);
	rd_free(&r);
	/* A line of spaces is a row of empty values. */
	r = rd_str(&format_fwf, "    \n", "{\"widths\":[3,1],\"names\":[\"a\",\"b\"]}");
	expect_ok(&r, "{\"a\":\"\",\"b\":\"\"}\n");
	rd_free(&r);
	/* The header is not skippable, even with on_error skip. */
	r = rd_str(&format_fwf, "a  a\n1  2\n", "{\"widths\":[3,1],\"on_error\":\"skip\"}");
	expect_err(&r, ROWD_EFORMAT, "line 1: the header names 'a' twice; name the columns with "
	                             "option 'names'");
	rd_free(&r);
	r = rd_str(&format_fwf, "a  bX\n1  2\n", "{\"widths\":[3,1],\"on_error\":\"skip\"}");
	expect_err(&r, ROWD_EFORMAT, "line 1: 1 bytes past the last column");
	rd_free(&r);
}
END_TEST

START_TEST(test_fwf_lines)
{
	static const char opts[] = "{\"widths\":[2,3],\"names\":[\"a\",\"b\"]}";
	/* Line 3 runs past the last column (offset 12 + 5). */
	static const char text[] = "1 abc\n2 de   \n3 fghXY\n4 ijk\n";
	struct rd r = rd_str(&format_fwf, text, opts);

	expect_err(&r, ROWD_EFORMAT, "line 3: 2 bytes past the last column (the widths add up to 5)");
	ck_assert_int_eq(r.err.line, 3);
	ck_assert_int_eq(r.err.row, 3);
	ck_assert_int_eq(r.err.offset, 19);
	ck_assert_uint_eq(r.nrows, 2);
	rd_free(&r);
	r = rd_str(&format_fwf, text, "{\"widths\":[2,3],\"names\":[\"a\",\"b\"],\"on_error\":\"skip\"}");
	expect_ok(&r, "{\"a\":\"1\",\"b\":\"abc\"}\n{\"a\":\"2\",\"b\":\"de\"}\n"
	              "{\"a\":\"4\",\"b\":\"ijk\"}\n");
	ck_assert_uint_eq(r.skipped, 1);
	rd_free(&r);
	/* Leading and trailing spaces go; inner ones stay; tabs are data. */
	r = rd_str(&format_fwf, " x  a b\t\n", "{\"widths\":[3,5],\"names\":[\"p\",\"q\"]}");
	expect_ok(&r, "{\"p\":\"x\",\"q\":\"a b\\t\"}\n");
	rd_free(&r);
}
END_TEST

START_TEST(test_fwf_utf8)
{
	/* é is two bytes: widths count bytes. */
	struct rd r = rd_str(&format_fwf, "éabc\n", "{\"widths\":[2,3],\"names\":[\"a\",\"b\"]}");

	expect_ok(&r, "{\"a\":\"é\",\"b\":\"abc\"}\n");
	rd_free(&r);
	r = rd_str(&format_fwf, "ab\nxé\n", "{\"widths\":[1,2],\"names\":[\"a\",\"b\"]}");
	expect_ok(&r, "{\"a\":\"a\",\"b\":\"b\"}\n{\"a\":\"x\",\"b\":\"é\"}\n");
	rd_free(&r);
	r = rd_str(&format_fwf, "ab\néx\n", "{\"widths\":[1,2],\"names\":[\"a\",\"b\"]}");
	expect_err(&r, ROWD_EFORMAT, "line 2: the end of column 1 ('a', byte 1) splits a UTF-8 "
	                             "character");
	ck_assert_int_eq(r.err.offset, 4);
	rd_free(&r);
	/* At the end of the last column too. */
	r = rd_str(&format_fwf, "aé\n", "{\"widths\":[1,1],\"names\":[\"a\",\"b\"]}");
	expect_err(&r, ROWD_EFORMAT, "the end of column 2 ('b', byte 2) splits");
	rd_free(&r);
	/* Without the option, such bytes would be taken as windows-1252. */
	r = rd_str(&format_fwf, "a\xff\n",
	           "{\"widths\":[1,1],\"names\":[\"a\",\"b\"],\"encoding\":\"utf-8\"}");
	expect_err(&r, ROWD_EFORMAT, "line 1: invalid UTF-8");
	ck_assert_int_eq(r.err.offset, 1);
	rd_free(&r);
	/* In the header, columns are named by number. */
	r = rd_str(&format_fwf, "éx\n", "{\"widths\":[1,2]}");
	expect_err(&r, ROWD_EFORMAT, "line 1: the end of column 1 (byte 1) splits");
	rd_free(&r);
}
END_TEST

START_TEST(test_fwf_options)
{
	expect_read_fail(&format_fwf, "", NULL, ROWD_EINVAL, "format fwf needs option 'widths'");
	expect_read_fail(&format_fwf, "", "{}", ROWD_EINVAL, "needs option 'widths'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[]}", ROWD_EINVAL, "option 'widths' must be");
	expect_read_fail(&format_fwf, "", "{\"widths\":3}", ROWD_EINVAL, "option 'widths' must be");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3,0]}", ROWD_EINVAL, "(item 2 is not)");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3,-1]}", ROWD_EINVAL, "option 'widths'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3,\"4\"]}", ROWD_EINVAL, "option 'widths'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3,1.5]}", ROWD_EINVAL, "option 'widths'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"names\":[\"a\",\"b\"]}", ROWD_EINVAL,
	                 "option 'names' has 2 names for 1 widths");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"names\":\"a\"}", ROWD_EINVAL,
	                 "option 'names' must be an array of strings");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"names\":[1]}", ROWD_EINVAL,
	                 "option 'names'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3,3],\"names\":[\"a\",\"a\"]}", ROWD_EINVAL,
	                 "option 'names' names 'a' twice");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"header\":true}", ROWD_EINVAL,
	                 "unknown option 'header' for format fwf");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"on_error\":\"x\"}", ROWD_EINVAL,
	                 "'on_error'");
	expect_read_fail(&format_fwf, "", "{\"widths\":[3],\"encoding\":\"klingon\"}", ROWD_EINVAL,
	                 "unknown encoding 'klingon'");
	expect_write_fail(&format_fwf, "{\"a\":1}\n", "{\"widths\":[3],\"encoding\":\"latin1\"}",
	                  ROWD_ENOTSUP, "UTF-8 only");
	expect_write_fail(&format_fwf, "{\"a\":1}\n", "{\"widths\":[3],\"on_error\":\"skip\"}",
	                  ROWD_EINVAL, "unknown option 'on_error' for writing format fwf");
	expect_write_fail(&format_fwf, "{\"a\":1}\n", NULL, ROWD_EINVAL, "needs option 'widths'");
	expect_write_fail(&format_fwf, "{\"a\":1}\n", "{\"widths\":[1,1],\"names\":[\"a\"]}",
	                  ROWD_EINVAL, "option 'names' has 1 names for 2 widths");
}
END_TEST

START_TEST(test_fwf_limits)
{
	struct rowd_limits lim;
	struct mpbuf b;
	struct rd r;

	rowd_limits_default(&lim);
	lim.row_bytes = 64;
	r = run(&format_fwf, "", 0, "{\"widths\":[60,5]}", 1000, &lim, NULL);
	expect_err(&r, ROWD_EINVAL, "option 'widths' adds up to more than the row_bytes limit (64)");
	rd_free(&r);

	mpbuf_init(&b);
	MUST(mpbuf_append(&b, "1 a\n", 4) == 0);
	for (int i = 0; i < 400000; i++)
		MUST(mpbuf_append(&b, " ", 1) == 0);
	MUST(mpbuf_append(&b, "\n", 1) == 0);
	r = run(&format_fwf, b.data, b.len, "{\"widths\":[2,1],\"names\":[\"a\",\"b\"]}", 1000,
	        &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "line 2: longer than the row_bytes limit (64)");
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	mpbuf_free(&b);

	/* A line within row_bytes whose packed row is over it (long names). */
	lim.row_bytes = 40;
	r = run(&format_fwf, "1 2\n", 4,
	        "{\"widths\":[2,1],\"names\":[\"a_rather_long_column_name\",\"another_long_name\"]}",
	        1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "line 1: the row packs to more than the row_bytes limit (40)");
	rd_free(&r);

	rowd_limits_default(&lim);
	lim.elements = 2;
	r = run(&format_fwf, "", 0, "{\"widths\":[1,1,1]}", 1000, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "elements limit (2)");
	rd_free(&r);
}
END_TEST

START_TEST(test_fwf_write)
{
	/* With names: no header line; missing keys are blanks. */
	expect_write(&format_fwf, "{\"id\":1,\"name\":\"John\"}\n{\"name\":\"Ann\"}\n"
	             "{\"id\":true,\"name\":null}\n{\"id\":-2.5,\"name\":[1,{\"a\":\"b\"}]}\n",
	             "{\"widths\":[5,15],\"names\":[\"id\",\"name\"]}",
	             "1    " "John           " "\n"
	             "     " "Ann            " "\n"
	             "true " "               " "\n"
	             "-2.5 " "[1,{\"a\":\"b\"}]  " "\n");
	/* Without names: a header from the first row's keys. */
	expect_write(&format_fwf, "{\"id\":\"1\",\"name\":\"John\"}\n{\"name\":\"Mary\",\"id\":\"2\"}\n",
	             "{\"widths\":[3,10]}",
	             "id name      \n1  John      \n2  Mary      \n");
	/* Widths count bytes. */
	expect_write(&format_fwf, "{\"a\":\"é\",\"b\":\"x\"}\n", "{\"widths\":[2,1],\"names\":[\"a\",\"b\"]}",
	             "éx\n");
	expect_write(&format_fwf, "", "{\"widths\":[3]}", "");
}
END_TEST

START_TEST(test_fwf_write_errors)
{
	static const char opts[] = "{\"widths\":[3,4],\"names\":[\"id\",\"name\"]}";

	expect_write_fail(&format_fwf, "{\"id\":1,\"name\":\"Ann\"}\n{\"id\":2,\"name\":\"Peter\"}\n",
	                  opts, ROWD_EINVAL,
	                  "row 2, column 'name': 5 bytes do not fit the column's width (4)");
	expect_write_fail(&format_fwf, "{\"id\":\"é\u00e9\",\"name\":\"\"}\n", opts, ROWD_EINVAL,
	                  "row 1, column 'id': 4 bytes do not fit");
	expect_write_fail(&format_fwf, "{\"id\":\"a\\nb\"}\n", opts, ROWD_EINVAL,
	                  "row 1, column 'id': a line end cannot be written in fixed width");
	expect_write_fail(&format_fwf, "{\"id\":\"\\r\"}\n", opts, ROWD_EINVAL, "a line end");
	expect_write_fail(&format_fwf, "{\"id\":1,\"age\":3}\n", opts, ROWD_EINVAL,
	                  "row 1: key 'age' is not a column");
	expect_write_fail(&format_fwf, "{\"id\":1}\n", "{\"widths\":[3,4]}", ROWD_EINVAL,
	                  "row 1 has 1 keys for 2 widths");
	expect_write_fail(&format_fwf, "{\"identifier\":1,\"n\":2}\n", "{\"widths\":[3,4]}",
	                  ROWD_EINVAL, "the header, column 'identifier': 10 bytes do not fit");
	expect_write_packed_fail(&format_fwf, "\x82\xa1" "a\x01\xa1" "a\x02", 7, "{\"widths\":[3,4]}",
	                         ROWD_EINVAL, "the first row names 'a' twice");
	expect_write_packed_fail(&format_fwf, "\x81\x01\x02", 3, "{\"widths\":[3]}", ROWD_EINVAL,
	                         "keys must be strings");
	expect_write_packed_fail(&format_fwf, "\x81\x01\x02", 3, opts, ROWD_EINVAL,
	                         "keys must be strings");
	expect_write_packed_fail(&format_fwf, "\xa1x", 2, opts, ROWD_EINVAL, "a row must be a map");
	expect_write_packed_fail(&format_fwf, "\x81\xa2id\xd4\x01\x07", 7, opts, ROWD_EINVAL,
	                         "row 1, column 'id': msgpack ext values have no text form");
}
END_TEST

/* A failed row leaves nothing behind: the next good row follows the last
 * good one directly. */
START_TEST(test_fwf_write_rollback)
{
	static const char rows[] =
		"\x82\xa2id\x01\xa4name\xa1" "a"
		"\x82\xa2id\x02\xa4name\xa7toolong"
		"\x82\xa2id\x03\xa4name\xa1" "c";
	struct rowd_error err;
	size_t n;
	size_t failures = 0;
	char *out = write_packed_ex(&format_fwf, rows, sizeof rows - 1, "{\"widths\":[3,4]}", &n,
	                            &err, &failures);

	ck_assert_msg(out, "%s", err.message);
	ck_assert_uint_eq(failures, 1);
	ck_assert_str_eq(out, "id name\n1  a   \n3  c   \n");
	free(out);
}
END_TEST

START_TEST(test_fwf_roundtrip)
{
	static const char opts[] = "{\"widths\":[30,2,21,21,8,14,6,5,5]}";
	size_t n;
	char *bytes = write_ok(&format_fwf, TRICKY_ROWS, opts, &n);
	struct rd r = run(&format_fwf, bytes, n, opts, 1000, NULL, NULL);

	expect_ok(&r, "{\"s\":\"héllo wörld ✓ 😀\",\"e\":\"\",\"u\":\"18446744073709551615\","
	              "\"i\":\"-9223372036854775808\",\"f\":\"1.5\",\"g\":\"1e+300\",\"z\":\"0.0\","
	              "\"t\":\"true\",\"n\":\"\"}\n"
	              "{\"s\":\"日本語\",\"e\":\"\",\"u\":\"0\",\"i\":\"-1\",\"f\":\"-0.25\","
	              "\"g\":\"123456789.125\",\"z\":\"1.0\",\"t\":\"false\",\"n\":\"\"}\n");
	rd_free(&r);
	free(bytes);

	/* Nested values flatten to JSON text; with names, no header. */
	bytes = write_ok(&format_fwf, "{\"a\":{\"b\":[1,\"ü\"]},\"c\":[]}\n",
	                 "{\"widths\":[20,3],\"names\":[\"a\",\"c\"]}", &n);
	r = run(&format_fwf, bytes, n, "{\"widths\":[20,3],\"names\":[\"a\",\"c\"]}", 1000, NULL, NULL);
	expect_ok(&r, "{\"a\":\"{\\\"b\\\":[1,\\\"ü\\\"]}\",\"c\":\"[]\"}\n");
	rd_free(&r);
	free(bytes);
}
END_TEST

START_TEST(test_fwf_batches)
{
	struct mpbuf text;

	mpbuf_init(&text);
	MUST(mpbuf_append(&text, "id    name\r\n", 12) == 0);
	for (int i = 0; i < 2500; i++) {
		char line[64];
		int k = snprintf(line, sizeof line, "%s%-6dné%-6d\r\n", i % 100 == 0 ? "\n" : "", i, i);

		MUST(mpbuf_append(&text, line, (size_t)k) == 0);
	}
	check_batches(&format_fwf, text.data, text.len, "{\"widths\":[6,10]}", 2500);
	mpbuf_free(&text);
}
END_TEST

/* ======================================================================== */
/* registry                                                                 */
/* ======================================================================== */

START_TEST(test_registry)
{
	const struct format_ops *const *list = format_list();
	int mp = -1, bson = -1;

	ck_assert_ptr_eq(format_find("msgpack", 7), &format_msgpack);
	ck_assert_ptr_eq(format_find("LTSV", 4), &format_ltsv);
	ck_assert_ptr_eq(format_find("fwf", 3), &format_fwf);
	ck_assert_ptr_eq(format_by_extension("a/x.msgpack"), &format_msgpack);
	ck_assert_ptr_eq(format_by_extension("x.mp"), &format_msgpack);
	ck_assert_ptr_eq(format_by_extension("x.ltsv.gz"), &format_ltsv);
	ck_assert_ptr_eq(format_by_extension("x.FWF"), &format_fwf);
	for (int i = 0; list[i]; i++) {
		if (list[i] == &format_msgpack)
			mp = i;
		if (strcmp(list[i]->name, "bson") == 0)
			bson = i;
	}
	ck_assert_int_ge(mp, 0);
	ck_assert_int_lt(mp, bson);
	ck_assert(format_msgpack.caps & FMT_CAP_BINARY);
	ck_assert(format_msgpack.caps & FMT_CAP_NESTED);
	ck_assert(!(format_ltsv.caps & (FMT_CAP_BINARY | FMT_CAP_NESTED)));
	ck_assert(format_fwf.caps & FMT_CAP_TOTALS);
	ck_assert_ptr_null(format_fwf.probe);
	/* Other formats' files are not taken for these. */
	ck_assert_ptr_eq(format_by_content("a,b\n1,2\n3,4\n", 12), &format_csv);
	ck_assert_ptr_eq(format_by_content("{\"a\":1}\n{\"a\":2}\n", 16), &format_jsonl);
}
END_TEST

static Suite *formats_suite(void)
{
	Suite *s = suite_create("formats");
	TCase *tc = tcase_create("msgpack");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mp_fixture);
	tcase_add_test(tc, test_mp_roundtrip);
	tcase_add_test(tc, test_mp_native_types);
	tcase_add_test(tc, test_mp_not_a_map);
	tcase_add_test(tc, test_mp_keys_and_utf8);
	tcase_add_test(tc, test_mp_truncated);
	tcase_add_test(tc, test_mp_reserved_byte);
	tcase_add_test(tc, test_mp_limits);
	tcase_add_test(tc, test_mp_batches);
	tcase_add_test(tc, test_mp_empty);
	tcase_add_test(tc, test_mp_options);
	tcase_add_test(tc, test_mp_write_errors);
	tcase_add_test(tc, test_mp_probe);
	suite_add_tcase(s, tc);

	tc = tcase_create("ltsv");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ltsv_fixture);
	tcase_add_test(tc, test_ltsv_parse);
	tcase_add_test(tc, test_ltsv_many_fields);
	tcase_add_test(tc, test_ltsv_errors);
	tcase_add_test(tc, test_ltsv_limits);
	tcase_add_test(tc, test_ltsv_write);
	tcase_add_test(tc, test_ltsv_roundtrip);
	tcase_add_test(tc, test_ltsv_write_errors);
	tcase_add_test(tc, test_ltsv_float32_bin);
	tcase_add_test(tc, test_ltsv_options);
	tcase_add_test(tc, test_ltsv_batches);
	tcase_add_test(tc, test_ltsv_probe);
	suite_add_tcase(s, tc);

	tc = tcase_create("fwf");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fwf_fixture);
	tcase_add_test(tc, test_fwf_header);
	tcase_add_test(tc, test_fwf_lines);
	tcase_add_test(tc, test_fwf_utf8);
	tcase_add_test(tc, test_fwf_options);
	tcase_add_test(tc, test_fwf_limits);
	tcase_add_test(tc, test_fwf_write);
	tcase_add_test(tc, test_fwf_write_errors);
	tcase_add_test(tc, test_fwf_write_rollback);
	tcase_add_test(tc, test_fwf_roundtrip);
	tcase_add_test(tc, test_fwf_batches);
	suite_add_tcase(s, tc);

	tc = tcase_create("registry");
	tcase_add_test(tc, test_registry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(formats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
