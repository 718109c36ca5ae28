/* Unit tests of the spreadsheet readers: XLS (daemon/formats/xls.c, the
 * conformance fixture) and XLSX (daemon/formats/xlsx*.c: the fixture and
 * workbooks built here in memory with libzip), and their shared pieces
 * (sheet.c, sheet_value.c). Files live in memfds: nothing touches the
 * disk. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt_harness.h"
#include "formats/sheet.h"

#ifdef ROWD_WITH_XLSX
#include <zip.h>
extern const struct format_ops format_xlsx;
#endif
#ifdef ROWD_WITH_XLS
extern const struct format_ops format_xls;
#endif

#define ITERABLE TOP_SRCDIR "/tests/data/conformance/iterabledata"

/* ---- shared pieces ---------------------------------------------------- */

START_TEST(test_format_kinds)
{
	ck_assert_int_eq(sheet_builtin_kind(0), SHEET_NUMBER);
	ck_assert_int_eq(sheet_builtin_kind(14), SHEET_DATE);
	ck_assert_int_eq(sheet_builtin_kind(20), SHEET_TIME);
	ck_assert_int_eq(sheet_builtin_kind(22), SHEET_DATETIME);
	ck_assert_int_eq(sheet_builtin_kind(46), SHEET_TIME);
	ck_assert_int_eq(sheet_builtin_kind(49), SHEET_NUMBER);
#define KIND(s) sheet_format_kind(s, strlen(s))
	ck_assert_int_eq(KIND("yyyy-mm-dd"), SHEET_DATE);
	ck_assert_int_eq(KIND("mmm yy"), SHEET_DATE);
	ck_assert_int_eq(KIND("hh:mm"), SHEET_TIME);
	ck_assert_int_eq(KIND("[h]:mm:ss"), SHEET_TIME);
	ck_assert_int_eq(KIND("dd/mm/yyyy hh:mm:ss"), SHEET_DATETIME);
	ck_assert_int_eq(KIND("[$-409]d-mmm-yy;@"), SHEET_DATE);
	ck_assert_int_eq(KIND("0.00\" days\""), SHEET_NUMBER);
	ck_assert_int_eq(KIND("#,##0.00 \\d"), SHEET_NUMBER);
	ck_assert_int_eq(KIND("[Red]#,##0;[Blue]-#,##0"), SHEET_NUMBER);
	ck_assert_int_eq(KIND("General"), SHEET_NUMBER);
	ck_assert_int_eq(KIND("0.00E+00"), SHEET_NUMBER);
	ck_assert_int_eq(KIND("_(* #,##0_)"), SHEET_NUMBER);
#undef KIND
}
END_TEST

START_TEST(test_serials)
{
	char s[40];

#define ISO(v, d1904, kind, want)                                                 \
	do {                                                                      \
		size_t n_ = sheet_serial_iso(v, d1904, kind, s);                  \
		ck_assert_msg(n_ == strlen(want) && memcmp(s, want, n_) == 0,     \
		              "%g -> '%.*s', want '%s'", (double)(v), (int)n_, s, want); \
	} while (0)
	ISO(1, false, SHEET_DATE, "1900-01-01");
	ISO(59, false, SHEET_DATE, "1900-02-28");
	ISO(60, false, SHEET_DATE, "1900-02-29");     /* Excel's own */
	ISO(61, false, SHEET_DATE, "1900-03-01");
	ISO(45322, false, SHEET_DATE, "2024-01-31");
	ISO(45322.5729166667, false, SHEET_DATETIME, "2024-01-31T13:45:00");
	ISO(0.75, false, SHEET_TIME, "18:00:00");
	ISO(0.5000057870, false, SHEET_TIME, "12:00:00.500");
	ISO(1.25, false, SHEET_TIME, "1900-01-01T06:00:00");
	ISO(0, true, SHEET_DATE, "1904-01-01");
	ISO(43860, true, SHEET_DATE, "2024-01-31");
	ISO(2958465, false, SHEET_DATE, "9999-12-31");
#undef ISO
	ck_assert_uint_eq(sheet_serial_iso(-1, false, SHEET_DATE, s), 0);
	ck_assert_uint_eq(sheet_serial_iso(2958466, false, SHEET_DATE, s), 0);
	ck_assert_uint_eq(sheet_serial_iso(1.0 / 0.0, false, SHEET_DATE, s), 0);
}
END_TEST

START_TEST(test_refs)
{
	char name[4];
	uint32_t col, row;

	ck_assert_uint_eq(sheet_col_name(0, name), 1);
	ck_assert_int_eq(name[0], 'A');
	ck_assert_uint_eq(sheet_col_name(27, name), 2);
	ck_assert(memcmp(name, "AB", 2) == 0);
	ck_assert_uint_eq(sheet_col_name(16383, name), 3);
	ck_assert(memcmp(name, "XFD", 3) == 0);
	ck_assert_int_eq(sheet_parse_ref("B7", &col, &row), 0);
	ck_assert_uint_eq(col, 1);
	ck_assert_uint_eq(row, 7);
	ck_assert_int_eq(sheet_parse_ref("xfd1048576", &col, &row), 0);
	ck_assert_uint_eq(col, 16383);
	ck_assert_int_eq(sheet_parse_ref("XFE1", &col, &row), -1);
	ck_assert_int_eq(sheet_parse_ref("AAAA1", &col, &row), -1);
	ck_assert_int_eq(sheet_parse_ref("7", &col, &row), -1);
	ck_assert_int_eq(sheet_parse_ref("A1x", &col, &row), -1);
}
END_TEST

/* ---- helpers ------------------------------------------------------------ */

static struct fmt_result rd_bytes(const struct format_ops *f, const void *p, size_t n,
                                  const char *opts)
{
	return fmt_read_all(f, p, n, opts, 2);
}

static void expect_rows(struct fmt_result *r, const char *want, const char *what)
{
	ck_assert_msg(r->rc == 0, "%s: %s %s", what, rowd_err_name(r->err.code), r->err.message);
	ck_assert_msg(strcmp(r->jsonl, want) == 0, "%s:\n got  %s\n want %s", what, r->jsonl, want);
}

static void expect_error(struct fmt_result *r, enum rowd_err code, const char *part,
                         const char *what)
{
	ck_assert_msg(r->rc == -1, "%s: no error, rows %s", what, r->jsonl);
	ck_assert_msg(r->err.code == code, "%s: %s %s", what, rowd_err_name(r->err.code), r->err.message);
	ck_assert_msg(!part || strstr(r->err.message, part), "%s: message '%s' lacks '%s'", what,
	              r->err.message, part);
}

/* The tables hook over bytes (through a memfd's /proc path). */
static char *tables_of(const struct format_ops *f, const void *p, size_t n, struct rowd_error *err)
{
	int fd = memfd_create("sheet", 0);
	char path[40];
	char *t;

	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, p, n) == (ssize_t)n);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	t = fmt_tables_raw(f, path, NULL, err);
	close(fd);
	return t;
}

/* ---- XLS ---------------------------------------------------------------- */
#ifdef ROWD_WITH_XLS

static const char NUMERIC[] =
	"{\"id\":1,\"name\":\"John\"}\n{\"id\":2,\"name\":\"Mary\"}\n{\"id\":3,\"name\":\"Michael\"}\n"
	"{\"id\":4,\"name\":\"Anna\"}\n{\"id\":5,\"name\":\"Orban\"}\n{\"id\":6,\"name\":\"Lucy\"}\n";

START_TEST(test_xls_fixture)
{
	struct fmt_result r = fmt_read_raw(&format_xls, ITERABLE "/2cols6rows.xls", NULL, 4);

	expect_rows(&r, NUMERIC, "2cols6rows.xls");
	ck_assert_uint_eq(r.nrows, 6);
	ck_assert_str_eq(r.columns, "[\"id\",\"name\"]");
	fmt_result_free(&r);

	r = fmt_read_raw(&format_xls, ITERABLE "/2cols6rows.xls", "{\"types\":\"strings\",\"sheet\":0}", 1);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_msg(strncmp(r.jsonl, "{\"id\":\"1\",\"name\":\"John\"}\n", 25) == 0, "%s", r.jsonl);
	fmt_result_free(&r);

	r = fmt_read_raw(&format_xls, ITERABLE "/2cols6rows.xls", "{\"header\":false,\"sheet\":\"Лист1\"}", 100);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_uint_eq(r.nrows, 7);
	ck_assert_str_eq(r.jsonl, "{\"A\":\"id\",\"B\":\"name\"}\n{\"A\":1,\"B\":\"John\"}\n"
	                 "{\"A\":2,\"B\":\"Mary\"}\n{\"A\":3,\"B\":\"Michael\"}\n{\"A\":4,\"B\":\"Anna\"}\n"
	                 "{\"A\":5,\"B\":\"Orban\"}\n{\"A\":6,\"B\":\"Lucy\"}\n");
	ck_assert_str_eq(r.columns, "[\"A\",\"B\"]");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xls_tables_and_options)
{
	struct rowd_error err;
	size_t n;
	char *x = fmt_slurp(ITERABLE "/2cols6rows.xls", &n), *t;
	struct fmt_result r;

	ck_assert_ptr_nonnull(x);
	t = tables_of(&format_xls, x, n, &err);
	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"Лист1\"]");
	free(t);

	r = rd_bytes(&format_xls, x, n, "{\"sheet\":\"Sheet9\"}");
	expect_error(&r, ROWD_EINVAL, "no sheet 'Sheet9' in the workbook (sheets: 'Лист1')", "bad name");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, x, n, "{\"sheet\":3}");
	expect_error(&r, ROWD_EINVAL, "index 3 is out of range", "bad index");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, x, n, "{\"sheet\":-1}");
	expect_error(&r, ROWD_EINVAL, "option 'sheet'", "negative index");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, x, n, "{\"tagname\":\"x\"}");
	expect_error(&r, ROWD_EINVAL, "unknown option 'tagname'", "unknown option");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, x, n, "{\"types\":\"infer\"}");
	expect_error(&r, ROWD_EINVAL, "option 'types'", "bad types");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, x, n, "{\"header\":1}");
	expect_error(&r, ROWD_EINVAL, "option 'header'", "bad header");
	fmt_result_free(&r);
	ck_assert_ptr_null(format_xls.wr_open);
	free(x);
}
END_TEST

START_TEST(test_xls_corrupt)
{
	static const char garbage[] = "this is not a workbook at all, just text that goes on\n";
	struct rowd_limits lim;
	struct rowd_error err;
	size_t n;
	char *x = fmt_slurp(ITERABLE "/2cols6rows.xls", &n), *t;
	struct fmt_result r;

	r = rd_bytes(&format_xls, garbage, sizeof garbage - 1, NULL);
	expect_error(&r, ROWD_EFORMAT, "xls:", "garbage");
	fmt_result_free(&r);
	r = rd_bytes(&format_xls, "", 0, NULL);
	expect_error(&r, ROWD_EFORMAT, "xls:", "empty file");
	fmt_result_free(&r);
	/* Cut at several places: refused or read, never a crash. */
	for (size_t cut = 512; cut < n; cut += 1536) {
		r = rd_bytes(&format_xls, x, cut, NULL);
		ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "cut at %zu: %d %s", cut, r.rc,
		              r.err.message);
		fmt_result_free(&r);
	}
	/* The OLE2 header with its sectors scrambled. */
	for (size_t i = 600; i < n; i += 97)
		x[i] = (char)(x[i] * 31 + 7);
	r = rd_bytes(&format_xls, x, n, NULL);
	ck_assert_msg(r.rc == 0 || r.err.code == ROWD_EFORMAT, "%s", r.err.message);
	fmt_result_free(&r);
	t = tables_of(&format_xls, garbage, sizeof garbage - 1, &err);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	free(x);

	/* FreeXL would hold 14 cells: over a budget of 64 x 3 bytes. */
	rowd_limits_default(&lim);
	lim.row_bytes = 3;
	x = fmt_slurp(ITERABLE "/2cols6rows.xls", &n);
	r = fmt_read_all_limits(&format_xls, x, n, NULL, 10, &lim);
	expect_error(&r, ROWD_ELIMIT, "row_bytes", "cells over the budget");
	fmt_result_free(&r);
	free(x);
}
END_TEST

#endif

/* ---- XLSX --------------------------------------------------------------- */
#ifdef ROWD_WITH_XLSX

struct part {
	const char *name, *xml;
};

/* A zip of the parts, in memory (malloc'd, *n set). */
static char *zip_parts(const struct part *parts, size_t nparts, size_t *n)
{
	zip_error_t zerr;
	zip_source_t *src;
	zip_stat_t st;
	zip_t *za;
	char *buf;

	zip_error_init(&zerr);
	src = zip_source_buffer_create(NULL, 0, 0, &zerr);
	ck_assert_ptr_nonnull(src);
	za = zip_open_from_source(src, ZIP_TRUNCATE, &zerr);
	ck_assert_ptr_nonnull(za);
	zip_source_keep(src);
	for (size_t i = 0; i < nparts; i++) {
		zip_source_t *s = zip_source_buffer(za, parts[i].xml, strlen(parts[i].xml), 0);

		ck_assert_ptr_nonnull(s);
		ck_assert_int_ge(zip_file_add(za, parts[i].name, s, ZIP_FL_ENC_UTF_8), 0);
	}
	ck_assert_int_eq(zip_close(za), 0);
	ck_assert_int_eq(zip_source_stat(src, &st), 0);
	ck_assert_int_eq(zip_source_open(src), 0);
	buf = malloc(st.size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(zip_source_read(src, buf, st.size), (zip_int64_t)st.size);
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&zerr);
	*n = st.size;
	return buf;
}

#define NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
	"xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""
#define RELS_NS "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\""
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

/* A workbook of one or two sheets; sst and styles may be NULL. */
static char *workbook(const char *wbpr, const char *sst, const char *styles, const char *name1,
                      const char *sheet1, const char *name2, const char *sheet2, size_t *n)
{
	static char wb[1024], rels[1024];
	struct part parts[8];
	size_t k = 0;

	snprintf(wb, sizeof wb,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<workbook " NS ">%s<sheets>"
	         "<sheet name=\"%s\" sheetId=\"1\" r:id=\"rId1\"/>%s%s%s</sheets></workbook>",
	         wbpr ? wbpr : "", name1, name2 ? "<sheet name=\"" : "", name2 ? name2 : "",
	         name2 ? "\" sheetId=\"2\" r:id=\"rId2\"/>" : "");
	snprintf(rels, sizeof rels,
	         "<?xml version=\"1.0\"?>\n<Relationships " RELS_NS ">"
	         "<Relationship Id=\"rId1\" Type=\"" REL_T "worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	         "<Relationship Id=\"rId2\" Type=\"" REL_T "worksheet\" Target=\"/xl/worksheets/sheet2.xml\"/>"
	         "<Relationship Id=\"rId3\" Type=\"" REL_T "sharedStrings\" Target=\"sharedStrings.xml\"/>"
	         "<Relationship Id=\"rId4\" Type=\"" REL_T "styles\" Target=\"./styles.xml\"/>"
	         "<Relationship Id=\"rId9\" Type=\"" REL_T "hyperlink\" Target=\"http://x/\" TargetMode=\"External\"/>"
	         "</Relationships>");
	parts[k++] = (struct part){ "_rels/.rels",
		"<?xml version=\"1.0\"?>\n<Relationships " RELS_NS "><Relationship Id=\"rId1\" Type=\""
		REL_T "officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>" };
	parts[k++] = (struct part){ "xl/workbook.xml", wb };
	parts[k++] = (struct part){ "xl/_rels/workbook.xml.rels", rels };
	parts[k++] = (struct part){ "xl/worksheets/sheet1.xml", sheet1 };
	if (sheet2)
		parts[k++] = (struct part){ "xl/worksheets/sheet2.xml", sheet2 };
	if (sst)
		parts[k++] = (struct part){ "xl/sharedStrings.xml", sst };
	if (styles)
		parts[k++] = (struct part){ "xl/styles.xml", styles };
	return zip_parts(parts, k, n);
}

#define SHEET_OPEN "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<worksheet " NS "><sheetData>"
#define SHEET_CLOSE "</sheetData></worksheet>"
#define SHEET(rows) SHEET_OPEN rows SHEET_CLOSE

/* Appends text and keeps the buffer NUL-terminated. */
static void append(struct mpbuf *b, const char *s)
{
	ck_assert_int_eq(mpbuf_reserve(b, strlen(s) + 1), 0);
	memcpy(b->data + b->len, s, strlen(s) + 1);
	b->len += strlen(s);
}

/* Reads a one-sheet workbook. */
static struct fmt_result rd_sheet(const char *sst, const char *styles, const char *wbpr,
                                  const char *sheet, const char *opts)
{
	size_t n;
	char *x = workbook(wbpr, sst, styles, "S", sheet, NULL, NULL, &n);
	struct fmt_result r = rd_bytes(&format_xlsx, x, n, opts);

	free(x);
	return r;
}

static const char SIX[] =
	"{\"id\":\"1\",\"name\":\"John\"}\n{\"id\":\"2\",\"name\":\"Mary\"}\n"
	"{\"id\":\"3\",\"name\":\"Michael\"}\n{\"id\":\"4\",\"name\":\"Anna\"}\n"
	"{\"id\":\"5\",\"name\":\"Orban\"}\n{\"id\":\"6\",\"name\":\"Lucy\"}\n";

START_TEST(test_xlsx_fixture)
{
	struct rowd_error err;
	struct fmt_result r = fmt_read_raw(&format_xlsx, ITERABLE "/2cols6rows.xlsx", NULL, 4);
	size_t n;
	char *x, *t;

	/* Strings by default, as the iterator library reads it. */
	expect_rows(&r, SIX, "2cols6rows.xlsx");
	ck_assert_str_eq(r.columns, "[\"id\",\"name\"]");
	fmt_result_free(&r);
	r = fmt_read_raw(&format_xlsx, ITERABLE "/2cols6rows.xlsx", "{\"types\":\"native\"}", 1);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_msg(strncmp(r.jsonl, "{\"id\":1,\"name\":\"John\"}\n{\"id\":2,", 31) == 0, "%s", r.jsonl);
	ck_assert_uint_eq(r.nrows, 6);
	fmt_result_free(&r);

	x = fmt_slurp(ITERABLE "/2cols6rows.xlsx", &n);
	t = tables_of(&format_xlsx, x, n, &err);
	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"Лист1\"]");
	free(t);
	free(x);
	/* Written by xlsx_write.c: tests/unit/test_xlsx_write.c. */
	ck_assert_ptr_nonnull(format_xlsx.wr_open);
}
END_TEST

START_TEST(test_xlsx_strings_and_types)
{
	static const char sst[] =
		"<?xml version=\"1.0\"?>\n<sst " NS " count=\"4\" uniqueCount=\"4\">"
		"<si><t>key</t></si><si><t>val</t></si>"
		"<si><r><rPr><b/></rPr><t>rich</t></r><r><t xml:space=\"preserve\"> text</t></r>"
		"<rPh sb=\"0\" eb=\"1\"><t>PHONETIC</t></rPh></si>"
		"<si><t>line_x000D_break _x005F_x0041_ &amp; &#x263A;</t></si><si/></sst>";
	struct fmt_result r = rd_sheet(sst, NULL, NULL,
		SHEET("<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c></row>"
		      "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>2</v></c><c r=\"B2\" t=\"s\"><v>3</v></c></row>"
		      "<row r=\"3\"><c r=\"A3\" t=\"inlineStr\"><is><r><t>in</t></r><r><t>line</t></r>"
		      "<rPh><t>x</t></rPh></is></c><c r=\"B3\" t=\"b\"><v>1</v></c></row>"
		      "<row r=\"4\"><c r=\"A4\" t=\"e\"><v>#DIV/0!</v></c><c r=\"B4\" t=\"b\"><v>0</v></c></row>"
		      "<row r=\"5\"><c r=\"A5\" t=\"str\"><f>A1&amp;\"x\"</f><v>keyx</v></c>"
		      "<c r=\"B5\"><v>1.5</v></c></row>"
		      "<row r=\"6\"><c r=\"A6\"><v>-42</v></c><c r=\"B6\"><v>1E+20</v></c></row>"
		      "<row r=\"7\"><c r=\"A7\"><v>0.1</v></c><c r=\"B7\" t=\"s\"><v>4</v></c></row>"
		      "<row r=\"8\"><c r=\"A8\" t=\"d\"><v>2024-01-31T10:00:00</v></c>"
		      "<c r=\"B8\" t=\"n\"><v> 7 </v></c></row>"),
		"{\"types\":\"native\"}");

	expect_rows(&r,
		"{\"key\":\"rich text\",\"val\":\"line\\rbreak _x0041_ & \xe2\x98\xba\"}\n"
		"{\"key\":\"inline\",\"val\":true}\n"
		"{\"key\":\"#DIV/0!\",\"val\":false}\n"
		"{\"key\":\"keyx\",\"val\":1.5}\n"
		"{\"key\":-42,\"val\":1e+20}\n"
		"{\"key\":0.1,\"val\":\"\"}\n"
		"{\"key\":\"2024-01-31T10:00:00\",\"val\":7}\n", "native");
	fmt_result_free(&r);

	r = rd_sheet(sst, NULL, NULL,
		SHEET("<row><c t=\"s\"><v>0</v></c><c t=\"s\"><v>1</v></c></row>"
		      "<row><c t=\"b\"><v>1</v></c><c><v>1.5</v></c></row>"
		      "<row><c><v>-42</v></c><c><v>1E+20</v></c></row>"
		      "<row><c><v>0.1</v></c><c><v>100000000000000000000000</v></c></row>"),
		NULL);
	expect_rows(&r,
		"{\"key\":\"TRUE\",\"val\":\"1.5\"}\n"
		"{\"key\":\"-42\",\"val\":\"1e+20\"}\n"
		"{\"key\":\"0.1\",\"val\":\"1e+23\"}\n", "strings, no references");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xlsx_dates)
{
	static const char styles[] =
		"<?xml version=\"1.0\"?>\n<styleSheet " NS ">"
		"<numFmts count=\"2\"><numFmt numFmtId=\"164\" formatCode=\"yyyy\\-mm\\-dd\\ hh:mm\"/>"
		"<numFmt numFmtId=\"165\" formatCode=\"0.0&quot; days&quot;\"/></numFmts>"
		"<cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>"
		"<cellXfs count=\"6\"><xf numFmtId=\"0\"/><xf numFmtId=\"14\"/><xf numFmtId=\"164\"/>"
		"<xf numFmtId=\"21\"/><xf numFmtId=\"165\"/><xf/></cellXfs></styleSheet>";
	static const char rows[] =
		SHEET("<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>d</t></is></c>"
		      "<c r=\"B1\" t=\"inlineStr\"><is><t>dt</t></is></c>"
		      "<c r=\"C1\" t=\"inlineStr\"><is><t>t</t></is></c>"
		      "<c r=\"D1\" t=\"inlineStr\"><is><t>n</t></is></c>"
		      "<c r=\"E1\" t=\"inlineStr\"><is><t>plain</t></is></c></row>"
		      "<row r=\"2\"><c r=\"A2\" s=\"1\"><v>45322</v></c><c r=\"B2\" s=\"2\"><v>45322.75</v></c>"
		      "<c r=\"C2\" s=\"3\"><v>0.5</v></c><c r=\"D2\" s=\"4\"><v>2.5</v></c>"
		      "<c r=\"E2\" s=\"5\"><v>45322</v></c></row>"
		      "<row r=\"3\"><c r=\"A3\" s=\"1\"><v>-5</v></c><c r=\"B3\" s=\"99\"><v>3</v></c></row>");
	struct fmt_result r = rd_sheet(NULL, styles, NULL, rows, "{\"types\":\"native\"}");

	expect_rows(&r,
		"{\"d\":\"2024-01-31\",\"dt\":\"2024-01-31T18:00:00\",\"t\":\"12:00:00\",\"n\":2.5,\"plain\":45322}\n"
		"{\"d\":-5,\"dt\":3,\"t\":null,\"n\":null,\"plain\":null}\n", "1900");
	fmt_result_free(&r);
	r = rd_sheet(NULL, styles, "<workbookPr date1904=\"1\"/>", rows, NULL);
	expect_rows(&r,
		"{\"d\":\"2028-02-01\",\"dt\":\"2028-02-01T18:00:00\",\"t\":\"12:00:00\",\"n\":\"2.5\",\"plain\":\"45322\"}\n"
		"{\"d\":\"-5\",\"dt\":\"3\",\"t\":null,\"n\":null,\"plain\":null}\n", "1904");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xlsx_sparse_and_headers)
{
	struct fmt_result r = rd_sheet(NULL, NULL, NULL,
		SHEET("<row r=\"2\"/>"
		      "<row r=\"3\"><c r=\"B3\" t=\"inlineStr\"><is><t>a</t></is></c>"
		      "<c r=\"D3\" t=\"inlineStr\"><is><t>b</t></is></c>"
		      "<c r=\"E3\" t=\"inlineStr\"><is><t>a</t></is></c></row>"
		      "<row r=\"4\"><c r=\"B4\"><v>1</v></c><c r=\"E4\"><v>2</v></c><c r=\"G4\"><v>3</v></c></row>"
		      "<row r=\"5\"><c r=\"A5\" s=\"0\"/><c r=\"B5\"><v></v></c></row>"
		      "<row r=\"9\"><c r=\"C9\"><v>4</v></c><c r=\"D9\"><v>5</v></c></row>"),
		"{\"types\":\"native\"}");

	/* Blank rows left out; empty header cells (A, C) are named by their
	 * letters; "a" twice is one key (the rightmost value); G has no
	 * header: its letters once a value comes. */
	expect_rows(&r,
		"{\"A\":null,\"a\":2,\"C\":null,\"b\":null,\"G\":3}\n"
		"{\"A\":null,\"a\":null,\"C\":4,\"b\":5,\"G\":null}\n", "sparse");
	ck_assert_str_eq(r.columns, "[\"A\",\"a\",\"C\",\"b\",\"G\"]");
	fmt_result_free(&r);

	r = rd_sheet(NULL, NULL, NULL,
		"<worksheet " NS "><dimension ref=\"A1:C3\"/><sheetData>"
		"<row r=\"1\"><c r=\"B1\"><v>1</v></c></row>"
		"<row r=\"3\"><c r=\"A3\"><v>2</v></c><c r=\"D3\"><v>3</v></c></row>"
		"</sheetData></worksheet>", "{\"header\":false,\"types\":\"native\"}");
	expect_rows(&r,
		"{\"A\":null,\"B\":1,\"C\":null}\n"
		"{\"A\":2,\"B\":null,\"C\":null,\"D\":3}\n", "no header");
	fmt_result_free(&r);

	/* Header only, and an empty sheet. */
	r = rd_sheet(NULL, NULL, NULL, SHEET("<row><c t=\"inlineStr\"><is><t>x</t></is></c></row>"), NULL);
	expect_rows(&r, "", "header only");
	ck_assert_str_eq(r.columns, "[\"x\"]");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, "<worksheet " NS "><sheetData/></worksheet>", NULL);
	expect_rows(&r, "", "empty");
	ck_assert_ptr_null(r.columns);
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xlsx_two_sheets)
{
	static const char s1[] = SHEET("<row><c t=\"inlineStr\"><is><t>k</t></is></c></row>"
	                               "<row><c><v>1</v></c></row>");
	static const char s2[] = SHEET("<row><c t=\"inlineStr\"><is><t>k</t></is></c></row>"
	                               "<row><c><v>2</v></c></row><row><c><v>3</v></c></row>");
	struct rowd_error err;
	size_t n;
	char *x = workbook(NULL, NULL, NULL, "First", s1, "Zweite &amp; letzte", s2, &n), *t;
	struct fmt_result r;

	t = tables_of(&format_xlsx, x, n, &err);
	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"First\",\"Zweite & letzte\"]");
	free(t);
	r = rd_bytes(&format_xlsx, x, n, NULL);
	expect_rows(&r, "{\"k\":\"1\"}\n", "default: the first");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheet\":\"Zweite & letzte\"}");
	expect_rows(&r, "{\"k\":\"2\"}\n{\"k\":\"3\"}\n", "by name");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheet\":1}");
	expect_rows(&r, "{\"k\":\"2\"}\n{\"k\":\"3\"}\n", "by index");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheet\":\"zweite\"}");
	expect_error(&r, ROWD_EINVAL, "no sheet 'zweite' in the workbook (sheets: 'First', 'Zweite & letzte')",
	             "bad name");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheet\":2}");
	expect_error(&r, ROWD_EINVAL, "index 2 is out of range: the workbook has 2 sheets", "bad index");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheets\":1}");
	expect_error(&r, ROWD_EINVAL, "unknown option 'sheets'", "unknown option");
	fmt_result_free(&r);
	free(x);
}
END_TEST

START_TEST(test_xlsx_bad_cells)
{
	static const char sst[] = "<sst " NS "><si><t>only</t></si></sst>";
	struct fmt_result r;

	r = rd_sheet(sst, NULL, NULL,
		SHEET("<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>\n"
		      "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>0</v></c></row>\n"
		      "<row r=\"3\"><c r=\"A3\" t=\"s\"><v>7</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "line 4: sheet row 3, cell A3: the shared string index is past", "sst index");
	ck_assert_int_eq(r.err.row, 3);
	ck_assert_int_eq(r.err.line, 4);
	ck_assert_uint_eq(r.nrows, 1);          /* rows before the error stay */
	fmt_result_free(&r);

	r = rd_sheet(NULL, NULL, NULL, SHEET("<row r=\"1\"><c r=\"A1\"><v>x</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "cell A1: the value is not a number", "not a number");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, SHEET("<row r=\"1\"><c r=\"A1\"><v>nan</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "not a number", "nan");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, SHEET("<row r=\"1\"><c r=\"A1\" t=\"b\"><v>2</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "boolean", "bad bool");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, SHEET("<row r=\"1\"><c r=\"A1\" t=\"zz\"><v>2</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "unknown cell type", "bad type");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, SHEET("<row r=\"1\"><c r=\"XFE1\"><v>2</v></c></row>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "bad cell reference 'XFE1'", "past XFD");
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, SHEET("<c r=\"A1\"><v>2</v></c>"), NULL);
	expect_error(&r, ROWD_EFORMAT, "a cell outside a row", "cell outside a row");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xlsx_bad_xml)
{
	static const char dtd[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE worksheet [<!ENTITY e \"boom\">]>\n"
		"<worksheet " NS "><sheetData><row r=\"1\"><c r=\"A1\" t=\"str\"><v>&e;</v></c></row>"
		"</sheetData></worksheet>";
	static const char laughs[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE w [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
		"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]>\n"
		"<worksheet " NS "><sheetData><row r=\"1\"><c r=\"A1\" t=\"str\"><v>&e;&e;&e;</v></c></row>"
		"</sheetData></worksheet>";
	struct fmt_result r;

	r = rd_sheet(NULL, NULL, NULL,
		"<?xml version=\"1.0\"?>\n<worksheet " NS "><sheetData>\n"
		"<row r=\"1\"><c r=\"A1\"><v>1</v></c></row>\n"
		"<row r=\"2\"><c r=\"A2\"><v>2</v></c></row>\n"
		"<row r=\"3\"><c r=\"A3\"><v>3</v></row>\n"
		"</sheetData></worksheet>", "{\"header\":false}");
	expect_error(&r, ROWD_EFORMAT, "xl/worksheets/sheet1.xml line 5:", "mismatched tag");
	ck_assert_int_eq(r.err.line, 5);
	/* The parser reads ahead: the error may come before any row. */
	ck_assert_int_ne(r.err.row, 0);
	fmt_result_free(&r);

	r = rd_sheet(NULL, NULL, NULL, dtd, NULL);
	ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "entity: %s", r.jsonl);
	ck_assert_msg(!strstr(r.jsonl, "boom"), "entity expanded: %s", r.jsonl);
	fmt_result_free(&r);
	r = rd_sheet(NULL, NULL, NULL, laughs, NULL);
	ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "laughs: %s", r.jsonl);
	fmt_result_free(&r);

	r = rd_sheet(NULL, NULL, NULL, "not xml at all", NULL);
	expect_error(&r, ROWD_EFORMAT, "sheet1.xml", "not XML");
	fmt_result_free(&r);
	r = rd_sheet("<sst " NS "><si><t>x</si></sst>", NULL, NULL, SHEET(""), NULL);
	expect_error(&r, ROWD_EFORMAT, "xl/sharedStrings.xml line 1:", "bad shared strings");
	fmt_result_free(&r);
}
END_TEST

START_TEST(test_xlsx_bad_archives)
{
	static const char garbage[] = "PK\3\4 but then nothing of a zip archive at all, not even close";
	static const struct part no_wb[] = { { "hello.txt", "hello" } };
	static const struct part no_sheet[] = {
		{ "xl/workbook.xml", "<workbook " NS "><sheets><sheet name=\"A\" r:id=\"rId1\"/>"
		                     "<sheet name=\"B\" r:id=\"rId7\"/></sheets></workbook>" },
		{ "xl/_rels/workbook.xml.rels", "<Relationships " RELS_NS "><Relationship Id=\"rId1\" "
		  "Type=\"" REL_T "worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>" },
	};
	struct rowd_error err;
	size_t n, fx;
	char *x, *fixture = fmt_slurp(ITERABLE "/2cols6rows.xlsx", &fx), *t;
	struct fmt_result r;

	r = rd_bytes(&format_xlsx, garbage, sizeof garbage - 1, NULL);
	expect_error(&r, ROWD_EFORMAT, "not an XLSX workbook: the zip archive cannot be read", "garbage");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, "", 0, NULL);
	expect_error(&r, ROWD_EFORMAT, "not an XLSX workbook", "empty");
	fmt_result_free(&r);
	/* Truncated anywhere: the central directory is at the end. */
	for (size_t cut = 1; cut < fx; cut = cut * 3 + 1) {
		r = rd_bytes(&format_xlsx, fixture, cut, NULL);
		expect_error(&r, ROWD_EFORMAT, "xlsx", "truncated");
		fmt_result_free(&r);
	}
	/* A damaged sheet (bytes inside its deflated data): the zip's CRC
	 * or inflate catches it. */
	x = memmem(fixture, fx, "xl/worksheets/sheet1.xml", 24);
	ck_assert_ptr_nonnull(x);
	for (size_t i = 64; i < 128; i++)
		x[i] ^= 0x55;
	r = rd_bytes(&format_xlsx, fixture, fx, NULL);
	expect_error(&r, ROWD_EFORMAT, "xlsx", "damaged member");
	fmt_result_free(&r);

	x = zip_parts(no_wb, 1, &n);
	r = rd_bytes(&format_xlsx, x, n, NULL);
	expect_error(&r, ROWD_EFORMAT, "not an XLSX workbook: the archive has no xl/workbook.xml part",
	             "no workbook");
	fmt_result_free(&r);
	t = tables_of(&format_xlsx, x, n, &err);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	free(x);

	x = zip_parts(no_sheet, 2, &n);
	r = rd_bytes(&format_xlsx, x, n, NULL);
	expect_error(&r, ROWD_EFORMAT, "sheet 'A': the archive has no part xl/worksheets/sheet1.xml",
	             "no sheet part");
	fmt_result_free(&r);
	r = rd_bytes(&format_xlsx, x, n, "{\"sheet\":\"B\"}");
	expect_error(&r, ROWD_EFORMAT, "sheet 'B' has no part", "no sheet relationship");
	fmt_result_free(&r);
	t = tables_of(&format_xlsx, x, n, &err);
	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"A\",\"B\"]");
	free(t);
	free(x);
	free(fixture);
}
END_TEST

START_TEST(test_xlsx_limits)
{
	struct rowd_limits lim;
	struct mpbuf sst, rows;
	size_t n;
	char *x;
	struct fmt_result r;

	rowd_limits_default(&lim);
	lim.row_bytes = 256;        /* tables and parts: 16 KiB */
	mpbuf_init(&sst);
	mpbuf_init(&rows);
	append(&sst, "<sst " NS ">");
	for (int i = 0; i < 600; i++) {
		char si[64];

		snprintf(si, sizeof si, "<si><t>string number %d</t></si>", i);
		append(&sst, si);
	}
	append(&sst, "</sst>");
	x = workbook(NULL, sst.data, NULL, "S", SHEET(""), NULL, NULL, &n);
	r = fmt_read_all_limits(&format_xlsx, x, n, NULL, 10, &lim);
	expect_error(&r, ROWD_ELIMIT, "row_bytes", "shared strings over the budget");
	fmt_result_free(&r);
	free(x);

	/* A row over row_bytes. */
	append(&rows, SHEET_OPEN "<row>");
	for (int i = 0; i < 100; i++)
		append(&rows, "<c t=\"inlineStr\"><is><t>abcdefgh</t></is></c>");
	append(&rows, "</row>" SHEET_CLOSE);
	x = workbook(NULL, NULL, NULL, "S", rows.data, NULL, NULL, &n);
	r = fmt_read_all_limits(&format_xlsx, x, n, "{\"header\":false}", 10, &lim);
	expect_error(&r, ROWD_ELIMIT, "sheet row 1 is larger than the row_bytes limit (256)", "row over");
	ck_assert_int_eq(r.err.row, 1);
	fmt_result_free(&r);
	free(x);

	/* A text over str_bytes. */
	lim.row_bytes = 4096;
	lim.str_bytes = 8;
	x = workbook(NULL, NULL, NULL, "S", SHEET("<row><c t=\"inlineStr\"><is><t>0123456789</t></is></c></row>"),
	             NULL, NULL, &n);
	r = fmt_read_all_limits(&format_xlsx, x, n, NULL, 10, &lim);
	expect_error(&r, ROWD_ELIMIT, "str_bytes", "text over");
	fmt_result_free(&r);
	free(x);
	mpbuf_free(&sst);
	mpbuf_free(&rows);
}
END_TEST

/* Many rows read in small batches give every row once, in order. */
START_TEST(test_xlsx_many_rows)
{
	struct mpbuf s, want;
	size_t n;
	char *x;
	struct fmt_result r;

	mpbuf_init(&s);
	mpbuf_init(&want);
	append(&s, SHEET_OPEN "<row><c t=\"inlineStr\"><is><t>n</t></is></c></row>");
	for (int i = 0; i < 5000; i++) {
		char row[96];

		snprintf(row, sizeof row, "<row r=\"%d\"><c r=\"A%d\"><v>%d</v></c></row>", i + 2, i + 2, i);
		append(&s, row);
		snprintf(row, sizeof row, "{\"n\":%d}\n", i);
		append(&want, row);
	}
	append(&s, SHEET_CLOSE);
	x = workbook(NULL, NULL, NULL, "S", s.data, NULL, NULL, &n);
	r = fmt_read_all(&format_xlsx, x, n, "{\"types\":\"native\"}", 7);
	expect_rows(&r, want.data, "5000 rows");
	ck_assert_uint_eq(r.nrows, 5000);
	fmt_result_free(&r);
	free(x);
	mpbuf_free(&s);
	mpbuf_free(&want);
}
END_TEST

#endif

int main(void)
{
	Suite *s = suite_create("sheets");
	TCase *tc = tcase_create("shared");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_format_kinds);
	tcase_add_test(tc, test_serials);
	tcase_add_test(tc, test_refs);
	suite_add_tcase(s, tc);
#ifdef ROWD_WITH_XLS
	tc = tcase_create("xls");
	tcase_add_test(tc, test_xls_fixture);
	tcase_add_test(tc, test_xls_tables_and_options);
	tcase_add_test(tc, test_xls_corrupt);
	suite_add_tcase(s, tc);
#endif
#ifdef ROWD_WITH_XLSX
	tc = tcase_create("xlsx");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_xlsx_fixture);
	tcase_add_test(tc, test_xlsx_strings_and_types);
	tcase_add_test(tc, test_xlsx_dates);
	tcase_add_test(tc, test_xlsx_sparse_and_headers);
	tcase_add_test(tc, test_xlsx_two_sheets);
	tcase_add_test(tc, test_xlsx_bad_cells);
	tcase_add_test(tc, test_xlsx_bad_xml);
	tcase_add_test(tc, test_xlsx_bad_archives);
	tcase_add_test(tc, test_xlsx_limits);
	tcase_add_test(tc, test_xlsx_many_rows);
	suite_add_tcase(s, tc);
#endif
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
