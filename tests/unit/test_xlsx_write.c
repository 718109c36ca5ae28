/* The XLSX writer (formats/xlsx_write.c, xlsx_cell.c): workbooks written
 * into a temp directory, read back by our reader (native and strings),
 * every part checked well-formed by libxml2 and the archive by libzip and
 * Python's zipfile; cell references past Z and ZZ; escaping; Excel's
 * limits; options; refused rows; abandon. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include <libxml/parser.h>

#include "fmt_harness.h"
#include "options.h"
#include "output.h"
#include "formats/xlsx_write.h"

#define PYTHON "/usr/bin/python3"

extern const struct format_ops format_xlsx;
extern const struct codec_ops codec_none;

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/rowd-xlsxw-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes the plain files the tests made (no recursion, no symlinks
 * followed: unlink never follows one), then the directory. */
static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static char *path_of(const char *name)
{
	static char p[2][128];
	static int i;

	i ^= 1;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static void write_ok(const char *name, const char *rows, const char *opts)
{
	struct rowd_error err;

	ck_assert_msg(fmt_write_raw(&format_xlsx, dir, name, rows, opts, true, &err) == 0,
	              "writing %s: %s %s", name, rowd_err_name(err.code), err.message);
}

static void write_fails(const char *name, const char *rows, const char *opts,
                        enum rowd_err code, const char *needle)
{
	struct rowd_error err;

	ck_assert_msg(fmt_write_raw(&format_xlsx, dir, name, rows, opts, true, &err) < 0,
	              "%s: written", needle);
	ck_assert_msg(err.code == code, "%s: %s %s", needle, rowd_err_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
	ck_assert_msg(access(path_of(name), F_OK) != 0, "%s exists after a failure", name);
}

static void expect_read(const char *name, const char *opts, const char *want)
{
	struct fmt_result r = fmt_read_raw(&format_xlsx, path_of(name), opts, 7);

	ck_assert_msg(r.rc == 0, "reading %s: %s", name, r.err.message);
	ck_assert_msg(strcmp(r.jsonl, want) == 0, "%s read back:\n%s\nwant:\n%s", name, r.jsonl, want);
	fmt_result_free(&r);
}

/* Every member of the archive: libzip reads it (CRCs checked), libxml2
 * parses it (network off, no entities). Returns the sheet's XML. */
static char *check_parts(const char *name)
{
	static const char *const want[] = {
		"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
		"xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/worksheets/sheet1.xml",
	};
	int zerr = 0;
	zip_t *za = zip_open(path_of(name), ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	char *sheet = NULL;

	ck_assert_msg(za != NULL, "libzip cannot open %s (%d)", name, zerr);
	ck_assert_int_eq(zip_get_num_entries(za, 0), 6);
	for (zip_int64_t i = 0; i < 6; i++) {
		struct zip_stat st;
		zip_file_t *zf;
		char *buf;
		xmlDocPtr doc;

		ck_assert_str_eq(zip_get_name(za, (zip_uint64_t)i, 0), want[i]);
		ck_assert_int_eq(zip_stat_index(za, (zip_uint64_t)i, 0, &st), 0);
		buf = malloc(st.size + 1);
		zf = zip_fopen_index(za, (zip_uint64_t)i, 0);
		ck_assert_ptr_nonnull(buf);
		ck_assert_ptr_nonnull(zf);
		ck_assert_msg(zip_fread(zf, buf, st.size) == (zip_int64_t)st.size, "%s: short", want[i]);
		ck_assert_int_eq(zip_fclose(zf), 0);      /* the CRC */
		buf[st.size] = 0;
		doc = xmlReadMemory(buf, (int)st.size, want[i], NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
		ck_assert_msg(doc != NULL, "%s of %s is not well-formed XML:\n%.400s", want[i], name, buf);
		xmlFreeDoc(doc);
		if (i == 5)
			sheet = buf;
		else
			free(buf);
	}
	zip_close(za);
	return sheet;
}

/* Python's zipfile: every CRC, and the members are the six parts. */
static void check_python(const char *name)
{
	static const char prog[] =
		"import sys, zipfile\n"
		"z = zipfile.ZipFile(sys.argv[1])\n"
		"assert z.testzip() is None\n"
		"assert len(z.namelist()) == 6, z.namelist()\n";
	int status;
	pid_t pid;

	if (access(PYTHON, X_OK) != 0) {
		fprintf(stderr, "no %s: workbooks not checked by Python's zipfile\n", PYTHON);
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(PYTHON, "python3", "-c", prog, path_of(name), (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "zipfile refuses %s", name);
}

static const char ROWS[] =
	"{\"id\":1,\"name\":\"Ann\",\"score\":1.5,\"ok\":true,\"big\":9007199254740993,"
	"\"neg\":-9223372036854775808,\"nested\":{\"a\":[1,\"x\"]},\"none\":null}\n"
	"{\"id\":-2,\"name\":\"\",\"score\":-2.5e-300,\"ok\":false,\"big\":9007199254740992,"
	"\"neg\":-9007199254740992,\"nested\":[],\"none\":null}\n"
	"{\"id\":3,\"score\":0.1}\n";

START_TEST(test_round_trip)
{
	char *sheet;

	write_ok("rt.xlsx", ROWS, NULL);
	expect_read("rt.xlsx", "{\"types\":\"native\"}",
	            "{\"id\":1,\"name\":\"Ann\",\"score\":1.5,\"ok\":true,\"big\":\"9007199254740993\","
	            "\"neg\":\"-9223372036854775808\",\"nested\":\"{\\\"a\\\":[1,\\\"x\\\"]}\",\"none\":null}\n"
	            "{\"id\":-2,\"name\":\"\",\"score\":-2.5e-300,\"ok\":false,\"big\":9007199254740992,"
	            "\"neg\":-9007199254740992,\"nested\":\"[]\",\"none\":null}\n"
	            "{\"id\":3,\"name\":null,\"score\":0.1,\"ok\":null,\"big\":null,\"neg\":null,"
	            "\"nested\":null,\"none\":null}\n");
	/* The reader's default: every value as its text. */
	expect_read("rt.xlsx", NULL,
	            "{\"id\":\"1\",\"name\":\"Ann\",\"score\":\"1.5\",\"ok\":\"TRUE\",\"big\":\"9007199254740993\","
	            "\"neg\":\"-9223372036854775808\",\"nested\":\"{\\\"a\\\":[1,\\\"x\\\"]}\",\"none\":null}\n"
	            "{\"id\":\"-2\",\"name\":\"\",\"score\":\"-2.5e-300\",\"ok\":\"FALSE\",\"big\":\"9007199254740992\","
	            "\"neg\":\"-9007199254740992\",\"nested\":\"[]\",\"none\":null}\n"
	            "{\"id\":\"3\",\"name\":null,\"score\":\"0.1\",\"ok\":null,\"big\":null,\"neg\":null,"
	            "\"nested\":null,\"none\":null}\n");
	sheet = check_parts("rt.xlsx");
	/* Cell types as Excel writes them. */
	ck_assert_msg(strstr(sheet, "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">id</t>"),
	              "%s", sheet);
	ck_assert_msg(strstr(sheet, "<c r=\"A2\"><v>1</v></c>"), "%s", sheet);
	ck_assert_msg(strstr(sheet, "<c r=\"D2\" t=\"b\"><v>1</v></c>"), "%s", sheet);
	ck_assert_msg(strstr(sheet, "<c r=\"E2\" t=\"inlineStr\">"), "big as text: %s", sheet);
	ck_assert_msg(!strstr(sheet, "r=\"H2\""), "nil makes no cell: %s", sheet);
	free(sheet);
	check_python("rt.xlsx");

	/* nan and inf have no number cell: their text, as the text formats. */
	{
		struct rowd_limits lim;
		struct mpbuf mp;
		msgpack_unpacked up;
		size_t off = 0;
		void *st;
		struct fmt_args a = { 0 };
		struct output out;
		struct rowd_error err;
		int fd = open(path_of("nan.xlsx"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		ck_assert_int_ge(fd, 0);
		rowd_limits_default(&lim);
		mpbuf_init(&mp);
		msgpack_unpacked_init(&up);
		ck_assert_int_eq(output_open(&out, fd, &codec_none, NULL, &err), 0);
		a.fmt = &format_xlsx;
		a.out = &out;
		a.limits = &lim;
		a.fd = -1;
		ck_assert_int_eq(format_xlsx.wr_open(&a, &st, &err), 0);
		/* {"a": nan, "b": -inf, "c": 2.5f} */
		ck_assert_int_eq(mpbuf_map_hdr(&mp, 3), 0);
		mpbuf_cstr(&mp, "a");
		mpbuf_double(&mp, 0.0 / 0.0);
		mpbuf_cstr(&mp, "b");
		mpbuf_double(&mp, -1.0 / 0.0);
		mpbuf_cstr(&mp, "c");
		mpbuf_append(&mp, "\xca\x40\x20\x00\x00", 5);     /* float32 2.5 */
		ck_assert(msgpack_unpack_next(&up, mp.data, mp.len, &off) == MSGPACK_UNPACK_SUCCESS);
		ck_assert_int_eq(format_xlsx.wr_row(st, &up.data, &err), 0);
		ck_assert_int_eq(format_xlsx.wr_finish(st, &err), 0);
		ck_assert_int_eq(output_finish(&out, &err), 0);
		format_xlsx.wr_close(st);
		output_close(&out);
		close(fd);
		mpbuf_free(&mp);
		msgpack_unpacked_destroy(&up);
		expect_read("nan.xlsx", "{\"types\":\"native\"}", "{\"a\":\"nan\",\"b\":\"-inf\",\"c\":2.5}\n");
		free(check_parts("nan.xlsx"));
	}
}
END_TEST

/* Rows of n columns c0..c{n-1}, values the column numbers. */
static char *wide_rows(unsigned n, unsigned rows)
{
	size_t cap = (size_t)n * 24 * rows + 16, at = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	for (unsigned r = 0; r < rows; r++) {
		for (unsigned c = 0; c < n; c++)
			at += (size_t)snprintf(s + at, cap - at, "%s\"c%u\":%u", c ? "," : "{", c, c + r);
		at += (size_t)snprintf(s + at, cap - at, "}\n");
	}
	return s;
}

START_TEST(test_wide)
{
	char *rows = wide_rows(30, 2), *sheet;
	struct fmt_result r;

	write_ok("w30.xlsx", rows, NULL);
	expect_read("w30.xlsx", "{\"types\":\"native\"}", rows);
	sheet = check_parts("w30.xlsx");
	ck_assert_msg(strstr(sheet, "<c r=\"Z2\"><v>25</v></c><c r=\"AA2\"><v>26</v></c>"), "%s", sheet);
	ck_assert_msg(strstr(sheet, "<c r=\"AD3\"><v>30</v></c></row>"), "%s", sheet);
	free(sheet);
	free(rows);

	/* Past ZZ (column 702) into three letters. */
	rows = wide_rows(800, 1);
	write_ok("w800.xlsx", rows, NULL);
	r = fmt_read_raw(&format_xlsx, path_of("w800.xlsx"), "{\"types\":\"native\"}", 1);
	ck_assert_msg(r.rc == 0 && strcmp(r.jsonl, rows) == 0, "800 columns: %s", r.err.message);
	fmt_result_free(&r);
	r = fmt_read_raw(&format_xlsx, path_of("w800.xlsx"), "{\"types\":\"native\",\"header\":false}", 1);
	ck_assert_msg(r.rc == 0 && strstr(r.jsonl, "\"ZZ\":\"c701\",\"AAA\":\"c702\""), "%s", r.jsonl);
	ck_assert_msg(strstr(r.jsonl, "\"ADT\":\"c799\"}"), "last column");
	fmt_result_free(&r);
	sheet = check_parts("w800.xlsx");
	ck_assert_msg(strstr(sheet, "<c r=\"ZZ2\"><v>701</v></c><c r=\"AAA2\"><v>702</v></c>"), "ZZ/AAA");
	free(sheet);
	free(rows);
}
END_TEST

START_TEST(test_escaping)
{
	/* JSON escapes: controls, CR, tab, newline; "_x0041_" is literal
	 * text, U+FFFF no XML character, U+1F600 a surrogate pair. */
	static const char rows[] =
		"{\"a&b<c>\\\"d'\":\"&<>\\\"' ]]> &amp; é 日本語 \\ud83d\\ude00\","
		"\"ctl\":\"x\\u0001y\\u001fz\\r\\n\\tw \",\"lit\":\"_x0041_ _x00zz_ __x0041__ \\uffff\\ufffe\"}\n";
	char *sheet;

	/* As the harness prints them back: UTF-8 as it is. */
	static const char back[] =
		"{\"a&b<c>\\\"d'\":\"&<>\\\"' ]]> &amp; é 日本語 \xf0\x9f\x98\x80\","
		"\"ctl\":\"x\\u0001y\\u001fz\\r\\n\\tw \",\"lit\":\"_x0041_ _x00zz_ __x0041__ \xef\xbf\xbf\xef\xbf\xbe\"}\n";

	write_ok("esc.xlsx", rows, "{\"sheet\":\"Q&A <\\\"1\\\"> é\"}");
	expect_read("esc.xlsx", "{\"types\":\"native\"}", back);
	expect_read("esc.xlsx", "{\"sheet\":\"Q&A <\\\"1\\\"> é\"}", back);
	sheet = check_parts("esc.xlsx");
	ck_assert_msg(strstr(sheet, "x_x0001_y_x001F_z_x000D_\n\tw </t>"), "%s", sheet);
	ck_assert_msg(strstr(sheet, "_x005F_x0041_ _x00zz_ __x005F_x0041__ _xFFFF__xFFFE_"), "%s", sheet);
	ck_assert_msg(strstr(sheet, "&amp;&lt;&gt;\"' ]]&gt; &amp;amp;"), "%s", sheet);
	free(sheet);
	check_python("esc.xlsx");
	{
		struct rowd_error err;
		char *t = fmt_tables_raw(&format_xlsx, path_of("esc.xlsx"), NULL, &err);

		ck_assert_msg(t && strcmp(t, "[\"Q&A <\\\"1\\\"> é\"]") == 0, "tables: %s", t ? t : err.message);
		free(t);
	}
}
END_TEST

START_TEST(test_header_and_columns)
{
	/* fieldnames: order and columns; a missing key is an empty cell. */
	write_ok("fn.xlsx", "{\"b\":1,\"a\":\"x\"}\n{\"a\":\"y\"}\n", "{\"fieldnames\":[\"a\",\"b\",\"c\"]}");
	expect_read("fn.xlsx", "{\"types\":\"native\"}",
	            "{\"a\":\"x\",\"b\":1,\"c\":null}\n{\"a\":\"y\",\"b\":null,\"c\":null}\n");
	/* No rows: the header alone; none at all without columns. */
	write_ok("hdr.xlsx", "", "{\"fieldnames\":[\"p\",\"q\"]}");
	{
		struct fmt_result r = fmt_read_raw(&format_xlsx, path_of("hdr.xlsx"), NULL, 10);

		ck_assert_msg(r.rc == 0 && r.nrows == 0 && r.columns && strcmp(r.columns, "[\"p\",\"q\"]") == 0,
		              "header only: %s", r.columns ? r.columns : r.err.message);
		fmt_result_free(&r);
	}
	write_ok("none.xlsx", "", NULL);
	expect_read("none.xlsx", NULL, "");
	free(check_parts("none.xlsx"));
	/* header false: the rows alone, read back by column letters. */
	write_ok("nh.xlsx", "{\"k\":\"v\",\"n\":2}\n", "{\"header\":false,\"sheet\":\"Data\"}");
	expect_read("nh.xlsx", "{\"header\":false,\"types\":\"native\",\"sheet\":\"Data\"}",
	            "{\"A\":\"v\",\"B\":2}\n");
	/* The first row's keys, a repeated key once. */
	write_ok("dup.xlsx", "{\"x\":1,\"y\":2}\n{\"y\":3}\n", NULL);
	expect_read("dup.xlsx", "{\"types\":\"native\"}", "{\"x\":1,\"y\":2}\n{\"x\":null,\"y\":3}\n");
}
END_TEST

START_TEST(test_bad_options)
{
	static const struct {
		const char *opts, *needle;
	} bad[] = {
		{ "{\"delimiter\":\",\"}", "delimiter" },
		{ "{\"types\":\"native\"}", "'types' applies to reading only" },
		{ "{\"sheet\":1}", "sheet" },
		{ "{\"sheet\":\"\"}", "cannot be empty" },
		{ "{\"sheet\":\"abcdefghijklmnopqrstuvwxyz123456\"}", "31 characters" },
		{ "{\"sheet\":\"a/b\"}", "forbids" },
		{ "{\"sheet\":\"[x]\"}", "forbids" },
		{ "{\"sheet\":\"a:b\"}", "forbids" },
		{ "{\"sheet\":\"a*?\"}", "forbids" },
		{ "{\"sheet\":\"a\\\\b\"}", "forbids" },
		{ "{\"sheet\":\"tab\\there\"}", "forbids" },
		{ "{\"sheet\":\"'quoted'\"}", "apostrophe" },
		{ "{\"sheet\":\"history\"}", "reserved" },
		{ "{\"header\":\"yes\"}", "header" },
		{ "{\"fieldnames\":[]}", "must not be empty" },
		{ "{\"fieldnames\":[\"a\",\"b\",\"a\"]}", "names 'a' twice" },
		{ "{\"fieldnames\":\"a\"}", "fieldnames" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		write_fails("opt.xlsx", "{\"a\":1}\n", bad[i].opts, ROWD_EINVAL, bad[i].needle);
	/* 31 characters (é is one), and apostrophes inside, are fine. */
	write_ok("ok.xlsx", "{\"a\":1}\n", "{\"sheet\":\"éé'cdefghijklmnopqrstuvwxyz1234\"}");
	expect_read("ok.xlsx", "{\"sheet\":\"éé'cdefghijklmnopqrstuvwxyz1234\",\"types\":\"native\"}",
	            "{\"a\":1}\n");
}
END_TEST

/* ---- the hooks driven directly: refused rows, bin, limits --------------- */

struct drv {
	struct rowd_limits lim;
	struct output out;
	struct mpbuf optraw, row;
	msgpack_unpacked optup, up;
	void *st;
	int fd;
	struct rowd_error err;
};

static void drv_open(struct drv *d, const char *name, const char *opts_json)
{
	struct fmt_args a = { 0 };
	size_t off = 0;

	memset(d, 0, sizeof *d);
	rowd_limits_default(&d->lim);
	d->lim.row_bytes = 64u << 20;
	mpbuf_init(&d->optraw);
	mpbuf_init(&d->row);
	msgpack_unpacked_init(&d->optup);
	msgpack_unpacked_init(&d->up);
	d->fd = open(path_of(name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(d->fd, 0);
	ck_assert_int_eq(output_open(&d->out, d->fd, &codec_none, NULL, &d->err), 0);
	a.fmt = &format_xlsx;
	a.out = &d->out;
	a.limits = &d->lim;
	a.fd = -1;
	if (opts_json) {
		ck_assert_int_eq(proto_json_to_msgpack(opts_json, strlen(opts_json), &d->lim, &d->optraw,
		                                       &d->err), 0);
		ck_assert(msgpack_unpack_next(&d->optup, d->optraw.data, d->optraw.len, &off) ==
		          MSGPACK_UNPACK_SUCCESS);
		a.options = &d->optup.data;
	}
	ck_assert_msg(format_xlsx.wr_open(&a, &d->st, &d->err) == 0, "wr_open: %s", d->err.message);
}

/* Writes the packed row in d->row. No ck_assert here: each one costs
 * Check a write to its message file, and the row limit test writes a
 * million rows. */
static int drv_packed(struct drv *d)
{
	size_t off = 0;

	if (msgpack_unpack_next(&d->up, d->row.data, d->row.len, &off) != MSGPACK_UNPACK_SUCCESS)
		ck_abort_msg("cannot unpack the test row");
	rowd_error_clear(&d->err);
	return format_xlsx.wr_row(d->st, &d->up.data, &d->err) < 0 ? -1 :
	       output_flush_if_full(&d->out, &d->err);
}

static int drv_row(struct drv *d, const char *json)
{
	d->row.len = 0;
	if (proto_json_to_msgpack(json, strlen(json), &d->lim, &d->row, &d->err) < 0)
		ck_abort_msg("bad test row: %s", d->err.message);
	return drv_packed(d);
}

static void drv_fail(struct drv *d, int rc, enum rowd_err code, const char *needle)
{
	ck_assert_msg(rc < 0, "%s: accepted", needle);
	ck_assert_msg(d->err.code == code && strstr(d->err.message, needle), "%s: %s %s", needle,
	              rowd_err_name(d->err.code), d->err.message);
}

static void drv_close(struct drv *d, bool finish)
{
	if (finish) {
		ck_assert_msg(format_xlsx.wr_finish(d->st, &d->err) == 0, "finish: %s", d->err.message);
		ck_assert_int_eq(output_finish(&d->out, &d->err), 0);
	}
	format_xlsx.wr_close(d->st);
	output_close(&d->out);
	close(d->fd);
	mpbuf_free(&d->optraw);
	mpbuf_free(&d->row);
	msgpack_unpacked_destroy(&d->optup);
	msgpack_unpacked_destroy(&d->up);
}

START_TEST(test_refused_rows)
{
	struct drv d;
	char *big;

	drv_open(&d, "ref.xlsx", NULL);
	ck_assert_int_eq(drv_row(&d, "{\"a\":1,\"b\":\"x\"}"), 0);
	drv_fail(&d, drv_row(&d, "{\"a\":2,\"zz\":3}"), ROWD_EINVAL, "row 2: key 'zz' is not a column");
	drv_fail(&d, drv_row(&d, "[1,2]"), ROWD_EINVAL, "row 3: a row must be a map");
	/* bin: no cell holds bytes. */
	d.row.len = 0;
	mpbuf_map_hdr(&d.row, 2);
	mpbuf_cstr(&d.row, "a");
	mpbuf_int(&d.row, 9);
	mpbuf_cstr(&d.row, "b");
	mpbuf_append(&d.row, "\xc4\x02\x00\x01", 4);
	drv_fail(&d, drv_packed(&d), ROWD_EINVAL, "row 4, key 'b': binary values");
	/* Text that is not UTF-8. */
	d.row.len = 0;
	mpbuf_map_hdr(&d.row, 1);
	mpbuf_cstr(&d.row, "b");
	mpbuf_str(&d.row, "\xff\xfe", 2);
	drv_fail(&d, drv_packed(&d), ROWD_EINVAL, "row 5, key 'b': text is not valid UTF-8");
	/* 32767 characters fit a cell, 32768 do not; U+1F600 counts two. */
	big = malloc(4 * 32768 + 64);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "{\"b\":\"");
	memset(big + 6, 'x', 32767);
	strcpy(big + 6 + 32767, "\"}");
	ck_assert_msg(drv_row(&d, big) == 0, "32767: %s", d.err.message);
	strcpy(big + 6 + 32767, "y\"}");
	drv_fail(&d, drv_row(&d, big), ROWD_EINVAL, "row 7, key 'b': text is longer than Excel's 32767");
	strcpy(big, "{\"b\":\"");
	for (int i = 0; i < 16384; i++)
		memcpy(big + 6 + 4 * i, "\xf0\x9f\x98\x80", 4);
	strcpy(big + 6 + 4 * 16384, "\"}");
	drv_fail(&d, drv_row(&d, big), ROWD_EINVAL, "32767 characters");
	free(big);
	ck_assert_int_eq(drv_row(&d, "{\"b\":\"last\",\"a\":3}"), 0);
	drv_close(&d, true);
	/* Only the accepted rows, nothing of the refused ones. */
	{
		struct fmt_result r = fmt_read_raw(&format_xlsx, path_of("ref.xlsx"), "{\"types\":\"native\"}", 10);

		ck_assert_msg(r.rc == 0 && r.nrows == 3, "%s", r.err.message);
		ck_assert_msg(strncmp(r.jsonl, "{\"a\":1,\"b\":\"x\"}\n{\"a\":null,\"b\":\"xxx", 34) == 0, "%.60s", r.jsonl);
		ck_assert_msg(strstr(r.jsonl, "\n{\"a\":3,\"b\":\"last\"}\n"), "last row");
		fmt_result_free(&r);
	}
	free(check_parts("ref.xlsx"));
}
END_TEST

START_TEST(test_column_limit)
{
	struct drv d;
	char *rows = wide_rows(16385, 1), *opts;
	size_t at;

	/* The first row's keys. */
	drv_open(&d, "cols-direct.xlsx", NULL);
	drv_fail(&d, drv_row(&d, rows), ROWD_ELIMIT, "16385 columns, over Excel's limit of 16384");
	drv_close(&d, false);
	/* fieldnames. */
	opts = malloc(16385 * 12 + 32);
	ck_assert_ptr_nonnull(opts);
	at = (size_t)sprintf(opts, "{\"fieldnames\":[");
	for (unsigned c = 0; c < 16385; c++)
		at += (size_t)sprintf(opts + at, "%s\"c%u\"", c ? "," : "", c);
	strcpy(opts + at, "]}");
	write_fails("cols.xlsx", "{\"c0\":1}\n", opts, ROWD_ELIMIT, "Excel's limit of 16384");
	free(opts);
	free(rows);
	/* 16384 columns: the last is XFD. */
	rows = wide_rows(16384, 1);
	write_ok("xfd.xlsx", rows, NULL);
	{
		struct fmt_result r = fmt_read_raw(&format_xlsx, path_of("xfd.xlsx"), "{\"types\":\"native\"}", 1);

		ck_assert_msg(r.rc == 0 && strcmp(r.jsonl, rows) == 0, "16384 columns: %s", r.err.message);
		fmt_result_free(&r);
	}
	free(rows);
}
END_TEST

START_TEST(test_row_limit)
{
	struct drv d;
	int rc = 0;

	/* The header and 1048575 rows fill the sheet. */
	drv_open(&d, "rows.xlsx", NULL);
	for (unsigned i = 0; i < XLSX_MAX_ROWS - 1 && rc == 0; i++)
		rc = drv_row(&d, "{\"a\":1}");
	ck_assert_msg(rc == 0, "%s", d.err.message);
	drv_fail(&d, drv_row(&d, "{\"a\":1}"), ROWD_ELIMIT, "row 1048576: a sheet holds at most 1048576 rows");
	drv_close(&d, true);
	{
		struct fmt_result r = fmt_read_raw(&format_xlsx, path_of("rows.xlsx"), NULL, 100000);

		ck_assert_msg(r.rc == 0 && r.nrows == XLSX_MAX_ROWS - 1, "%zu rows: %s", r.nrows, r.err.message);
		fmt_result_free(&r);
	}
	/* Without the header, 1048576 rows. */
	drv_open(&d, "rows.xlsx", "{\"header\":false}");
	for (unsigned i = 0; i < XLSX_MAX_ROWS && rc == 0; i++)
		rc = drv_row(&d, "{\"a\":1}");
	ck_assert_msg(rc == 0, "%s", d.err.message);
	drv_fail(&d, drv_row(&d, "{\"a\":1}"), ROWD_ELIMIT, "at most 1048576 rows");
	drv_close(&d, false);
}
END_TEST

START_TEST(test_abandon)
{
	struct rowd_error err;
	DIR *d;
	struct dirent *e;
	int n = 0;

	ck_assert_int_eq(fmt_write_raw(&format_xlsx, dir, "gone.xlsx", ROWS, NULL, false, &err), 0);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	ck_assert_msg(n == 0, "%d files left after an abandoned write", n);
	/* The target, when there was one, stays as it was. */
	write_ok("keep.xlsx", "{\"a\":1}\n", NULL);
	ck_assert_int_eq(fmt_write_raw(&format_xlsx, dir, "keep.xlsx", ROWS, NULL, false, &err), 0);
	expect_read("keep.xlsx", NULL, "{\"a\":\"1\"}\n");
}
END_TEST

/* A written workbook damaged where the reader never looks (the local
 * header of [Content_Types].xml) is refused, not read. */
START_TEST(test_damaged)
{
	struct fmt_result r;
	size_t n;
	char *x;
	FILE *f;

	write_ok("dmg.xlsx", ROWS, NULL);
	x = fmt_slurp(path_of("dmg.xlsx"), &n);
	ck_assert_ptr_nonnull(x);
	x[0] ^= 0xff;
	f = fopen(path_of("dmg.xlsx"), "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(x, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	free(x);
	r = fmt_read_raw(&format_xlsx, path_of("dmg.xlsx"), NULL, 10);
	ck_assert_msg(r.rc < 0 && r.err.code == ROWD_EFORMAT && r.nrows == 0, "read: %s", r.jsonl);
	fmt_result_free(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("xlsx_write");
	TCase *tc = tcase_create("writer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_wide);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_header_and_columns);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_refused_rows);
	tcase_add_test(tc, test_abandon);
	tcase_add_test(tc, test_damaged);
	suite_add_tcase(s, tc);
	/* Excel's sheet size: millions of cells. */
	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_column_limit);
	tcase_add_test(tc, test_row_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
