/* Unit tests of the Avro format (daemon/formats/avro*.c). Python has no
 * avro module here, so the containers are built byte by byte below. */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef HAVE_BZIP2
#include <bzlib.h>
#endif
#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "fmt_harness.h"
#include "formats/avro.h"

extern const struct format_ops format_avro;
extern const struct codec_ops codec_none, codec_gzip;

#define CONF TOP_SRCDIR "/tests/data/conformance/iterabledata"
#define SIX_JSONL \
	"{\"id\":\"1\",\"name\":\"John\"}\n{\"id\":\"2\",\"name\":\"Mary\"}\n" \
	"{\"id\":\"3\",\"name\":\"Michael\"}\n{\"id\":\"4\",\"name\":\"Anna\"}\n" \
	"{\"id\":\"5\",\"name\":\"Orban\"}\n{\"id\":\"6\",\"name\":\"Lucy\"}\n"

static const char SYNC[AVRO_SYNC_LEN] = "0123456789abcdef";

/* ---- building containers ----------------------------------------------- */

static void raw(struct mpbuf *b, const void *p, size_t n)
{
	ck_assert_int_eq(mpbuf_append(b, p, n), 0);
}

static void rawstr(struct mpbuf *b, const char *s)
{
	raw(b, s, strlen(s));
}

static void lng(struct mpbuf *b, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	while (u >= 0x80) {
		uint8_t c = (uint8_t)(u | 0x80);

		raw(b, &c, 1);
		u >>= 7;
	}
	raw(b, &(uint8_t){ (uint8_t)u }, 1);
}

static void bytes(struct mpbuf *b, const void *p, size_t n)
{
	lng(b, (int64_t)n);
	raw(b, p, n);
}

static void str(struct mpbuf *b, const char *s)
{
	bytes(b, s, strlen(s));
}

static void header(struct mpbuf *f, const char *schema, const char *codec)
{
	mpbuf_init(f);
	raw(f, AVRO_MAGIC, 4);
	lng(f, codec ? 2 : 1);
	str(f, "avro.schema");
	str(f, schema);
	if (codec) {
		str(f, "avro.codec");
		str(f, codec);
	}
	lng(f, 0);
	raw(f, SYNC, AVRO_SYNC_LEN);
}

static void compress_block(const char *codec, const struct mpbuf *in, struct mpbuf *out)
{
	mpbuf_init(out);
	if (!codec || strcmp(codec, "null") == 0) {
		raw(out, in->data, in->len);
	} else if (strcmp(codec, "deflate") == 0) {
		z_stream z = { 0 };

		ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		ck_assert_int_eq(mpbuf_reserve(out, deflateBound(&z, in->len)), 0);
		z.next_in = (Bytef *)in->data;
		z.avail_in = (uInt)in->len;
		z.next_out = (Bytef *)out->data;
		z.avail_out = (uInt)out->cap;
		ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
		out->len = z.total_out;
		deflateEnd(&z);
#ifdef HAVE_SNAPPY
	} else if (strcmp(codec, "snappy") == 0) {
		size_t n = snappy_max_compressed_length(in->len);
		uint32_t crc = (uint32_t)crc32(0, (const Bytef *)in->data, (uInt)in->len);
		uint8_t be[4] = { crc >> 24, crc >> 16, crc >> 8, crc };

		ck_assert_int_eq(mpbuf_reserve(out, n + 4), 0);
		ck_assert_int_eq(snappy_compress(in->data, in->len, out->data, &n), SNAPPY_OK);
		out->len = n;
		raw(out, be, 4);
#endif
#ifdef HAVE_BZIP2
	} else if (strcmp(codec, "bzip2") == 0) {
		unsigned n = (unsigned)(in->len * 2 + 600);

		ck_assert_int_eq(mpbuf_reserve(out, n), 0);
		/* bzlib refuses a NULL source, even of no bytes. */
		ck_assert_int_eq(BZ2_bzBuffToBuffCompress(out->data, &n, in->data ? in->data : (char *)"",
		                                          (unsigned)in->len,
		                                          9, 0, 0), BZ_OK);
		out->len = n;
#endif
#ifdef HAVE_LZMA
	} else if (strcmp(codec, "xz") == 0) {
		size_t n = 0, cap = lzma_stream_buffer_bound(in->len);

		ck_assert_int_eq(mpbuf_reserve(out, cap), 0);
		ck_assert_int_eq(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL,
		                                         (const uint8_t *)in->data, in->len,
		                                         (uint8_t *)out->data, &n, cap), LZMA_OK);
		out->len = n;
#endif
#ifdef HAVE_ZSTD
	} else if (strcmp(codec, "zstandard") == 0) {
		size_t cap = ZSTD_compressBound(in->len), n;

		ck_assert_int_eq(mpbuf_reserve(out, cap), 0);
		n = ZSTD_compress(out->data, cap, in->data, in->len, 3);
		ck_assert(!ZSTD_isError(n));
		out->len = n;
#endif
	} else {
		ck_abort_msg("no codec %s in the test", codec);
	}
}

/* Appends a block of count rows whose encoded data is d (then frees d). */
static void block(struct mpbuf *f, const char *codec, int64_t count, struct mpbuf *d)
{
	struct mpbuf c;

	compress_block(codec, d, &c);
	lng(f, count);
	bytes(f, c.data, c.len);
	raw(f, SYNC, AVRO_SYNC_LEN);
	mpbuf_free(&c);
	mpbuf_free(d);
}

static struct fmt_result rd(const struct mpbuf *f, size_t batch)
{
	return fmt_read_all(&format_avro, f->data, f->len, NULL, batch);
}

#define ASSERT_OK(r) \
	ck_assert_msg((r).rc == 0, "%s: %s", rowd_err_name((r).err.code), (r).err.message)

/* A file of one block whose rows are given encoded, read at batch 1 and
 * 1000, must give want (JSON Lines). */
static void expect_rows(const char *schema, int64_t count, struct mpbuf *data, const char *want)
{
	struct mpbuf f;

	header(&f, schema, NULL);
	block(&f, NULL, count, data);
	for (size_t batch = 1; batch <= 1000; batch *= 1000) {
		struct fmt_result r = rd(&f, batch);

		ASSERT_OK(r);
		ck_assert_msg(strcmp(r.jsonl, want) == 0, "got %.400s\nwant %.400s", r.jsonl, want);
		ck_assert_uint_eq(r.nrows, (size_t)count);
		fmt_result_free(&r);
	}
	mpbuf_free(&f);
}

/* The error a file gives: its code, a message containing needle, an
 * offset when want_offset >= 0. */
static void expect_error(const struct mpbuf *f, enum rowd_err code, const char *needle,
                         int64_t want_offset)
{
	struct fmt_result r = rd(f, 7);

	ck_assert_msg(r.rc == -1, "no error, rows:\n%s", r.jsonl);
	ck_assert_msg(r.err.code == code, "%s: %s", rowd_err_name(r.err.code), r.err.message);
	ck_assert_msg(strstr(r.err.message, needle), "message: %s", r.err.message);
	if (want_offset >= 0)
		ck_assert_msg(r.err.offset == want_offset, "offset %" PRId64 " (want %" PRId64 "): %s",
		              r.err.offset, want_offset, r.err.message);
	fmt_result_free(&r);
}

/* Counts rows through rd_count, as jobs.c does for totals. */
static int count_rows(const struct mpbuf *f, uint64_t *rows, struct rowd_error *err)
{
	struct rowd_limits lim;
	struct input in;
	struct fmt_args a = { 0 };
	void *st = NULL;
	int fd = memfd_create("avro", 0), rc = -1;

	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, f->data, f->len), (ssize_t)f->len);
	rowd_limits_default(&lim);
	rowd_error_clear(err);
	*rows = 0;
	if (input_open(&in, fd, &codec_none, NULL, lim.row_bytes, err) == 0) {
		a.fmt = &format_avro;
		a.in = &in;
		a.limits = &lim;
		if (format_avro.rd_open(&a, &st, err) == 0) {
			do
				rc = format_avro.rd_count(st, rows, err);
			while (rc == 0);
			format_avro.rd_close(st);
		}
	}
	input_close(&in);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* ---- the conformance file ------------------------------------------------ */

START_TEST(conformance_six)
{
	struct fmt_result r = fmt_read_file(&format_avro, CONF "/2cols6rows.avro", NULL, NULL);
	size_t n;
	char *data = fmt_slurp(CONF "/2cols6rows.avro", &n);
	struct mpbuf f = { data, n, n };
	uint64_t rows;
	struct rowd_error err;

	ASSERT_OK(r);
	ck_assert_str_eq(r.jsonl, SIX_JSONL);
	ck_assert_str_eq(r.columns, "[\"id\",\"name\"]");
	fmt_result_free(&r);
	ck_assert_int_eq(count_rows(&f, &rows, &err), 0);
	ck_assert_uint_eq(rows, 6);
	ck_assert_int_eq(format_avro.probe(data, n), 100);
	ck_assert_int_eq(format_avro.probe("Obj\x02", 4), 0);
	free(data);
}
END_TEST

/* The same file behind gzip (.avro.gz): the container is read from the
 * decoded stream. */
START_TEST(conformance_gzip)
{
	size_t n;
	char *data = fmt_slurp(CONF "/2cols6rows.avro", &n);
	char path[64];
	int fd = memfd_create("avrogz", 0);
	gzFile gz;
	struct fmt_result r;

	ck_assert(data && fd >= 0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	gz = gzdopen(dup(fd), "wb");
	ck_assert_int_eq(gzwrite(gz, data, (unsigned)n), (int)n);
	ck_assert_int_eq(gzclose(gz), Z_OK);
	r = fmt_read_file(&format_avro, path, NULL, &codec_gzip);
	ASSERT_OK(r);
	ck_assert_str_eq(r.jsonl, SIX_JSONL);
	fmt_result_free(&r);
	close(fd);
	free(data);
}
END_TEST

/* ---- types ------------------------------------------------------------------ */

START_TEST(primitives)
{
	static const char schema[] =
		"{\"type\":\"record\",\"name\":\"P\",\"fields\":["
		"{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
		"{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
		"{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
		"{\"name\":\"y\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":{\"type\":\"string\"}}]}";
	struct mpbuf d;
	float fv = 1.5f;
	double dv = -0.25;
	int64_t big = INT64_MIN;

	mpbuf_init(&d);
	/* row 1 */
	raw(&d, "\x01", 1);
	lng(&d, -1);
	lng(&d, big);
	raw(&d, &fv, 4);
	raw(&d, &dv, 8);
	bytes(&d, "ab", 2);
	str(&d, "h\xc3\xa9");
	/* row 2 */
	raw(&d, "\x00", 1);
	lng(&d, INT32_MAX);
	lng(&d, INT64_MAX);
	fv = 0;
	dv = 1e300;
	raw(&d, &fv, 4);
	raw(&d, &dv, 8);
	bytes(&d, "", 0);
	str(&d, "");
	expect_rows(schema, 2, &d,
	            "{\"n\":null,\"b\":true,\"i\":-1,\"l\":-9223372036854775808,\"f\":1.5,"
	            "\"d\":-0.25,\"y\":\"ab\",\"s\":\"h\xc3\xa9\"}\n"
	            "{\"n\":null,\"b\":false,\"i\":2147483647,\"l\":9223372036854775807,"
	            "\"f\":0.0,\"d\":1e+300,\"y\":\"\",\"s\":\"\"}\n");
}
END_TEST

/* bytes and fixed are msgpack bin, string is str, float keeps 32 bits. */
START_TEST(msgpack_kinds)
{
	struct mpbuf f, d;
	struct fmt_result r;
	float fv = 2.0f;

	header(&f, "{\"type\":\"record\",\"name\":\"K\",\"fields\":["
	           "{\"name\":\"y\",\"type\":\"bytes\"},{\"name\":\"x\",\"type\":"
	           "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
	           "{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"f\",\"type\":\"float\"}]}",
	       NULL);
	mpbuf_init(&d);
	bytes(&d, "\x00\xff", 2);
	raw(&d, "\x01\x02", 2);
	str(&d, "z");
	raw(&d, &fv, 4);
	block(&f, NULL, 1, &d);
	r = rd(&f, 10);
	ASSERT_OK(r);
	ck_assert_uint_eq(r.packed_len, 1 + 2 + 4 + 2 + 4 + 2 + 2 + 2 + 5);
	ck_assert_int_eq(memcmp(r.packed,
	                        "\x84\xa1y\xc4\x02\x00\xff\xa1x\xc4\x02\x01\x02\xa1s\xa1z\xa1\x66\xca\x40\x00\x00\x00",
	                        r.packed_len), 0);
	fmt_result_free(&r);
	mpbuf_free(&f);
}
END_TEST

START_TEST(enum_fixed_union)
{
	static const char schema[] =
		"{\"type\":\"record\",\"name\":\"E\",\"namespace\":\"a.b\",\"fields\":["
		"{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Suit\",\"symbols\":[\"S\",\"H\",\"D\"]}},"
		"{\"name\":\"e2\",\"type\":\"Suit\"},"
		"{\"name\":\"e3\",\"type\":\"a.b.Suit\"},"
		"{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"Two\",\"namespace\":\"c\",\"size\":2}},"
		"{\"name\":\"x2\",\"type\":\"c.Two\"},"
		"{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}]}";
	struct mpbuf d;

	mpbuf_init(&d);
	lng(&d, 2); lng(&d, 0); lng(&d, 1);
	raw(&d, "hi", 2); raw(&d, "yo", 2);
	lng(&d, 0);
	lng(&d, 0); lng(&d, 1); lng(&d, 2);
	raw(&d, "ab", 2); raw(&d, "cd", 2);
	lng(&d, 1); str(&d, "s");
	lng(&d, 1); lng(&d, 2); lng(&d, 0);
	raw(&d, "ef", 2); raw(&d, "gh", 2);
	lng(&d, 2); lng(&d, -7);
	expect_rows(schema, 3, &d,
	            "{\"e\":\"D\",\"e2\":\"S\",\"e3\":\"H\",\"x\":\"hi\",\"x2\":\"yo\",\"u\":null}\n"
	            "{\"e\":\"S\",\"e2\":\"H\",\"e3\":\"D\",\"x\":\"ab\",\"x2\":\"cd\",\"u\":\"s\"}\n"
	            "{\"e\":\"H\",\"e2\":\"D\",\"e3\":\"S\",\"x\":\"ef\",\"x2\":\"gh\",\"u\":-7}\n");
}
END_TEST

/* Arrays and maps in several blocks, some with negative counts and a
 * byte size. */
START_TEST(arrays_and_maps)
{
	static const char schema[] =
		"{\"type\":\"record\",\"name\":\"A\",\"fields\":["
		"{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
		"{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
		"{\"name\":\"big\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
		"{\"name\":\"aa\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":\"int\"}}}]}";
	struct mpbuf d, want;

	mpbuf_init(&d);
	/* a: [1, 2] then a block of -2 items with byte size 2: [3, 4] */
	lng(&d, 2); lng(&d, 1); lng(&d, 2);
	lng(&d, -2); lng(&d, 2); lng(&d, 3); lng(&d, 4);
	lng(&d, 0);
	/* m: {"k": "v"} then -1 entry of 5 bytes {"q": "rs"} */
	lng(&d, 1); str(&d, "k"); str(&d, "v");
	lng(&d, -1); lng(&d, 5); str(&d, "q"); str(&d, "rs");
	lng(&d, 0);
	/* big: 70000 nulls (a map32/array32 header in msgpack) in two blocks */
	lng(&d, 40000); lng(&d, -30000); lng(&d, 0); lng(&d, 0);
	/* aa: [[], [5]] */
	lng(&d, 2); lng(&d, 0); lng(&d, 1); lng(&d, 5); lng(&d, 0); lng(&d, 0);
	mpbuf_init(&want);
	rawstr(&want, "{\"a\":[1,2,3,4],\"m\":{\"k\":\"v\",\"q\":\"rs\"},\"big\":[");
	for (int i = 0; i < 70000; i++)
		rawstr(&want, i ? ",null" : "null");
	rawstr(&want, "],\"aa\":[[],[5]]}\n");
	raw(&want, "", 1);
	expect_rows(schema, 1, &d, want.data);
	mpbuf_free(&want);
}
END_TEST

/* A linked list: a record that refers to itself through a union. */
START_TEST(recursive_type)
{
	static const char schema[] =
		"{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"ll\",\"fields\":["
		"{\"name\":\"v\",\"type\":\"int\"},"
		"{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
	struct mpbuf d, f;

	mpbuf_init(&d);
	lng(&d, 1); lng(&d, 1); lng(&d, 2); lng(&d, 1); lng(&d, 3); lng(&d, 0);
	expect_rows(schema, 1, &d,
	            "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3,\"next\":null}}}\n");

	/* 40 levels exceed the depth limit (32): ELIMIT, not a crash. */
	header(&f, schema, NULL);
	mpbuf_init(&d);
	for (int i = 0; i < 40; i++) {
		lng(&d, i);
		lng(&d, 1);
	}
	lng(&d, 0);
	lng(&d, 0);
	block(&f, NULL, 1, &d);
	expect_error(&f, ROWD_ELIMIT, "depth limit", -1);
	mpbuf_free(&f);
}
END_TEST

START_TEST(non_record_top_level)
{
	struct mpbuf d, f;
	struct fmt_result r;

	mpbuf_init(&d);
	lng(&d, 5);
	lng(&d, -6);
	expect_rows("\"long\"", 2, &d, "{\"value\":5}\n{\"value\":-6}\n");

	mpbuf_init(&d);
	lng(&d, 0);
	lng(&d, 1); lng(&d, 1); raw(&d, "\x01", 1); lng(&d, 0);
	expect_rows("[\"null\",{\"type\":\"array\",\"items\":\"boolean\"}]", 2, &d,
	            "{\"value\":null}\n{\"value\":[true]}\n");

	header(&f, "\"string\"", NULL);
	r = rd(&f, 10);
	ASSERT_OK(r);
	ck_assert_str_eq(r.columns, "[\"value\"]");
	ck_assert_uint_eq(r.nrows, 0);
	fmt_result_free(&r);
	mpbuf_free(&f);
}
END_TEST

START_TEST(logical_types)
{
	static const char schema[] =
		"{\"type\":\"record\",\"name\":\"L\",\"fields\":["
		"{\"name\":\"d\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
		"{\"name\":\"tm\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
		"{\"name\":\"tu\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
		"{\"name\":\"lt\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}},"
		"{\"name\":\"t\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
		"{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":9,\"scale\":2}},"
		"{\"name\":\"fd\",\"type\":{\"type\":\"fixed\",\"name\":\"D8\",\"size\":8,\"logicalType\":\"decimal\",\"precision\":18,\"scale\":4}},"
		"{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
		"{\"name\":\"uf\",\"type\":{\"type\":\"fixed\",\"name\":\"U\",\"size\":16,\"logicalType\":\"uuid\"}},"
		"{\"name\":\"ignored\",\"type\":{\"type\":\"string\",\"logicalType\":\"date\"}}]}";
	struct mpbuf d;

	mpbuf_init(&d);
	/* row 1 */
	lng(&d, 19723);                               /* 2024-01-01 */
	lng(&d, 1704164645123);                       /* 2024-01-02T03:04:05.123Z */
	lng(&d, -1);                                  /* 1969-12-31T23:59:59.999999Z */
	lng(&d, 0);
	lng(&d, 3723004);                             /* 01:02:03.004 */
	bytes(&d, "\x04\xce", 2);                     /* 1230 -> 12.30 */
	raw(&d, "\xff\xff\xff\xff\xff\xff\xff\xfb", 8);   /* -5 -> -0.0005 */
	str(&d, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
	raw(&d, "\x6b\xa7\xb8\x10\x9d\xad\x11\xd1\x80\xb4\x00\xc0\x4f\xd4\x30\xc8", 16);
	str(&d, "x");
	/* row 2: extremes */
	lng(&d, -719528);                             /* 0000-01-01 */
	lng(&d, 253402300800000);                     /* 10000-01-01: a signed year */
	lng(&d, INT64_MIN);
	lng(&d, -62135596800001);                     /* 0000-12-31T23:59:59.999 */
	lng(&d, 86399999);
	bytes(&d, "\x80", 1);                         /* -128 -> -1.28 */
	raw(&d, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
	str(&d, "");
	raw(&d, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	str(&d, "");
	/* row 3: empty decimal (0), big decimal */
	lng(&d, -1);
	lng(&d, 0);
	lng(&d, 0);
	lng(&d, 0);
	lng(&d, 0);
	bytes(&d, "\x05\xf5\xe0\xff", 4);            /* 99999999 -> 999999.99 */
	raw(&d, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8);   /* INT64_MAX at scale 4 */
	str(&d, "u");
	raw(&d, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
	str(&d, "");
	expect_rows(schema, 3, &d,
	            "{\"d\":\"2024-01-01\",\"tm\":\"2024-01-02T03:04:05.123Z\","
	            "\"tu\":\"1969-12-31T23:59:59.999999Z\",\"lt\":\"1970-01-01T00:00:00.000\","
	            "\"t\":\"01:02:03.004\",\"dec\":\"12.30\",\"fd\":\"-0.0005\","
	            "\"u\":\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\","
	            "\"uf\":\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\",\"ignored\":\"x\"}\n"
	            "{\"d\":\"0000-01-01\",\"tm\":\"+10000-01-01T00:00:00.000Z\","
	            "\"tu\":\"-290308-12-21T19:59:05.224192Z\",\"lt\":\"0000-12-31T23:59:59.999\","
	            "\"t\":\"23:59:59.999\",\"dec\":\"-1.28\",\"fd\":\"0.0000\",\"u\":\"\","
	            "\"uf\":\"00000000-0000-0000-0000-000000000000\",\"ignored\":\"\"}\n"
	            "{\"d\":\"1969-12-31\",\"tm\":\"1970-01-01T00:00:00.000Z\","
	            "\"tu\":\"1970-01-01T00:00:00.000000Z\",\"lt\":\"1970-01-01T00:00:00.000\","
	            "\"t\":\"00:00:00.000\",\"dec\":\"999999.99\",\"fd\":\"922337203685477.5807\","
	            "\"u\":\"u\",\"uf\":\"ffffffff-ffff-ffff-ffff-ffffffffffff\",\"ignored\":\"\"}\n");
}
END_TEST

/* Exact digits of long two's complement values. */
START_TEST(decimal_digits)
{
	static const struct {
		const char *bytes;
		size_t n;
		int32_t scale;
		const char *want;
	} cases[] = {
		{ "", 0, 0, "0" },
		{ "", 0, 3, "0.000" },
		{ "\x00", 1, 0, "0" },
		{ "\xff", 1, 0, "-1" },
		{ "\xff", 1, 2, "-0.01" },
		{ "\x7f", 1, 1, "12.7" },
		{ "\x00\x80", 2, 0, "128" },
		{ "\x80\x00\x00\x00\x00\x00\x00\x00", 8, 0, "-9223372036854775808" },
		{ "\x3b\x9a\xca\x00", 4, 0, "1000000000" },
		{ "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 13, 5,
		  "792281625142643375935439.50336" },      /* 2^96 / 10^5 */
		{ "\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 13, 0,
		  "-79228162514264337593543950336" },      /* -2^96 */
	};
	char buf[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_uint_le(avro_decimal_cap(cases[i].n, cases[i].scale), sizeof buf);
		avro_fmt_decimal((const uint8_t *)cases[i].bytes, cases[i].n, cases[i].scale, buf,
		                 sizeof buf);
		ck_assert_msg(strcmp(buf, cases[i].want) == 0, "case %zu: %s, want %s", i, buf,
		              cases[i].want);
	}
}
END_TEST

/* ---- block codecs and several blocks ----------------------------------------- */

static void codec_roundtrip(const char *codec)
{
	struct mpbuf f, d;
	struct mpbuf want;
	uint64_t rows;
	struct rowd_error err;

	header(&f, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"i\",\"type\":\"long\"},"
	           "{\"name\":\"s\",\"type\":\"string\"}]}", codec);
	mpbuf_init(&want);
	/* Blocks of 1, 0, 500 and 3 rows. */
	for (int b = 0, row = 0; b < 4; b++) {
		int n = b == 0 ? 1 : b == 1 ? 0 : b == 2 ? 500 : 3;
		char line[80];

		mpbuf_init(&d);
		for (int i = 0; i < n; i++, row++) {
			lng(&d, row * 1000);
			snprintf(line, sizeof line, "row %d", row);
			str(&d, line);
			snprintf(line, sizeof line, "{\"i\":%d,\"s\":\"row %d\"}\n", row * 1000, row);
			raw(&want, line, strlen(line));
		}
		block(&f, codec, n, &d);
	}
	raw(&want, "", 1);
	for (size_t batch = 1; batch <= 1000; batch *= 10) {
		struct fmt_result r = rd(&f, batch);

		ASSERT_OK(r);
		ck_assert_str_eq(r.jsonl, want.data);
		fmt_result_free(&r);
	}
	ck_assert_int_eq(count_rows(&f, &rows, &err), 0);
	ck_assert_uint_eq(rows, 504);
	mpbuf_free(&want);
	mpbuf_free(&f);
}

START_TEST(codec_null) { codec_roundtrip("null"); }
END_TEST
START_TEST(codec_deflate) { codec_roundtrip("deflate"); }
END_TEST
#ifdef HAVE_SNAPPY
START_TEST(codec_snappy) { codec_roundtrip("snappy"); }
END_TEST
#endif
#ifdef HAVE_BZIP2
START_TEST(codec_bzip2) { codec_roundtrip("bzip2"); }
END_TEST
#endif
#ifdef HAVE_LZMA
START_TEST(codec_xz) { codec_roundtrip("xz"); }
END_TEST
#endif
#ifdef HAVE_ZSTD
START_TEST(codec_zstd) { codec_roundtrip("zstandard"); }
END_TEST
#endif

START_TEST(codec_unsupported)
{
	struct mpbuf f;
	struct fmt_result r;

	header(&f, "\"int\"", "lzo");
	r = rd(&f, 10);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ENOTSUP);
	ck_assert_msg(strstr(r.err.message, "lzo"), "%s", r.err.message);
	fmt_result_free(&r);
	mpbuf_free(&f);
}
END_TEST

/* A corrupt compressed block is EFORMAT naming the block; a snappy block
 * with a wrong checksum too. */
START_TEST(codec_corrupt)
{
	const char *codecs[] = { "deflate",
#ifdef HAVE_SNAPPY
		"snappy",
#endif
	};

	for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
		struct mpbuf f, d;
		size_t start;

		header(&f, "\"string\"", codecs[c]);
		start = f.len;
		mpbuf_init(&d);
		for (int i = 0; i < 50; i++)
			str(&d, "some text to compress, some text to compress");
		block(&f, codecs[c], 50, &d);
		/* Flip a byte in the middle of the compressed data, or the last
		 * checksum byte for snappy. */
		if (strcmp(codecs[c], "snappy") == 0)
			f.data[f.len - AVRO_SYNC_LEN - 1] ^= 0x01;
		else
			f.data[start + 6] ^= 0x55;
		expect_error(&f, ROWD_EFORMAT, "avro block 1 at offset", (int64_t)start);
		if (strcmp(codecs[c], "snappy") == 0)
			expect_error(&f, ROWD_EFORMAT, "CRC32", -1);
		mpbuf_free(&f);
	}
}
END_TEST

/* ---- corrupt input ------------------------------------------------------------ */

static const char REC[] = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                          "{\"name\":\"u\",\"type\":[\"null\",\"string\"]}]}";

/* A file of two blocks of two rows each (null codec). */
static void two_blocks(struct mpbuf *f)
{
	struct mpbuf d;

	header(f, REC, NULL);
	for (int b = 0; b < 2; b++) {
		mpbuf_init(&d);
		lng(&d, 1); str(&d, "one");
		lng(&d, 0);
		block(f, NULL, 2, &d);
	}
}

START_TEST(bad_magic)
{
	struct mpbuf f;

	two_blocks(&f);
	f.data[3] = 2;
	expect_error(&f, ROWD_EFORMAT, "bad magic", 0);
	f.len = 0;
	expect_error(&f, ROWD_EFORMAT, "too short", -1);
	mpbuf_free(&f);
}
END_TEST

/* Every prefix of a valid file is either a valid file (it ends after a
 * sync marker) or EFORMAT: a cut never passes for a clean end. */
START_TEST(every_truncation)
{
	struct mpbuf f;
	size_t full;
	int whole = 0;

	two_blocks(&f);
	full = f.len;
	for (size_t n = 0; n < full; n++) {
		struct fmt_result r = fmt_read_all(&format_avro, f.data, n, NULL, 3);
		uint64_t rows = 0;
		struct rowd_error err;
		struct mpbuf cut = { f.data, n, n };

		if (r.rc == 0) {
			/* Only after the header's or a block's sync marker. */
			ck_assert_msg(memcmp(f.data + n - AVRO_SYNC_LEN, SYNC, AVRO_SYNC_LEN) == 0,
			              "prefix %zu read as a whole file", n);
			whole++;
			ck_assert_int_eq(count_rows(&cut, &rows, &err), 0);
			ck_assert_uint_eq(rows, r.nrows);
		} else {
			ck_assert_msg(r.err.code == ROWD_EFORMAT, "prefix %zu: %s %s", n,
			              rowd_err_name(r.err.code), r.err.message);
			ck_assert_msg(strstr(r.err.message, "truncated") || strstr(r.err.message, "too short"),
			              "prefix %zu: %s", n, r.err.message);
			ck_assert_int_eq(count_rows(&cut, &rows, &err), -1);
			ck_assert_int_eq(err.code, ROWD_EFORMAT);
		}
		fmt_result_free(&r);
	}
	ck_assert_int_eq(whole, 2);     /* header alone, header + block 1 */
	mpbuf_free(&f);
}
END_TEST

START_TEST(bad_sync)
{
	struct mpbuf f;
	struct fmt_result r;
	uint64_t rows;
	struct rowd_error err;

	two_blocks(&f);
	f.data[f.len - 1] ^= 1;             /* the second block's marker */
	r = rd(&f, 1);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	ck_assert_uint_eq(r.nrows, 2);      /* the first block's rows came */
	ck_assert_msg(strstr(r.err.message, "avro block 2") && strstr(r.err.message, "sync marker"),
	              "%s", r.err.message);
	ck_assert_int_eq(r.err.offset, (int64_t)(f.len - AVRO_SYNC_LEN));
	fmt_result_free(&r);
	ck_assert_int_eq(count_rows(&f, &rows, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	mpbuf_free(&f);
}
END_TEST

/* A file whose only block holds the given row data (one row). */
static void one_row(struct mpbuf *f, const char *schema, struct mpbuf *d)
{
	header(f, schema, NULL);
	block(f, NULL, 1, d);
}

START_TEST(bad_datums)
{
	struct mpbuf f, d;
	size_t data_at;

	/* union index out of range, at the exact offset of the index */
	header(&f, REC, NULL);
	data_at = f.len + 2;
	mpbuf_init(&d);
	lng(&d, 2);
	block(&f, NULL, 1, &d);
	expect_error(&f, ROWD_EFORMAT, "union index 2 out of range", (int64_t)data_at);
	expect_error(&f, ROWD_EFORMAT, "row 1", -1);
	mpbuf_free(&f);

	/* overlong varint: 11 bytes */
	mpbuf_init(&d);
	raw(&d, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
	one_row(&f, "\"long\"", &d);
	expect_error(&f, ROWD_EFORMAT, "overlong varint", -1);
	mpbuf_free(&f);

	/* an int varint of 6 bytes */
	mpbuf_init(&d);
	raw(&d, "\x80\x80\x80\x80\x80\x00", 6);
	one_row(&f, "\"int\"", &d);
	expect_error(&f, ROWD_EFORMAT, "overlong varint for an int", -1);
	mpbuf_free(&f);

	/* a string length past the end of the block */
	mpbuf_init(&d);
	lng(&d, 1);
	lng(&d, 100);
	raw(&d, "abc", 3);
	one_row(&f, REC, &d);
	expect_error(&f, ROWD_EFORMAT, "runs past the end of the block", -1);
	mpbuf_free(&f);

	/* invalid UTF-8, negative length, enum index, boolean byte */
	mpbuf_init(&d);
	lng(&d, 1);
	bytes(&d, "a\xff", 2);
	one_row(&f, REC, &d);
	expect_error(&f, ROWD_EFORMAT, "not valid UTF-8", -1);
	mpbuf_free(&f);
	mpbuf_init(&d);
	lng(&d, 1);
	lng(&d, -3);
	one_row(&f, REC, &d);
	expect_error(&f, ROWD_EFORMAT, "negative length", -1);
	mpbuf_free(&f);
	mpbuf_init(&d);
	lng(&d, 3);
	one_row(&f, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", &d);
	expect_error(&f, ROWD_EFORMAT, "enum index 3 out of range", -1);
	mpbuf_free(&f);
	mpbuf_init(&d);
	raw(&d, "\x02", 1);
	one_row(&f, "\"boolean\"", &d);
	expect_error(&f, ROWD_EFORMAT, "boolean", -1);
	mpbuf_free(&f);

	/* bytes left over after the block's rows */
	mpbuf_init(&d);
	lng(&d, 0);
	lng(&d, 0);
	one_row(&f, REC, &d);
	expect_error(&f, ROWD_EFORMAT, "1 bytes left over", -1);
	mpbuf_free(&f);

	/* more rows than the block's bytes can hold */
	header(&f, REC, NULL);
	mpbuf_init(&d);
	lng(&d, 0);
	block(&f, NULL, 1000, &d);
	expect_error(&f, ROWD_EFORMAT, "1000 rows cannot fit in 1 bytes", -1);
	mpbuf_free(&f);

	/* an array block whose byte size disagrees with its items */
	mpbuf_init(&d);
	lng(&d, -1); lng(&d, 5); lng(&d, 7); lng(&d, 0);
	one_row(&f, "{\"type\":\"array\",\"items\":\"long\"}", &d);
	expect_error(&f, ROWD_EFORMAT, "byte size", -1);
	mpbuf_free(&f);

	/* an array claiming more items than bytes */
	mpbuf_init(&d);
	lng(&d, 1000000); lng(&d, 1);
	one_row(&f, "{\"type\":\"array\",\"items\":\"long\"}", &d);
	expect_error(&f, ROWD_EFORMAT, "cannot fit", -1);
	mpbuf_free(&f);
}
END_TEST

START_TEST(bad_schemas)
{
	static const struct {
		const char *schema, *needle;
	} cases[] = {
		{ "{\"type\":", "not JSON" },
		{ "not json", "not JSON" },
		{ "\"Nope\"", "unknown type name Nope" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Other\"}]}",
		  "unknown type name Other" },
		{ "{\"type\":\"record\",\"name\":\"R\"}", "fields" },
		{ "{\"type\":\"record\",\"fields\":[]}", "without a name" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
		  "{\"name\":\"a\",\"type\":\"int\"}]}", "field named twice: a" },
		{ "[\"int\",[\"null\"]]", "union directly inside a union" },
		{ "[]", "empty union" },
		{ "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}", "symbols" },
		{ "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "size" },
		{ "{\"type\":\"array\"}", "items" },
		{ "42", "must be a string, an object or an array" },
		{ "[{\"type\":\"fixed\",\"name\":\"F\",\"size\":1},{\"type\":\"enum\",\"name\":\"F\",\"symbols\":[\"a\"]}]",
		  "defined twice" },
		{ "{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "cannot be called int" },
		/* the namespace does not leak out of its record */
		{ "[{\"type\":\"fixed\",\"name\":\"F\",\"namespace\":\"n\",\"size\":1},\"F\"]",
		  "unknown type name F" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mpbuf f;
		struct fmt_result r;

		header(&f, cases[i].schema, NULL);
		r = rd(&f, 10);
		ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "case %zu accepted", i);
		ck_assert_msg(strstr(r.err.message, cases[i].needle), "case %zu: %s", i,
		              r.err.message);
		ck_assert_msg(strstr(r.err.message, "avro.schema"), "case %zu: %s", i, r.err.message);
		ck_assert_int_eq(r.err.offset, 4 + 1 + 1 + 11 + (strlen(cases[i].schema) < 64 ? 1 : 2));
		fmt_result_free(&r);
		mpbuf_free(&f);
	}
}
END_TEST

/* A deep JSON text is refused before yajl builds (and recursively frees)
 * its tree. */
START_TEST(deep_schema_json)
{
	size_t n = 100000;
	char *s = malloc(2 * n + 1);
	struct mpbuf f;

	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = 0;
	header(&f, s, NULL);
	expect_error(&f, ROWD_EFORMAT, "deeper than the depth limit", -1);
	mpbuf_free(&f);
	free(s);
}
END_TEST

START_TEST(header_errors)
{
	struct mpbuf f;

	/* no avro.schema */
	mpbuf_init(&f);
	raw(&f, AVRO_MAGIC, 4);
	lng(&f, 1);
	str(&f, "other");
	str(&f, "x");
	lng(&f, 0);
	raw(&f, SYNC, AVRO_SYNC_LEN);
	expect_error(&f, ROWD_EFORMAT, "no avro.schema", -1);
	mpbuf_free(&f);

	/* an overlong varint in the metadata count */
	mpbuf_init(&f);
	raw(&f, AVRO_MAGIC, 4);
	raw(&f, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);
	expect_error(&f, ROWD_EFORMAT, "overlong varint", 4);
	mpbuf_free(&f);

	/* a negative block count */
	header(&f, REC, NULL);
	lng(&f, -2);
	lng(&f, 0);
	raw(&f, SYNC, AVRO_SYNC_LEN);
	expect_error(&f, ROWD_EFORMAT, "negative row count", -1);
	mpbuf_free(&f);
}
END_TEST

/* ---- limits ---------------------------------------------------------------- */

START_TEST(limits)
{
	struct rowd_limits lim;
	struct mpbuf f, d;
	struct fmt_result r;

	/* a block over row_bytes: refused from its header on */
	rowd_limits_default(&lim);
	lim.row_bytes = 1000;
	header(&f, "\"string\"", NULL);
	mpbuf_init(&d);
	for (int i = 0; i < 100; i++)
		str(&d, "0123456789abcdef");
	block(&f, NULL, 100, &d);
	r = fmt_read_all_limits(&format_avro, f.data, f.len, NULL, 10, &lim);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ELIMIT);
	ck_assert_msg(strstr(r.err.message, "row_bytes"), "%s", r.err.message);
	fmt_result_free(&r);
	mpbuf_free(&f);

	/* a deflate block that inflates past row_bytes */
	header(&f, "\"string\"", "deflate");
	mpbuf_init(&d);
	for (int i = 0; i < 100; i++)
		str(&d, "0123456789abcdef");
	block(&f, "deflate", 100, &d);
	r = fmt_read_all_limits(&format_avro, f.data, f.len, NULL, 10, &lim);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_ELIMIT);
	ck_assert_msg(strstr(r.err.message, "decompresses"), "%s", r.err.message);
	fmt_result_free(&r);
	mpbuf_free(&f);

	/* rows of nulls take no bytes: their count meets the elements limit */
	header(&f, "\"null\"", NULL);
	mpbuf_init(&d);
	block(&f, NULL, 5000000, &d);
	expect_error(&f, ROWD_ELIMIT, "elements limit", -1);
	mpbuf_free(&f);

	/* arrays of nulls cost nothing in Avro: the elements limit, then
	 * row_bytes for the packed row */
	mpbuf_init(&d);
	lng(&d, 2000000); lng(&d, 0);
	one_row(&f, "{\"type\":\"array\",\"items\":\"null\"}", &d);
	expect_error(&f, ROWD_ELIMIT, "elements limit", -1);
	mpbuf_free(&f);
	mpbuf_init(&d);
	lng(&d, 1000);
	for (int i = 0; i < 1000; i++) {
		lng(&d, 900000);
		lng(&d, 0);
	}
	lng(&d, 0);
	one_row(&f, "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":\"null\"}}", &d);
	expect_error(&f, ROWD_ELIMIT, "row_bytes limit", -1);
	mpbuf_free(&f);
}
END_TEST

START_TEST(options_refused)
{
	struct mpbuf f;
	struct fmt_result r;

	two_blocks(&f);
	r = fmt_read_all(&format_avro, f.data, f.len, "{\"delimiter\":\",\"}", 10);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(r.err.message, "delimiter"), "%s", r.err.message);
	fmt_result_free(&r);
	r = rd(&f, 10);
	ASSERT_OK(r);
	ck_assert_str_eq(r.jsonl, "{\"u\":\"one\"}\n{\"u\":null}\n{\"u\":\"one\"}\n{\"u\":null}\n");
	fmt_result_free(&r);
	mpbuf_free(&f);
}
END_TEST

/* ---- writer ------------------------------------------------------------------- */

/* Writes rows (JSON Lines) one by one, going on after a rejected row;
 * errors are collected one per line as "row N: CODE message". Returns
 * the file (malloc'd, *n set). */
static char *write_lenient(const char *rows, const char *opts, size_t *n, char *errs,
                           size_t errcap)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct output out;
	struct fmt_args a = { 0 };
	struct mpbuf optraw, row;
	msgpack_unpacked optup, up;
	size_t off = 0;
	void *st = NULL;
	char *res;
	int fd = memfd_create("avrow", 0);
	off_t size;

	ck_assert(fd >= 0);
	errs[0] = 0;
	rowd_limits_default(&lim);
	mpbuf_init(&optraw);
	mpbuf_init(&row);
	msgpack_unpacked_init(&optup);
	msgpack_unpacked_init(&up);
	if (opts) {
		ck_assert_int_eq(proto_json_to_msgpack(opts, strlen(opts), &lim, &optraw, &err), 0);
		ck_assert(msgpack_unpack_next(&optup, optraw.data, optraw.len, &off) == MSGPACK_UNPACK_SUCCESS);
		a.options = &optup.data;
	}
	ck_assert_int_eq(output_open(&out, fd, &codec_none, NULL, &err), 0);
	a.fmt = &format_avro;
	a.out = &out;
	a.limits = &lim;
	ck_assert_msg(format_avro.wr_open(&a, &st, &err) == 0, "%s", err.message);
	for (const char *p = rows; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		row.len = 0;
		off = 0;
		ck_assert_int_eq(proto_json_to_msgpack(p, len, &lim, &row, &err), 0);
		ck_assert(msgpack_unpack_next(&up, row.data, row.len, &off) == MSGPACK_UNPACK_SUCCESS);
		rowd_error_clear(&err);
		if (format_avro.wr_row(st, &up.data, &err) < 0) {
			size_t used = strlen(errs);

			snprintf(errs + used, errcap - used, "%s %s\n", rowd_err_name(err.code), err.message);
		}
		ck_assert_int_eq(output_flush_if_full(&out, &err), 0);
		p += len + (nl ? 1 : 0);
	}
	ck_assert_msg(format_avro.wr_finish(st, &err) == 0, "%s", err.message);
	ck_assert_int_eq(output_finish(&out, &err), 0);
	format_avro.wr_close(st);
	output_close(&out);
	size = lseek(fd, 0, SEEK_END);
	res = malloc((size_t)size + 1);
	ck_assert(res && pread(fd, res, (size_t)size, 0) == size);
	*n = (size_t)size;
	close(fd);
	mpbuf_free(&optraw);
	mpbuf_free(&row);
	msgpack_unpacked_destroy(&optup);
	msgpack_unpacked_destroy(&up);
	return res;
}

/* The avro.schema text of a file written here (it follows the key). */
static char *schema_of(const char *file, size_t n)
{
	const char *k = memmem(file, n, "avro.schema", 11);
	int64_t len;
	size_t used;

	ck_assert_ptr_nonnull(k);
	k += 11;
	ck_assert_int_eq(avro_read_long((const uint8_t *)k, (const uint8_t *)file + n, &len, &used), 1);
	return strndup(k + used, (size_t)len);
}

static const char WROWS[] =
	"{\"id\":1,\"name\":\"a\",\"score\":null,\"ok\":true,\"tags\":[\"x\",null],\"geo\":{\"lat\":1.5,\"lon\":-2}}\n"
	"{\"id\":-2,\"name\":\"b\",\"score\":2.25,\"ok\":false,\"tags\":[],\"geo\":null}\n"
	"{\"name\":\"\\u00e9\",\"score\":3,\"geo\":{\"lat\":0.5}}\n"
	"{\"id\":9223372036854775807,\"tags\":null,\"ok\":null}\n"
	"{\"ok\":true,\"id\":5,\"name\":\"reordered\"}\n";
static const char WREAD[] =
	"{\"id\":1,\"name\":\"a\",\"score\":null,\"ok\":true,\"tags\":[\"x\",null],\"geo\":{\"lat\":1.5,\"lon\":-2}}\n"
	"{\"id\":-2,\"name\":\"b\",\"score\":2.25,\"ok\":false,\"tags\":[],\"geo\":null}\n"
	"{\"id\":null,\"name\":\"\xc3\xa9\",\"score\":3.0,\"ok\":null,\"tags\":null,\"geo\":{\"lat\":0.5,\"lon\":null}}\n"
	"{\"id\":9223372036854775807,\"name\":null,\"score\":null,\"ok\":null,\"tags\":null,\"geo\":null}\n"
	"{\"id\":5,\"name\":\"reordered\",\"score\":null,\"ok\":true,\"tags\":null,\"geo\":null}\n";

START_TEST(write_roundtrip)
{
	static const char *const opts[] = {
		NULL, "{\"codec\":\"deflate\",\"block_rows\":2}", "{\"codec\":\"null\",\"block_rows\":4}",
#ifdef HAVE_SNAPPY
		"{\"codec\":\"snappy\",\"block_rows\":3}",
#endif
	};

	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		struct rowd_error err;
		size_t n;
		char *file = fmt_write_all(&format_avro, WROWS, opts[i], &n, &err);
		struct fmt_result r;
		struct mpbuf f;
		uint64_t rows;
		char *schema;

		ck_assert_msg(file, "%s: %s", opts[i] ? opts[i] : "{}", err.message);
		r = fmt_read_all(&format_avro, file, n, NULL, 2);
		ASSERT_OK(r);
		ck_assert_msg(strcmp(r.jsonl, WREAD) == 0, "%s:\n%s", opts[i] ? opts[i] : "{}", r.jsonl);
		ck_assert_str_eq(r.columns, "[\"id\",\"name\",\"score\",\"ok\",\"tags\",\"geo\"]");
		fmt_result_free(&r);
		f = (struct mpbuf){ file, n, n };
		ck_assert_int_eq(count_rows(&f, &rows, &err), 0);
		ck_assert_uint_eq(rows, 5);
		schema = schema_of(file, n);
		ck_assert_str_eq(schema,
		                 "{\"type\":\"record\",\"name\":\"Row\",\"fields\":["
		                 "{\"name\":\"id\",\"type\":[\"null\",\"long\"],\"default\":null},"
		                 "{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},"
		                 "{\"name\":\"score\",\"type\":[\"null\",\"double\"],\"default\":null},"
		                 "{\"name\":\"ok\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
		                 "{\"name\":\"tags\",\"type\":[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"string\"]}],\"default\":null},"
		                 "{\"name\":\"geo\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Row1\",\"fields\":["
		                 "{\"name\":\"lat\",\"type\":[\"null\",\"double\"],\"default\":null},"
		                 "{\"name\":\"lon\",\"type\":[\"null\",\"long\"],\"default\":null}]}],\"default\":null}]}");
		free(schema);
		free(file);
	}
}
END_TEST

START_TEST(write_rejects)
{
	static const struct {
		const char *rows, *want;
	} cases[] = {
		{ "{\"a\":1}\n{\"a\":1,\"b\":2}\n",
		  "EINVAL row 2: key \"b\" is not in the schema (made from the first row)\n" },
		{ "{\"a\":1}\n{\"a\":\"x\"}\n",
		  "EINVAL row 2, field \"a\": a string where the schema (from the first rows) has long\n" },
		{ "{\"a\":{\"b\":[1]}}\n{\"a\":{\"b\":[1,2.5]}}\n",
		  "EINVAL row 2, field \"a.b.[]\": a float where the schema (from the first rows) has long\n" },
		{ "{\"a\":18446744073709551615}\n",
		  "EINVAL row 1, field \"a\": 18446744073709551615 is above the largest Avro long\n" },
		{ "[1]\n", "EINVAL row 1: a row must be a map, not an array\n" },
		{ "{\"a\":{\"x\":1}}\n{\"a\":{\"y\":1}}\n",
		  "EINVAL row 2, field \"a\": key \"y\" is not in the schema (made from the first row)\n" },
	};
	char errs[1024];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n;
		char *file = write_lenient(cases[i].rows, NULL, &n, errs, sizeof errs);

		ck_assert_msg(strcmp(errs, cases[i].want) == 0, "case %zu: %s", i, errs);
		free(file);
	}
}
END_TEST

/* A rejected row fixes no type; a field null all through the first block
 * is a string for good. */
START_TEST(write_types_settle)
{
	char errs[1024];
	size_t n;
	char *file;
	struct fmt_result r;

	file = write_lenient("{\"a\":null,\"b\":null}\n"
	                     "{\"a\":[1],\"b\":{\"q\":1},\"c\":1}\n"    /* c: rejected */
	                     "{\"a\":\"s\",\"b\":true}\n", NULL, &n, errs, sizeof errs);
	ck_assert_str_eq(errs, "EINVAL row 2: key \"c\" is not in the schema (made from the first row)\n");
	r = fmt_read_all(&format_avro, file, n, NULL, 10);
	ASSERT_OK(r);
	ck_assert_str_eq(r.jsonl, "{\"a\":null,\"b\":null}\n{\"a\":\"s\",\"b\":true}\n");
	fmt_result_free(&r);
	free(file);

	file = write_lenient("{\"a\":null}\n{\"a\":\"x\"}\n{\"a\":5}\n", "{\"block_rows\":1}", &n,
	                     errs, sizeof errs);
	ck_assert_str_eq(errs, "EINVAL row 3, field \"a\": an integer where the schema (from the first rows) has string\n");
	r = fmt_read_all(&format_avro, file, n, NULL, 10);
	ASSERT_OK(r);
	ck_assert_str_eq(r.jsonl, "{\"a\":null}\n{\"a\":\"x\"}\n");
	fmt_result_free(&r);
	free(file);
}
END_TEST

START_TEST(write_empty_and_options)
{
	struct rowd_error err;
	size_t n;
	char *file = fmt_write_all(&format_avro, "", NULL, &n, &err);
	struct fmt_result r;

	ck_assert_ptr_nonnull(file);
	r = fmt_read_all(&format_avro, file, n, NULL, 10);
	ASSERT_OK(r);
	ck_assert_uint_eq(r.nrows, 0);
	ck_assert_str_eq(r.columns, "[]");
	fmt_result_free(&r);
	free(file);

	ck_assert_ptr_null(fmt_write_all(&format_avro, "{\"a\":1}\n", "{\"codec\":\"lzo\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_null(fmt_write_all(&format_avro, "{\"a\":1}\n", "{\"block_rows\":0}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(err.message, "block_rows"), "%s", err.message);
	ck_assert_ptr_null(fmt_write_all(&format_avro, "{\"a\":1}\n", "{\"tagname\":\"x\"}", &n, &err));
	ck_assert_int_eq(err.code, ROWD_EINVAL);
}
END_TEST

static Suite *avro_suite(void)
{
	Suite *s = suite_create("avro");
	TCase *tc = tcase_create("read");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, conformance_six);
	tcase_add_test(tc, conformance_gzip);
	tcase_add_test(tc, primitives);
	tcase_add_test(tc, msgpack_kinds);
	tcase_add_test(tc, enum_fixed_union);
	tcase_add_test(tc, arrays_and_maps);
	tcase_add_test(tc, recursive_type);
	tcase_add_test(tc, non_record_top_level);
	tcase_add_test(tc, logical_types);
	tcase_add_test(tc, decimal_digits);
	tcase_add_test(tc, options_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("codecs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, codec_null);
	tcase_add_test(tc, codec_deflate);
#ifdef HAVE_SNAPPY
	tcase_add_test(tc, codec_snappy);
#endif
#ifdef HAVE_BZIP2
	tcase_add_test(tc, codec_bzip2);
#endif
#ifdef HAVE_LZMA
	tcase_add_test(tc, codec_xz);
#endif
#ifdef HAVE_ZSTD
	tcase_add_test(tc, codec_zstd);
#endif
	tcase_add_test(tc, codec_unsupported);
	tcase_add_test(tc, codec_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_magic);
	tcase_add_test(tc, every_truncation);
	tcase_add_test(tc, bad_sync);
	tcase_add_test(tc, bad_datums);
	tcase_add_test(tc, bad_schemas);
	tcase_add_test(tc, deep_schema_json);
	tcase_add_test(tc, header_errors);
	tcase_add_test(tc, limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, write_roundtrip);
	tcase_add_test(tc, write_rejects);
	tcase_add_test(tc, write_types_settle);
	tcase_add_test(tc, write_empty_and_options);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(avro_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
