/* Unit tests of the dBase reader (daemon/formats/dbf.c, dbf_text.c,
 * dbf_value.c): the conformance fixture, tables built byte by byte here
 * with every field type, code pages, deleted records, totals, damaged
 * headers and records, and detection. */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"
#include "output.h"

extern const struct format_ops format_dbf;
extern const struct codec_ops codec_none, codec_gzip;

#define ITERABLE TOP_SRCDIR "/tests/data/conformance/iterabledata"
#define FIXTURE ITERABLE "/2cols6rows.dbf"
#define SIX_DBF \
	"{\"ID\":1,\"NAME\":\"John\"}\n{\"ID\":2,\"NAME\":\"Mary\"}\n" \
	"{\"ID\":3,\"NAME\":\"Michael\"}\n{\"ID\":4,\"NAME\":\"Anna\"}\n" \
	"{\"ID\":5,\"NAME\":\"Orban\"}\n{\"ID\":6,\"NAME\":\"Lucy\"}\n"

/* An assertion for loops: Check reports every ck_assert it passes. */
#define MUST(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

/* ---- a table builder ------------------------------------------------------ */

struct fdesc {
	const char *name;
	char type;
	uint8_t len, dec, flags;
};

struct tb {
	unsigned char d[1 << 17];
	size_t n, hdr_len, rec_len;
	uint32_t records;
};

static void put16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Header and descriptors; slack bytes after the 0x0D inside the header. */
static struct tb *tb_new(uint8_t version, uint8_t ldid, const struct fdesc *f, size_t slack)
{
	struct tb *b = calloc(1, sizeof *b);
	size_t nf = 0, sum = 0;

	MUST(b);
	for (; f[nf].name; nf++)
		sum += f[nf].type == 'C' ? (size_t)(f[nf].len | f[nf].dec << 8) : f[nf].len;
	b->hdr_len = 32 + 32 * nf + 1 + slack;
	b->rec_len = 1 + sum;
	b->d[0] = version;
	b->d[1] = 124;                    /* 2024-05-17 */
	b->d[2] = 5;
	b->d[3] = 17;
	put16(b->d + 8, b->hdr_len);
	put16(b->d + 10, b->rec_len);
	b->d[29] = ldid;
	for (size_t i = 0; i < nf; i++) {
		unsigned char *d = b->d + 32 + 32 * i;

		memcpy(d, f[i].name, strlen(f[i].name) > 11 ? 11 : strlen(f[i].name));
		d[11] = (unsigned char)f[i].type;
		d[16] = f[i].len;
		d[17] = f[i].dec;
		d[18] = f[i].flags;
	}
	b->d[32 + 32 * nf] = 0x0d;
	b->n = b->hdr_len;
	return b;
}

/* One record: the flag and rec_len - 1 bytes. */
static void tb_rec(struct tb *b, char flag, const void *fields)
{
	MUST(b->n + b->rec_len <= sizeof b->d);
	b->d[b->n] = (unsigned char)flag;
	memcpy(b->d + b->n + 1, fields, b->rec_len - 1);
	b->n += b->rec_len;
	put32(b->d + 4, ++b->records);
}

/* A record given as text of exactly rec_len bytes, flag first. */
static void tb_row(struct tb *b, const char *text)
{
	MUST(strlen(text) == b->rec_len);
	tb_rec(b, text[0], text + 1);
}

static void tb_eof(struct tb *b)
{
	b->d[b->n++] = 0x1a;
}

/* ---- read drivers ----------------------------------------------------------- */

struct rd {
	int rc;
	struct rowd_error err;
	struct mpbuf rows;
	size_t nrows;
	uint64_t skipped;
	char *json;             /* rows as JSON Lines */
	char *columns;          /* rd_columns as JSON */
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

/* Reads (or with count, counts through rd_count) data through the reader. */
static struct rd run_mode(const void *data, size_t n, const char *opts, size_t batch,
                          const struct rowd_limits *limits, bool count)
{
	struct rd r = { .rc = -1 };
	struct rowd_limits lim;
	struct mpbuf optraw;
	msgpack_unpacked optup;
	struct fmt_args a = { .fmt = &format_dbf };
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
		struct rowd_limits plain;
		size_t off = 0;

		rowd_limits_default(&plain);
		MUST(proto_json_to_msgpack(opts, strlen(opts), &plain, &optraw, &r.err) == 0);
		MUST(msgpack_unpack_next(&optup, optraw.data, optraw.len, &off) ==
		     MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	MUST(input_open(&in, fd, &codec_none, NULL, lim.row_bytes, &r.err) == 0);
	a.in = &in;
	if (format_dbf.rd_open(&a, &st, &r.err) == 0) {
		struct mpbuf cols;
		uint64_t total = 0;
		int rc;

		mpbuf_init(&cols);
		MUST(format_dbf.rd_columns(st, &cols) == 1);
		r.columns = packed_to_json(cols.data, cols.len);
		r.columns[strlen(r.columns) - 1] = 0;       /* its newline */
		mpbuf_free(&cols);
		do {
			size_t got = 0;

			if (count) {
				rc = format_dbf.rd_count(st, &total, &r.err);
				r.nrows = (size_t)total;
			} else {
				rc = format_dbf.rd_next(st, &r.rows, batch, &got, &r.skipped, &r.err);
				MUST(got <= batch);
				r.nrows += got;
			}
		} while (rc == 0);
		r.rc = rc < 0 ? -1 : 0;
		format_dbf.rd_close(st);
	}
	input_close(&in);
	close(fd);
	mpbuf_free(&optraw);
	msgpack_unpacked_destroy(&optup);
	r.json = packed_to_json(r.rows.data, r.rows.len);
	return r;
}

static struct rd run(const void *data, size_t n, const char *opts)
{
	return run_mode(data, n, opts, 1000, NULL, false);
}

static void rd_free(struct rd *r)
{
	mpbuf_free(&r->rows);
	free(r->json);
	free(r->columns);
}

static void expect_json_at(const struct rd *r, const char *want, const char *where)
{
	ck_assert_msg(r->rc == 0, "%s: read failed: %s %s", where, rowd_err_name(r->err.code),
	              r->err.message);
	ck_assert_msg(strcmp(r->json, want) == 0, "%s: rows differ:\n got: %s\nwant: %s", where,
	              r->json, want);
}

#define expect_json(r, want) expect_json_at((r), (want), __func__)

/* The read fails with code, a message holding needle, the row and offset
 * given (-1: not checked). */
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

/* Reads b (with opts) and expects the error. */
static void tb_fail_at(const struct tb *b, const char *opts, enum rowd_err code,
                       const char *needle, int64_t row, int64_t off, const char *where)
{
	struct rd r = run(b->d, b->n, opts);

	expect_err_at(&r, code, needle, row, off, where);
	rd_free(&r);
}

#define tb_fail(b, opts, code, needle, row, off) \
	tb_fail_at((b), (opts), (code), (needle), (row), (off), __func__)

static unsigned char *slurp_fixture(size_t *n)
{
	unsigned char *d = (unsigned char *)fmt_slurp(FIXTURE, n);

	MUST(d && *n == 242);
	return d;
}

/* ---- the conformance fixture -------------------------------------------- */

START_TEST(test_dbf_fixture)
{
	struct fmt_result r = fmt_read_file(&format_dbf, FIXTURE, NULL, NULL);

	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_str_eq(r.jsonl, SIX_DBF);
	ck_assert_uint_eq(r.nrows, 6);
	ck_assert_str_eq(r.columns, "[\"ID\",\"NAME\"]");
	fmt_result_free(&r);
}
END_TEST

/* Any batch size gives the same rows; totals counts them. */
START_TEST(test_dbf_batches_and_totals)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n);

	for (size_t batch = 1; batch <= 7; batch++) {
		struct rd r = run_mode(d, n, NULL, batch, NULL, false);

		expect_json(&r, SIX_DBF);
		ck_assert_uint_eq(r.nrows, 6);
		rd_free(&r);
	}
	{
		struct rd r = run_mode(d, n, NULL, 1, NULL, true);

		ck_assert_msg(r.rc == 0, "%s", r.err.message);
		ck_assert_uint_eq(r.nrows, 6);
		rd_free(&r);
	}
	free(d);
}
END_TEST

/* x.dbf.gz: through the gzip codec. */
START_TEST(test_dbf_gzip)
{
	char dir[] = "/tmp/test_dbf.XXXXXX", path[64];
	struct rowd_error err;
	struct output out;
	struct fmt_result r;
	size_t n;
	unsigned char *d = slurp_fixture(&n);
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/t.dbf.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	MUST(output_open(&out, fd, &codec_gzip, NULL, &err) == 0);
	MUST(mpbuf_append(&out.buf, d, n) == 0);
	MUST(output_finish(&out, &err) == 0);
	output_close(&out);
	close(fd);
	r = fmt_read_file(&format_dbf, path, NULL, &codec_gzip);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_str_eq(r.jsonl, SIX_DBF);
	fmt_result_free(&r);
	ck_assert_ptr_eq(format_by_extension(path), &format_dbf);
	unlink(path);
	rmdir(dir);
	free(d);
}
END_TEST

/* ---- field types ------------------------------------------------------------ */

/* Visual FoxPro: every type it has, nullable fields and _NullFlags. */
START_TEST(test_dbf_every_type)
{
	static const struct fdesc f[] = {
		{ "NAME", 'C', 6, 0, 0 },     /* 0 */
		{ "QTY", 'N', 5, 0, 0 },      /* 6 */
		{ "PRICE", 'N', 7, 2, 0 },    /* 11 */
		{ "RATE", 'F', 8, 3, 0 },     /* 18 */
		{ "OK", 'L', 1, 0, 0 },       /* 26 */
		{ "DAY", 'D', 8, 0, 0 },      /* 27 */
		{ "COUNT", 'I', 4, 0, 0 },    /* 35 */
		{ "DBL", 'B', 8, 0, 0 },      /* 39 */
		{ "DBL2", 'O', 8, 0, 0 },     /* 47 */
		{ "STAMP", 'T', 8, 0, 0 },    /* 55 */
		{ "CASH", 'Y', 8, 0, 0 },     /* 63 */
		{ "NOTE", 'M', 4, 0, 0 },     /* 71 */
		{ "PIC", 'G', 4, 0, 0 },      /* 75 */
		{ "NUL", 'N', 3, 0, 0x02 },   /* 79 */
		{ "_NullFlags", '0', 1, 0, 0x05 }, /* 82 */
		{ NULL, 0, 0, 0, 0 },
	};
	struct tb *b = tb_new(0x30, 0x03, f, 263);
	unsigned char rec[83];
	double one_half = 1.5, minus = -2.25;
	uint64_t bits;
	struct rd r;

	ck_assert_uint_eq(b->rec_len, 84);
	memset(rec, ' ', sizeof rec);
	memcpy(rec + 0, "Anna  ", 6);
	memcpy(rec + 6, "   42", 5);
	memcpy(rec + 11, "   3.50", 7);
	memcpy(rec + 18, "  -0.125", 8);
	rec[26] = 'T';
	memcpy(rec + 27, "20240229", 8);
	put32(rec + 35, (uint32_t)-7);
	memcpy(&bits, &one_half, 8);
	put32(rec + 39, (uint32_t)bits);
	put32(rec + 43, (uint32_t)(bits >> 32));
	memcpy(&bits, &minus, 8);
	put32(rec + 47, (uint32_t)bits);
	put32(rec + 51, (uint32_t)(bits >> 32));
	put32(rec + 55, 2451545);                     /* 2000-01-01 */
	put32(rec + 59, (12 * 3600 + 34 * 60 + 56) * 1000);
	put32(rec + 63, 123450);                      /* 12.3450 */
	put32(rec + 67, 0);
	put32(rec + 71, 17);
	put32(rec + 75, 0);
	memcpy(rec + 79, "  9", 3);
	rec[82] = 0x01;                               /* NUL is null */
	tb_rec(b, ' ', rec);

	memset(rec, ' ', sizeof rec);
	memcpy(rec + 0, "\0\0\0\0\0\0", 6);           /* NUL padding: "" */
	rec[26] = '?';
	memset(rec + 35, 0, 28);                      /* COUNT, DBL, DBL2 0; STAMP blank */
	put32(rec + 55, 2451546);                     /* 2000-01-02, 1 ms */
	put32(rec + 59, 1);
	put32(rec + 63, (uint32_t)-50000);            /* -5.0000 */
	put32(rec + 67, 0xffffffff);
	put32(rec + 71, 0);
	put32(rec + 75, 3);
	memcpy(rec + 79, "  5", 3);
	rec[82] = 0x00;
	tb_rec(b, ' ', rec);

	memset(rec, 0, sizeof rec);                   /* a zero T is nil too */
	memcpy(rec, "x", 1);
	memset(rec + 6, ' ', 21);
	memset(rec + 27, '0', 8);
	memcpy(rec + 79, "  1", 3);
	tb_rec(b, ' ', rec);
	tb_eof(b);

	r = run(b->d, b->n, NULL);
	expect_json(&r,
		"{\"NAME\":\"Anna\",\"QTY\":42,\"PRICE\":3.5,\"RATE\":-0.125,\"OK\":true,"
		"\"DAY\":\"2024-02-29\",\"COUNT\":-7,\"DBL\":1.5,\"DBL2\":-2.25,"
		"\"STAMP\":\"2000-01-01T12:34:56\",\"CASH\":\"12.3450\",\"NOTE\":17,\"PIC\":null,"
		"\"NUL\":null}\n"
		"{\"NAME\":\"\",\"QTY\":null,\"PRICE\":null,\"RATE\":null,\"OK\":null,\"DAY\":null,"
		"\"COUNT\":0,\"DBL\":0.0,\"DBL2\":0.0,\"STAMP\":\"2000-01-02T00:00:00.001\","
		"\"CASH\":\"-5.0000\",\"NOTE\":null,\"PIC\":3,\"NUL\":5}\n"
		"{\"NAME\":\"x\",\"QTY\":null,\"PRICE\":null,\"RATE\":null,\"OK\":null,\"DAY\":null,"
		"\"COUNT\":0,\"DBL\":0.0,\"DBL2\":0.0,\"STAMP\":null,\"CASH\":\"0.0000\","
		"\"NOTE\":null,\"PIC\":null,\"NUL\":1}\n");
	ck_assert_str_eq(r.columns, "[\"NAME\",\"QTY\",\"PRICE\",\"RATE\",\"OK\",\"DAY\",\"COUNT\","
	                 "\"DBL\",\"DBL2\",\"STAMP\",\"CASH\",\"NOTE\",\"PIC\",\"NUL\"]");
	rd_free(&r);
	free(b);
}
END_TEST

/* dBase III/IV numbers, logicals, memos in ASCII, long C fields. */
START_TEST(test_dbf_dbase_values)
{
	static const struct fdesc f[] = {
		{ "N", 'N', 20, 0, 0 },
		{ "L", 'L', 1, 0, 0 },
		{ "M", 'M', 10, 0, 0 },
		{ "B", 'B', 10, 0, 0 },
		{ "D", 'N', 6, 2, 0 },
		{ NULL, 0, 0, 0, 0 },
	};
	static const struct {
		const char *n, *l, *m, *b, *d, *want;
	} cases[] = {
		{ "-9223372036854775808", "t", "7", "1", "1,25",
		  "{\"N\":-9223372036854775808,\"L\":true,\"M\":7,\"B\":1,\"D\":1.25}\n" },
		{ "9223372036854775808", "F", "", "", "+1e2",
		  "{\"N\":9.223372036854776e+18,\"L\":false,\"M\":null,\"B\":null,\"D\":100.0}\n" },
		{ "+5", "y", "0000000000", "0", "-0.5",
		  "{\"N\":5,\"L\":true,\"M\":null,\"B\":null,\"D\":-0.5}\n" },
		{ "12", "n", "0", "", "12  ",
		  "{\"N\":12,\"L\":false,\"M\":null,\"B\":null,\"D\":12.0}\n" },
		{ "1.0", "N", "4294967295", "", ".5",
		  "{\"N\":1.0,\"L\":false,\"M\":4294967295,\"B\":null,\"D\":0.5}\n" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tb *b = tb_new(0x83, 0x00, f, 0);
		char rec[64];
		struct rd r;

		snprintf(rec, sizeof rec, " %20s%1s%10s%10s%6s", cases[i].n, cases[i].l, cases[i].m,
		         cases[i].b, cases[i].d);
		tb_row(b, rec);
		r = run(b->d, b->n, NULL);
		expect_json_at(&r, cases[i].want, rec);
		rd_free(&r);
		free(b);
	}
}
END_TEST

/* Character fields past 255 bytes keep the high byte in the decimal
 * count (FoxPro, Clipper). */
START_TEST(test_dbf_long_char)
{
	static const struct fdesc f[] = { { "TEXT", 'C', 0x2c, 0x01, 0 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0xf5, 0x00, f, 0);
	char rec[300], want[400];
	struct rd r;

	ck_assert_uint_eq(b->rec_len, 301);
	memset(rec, 'a', sizeof rec);
	memset(rec + 290, ' ', 10);
	tb_rec(b, ' ', rec);
	r = run(b->d, b->n, NULL);
	snprintf(want, sizeof want, "{\"TEXT\":\"%.290s\"}\n", rec);
	expect_json(&r, want);
	rd_free(&r);
	free(b);
}
END_TEST

/* Visual FoxPro binary character fields (NOCPTRANS) are bin. */
START_TEST(test_dbf_binary_char)
{
	static const struct fdesc f[] = { { "RAW", 'C', 4, 0, 0x04 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0x30, 0x00, f, 263);
	struct rd r;

	tb_rec(b, ' ', "\xff\x01 \0");
	r = run(b->d, b->n, NULL);
	ck_assert_int_eq(r.rc, 0);
	/* {"RAW": bin 2 bytes ff 01}, trailing space and NUL trimmed */
	ck_assert_uint_eq(r.rows.len, 1 + 4 + 2 + 2);
	ck_assert_int_eq(memcmp(r.rows.data + 5, "\xc4\x02\xff\x01", 4), 0);
	rd_free(&r);
	free(b);
}
END_TEST

/* ---- records -------------------------------------------------------------- */

START_TEST(test_dbf_deleted)
{
	static const struct fdesc f[] = { { "A", 'C', 2, 0, 0 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0x03, 0x00, f, 1);
	struct rd r;

	tb_row(b, " x1");
	tb_row(b, "*x2");
	tb_row(b, " x3");
	tb_row(b, "*x4");
	r = run(b->d, b->n, NULL);             /* no 0x1A: fine */
	expect_json(&r, "{\"A\":\"x1\"}\n{\"A\":\"x3\"}\n");
	ck_assert_uint_eq(r.skipped, 0);
	rd_free(&r);
	r = run_mode(b->d, b->n, NULL, 10, NULL, true);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 2);
	rd_free(&r);
	/* After 0x1A nothing is read, whatever follows. */
	tb_eof(b);
	memcpy(b->d + b->n, "garbage", 7);
	b->n += 7;
	r = run(b->d, b->n, NULL);
	expect_json(&r, "{\"A\":\"x1\"}\n{\"A\":\"x3\"}\n");
	rd_free(&r);
	r = run_mode(b->d, b->n, NULL, 10, NULL, true);
	ck_assert_uint_eq(r.nrows, 2);
	rd_free(&r);
	free(b);
}
END_TEST

START_TEST(test_dbf_empty_table)
{
	static const struct fdesc f[] = { { "A", 'N', 3, 0, 0 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0x03, 0x00, f, 0);
	struct rd r = run(b->d, b->n, NULL);

	expect_json(&r, "");
	ck_assert_str_eq(r.columns, "[\"A\"]");
	rd_free(&r);
	tb_eof(b);
	r = run(b->d, b->n, NULL);
	expect_json(&r, "");
	rd_free(&r);
	free(b);
}
END_TEST

/* The header's record count is not what decides: records present do. */
START_TEST(test_dbf_stale_count)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n);
	struct rd r;

	put32(d + 4, 2);
	r = run(d, n, NULL);
	expect_json(&r, SIX_DBF);
	rd_free(&r);
	put32(d + 4, 1000);
	r = run_mode(d, n, NULL, 5, NULL, true);
	ck_assert_uint_eq(r.nrows, 6);
	rd_free(&r);
	free(d);
}
END_TEST

/* ---- text ------------------------------------------------------------------ */

START_TEST(test_dbf_code_pages)
{
	static const struct fdesc f[] = { { "\xc8\xec\xff", 'C', 6, 0, 0 }, { NULL, 0, 0, 0, 0 } };
	static const struct {
		uint8_t ldid;
		const char *opts, *rec, *want;
	} cases[] = {
		/* cp1251 (0xC9): the name too */
		{ 0xc9, NULL, " \xcf\xf0\xe8\xe2\xe5\xf2",
		  "{\"\xd0\x98\xd0\xbc\xd1\x8f\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"}\n" },
		/* cp866 (0x26); the name's bytes mean other letters there */
		{ 0x26, NULL, " \x8f\xe0\xa8\xa2\xa5\xe2",
		  "{\"\xe2\x95\x9a\xd1\x8c\xc2\xa0\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"}\n" },
		/* no driver byte, the option says cp1251 */
		{ 0x00, "{\"encoding\":\"cp1251\"}", " \xcf\xf0\xe8\xe2\xe5\xf2",
		  "{\"\xd0\x98\xd0\xbc\xd1\x8f\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"}\n" },
		/* the option wins over the driver byte */
		{ 0x26, "{\"encoding\":\"windows-1251\"}", " \xcf\xf0\xe8\xe2\xe5\xf2",
		  "{\"\xd0\x98\xd0\xbc\xd1\x8f\":\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"}\n" },
		/* no driver byte: windows-1252 for what is not UTF-8 */
		{ 0x00, NULL, " caf\xe9  ", "{\"\xc3\x88\xc3\xac\xc3\xbf\":\"caf\xc3\xa9\"}\n" },
		/* ... and UTF-8 kept when it is */
		{ 0x00, NULL, " caf\xc3\xa9 ", "{\"\xc3\x88\xc3\xac\xc3\xbf\":\"caf\xc3\xa9\"}\n" },
		/* 0x57 (ANSI) is windows-1252 */
		{ 0x57, NULL, " \x80 5   ", "{\"\xc3\x88\xc3\xac\xc3\xbf\":\"\xe2\x82\xac 5\"}\n" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tb *b = tb_new(0x03, cases[i].ldid, f, 0);
		struct rd r;
		char where[32];

		snprintf(where, sizeof where, "case %zu", i);
		tb_row(b, cases[i].rec);
		r = run(b->d, b->n, cases[i].opts);
		expect_json_at(&r, cases[i].want, where);
		rd_free(&r);
		free(b);
	}
}
END_TEST

START_TEST(test_dbf_bad_text)
{
	static const struct fdesc f[] = { { "NAME", 'C', 4, 0, 0 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0x03, 0x00, f, 0);

	tb_row(b, " ok  ");
	tb_row(b, " a\xffz ");
	tb_row(b, " fin ");
	/* record 2 starts at 65 + 5; its field at + 1; the bad byte at + 1 */
	tb_fail(b, "{\"encoding\":\"utf-8\"}", ROWD_EFORMAT, "field 'NAME'", 2, 65 + 5 + 1 + 1);
	/* cp1252 has no 0x81 */
	b->d[65 + 5 + 2] = 0x81;
	tb_fail(b, NULL, ROWD_EFORMAT, "CP1252", 2, 72);
	{
		struct rd r = run(b->d, b->n, "{\"on_error\":\"skip\"}");

		expect_json(&r, "{\"NAME\":\"ok\"}\n{\"NAME\":\"fin\"}\n");
		ck_assert_uint_eq(r.skipped, 1);
		rd_free(&r);
		/* totals leave out what a read skips */
		r = run_mode(b->d, b->n, "{\"on_error\":\"skip\"}", 1, NULL, true);
		ck_assert_int_eq(r.rc, 0);
		ck_assert_uint_eq(r.nrows, 2);
		rd_free(&r);
	}
	tb_fail(b, "{\"encoding\":\"no-such-code-page\"}", ROWD_EINVAL, "no-such-code-page", -1, -1);
	tb_fail(b, "{\"encoding\":7}", ROWD_EINVAL, "encoding", -1, -1);
	free(b);
}
END_TEST

/* ---- values that do not parse --------------------------------------------- */

START_TEST(test_dbf_bad_values)
{
	static const struct fdesc f[] = {
		{ "QTY", 'N', 4, 0, 0 }, { "DAY", 'D', 8, 0, 0 }, { "OK", 'L', 1, 0, 0 },
		{ NULL, 0, 0, 0, 0 },
	};
	static const struct {
		const char *qty, *day, *ok, *needle;
		int at;
	} cases[] = {
		{ "  1a", "20240101", "T", "'QTY' (type N) '  1a' is not a number", 1 },
		{ " 1-2", "20240101", "T", "is not a number", 1 },
		{ " -  ", "20240101", "T", "is not a number", 1 },
		{ " 1e ", "20240101", "T", "is not a number", 1 },
		{ "   1", "20240230", "T", "'DAY' (type D) '20240230' is not a valid date", 5 },
		{ "   1", "2024 101", "T", "is not a date", 5 },
		{ "   1", "20240101", "X", "'OK' (type L) 'X' is not a logical", 13 },
	};
	/* hdr 32 + 3 * 32 + 1 = 129, records of 14 bytes; the bad one is second */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tb *b = tb_new(0x03, 0x00, f, 0);
		char rec[32];
		struct rd r;

		tb_row(b, "    120240101F");
		snprintf(rec, sizeof rec, " %s%s%s", cases[i].qty, cases[i].day, cases[i].ok);
		tb_row(b, rec);
		tb_row(b, "    220240102 ");
		r = run(b->d, b->n, NULL);
		expect_err_at(&r, ROWD_EFORMAT, cases[i].needle, 2, 129 + 14 + cases[i].at, rec);
		ck_assert_uint_eq(r.nrows, 1);
		rd_free(&r);
		r = run(b->d, b->n, "{\"on_error\":\"skip\"}");
		expect_json_at(&r, "{\"QTY\":1,\"DAY\":\"2024-01-01\",\"OK\":false}\n"
		               "{\"QTY\":2,\"DAY\":\"2024-01-02\",\"OK\":null}\n", rec);
		ck_assert_uint_eq(r.skipped, 1);
		rd_free(&r);
		free(b);
	}
}
END_TEST

START_TEST(test_dbf_bad_binary_values)
{
	static const struct fdesc f[] = { { "T", 'T', 8, 0, 0 }, { NULL, 0, 0, 0, 0 } };
	struct tb *b = tb_new(0x30, 0x00, f, 263);
	unsigned char rec[8];

	put32(rec, 2451545);
	put32(rec + 4, 86400000);              /* a day is 0 .. 86399999 ms */
	tb_rec(b, ' ', rec);
	tb_fail(b, NULL, ROWD_EFORMAT, "is not a datetime", 1, (int64_t)b->hdr_len + 1);
	free(b);
	b = tb_new(0x30, 0x00, f, 263);
	put32(rec, 5373485);                   /* past 9999-12-31 */
	put32(rec + 4, 0);
	tb_rec(b, ' ', rec);
	tb_fail(b, NULL, ROWD_EFORMAT, "is not a datetime", 1, -1);
	free(b);
}
END_TEST

/* ---- damaged structure ------------------------------------------------------ */

START_TEST(test_dbf_truncated)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n);
	struct rd r;

	/* The fixture: header 97, records of 24, 0x1A at 241. */
	r = run(d, 97 + 24 * 2 + 10, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "record 3 has 10 of its 24 bytes", 3, 97 + 48, __func__);
	ck_assert_uint_eq(r.nrows, 2);
	rd_free(&r);
	r = run_mode(d, 97 + 24 * 2 + 10, NULL, 1, NULL, true);
	expect_err_at(&r, ROWD_EFORMAT, "truncated", 3, 97 + 48, "totals");
	rd_free(&r);
	/* whole records, no 0x1A: fine */
	r = run(d, 97 + 24 * 6, NULL);
	expect_json(&r, SIX_DBF);
	rd_free(&r);
	r = run(d, 20, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "inside the 32-byte header", 0, 20, "cut header");
	rd_free(&r);
	r = run(d, 0, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "inside the 32-byte header", 0, 0, "empty file");
	rd_free(&r);
	r = run(d, 70, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "inside the 97-byte header", 0, 70, "cut descriptors");
	rd_free(&r);
	free(d);
}
END_TEST

START_TEST(test_dbf_bad_header)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n), *c = malloc(n + 400);
	struct rd r;

	MUST(c);
#define MUTATE(at, v) do { memcpy(c, d, n); c[at] = (unsigned char)(v); } while (0)
	MUTATE(8, 40);                               /* header length below 65 */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "header length 40 is below 65", 0, 8, "hdr 40");
	rd_free(&r);
	MUTATE(8, 80);                               /* ends inside descriptor 2 */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "ends inside field descriptor 2", 0, 64, "hdr 80");
	rd_free(&r);
	MUTATE(8, 96);                               /* stops before the 0x0D */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "no 0x0D", 0, 96, "hdr 96");
	rd_free(&r);
	MUTATE(96, 0x20);                            /* no terminator where it should be */
	r = run(c, n, NULL);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	rd_free(&r);
	MUTATE(10, 25);                              /* record length not 1 + 3 + 20 */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "record length (25) is not 1 + the field lengths (24)",
	              0, 10, "rec 25");
	rd_free(&r);
	MUTATE(10, 1);
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "record length 1 is below 2", 0, 10, "rec 1");
	rd_free(&r);
	MUTATE(43, 'V');                             /* a type it does not know */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "field 'ID' has type 'V'", 0, 43, "type V");
	rd_free(&r);
	MUTATE(43, 'D');                             /* D must be 8 long */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "field 'ID' (type D) is 3 bytes long; it must be 8", 0,
	              48, "D of 3");
	rd_free(&r);
	MUTATE(32, 0);                               /* no name */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "field 1 has no name", 0, 32, "no name");
	rd_free(&r);
	memcpy(c, d, n);                             /* NAME renamed ID */
	memcpy(c + 64, "ID\0\0", 4);
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "two fields are named 'ID'", 0, 64, "duplicate");
	rd_free(&r);
	MUTATE(97, 'X');                             /* deletion flag of record 1 */
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "deletion flag is 0x58", 1, 97, "flag");
	rd_free(&r);
	MUTATE(0, 0x04);                             /* dBase 7: other descriptors */
	c[43] = 0;
	r = run(c, n, NULL);
	expect_err_at(&r, ROWD_ENOTSUP, "dBase 7", -1, -1, "level 7");
	rd_free(&r);
	/* The header length may leave room for the FoxPro backlink, no more. */
	memcpy(c, d, 96);
	memset(c + 96, 0, 400);
	c[96] = 0x0d;
	put16(c + 8, 97 + 264);
	memcpy(c + 97 + 264, d + 97, n - 97);
	r = run(c, n + 264, NULL);
	expect_json(&r, SIX_DBF);
	rd_free(&r);
	put16(c + 8, 97 + 265);
	memmove(c + 97 + 265, c + 97 + 264, n - 97);
	r = run(c, n + 265, NULL);
	expect_err_at(&r, ROWD_EFORMAT, "leaves 265 bytes after the 2 field descriptors", 0, 8,
	              "slack");
	rd_free(&r);
#undef MUTATE
	free(c);
	free(d);
}
END_TEST

START_TEST(test_dbf_limits)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n);
	struct rowd_limits lim;
	struct rd r;

	rowd_limits_default(&lim);
	lim.row_bytes = 23;
	r = run_mode(d, n, NULL, 10, &lim, false);
	expect_err_at(&r, ROWD_ELIMIT, "row_bytes limit (23)", 0, 10, "row_bytes");
	rd_free(&r);
	lim.row_bytes = 24;
	r = run_mode(d, n, NULL, 10, &lim, false);
	expect_json(&r, SIX_DBF);
	rd_free(&r);
	rowd_limits_default(&lim);
	lim.elements = 1;
	r = run_mode(d, n, NULL, 10, &lim, false);
	expect_err_at(&r, ROWD_ELIMIT, "elements limit (1)", -1, -1, "elements");
	rd_free(&r);
	rowd_limits_default(&lim);
	lim.str_bytes = 4;                        /* "Michael" is 7 */
	r = run_mode(d, n, NULL, 10, &lim, false);
	expect_err_at(&r, ROWD_ELIMIT, "str_bytes limit", 3, 97 + 48 + 4, "str_bytes");
	rd_free(&r);
	r = run_mode(d, n, "{\"on_error\":\"skip\"}", 10, &lim, false);
	ck_assert_msg(r.rc == -1 && r.err.code == ROWD_ELIMIT, "a limit is not skipped");
	rd_free(&r);
	free(d);
}
END_TEST

START_TEST(test_dbf_nullflags)
{
	/* Nullable fields without _NullFlags: refused. */
	static const struct fdesc f[] = { { "A", 'N', 3, 0, 0x02 }, { NULL, 0, 0, 0, 0 } };
	static const struct fdesc g[] = {
		{ "A", 'N', 1, 0, 0x02 }, { "B", 'N', 1, 0, 0x02 }, { "C", 'N', 1, 0, 0x02 },
		{ "D", 'N', 1, 0, 0x02 }, { "E", 'N', 1, 0, 0x02 }, { "F", 'N', 1, 0, 0x02 },
		{ "G", 'N', 1, 0, 0x02 }, { "H", 'N', 1, 0, 0x02 }, { "I", 'N', 1, 0, 0x02 },
		{ "_NullFlags", '0', 2, 0, 0x05 }, { NULL, 0, 0, 0, 0 },
	};
	struct tb *b = tb_new(0x30, 0x00, f, 263);
	struct rd r;

	tb_fail(b, NULL, ROWD_EFORMAT, "no _NullFlags field", 0, -1);
	free(b);
	/* Nine nullable fields: the ninth is bit 0 of the second byte. */
	b = tb_new(0x31, 0x00, g, 263);
	tb_rec(b, ' ', "123456789\x81\x01");
	r = run(b->d, b->n, NULL);
	expect_json(&r, "{\"A\":null,\"B\":2,\"C\":3,\"D\":4,\"E\":5,\"F\":6,\"G\":7,\"H\":null,"
	            "\"I\":null}\n");
	rd_free(&r);
	free(b);
}
END_TEST

/* Every byte of the fixture set to a few values: an answer, never a
 * crash, a leak or a hang. */
START_TEST(test_dbf_mutations)
{
	static const unsigned char values[] = { 0x00, 0x0d, 0x1a, 0x2a, 0xff };
	size_t n, ok = 0, failed = 0;
	unsigned char *d = slurp_fixture(&n), *c = malloc(n);

	MUST(c);
	for (size_t at = 0; at < n; at++) {
		for (size_t v = 0; v < sizeof values; v++) {
			struct rd r;

			memcpy(c, d, n);
			c[at] = values[v];
			r = run_mode(c, n, NULL, 4, NULL, (at + v) % 2 == 0);
			if (r.rc == 0)
				ok++;
			else
				failed++;
			MUST(r.rc == 0 || r.err.code == ROWD_EFORMAT || r.err.code == ROWD_ENOTSUP ||
			     r.err.code == ROWD_ELIMIT);
			MUST(r.rc == 0 || r.err.message[0]);
			rd_free(&r);
		}
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(failed, 0);
	/* Random bytes. */
	for (unsigned seed = 1; seed <= 200; seed++) {
		unsigned x = seed;
		struct rd r;

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			c[i] = (unsigned char)(x >> 16);
		}
		r = run(c, n, NULL);
		MUST(r.rc == -1 && (r.err.code == ROWD_EFORMAT || r.err.code == ROWD_ENOTSUP ||
		                    r.err.code == ROWD_ELIMIT));
		rd_free(&r);
	}
	free(c);
	free(d);
}
END_TEST

START_TEST(test_dbf_options)
{
	size_t n;
	unsigned char *d = slurp_fixture(&n);
	struct rd r;

	r = run(d, n, "{\"delimiter\":\",\"}");
	expect_err_at(&r, ROWD_EINVAL, "delimiter", -1, -1, "unknown option");
	rd_free(&r);
	r = run(d, n, "{\"on_error\":\"ignore\"}");
	expect_err_at(&r, ROWD_EINVAL, "on_error", -1, -1, "bad on_error");
	rd_free(&r);
	r = run(d, n, "{\"on_error\":\"raise\",\"encoding\":\"utf-8\"}");
	expect_json(&r, SIX_DBF);
	rd_free(&r);
	free(d);
}
END_TEST

/* ---- detection -------------------------------------------------------------- */

START_TEST(test_dbf_probe)
{
	static const char *const others[] = {
		"2cols6rows.csv", "2cols6rows_flat.jsonl", "2cols6rows_array.json",
		"2cols6rows_flat.bson", "2cols6rows_flat.msgpack", "2cols6rows.avro",
		"2cols6rows.xls", "2cols6rows.ltsv", "2cols6rows.fwf", "2cols6rows.csv.gz",
	};
	size_t n;
	unsigned char *d = slurp_fixture(&n);

	ck_assert_int_eq(format_dbf.probe((const char *)d, n), 90);
	ck_assert_ptr_eq(format_by_content((const char *)d, n), &format_dbf);
	ck_assert_int_eq(format_dbf.probe((const char *)d, 64), 70);   /* cut in descriptors */
	ck_assert_int_eq(format_dbf.probe((const char *)d, 63), 0);
	ck_assert_int_eq(format_dbf.probe((const char *)d, 80), 70);   /* inside descriptor 2 */
	ck_assert_int_eq(format_dbf.probe((const char *)d, 97), 90);
	d[2] = 13;                                   /* month 13 */
	ck_assert_int_eq(format_dbf.probe((const char *)d, n), 0);
	d[2] = 12;
	d[10] = 25;                                  /* record length wrong */
	ck_assert_int_eq(format_dbf.probe((const char *)d, n), 0);
	d[10] = 24;
	d[0] = 0x07;                                 /* unknown version */
	ck_assert_int_eq(format_dbf.probe((const char *)d, n), 0);
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		char path[300], *text;
		size_t len;

		snprintf(path, sizeof path, ITERABLE "/%s", others[i]);
		text = fmt_slurp(path, &len);
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(format_dbf.probe(text, len) == 0, "%s probes as dbf", others[i]);
		free(text);
	}
	ck_assert_int_eq(format_dbf.probe("id,name\n1,John\n2,Mary\n", 22), 0);
	ck_assert_ptr_eq(format_find("dbf", 3), &format_dbf);
	ck_assert_ptr_eq(format_by_extension("t.DBF"), &format_dbf);
	ck_assert_ptr_eq(format_by_extension("x.dbf.gz"), &format_dbf);
	ck_assert(format_dbf.caps & FMT_CAP_TOTALS);
	ck_assert(!(format_dbf.caps & FMT_CAP_WRITE));
	free(d);
}
END_TEST

static Suite *dbf_suite(void)
{
	Suite *s = suite_create("dbf");
	TCase *tc = tcase_create("read");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dbf_fixture);
	tcase_add_test(tc, test_dbf_batches_and_totals);
	tcase_add_test(tc, test_dbf_gzip);
	tcase_add_test(tc, test_dbf_every_type);
	tcase_add_test(tc, test_dbf_dbase_values);
	tcase_add_test(tc, test_dbf_long_char);
	tcase_add_test(tc, test_dbf_binary_char);
	tcase_add_test(tc, test_dbf_deleted);
	tcase_add_test(tc, test_dbf_empty_table);
	tcase_add_test(tc, test_dbf_stale_count);
	tcase_add_test(tc, test_dbf_code_pages);
	tcase_add_test(tc, test_dbf_bad_text);
	tcase_add_test(tc, test_dbf_bad_values);
	tcase_add_test(tc, test_dbf_bad_binary_values);
	tcase_add_test(tc, test_dbf_truncated);
	tcase_add_test(tc, test_dbf_bad_header);
	tcase_add_test(tc, test_dbf_limits);
	tcase_add_test(tc, test_dbf_nullflags);
	tcase_add_test(tc, test_dbf_mutations);
	tcase_add_test(tc, test_dbf_options);
	tcase_add_test(tc, test_dbf_probe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dbf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
