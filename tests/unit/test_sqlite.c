/* Unit tests of the SQLite format (daemon/formats/sqlite.c): databases
 * made with the sqlite3 C API in a temp dir, read and written through the
 * format as jobs.c drives it (fds, /proc/self/fd paths, temp files). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "fmt_harness.h"

extern const struct format_ops format_sqlite;
extern const struct codec_ops codec_none;

/* ---- fixtures ------------------------------------------------------------- */

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/rowd-sqlite-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(tmpdir);
}

/* tmpdir/name, in a static buffer per call site (two at a time). */
static const char *at(const char *name)
{
	static char buf[2][512];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
	return buf[i];
}

static void sql_on(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
	sqlite3_free(msg);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* A database with tables t (3 rows) and u (1 row). */
static const char *make_tu(void)
{
	const char *p = at("tu.sqlite");

	sql_on(p, "CREATE TABLE t (a INTEGER, b TEXT);"
	          "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');"
	          "CREATE TABLE u (x);"
	          "INSERT INTO u VALUES ('only');");
	return p;
}

static struct fmt_result rd(const char *path, const char *opts)
{
	return fmt_read_raw(&format_sqlite, path, opts, 1000);
}

static void assert_ok(const struct fmt_result *r, const char *jsonl, size_t nrows)
{
	ck_assert_msg(r->rc == 0, "%s: %s", rowd_err_name(r->err.code), r->err.message);
	ck_assert_int_eq(r->nrows, nrows);
	ck_assert_str_eq(r->jsonl, jsonl);
}

static void assert_fails(const struct fmt_result *r, enum rowd_err code, const char *needle)
{
	ck_assert_msg(r->rc == -1, "expected %s, got success", rowd_err_name(code));
	ck_assert_msg(r->err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(r->err.code), r->err.message);
	if (needle)
		ck_assert_msg(strstr(r->err.message, needle), "message '%s' lacks '%s'", r->err.message,
		              needle);
}

/* Names in tmpdir. */
static int count_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* ---- reading -------------------------------------------------------------- */

START_TEST(read_table)
{
	const char *p = make_tu();
	struct fmt_result r = rd(p, "{\"table\": \"t\"}");

	assert_ok(&r, "{\"a\":1,\"b\":\"one\"}\n{\"a\":2,\"b\":\"two\"}\n{\"a\":3,\"b\":\"three\"}\n", 3);
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]");
	fmt_result_free(&r);
	/* SQLite names ignore case. */
	r = rd(p, "{\"table\": \"U\"}");
	assert_ok(&r, "{\"x\":\"only\"}\n", 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_default_first_table)
{
	const char *p = at("order.db");
	struct fmt_result r;

	/* Schema order, not name order; AUTOINCREMENT adds sqlite_sequence. */
	sql_on(p, "CREATE TABLE zeta (id INTEGER PRIMARY KEY AUTOINCREMENT, v);"
	          "INSERT INTO zeta (v) VALUES ('z');"
	          "CREATE TABLE alpha (v); INSERT INTO alpha VALUES ('a');"
	          "CREATE VIEW va AS SELECT v FROM alpha;");
	r = rd(p, NULL);
	assert_ok(&r, "{\"id\":1,\"v\":\"z\"}\n", 1);
	fmt_result_free(&r);
	r = rd(p, "{\"table\": \"va\"}");
	assert_ok(&r, "{\"v\":\"a\"}\n", 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(tables_list)
{
	const char *p = at("list.sqlite3");
	struct rowd_error err;
	char *js;

	sql_on(p, "CREATE TABLE zeta (id INTEGER PRIMARY KEY AUTOINCREMENT);"
	          "CREATE TABLE \"we\"\"ird\" (x); CREATE TABLE alpha (x);"
	          "CREATE VIEW v AS SELECT 1; CREATE INDEX i ON alpha (x);");
	js = fmt_tables_raw(&format_sqlite, p, NULL, &err);
	ck_assert_msg(js != NULL, "%s", err.message);
	ck_assert_str_eq(js, "[\"zeta\",\"we\\\"ird\",\"alpha\"]");
	free(js);
	/* The tables op takes no options. */
	js = fmt_tables_raw(&format_sqlite, p, "{\"table\": \"x\"}", &err);
	ck_assert_ptr_null(js);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
}
END_TEST

START_TEST(read_quoted_table_name)
{
	const char *p = at("q.sqlite");
	struct fmt_result r;

	sql_on(p, "CREATE TABLE \"we\"\"ird\" (\"col \"\"1\"\"\"); INSERT INTO \"we\"\"ird\" VALUES (7);");
	r = rd(p, "{\"table\": \"we\\\"ird\"}");
	assert_ok(&r, "{\"col \\\"1\\\"\":7}\n", 1);
	fmt_result_free(&r);
	/* An injection attempt is only a name that is not there. */
	r = rd(p, "{\"table\": \"x\\\"; DROP TABLE \\\"we\"}");
	assert_fails(&r, ROWD_EINVAL, "no table 'x\"; DROP TABLE \"we'");
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_query)
{
	const char *p = make_tu();
	struct fmt_result r = rd(p, "{\"query\": \"SELECT a * 2 AS d FROM t WHERE a > 1 ORDER BY a DESC\"}");

	assert_ok(&r, "{\"d\":6}\n{\"d\":4}\n", 2);
	ck_assert_str_eq(r.columns, "[\"d\"]");
	fmt_result_free(&r);
	r = rd(p, "{\"query\": \"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
	          "WHERE n < 3) SELECT n, upper(b) AS B FROM c JOIN t ON a = n;  -- done\\n \"}");
	assert_ok(&r, "{\"n\":1,\"B\":\"ONE\"}\n{\"n\":2,\"B\":\"TWO\"}\n{\"n\":3,\"B\":\"THREE\"}\n", 3);
	fmt_result_free(&r);
	/* A name repeated: one key, the later value, at the first place. */
	r = rd(p, "{\"query\": \"SELECT 1 AS a, 2 AS b, 3 AS a\"}");
	assert_ok(&r, "{\"a\":3,\"b\":2}\n", 1);
	ck_assert_str_eq(r.columns, "[\"a\",\"b\"]");
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_bad_queries)
{
	static const char *const bad[] = {
		"INSERT INTO t VALUES (9, 'nine')",
		"DROP TABLE t",
		"DELETE FROM t",
		"SELECT 1; DROP TABLE t",
		"SELECT 1; SELECT 2",
		"ATTACH '/etc/hostname' AS h",
		"PRAGMA table_info(t)",
		"PRAGMA writable_schema = ON",
		"BEGIN",
		"CREATE TABLE z (x)",
		"SELEC 1",
		"",
		"  -- nothing\\n",
		"SELECT * FROM nothere",
	};
	const char *p = make_tu();
	struct fmt_result r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char opts[256];

		snprintf(opts, sizeof opts, "{\"query\": \"%s\"}", bad[i]);
		r = rd(p, opts);
		ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EINVAL, "accepted: %s (%s %s)", bad[i],
		              rowd_err_name(r.err.code), r.err.message);
		ck_assert_msg(strstr(r.err.message, "option 'query'"), "%s: %s", bad[i], r.err.message);
		fmt_result_free(&r);
	}
	/* Nothing changed. */
	r = rd(p, "{\"query\": \"SELECT count(*) AS n FROM t\"}");
	assert_ok(&r, "{\"n\":3}\n", 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_bad_options)
{
	const char *p = make_tu();
	struct fmt_result r = rd(p, "{\"table\": \"t\", \"query\": \"SELECT 1\"}");

	assert_fails(&r, ROWD_EINVAL, "'table' and 'query'");
	fmt_result_free(&r);
	r = rd(p, "{\"table\": \"nope\"}");
	assert_fails(&r, ROWD_EINVAL, "no table 'nope' in the database (tables: t, u)");
	fmt_result_free(&r);
	r = rd(p, "{\"sheet\": 1}");
	assert_fails(&r, ROWD_EINVAL, "unknown option 'sheet'");
	fmt_result_free(&r);
	r = rd(p, "{\"table\": 1}");
	assert_fails(&r, ROWD_EINVAL, "'table'");
	fmt_result_free(&r);
	r = rd(p, "{\"on_error\": \"ignore\"}");
	assert_fails(&r, ROWD_EINVAL, "on_error");
	fmt_result_free(&r);
}
END_TEST

/* Binds the sample values of read_types. */
static void insert_types(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	sql_on(path, "CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n)");
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO v VALUES (?, ?, ?, ?, ?)", -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, INT64_MIN);
	sqlite3_bind_double(st, 2, -2.5);
	sqlite3_bind_text(st, 3, "h\xc3\xa9llo \xe2\x82\xac", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, "\x00\x01\xff", 3, SQLITE_STATIC);
	sqlite3_bind_null(st, 5);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, INT64_MAX);
	sqlite3_bind_double(st, 2, 1e300);
	sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC);
	sqlite3_bind_zeroblob(st, 4, 0);
	sqlite3_bind_int(st, 5, 5);        /* no affinity: stays an integer */
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

START_TEST(read_types)
{
	const char *p = at("types.sqlite");
	struct fmt_result r;
	msgpack_unpacked up;
	const msgpack_object *v;
	size_t off = 0;

	insert_types(p);
	r = rd(p, NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_int_eq(r.nrows, 2);
	msgpack_unpacked_init(&up);
	ck_assert(msgpack_unpack_next(&up, r.packed, r.packed_len, &off) == MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(up.data.via.map.size, 5);
	v = proto_map_get(&up.data, "i");
	ck_assert(v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && v->via.i64 == INT64_MIN);
	v = proto_map_get(&up.data, "r");
	ck_assert(v->type == MSGPACK_OBJECT_FLOAT64 && v->via.f64 == -2.5);
	v = proto_map_get(&up.data, "t");
	ck_assert(v->type == MSGPACK_OBJECT_STR && v->via.str.size == 10 &&
	          memcmp(v->via.str.ptr, "h\xc3\xa9llo \xe2\x82\xac", 10) == 0);
	v = proto_map_get(&up.data, "b");
	ck_assert(v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 3 &&
	          memcmp(v->via.bin.ptr, "\x00\x01\xff", 3) == 0);
	v = proto_map_get(&up.data, "n");
	ck_assert(v->type == MSGPACK_OBJECT_NIL);
	ck_assert(msgpack_unpack_next(&up, r.packed, r.packed_len, &off) == MSGPACK_UNPACK_SUCCESS);
	v = proto_map_get(&up.data, "i");
	ck_assert(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == INT64_MAX);
	v = proto_map_get(&up.data, "r");
	ck_assert(v->type == MSGPACK_OBJECT_FLOAT64 && v->via.f64 == 1e300);
	v = proto_map_get(&up.data, "t");
	ck_assert(v->type == MSGPACK_OBJECT_STR && v->via.str.size == 0);
	v = proto_map_get(&up.data, "b");
	ck_assert(v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 0);
	v = proto_map_get(&up.data, "n");
	ck_assert(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 5);
	msgpack_unpacked_destroy(&up);
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_invalid_utf8)
{
	const char *p = at("bad.sqlite");
	sqlite3 *db;
	struct fmt_result r;

	sql_on(p, "CREATE TABLE t (n, s); INSERT INTO t VALUES (1, 'ok'), (2, NULL), (3, 'fine');");
	ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
	/* Bytes stored as TEXT without a check, as other programs may. */
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE t SET s = CAST(x'61ff62' AS TEXT) WHERE n = 2",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	r = rd(p, NULL);
	assert_fails(&r, ROWD_EFORMAT, "row 2: column 's'");
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_str_eq(r.jsonl, "{\"n\":1,\"s\":\"ok\"}\n");
	fmt_result_free(&r);
	r = rd(p, "{\"on_error\": \"skip\"}");
	assert_ok(&r, "{\"n\":1,\"s\":\"ok\"}\n{\"n\":3,\"s\":\"fine\"}\n", 2);
	ck_assert_int_eq(r.skipped, 1);
	fmt_result_free(&r);
}
END_TEST

START_TEST(read_batches_equal)
{
	const char *p = at("many.sqlite");
	struct fmt_result a, b;

	sql_on(p, "CREATE TABLE t (n INTEGER, s TEXT);"
	          "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2500)"
	          " INSERT INTO t SELECT n, 'row ' || n FROM c;");
	a = fmt_read_raw(&format_sqlite, p, NULL, 1);
	b = fmt_read_raw(&format_sqlite, p, NULL, 1000);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_eq(a.nrows, 2500);
	ck_assert_int_eq(b.nrows, 2500);
	ck_assert_uint_eq(a.packed_len, b.packed_len);
	ck_assert(memcmp(a.packed, b.packed, a.packed_len) == 0);
	fmt_result_free(&a);
	fmt_result_free(&b);
}
END_TEST

START_TEST(read_not_a_database)
{
	const char *p = at("junk.sqlite");
	FILE *f = fopen(p, "w");
	struct fmt_result r;
	char *js;
	struct rowd_error err;

	fputs("this is not a database, not even close to one; just some text\n", f);
	fclose(f);
	r = rd(p, NULL);
	assert_fails(&r, ROWD_EFORMAT, "not a database");
	fmt_result_free(&r);
	js = fmt_tables_raw(&format_sqlite, p, NULL, &err);
	ck_assert_ptr_null(js);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
}
END_TEST

START_TEST(read_empty_database)
{
	const char *p = at("empty.sqlite");
	struct fmt_result r;
	struct rowd_error err;
	char *js;

	close(open(p, O_WRONLY | O_CREAT, 0644));
	r = rd(p, NULL);
	assert_ok(&r, "", 0);
	ck_assert_ptr_null(r.columns);
	fmt_result_free(&r);
	js = fmt_tables_raw(&format_sqlite, p, NULL, &err);
	ck_assert_str_eq(js, "[]");
	free(js);
}
END_TEST

/* Reading goes through the fd only: it leaves no journal, WAL or -shm
 * file beside the database, and works on an fd with no name at all. */
START_TEST(read_by_fd_only)
{
	const char *p = at("wal.sqlite");
	struct fmt_result r;
	size_t n;
	char *data;

	sql_on(p, "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);");
	ck_assert_int_eq(count_files(), 1);
	r = rd(p, NULL);
	assert_ok(&r, "{\"x\":1}\n{\"x\":2}\n", 2);
	fmt_result_free(&r);
	ck_assert_int_eq(count_files(), 1);
	/* The same bytes in a memfd (/proc/self/fd/N names no file). */
	data = fmt_slurp(p, &n);
	r = fmt_read_all(&format_sqlite, data, n, NULL, 7);
	assert_ok(&r, "{\"x\":1}\n{\"x\":2}\n", 2);
	fmt_result_free(&r);
	free(data);
}
END_TEST

START_TEST(read_row_bytes_limit)
{
	const char *p = at("big.sqlite");
	struct rowd_limits lim;
	struct fmt_result r;
	size_t n;
	char *data;

	sql_on(p, "CREATE TABLE t (s); INSERT INTO t VALUES ('small'), (randomblob(20000)), ('x');");
	data = fmt_slurp(p, &n);
	rowd_limits_default(&lim);
	lim.row_bytes = 8192;
	r = fmt_read_all_limits(&format_sqlite, data, n, NULL, 10, &lim);
	assert_fails(&r, ROWD_ELIMIT, "row_bytes");
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_int_eq(r.err.row, 2);
	fmt_result_free(&r);
	free(data);
}
END_TEST

/* ---- writing -------------------------------------------------------------- */

static void wr_ok(const char *name, const char *rows, const char *opts)
{
	struct rowd_error err;

	ck_assert_msg(fmt_write_raw(&format_sqlite, tmpdir, name, rows, opts, true, &err) == 0,
	              "%s: %s", rowd_err_name(err.code), err.message);
}

/* The declared type of column col of table t. */
static char *column_type(const char *path, const char *table, const char *col)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *res = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT type FROM pragma_table_info(?1) WHERE name = ?2",
	                                    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		res = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return res;
}

static void assert_type(const char *path, const char *table, const char *col, const char *type)
{
	char *t = column_type(path, table, col);

	ck_assert_msg(t != NULL, "no column %s", col);
	ck_assert_str_eq(t, type);
	free(t);
}

START_TEST(write_round_trip)
{
	const char *rows =
		"{\"i\":1,\"f\":1.5,\"s\":\"x\\\"y\",\"b\":true,\"n\":null,\"o\":{\"k\":[1,2]},\"a\":[1,\"z\"]}\n"
		"{\"i\":-9223372036854775808,\"f\":-0.25,\"s\":\"\\u00e9\",\"b\":false,\"n\":3,\"o\":{},\"a\":[]}\n"
		"{\"s\":\"only s\"}\n";
	const char *p = at("people.sqlite");
	struct rowd_error err;
	struct fmt_result r;
	char *js;

	wr_ok("people.sqlite", rows, NULL);
	ck_assert_int_eq(count_files(), 1);
	js = fmt_tables_raw(&format_sqlite, p, NULL, &err);
	ck_assert_str_eq(js, "[\"people\"]");
	free(js);
	r = rd(p, NULL);
	assert_ok(&r,
	          "{\"i\":1,\"f\":1.5,\"s\":\"x\\\"y\",\"b\":1,\"n\":null,\"o\":\"{\\\"k\\\":[1,2]}\",\"a\":\"[1,\\\"z\\\"]\"}\n"
	          "{\"i\":-9223372036854775808,\"f\":-0.25,\"s\":\"\xc3\xa9\",\"b\":0,\"n\":3,\"o\":\"{}\",\"a\":\"[]\"}\n"
	          "{\"i\":null,\"f\":null,\"s\":\"only s\",\"b\":null,\"n\":null,\"o\":null,\"a\":null}\n", 3);
	fmt_result_free(&r);
	assert_type(p, "people", "i", "INTEGER");
	assert_type(p, "people", "f", "REAL");
	assert_type(p, "people", "s", "TEXT");
	assert_type(p, "people", "b", "INTEGER");
	assert_type(p, "people", "n", "");
	assert_type(p, "people", "o", "TEXT");
}
END_TEST

/* Writes msgpack rows (bin values, which JSON cannot carry, and rows
 * that fail: refused[i] says whether row i must be refused; the writer
 * goes on after it, as a handle does after a failed write). */
static void write_packed(const char *name, const struct mpbuf *rows, const bool *refused)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct wfile wf = { .fd = -1, .dirfd = -1 };
	struct output out;
	struct fmt_args a = { .fmt = &format_sqlite, .fd = -1 };
	msgpack_unpacked up;
	size_t off = 0;
	void *st;

	rowd_limits_default(&lim);
	ck_assert_int_eq(wfile_open(&wf, open(tmpdir, O_RDONLY | O_DIRECTORY), strdup(name), &err), 0);
	ck_assert_int_eq(output_open(&out, wf.fd, &codec_none, NULL, &err), 0);
	a.out = &out;
	a.limits = &lim;
	a.wf = &wf;
	ck_assert_int_eq(format_sqlite.wr_open(&a, &st, &err), 0);
	msgpack_unpacked_init(&up);
	for (int i = 0; msgpack_unpack_next(&up, rows->data, rows->len, &off) == MSGPACK_UNPACK_SUCCESS; i++) {
		int rc = format_sqlite.wr_row(st, &up.data, &err);

		ck_assert_msg(rc == (refused && refused[i] ? -1 : 0), "row %d: %s", i, err.message);
	}
	msgpack_unpacked_destroy(&up);
	ck_assert_int_eq(format_sqlite.wr_finish(st, &err), 0);
	format_sqlite.wr_close(st);
	ck_assert_int_eq(output_finish(&out, &err), 0);
	output_close(&out);
	ck_assert_int_eq(wfile_commit(&wf, &err), 0);
}

static void put_bin(struct mpbuf *b, const char *s, uint8_t n)
{
	ck_assert_int_eq(mpbuf_append(b, "\xc4", 1), 0);
	ck_assert_int_eq(mpbuf_append(b, &n, 1), 0);
	ck_assert_int_eq(mpbuf_append(b, s, n), 0);
}

START_TEST(write_binary_round_trip)
{
	struct mpbuf rows;
	struct fmt_result r;
	const msgpack_object *v;
	msgpack_unpacked up;
	size_t off = 0;

	mpbuf_init(&rows);
	/* {"id": 1, "data": bin 00 ff 7f} and {"id": 2, "data": bin ""} */
	mpbuf_map_hdr(&rows, 2);
	mpbuf_cstr(&rows, "id");
	mpbuf_int(&rows, 1);
	mpbuf_cstr(&rows, "data");
	put_bin(&rows, "\x00\xff\x7f", 3);
	mpbuf_map_hdr(&rows, 2);
	mpbuf_cstr(&rows, "data");
	put_bin(&rows, "", 0);
	mpbuf_cstr(&rows, "id");
	mpbuf_int(&rows, 2);
	write_packed("bin.db", &rows, NULL);
	assert_type(at("bin.db"), "bin", "data", "BLOB");
	r = rd(at("bin.db"), NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.nrows, 2);
	msgpack_unpacked_init(&up);
	ck_assert(msgpack_unpack_next(&up, r.packed, r.packed_len, &off) == MSGPACK_UNPACK_SUCCESS);
	v = proto_map_get(&up.data, "data");
	ck_assert(v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 3 &&
	          memcmp(v->via.bin.ptr, "\x00\xff\x7f", 3) == 0);
	ck_assert(msgpack_unpack_next(&up, r.packed, r.packed_len, &off) == MSGPACK_UNPACK_SUCCESS);
	v = proto_map_get(&up.data, "data");
	ck_assert(v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 0);
	v = proto_map_get(&up.data, "id");
	ck_assert(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 2);
	msgpack_unpacked_destroy(&up);
	fmt_result_free(&r);
	mpbuf_free(&rows);
}
END_TEST

START_TEST(write_goes_on_after_refused_rows)
{
	static const char *const lines[] = {
		"{}", "{\"a\":1}", "{\"b\":2}", "{\"a\":18446744073709551615}", "{\"a\":2}",
	};
	static const bool refused[] = { true, false, true, true, false };
	struct rowd_limits lim;
	struct rowd_error err;
	struct mpbuf rows;
	struct fmt_result r;

	rowd_limits_default(&lim);
	mpbuf_init(&rows);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		ck_assert_int_eq(proto_json_to_msgpack(lines[i], strlen(lines[i]), &lim, &rows, &err), 0);
	/* A refused first row does not make the table. */
	write_packed("on.db", &rows, refused);
	r = rd(at("on.db"), NULL);
	assert_ok(&r, "{\"a\":1}\n{\"a\":2}\n", 2);
	fmt_result_free(&r);
	mpbuf_free(&rows);
}
END_TEST

START_TEST(write_table_names)
{
	struct rowd_error err;
	char *js;

	wr_ok("2024 sales.v1.db", "{\"x\":1}\n", NULL);
	js = fmt_tables_raw(&format_sqlite, at("2024 sales.v1.db"), NULL, &err);
	ck_assert_str_eq(js, "[\"_2024_sales_v1\"]");
	free(js);
	wr_ok("sqlite_x.db", "{\"x\":1}\n", NULL);
	js = fmt_tables_raw(&format_sqlite, at("sqlite_x.db"), NULL, &err);
	ck_assert_str_eq(js, "[\"_sqlite_x\"]");
	free(js);
	wr_ok(".db", "{\"x\":1}\n", NULL);
	js = fmt_tables_raw(&format_sqlite, at(".db"), NULL, &err);
	ck_assert_str_eq(js, "[\"_db\"]");
	free(js);
	wr_ok("named.db", "{\"x\":1}\n", "{\"table\": \"my \\\"t\\\"\"}");
	js = fmt_tables_raw(&format_sqlite, at("named.db"), NULL, &err);
	ck_assert_str_eq(js, "[\"my \\\"t\\\"\"]");
	free(js);
}
END_TEST

START_TEST(write_unknown_key)
{
	struct rowd_error err;
	struct fmt_result r;

	ck_assert_int_eq(fmt_write_raw(&format_sqlite, tmpdir, "k.db", "{\"a\":1}\n{\"a\":2,\"b\":3}\n",
	                               NULL, true, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(err.message, "key 'b' is not a column of table 'k'"), "%s", err.message);
	ck_assert_int_eq(count_files(), 0);
	/* With add_columns, the new column is added; earlier rows hold NULL. */
	wr_ok("k.db", "{\"a\":1}\n{\"b\":\"x\",\"a\":2,\"c\":2.5}\n{\"a\":3}\n", "{\"add_columns\": true}");
	r = rd(at("k.db"), NULL);
	assert_ok(&r, "{\"a\":1,\"b\":null,\"c\":null}\n{\"a\":2,\"b\":\"x\",\"c\":2.5}\n"
	              "{\"a\":3,\"b\":null,\"c\":null}\n", 3);
	fmt_result_free(&r);
	assert_type(at("k.db"), "k", "b", "TEXT");
	assert_type(at("k.db"), "k", "c", "REAL");
}
END_TEST

START_TEST(write_bad_values)
{
	static const char *const bad[][2] = {
		{ "{\"a\":18446744073709551615}\n", "does not fit" },
		{ "{\"a\":1}\n{\"a\":9223372036854775808}\n", "does not fit" },
		{ "{\"a\":1}\n[1]\n", "a row must be a map" },
		{ "{}\n", "no keys" },
		{ "{\"a\\u0000b\":1}\n", "NUL" },
	};
	struct rowd_error err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(fmt_write_raw(&format_sqlite, tmpdir, "bad.db", bad[i][0], NULL, true, &err) == -1,
		              "accepted %s", bad[i][0]);
		ck_assert_msg(err.code == ROWD_EINVAL && strstr(err.message, bad[i][1]), "%s: %s %s",
		              bad[i][0], rowd_err_name(err.code), err.message);
	}
	ck_assert_int_eq(fmt_write_raw(&format_sqlite, tmpdir, "bad.db", "", "{\"tabel\": \"x\"}", true,
	                               &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(count_files(), 0);
}
END_TEST

START_TEST(write_keys_ignoring_case)
{
	struct fmt_result r;

	/* SQLite column names ignore case: one column, the last value. */
	wr_ok("case.db", "{\"a\":1,\"A\":2}\n{\"A\":3}\n", NULL);
	r = rd(at("case.db"), NULL);
	assert_ok(&r, "{\"a\":2}\n{\"a\":3}\n", 2);
	fmt_result_free(&r);
}
END_TEST

START_TEST(write_no_rows)
{
	struct fmt_result r;
	struct rowd_error err;
	size_t n;
	char *data, *js;

	wr_ok("none.sqlite", "", NULL);
	data = fmt_slurp(at("none.sqlite"), &n);
	/* A real database, recognised by its content. */
	ck_assert_uint_ge(n, 100);
	ck_assert_int_eq(format_sqlite.probe(data, n), 100);
	free(data);
	r = rd(at("none.sqlite"), NULL);
	assert_ok(&r, "", 0);
	fmt_result_free(&r);
	js = fmt_tables_raw(&format_sqlite, at("none.sqlite"), NULL, &err);
	ck_assert_str_eq(js, "[]");
	free(js);
}
END_TEST

START_TEST(write_abandon_leaves_nothing)
{
	struct rowd_error err;
	FILE *f;
	char *data;

	ck_assert_int_eq(fmt_write_raw(&format_sqlite, tmpdir, "gone.db", "{\"a\":1}\n{\"a\":2}\n", NULL,
	                               false, &err), 0);
	ck_assert_int_eq(count_files(), 0);
	/* An existing target stays as it was. */
	f = fopen(at("kept.db"), "w");
	fputs("old", f);
	fclose(f);
	ck_assert_int_eq(fmt_write_raw(&format_sqlite, tmpdir, "kept.db", "{\"a\":1}\n", NULL, false,
	                               &err), 0);
	ck_assert_int_eq(count_files(), 1);
	data = fmt_slurp(at("kept.db"), NULL);
	ck_assert_str_eq(data, "old");
	free(data);
	/* A failed row abandons too (as close after an error does). */
	ck_assert_int_eq(fmt_write_raw(&format_sqlite, tmpdir, "kept.db", "{\"a\":1}\n{\"b\":1}\n", NULL,
	                               true, &err), -1);
	ck_assert_int_eq(count_files(), 1);
	data = fmt_slurp(at("kept.db"), NULL);
	ck_assert_str_eq(data, "old");
	free(data);
	/* And a commit replaces it whole. */
	wr_ok("kept.db", "{\"a\":1}\n", NULL);
	ck_assert_int_eq(count_files(), 1);
}
END_TEST

START_TEST(write_many_rows)
{
	struct mpbuf rows;
	struct fmt_result r;

	mpbuf_init(&rows);
	for (int i = 0; i < 20000; i++) {
		char line[96];

		snprintf(line, sizeof line, "{\"n\":%d,\"s\":\"value %d\",\"f\":%d.5}\n", i, i, i);
		ck_assert_int_eq(mpbuf_append(&rows, line, strlen(line)), 0);
	}
	mpbuf_append(&rows, "", 1);
	wr_ok("many.db", rows.data, NULL);
	r = rd(at("many.db"), "{\"query\": \"SELECT count(*) AS c, sum(n) AS s FROM many\"}");
	assert_ok(&r, "{\"c\":20000,\"s\":199990000}\n", 1);
	fmt_result_free(&r);
	mpbuf_free(&rows);
}
END_TEST

/* ---- detection and registry ------------------------------------------------- */

START_TEST(probe_and_registry)
{
	static const char head[] = "SQLite format 3\0\x10\x00\x01\x01";

	ck_assert_int_eq(format_sqlite.probe(head, sizeof head - 1), 100);
	ck_assert_int_eq(format_sqlite.probe(head, 15), 0);
	ck_assert_int_eq(format_sqlite.probe("SQLite format 2\0", 16), 0);
	ck_assert_ptr_eq(format_by_content(head, sizeof head - 1), &format_sqlite);
	ck_assert_ptr_eq(format_find("sqlite", 6), &format_sqlite);
	ck_assert_ptr_eq(format_by_extension("a/x.sqlite"), &format_sqlite);
	ck_assert_ptr_eq(format_by_extension("x.sqlite3"), &format_sqlite);
	ck_assert_ptr_eq(format_by_extension("x.DB"), &format_sqlite);
	ck_assert_uint_eq(format_sqlite.caps,
	                  FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_TABLES |
	                  FMT_CAP_STREAM | FMT_CAP_BINARY | FMT_CAP_RAW);
	ck_assert_ptr_nonnull(format_sqlite.tables);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *t = tcase_create(name);

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	suite_add_tcase(s, t);
	return t;
}

static Suite *sqlite_suite(void)
{
	Suite *s = suite_create("sqlite");
	TCase *t = tcase(s, "read");

	tcase_add_test(t, read_table);
	tcase_add_test(t, read_default_first_table);
	tcase_add_test(t, tables_list);
	tcase_add_test(t, read_quoted_table_name);
	tcase_add_test(t, read_query);
	tcase_add_test(t, read_bad_queries);
	tcase_add_test(t, read_bad_options);
	tcase_add_test(t, read_types);
	tcase_add_test(t, read_invalid_utf8);
	tcase_add_test(t, read_batches_equal);
	tcase_add_test(t, read_not_a_database);
	tcase_add_test(t, read_empty_database);
	tcase_add_test(t, read_by_fd_only);
	tcase_add_test(t, read_row_bytes_limit);

	t = tcase(s, "write");
	tcase_add_test(t, write_round_trip);
	tcase_add_test(t, write_binary_round_trip);
	tcase_add_test(t, write_goes_on_after_refused_rows);
	tcase_add_test(t, write_table_names);
	tcase_add_test(t, write_unknown_key);
	tcase_add_test(t, write_bad_values);
	tcase_add_test(t, write_keys_ignoring_case);
	tcase_add_test(t, write_no_rows);
	tcase_add_test(t, write_abandon_leaves_nothing);
	tcase_add_test(t, write_many_rows);

	t = tcase(s, "detect");
	tcase_add_test(t, probe_and_registry);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sqlite_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
