/* Unit tests of encoding detection (daemon/charset.c) and the conversion
 * to UTF-8 between codec and format (daemon/transcode.c), through the
 * text format readers. */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "fmt_harness.h"

extern const struct format_ops format_csv, format_ltsv, format_fwf, format_jsonl;

#define RU_CSV "id,name,city\n1,Привет мир,Москва\n2,Ёлка зелёная,Санкт-Петербург\n"
#define RU_ROWS \
	"{\"id\":\"1\",\"name\":\"Привет мир\",\"city\":\"Москва\"}\n" \
	"{\"id\":\"2\",\"name\":\"Ёлка зелёная\",\"city\":\"Санкт-Петербург\"}\n"

/* UTF-8 text in another encoding (malloc'd; *n set). */
static char *encode(const char *utf8, const char *to, size_t *n)
{
	iconv_t cd = iconv_open(to, "UTF-8");
	size_t inleft = strlen(utf8), cap = inleft * 4 + 16, outleft = cap;
	char *out = malloc(cap), *op = out, *ip = (char *)utf8;

	ck_assert(cd != (iconv_t)-1);
	ck_assert(out != NULL);
	ck_assert(iconv(cd, &ip, &inleft, &op, &outleft) != (size_t)-1);
	iconv_close(cd);
	*n = cap - outleft;
	return out;
}

static void check_rows(const struct format_ops *f, const void *data, size_t n,
                       const char *options, const char *want)
{
	struct fmt_result r = fmt_read_all(f, data, n, options, 1000);

	ck_assert_msg(r.rc == 0, "read failed: %s", r.err.message);
	ck_assert_str_eq(r.jsonl, want);
	fmt_result_free(&r);
}

START_TEST(test_detect_names)
{
	static const struct { const char *to, *want; } cases[] = {
		{ "WINDOWS-1251", "windows-1251" }, { "KOI8-R", "koi8-r" },
		{ "IBM866", "ibm866" }, { "UTF-16", "utf-16le" }, { "UTF-16BE", "utf-16be" },
		{ "UTF-16LE", "utf-16le" }, { "UTF-8", "utf-8" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n;
		char *b = encode(RU_CSV, cases[i].to, &n);

		ck_assert_str_eq(charset_detect((unsigned char *)b, n, false), cases[i].want);
		free(b);
	}
	ck_assert_str_eq(charset_detect((const unsigned char *)"\xef\xbb\xbfx,y\n", 7, false),
	                 "utf-8-sig");
	ck_assert_str_eq(charset_detect((const unsigned char *)"plain ascii\n", 12, false), "utf-8");
	/* One NUL in a value (found by fuzz_roundtrip) keeps UTF-8 text UTF-8. */
	ck_assert_str_eq(charset_detect((const unsigned char *)"a,b\n2,o\0\n\xc3\xa9,x\n", 15, false),
	                 "utf-8");
	/* A UTF-8 sequence cut by the end of a head is still UTF-8. */
	ck_assert_str_eq(charset_detect((const unsigned char *)"caf\xc3", 4, true), "utf-8");
	ck_assert_str_eq(charset_detect((const unsigned char *)"caf\xc3", 4, false), "windows-1252");
}
END_TEST

START_TEST(test_western_text)
{
	size_t n;
	char *b = encode("id,name\n1,café Müller\n2,naïve façade\n", "WINDOWS-1252", &n);

	ck_assert_str_eq(charset_detect((unsigned char *)b, n, false), "windows-1252");
	check_rows(&format_csv, b, n, NULL,
	           "{\"id\":\"1\",\"name\":\"café Müller\"}\n{\"id\":\"2\",\"name\":\"naïve façade\"}\n");
	free(b);
	/* 0x81 is not in windows-1252: ISO-8859-1 takes every byte. */
	ck_assert_str_eq(charset_detect((const unsigned char *)"a,b\n\x81,\xe9\n", 8, false),
	                 "iso-8859-1");
}
END_TEST

/* The issue's case: a windows-1251 CSV reads right with no option, as do
 * the other Cyrillic code pages and UTF-16 with or without a BOM. */
START_TEST(test_csv_reads_without_option)
{
	static const char *const encodings[] = {
		"WINDOWS-1251", "KOI8-R", "IBM866", "UTF-16", "UTF-16LE", "UTF-16BE",
	};

	for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
		size_t n;
		char *b = encode(RU_CSV, encodings[i], &n);

		check_rows(&format_csv, b, n, NULL, RU_ROWS);
		free(b);
	}
}
END_TEST

START_TEST(test_explicit_option)
{
	size_t n;
	char *b = encode(RU_CSV, "WINDOWS-1251", &n);
	struct fmt_result r;

	check_rows(&format_csv, b, n, "{\"encoding\":\"cp1251\"}", RU_ROWS);
	free(b);
	/* Python's spellings of the names work too. */
	b = encode(RU_CSV, "KOI8-R", &n);
	check_rows(&format_csv, b, n, "{\"encoding\":\"koi8_r\"}", RU_ROWS);
	free(b);
	check_rows(&format_csv, "a\n\xe9\n", 4, "{\"encoding\":\"latin-1\"}", "{\"a\":\"é\"}\n");
	check_rows(&format_csv, "a\n\xe9\n", 4, "{\"encoding\":\"Latin_1\"}", "{\"a\":\"é\"}\n");
	b = encode(RU_CSV, "WINDOWS-1251", &n);
	/* The option wins over detection, even when it is a poor choice. */
	r = fmt_read_all(&format_csv, b, n, "{\"encoding\":\"koi8-r\"}", 1000);
	ck_assert_int_eq(r.rc, 0);
	ck_assert(strstr(r.jsonl, "Москва") == NULL);
	fmt_result_free(&r);
	/* utf-8 asks for no conversion: these bytes are then invalid. */
	r = fmt_read_all(&format_csv, b, n, "{\"encoding\":\"utf-8\"}", 1000);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	fmt_result_free(&r);
	free(b);
}
END_TEST

START_TEST(test_bad_encodings)
{
	struct fmt_result r = fmt_read_all(&format_csv, "a\n1\n", 4, "{\"encoding\":\"klingon-8\"}", 10);

	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(r.err.message, "klingon-8") && strstr(r.err.message, "encoding"),
	              "%s", r.err.message);
	fmt_result_free(&r);

	/* UTF-16 with a dangling last byte: a truncated character, with its
	 * offset, after the rows before it. */
	r = fmt_read_all(&format_csv, "a\0\n\0001\0\n\0x", 9, "{\"encoding\":\"utf-16le\"}", 10);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	ck_assert_int_eq(r.err.offset, 8);
	ck_assert_msg(strstr(r.err.message, "utf-16le"), "%s", r.err.message);
	fmt_result_free(&r);

	/* A writer writes UTF-8 and says so rather than ignore the option. */
	{
		struct rowd_error err;
		size_t n;
		char *out = fmt_write_all(&format_csv, "{\"a\":\"1\"}\n", "{\"encoding\":\"cp1251\"}",
		                          &n, &err);

		ck_assert(out == NULL);
		ck_assert_int_eq(err.code, ROWD_ENOTSUP);
	}
}
END_TEST

/* Past the conversion stage's size: characters split across reads, and
 * the row count exact. */
START_TEST(test_large_input)
{
	const size_t rows = 40000;
	size_t len = 0, n;
	char *text = malloc(rows * 64 + 32), *b;
	struct fmt_result r;

	ck_assert(text != NULL);
	len += (size_t)sprintf(text, "n,word\n");
	for (size_t i = 0; i < rows; i++)
		len += (size_t)sprintf(text + len, "%zu,съешь ещё этих мягких булок %zu\n", i, i);
	b = encode(text, "WINDOWS-1251", &n);
	ck_assert_uint_gt(n, 1024 * 1024);
	r = fmt_read_all(&format_csv, b, n, NULL, 997);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.nrows, rows);
	ck_assert(strstr(r.jsonl, "{\"n\":\"39999\",\"word\":\"съешь ещё этих мягких булок 39999\"}"));
	fmt_result_free(&r);
	free(b);
	free(text);
}
END_TEST

START_TEST(test_line_formats)
{
	size_t n;
	char *b = encode("id:1\tname:Ёж\nid:2\tname:Щука\n", "WINDOWS-1251", &n);

	check_rows(&format_ltsv, b, n, NULL,
	           "{\"id\":\"1\",\"name\":\"Ёж\"}\n{\"id\":\"2\",\"name\":\"Щука\"}\n");
	free(b);
	b = encode("1  Ёжик    \n2  Щука    \n", "KOI8-R", &n);
	check_rows(&format_fwf, b, n, "{\"widths\":[3,8],\"names\":[\"id\",\"name\"]}",
	           "{\"id\":\"1\",\"name\":\"Ёжик\"}\n{\"id\":\"2\",\"name\":\"Щука\"}\n");
	free(b);
}
END_TEST

/* JSON is UTF-8 by its RFC: another encoding stays refused. */
START_TEST(test_jsonl_stays_utf8)
{
	struct fmt_result r = fmt_read_all(&format_jsonl, "{}\n", 3, "{\"encoding\":\"cp1251\"}", 10);

	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ENOTSUP);
	fmt_result_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("charset");
	TCase *tc = tcase_create("charset");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_detect_names);
	tcase_add_test(tc, test_western_text);
	tcase_add_test(tc, test_csv_reads_without_option);
	tcase_add_test(tc, test_explicit_option);
	tcase_add_test(tc, test_bad_encodings);
	tcase_add_test(tc, test_large_input);
	tcase_add_test(tc, test_line_formats);
	tcase_add_test(tc, test_jsonl_stays_utf8);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
