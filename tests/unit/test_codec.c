/* Codec tests: gzip (ISA-L and zlib paths when ISA-L is built in) and none.
 *
 * Files are memfds read through struct rawin directly (to choose the
 * output buffer size, down to one byte) and through input.h/output.h as
 * the formats use them. Hostile input sits beside the round trips:
 * truncation at every offset, flipped bytes, garbage, padding, members
 * that straddle the codec's read chunk.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "codec.h"
#include "input.h"
#include "output.h"
#include "codec_harness.h"

/* The gzip reader's raw read size (GZ_IN_CHUNK in codecs/gzip.c): the
 * chunk-edge test places member boundaries around it. */
#define GZ_TEST_CHUNK (256 * 1024)

#define BIG_TEXT (10u * 1024 * 1024)

/* ---- helpers ------------------------------------------------------------ */

static const struct codec_ops *gzip_codec(void)
{
	const struct codec_ops *c = codec_find("gzip", 4);

	ck_assert_ptr_nonnull(c);
	return c;
}

static const struct codec_ops *none_codec(void)
{
	const struct codec_ops *c = codec_find("none", 4);

	ck_assert_ptr_nonnull(c);
	return c;
}

/* One gzip member made by zlib itself, independent of the codec's
 * writer (level 0 gives stored blocks, whose size is predictable). */
static struct buf zlib_gzip(const void *p, size_t n, int level, gz_header *head)
{
	struct buf b = { 0 };
	z_stream z;
	uLong bound;

	memset(&z, 0, sizeof z);
	ck_assert_int_eq(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                              Z_DEFAULT_STRATEGY), Z_OK);
	if (head)
		ck_assert_int_eq(deflateSetHeader(&z, head), Z_OK);
	bound = deflateBound(&z, (uLong)n) + 1024;
	b.p = malloc(bound);
	ck_assert_ptr_nonnull(b.p);
	b.cap = bound;
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = b.p;
	z.avail_out = (uInt)bound;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	b.n = bound - z.avail_out;
	ck_assert_int_eq(deflateEnd(&z), Z_OK);
	return b;
}

/* The implementations to run every read (and some writes) through: the
 * default (ISA-L when built in: every inflate, deflate at level 1) and
 * zlib, forced by the codec's ROWD_GZIP_ZLIB test hook. */
#ifdef HAVE_ISAL
#define N_IMPLS 2
#else
#define N_IMPLS 1
#endif
static const char *const impl_name[] = { "default", "zlib" };

static void use_impl(int i)
{
	if (i == 1)
		ck_assert_int_eq(setenv("ROWD_GZIP_ZLIB", "1", 1), 0);
	else
		ck_assert_int_eq(unsetenv("ROWD_GZIP_ZLIB"), 0);
}

/* Writes data through output.h at a level (-1: no codec_options). */
static struct buf write_output(const struct codec_ops *c, const void *p, size_t n, int level)
{
	const unsigned char *q = p;
	msgpack_object_kv kv;
	msgpack_object map;
	struct rowd_error err;
	struct output out;
	struct buf b;
	int fd = memfd_of("", 0);

	kv.key.type = MSGPACK_OBJECT_STR;
	kv.key.via.str.ptr = "level";
	kv.key.via.str.size = 5;
	kv.val.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	kv.val.via.u64 = (uint64_t)level;
	map.type = MSGPACK_OBJECT_MAP;
	map.via.map.size = 1;
	map.via.map.ptr = &kv;
	rowd_error_clear(&err);
	ck_assert_msg(output_open(&out, fd, c, level < 0 ? NULL : &map, &err) == 0,
	              "output_open: %s", err.message);
	while (n > 0) {
		size_t step = n < 100000 ? n : 100000;

		ck_assert_int_eq(mpbuf_append(&out.buf, q, step), 0);
		ck_assert_msg(output_flush_if_full(&out, &err) == 0, "flush: %s", err.message);
		q += step;
		n -= step;
	}
	ck_assert_msg(output_finish(&out, &err) == 0, "finish: %s", err.message);
	output_close(&out);
	b = fd_contents(fd);
	close(fd);
	return b;
}

/* gz must read as want through every inflater, via input.h and via
 * rd_read with step-byte buffers (step 0: input.h only). */
static void expect_gunzip(const struct buf *gz, const void *want, size_t wn, size_t step)
{
	for (int i = 0; i < N_IMPLS; i++) {
		struct result r;

		use_impl(i);
		r = read_input(gzip_codec(), gz->p, gz->n);
		ck_assert_msg(r.rc == 0, "%s impl: %s", impl_name[i], r.err.message);
		ck_assert_msg(buf_eq(&r.out, want, wn), "%s impl: %zu bytes, want %zu",
		              impl_name[i], r.out.n, wn);
		result_free(&r);
		if (step == 0)
			continue;
		r = read_direct(gzip_codec(), gz->p, gz->n, step);
		ck_assert_msg(r.rc == 0, "%s impl, step %zu: %s", impl_name[i], step,
		              r.err.message);
		ck_assert_msg(buf_eq(&r.out, want, wn), "%s impl, step %zu: wrong bytes",
		              impl_name[i], step);
		result_free(&r);
	}
	use_impl(0);
}

/* gz must fail with ECODEC, a message containing what, and an offset
 * inside the file, through every inflater; never a short success. */
static void expect_codec_error(const void *gz, size_t n, const char *what)
{
	for (int i = 0; i < N_IMPLS; i++) {
		struct result r;

		use_impl(i);
		r = read_direct(gzip_codec(), gz, n, 4096);
		ck_assert_msg(r.rc == -1, "%s impl: %zu-byte input read as success",
		              impl_name[i], n);
		ck_assert_msg(r.err.code == ROWD_ECODEC, "%s impl: code %d (%s)",
		              impl_name[i], r.err.code, r.err.message);
		ck_assert_msg(!what || strstr(r.err.message, what),
		              "%s impl: message '%s' lacks '%s'", impl_name[i],
		              r.err.message, what);
		ck_assert_msg(r.err.offset >= 0 && (uint64_t)r.err.offset <= n,
		              "%s impl: offset %lld outside 0..%zu", impl_name[i],
		              (long long)r.err.offset, n);
		result_free(&r);
	}
	use_impl(0);
}

static struct buf concat(const struct buf *a, const struct buf *b)
{
	struct buf c = { 0 };

	buf_add(&c, a->p, a->n);
	buf_add(&c, b->p, b->n);
	return c;
}

/* ---- round trips ---------------------------------------------------------- */

START_TEST(test_gzip_roundtrip_levels)
{
	static const int levels[] = { 1, 6, 9 };
	struct buf text = gen_text(BIG_TEXT, 7);
	struct buf small = { 0 };
	struct buf dflt, sizes[3];

	buf_add(&small, "id,name\n1,Anna\n", 15);
	for (size_t li = 0; li < 3; li++) {
		struct buf gz;

		gz = write_output(gzip_codec(), NULL, 0, levels[li]);
		ck_assert_uint_eq(gz.n, 20);    /* header + empty block + trailer */
		expect_gunzip(&gz, "", 0, 1);
		buf_free(&gz);

		gz = write_output(gzip_codec(), small.p, small.n, levels[li]);
		expect_gunzip(&gz, small.p, small.n, 1);
		buf_free(&gz);

		sizes[li] = write_output(gzip_codec(), text.p, text.n, levels[li]);
		ck_assert_uint_lt(sizes[li].n, text.n / 2);
		expect_gunzip(&sizes[li], text.p, text.n, 65537);
	}
	/* The level is honoured, and 6 is the default. */
	ck_assert_uint_lt(sizes[2].n, sizes[0].n);
	dflt = write_output(gzip_codec(), text.p, text.n, -1);
	ck_assert(buf_eq(&dflt, sizes[1].p, sizes[1].n));
	buf_free(&dflt);
	for (size_t li = 0; li < 3; li++)
		buf_free(&sizes[li]);
	buf_free(&small);
	buf_free(&text);
}
END_TEST

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

START_TEST(test_gzip_writer_output)
{
	static const int levels[] = { 1, 6, 9 };
	struct buf text = gen_text(300000, 3);
	uLong crc = crc32(0, text.p, (uInt)text.n);

	for (int i = 0; i < N_IMPLS; i++) {
		use_impl(i);
		for (size_t li = 0; li < 3; li++) {
			struct buf a = write_output(gzip_codec(), text.p, text.n, levels[li]);
			struct buf b = write_output(gzip_codec(), text.p, text.n, levels[li]);

			/* Same rows, same file: no timestamp, no name. */
			ck_assert(buf_eq(&a, b.p, b.n));
			ck_assert_uint_ge(a.n, 18);
			ck_assert_int_eq(a.p[0], 0x1f);
			ck_assert_int_eq(a.p[1], 0x8b);
			ck_assert_int_eq(a.p[2], 8);
			ck_assert_int_eq(a.p[3], 0);
			ck_assert_uint_eq(le32(a.p + 4), 0);
			/* The trailer holds CRC-32 and length, little-endian. */
			ck_assert_uint_eq(le32(a.p + a.n - 8), crc);
			ck_assert_uint_eq(le32(a.p + a.n - 4), text.n);
			buf_free(&a);
			buf_free(&b);
		}
	}
	use_impl(0);
	buf_free(&text);
}
END_TEST

/* Level 1 has two deflaters in an ISA-L build: different bytes, same
 * data, each readable by both inflaters. */
START_TEST(test_gzip_level1_deflaters)
{
	struct buf text = gen_text(3u * 1024 * 1024, 13);
	struct buf gz[N_IMPLS];

	for (int i = 0; i < N_IMPLS; i++) {
		use_impl(i);
		gz[i] = write_output(gzip_codec(), text.p, text.n, 1);
		ck_assert_uint_lt(gz[i].n, text.n / 2);
		expect_gunzip(&gz[i], text.p, text.n, 4093);
	}
	if (N_IMPLS == 2)
		ck_assert(!buf_eq(&gz[0], gz[N_IMPLS - 1].p, gz[N_IMPLS - 1].n));
	for (int i = 0; i < N_IMPLS; i++)
		buf_free(&gz[i]);
	use_impl(0);
	buf_free(&text);
}
END_TEST

START_TEST(test_none_roundtrip)
{
	struct buf text = gen_text(BIG_TEXT, 11);
	const size_t sizes[] = { 0, 15, BIG_TEXT };

	for (size_t i = 0; i < 3; i++) {
		struct buf f = write_output(none_codec(), text.p, sizes[i], -1);
		struct result r;

		ck_assert(buf_eq(&f, text.p, sizes[i]));
		r = read_input(none_codec(), f.p, f.n);
		ck_assert_int_eq(r.rc, 0);
		ck_assert(buf_eq(&r.out, text.p, sizes[i]));
		result_free(&r);
		if (sizes[i] < 100) {
			r = read_direct(none_codec(), f.p, f.n, 1);
			ck_assert_int_eq(r.rc, 0);
			ck_assert(buf_eq(&r.out, text.p, sizes[i]));
			result_free(&r);
		}
		buf_free(&f);
	}
	buf_free(&text);
}
END_TEST

START_TEST(test_gzip_conformance_file)
{
	struct buf gz = slurp(TOP_SRCDIR "/tests/data/conformance/iterabledata/2cols6rows.csv.gz");
	struct buf csv = slurp(TOP_SRCDIR "/tests/data/conformance/iterabledata/2cols6rows.csv");

	/* This file carries an FNAME field ("2cols6rows.csv"). */
	ck_assert_int_eq(gz.p[3] & 0x08, 0x08);
	expect_gunzip(&gz, csv.p, csv.n, 1);
	buf_free(&gz);
	buf_free(&csv);
}
END_TEST

START_TEST(test_gzip_highly_compressible)
{
	size_t n = 48u * 1024 * 1024;
	unsigned char *zeros = calloc(1, n);
	struct buf gz;

	ck_assert_ptr_nonnull(zeros);
	gz = write_output(gzip_codec(), zeros, n, 9);
	ck_assert_uint_lt(gz.n, n / 500);
	expect_gunzip(&gz, zeros, n, 0);
	buf_free(&gz);
	free(zeros);
}
END_TEST

/* ---- members ------------------------------------------------------------- */

START_TEST(test_gzip_multi_member)
{
	struct buf a = gen_text(5000, 1), b = gen_text(70000, 2);
	struct buf ga = write_output(gzip_codec(), a.p, a.n, 6);
	struct buf gempty = write_output(gzip_codec(), NULL, 0, 1);
	struct buf gb = zlib_gzip(b.p, b.n, 9, NULL);
	struct buf file = { 0 }, want = { 0 };

	/* `cat a.gz empty.gz b.gz a.gz` */
	buf_add(&file, ga.p, ga.n);
	buf_add(&file, gempty.p, gempty.n);
	buf_add(&file, gb.p, gb.n);
	buf_add(&file, ga.p, ga.n);
	buf_add(&want, a.p, a.n);
	buf_add(&want, b.p, b.n);
	buf_add(&want, a.p, a.n);
	expect_gunzip(&file, want.p, want.n, 1);
	expect_gunzip(&file, want.p, want.n, 3);
	buf_free(&file);
	buf_free(&want);
	buf_free(&ga);
	buf_free(&gempty);
	buf_free(&gb);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* pigz-style: many members, large enough that boundaries fall at many
 * places relative to the reader's chunks. */
START_TEST(test_gzip_many_members)
{
	struct buf text = gen_text(3u * 1024 * 1024, 5);
	struct buf file = { 0 };
	size_t off = 0, i = 0;

	while (off < text.n) {
		size_t len = 1 + (i * 7919 + 13) % 40000;
		struct buf m;

		if (len > text.n - off)
			len = text.n - off;
		m = zlib_gzip(text.p + off, len, (int)(i % 10), NULL);
		buf_add(&file, m.p, m.n);
		buf_free(&m);
		off += len;
		i++;
	}
	ck_assert_uint_gt(i, 100);
	ck_assert_uint_gt(file.n, 3 * GZ_TEST_CHUNK);
	expect_gunzip(&file, text.p, text.n, 4093);
	buf_free(&file);
	buf_free(&text);
}
END_TEST

/* A stored (level 0) member of exactly size bytes, from text. */
static struct buf stored_member_of_size(const struct buf *text, size_t size, size_t *used)
{
	size_t n = size;

	for (int tries = 0; tries < 50; tries++) {
		struct buf m = zlib_gzip(text->p, n, 0, NULL);

		if (m.n == size) {
			*used = n;
			return m;
		}
		n = m.n > size ? n - (m.n - size) : n + (size - m.n);
		buf_free(&m);
	}
	ck_abort_msg("cannot make a %zu-byte member", size);
	return (struct buf){ 0 };
}

/* Member boundaries around the reader's chunk edge: the trailer, then
 * the next header, split between two raw reads. */
START_TEST(test_gzip_member_at_chunk_edge)
{
	struct buf text = gen_text(GZ_TEST_CHUNK + 4096, 9);
	struct buf tail = gen_text(3000, 10);
	struct buf gtail = zlib_gzip(tail.p, tail.n, 6, NULL);

	for (int k = -14; k <= 14; k++) {
		size_t used;
		struct buf m = stored_member_of_size(&text, (size_t)(GZ_TEST_CHUNK + k), &used);
		struct buf file = concat(&m, &gtail), want = { 0 };
		unsigned char zeros[64] = { 0 };

		buf_add(&want, text.p, used);
		buf_add(&want, tail.p, tail.n);
		expect_gunzip(&file, want.p, want.n, 0);
		buf_free(&file);
		/* Zero padding that starts at the edge. */
		file = m;
		buf_add(&file, zeros, sizeof zeros);
		expect_gunzip(&file, text.p, used, 0);
		buf_free(&file);
		buf_free(&want);
	}
	buf_free(&gtail);
	buf_free(&tail);
	buf_free(&text);
}
END_TEST

/* FEXTRA, FNAME, FCOMMENT and FHCRC, read one output byte at a time. */
START_TEST(test_gzip_header_fields)
{
	static unsigned char extra[] = { 'R', 'W', 2, 0, 'o', 'k' };
	struct buf text = gen_text(20000, 4);
	gz_header head;
	struct buf gz, twice;

	memset(&head, 0, sizeof head);
	head.text = 1;
	head.time = 1700000000;
	head.os = 3;
	head.extra = extra;
	head.extra_len = sizeof extra;
	head.name = (Bytef *)"people.csv";
	head.comment = (Bytef *)"made by test_codec";
	head.hcrc = 1;
	gz = zlib_gzip(text.p, text.n, 6, &head);
	ck_assert_int_eq(gz.p[3], 0x1f);   /* FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT */
	expect_gunzip(&gz, text.p, text.n, 1);
	twice = concat(&gz, &gz);
	{
		struct buf want = concat(&text, &text);

		expect_gunzip(&twice, want.p, want.n, 1);
		buf_free(&want);
	}
	/* A bad header CRC is caught. */
	gz.p[10 + 2 + sizeof extra + 11 + 19] ^= 0x01;
	expect_codec_error(gz.p, gz.n, "corrupt");
	buf_free(&twice);
	buf_free(&gz);
	buf_free(&text);
}
END_TEST

/* ---- hostile input -------------------------------------------------------- */

START_TEST(test_gzip_truncated_every_offset)
{
	static unsigned char extra[] = { 'a', 'b', 1, 0, 'x' };
	struct buf text = gen_text(3000, 12);
	gz_header head;
	struct buf gz;

	memset(&head, 0, sizeof head);
	head.extra = extra;
	head.extra_len = sizeof extra;
	head.name = (Bytef *)"t.csv";
	head.hcrc = 1;
	gz = zlib_gzip(text.p, text.n, 6, &head);
	/* 0 bytes is an empty file (no data, no error); every other cut is
	 * an error, never a short success. */
	for (size_t cut = 1; cut < gz.n; cut++)
		expect_codec_error(gz.p, cut, "truncated");
	buf_free(&gz);
	buf_free(&text);
}
END_TEST

START_TEST(test_gzip_truncated_multi_member)
{
	struct buf a = gen_text(2000, 21), b = gen_text(2500, 22);
	struct buf ga = write_output(gzip_codec(), a.p, a.n, 6);
	struct buf gb = write_output(gzip_codec(), b.p, b.n, 6);
	struct buf file = concat(&ga, &gb);

	for (size_t cut = 1; cut < file.n; cut++) {
		if (cut == ga.n)
			expect_gunzip(&(struct buf){ .p = file.p, .n = cut }, a.p, a.n, 0);
		else
			expect_codec_error(file.p, cut, "truncated");
	}
	buf_free(&file);
	buf_free(&ga);
	buf_free(&gb);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* Any flipped byte after the fixed header (whose mtime/xfl/os bytes
 * carry no check) must fail or, where it only hits unused padding bits,
 * read the same bytes: never different data. */
START_TEST(test_gzip_flipped_bytes)
{
	struct buf text = gen_text(4000, 31);
	struct buf gz = write_output(gzip_codec(), text.p, text.n, 6);
	size_t errors = 0, tried = 0;

	for (size_t at = 10; at < gz.n; at++) {
		for (int i = 0; i < N_IMPLS; i++) {
			struct result r;

			use_impl(i);
			gz.p[at] ^= 0xff;
			r = read_direct(gzip_codec(), gz.p, gz.n, 4096);
			gz.p[at] ^= 0xff;
			tried++;
			if (r.rc == 0) {
				ck_assert_msg(buf_eq(&r.out, text.p, text.n),
				              "%s impl: flip at %zu read wrong data",
				              impl_name[i], at);
			} else {
				ck_assert_int_eq(r.err.code, ROWD_ECODEC);
				errors++;
			}
			result_free(&r);
		}
	}
	use_impl(0);
	ck_assert_uint_ge(errors, tried - 2 * N_IMPLS);
	/* CRC and ISIZE bytes are always checked. */
	for (size_t at = gz.n - 8; at < gz.n; at++) {
		gz.p[at] ^= 0x01;
		expect_codec_error(gz.p, gz.n, "corrupt");
		gz.p[at] ^= 0x01;
	}
	buf_free(&gz);
	buf_free(&text);
}
END_TEST

START_TEST(test_gzip_not_gzip)
{
	static const unsigned char zeros[100];
	static const unsigned char method9[] = { 0x1f, 0x8b, 9, 0, 0, 0, 0, 0, 0, 3,
	                                         1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct buf empty = { 0 };

	expect_codec_error("id,name\n1,Anna\n", 15, "not in gzip format");
	expect_codec_error(zeros, sizeof zeros, "not in gzip format");
	expect_codec_error("\x1f", 1, "truncated");
	expect_codec_error("\x1f\x8b", 2, "truncated");
	expect_codec_error("\x1f\x8c\x08", 3, "not in gzip format");
	expect_codec_error(method9, sizeof method9, "corrupt");
	/* A 0-byte file is an empty stream. */
	expect_gunzip(&empty, "", 0, 1);
}
END_TEST

START_TEST(test_gzip_trailing_bytes)
{
	struct buf text = gen_text(1000, 41);
	struct buf gz = write_output(gzip_codec(), text.p, text.n, 6);
	unsigned char zeros[5000] = { 0 };
	struct buf f = { 0 };

	/* Zero padding is skipped, like gzip does. */
	buf_add(&f, gz.p, gz.n);
	buf_add(&f, zeros, sizeof zeros);
	expect_gunzip(&f, text.p, text.n, 1);
	/* Anything else is an error at its offset. */
	buf_add(&f, "x", 1);
	expect_codec_error(f.p, f.n, "trailing garbage");
	f.n = gz.n;
	buf_add(&f, "garbage\n", 8);
	for (int i = 0; i < N_IMPLS; i++) {
		struct result r;

		use_impl(i);
		r = read_direct(gzip_codec(), f.p, f.n, 100);
		ck_assert_int_eq(r.rc, -1);
		ck_assert_int_eq(r.err.code, ROWD_ECODEC);
		ck_assert_str_eq(r.err.message, "gzip: trailing garbage after the last member");
		ck_assert_int_eq(r.err.offset, (int64_t)gz.n);
		result_free(&r);
	}
	use_impl(0);
	buf_free(&f);
	buf_free(&gz);
	buf_free(&text);
}
END_TEST

START_TEST(test_gzip_corrupt_offset)
{
	struct buf text = gen_text(400000, 51);
	struct buf gz = write_output(gzip_codec(), text.p, text.n, 6);

	/* Garbage in the middle of the deflate data: the error names a
	 * compressed offset at or after the damage, not the end of file. */
	memset(gz.p + gz.n / 2, 0xff, 64);
	for (int i = 0; i < N_IMPLS; i++) {
		struct result r;

		use_impl(i);
		r = read_input(gzip_codec(), gz.p, gz.n);
		ck_assert_int_eq(r.rc, -1);
		ck_assert_int_eq(r.err.code, ROWD_ECODEC);
		ck_assert_msg(strncmp(r.err.message, "gzip: corrupt data: ", 20) == 0,
		              "%s", r.err.message);
		ck_assert_int_ge(r.err.offset, (int64_t)(gz.n / 2));
		ck_assert_int_le(r.err.offset, (int64_t)gz.n);
		result_free(&r);
	}
	use_impl(0);
	buf_free(&gz);
	buf_free(&text);
}
END_TEST

/* ---- I/O errors ------------------------------------------------------------ */

START_TEST(test_gzip_read_eio)
{
	struct rawin in = { .fd = -1, .pos = 0, .size = 0 };
	struct rowd_error err;
	unsigned char b[16];
	void *st = NULL;

	for (int i = 0; i < N_IMPLS; i++) {
		use_impl(i);
		rowd_error_clear(&err);
		ck_assert_int_eq(gzip_codec()->rd_open(&in, NULL, &st, &err), 0);
		ck_assert_int_eq(gzip_codec()->rd_read(st, b, sizeof b, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		gzip_codec()->rd_close(st);
	}
	use_impl(0);
}
END_TEST

struct opts1 {
	msgpack_object_kv kv;
	msgpack_object map;
};

static const msgpack_object *opts1(struct opts1 *o, const char *key, msgpack_object val)
{
	o->kv.key.type = MSGPACK_OBJECT_STR;
	o->kv.key.via.str.ptr = key;
	o->kv.key.via.str.size = (uint32_t)strlen(key);
	o->kv.val = val;
	o->map.type = MSGPACK_OBJECT_MAP;
	o->map.via.map.size = 1;
	o->map.via.map.ptr = &o->kv;
	return &o->map;
}

static msgpack_object mp_int(int64_t v)
{
	msgpack_object o;

	if (v < 0) {
		o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o.via.i64 = v;
	} else {
		o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o.via.u64 = (uint64_t)v;
	}
	return o;
}

static msgpack_object mp_str(const char *s)
{
	msgpack_object o;

	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)strlen(s);
	return o;
}

START_TEST(test_gzip_write_eio)
{
	static const int levels[] = { 1, 6 };
	struct buf text = gen_text(2u * 1024 * 1024, 61);

	for (size_t li = 0; li < 2; li++) {
		struct rawout out = { .fd = -1, .written = 0 };
		struct rowd_error err;
		struct opts1 o;
		void *st = NULL;
		int rc = 0;

		rowd_error_clear(&err);
		ck_assert_int_eq(gzip_codec()->wr_open(&out, opts1(&o, "level", mp_int(levels[li])),
		                                       &st, &err), 0);
		for (size_t off = 0; off < text.n && rc == 0; off += 65536)
			rc = gzip_codec()->wr_write(st, text.p + off, 65536, &err);
		if (rc == 0)
			rc = gzip_codec()->wr_finish(st, &err);
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		/* Broken stays broken. */
		ck_assert_int_eq(gzip_codec()->wr_write(st, "x", 1, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		ck_assert_int_eq(gzip_codec()->wr_finish(st, &err), -1);
		gzip_codec()->wr_close(st);
	}
	buf_free(&text);
}
END_TEST

START_TEST(test_gzip_write_abandon)
{
	static const int levels[] = { 1, 6 };
	struct buf text = gen_text(500000, 71);
	int fd = memfd_of("", 0);

	for (size_t li = 0; li < 2; li++) {
		struct rawout out = { .fd = fd, .written = 0 };
		struct rowd_error err;
		struct opts1 o;
		void *st = NULL;

		rowd_error_clear(&err);
		ck_assert_int_eq(gzip_codec()->wr_open(&out, opts1(&o, "level", mp_int(levels[li])),
		                                       &st, &err), 0);
		ck_assert_int_eq(gzip_codec()->wr_write(st, text.p, text.n, &err), 0);
		gzip_codec()->wr_close(st);      /* no finish: nothing leaks */
		ck_assert_int_eq(gzip_codec()->wr_open(&out, opts1(&o, "level", mp_int(levels[li])),
		                                       &st, &err), 0);
		ck_assert_int_eq(gzip_codec()->wr_finish(st, &err), 0);
		ck_assert_int_eq(gzip_codec()->wr_write(st, "x", 1, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		ck_assert_int_eq(gzip_codec()->wr_finish(st, &err), -1);
		gzip_codec()->wr_close(st);
	}
	close(fd);
	buf_free(&text);
}
END_TEST

/* ---- options, rewind, detection -------------------------------------------- */

static int try_wr_open(const msgpack_object *opts, struct rowd_error *err)
{
	struct rawout out = { .fd = -1, .written = 0 };
	void *st = NULL;
	int rc;

	rowd_error_clear(err);
	rc = gzip_codec()->wr_open(&out, opts, &st, err);
	if (rc == 0)
		gzip_codec()->wr_close(st);
	return rc;
}

static int try_rd_open(const msgpack_object *opts, struct rowd_error *err)
{
	struct rawin in = { .fd = -1, .pos = 0, .size = 0 };
	void *st = NULL;
	int rc;

	rowd_error_clear(err);
	rc = gzip_codec()->rd_open(&in, opts, &st, err);
	if (rc == 0)
		gzip_codec()->rd_close(st);
	return rc;
}

START_TEST(test_gzip_options)
{
	static const int64_t bad_levels[] = { 0, 10, -1, 1000 };
	msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };
	struct rowd_error err;
	struct opts1 o;

	for (size_t i = 0; i < sizeof bad_levels / sizeof *bad_levels; i++) {
		ck_assert_int_eq(try_wr_open(opts1(&o, "level", mp_int(bad_levels[i])), &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.message, "level"));
	}
	ck_assert_int_eq(try_wr_open(opts1(&o, "level", mp_str("x")), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(try_wr_open(opts1(&o, "speed", mp_int(1)), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "speed"));
	ck_assert_int_eq(try_wr_open(&nil, &err), 0);
	ck_assert_int_eq(try_wr_open(opts1(&o, "level", mp_int(1)), &err), 0);
	ck_assert_int_eq(try_wr_open(opts1(&o, "level", mp_int(9)), &err), 0);
	/* Options that are not a map. */
	ck_assert_int_eq(try_wr_open(&(msgpack_object){ .type = MSGPACK_OBJECT_POSITIVE_INTEGER,
	                                                .via.u64 = 6 }, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	/* The reader takes no options at all. */
	ck_assert_int_eq(try_rd_open(opts1(&o, "level", mp_int(6)), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(try_rd_open(NULL, &err), 0);
	ck_assert_int_eq(try_rd_open(&nil, &err), 0);
}
END_TEST

/* Reads n decoded bytes (or to the end) from an open input. */
static struct buf input_take(struct input *in, size_t n)
{
	struct rowd_error err;
	struct buf b = { 0 };

	rowd_error_clear(&err);
	while (b.n < n) {
		size_t take;

		if (input_avail(in) == 0) {
			ssize_t got = input_fill(in, &err);

			ck_assert_msg(got >= 0, "%s", err.message);
			if (got == 0)
				break;
		}
		take = input_avail(in) < n - b.n ? input_avail(in) : n - b.n;
		buf_add(&b, input_ptr(in), take);
		input_consume(in, take);
	}
	return b;
}

START_TEST(test_gzip_rewind)
{
	struct buf a = gen_text(700000, 81), b = gen_text(1000, 82);
	struct buf ga = write_output(gzip_codec(), a.p, a.n, 1);
	struct buf gb = write_output(gzip_codec(), b.p, b.n, 9);
	struct buf file = concat(&ga, &gb), want = concat(&a, &b);

	for (int i = 0; i < N_IMPLS; i++) {
		struct rowd_error err;
		struct input in;
		struct buf first, all, again;
		int fd = memfd_of(file.p, file.n);

		use_impl(i);
		rowd_error_clear(&err);
		ck_assert_int_eq(input_open(&in, fd, gzip_codec(), NULL, 1 << 20, &err), 0);
		first = input_take(&in, 300001);
		ck_assert(buf_eq(&first, want.p, 300001));
		ck_assert_int_eq(input_rewind(&in, &err), 0);
		all = input_take(&in, SIZE_MAX);
		ck_assert(buf_eq(&all, want.p, want.n));
		ck_assert_int_eq(input_rewind(&in, &err), 0);
		again = input_take(&in, SIZE_MAX);
		ck_assert(buf_eq(&again, want.p, want.n));
		input_close(&in);
		close(fd);
		buf_free(&first);
		buf_free(&all);
		buf_free(&again);
	}
	use_impl(0);
	buf_free(&file);
	buf_free(&want);
	buf_free(&ga);
	buf_free(&gb);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(test_codec_detection)
{
	static const unsigned char gz_head[] = { 0x1f, 0x8b, 0x08, 0x00 };

	ck_assert_ptr_eq(codec_by_extension("x.csv.gz"), gzip_codec());
	ck_assert_ptr_eq(codec_by_extension("dir.d/x.csv.GZ"), gzip_codec());
	ck_assert_ptr_eq(codec_by_extension("x.gzip"), gzip_codec());
	ck_assert_ptr_null(codec_by_extension("x.csv"));
	ck_assert_ptr_null(codec_by_extension("dir.gz/x"));
	ck_assert_ptr_eq(codec_by_magic(gz_head, sizeof gz_head), gzip_codec());
	ck_assert_ptr_eq(codec_by_magic(gz_head, 2), gzip_codec());
	ck_assert_ptr_eq(codec_by_magic(gz_head, 1), none_codec());
	ck_assert_ptr_eq(codec_by_magic((const unsigned char *)"id,name\n", 8), none_codec());
	ck_assert_ptr_eq(codec_by_magic(NULL, 0), none_codec());
	ck_assert_str_eq(gzip_codec()->name, "gzip");
	ck_assert_ptr_eq(codec_list()[0], none_codec());
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *basic = tcase_create("basic");
	TCase *heavy = tcase_create("heavy");

	tcase_add_test(basic, test_gzip_writer_output);
	tcase_add_test(basic, test_gzip_level1_deflaters);
	tcase_add_test(basic, test_gzip_conformance_file);
	tcase_add_test(basic, test_gzip_multi_member);
	tcase_add_test(basic, test_gzip_header_fields);
	tcase_add_test(basic, test_gzip_not_gzip);
	tcase_add_test(basic, test_gzip_trailing_bytes);
	tcase_add_test(basic, test_gzip_corrupt_offset);
	tcase_add_test(basic, test_gzip_read_eio);
	tcase_add_test(basic, test_gzip_write_eio);
	tcase_add_test(basic, test_gzip_write_abandon);
	tcase_add_test(basic, test_gzip_options);
	tcase_add_test(basic, test_gzip_rewind);
	tcase_add_test(basic, test_codec_detection);
	suite_add_tcase(s, basic);

	/* Big inputs and exhaustive loops: generous under sanitizers. */
	tcase_set_timeout(heavy, 300);
	tcase_add_test(heavy, test_gzip_roundtrip_levels);
	tcase_add_test(heavy, test_none_roundtrip);
	tcase_add_test(heavy, test_gzip_highly_compressible);
	tcase_add_test(heavy, test_gzip_many_members);
	tcase_add_test(heavy, test_gzip_member_at_chunk_edge);
	tcase_add_test(heavy, test_gzip_truncated_every_offset);
	tcase_add_test(heavy, test_gzip_truncated_multi_member);
	tcase_add_test(heavy, test_gzip_flipped_bytes);
	suite_add_tcase(s, heavy);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
