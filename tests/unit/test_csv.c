/* Unit tests of the CSV/TSV/PSV format (daemon/formats/csv.c). */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"

extern const struct format_ops format_csv, format_tsv, format_psv;

#define SPECTRUM TOP_SRCDIR "/tests/data/conformance/csv-spectrum"
#define ITERABLE TOP_SRCDIR "/tests/data/conformance/iterabledata"

/* ---- helpers ----------------------------------------------------------- */

static struct fmt_result rd(const struct format_ops *f, const char *text, const char *opts)
{
	return fmt_read_all(f, text, strlen(text), opts, 1000);
}

/* Parses a JSON text into one msgpack object (owned by up/raw). */
static const msgpack_object *json_obj(const char *json, struct mpbuf *raw, msgpack_unpacked *up)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t off = 0;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	mpbuf_init(raw);
	msgpack_unpacked_init(up);
	ck_assert_msg(proto_json_to_msgpack(json, strlen(json), &lim, raw, &err) == 0,
	              "bad expected JSON: %s (%s)", err.message, json);
	ck_assert(msgpack_unpack_next(up, raw->data, raw->len, &off) == MSGPACK_UNPACK_SUCCESS);
	return &up->data;
}

/* The rows read equal the JSON array `expected`: same types, same values,
 * same key order. */
static void check_rows_at(const struct fmt_result *r, const char *expected, const char *where)
{
	struct mpbuf raw;
	msgpack_unpacked up, got;
	const msgpack_object *exp = json_obj(expected, &raw, &up);
	size_t off = 0;
	uint32_t i;

	ck_assert_msg(exp->type == MSGPACK_OBJECT_ARRAY, "%s: expected rows must be an array", where);
	msgpack_unpacked_init(&got);
	for (i = 0; i < exp->via.array.size; i++) {
		ck_assert_msg(off < r->packed_len, "%s: %u rows read, %u expected; got:\n%s", where,
		              i, exp->via.array.size, r->jsonl);
		ck_assert(msgpack_unpack_next(&got, r->packed, r->packed_len, &off) ==
		          MSGPACK_UNPACK_SUCCESS);
		ck_assert_msg(msgpack_object_equal(got.data, exp->via.array.ptr[i]),
		              "%s: row %u differs; got:\n%s\nexpected: %s", where, i + 1, r->jsonl,
		              expected);
	}
	ck_assert_msg(off == r->packed_len, "%s: more rows than the %u expected:\n%s", where,
	              exp->via.array.size, r->jsonl);
	ck_assert_uint_eq(r->nrows, exp->via.array.size);
	msgpack_unpacked_destroy(&got);
	msgpack_unpacked_destroy(&up);
	mpbuf_free(&raw);
}

#define check_rows(r, expected) check_rows_at((r), (expected), __func__)

/* Reads text and checks it gives the rows expected. */
static void expect_read(const struct format_ops *f, const char *text, const char *opts,
                        const char *expected)
{
	struct fmt_result r = rd(f, text, opts);

	ck_assert_msg(r.rc == 0, "read failed: %s (%s)", r.err.message, text);
	check_rows_at(&r, expected, text);
	fmt_result_free(&r);
}

/* Reading fails with code, the message containing msg. */
static struct fmt_result expect_fail(const struct format_ops *f, const char *text,
                                     const char *opts, enum rowd_err code, const char *msg)
{
	struct fmt_result r = rd(f, text, opts);

	ck_assert_msg(r.rc == -1, "read of %s with %s should fail", text, opts ? opts : "-");
	ck_assert_msg(r.err.code == code, "code %s, expected %s (%s)", rowd_err_name(r.err.code),
	              rowd_err_name(code), r.err.message);
	ck_assert_msg(strstr(r.err.message, msg), "message '%s' lacks '%s'", r.err.message, msg);
	return r;
}

static char *write_ok(const struct format_ops *f, const char *rows, const char *opts)
{
	struct rowd_error err;
	size_t n;
	char *out = fmt_write_all(f, rows, opts, &n, &err);

	ck_assert_msg(out, "write failed: %s", err.message);
	ck_assert_uint_eq(strlen(out), n);
	return out;
}

static void expect_write(const struct format_ops *f, const char *rows, const char *opts,
                         const char *expected)
{
	char *out = write_ok(f, rows, opts);

	ck_assert_str_eq(out, expected);
	free(out);
}

static void expect_write_fail(const struct format_ops *f, const char *rows, const char *opts,
                              enum rowd_err code, const char *msg)
{
	struct rowd_error err;
	size_t n;
	char *out = fmt_write_all(f, rows, opts, &n, &err);

	ck_assert_msg(!out, "write should fail: %s", out);
	ck_assert_msg(err.code == code, "code %s (%s)", rowd_err_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, msg), "message '%s' lacks '%s'", err.message, msg);
}

extern const struct codec_ops codec_none;

static struct fmt_result read_trickle(const char *data, size_t n, const char *opts)
{
	int fd = memfd_create("trickle", 0);
	char path[64];
	struct fmt_result r;

	ck_assert(fd >= 0 && write(fd, data, n) == (ssize_t)n);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	r = fmt_read_file(&format_csv, path, opts, &fmt_codec_trickle);
	close(fd);
	return r;
}

/* ---- conformance ------------------------------------------------------- */

/* Every csv-spectrum case against its expected rows. */
START_TEST(test_spectrum)
{
	DIR *d = opendir(SPECTRUM "/csvs");
	struct dirent *e;
	int cases = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char csv[512], json[512], want[4096];
		char *exp;
		struct fmt_result r;

		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") != 0)
			continue;
		snprintf(csv, sizeof csv, SPECTRUM "/csvs/%s", e->d_name);
		snprintf(json, sizeof json, SPECTRUM "/json/%.*s.json", (int)(len - 4), e->d_name);
		exp = fmt_slurp(json, NULL);
		ck_assert_msg(exp, "no %s", json);
		if (strcmp(e->d_name, "location_coordinates.csv") == 0) {
			/* Upstream's expected file is a bare object and holds a
			 * different phone number than the CSV (2095257564): compare
			 * with what the CSV says. */
			char *ph = strstr(exp, "1234567890");

			ck_assert_ptr_nonnull(ph);
			memcpy(ph, "2095257564", 10);
			snprintf(want, sizeof want, "[%s]", exp);
		} else {
			snprintf(want, sizeof want, "%s", exp);
		}
		r = fmt_read_file(&format_csv, csv, NULL, NULL);
		ck_assert_msg(r.rc == 0, "%s: %s", e->d_name, r.err.message);
		check_rows_at(&r, want, e->d_name);
		fmt_result_free(&r);
		free(exp);
		cases++;
	}
	closedir(d);
	ck_assert_int_eq(cases, 12);
}
END_TEST

START_TEST(test_iterabledata)
{
	struct fmt_result r = fmt_read_file(&format_csv, ITERABLE "/2cols6rows.csv", NULL, NULL);

	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	check_rows(&r, "[{\"id\":\"1\",\"name\":\"John\"},{\"id\":\"2\",\"name\":\"Mary\"},"
	               "{\"id\":\"3\",\"name\":\"Michael\"},{\"id\":\"4\",\"name\":\"Anna\"},"
	               "{\"id\":\"5\",\"name\":\"Orban\"},{\"id\":\"6\",\"name\":\"Lucy\"}]");
	ck_assert_str_eq(r.columns, "[\"id\",\"name\"]");
	fmt_result_free(&r);
}
END_TEST

/* ---- parsing ----------------------------------------------------------- */

START_TEST(test_quoting)
{
	/* Doubled quotes, delimiters and line ends inside quotes. */
	expect_read(&format_csv, "a,b\n\"x,\"\"y\"\"\",\"1\r\n2\"\n", NULL,
	            "[{\"a\":\"x,\\\"y\\\"\",\"b\":\"1\\r\\n2\"}]");
	/* Lenient like Python: a quote inside an unquoted field is kept, text
	 * after a closing quote is appended. */
	expect_read(&format_csv, "a,b,c\nx\"y,\"ab\"c,\"a\"\"b\"x\"y\n", NULL,
	            "[{\"a\":\"x\\\"y\",\"b\":\"abc\",\"c\":\"a\\\"bx\\\"y\"}]");
	/* Empty fields, quoted and not; a trailing delimiter. */
	expect_read(&format_csv, "a,b,c\n,\"\",\n\"\"\"\",,\"\"\"\"\"\"\n", NULL,
	            "[{\"a\":\"\",\"b\":\"\",\"c\":\"\"},{\"a\":\"\\\"\",\"b\":\"\",\"c\":\"\\\"\\\"\"}]");
	/* Quoted header names. */
	expect_read(&format_csv, "\"a b\",\"c\"\"d\"\n1,2", NULL,
	            "[{\"a b\":\"1\",\"c\\\"d\":\"2\"}]");
	/* Longer fields take the 16-byte search path. */
	expect_read(&format_csv,
	            "k,v\n0123456789abcdefghijklmnopqrstuvwxyz,\"0123456789abcdef\"\"ghijklmnopqrstuvwxyz\"\n",
	            NULL,
	            "[{\"k\":\"0123456789abcdefghijklmnopqrstuvwxyz\","
	            "\"v\":\"0123456789abcdef\\\"ghijklmnopqrstuvwxyz\"}]");
}
END_TEST

START_TEST(test_line_ends)
{
	/* \n, \r\n and lone \r; no final line end. */
	expect_read(&format_csv, "a,b\r1,2\r\n3,4\n5,6", NULL,
	            "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"},{\"a\":\"5\",\"b\":\"6\"}]");
	expect_read(&format_csv, "a,b\r1,2\r3,4\r", NULL,
	            "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]");
	/* Blank lines anywhere are skipped. */
	expect_read(&format_csv, "\n\r\n\ra,b\n\n1,2\r\n\r\n\n3,4\n\n\r", NULL,
	            "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]");
	/* A line of one empty quoted field is a record, not a blank line. */
	expect_read(&format_csv, "a\n\"\"\n\nx\n", NULL, "[{\"a\":\"\"},{\"a\":\"x\"}]");
}
END_TEST

START_TEST(test_empty_and_header_only)
{
	struct fmt_result r = rd(&format_csv, "", NULL);

	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 0);
	ck_assert_ptr_null(r.columns);
	fmt_result_free(&r);

	r = rd(&format_csv, "\n\r\n", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 0);
	fmt_result_free(&r);

	r = rd(&format_csv, "a,b\r\n", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 0);
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]");
	fmt_result_free(&r);

	r = rd(&format_csv, "a,b", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 0);
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]");
	fmt_result_free(&r);

	/* Header-less and empty: no columns known. */
	r = rd(&format_csv, "\n", "{\"header\":false}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.nrows, 0);
	ck_assert_ptr_null(r.columns);
	fmt_result_free(&r);

	/* fieldnames still name the columns of an empty file. */
	r = rd(&format_csv, "", "{\"header\":false,\"fieldnames\":[\"x\"]}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.columns, "[\"x\"]");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_duplicate_names)
{
	/* As a Python dict: the last value, at the first name's place. */
	struct fmt_result r = rd(&format_csv, "a,b,a\n1,2,3\n", NULL);

	ck_assert_int_eq(r.rc, 0);
	check_rows(&r, "[{\"a\":\"3\",\"b\":\"2\"}]");
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_bom)
{
	expect_read(&format_csv, "\xef\xbb\xbf" "a,b\n1,2\n", NULL, "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "\xef\xbb\xbf" "a,b\n1,2\n", "{\"encoding\":\"utf-8-sig\"}",
	            "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "a,b\n1,2\n", "{\"encoding\":\"UTF-8\"}", "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "a,b\n1,2\n", "{\"encoding\":\"utf8\"}", "[{\"a\":\"1\",\"b\":\"2\"}]");
	/* Only a leading BOM is dropped. */
	expect_read(&format_csv, "a\n\xef\xbb\xbfx\n", NULL, "[{\"a\":\"\xef\xbb\xbfx\"}]");
	/* A file of just a BOM is empty. */
	expect_read(&format_csv, "\xef\xbb\xbf", NULL, "[]");
}
END_TEST

#define UTF8 "{\"encoding\":\"utf-8\"}"

START_TEST(test_utf8)
{
	struct fmt_result r;

	expect_read(&format_csv, "a,b\n\xc3\xa9t\xc3\xa9,\xe2\x82\xac \xf0\x9f\x98\x80\n", NULL,
	            "[{\"a\":\"\xc3\xa9t\xc3\xa9\",\"b\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}]");
	/* UTF-8 named: with no option, these bytes would be read as
	 * windows-1252 (tests/unit/test_charset.c). */
	r = expect_fail(&format_csv, "a,b\n1,2\nx,\xff\n", UTF8, ROWD_EFORMAT,
	                "line 3: invalid UTF-8 in field 2");
	ck_assert_int_eq(r.err.line, 3);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	fmt_result_free(&r);
	/* Overlong, surrogate, above U+10FFFF, truncated, lone continuation;
	 * and a long ASCII run before the bad byte (the 8-byte path). */
	static const char *const bad[] = {
		"a\n\xc0\xaf\n", "a\n\xe0\x80\xaf\n", "a\n\xed\xa0\x80\n", "a\n\xf4\x90\x80\x80\n",
		"a\nx\xe2\x82\n", "a\n\x80\n", "a\n\"0123456789abcdefghij\xf5\"\n", "\xfe\n1\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = rd(&format_csv, bad[i], UTF8);
		ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "case %zu accepted", i);
		ck_assert_msg(strstr(r.err.message, "invalid UTF-8"), "%s", r.err.message);
		fmt_result_free(&r);
	}
	/* The header too. */
	r = expect_fail(&format_csv, "a,\xff\n1,2\n", UTF8, ROWD_EFORMAT,
	                "line 1: invalid UTF-8 in the header");
	ck_assert_int_eq(r.err.line, 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_ragged)
{
	/* Row 3 starts on line 5: the quoted field of row 2 spans two lines. */
	struct fmt_result r = expect_fail(&format_csv, "a,b\n1,2\n\"x\ny\",2\n1,2,3\n4,5\n", NULL,
	                                  ROWD_EFORMAT, "line 5: 3 fields, header has 2");

	ck_assert_int_eq(r.err.line, 5);
	ck_assert_int_eq(r.err.row, 3);
	ck_assert_uint_eq(r.nrows, 2);
	check_rows(&r, "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"x\\ny\",\"b\":\"2\"}]");
	fmt_result_free(&r);

	/* Too few fields; blank lines and \r\n inside quotes count as lines. */
	r = expect_fail(&format_csv, "a,b\r\n\r\n\"1\r\n\r\n\",2\r\n\n3\n", NULL, ROWD_EFORMAT,
	                "line 7: 1 fields, header has 2");
	ck_assert_int_eq(r.err.line, 7);
	ck_assert_int_eq(r.err.row, 2);
	fmt_result_free(&r);

	/* Lone \r line ends count too. */
	r = expect_fail(&format_csv, "a,b\r1,2\r3\r", NULL, ROWD_EFORMAT, "line 3:");
	ck_assert_int_eq(r.err.line, 3);
	fmt_result_free(&r);

	/* With fieldnames instead of a header. */
	r = expect_fail(&format_csv, "1,2\n3\n", "{\"header\":false,\"fieldnames\":[\"a\",\"b\"]}",
	                ROWD_EFORMAT, "line 2: 1 fields, expected 2");
	ck_assert_int_eq(r.err.row, 2);
	fmt_result_free(&r);

	/* A broken reader stays broken: rows after the error are not read. */
	r = expect_fail(&format_csv, "a\n1\n2,3\n4\n", NULL, ROWD_EFORMAT, "line 3");
	ck_assert_uint_eq(r.nrows, 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_unterminated)
{
	struct fmt_result r = expect_fail(&format_csv, "a,b\n1,2\n3,\"abc\n4,5\n", NULL,
	                                  ROWD_EFORMAT, "line 3: unterminated quoted field");

	ck_assert_int_eq(r.err.line, 3);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	fmt_result_free(&r);

	r = expect_fail(&format_csv, "\"a", NULL, ROWD_EFORMAT, "line 1: unterminated");
	fmt_result_free(&r);
	/* A doubled quote at the very end is not a closing quote. */
	r = expect_fail(&format_csv, "a\n\"x\"\"", NULL, ROWD_EFORMAT, "line 2: unterminated");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_on_error_skip)
{
	struct fmt_result r = rd(&format_csv, "a,b\n1,2\n3\n4,5,6\n7,\xff\n8,9\n",
	                         "{\"on_error\":\"skip\",\"encoding\":\"utf-8\"}");

	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.skipped, 3);
	check_rows(&r, "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"8\",\"b\":\"9\"}]");
	fmt_result_free(&r);

	/* An unterminated quote is not a row that can be skipped. */
	r = rd(&format_csv, "a,b\n1,\"2\n", "{\"on_error\":\"skip\"}");
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	fmt_result_free(&r);

	expect_read(&format_csv, "a\n1\n", "{\"on_error\":\"raise\"}", "[{\"a\":\"1\"}]");
}
END_TEST

/* ---- options ----------------------------------------------------------- */

START_TEST(test_delimiters)
{
	/* Sniffing wants the same count on every line, the last one too:
	 * pipes in a one-column header do not make '|' the delimiter (found
	 * by fuzz_roundtrip); blank lines say nothing. */
	expect_read(&format_csv, "ne||||\n124\n", NULL, "[{\"ne||||\":\"124\"}]");
	expect_read(&format_csv, "a;b\n\n1;2\n\n", NULL, "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "a;b\n1;\"2;3\"\n", "{\"delimiter\":\";\"}",
	            "[{\"a\":\"1\",\"b\":\"2;3\"}]");
	expect_read(&format_tsv, "a\tb\n1,2\t\"x\ty\"\n", NULL, "[{\"a\":\"1,2\",\"b\":\"x\\ty\"}]");
	expect_read(&format_psv, "a|b\n1,2|3\n", NULL, "[{\"a\":\"1,2\",\"b\":\"3\"}]");
	expect_read(&format_tsv, "a,b\n1,2\n", "{\"delimiter\":\",\"}", "[{\"a\":\"1\",\"b\":\"2\"}]");
	/* quotechar */
	expect_read(&format_csv, "a,b\n'x,''y',\"z\"\n", "{\"quotechar\":\"'\"}",
	            "[{\"a\":\"x,'y\",\"b\":\"\\\"z\\\"\"}]");
}
END_TEST

START_TEST(test_header_fieldnames)
{
	struct fmt_result r;

	/* header=false with fieldnames: every record is data. */
	expect_read(&format_csv, "1,2\n3,4\n", "{\"header\":false,\"fieldnames\":[\"x\",\"y\"]}",
	            "[{\"x\":\"1\",\"y\":\"2\"},{\"x\":\"3\",\"y\":\"4\"}]");
	/* header=false alone: column numbers from 1. */
	r = rd(&format_csv, "\n1,2\n3,4\n", "{\"header\":false}");
	ck_assert_int_eq(r.rc, 0);
	check_rows(&r, "[{\"1\":\"1\",\"2\":\"2\"},{\"1\":\"3\",\"2\":\"4\"}]");
	ck_assert_str_eq(r.columns, "[\"1\",\"2\"]");
	fmt_result_free(&r);
	/* fieldnames replace the header's names; the header is consumed. */
	r = rd(&format_csv, "a,b\n1,2\n", "{\"fieldnames\":[\"x\",\"y\"]}");
	ck_assert_int_eq(r.rc, 0);
	check_rows(&r, "[{\"x\":\"1\",\"y\":\"2\"}]");
	ck_assert_str_eq(r.columns, "[\"x\",\"y\"]");
	fmt_result_free(&r);
	r = expect_fail(&format_csv, "a,b,c\n1,2,3\n", "{\"fieldnames\":[\"x\",\"y\"]}", ROWD_EINVAL,
	                "'fieldnames' has 2 names, the header has 3 fields");
	fmt_result_free(&r);
	r = expect_fail(&format_csv, "a\n", "{\"fieldnames\":[]}", ROWD_EINVAL, "fieldnames");
	fmt_result_free(&r);
	r = expect_fail(&format_csv, "a\n", "{\"fieldnames\":[\"a\",1]}", ROWD_EINVAL, "fieldnames");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_skip_rows)
{
	/* Preamble records (a blank line counts as one) before the header. */
	expect_read(&format_csv, "report,2024\n\n\"notes x\ny\"\na,b\n1,2\n", "{\"skip_rows\":3}",
	            "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "junk\n1,2\n", "{\"skip_rows\":1,\"header\":false}",
	            "[{\"1\":\"1\",\"2\":\"2\"}]");
	expect_read(&format_csv, "a\n", "{\"skip_rows\":5}", "[]");
	/* \r\n is one line end, in the preamble too. */
	expect_read(&format_csv, "x\r\n\r\na,b\r\n1,2\r\n", "{\"skip_rows\":2}",
	            "[{\"a\":\"1\",\"b\":\"2\"}]");
	expect_read(&format_csv, "a\n1\n", "{\"skip_rows\":0}", "[{\"a\":\"1\"}]");
	/* Lines are still counted from the top of the file. */
	struct fmt_result r = expect_fail(&format_csv, "x\ny\na,b\n1\n", "{\"skip_rows\":2}",
	                                  ROWD_EFORMAT, "line 4:");
	ck_assert_int_eq(r.err.row, 1);
	fmt_result_free(&r);
	r = expect_fail(&format_csv, "a\n", "{\"skip_rows\":-1}", ROWD_EINVAL, "skip_rows");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_types_infer)
{
	const char *csv =
		"i,n,f,e,t,b,s\n"
		"12,-3,1.5,1e3,true,false,\n"
		"0,-9223372036854775808,-0.25,2.5E-3,\"42\",\"x\"\"\",007\n"
		"9223372036854775807,9223372036854775808,0.0,1e999,+5,.5,1.\n"
		"-0,nan,inf,TRUE,-,1e,1.5x\n";

	expect_read(&format_csv, csv, "{\"types\":\"infer\"}",
	            "[{\"i\":12,\"n\":-3,\"f\":1.5,\"e\":1000.0,\"t\":true,\"b\":false,\"s\":\"\"},"
	            "{\"i\":0,\"n\":-9223372036854775808,\"f\":-0.25,\"e\":0.0025,\"t\":42,"
	            "\"b\":\"x\\\"\",\"s\":\"007\"},"
	            "{\"i\":9223372036854775807,\"n\":\"9223372036854775808\",\"f\":0.0,"
	            "\"e\":\"1e999\",\"t\":\"+5\",\"b\":\".5\",\"s\":\"1.\"},"
	            "{\"i\":\"-0\",\"n\":\"nan\",\"f\":\"inf\",\"e\":\"TRUE\",\"t\":\"-\",\"b\":\"1e\","
	            "\"s\":\"1.5x\"}]");
	/* The default keeps strings. */
	expect_read(&format_csv, "a\n12\n", "{\"types\":\"strings\"}", "[{\"a\":\"12\"}]");
	expect_read(&format_csv, "a\n12\n", NULL, "[{\"a\":\"12\"}]");
	struct fmt_result r = expect_fail(&format_csv, "a\n", "{\"types\":\"guess\"}", ROWD_EINVAL,
	                                  "types");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_bad_options)
{
	static const struct { const char *opts; enum rowd_err code; const char *msg; } cases[] = {
		{ "{\"delimter\":\";\"}", ROWD_EINVAL, "delimter" },
		{ "{\"header\":\"yes\"}", ROWD_EINVAL, "header" },
		{ "{\"delimiter\":\";;\"}", ROWD_EINVAL, "delimiter" },
		{ "{\"delimiter\":\"\"}", ROWD_EINVAL, "delimiter" },
		{ "{\"delimiter\":\"\\n\"}", ROWD_EINVAL, "delimiter" },
		{ "{\"delimiter\":44}", ROWD_EINVAL, "delimiter" },
		{ "{\"quotechar\":\"\xc3\xa9\"}", ROWD_EINVAL, "quotechar" },
		{ "{\"quotechar\":\",\"}", ROWD_EINVAL, "must differ" },
		{ "{\"skip_rows\":\"2\"}", ROWD_EINVAL, "skip_rows" },
		{ "{\"on_error\":\"ignore\"}", ROWD_EINVAL, "on_error" },
		{ "{\"encoding\":\"klingon\"}", ROWD_EINVAL, "unknown encoding 'klingon'" },
		{ "{\"encoding\":1}", ROWD_EINVAL, "encoding" },
		{ "{\"crlf\":true}", ROWD_EINVAL, "option 'crlf' applies to writing only" },
		{ "[1]", ROWD_EINVAL, "map" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fmt_result r = expect_fail(&format_csv, "a\n1\n", cases[i].opts, cases[i].code,
		                                  cases[i].msg);
		fmt_result_free(&r);
	}
}
END_TEST

/* ---- batches, windows, limits ------------------------------------------ */

/* A file with a bit of everything, bigger than one input chunk. */
static char *big_csv(size_t rows, size_t *n)
{
	struct mpbuf b;

	mpbuf_init(&b);
	ck_assert(mpbuf_append(&b, "\xef\xbb\xbfid,text,q,empty\r\n", 20) == 0);
	for (size_t i = 0; i < rows; i++) {
		char line[256];
		int m;

		switch (i % 5) {
		case 0:
			m = snprintf(line, sizeof line, "%zu,plain text %zu,\"q,%zu\",\n", i, i, i);
			break;
		case 1:
			m = snprintf(line, sizeof line,
			             "%zu,\"multi\r\nline \"\"%zu\"\"\",\"tail\"x,\"\"\r\n\n", i, i);
			break;
		case 2:
			m = snprintf(line, sizeof line, "%zu,\xc3\xa9\xe2\x82\xac%zu,a\"b,\r", i, i);
			break;
		case 3:
			m = snprintf(line, sizeof line,
			             "%zu,a much longer field to cross sixteen byte blocks %zu,\"\",x\n", i, i);
			break;
		default:
			m = snprintf(line, sizeof line, "%zu,\"\"\"\",\"\r\",\"\n\"\n", i);
			break;
		}
		ck_assert(mpbuf_append(&b, line, (size_t)m) == 0);
	}
	*n = b.len;
	ck_assert(mpbuf_append(&b, "", 1) == 0);
	return b.data;
}

START_TEST(test_batches)
{
	size_t n;
	char *csv = big_csv(40000, &n);
	struct fmt_result r1 = fmt_read_all(&format_csv, csv, n, NULL, 1000);
	static const size_t batches[] = { 1, 2, 7, 100000 };

	ck_assert_msg(r1.rc == 0, "%s", r1.err.message);
	ck_assert_uint_eq(r1.nrows, 40000);
	ck_assert(n > 3 * 256 * 1024);      /* several input windows */
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
		struct fmt_result r = fmt_read_all(&format_csv, csv, n, NULL, batches[i]);

		ck_assert_msg(r.rc == 0, "%s", r.err.message);
		ck_assert_uint_eq(r.packed_len, r1.packed_len);
		ck_assert(memcmp(r.packed, r1.packed, r.packed_len) == 0);
		fmt_result_free(&r);
	}
	/* Spot checks of the content. */
	ck_assert_ptr_nonnull(strstr(r1.jsonl,
	                             "{\"id\":\"1\",\"text\":\"multi\\r\\nline \\\"1\\\"\","
	                             "\"q\":\"tailx\",\"empty\":\"\"}\n"));
	ck_assert_ptr_nonnull(strstr(r1.jsonl,
	                             "{\"id\":\"39999\",\"text\":\"\\\"\",\"q\":\"\\r\",\"empty\":\"\\n\"}\n"));
	fmt_result_free(&r1);
	free(csv);
}
END_TEST

START_TEST(test_trickle)
{
	size_t n;
	char *csv = big_csv(500, &n);
	struct fmt_result whole = fmt_read_all(&format_csv, csv, n, NULL, 1000);
	struct fmt_result r = read_trickle(csv, n, NULL);

	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.nrows, 500);
	ck_assert_uint_eq(r.packed_len, whole.packed_len);
	ck_assert(memcmp(r.packed, whole.packed, r.packed_len) == 0);
	fmt_result_free(&r);
	fmt_result_free(&whole);
	free(csv);

	/* Errors keep their line numbers across window ends. */
	r = read_trickle("a,b\r\n1,\"x\r\ny\"\r\n\r\n2,3,4\r\n", 24, NULL);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.line, 5);
	ck_assert_int_eq(r.err.row, 2);
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_row_bytes)
{
	struct rowd_limits lim;
	struct mpbuf b;
	struct fmt_result r;

	rowd_limits_default(&lim);
	lim.row_bytes = 64;
	/* A packed row over row_bytes. */
	static const char long_row[] = "a,b\n1,2\n3,0123456789012345678901234567890123456789"
	                               "0123456789012345678901234567890123456789\n";
	r = fmt_read_all_limits(&format_csv, long_row, strlen(long_row), NULL, 1000, &lim);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ELIMIT);
	ck_assert_msg(strstr(r.err.message, "row_bytes"), "%s", r.err.message);
	ck_assert_int_eq(r.err.line, 3);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	fmt_result_free(&r);

	/* A record that does not fit the input window (row_bytes + a chunk). */
	mpbuf_init(&b);
	ck_assert(mpbuf_append(&b, "a\n1\n\"", 5) == 0);
	for (int i = 0; i < 40000; i++)
		ck_assert(mpbuf_append(&b, "0123456789", 10) == 0);
	ck_assert(mpbuf_append(&b, "\"\n", 2) == 0);
	r = fmt_read_all_limits(&format_csv, b.data, b.len, NULL, 1000, &lim);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ELIMIT);
	ck_assert_msg(strstr(r.err.message, "line 3: record exceeds the row_bytes limit"), "%s",
	              r.err.message);
	ck_assert_int_eq(r.err.line, 3);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_uint_eq(r.nrows, 1);
	fmt_result_free(&r);

	/* The same record fits the default limits. */
	r = fmt_read_all(&format_csv, b.data, b.len, NULL, 1000);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.nrows, 2);
	fmt_result_free(&r);
	mpbuf_free(&b);

	/* More header fields than the elements limit. */
	rowd_limits_default(&lim);
	lim.elements = 3;
	r = fmt_read_all_limits(&format_csv, "a,b,c,d\n", 8, NULL, 1000, &lim);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ELIMIT);
	fmt_result_free(&r);
}
END_TEST

/* ---- writer ------------------------------------------------------------ */

START_TEST(test_write_basic)
{
	expect_write(&format_csv, "{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":\"2\",\"b\":\"y\"}\n", NULL,
	             "a,b\n1,x\n2,y\n");
	/* Missing keys are empty; keys in any order. */
	expect_write(&format_csv, "{\"a\":\"1\",\"b\":\"x\"}\n{\"b\":\"y\"}\n{\"b\":\"z\",\"a\":\"3\"}\n",
	             NULL, "a,b\n1,x\n,y\n3,z\n");
	expect_write(&format_tsv, "{\"a\":\"1,2\",\"b\":\"x\\ty\"}\n", NULL, "a\tb\n1,2\t\"x\ty\"\n");
	expect_write(&format_psv, "{\"a\":\"1|2\",\"b\":\"x,y\"}\n", NULL, "a|b\n\"1|2\"|x,y\n");
	/* No rows, no fieldnames: nothing at all. */
	expect_write(&format_csv, "", NULL, "");
}
END_TEST

START_TEST(test_write_values)
{
	expect_write(&format_csv,
	             "{\"s\":\"a,b\",\"q\":\"say \\\"hi\\\"\",\"n\":\"l1\\nl2\",\"r\":\"x\\ry\","
	             "\"u\":\"\xc3\xa9\xe2\x82\xac\",\"e\":\"\",\"z\":null,\"t\":true,\"f\":false,"
	             "\"i\":-42,\"p\":18446744073709551615,\"d\":1.5,\"w\":1.0,\"x\":0.1,\"g\":1e300,"
	             "\"m\":{\"k\":[1,\"v\"]},\"sp\":\" x \"}\n",
	             NULL,
	             "s,q,n,r,u,e,z,t,f,i,p,d,w,x,g,m,sp\n"
	             "\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",\"x\ry\",\xc3\xa9\xe2\x82\xac,,,true,false,"
	             "-42,18446744073709551615,1.5,1.0,0.1,1e+300,\"{\"\"k\"\":[1,\"\"v\"\"]}\", x \n");
	/* A lone empty field is quoted so that the line is not blank. */
	expect_write(&format_csv, "{\"a\":\"\"}\n{\"a\":null}\n{\"a\":\"x\"}\n", NULL,
	             "a\n\"\"\n\"\"\nx\n");
	/* A non-map row. */
	expect_write_fail(&format_csv, "[1,2]\n", NULL, ROWD_EINVAL, "row 1: a row must be a map");
	expect_write_fail(&format_csv, "{}\n", NULL, ROWD_EINVAL, "no columns");
}
END_TEST

START_TEST(test_write_roundtrip)
{
	const char *rows =
		"{\"a\":\"x,y\",\"b\":\"\\\"q\\\"\",\"c\":\"l1\\r\\nl2\\rl3\\n\",\"d\":\"\xe2\x82\xac\",\"e\":\"\"}\n"
		"{\"a\":\"\\\"\",\"b\":\",\",\"c\":\" \",\"d\":\"\\\"\\\"\",\"e\":\"a\\\"b\"}\n";
	const char *expected =
		"[{\"a\":\"x,y\",\"b\":\"\\\"q\\\"\",\"c\":\"l1\\r\\nl2\\rl3\\n\",\"d\":\"\xe2\x82\xac\",\"e\":\"\"},"
		"{\"a\":\"\\\"\",\"b\":\",\",\"c\":\" \",\"d\":\"\\\"\\\"\",\"e\":\"a\\\"b\"}]";
	static const char *const opts[] = {
		NULL, "{\"crlf\":true}", "{\"delimiter\":\";\",\"quotechar\":\"'\"}",
	};

	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		char *out = write_ok(&format_csv, rows, opts[i]);
		const char *ropts = i == 2 ? opts[i] : NULL;
		struct fmt_result r = rd(&format_csv, out, ropts);

		ck_assert_msg(r.rc == 0, "%s", r.err.message);
		check_rows_at(&r, expected, out);
		fmt_result_free(&r);
		free(out);
	}
}
END_TEST

START_TEST(test_write_options)
{
	const char *rows = "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}\n";

	expect_write(&format_csv, rows, "{\"header\":false}", "1,2,3\n");
	expect_write(&format_csv, rows, "{\"crlf\":true}", "a,b,c\r\n1,2,3\r\n");
	expect_write(&format_csv, rows, "{\"fieldnames\":[\"c\",\"a\",\"b\",\"d\"]}",
	             "c,a,b,d\n3,1,2,\n");
	expect_write(&format_csv, rows, "{\"delimiter\":\"\\t\"}", "a\tb\tc\n1\t2\t3\n");
	expect_write(&format_csv, "{\"a\":\"x'y\",\"b\":\"\\\"\"}\n", "{\"quotechar\":\"'\"}",
	             "a,b\n'x''y',\"\n");
	expect_write(&format_csv, rows, "{\"encoding\":\"utf-8-sig\"}", "\xef\xbb\xbf" "a,b,c\n1,2,3\n");
	/* fieldnames and no rows: just the header. */
	expect_write(&format_csv, "", "{\"fieldnames\":[\"x\",\"y\"]}", "x,y\n");
	expect_write(&format_csv, "", "{\"fieldnames\":[\"x\"],\"header\":false}", "");
	/* A key that is no column. */
	expect_write_fail(&format_csv, "{\"a\":1,\"b\":2}\n{\"a\":1,\"x\":2}\n", NULL, ROWD_EINVAL,
	                  "row 2: key 'x' is not a column (columns: a, b)");
	expect_write_fail(&format_csv, rows, "{\"fieldnames\":[\"a\",\"b\"]}", ROWD_EINVAL,
	                  "row 1: key 'c' is not a column (columns: a, b)");
	expect_write_fail(&format_csv, rows, "{\"fieldnames\":[\"a\",\"a\"]}", ROWD_EINVAL, "twice");
	/* A long column list is cut short in the message. */
	{
		char opts[2048] = "{\"fieldnames\":[";
		size_t at = strlen(opts);

		for (int i = 0; i < 100; i++)
			at += (size_t)snprintf(opts + at, sizeof opts - at, "%s\"column_%d\"",
			                       i ? "," : "", i);
		snprintf(opts + at, sizeof opts - at, "]}");
		expect_write_fail(&format_csv, "{\"nope\":1}\n", opts, ROWD_EINVAL,
		                  "row 1: key 'nope' is not a column (columns: column_0, column_1,");
		expect_write_fail(&format_csv, "{\"nope\":1}\n", opts, ROWD_EINVAL, "...)");
	}
	expect_write_fail(&format_csv, rows, "{\"colour\":1}", ROWD_EINVAL, "colour");
	expect_write_fail(&format_csv, rows, "{\"skip_rows\":1}", ROWD_EINVAL,
	                  "option 'skip_rows' applies to reading only");
	expect_write_fail(&format_csv, rows, "{\"crlf\":1}", ROWD_EINVAL, "crlf");
	expect_write_fail(&format_csv, rows, "{\"encoding\":\"cp1251\"}", ROWD_ENOTSUP, "cp1251");
}
END_TEST

/* ---- registry bits ----------------------------------------------------- */

START_TEST(test_ops)
{
	ck_assert_str_eq(format_csv.name, "csv");
	ck_assert_str_eq(format_tsv.name, "tsv");
	ck_assert_str_eq(format_psv.name, "psv");
	ck_assert_str_eq(format_tsv.extensions[1], "tab");
	ck_assert_ptr_null(format_tsv.extensions[2]);
	ck_assert_int_ge(format_csv.probe("a,b\n1,2\n3,4\n", 12), 50);
	ck_assert_int_eq(format_csv.probe("{\"a\":1,\"b\":2}\n", 15), 0);
	ck_assert_int_ge(format_tsv.probe("a\tb\n1\t2\n", 8), 30);
	ck_assert_int_eq(format_tsv.probe("a,b\n1,2\n", 8), 0);
	ck_assert_int_eq(format_csv.probe("a,b\0\n", 5), 0);
}
END_TEST

static Suite *csv_suite(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("read");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_spectrum);
	tcase_add_test(tc, test_iterabledata);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_line_ends);
	tcase_add_test(tc, test_empty_and_header_only);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_bom);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_ragged);
	tcase_add_test(tc, test_unterminated);
	tcase_add_test(tc, test_on_error_skip);
	tcase_add_test(tc, test_delimiters);
	tcase_add_test(tc, test_header_fieldnames);
	tcase_add_test(tc, test_skip_rows);
	tcase_add_test(tc, test_types_infer);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_trickle);
	tcase_add_test(tc, test_row_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_write_basic);
	tcase_add_test(tc, test_write_values);
	tcase_add_test(tc, test_write_roundtrip);
	tcase_add_test(tc, test_write_options);
	tcase_add_test(tc, test_ops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(csv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
