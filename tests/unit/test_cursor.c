/* Unit tests of the zero-allocation row cursor (client/cursor.c): every
 * msgpack type, both buffer layouts, skipping, and hostile bytes. Inputs
 * are copied into buffers of exactly their size, so that under ASan any
 * read past the end fails the test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "rowd/rowd.h"

/* ---- helpers -------------------------------------------------------------- */

/* A heap copy of exactly n bytes (at least one byte is allocated, so that
 * an empty input still has an address). */
static unsigned char *exact(const void *p, size_t n)
{
	unsigned char *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Walks everything; returns the last result (0 at a clean end, -1) and
 * counts what it saw. Every string handed out must lie in the buffer. */
static int walk(const unsigned char *buf, size_t len, size_t *rows, size_t *fields)
{
	struct rowd_cursor cur;
	uint32_t nf;
	int r;

	*rows = *fields = 0;
	rowd_cursor_init(&cur, buf, len);
	while ((r = rowd_cursor_next_row(&cur, &nf)) == 1) {
		const char *k;
		size_t kn;
		struct rowd_value v;
		int f;

		(*rows)++;
		while ((f = rowd_cursor_next_field(&cur, &k, &kn, &v)) == 1) {
			(*fields)++;
			ck_assert((const unsigned char *)k >= buf && (const unsigned char *)k + kn <= buf + len);
			if (v.type == ROWD_STR || v.type == ROWD_BIN || v.type == ROWD_NESTED)
				ck_assert((const unsigned char *)v.via.str.ptr >= buf &&
				          (const unsigned char *)v.via.str.ptr + v.via.str.len <= buf + len);
		}
		if (f < 0)
			return -1;
	}
	return r;
}

static int walk_bytes(const void *p, size_t n, size_t *rows, size_t *fields)
{
	unsigned char *c = exact(p, n);
	int r = walk(c, n, rows, fields);

	free(c);
	return r;
}

static void next_field_ok(struct rowd_cursor *cur, const char *key, struct rowd_value *v)
{
	const char *k;
	size_t kn;

	ck_assert_int_eq(rowd_cursor_next_field(cur, &k, &kn, v), 1);
	ck_assert_msg(kn == strlen(key) && memcmp(k, key, kn) == 0, "key '%.*s', want '%s'",
	              (int)kn, k, key);
}

/* ---- every type ----------------------------------------------------------- */

static void pack_all_types(msgpack_packer *pk)
{
	static const char ext8[3] = { 1, 2, 3 };
	char long_str[300];

	memset(long_str, 'x', sizeof long_str - 1);
	long_str[sizeof long_str - 1] = '\0';
	msgpack_pack_map(pk, 22);
	pk_str(pk, "nil"); msgpack_pack_nil(pk);
	pk_str(pk, "t"); msgpack_pack_true(pk);
	pk_str(pk, "f"); msgpack_pack_false(pk);
	pk_str(pk, "fix"); msgpack_pack_uint8(pk, 5);
	pk_str(pk, "u8"); msgpack_pack_uint8(pk, 200);
	pk_str(pk, "u16"); msgpack_pack_uint16(pk, 60000);
	pk_str(pk, "u32"); msgpack_pack_uint32(pk, 4000000000u);
	pk_str(pk, "u64"); msgpack_pack_uint64(pk, UINT64_MAX);
	pk_str(pk, "negfix"); msgpack_pack_int8(pk, -5);
	pk_str(pk, "i8"); msgpack_pack_int8(pk, -100);
	pk_str(pk, "i16"); msgpack_pack_int16(pk, -30000);
	pk_str(pk, "i32"); msgpack_pack_int32(pk, -2000000000);
	pk_str(pk, "i64"); msgpack_pack_int64(pk, INT64_MIN);
	pk_str(pk, "f32"); msgpack_pack_float(pk, 1.5f);
	pk_str(pk, "f64"); msgpack_pack_double(pk, 2.25);
	pk_str(pk, "s"); pk_str(pk, "hello");
	pk_str(pk, "long"); pk_str(pk, long_str);
	pk_str(pk, "bin"); msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, "a\0b", 3);
	pk_str(pk, "map"); msgpack_pack_map(pk, 1); pk_str(pk, "k"); msgpack_pack_array(pk, 2);
	msgpack_pack_uint8(pk, 1); msgpack_pack_nil(pk);
	pk_str(pk, "arr"); msgpack_pack_array(pk, 0);
	pk_str(pk, "ext"); msgpack_pack_ext(pk, sizeof ext8, 7); msgpack_pack_ext_body(pk, ext8, sizeof ext8);
	pk_str(pk, "last"); msgpack_pack_uint8(pk, 0);
}

START_TEST(test_types)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct rowd_cursor cur;
	struct rowd_value v;
	uint32_t nf = 0;
	unsigned char *buf;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_all_types(&pk);
	buf = exact(sb.data, sb.size);
	rowd_cursor_init(&cur, buf, sb.size);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, &nf), 1);
	ck_assert_uint_eq(nf, 22);

	next_field_ok(&cur, "nil", &v); ck_assert_int_eq(v.type, ROWD_NIL);
	next_field_ok(&cur, "t", &v); ck_assert(v.type == ROWD_BOOL && v.via.boolean);
	next_field_ok(&cur, "f", &v); ck_assert(v.type == ROWD_BOOL && !v.via.boolean);
	next_field_ok(&cur, "fix", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == 5);
	next_field_ok(&cur, "u8", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == 200);
	next_field_ok(&cur, "u16", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == 60000);
	next_field_ok(&cur, "u32", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == 4000000000);
	next_field_ok(&cur, "u64", &v); ck_assert(v.type == ROWD_UINT && v.via.u64 == UINT64_MAX);
	next_field_ok(&cur, "negfix", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == -5);
	next_field_ok(&cur, "i8", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == -100);
	next_field_ok(&cur, "i16", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == -30000);
	next_field_ok(&cur, "i32", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == -2000000000);
	next_field_ok(&cur, "i64", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == INT64_MIN);
	next_field_ok(&cur, "f32", &v); ck_assert(v.type == ROWD_DOUBLE && v.via.f64 == 1.5);
	next_field_ok(&cur, "f64", &v); ck_assert(v.type == ROWD_DOUBLE && v.via.f64 == 2.25);
	next_field_ok(&cur, "s", &v);
	ck_assert(v.type == ROWD_STR && v.via.str.len == 5 && memcmp(v.via.str.ptr, "hello", 5) == 0);
	next_field_ok(&cur, "long", &v);
	ck_assert(v.type == ROWD_STR && v.via.str.len == 299 && v.via.str.ptr[298] == 'x');
	next_field_ok(&cur, "bin", &v);
	ck_assert(v.type == ROWD_BIN && v.via.str.len == 3 && memcmp(v.via.str.ptr, "a\0b", 3) == 0);
	next_field_ok(&cur, "map", &v);
	/* {"k": [1, nil]}: 0x81 0xa1 'k' 0x92 0x01 0xc0 */
	ck_assert(v.type == ROWD_NESTED && v.via.str.len == 6 &&
	          memcmp(v.via.str.ptr, "\x81\xa1k\x92\x01\xc0", 6) == 0);
	next_field_ok(&cur, "arr", &v);
	ck_assert(v.type == ROWD_NESTED && v.via.str.len == 1 && v.via.str.ptr[0] == (char)0x90);
	next_field_ok(&cur, "ext", &v);
	/* msgpack-c packs a 3-byte ext as ext8: c7 03 07 01 02 03 */
	ck_assert(v.type == ROWD_NESTED && v.via.str.len == 6 &&
	          memcmp(v.via.str.ptr, "\xc7\x03\x07\x01\x02\x03", 6) == 0);
	next_field_ok(&cur, "last", &v); ck_assert(v.type == ROWD_INT && v.via.i64 == 0);
	ck_assert_int_eq(rowd_cursor_next_field(&cur, NULL, NULL, &v), 0);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, &nf), 0);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, &nf), 0);
	free(buf);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* str32, map16/32 and array16/32 headers msgpack-c packs only for big
 * sizes: written by hand with small counts (still valid msgpack). */
START_TEST(test_wide_headers)
{
	static const unsigned char row[] = {
		0xdf, 0, 0, 0, 2,                         /* map32 of 2 */
		0xdb, 0, 0, 0, 1, 'a', 0xda, 0, 2, 'h', 'i',   /* "a": str16 "hi" */
		0xd9, 1, 'b', 0xdd, 0, 0, 0, 1, 0xde, 0, 1, 0xa1, 'c', 0xc3,   /* "b": [ {c: true} ] */
	};
	static const unsigned char arr[] = { 0xdc, 0, 1, 0x81, 0xa1, 'x', 0x01 };
	struct rowd_cursor cur;
	struct rowd_value v;
	unsigned char *buf = exact(row, sizeof row);
	uint32_t nf;
	size_t rows, fields;

	rowd_cursor_init(&cur, buf, sizeof row);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, &nf), 1);
	ck_assert_uint_eq(nf, 2);
	next_field_ok(&cur, "a", &v);
	ck_assert(v.type == ROWD_STR && v.via.str.len == 2 && memcmp(v.via.str.ptr, "hi", 2) == 0);
	next_field_ok(&cur, "b", &v);
	ck_assert(v.type == ROWD_NESTED && v.via.str.len == 11);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, &nf), 0);
	free(buf);

	ck_assert_int_eq(walk_bytes(arr, sizeof arr, &rows, &fields), 0);
	ck_assert(rows == 1 && fields == 1);
}
END_TEST

/* A nested map walked with a second cursor over its bytes. */
START_TEST(test_nested_cursor)
{
	static const unsigned char row[] = {
		0x82, 0xa1, 'n', 0x82, 0xa1, 'x', 0x01, 0xa1, 'y', 0x02, 0xa1, 'z', 0x03,
	};
	struct rowd_cursor cur, sub;
	struct rowd_value v, w;
	int64_t sum = 0;

	rowd_cursor_init(&cur, row, sizeof row);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, NULL), 1);
	next_field_ok(&cur, "n", &v);
	ck_assert_int_eq(v.type, ROWD_NESTED);
	rowd_cursor_init(&sub, v.via.str.ptr, v.via.str.len);
	ck_assert_int_eq(rowd_cursor_next_row(&sub, NULL), 1);
	next_field_ok(&sub, "x", &w);
	sum += w.via.i64;
	next_field_ok(&sub, "y", &w);
	sum += w.via.i64;
	ck_assert_int_eq(rowd_cursor_next_row(&sub, NULL), 0);
	ck_assert_int_eq(sum, 3);
	next_field_ok(&cur, "z", &v);
	ck_assert(v.type == ROWD_INT && v.via.i64 == 3);
}
END_TEST

/* ---- layouts and skipping ------------------------------------------------- */

static void pack_rows(msgpack_sbuffer *sb, int n, bool as_array)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (as_array)
		msgpack_pack_array(&pk, (size_t)n);
	for (int i = 0; i < n; i++) {
		msgpack_pack_map(&pk, 3);
		pk_str(&pk, "id"); msgpack_pack_int(&pk, i);
		pk_str(&pk, "tags"); msgpack_pack_array(&pk, 2); pk_str(&pk, "a");
		msgpack_pack_map(&pk, 1); pk_str(&pk, "deep"); msgpack_pack_array(&pk, 1);
		msgpack_pack_nil(&pk);
		pk_str(&pk, "name"); pk_str(&pk, "row");
	}
}

START_TEST(test_layouts)
{
	msgpack_sbuffer sb;
	size_t rows, fields;

	msgpack_sbuffer_init(&sb);
	pack_rows(&sb, 20, true);
	ck_assert_int_eq(walk_bytes(sb.data, sb.size, &rows, &fields), 0);
	ck_assert(rows == 20 && fields == 60);
	msgpack_sbuffer_clear(&sb);
	pack_rows(&sb, 20, false);
	ck_assert_int_eq(walk_bytes(sb.data, sb.size, &rows, &fields), 0);
	ck_assert(rows == 20 && fields == 60);
	msgpack_sbuffer_destroy(&sb);

	ck_assert_int_eq(walk_bytes("", 0, &rows, &fields), 0);
	ck_assert_uint_eq(rows, 0);
	ck_assert_int_eq(walk_bytes("\x90", 1, &rows, &fields), 0);
	ck_assert_uint_eq(rows, 0);
	ck_assert_int_eq(walk_bytes("\x80\x80", 2, &rows, &fields), 0);
	ck_assert(rows == 2 && fields == 0);
	/* An array ends where its count says; what follows is not rows. */
	ck_assert_int_eq(walk_bytes("\x91\x80\xc1\xc1", 4, &rows, &fields), 0);
	ck_assert_uint_eq(rows, 1);
}
END_TEST

/* Fields left unread are skipped by next_row, nested ones included. */
START_TEST(test_skip_unread)
{
	msgpack_sbuffer sb;
	struct rowd_cursor cur;
	struct rowd_value v;
	unsigned char *buf;
	int seen = 0;

	msgpack_sbuffer_init(&sb);
	pack_rows(&sb, 5, true);
	buf = exact(sb.data, sb.size);
	rowd_cursor_init(&cur, buf, sb.size);
	while (rowd_cursor_next_row(&cur, NULL) == 1) {
		next_field_ok(&cur, "id", &v);
		ck_assert(v.type == ROWD_INT && v.via.i64 == seen);
		seen++;
	}
	ck_assert_int_eq(seen, 5);
	ck_assert_int_eq(rowd_cursor_next_row(&cur, NULL), 0);
	free(buf);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- hostile bytes -------------------------------------------------------- */

static void expect_bad(const void *p, size_t n, const char *what)
{
	size_t rows, fields;
	struct rowd_cursor cur;
	unsigned char *c = exact(p, n);

	ck_assert_msg(walk(c, n, &rows, &fields) == -1, "%s: not refused", what);
	/* Once broken, always broken. */
	rowd_cursor_init(&cur, c, n);
	while (rowd_cursor_next_row(&cur, NULL) == 1)
		while (rowd_cursor_next_field(&cur, &(const char *){ NULL }, &(size_t){ 0 },
		                              &(struct rowd_value){ 0 }) == 1)
			;
	ck_assert_msg(rowd_cursor_next_row(&cur, NULL) == -1, "%s: not sticky", what);
	free(c);
}

START_TEST(test_hostile)
{
	expect_bad("\xdd\xff\xff\xff\xff\x80", 6, "array32 of 2^32-1 rows in 6 bytes");
	expect_bad("\xdf\xff\xff\xff\xff\xa1k\x01", 8, "map32 of 2^32-1 fields");
	expect_bad("\x81\xa1k\xdd\xff\xff\xff\xff", 8, "nested array32 of 2^32-1");
	expect_bad("\x81\xa1k\x91\x91\x91\x91\x91\x91\x91\x91", 11, "nesting that never ends");
	expect_bad("\x81\xa1k\xc1", 4, "reserved byte 0xc1 as a value");
	expect_bad("\xc1", 1, "reserved byte 0xc1 as a row");
	expect_bad("\x01", 1, "a row that is an integer");
	expect_bad("\x91\x01", 2, "an array row that is an integer");
	expect_bad("\x81\x01\x01", 3, "an integer key");
	expect_bad("\x81\xc0\x01", 3, "a nil key");
	expect_bad("\x81\xa5k\x01", 4, "a key longer than the buffer");
	expect_bad("\x81\xa1k\xdb\x7f\xff\xff\xff", 8, "str32 longer than the buffer");
	expect_bad("\x81\xa1k\xc6\xff\xff\xff\xff", 8, "bin32 longer than the buffer");
	expect_bad("\x81\xa1k\xc9\xff\xff\xff\xff\x01", 9, "ext32 longer than the buffer");
	expect_bad("\x81\xa1k\xd8\x01", 5, "fixext16 cut short");
	expect_bad("\x81\xa1k\xcb\x00", 5, "float64 cut short");
	expect_bad("\x81\xa1k\xcf\x00\x00", 6, "uint64 cut short");
	expect_bad("\x81\xa1k\xda\x00", 5, "str16 header cut short");
	expect_bad("\x92\x80", 2, "an array promising more rows than it holds");
	expect_bad("\xdc\x00", 2, "array16 header cut short");
	expect_bad("\x82\xa1k\x01", 4, "a map promising more fields than it holds");
	expect_bad("\x80\x81", 2, "a second row cut short");
}
END_TEST

/* Every prefix of valid rows: refused or ended cleanly, never a read
 * past the end. An array that is cut always promises more than it has. */
START_TEST(test_truncated)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t rows, fields;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	pack_all_types(&pk);
	pack_all_types(&pk);
	for (size_t n = 0; n < sb.size; n++) {
		int r = walk_bytes(sb.data, n, &rows, &fields);

		ck_assert_msg(n == 0 ? r == 0 : r == -1, "array cut at %zu of %zu: %d", n, sb.size, r);
	}
	ck_assert_int_eq(walk_bytes(sb.data, sb.size, &rows, &fields), 0);
	ck_assert(rows == 2 && fields == 44);
	/* Back to back: a cut exactly between rows is a clean end. */
	for (size_t n = 1; n < sb.size; n++) {
		int r = walk_bytes(sb.data + 1, n - 1, &rows, &fields);

		ck_assert(r == 0 || r == -1);
		if (r == 0)
			ck_assert_msg(n - 1 == 0 || n - 1 == (sb.size - 1) / 2,
			              "clean end at %zu of %zu", n - 1, sb.size - 1);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Random bytes and randomly damaged rows: -1 or a clean end, no crash, no
 * read outside the buffer (ASan), no hang. */
START_TEST(test_fuzz)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned char junk[64];
	size_t rows, fields;

	for (int i = 0; i < 20000; i++) {
		size_t n = rnd() % sizeof junk;

		for (size_t j = 0; j < n; j++)
			junk[j] = (unsigned char)rnd();
		/* Mostly start like rows, so that the walk gets somewhere. */
		if (n && i % 2)
			junk[0] = (unsigned char)(0x80 | (junk[0] & 0x0f));
		ck_assert(walk_bytes(junk, n, &rows, &fields) >= -1);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	pack_all_types(&pk);
	for (int i = 0; i < 20000; i++) {
		unsigned char *c = exact(sb.data, sb.size);

		for (int k = 0; k < 1 + i % 3; k++)
			c[rnd() % sb.size] = (unsigned char)rnd();
		ck_assert(walk(c, sb.size, &rows, &fields) >= -1);
		free(c);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The cursor agrees with msgpack-c on what it decodes. */
START_TEST(test_matches_msgpack_c)
{
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object obj;
	struct rowd_cursor cur;
	size_t off = 0;
	uint32_t i = 0;

	msgpack_sbuffer_init(&sb);
	pack_rows(&sb, 3, true);
	ck_assert(msgpack_zone_init(&zone, 4096));
	ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
	rowd_cursor_init(&cur, sb.data, sb.size);
	while (rowd_cursor_next_row(&cur, NULL) == 1) {
		const msgpack_object_map *m = &obj.via.array.ptr[i++].via.map;
		struct rowd_value v;
		const char *k;
		size_t kn;

		for (uint32_t f = 0; f < m->size; f++) {
			ck_assert_int_eq(rowd_cursor_next_field(&cur, &k, &kn, &v), 1);
			ck_assert(kn == m->ptr[f].key.via.str.size &&
			          memcmp(k, m->ptr[f].key.via.str.ptr, kn) == 0);
			if (m->ptr[f].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				ck_assert(v.type == ROWD_INT && (uint64_t)v.via.i64 == m->ptr[f].val.via.u64);
			else if (m->ptr[f].val.type == MSGPACK_OBJECT_STR)
				ck_assert(v.type == ROWD_STR && v.via.str.len == m->ptr[f].val.via.str.size);
			else
				ck_assert_int_eq(v.type, ROWD_NESTED);
		}
	}
	ck_assert_uint_eq(i, 3);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

static Suite *cursor_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("cursor");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_wide_headers);
	tcase_add_test(tc, test_nested_cursor);
	tcase_add_test(tc, test_layouts);
	tcase_add_test(tc, test_skip_unread);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_matches_msgpack_c);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cursor_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
