/* Unit tests of the BSON format (daemon/formats/bson.c, bson_value.c):
 * documents built byte by byte here, every element type read, writer
 * bytes checked against hand-computed documents, corrupt input. */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"
#include "formats/bson_value.h"

extern const struct format_ops format_bson, format_msgpack, format_csv, format_json;
extern const struct format_ops format_jsonl;
extern const struct codec_ops codec_none;

#define ITERABLE TOP_SRCDIR "/tests/data/conformance/iterabledata"
#define SIX_ROWS \
	"{\"id\":\"1\",\"name\":\"John\"}\n{\"id\":\"2\",\"name\":\"Mary\"}\n" \
	"{\"id\":\"3\",\"name\":\"Michael\"}\n{\"id\":\"4\",\"name\":\"Anna\"}\n" \
	"{\"id\":\"5\",\"name\":\"Orban\"}\n{\"id\":\"6\",\"name\":\"Lucy\"}\n"

/* An assertion for loops: Check reports every ck_assert it passes. */
#define MUST(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

/* ---- a BSON builder ------------------------------------------------------ */

struct bb {
	uint8_t d[1 << 16];
	size_t n;
	size_t open[1100];      /* offsets of the documents not yet ended */
	int sp;
};

static void bb_raw(struct bb *b, const void *p, size_t n)
{
	MUST(b->n + n <= sizeof b->d);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void bb_u8(struct bb *b, uint8_t v) { bb_raw(b, &v, 1); }

static void bb_i32(struct bb *b, int32_t v)
{
	uint8_t p[4];

	bson_put_u32(p, (uint32_t)v);
	bb_raw(b, p, 4);
}

static void bb_i64(struct bb *b, int64_t v)
{
	uint8_t p[8];

	bson_put_u64(p, (uint64_t)v);
	bb_raw(b, p, 8);
}

static void bb_begin(struct bb *b)
{
	b->open[b->sp++] = b->n;
	bb_i32(b, 0);
}

static void bb_end(struct bb *b)
{
	size_t at = b->open[--b->sp];

	bb_u8(b, 0);
	bson_put_u32(b->d + at, (uint32_t)(b->n - at));
}

/* An element's type byte and key. */
static void bb_key(struct bb *b, uint8_t type, const char *key)
{
	bb_u8(b, type);
	bb_raw(b, key, strlen(key) + 1);
}

static void bb_str(struct bb *b, const char *s)
{
	bb_i32(b, (int32_t)strlen(s) + 1);
	bb_raw(b, s, strlen(s) + 1);
}

static struct bb *bb_new(void)
{
	struct bb *b = calloc(1, sizeof *b);

	MUST(b);
	return b;
}

/* ---- a read driver ------------------------------------------------------- */


struct rd {
	int rc;
	struct rowd_error err;
	struct mpbuf rows;
	size_t nrows;
	uint64_t skipped;
	char *json;             /* rows as JSON Lines */
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

static struct rd run(const void *data, size_t n, const char *opts, size_t batch,
                     const struct rowd_limits *limits, const struct codec_ops *codec)
{
	struct rd r = { .rc = -1 };
	struct rowd_limits lim;
	struct mpbuf optraw;
	msgpack_unpacked optup;
	struct fmt_args a = { .fmt = &format_bson };
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
	msgpack_unpacked_init(&optup);
	if (opts) {
		size_t off = 0;

		MUST(proto_json_to_msgpack(opts, strlen(opts), &lim, &optraw, &r.err) == 0);
		MUST(msgpack_unpack_next(&optup, optraw.data, optraw.len, &off) ==
		     MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	MUST(input_open(&in, fd, codec ? codec : &codec_none, NULL, lim.row_bytes, &r.err) == 0);
	a.in = &in;
	if (format_bson.rd_open(&a, &st, &r.err) == 0) {
		int rc;

		do {
			size_t got = 0;

			rc = format_bson.rd_next(st, &r.rows, batch, &got, &r.skipped, &r.err);
			MUST(got <= batch);
			r.nrows += got;
		} while (rc == 0);
		r.rc = rc < 0 ? -1 : 0;
		format_bson.rd_close(st);
	}
	input_close(&in);
	close(fd);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	r.json = packed_to_json(r.rows.data, r.rows.len);
	return r;
}

static struct rd rd_bytes(const void *data, size_t n)
{
	return run(data, n, NULL, 1000, NULL, NULL);
}

static void rd_free(struct rd *r)
{
	mpbuf_free(&r->rows);
	free(r->json);
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

static void expect_rows_at(const struct rd *r, const char *want, const char *where)
{
	struct mpbuf w = pack_lines(want);

	ck_assert_msg(r->rc == 0, "%s: read failed: %s %s", where, rowd_err_name(r->err.code),
	              r->err.message);
	ck_assert_msg(w.len == r->rows.len && (w.len == 0 || memcmp(w.data, r->rows.data, w.len) == 0),
	              "%s: rows differ:\n got: %s\nwant: %s", where, r->json, want);
	mpbuf_free(&w);
}

#define expect_rows(r, want) expect_rows_at((r), (want), __func__)

/* The read fails with code, a message holding needle, the document row
 * and the offset given (-1: not checked). */
static void expect_err_at(const struct rd *r, enum rowd_err code, const char *needle,
                          int64_t row, int64_t offset, const char *where)
{
	ck_assert_msg(r->rc == -1, "%s: expected %s, the read succeeded: %s", where,
	              rowd_err_name(code), r->json);
	ck_assert_msg(r->err.code == code, "%s: expected %s, got %s: %s", where,
	              rowd_err_name(code), rowd_err_name(r->err.code), r->err.message);
	ck_assert_msg(strstr(r->err.message, needle), "%s: message '%s' lacks '%s'", where,
	              r->err.message, needle);
	if (row >= 0)
		ck_assert_msg(r->err.row == row, "%s: row %lld, expected %lld (%s)", where,
		              (long long)r->err.row, (long long)row, r->err.message);
	if (offset >= 0)
		ck_assert_msg(r->err.offset == offset, "%s: offset %lld, expected %lld (%s)", where,
		              (long long)r->err.offset, (long long)offset, r->err.message);
}

#define expect_err(r, code, needle, row, off) \
	expect_err_at((r), (code), (needle), (row), (off), __func__)

/* Reads b's bytes and expects the error. */
static void bytes_fail(const struct bb *b, enum rowd_err code, const char *needle, int64_t row,
                       int64_t off, const char *where)
{
	struct rd r = rd_bytes(b->d, b->n);

	expect_err_at(&r, code, needle, row, off, where);
	rd_free(&r);
}

/* ---- write drivers ------------------------------------------------------- */

/* Writes rows given as concatenated msgpack objects (what JSON cannot
 * say: bin, ext, float32, non-string keys). A bad row is reported and
 * skipped, as write_bulk's caller may; *failures counts them, *first_err
 * keeps the first. Returns the bytes (malloc'd, *n). */
static char *write_packed(const void *rows, size_t len, size_t *n, size_t *failures,
                          struct rowd_error *first_err)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct output out;
	struct fmt_args a = { .fmt = &format_bson };
	msgpack_unpacked up;
	void *st = NULL;
	char *res;
	int fd = memfd_create("w", 0);
	size_t off = 0;
	off_t size;

	MUST(fd >= 0);
	rowd_limits_default(&lim);
	rowd_error_clear(first_err);
	*failures = 0;
	msgpack_unpacked_init(&up);
	MUST(output_open(&out, fd, &codec_none, NULL, &err) == 0);
	a.out = &out;
	a.limits = &lim;
	MUST(format_bson.wr_open(&a, &st, &err) == 0);
	while (off < len) {
		MUST(msgpack_unpack_next(&up, rows, len, &off) == MSGPACK_UNPACK_SUCCESS);
		if (format_bson.wr_row(st, &up.data, &err) < 0) {
			if (++*failures == 1)
				*first_err = err;
		}
	}
	MUST(format_bson.wr_finish(st, &err) == 0 && output_finish(&out, &err) == 0);
	format_bson.wr_close(st);
	output_close(&out);
	size = lseek(fd, 0, SEEK_END);
	res = malloc((size_t)size + 1);
	MUST(res && pread(fd, res, (size_t)size, 0) == size);
	*n = (size_t)size;
	close(fd);
	msgpack_unpacked_destroy(&up);
	return res;
}

/* rows (JSON Lines) written give exactly the bytes want. */
static void expect_write_bytes(const char *rows, const void *want, size_t want_len)
{
	struct rowd_error err;
	size_t n = 0;
	char *out = fmt_write_all(&format_bson, rows, NULL, &n, &err);

	ck_assert_msg(out, "write %s: %s", rows, err.message);
	ck_assert_msg(n == want_len && memcmp(out, want, n) == 0,
	              "write %s: %zu bytes, expected %zu (or different bytes)", rows, n, want_len);
	free(out);
}

static void expect_packed_fail(const void *rows, size_t len, enum rowd_err code,
                               const char *needle)
{
	struct rowd_error err;
	size_t n, failures;
	char *out = write_packed(rows, len, &n, &failures, &err);

	ck_assert_msg(failures == 1, "%s: %zu failures", needle, failures);
	ck_assert_msg(err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
	ck_assert_uint_eq(n, 0);   /* nothing of the bad row */
	free(out);
}

/* ======================================================================== */
/* scalars as text                                                          */
/* ======================================================================== */

static void expect_date(int64_t ms, const char *want)
{
	char text[BSON_DATE_TEXT];
	size_t n = bson_datetime_text(ms, text);

	ck_assert_msg(strcmp(text, want) == 0 && n == strlen(want), "%lld ms: %s, expected %s",
	              (long long)ms, text, want);
}

START_TEST(test_bson_datetime_text)
{
	expect_date(0, "1970-01-01T00:00:00.000Z");
	expect_date(-1, "1969-12-31T23:59:59.999Z");
	expect_date(1700000000123, "2023-11-14T22:13:20.123Z");
	expect_date(951782400000, "2000-02-29T00:00:00.000Z");     /* leap day */
	expect_date(-62135596800000, "0001-01-01T00:00:00.000Z");
	expect_date(-62167219200000, "0000-01-01T00:00:00.000Z");
	expect_date(-62167219200001, "-000001-12-31T23:59:59.999Z");
	expect_date(253402300799999, "9999-12-31T23:59:59.999Z");
	expect_date(253402300800000, "+010000-01-01T00:00:00.000Z");
	expect_date(INT64_MAX, "+292278994-08-17T07:12:55.807Z");
	expect_date(INT64_MIN, "-292275055-05-16T16:47:04.192Z");
}
END_TEST

static void expect_dec(uint64_t hi, uint64_t lo, const char *want)
{
	uint8_t b[16];
	char text[BSON_DEC128_TEXT];
	size_t n;

	bson_put_u64(b, lo);
	bson_put_u64(b + 8, hi);
	n = bson_decimal128_text(b, text);
	ck_assert_msg(strcmp(text, want) == 0 && n == strlen(want),
	              "decimal128 %016llx%016llx: %s, expected %s", (unsigned long long)hi,
	              (unsigned long long)lo, text, want);
}

/* Cases of the BSON corpus (bson-corpus/decimal128-*.json). */
START_TEST(test_bson_decimal128_text)
{
	expect_dec(0x3040000000000000, 0, "0");
	expect_dec(0xB040000000000000, 0, "-0");
	expect_dec(0x3040000000000000, 1, "1");
	expect_dec(0xB040000000000000, 1, "-1");
	expect_dec(0x303E000000000000, 1, "0.1");
	expect_dec(0x3034000000000000, 1234, "0.001234");
	expect_dec(0x302E000000000000, 123, "1.23E-7");
	expect_dec(0x3046000000000000, 1, "1E+3");
	expect_dec(0x3046000000000000, 0, "0E+3");
	expect_dec(0xB03C000000000000, 0, "-0.00");
	expect_dec(0x3040000000000000, 12345678901234567890ULL, "12345678901234567890");
	expect_dec(0x3038000000000000, 12345, "1.2345");
	expect_dec(0x0000000000000000, 1, "1E-6176");
	expect_dec(0x5FFFED09BEAD87C0, 0x378D8E63FFFFFFFF, "9.999999999999999999999999999999999E+6144");
	expect_dec(0x7800000000000000, 0, "Infinity");
	expect_dec(0xF800000000000000, 0, "-Infinity");
	expect_dec(0x7C00000000000000, 0, "NaN");
	expect_dec(0xFC00000000000000, 0, "NaN");
	/* A coefficient of 10^34 (one past the largest) is non-canonical: 0. */
	expect_dec(0x3041ED09BEAD87C0, 0x378D8E6400000000, "0");
	/* The 11 form of the combination field: a coefficient past 2^113. */
	expect_dec(0x6C10000000000000, 0, "0");
	expect_dec(0x3038000000000000, 0x0DE0B6B3A7640000, "100000000000000.0000");
}
END_TEST

START_TEST(test_bson_oid_text)
{
	static const uint8_t oid[12] = { 0x50, 0x7f, 0x1f, 0x77, 0xbc, 0xf8, 0x6c, 0xd7,
	                                 0x99, 0x43, 0x90, 0x11 };
	char text[BSON_OID_TEXT];

	ck_assert_uint_eq(bson_oid_text(oid, text), 24);
	ck_assert_str_eq(text, "507f1f77bcf86cd799439011");
}
END_TEST

/* ======================================================================== */
/* reader                                                                   */
/* ======================================================================== */

START_TEST(test_bson_fixture)
{
	struct fmt_result r = fmt_read_file(&format_bson, ITERABLE "/2cols6rows_flat.bson", NULL,
	                                    NULL);

	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_str_eq(r.jsonl, SIX_ROWS);
	ck_assert_uint_eq(r.nrows, 6);
	fmt_result_free(&r);
}
END_TEST

/* Every element type in one document. */
START_TEST(test_bson_every_type)
{
	static const uint8_t oid[12] = { 0x50, 0x7f, 0x1f, 0x77, 0xbc, 0xf8, 0x6c, 0xd7,
	                                 0x99, 0x43, 0x90, 0x11 };
	static const uint8_t dec[16] = { 0x39, 0x30, 0, 0, 0, 0, 0, 0,
	                                 0, 0, 0, 0, 0, 0, 0x38, 0x30 };   /* 1.2345 */
	struct bb *b = bb_new();
	uint64_t dbl;
	double one_half = 1.5;
	struct rd r;

	bb_begin(b);
	memcpy(&dbl, &one_half, 8);
	bb_key(b, 0x01, "double");
	bb_i64(b, (int64_t)dbl);
	bb_key(b, 0x02, "string");
	bb_str(b, "h\xc3\xa9llo \xe2\x9c\x93");
	bb_key(b, 0x03, "doc");
	bb_begin(b);
	bb_key(b, 0x10, "x");
	bb_i32(b, 1);
	bb_end(b);
	bb_key(b, 0x04, "array");
	bb_begin(b);
	bb_key(b, 0x10, "0");
	bb_i32(b, 1);
	bb_key(b, 0x02, "1");
	bb_str(b, "a");
	bb_end(b);
	bb_key(b, 0x06, "undefined");
	bb_key(b, 0x07, "oid");
	bb_raw(b, oid, 12);
	bb_key(b, 0x08, "t");
	bb_u8(b, 1);
	bb_key(b, 0x08, "f");
	bb_u8(b, 0);
	bb_key(b, 0x09, "date");
	bb_i64(b, 1700000000123);
	bb_key(b, 0x0a, "null");
	bb_key(b, 0x0b, "regex");
	bb_raw(b, "^a.*b$\0i", 9);
	bb_key(b, 0x0c, "dbptr");
	bb_str(b, "db.coll");
	bb_raw(b, oid, 12);
	bb_key(b, 0x0d, "code");
	bb_str(b, "function() {}");
	bb_key(b, 0x0e, "symbol");
	bb_str(b, "sym");
	bb_key(b, 0x0f, "cws");
	{
		size_t at = b->n;

		bb_i32(b, 0);
		bb_str(b, "x + y");
		bb_begin(b);
		bb_key(b, 0x10, "y");
		bb_i32(b, 2);
		bb_end(b);
		bson_put_u32(b->d + at, (uint32_t)(b->n - at));
	}
	bb_key(b, 0x10, "int32");
	bb_i32(b, -5);
	bb_key(b, 0x11, "ts");
	bb_i32(b, 7);               /* increment */
	bb_i32(b, 1700000000);      /* seconds */
	bb_key(b, 0x12, "int64");
	bb_i64(b, INT64_MIN);
	bb_key(b, 0x13, "dec");
	bb_raw(b, dec, 16);
	bb_key(b, 0xff, "min");
	bb_key(b, 0x7f, "max");
	bb_end(b);
	r = rd_bytes(b->d, b->n);
	expect_rows(&r, "{\"double\":1.5,\"string\":\"h\\u00e9llo \\u2713\",\"doc\":{\"x\":1},"
	            "\"array\":[1,\"a\"],\"undefined\":null,\"oid\":\"507f1f77bcf86cd799439011\","
	            "\"t\":true,\"f\":false,\"date\":\"2023-11-14T22:13:20.123Z\",\"null\":null,"
	            "\"regex\":\"/^a.*b$/i\","
	            "\"dbptr\":{\"$ref\":\"db.coll\",\"$id\":\"507f1f77bcf86cd799439011\"},"
	            "\"code\":\"function() {}\",\"symbol\":\"sym\","
	            "\"cws\":{\"$code\":\"x + y\",\"$scope\":{\"y\":2}},\"int32\":-5,"
	            "\"ts\":{\"t\":1700000000,\"i\":7},\"int64\":-9223372036854775808,"
	            "\"dec\":\"1.2345\",\"min\":\"MinKey\",\"max\":\"MaxKey\"}\n");
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
	free(b);
}
END_TEST

/* Binary of any subtype is bin; the old subtype 2 loses its inner length. */
START_TEST(test_bson_binary)
{
	static const char want[] = "\x82\xa1" "a\xc4\x03\x01\x00\x02" "\xa1" "b\xc4\x02\xab\xcd";
	struct bb *b = bb_new();
	struct rd r;

	bb_begin(b);
	bb_key(b, 0x05, "a");
	bb_i32(b, 3);
	bb_u8(b, 0x80);                   /* user-defined subtype */
	bb_raw(b, "\x01\x00\x02", 3);
	bb_key(b, 0x05, "b");
	bb_i32(b, 6);
	bb_u8(b, 0x02);
	bb_i32(b, 2);
	bb_raw(b, "\xab\xcd", 2);
	bb_end(b);
	r = rd_bytes(b->d, b->n);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.rows.len, sizeof want - 1);
	ck_assert(memcmp(r.rows.data, want, sizeof want - 1) == 0);
	rd_free(&r);
	/* Subtype 2 whose inner length disagrees. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x05, "b");
	bb_i32(b, 6);
	bb_u8(b, 0x02);
	bb_i32(b, 3);
	bb_raw(b, "\xab\xcd", 2);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "inner length", 1, 7, "subtype 2");
	free(b);
}
END_TEST

START_TEST(test_bson_empty)
{
	struct rd r = rd_bytes("", 0);

	expect_rows(&r, "");
	ck_assert_uint_eq(r.nrows, 0);
	rd_free(&r);
	r = rd_bytes("\x05\x00\x00\x00\x00", 5);
	expect_rows(&r, "{}\n");
	rd_free(&r);
	/* Empty strings, keys, documents and arrays. */
	{
		struct bb *b = bb_new();

		bb_begin(b);
		bb_key(b, 0x02, "");
		bb_str(b, "");
		bb_key(b, 0x03, "d");
		bb_begin(b);
		bb_end(b);
		bb_key(b, 0x04, "a");
		bb_begin(b);
		bb_end(b);
		bb_end(b);
		r = rd_bytes(b->d, b->n);
		expect_rows(&r, "{\"\":\"\",\"d\":{},\"a\":[]}\n");
		rd_free(&r);
		free(b);
	}
}
END_TEST

/* Array keys are not checked: the order of the elements is the array's. */
START_TEST(test_bson_array_keys)
{
	struct bb *b = bb_new();
	struct rd r;

	bb_begin(b);
	bb_key(b, 0x04, "a");
	bb_begin(b);
	bb_key(b, 0x10, "5");
	bb_i32(b, 1);
	bb_key(b, 0x10, "x");
	bb_i32(b, 2);
	bb_end(b);
	bb_end(b);
	r = rd_bytes(b->d, b->n);
	expect_rows(&r, "{\"a\":[1,2]}\n");
	rd_free(&r);
	free(b);
}
END_TEST

/* The fixture read in batches of 1, 2 and 1000 and one byte at a time
 * gives the same rows. */
START_TEST(test_bson_batches)
{
	static const size_t batches[] = { 1, 2, 1000 };
	size_t n;
	char *file = fmt_slurp(ITERABLE "/2cols6rows_flat.bson", &n);

	MUST(file);
	for (size_t i = 0; i < 4; i++) {
		struct rd r = i < 3 ? run(file, n, NULL, batches[i], NULL, NULL)
		                    : run(file, n, NULL, 3, NULL, &fmt_codec_trickle);

		expect_rows_at(&r, SIX_ROWS, i < 3 ? "batches" : "trickle");
		ck_assert_uint_eq(r.nrows, 6);
		rd_free(&r);
	}
	free(file);
}
END_TEST

/* A cut stream is EFORMAT naming the document and where it starts, never
 * a quiet end: in the length, in an element, in the terminator. */
START_TEST(test_bson_truncated)
{
	static const char one[] = "\x0c\x00\x00\x00\x10" "a\x00\x01\x00\x00\x00\x00";
	char two[24];
	struct rd r;

	r = rd_bytes(one, 2);
	expect_err(&r, ROWD_EFORMAT, "cut inside its length", 1, 0);
	rd_free(&r);
	r = rd_bytes(one, 8);
	expect_err(&r, ROWD_EFORMAT, "ends early (its length says 12 bytes, the data stops at "
	           "offset 8)", 1, 0);
	rd_free(&r);
	r = rd_bytes(one, 11);
	expect_err(&r, ROWD_EFORMAT, "truncated BSON at offset 0", 1, 0);
	rd_free(&r);
	/* The second document cut: the first row stays. */
	memcpy(two, one, 12);
	memcpy(two + 12, one, 12);
	for (size_t cut = 13; cut < 24; cut++) {
		r = run(two, cut, NULL, 1000, NULL, &fmt_codec_trickle);
		expect_err(&r, ROWD_EFORMAT, "truncated BSON at offset 12", 2, 12);
		MUST(r.nrows == 1);
		rd_free(&r);
	}
}
END_TEST

START_TEST(test_bson_bad_lengths)
{
	static const char one[] = "\x0c\x00\x00\x00\x10" "a\x00\x01\x00\x00\x00\x00";
	char buf[32];
	struct rd r;

	/* Below the minimum, negative. */
	r = rd_bytes("\x04\x00\x00\x00\x00", 5);
	expect_err(&r, ROWD_EFORMAT, "length 4 is below BSON's minimum of 5", 1, 0);
	rd_free(&r);
	r = rd_bytes("\xff\xff\xff\xff\x00", 5);
	expect_err(&r, ROWD_EFORMAT, "length -1 is below", 1, 0);
	rd_free(&r);
	/* Too big: the byte where it says it ends is not 0x00. */
	memcpy(buf, one, 12);
	memcpy(buf + 12, one, 12);
	buf[0] = 13;
	r = rd_bytes(buf, 24);
	expect_err(&r, ROWD_EFORMAT, "no 0x00 where its length says it ends", 1, 12);
	rd_free(&r);
	/* Too big, at the end of the data: truncated. */
	r = rd_bytes(buf, 12);
	expect_err(&r, ROWD_EFORMAT, "ends early", 1, 0);
	rd_free(&r);
	/* Too small: 11 ends on the int32's high byte (0x00); the int32 then
	 * runs past the end. */
	buf[0] = 11;
	r = rd_bytes(buf, 12);
	expect_err(&r, ROWD_EFORMAT, "an int32 runs past the end of its document", 1, 7);
	rd_free(&r);
	/* A second document's offset is named. */
	memcpy(buf, one, 12);
	memcpy(buf + 12, "\x05\x00\x00\x00\x01", 5);
	r = rd_bytes(buf, 17);
	expect_err(&r, ROWD_EFORMAT, "document 2 at offset 12", 2, 16);
	MUST(r.nrows == 1);
	rd_free(&r);
}
END_TEST

START_TEST(test_bson_bad_elements)
{
	struct bb *b = bb_new();

	/* Unknown type byte. */
	bb_begin(b);
	bb_key(b, 0x20, "a");
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "unknown element type 0x20", 1, 4, "type 0x20");
	/* An early 0x00 terminator: 0x00 then more bytes. */
	b->n = 0;
	bb_begin(b);
	bb_u8(b, 0);
	bb_key(b, 0x0a, "a");
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "0x00 (end of document) before the end", 1, 4, "early end");
	/* A key not terminated before the document ends. */
	b->n = 0;
	bb_begin(b);
	bb_raw(b, "\x0a" "abc", 4);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "a key is not NUL-terminated", 1, 5, "key NUL");
	/* Invalid UTF-8 in a key and in a string: the bad byte's offset. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x0a, "ok\xff");
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "a key is not valid UTF-8", 1, 7, "key UTF-8");
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x02, "s");
	bb_str(b, "ab\xc3(");
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "a string is not valid UTF-8", 1, 13, "string UTF-8");
	/* String length 0, and one that runs past its document. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x02, "s");
	bb_i32(b, 0);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "string length 0 is below 1", 1, 7, "string length 0");
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x02, "s");
	bb_i32(b, 50);
	bb_raw(b, "ab", 3);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "a string runs past the end", 1, 7, "string too long");
	/* A string without its NUL. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x02, "s");
	bb_i32(b, 2);
	bb_raw(b, "ab", 2);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "a string does not end with NUL", 1, 12, "string NUL");
	/* A boolean that is 2. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x08, "b");
	bb_u8(b, 2);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "boolean byte 0x02", 1, 7, "bool 2");
	/* An embedded document whose length lies (it takes the outer
	 * terminator as its own, leaving the outer without one). */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x03, "d");
	bb_i32(b, 6);
	bb_u8(b, 0);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "an embedded document runs past the end", 1, 7, "doc length");
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x03, "d");
	bb_i32(b, 3);
	bb_u8(b, 0);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "an embedded document length 3 is below", 1, 7, "doc length 3");
	/* Code with scope whose total disagrees with its parts. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x0f, "c");
	bb_i32(b, 4 + 8 + 5 + 1);          /* one byte more than its parts */
	bb_str(b, "x+y");
	bb_i32(b, 5);
	bb_u8(b, 0);
	bb_u8(b, 0);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "code with scope length 18 disagrees with its parts (17 bytes)",
	           1, 7, "cws");
	/* Regex options without their NUL. */
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x0b, "r");
	bb_raw(b, "a\0i", 3);
	bb_end(b);
	bytes_fail(b, ROWD_EFORMAT, "regex options is not NUL-terminated", 1, 9, "regex");
	free(b);
}
END_TEST

/* Nesting past the depth limit is ELIMIT, whatever the depth: no stack
 * grows with the input. */
START_TEST(test_bson_depth_bomb)
{
	struct bb *b = bb_new();
	struct rowd_limits lim;
	struct rd r;

	for (int depth = 0; depth < 1000; depth++) {
		bb_begin(b);
		bb_key(b, 0x03, "d");
	}
	bb_begin(b);
	bb_end(b);
	for (int depth = 0; depth < 1000; depth++)
		bb_end(b);
	bytes_fail(b, ROWD_ELIMIT, "nested deeper than the depth limit (32)", 1, -1, "depth 1000");
	/* Exactly the limit is fine; one more is not. */
	rowd_limits_default(&lim);
	lim.depth = 3;
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x03, "a");
	bb_begin(b);
	bb_key(b, 0x04, "b");
	bb_begin(b);
	bb_end(b);
	bb_end(b);
	bb_end(b);
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_rows(&r, "{\"a\":{\"b\":[]}}\n");
	rd_free(&r);
	lim.depth = 2;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "nested deeper than the depth limit (2)", 1, 14);
	rd_free(&r);
	/* Even skipping, a limit ends the read. */
	r = run(b->d, b->n, "{\"on_error\":\"skip\"}", 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "depth limit", 1, 14);
	rd_free(&r);
	free(b);
}
END_TEST

START_TEST(test_bson_limits)
{
	struct bb *b = bb_new();
	struct rowd_limits lim;
	struct rd r;

	/* row_bytes: refused from the length alone, before the bytes come
	 * (a claimed 1 GiB in a 9-byte file is ELIMIT, not truncated). */
	rowd_limits_default(&lim);
	lim.row_bytes = 100;
	r = run("\x00\x00\x00\x40\x0a" "a\x00\x00\x00", 9, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "its length, 1073741824 bytes, is above the row_bytes limit "
	           "(100)", 1, 0);
	rd_free(&r);
	bb_begin(b);
	bb_key(b, 0x02, "s");
	bb_str(b, "hello");
	bb_key(b, 0x05, "b");
	bb_i32(b, 4);
	bb_u8(b, 0);
	bb_raw(b, "abcd", 4);
	bb_key(b, 0x0a, "n");
	bb_end(b);
	/* A document of exactly row_bytes is read. */
	lim.row_bytes = b->n;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	rd_free(&r);
	lim.row_bytes = b->n - 1;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "row_bytes limit", 1, 0);
	rd_free(&r);
	/* elements */
	rowd_limits_default(&lim);
	lim.elements = 2;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "more entries than the elements limit (2)", 1, -1);
	rd_free(&r);
	/* str_bytes, for strings and binaries */
	lim.elements = 3;
	lim.str_bytes = 4;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "a string is longer than the str_bytes limit (4)", 1, -1);
	rd_free(&r);
	lim.str_bytes = 5;
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	rd_free(&r);
	lim.str_bytes = 3;
	b->n = 0;
	bb_begin(b);
	bb_key(b, 0x05, "b");
	bb_i32(b, 4);
	bb_u8(b, 0);
	bb_raw(b, "abcd", 4);
	bb_end(b);
	r = run(b->d, b->n, NULL, 10, &lim, NULL);
	expect_err(&r, ROWD_ELIMIT, "a binary is longer than the str_bytes limit (3)", 1, -1);
	rd_free(&r);
	free(b);
}
END_TEST

/* on_error "skip" steps over a bad document whose length is intact, and
 * counts it; a length that lies still ends the read. */
START_TEST(test_bson_skip)
{
	static const char good[] = "\x0c\x00\x00\x00\x10" "a\x00\x01\x00\x00\x00\x00";
	static const char bad[] = "\x0c\x00\x00\x00\x20" "a\x00\x01\x00\x00\x00\x00";
	char buf[64];
	struct rd r;

	memcpy(buf, good, 12);
	memcpy(buf + 12, bad, 12);
	memcpy(buf + 24, good, 12);
	buf[24 + 7] = 2;
	r = run(buf, 36, "{\"on_error\":\"skip\"}", 1, NULL, &fmt_codec_trickle);
	expect_rows(&r, "{\"a\":1}\n{\"a\":2}\n");
	ck_assert_uint_eq(r.skipped, 1);
	ck_assert_uint_eq(r.nrows, 2);
	rd_free(&r);
	r = run(buf, 36, "{\"on_error\":\"raise\"}", 1000, NULL, NULL);
	expect_err(&r, ROWD_EFORMAT, "document 2 at offset 12: unknown element type 0x20 at "
	           "offset 16", 2, 16);
	ck_assert_uint_eq(r.nrows, 1);
	ck_assert_str_eq(r.json, "{\"a\":1}\n");
	rd_free(&r);
	/* The bad one's length lies (no 0x00 where it says it ends). */
	buf[12] = 13;
	r = run(buf, 36, "{\"on_error\":\"skip\"}", 1000, NULL, NULL);
	expect_err(&r, ROWD_EFORMAT, "no 0x00 where its length says", 2, 24);
	ck_assert_uint_eq(r.nrows, 1);
	rd_free(&r);
}
END_TEST

START_TEST(test_bson_options)
{
	struct rd r = run("", 0, "{\"delimiter\":\",\"}", 10, NULL, NULL);
	struct rowd_error err;
	size_t n;

	expect_err(&r, ROWD_EINVAL, "delimiter", -1, -1);
	rd_free(&r);
	r = run("", 0, "{\"on_error\":\"ignore\"}", 10, NULL, NULL);
	expect_err(&r, ROWD_EINVAL, "on_error", -1, -1);
	rd_free(&r);
	ck_assert_ptr_null(fmt_write_all(&format_bson, "{\"a\":1}\n", "{\"tagname\":\"x\"}", &n,
	                                 &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(err.message, "tagname"), "%s", err.message);
}
END_TEST

/* ======================================================================== */
/* writer                                                                   */
/* ======================================================================== */

/* Bytes computed by hand from bsonspec.org. */
START_TEST(test_bson_write_bytes)
{
	expect_write_bytes("{\"a\":1}\n", "\x0c\x00\x00\x00" "\x10" "a\x00" "\x01\x00\x00\x00" "\x00",
	                   12);
	expect_write_bytes("{\"s\":\"hi\"}\n",
	                   "\x0f\x00\x00\x00" "\x02" "s\x00" "\x03\x00\x00\x00" "hi\x00" "\x00", 15);
	expect_write_bytes("{\"x\":null,\"t\":true,\"f\":1.5}\n",
	                   "\x17\x00\x00\x00" "\x0a" "x\x00" "\x08" "t\x00\x01"
	                   "\x01" "f\x00" "\x00\x00\x00\x00\x00\x00\xf8\x3f" "\x00", 23);
	expect_write_bytes("{\"n\":{\"b\":[-1,5000000000]}}\n",
	                   "\x27\x00\x00\x00" "\x03" "n\x00"
	                   "\x1f\x00\x00\x00" "\x04" "b\x00"
	                   "\x17\x00\x00\x00" "\x10" "0\x00" "\xff\xff\xff\xff"
	                   "\x12" "1\x00" "\x00\xf2\x05\x2a\x01\x00\x00\x00" "\x00"
	                   "\x00" "\x00", 39);
	/* int32 while it fits, int64 past it. */
	expect_write_bytes("{\"a\":2147483647,\"b\":-2147483648}\n",
	                   "\x13\x00\x00\x00" "\x10" "a\x00" "\xff\xff\xff\x7f"
	                   "\x10" "b\x00" "\x00\x00\x00\x80" "\x00", 19);
	expect_write_bytes("{\"a\":2147483648,\"b\":-2147483649}\n",
	                   "\x1b\x00\x00\x00" "\x12" "a\x00" "\x00\x00\x00\x80\x00\x00\x00\x00"
	                   "\x12" "b\x00" "\xff\xff\xff\x7f\xff\xff\xff\xff" "\x00", 27);
	expect_write_bytes("{}\n", "\x05\x00\x00\x00\x00", 5);
	/* Two rows, two documents back to back. */
	expect_write_bytes("{\"a\":1}\n{}\n",
	                   "\x0c\x00\x00\x00" "\x10" "a\x00" "\x01\x00\x00\x00" "\x00"
	                   "\x05\x00\x00\x00\x00", 17);
}
END_TEST

/* What JSON cannot say: bin, float32. */
START_TEST(test_bson_write_packed)
{
	static const char rows[] = "\x82\xa1" "b\xc4\x02\x01\x02" "\xa1" "f\xca\x3f\xc0\x00\x00";
	static const char want[] = "\x1a\x00\x00\x00" "\x05" "b\x00" "\x02\x00\x00\x00" "\x00"
	                           "\x01\x02" "\x01" "f\x00" "\x00\x00\x00\x00\x00\x00\xf8\x3f"
	                           "\x00";
	struct rowd_error err;
	size_t n, failures;
	char *out = write_packed(rows, sizeof rows - 1, &n, &failures, &err);

	ck_assert_uint_eq(failures, 0);
	ck_assert_uint_eq(n, sizeof want - 1);
	ck_assert(memcmp(out, want, n) == 0);
	free(out);
}
END_TEST

START_TEST(test_bson_write_errors)
{
	struct rowd_error err;
	size_t n, failures;
	char *out;

	expect_packed_fail("\x81\xa1" "u\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 12, ROWD_EINVAL,
	                   "row 1: field 'u': 18446744073709551615 is above BSON's largest integer");
	expect_packed_fail("\x81\xa3" "a\x00" "b\x01", 6, ROWD_EINVAL, "holds a NUL byte");
	expect_packed_fail("\x81\xa1" "a\x81\xa2" "x\x00\x01", 8, ROWD_EINVAL, "holds a NUL byte");
	expect_packed_fail("\x81\xa1" "e\xd4\x01\x02", 6, ROWD_EINVAL,
	                   "field 'e': a msgpack ext value has no BSON type");
	expect_packed_fail("\x93\x01\x02\x03", 4, ROWD_EINVAL, "row 1: a row must be a map");
	expect_packed_fail("\x81\x01\x02", 3, ROWD_EINVAL, "keys must be strings");
	expect_packed_fail("\x81\xa1" "s\xa1\xff", 5, ROWD_EINVAL, "field 's': the string is not "
	                   "valid UTF-8");
	expect_packed_fail("\x81\xa1\xff\x01", 4, ROWD_EINVAL, "a key is not valid UTF-8");
	/* A bad row leaves nothing; the rows around it are written. */
	out = write_packed("\x81\xa1" "a\x01" "\x81\xa1" "e\xd4\x01\x02" "\x81\xa1" "a\x02", 14,
	                   &n, &failures, &err);
	ck_assert_uint_eq(failures, 1);
	ck_assert_uint_eq(n, 24);
	ck_assert(memcmp(out, "\x0c\x00\x00\x00\x10" "a\x00\x01\x00\x00\x00\x00"
	                      "\x0c\x00\x00\x00\x10" "a\x00\x02\x00\x00\x00\x00", 24) == 0);
	free(out);
}
END_TEST

/* A document over 16 MiB is refused (ELIMIT), one just under is not. */
START_TEST(test_bson_write_max_size)
{
	size_t big = 16u << 20;
	char *rows = malloc(big + 16), *out;
	struct rowd_error err;
	size_t n, failures, len;

	MUST(rows);
	/* {"s": <str of len>}: str32 header. The document is 4 + 1 + 2 + 4 +
	 * len + 1 + 1 = len + 13 bytes. */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t slen = (uint32_t)(pass == 0 ? big - 13 : big - 12);

		len = 0;
		rows[len++] = '\x81';
		rows[len++] = '\xa1';
		rows[len++] = 's';
		rows[len++] = '\xdb';
		rows[len++] = (char)(slen >> 24);
		rows[len++] = (char)(slen >> 16);
		rows[len++] = (char)(slen >> 8);
		rows[len++] = (char)slen;
		memset(rows + len, 'x', slen);
		len += slen;
		out = write_packed(rows, len, &n, &failures, &err);
		if (pass == 0) {
			ck_assert_msg(failures == 0, "%s", err.message);
			ck_assert_uint_eq(n, big);
		} else {
			ck_assert_uint_eq(failures, 1);
			ck_assert_int_eq(err.code, ROWD_ELIMIT);
			ck_assert_msg(strstr(err.message, "above BSON's 16 MiB maximum"), "%s",
			              err.message);
			ck_assert_uint_eq(n, 0);
		}
		free(out);
	}
	free(rows);
}
END_TEST

/* Rows of every kind survive write then read. */
START_TEST(test_bson_roundtrip)
{
	static const char rows[] =
		"{\"s\":\"h\\u00e9llo w\\u00f6rld \\u2713 \\ud83d\\ude00\",\"e\":\"\","
		"\"max\":9223372036854775807,\"min\":-9223372036854775808,\"i\":-1,\"z\":0,"
		"\"f\":1.5,\"g\":1e300,\"h\":-0.25,\"zero\":0.0,\"t\":true,\"n\":null}\n"
		"{\"\\u65e5\\u672c\\u8a9e\":\"\\u65e5\\u672c\\u8a9e\",\"nested\":{\"a\":[1,[2,[3,{}]],"
		"{\"b\":null}],\"c\":{\"d\":{\"e\":\"deep\"}}},\"empty\":[],\"obj\":{}}\n"
		"{}\n";
	struct rowd_error err;
	size_t n;
	char *out = fmt_write_all(&format_bson, rows, NULL, &n, &err);
	struct rd r;

	ck_assert_msg(out, "%s", err.message);
	r = rd_bytes(out, n);
	expect_rows(&r, rows);
	ck_assert_uint_eq(r.nrows, 3);
	rd_free(&r);
	r = run(out, n, NULL, 1, NULL, &fmt_codec_trickle);
	expect_rows(&r, rows);
	rd_free(&r);
	free(out);
}
END_TEST

/* ======================================================================== */
/* detection                                                                */
/* ======================================================================== */

START_TEST(test_bson_probe)
{
	static const char *const others[] = {
		"2cols6rows.csv", "2cols6rows_flat.jsonl", "2cols6rows_array.json",
		"2cols6rows_tag.json", "2cols6rows_flat.msgpack", "2cols6rows.ltsv",
		"books.xml",
	};
	char path[512];
	size_t n;
	char *file = fmt_slurp(ITERABLE "/2cols6rows_flat.bson", &n);
	struct bb *b = bb_new();

	MUST(file);
	ck_assert_int_eq(format_bson.probe(file, n), 95);
	ck_assert_ptr_eq(format_by_content(file, n), &format_bson);
	/* Cut inside the second document: the first decides. */
	ck_assert_int_eq(format_bson.probe(file, 40), 95);
	ck_assert_int_eq(format_bson.probe(file, 20), 85);
	ck_assert_int_eq(format_msgpack.probe(file, n), 0);
	ck_assert_int_eq(format_csv.probe(file, n), 0);
	free(file);
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		snprintf(path, sizeof path, ITERABLE "/%s", others[i]);
		file = fmt_slurp(path, &n);
		MUST(file);
		ck_assert_msg(format_bson.probe(file, n) == 0, "%s probed as BSON", others[i]);
		ck_assert_msg(format_by_content(file, n) != &format_bson, "%s detected as BSON",
		              others[i]);
		free(file);
	}
	ck_assert_int_eq(format_bson.probe("", 0), 0);
	ck_assert_int_eq(format_bson.probe("\x05\x00\x00", 3), 0);
	ck_assert_int_eq(format_bson.probe("\x05\x00\x00\x00\x00", 5), 95);
	ck_assert_int_eq(format_bson.probe("id,name\n1,x\n", 12), 0);
	ck_assert_int_eq(format_bson.probe("\x05\x00\x00\x00\x01", 5), 0);     /* no 0x00 */
	ck_assert_int_eq(format_bson.probe("\x0c\x00\x00\x00\x20" "a\x00\x01\x00\x00\x00\x00",
	                                   12), 0);                            /* type 0x20 */
	/* A document of 91 bytes starts with '[': BSON, not JSON. */
	bb_begin(b);
	bb_key(b, 0x02, "text");
	bb_str(b, "a string long enough to make this document ninety-one bytes!");
	while (b->n < 90)
		bb_key(b, 0x0a, "n");
	bb_end(b);
	MUST(b->n == 91 && b->d[0] == '[');
	ck_assert_ptr_eq(format_by_content((const char *)b->d, b->n), &format_bson);
	/* Longer than the head: a known first type and a key decide. */
	ck_assert_int_eq(format_bson.probe("\x00\x00\x01\x00\x02" "key\x00\x05", 10), 85);
	ck_assert_int_eq(format_bson.probe("\x00\x00\x01\x00\x02" "key", 8), 0);
	ck_assert_int_eq(format_bson.probe("\x00\x00\x01\x00\x42" "key\x00", 9), 0);
	/* Over 16 MiB is not taken for BSON by content. */
	ck_assert_int_eq(format_bson.probe("\x01\x00\x00\x01\x02" "key\x00", 9), 0);
	free(b);
}
END_TEST

START_TEST(test_bson_registry)
{
	ck_assert_ptr_eq(format_find("bson", 4), &format_bson);
	ck_assert_ptr_eq(format_by_extension("dump/x.bson"), &format_bson);
	ck_assert_ptr_eq(format_by_extension("x.bson.gz"), &format_bson);
	ck_assert_ptr_null(format_bson.unavailable);
	ck_assert_uint_eq(format_bson.caps, FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS |
	                  FMT_CAP_NESTED | FMT_CAP_STREAM | FMT_CAP_BINARY);
}
END_TEST

static Suite *bson_suite(void)
{
	Suite *s = suite_create("bson");
	TCase *tc = tcase_create("values");

	tcase_add_test(tc, test_bson_datetime_text);
	tcase_add_test(tc, test_bson_decimal128_text);
	tcase_add_test(tc, test_bson_oid_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("reader");
	tcase_add_test(tc, test_bson_fixture);
	tcase_add_test(tc, test_bson_every_type);
	tcase_add_test(tc, test_bson_binary);
	tcase_add_test(tc, test_bson_empty);
	tcase_add_test(tc, test_bson_array_keys);
	tcase_add_test(tc, test_bson_batches);
	tcase_add_test(tc, test_bson_truncated);
	tcase_add_test(tc, test_bson_bad_lengths);
	tcase_add_test(tc, test_bson_bad_elements);
	tcase_add_test(tc, test_bson_depth_bomb);
	tcase_add_test(tc, test_bson_limits);
	tcase_add_test(tc, test_bson_skip);
	tcase_add_test(tc, test_bson_options);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bson_write_bytes);
	tcase_add_test(tc, test_bson_write_packed);
	tcase_add_test(tc, test_bson_write_errors);
	tcase_add_test(tc, test_bson_write_max_size);
	tcase_add_test(tc, test_bson_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("detect");
	tcase_add_test(tc, test_bson_probe);
	tcase_add_test(tc, test_bson_registry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bson_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
