/* Codec tests for the library codecs: bzip2, xz, lzma, zstd, lz4, brotli.
 *
 * One table describes each codec (level range, whether its format carries
 * a check value, whether concatenated streams are legal); each group of
 * checks runs once per row as a Check loop test (see the end), and every
 * message names the codec. Codecs this build lacks are skipped but for
 * detection by extension, which their ENOTSUP stubs keep.
 *
 * Files are memfds read through struct rawin directly (to choose the
 * output buffer size, down to one byte) and through input.h/output.h as
 * the formats use them. Streams made by each library's one-shot API, with
 * settings our writers do not use (no checksum, block checksums, SHA-256,
 * independent blocks, large windows), check that the readers are not
 * tied to our writers.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_BZIP2
#include <bzlib.h>
#endif
#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef HAVE_LZ4
#include <lz4frame.h>
#endif
#ifdef HAVE_BROTLI
#include <brotli/encode.h>
#endif

#include "codec.h"
#include "input.h"
#include "output.h"
#include "codec_harness.h"

/* The readers' raw read size: stream boundaries are placed around it. */
#define CODEC_CHUNK (256 * 1024)

/* Round trips: 10 MB at the minimum level (and zstd's default), 1 MB at
 * the others: xz -6 takes ~7 s for 10 MB, brotli 11 ~20 s, and the whole
 * test should stay near 20 s under ASan. */
#define BIG_TEXT  (10u * 1024 * 1024)
#define SLOW_TEXT (1u * 1024 * 1024)

/* ---- helpers ------------------------------------------------------------ */

static struct buf concat(const struct buf *a, const struct buf *b)
{
	struct buf c = { 0 };

	buf_add(&c, a->p, a->n);
	buf_add(&c, b->p, b->n);
	return c;
}

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

struct result {
	int rc;
	struct rowd_error err;
	struct buf out;
};

static void result_free(struct result *r)
{
	buf_free(&r->out);
}

/* Reads everything through rd_read with a buffer of step bytes; checks
 * that the end, once reported, stays the end, and that an ECODEC stays. */
static struct result read_direct(const struct codec_ops *c, const void *p, size_t n,
                                 size_t step)
{
	struct result r = { 0 };
	struct rawin in = { .fd = memfd_of(p, n), .pos = 0, .size = n };
	unsigned char *tmp = malloc(step);
	void *st = NULL;

	ck_assert_ptr_nonnull(tmp);
	rowd_error_clear(&r.err);
	r.rc = c->rd_open(&in, NULL, &st, &r.err);
	while (r.rc == 0) {
		ssize_t got = c->rd_read(st, tmp, step, &r.err);

		if (got < 0) {
			struct rowd_error again;

			rowd_error_clear(&again);
			if (r.err.code == ROWD_ECODEC) {
				ck_assert_int_eq(c->rd_read(st, tmp, step, &again), -1);
				ck_assert_int_eq(again.code, ROWD_ECODEC);
			}
			r.rc = -1;
			break;
		}
		if (got == 0) {
			ck_assert_int_eq(c->rd_read(st, tmp, step, &r.err), 0);
			break;
		}
		ck_assert_uint_le((size_t)got, step);
		buf_add(&r.out, tmp, (size_t)got);
	}
	if (st)
		c->rd_close(st);
	close(in.fd);
	free(tmp);
	return r;
}

/* Reads everything through input.h, as a format does. */
static struct result read_input(const struct codec_ops *c, const void *p, size_t n)
{
	struct result r = { 0 };
	struct input in;
	int fd = memfd_of(p, n);

	rowd_error_clear(&r.err);
	r.rc = input_open(&in, fd, c, NULL, 1 << 20, &r.err);
	while (r.rc == 0) {
		ssize_t got = input_fill(&in, &r.err);

		if (got < 0) {
			r.rc = -1;
			break;
		}
		buf_add(&r.out, input_ptr(&in), input_avail(&in));
		input_consume(&in, input_avail(&in));
		if (got == 0)
			break;
	}
	input_close(&in);
	close(fd);
	return r;
}

/* Writes data through output.h at a level (-1: no codec_options). */
static struct buf write_output(const struct codec_ops *c, const void *p, size_t n, int level)
{
	const unsigned char *q = p;
	struct rowd_error err;
	struct output out;
	struct opts1 o;
	struct buf b;
	int fd = memfd_of("", 0);

	rowd_error_clear(&err);
	ck_assert_msg(output_open(&out, fd, c, level < 0 ? NULL : opts1(&o, "level", mp_int(level)),
	                          &err) == 0,
	              "%s: output_open: %s", c->name, err.message);
	while (n > 0) {
		size_t step = n < 100000 ? n : 100000;

		ck_assert_int_eq(mpbuf_append(&out.buf, q, step), 0);
		ck_assert_msg(output_flush_if_full(&out, &err) == 0, "flush: %s", err.message);
		q += step;
		n -= step;
	}
	ck_assert_msg(output_finish(&out, &err) == 0, "%s: finish: %s", c->name, err.message);
	output_close(&out);
	b = fd_contents(fd);
	close(fd);
	return b;
}

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

/* ---- streams made by each library itself ----------------------------------- */

/* One stream of p[0..n) made by the library's own one-shot API with
 * settings our writer does not use; variant picks among them. */
typedef struct buf (*lib_make_fn)(const void *p, size_t n, int variant);

static struct buf buf_sized(size_t cap)
{
	struct buf b = { 0 };

	b.p = malloc(cap ? cap : 1);
	ck_assert_ptr_nonnull(b.p);
	b.cap = cap;
	return b;
}

#ifdef HAVE_BZIP2
/* pbzip2-style small streams; variant = block size 1..9. */
static struct buf lib_bzip2(const void *p, size_t n, int variant)
{
	struct buf b = buf_sized(n + n / 100 + 1024);
	unsigned len = (unsigned)b.cap;

	ck_assert_int_eq(BZ2_bzBuffToBuffCompress((char *)b.p, &len, (char *)(uintptr_t)p,
	                                          (unsigned)n, 1 + variant % 9, 0, 0), BZ_OK);
	b.n = len;
	return b;
}
#else
#define lib_bzip2 NULL
#endif

#ifdef HAVE_LZMA
/* CRC32, SHA-256 or no check; presets 0..3 (7..9 need ~700 MiB). */
static struct buf lib_xz(const void *p, size_t n, int variant)
{
	static const lzma_check checks[] = { LZMA_CHECK_CRC32, LZMA_CHECK_SHA256,
	                                     LZMA_CHECK_NONE };
	struct buf b = buf_sized(lzma_stream_buffer_bound(n));
	size_t pos = 0;

	ck_assert_int_eq(lzma_easy_buffer_encode((uint32_t)(variant % 4), checks[variant % 3],
	                                         NULL, p, n, b.p, &pos, b.cap), LZMA_OK);
	b.n = pos;
	return b;
}

/* .lzma at presets 0..3, by the streaming encoder. */
static struct buf lib_lzma(const void *p, size_t n, int variant)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_options_lzma opt;
	struct buf b = buf_sized(lzma_stream_buffer_bound(n) + 64);
	lzma_ret rc;

	ck_assert(!lzma_lzma_preset(&opt, (uint32_t)(variant % 4)));
	ck_assert_int_eq(lzma_alone_encoder(&z, &opt), LZMA_OK);
	z.next_in = p;
	z.avail_in = n;
	z.next_out = b.p;
	z.avail_out = b.cap;
	rc = lzma_code(&z, LZMA_FINISH);
	ck_assert_int_eq(rc, LZMA_STREAM_END);
	b.n = b.cap - z.avail_out;
	lzma_end(&z);
	return b;
}
#else
#define lib_xz NULL
#define lib_lzma NULL
#endif

#ifdef HAVE_ZSTD
/* ZSTD_compress: content size in the header, no checksum. */
static struct buf lib_zstd(const void *p, size_t n, int variant)
{
	struct buf b = buf_sized(ZSTD_compressBound(n));
	size_t rc = ZSTD_compress(b.p, b.cap, p, n, 1 + variant % 19);

	ck_assert(!ZSTD_isError(rc));
	b.n = rc;
	return b;
}
#else
#define lib_zstd NULL
#endif

#ifdef HAVE_LZ4
/* Independent 64 KiB blocks with block checksums and the content size. */
static struct buf lib_lz4(const void *p, size_t n, int variant)
{
	LZ4F_preferences_t prefs;
	struct buf b;
	size_t rc;

	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs.frameInfo.contentSize = n;
	prefs.compressionLevel = variant % 13;
	b = buf_sized(LZ4F_compressFrameBound(n, &prefs));
	rc = LZ4F_compressFrame(b.p, b.cap, p, n, &prefs);
	ck_assert(!LZ4F_isError(rc));
	b.n = rc;
	return b;
}
#else
#define lib_lz4 NULL
#endif

#ifdef HAVE_BROTLI
/* BrotliEncoderCompress in text mode with a 16 MiB window; quality 0..7
 * (10 and 11 run at ~1 MB/s). */
static struct buf lib_brotli(const void *p, size_t n, int variant)
{
	struct buf b = buf_sized(BrotliEncoderMaxCompressedSize(n) + 16);
	size_t len = b.cap;

	ck_assert(BrotliEncoderCompress(variant % 8, 24, BROTLI_MODE_TEXT, n, p, &len, b.p));
	b.n = len;
	return b;
}
#else
#define lib_brotli NULL
#endif

/* ---- the codecs under test ------------------------------------------------- */

struct ccase {
	const char *name;
	int min, dflt, max;
	int big_upto;           /* levels above round-trip slow_text, not BIG_TEXT */
	size_t slow_text;
	bool checked;           /* a check value: a flipped byte fails or reads right */
	bool concat;            /* concatenated streams read as one; else trailing garbage */
	bool skippable;         /* zstd/lz4 skippable frames (magic 0x184D2A5?) */
	bool magic;             /* detected by content */
	const char *exts[3];
	const char *fixture;    /* 2cols6rows.csv.<fixture> */
	lib_make_fn lib_make;
};

static const struct ccase cases[] = {
	{ "bzip2", 1, 9, 9, 1, SLOW_TEXT, true, true, false, true, { "bz2" }, "bz2", lib_bzip2 },
	{ "xz", 0, 6, 9, 0, SLOW_TEXT, true, true, false, true, { "xz" }, "xz", lib_xz },
	/* xz's encoder again: a quarter of the slow round trips' text. */
	{ "lzma", 0, 6, 9, 0, SLOW_TEXT / 4, false, false, false, false, { "lzma" }, NULL, lib_lzma },
	{ "zstd", 1, 3, 19, 3, SLOW_TEXT, true, true, true, true, { "zst", "zstd" }, "zst", lib_zstd },
	{ "lz4", 0, 0, 12, 0, SLOW_TEXT, true, true, true, true, { "lz4" }, "lz4", lib_lz4 },
	{ "brotli", 0, 6, 11, 0, SLOW_TEXT, false, false, false, false, { "br" }, "br", lib_brotli },
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* The codec of case i, or NULL (test skipped) when this build lacks it. */
static const struct codec_ops *codec_of(int i)
{
	const struct codec_ops *c = codec_find(cases[i].name, strlen(cases[i].name));

	ck_assert_ptr_nonnull(c);
	if (c->unavailable) {
		ck_assert_ptr_null(c->rd_open);
		return NULL;
	}
	ck_assert_ptr_nonnull(cases[i].lib_make);
	return c;
}

/* f must read as want via input.h and via rd_read with step-byte buffers
 * (step 0: input.h only). */
static void expect_data(const struct codec_ops *c, const struct buf *f, const void *want,
                        size_t wn, size_t step)
{
	struct result r = read_input(c, f->p, f->n);

	ck_assert_msg(r.rc == 0, "%s: %s", c->name, r.err.message);
	ck_assert_msg(buf_eq(&r.out, want, wn), "%s: %zu bytes, want %zu", c->name, r.out.n, wn);
	result_free(&r);
	if (step == 0)
		return;
	r = read_direct(c, f->p, f->n, step);
	ck_assert_msg(r.rc == 0, "%s, step %zu: %s", c->name, step, r.err.message);
	ck_assert_msg(buf_eq(&r.out, want, wn), "%s, step %zu: %zu bytes, want %zu", c->name,
	              step, r.out.n, wn);
	result_free(&r);
}

/* p[0..n) must fail with ECODEC, "<codec>: " and what in the message, and
 * an offset inside the file; never a short success. */
static struct result expect_codec_error(const struct codec_ops *c, const void *p, size_t n,
                                        const char *what)
{
	struct result r = read_direct(c, p, n, 4096);
	char prefix[32];

	snprintf(prefix, sizeof prefix, "%s: ", c->name);
	ck_assert_msg(r.rc == -1, "%s: %zu-byte input read as success (%zu bytes)", c->name, n,
	              r.out.n);
	ck_assert_msg(r.err.code == ROWD_ECODEC, "%s: code %d (%s)", c->name, r.err.code,
	              r.err.message);
	ck_assert_msg(strncmp(r.err.message, prefix, strlen(prefix)) == 0, "message '%s'",
	              r.err.message);
	ck_assert_msg(!what || strstr(r.err.message, what), "%s: message '%s' lacks '%s'",
	              c->name, r.err.message, what);
	ck_assert_msg(r.err.offset >= 0 && (uint64_t)r.err.offset <= n,
	              "%s: offset %lld outside 0..%zu", c->name, (long long)r.err.offset, n);
	return r;
}

static void expect_codec_error_free(const struct codec_ops *c, const void *p, size_t n,
                                    const char *what)
{
	struct result r = expect_codec_error(c, p, n, what);

	result_free(&r);
}

/* ---- round trips ----------------------------------------------------------- */

static void roundtrip_level(const struct codec_ops *c, const struct ccase *k, int level,
                            const struct buf *text)
{
	static const char small[] = "id,name\n1,Anna\n";
	size_t big = level > k->big_upto ? k->slow_text : text->n;
	struct buf f;

	f = write_output(c, NULL, 0, level);
	ck_assert_uint_gt(f.n, 0);       /* an empty stream still has a header */
	expect_data(c, &f, "", 0, 1);
	buf_free(&f);

	f = write_output(c, small, sizeof small - 1, level);
	expect_data(c, &f, small, sizeof small - 1, 1);
	buf_free(&f);

	/* lz4's fast levels keep ~64% of this text; every other codec < 50%. */
	f = write_output(c, text->p, big, level);
	ck_assert_msg(f.n < big / 3 * 2, "%s level %d: %zu -> %zu", c->name, level, big, f.n);
	expect_data(c, &f, text->p, big, 0);
	buf_free(&f);
}

static void check_roundtrip_levels(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text;

	if (!c)
		return;
	text = gen_text(BIG_TEXT, 7);
	roundtrip_level(c, k, k->min, &text);
	if (k->dflt != k->min)
		roundtrip_level(c, k, k->dflt, &text);
	if (k->max != k->dflt)
		roundtrip_level(c, k, k->max, &text);
	buf_free(&text);
}

/* The level is honoured, the default is the documented one, and the
 * same bytes give the same file. The level compared with the minimum is
 * the default where they differ: xz -9 alone allocates ~700 MiB. */
static void check_levels_and_default(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	int higher = k->dflt != k->min ? k->dflt : k->max;
	struct buf text, lo, hi, dflt, named, again;

	if (!c)
		return;
	text = gen_text(100000, 3);
	lo = write_output(c, text.p, text.n, k->min);
	hi = write_output(c, text.p, text.n, higher);
	ck_assert_msg(hi.n < lo.n, "%s: level %d gives %zu bytes, level %d %zu", c->name, higher,
	              hi.n, k->min, lo.n);
	dflt = write_output(c, text.p, text.n, -1);
	named = write_output(c, text.p, text.n, k->dflt);
	again = write_output(c, text.p, text.n, -1);
	ck_assert(buf_eq(&dflt, named.p, named.n));
	ck_assert(buf_eq(&dflt, again.p, again.n));
	expect_data(c, &hi, text.p, text.n, 0);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&dflt);
	buf_free(&named);
	buf_free(&again);
	buf_free(&text);
}

static void check_small_steps(int ci)
{
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f;

	if (!c)
		return;
	/* One byte at a time through the first blocks; then odd sizes past
	 * lz4's 256 KiB blocks and the readers' chunk. */
	text = gen_text(100000, 17);
	f = write_output(c, text.p, text.n, cases[ci].dflt);
	expect_data(c, &f, text.p, text.n, 1);
	buf_free(&f);
	buf_free(&text);
	text = gen_text(CODEC_CHUNK + 70000, 18);
	f = write_output(c, text.p, text.n, cases[ci].dflt);
	expect_data(c, &f, text.p, text.n, 7);
	expect_data(c, &f, text.p, text.n, 4093);
	buf_free(&f);
	buf_free(&text);
}

static void check_library_streams(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text;

	if (!c)
		return;
	text = gen_text(700000, 19);
	for (int v = 0; v < 6; v++) {
		size_t n = v == 0 ? 0 : v == 1 ? 15 : text.n / (size_t)(7 - v);
		struct buf f = k->lib_make(text.p, n, v * 2 + 1);

		expect_data(c, &f, text.p, n, n < 1000 ? 1 : 8191);
		buf_free(&f);
	}
	buf_free(&text);
}

static void check_conformance_fixture(int ci)
{
	static const char dir[] = TOP_SRCDIR "/tests/data/conformance/iterabledata/";
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	char path[512];
	struct buf f, csv;

	if (!c || !k->fixture)
		return;
	snprintf(path, sizeof path, "%s2cols6rows.csv.%s", dir, k->fixture);
	f = slurp(path);
	csv = slurp(TOP_SRCDIR "/tests/data/conformance/iterabledata/2cols6rows.csv");
	expect_data(c, &f, csv.p, csv.n, 1);
	ck_assert_ptr_eq(codec_by_extension(path), c);
	if (k->magic)
		ck_assert_ptr_eq(codec_by_magic(f.p, f.n < 16 ? f.n : 16), c);
	buf_free(&f);
	buf_free(&csv);
}

START_TEST(test_brotli_jsonl_fixture)
{
	const struct codec_ops *c = codec_find("brotli", 6);
	struct buf f, want;

	if (c->unavailable)
		return;
	f = slurp(TOP_SRCDIR "/tests/data/conformance/iterabledata/2cols6rows_flat.jsonl.br");
	want = slurp(TOP_SRCDIR "/tests/data/conformance/iterabledata/2cols6rows_flat.jsonl");
	expect_data(c, &f, want.p, want.n, 1);
	buf_free(&f);
	buf_free(&want);
}
END_TEST

/* ---- concatenation ---------------------------------------------------------- */

/* `cat a empty b a`, b made by the library itself: the concatenation for
 * the codecs whose format allows it, trailing garbage at a's end for the
 * others (lzma, brotli). */
static void check_concatenated(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf a, b, fa, fempty, fb, file = { 0 }, want = { 0 };

	if (!c)
		return;
	a = gen_text(5000, 1);
	b = gen_text(70000, 2);
	fa = write_output(c, a.p, a.n, k->dflt);
	fempty = write_output(c, NULL, 0, k->min);
	fb = k->lib_make(b.p, b.n, 5);
	buf_add(&file, fa.p, fa.n);
	buf_add(&file, fempty.p, fempty.n);
	buf_add(&file, fb.p, fb.n);
	buf_add(&file, fa.p, fa.n);
	if (k->concat) {
		buf_add(&want, a.p, a.n);
		buf_add(&want, b.p, b.n);
		buf_add(&want, a.p, a.n);
		expect_data(c, &file, want.p, want.n, 1);
		expect_data(c, &file, want.p, want.n, 4093);
	} else {
		struct result r = expect_codec_error(c, file.p, file.n, "trailing garbage");

		ck_assert_int_eq(r.err.offset, (int64_t)fa.n);
		ck_assert(buf_eq(&r.out, a.p, a.n));
		result_free(&r);
	}
	buf_free(&file);
	buf_free(&want);
	buf_free(&fa);
	buf_free(&fempty);
	buf_free(&fb);
	buf_free(&a);
	buf_free(&b);
}

/* pbzip2-style: many streams, so that boundaries fall at many places
 * relative to the reader's chunks. */
static void check_many_streams(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text, file = { 0 };
	size_t off = 0, i = 0;

	if (!c || !k->concat)
		return;
	text = gen_text(1u * 1024 * 1024, 5);
	while (off < text.n) {
		size_t len = 1 + (i * 7919 + 13) % 50000;
		struct buf m;

		if (len > text.n - off)
			len = text.n - off;
		m = i % 2 ? k->lib_make(text.p + off, len, (int)(i / 2 % 3))
		          : write_output(c, text.p + off, len, k->min);
		buf_add(&file, m.p, m.n);
		buf_free(&m);
		off += len;
		i++;
	}
	ck_assert_uint_gt(file.n, CODEC_CHUNK);
	expect_data(c, &file, text.p, text.n, 4093);
	buf_free(&file);
	buf_free(&text);
}

#if defined(HAVE_ZSTD) || defined(HAVE_LZ4)
static void add_skippable(struct buf *b, unsigned nibble, const char *payload)
{
	uint32_t len = (uint32_t)strlen(payload);
	unsigned char head[8] = { (unsigned char)(0x50 | nibble), 0x2a, 0x4d, 0x18,
	                          (unsigned char)len, (unsigned char)(len >> 8),
	                          (unsigned char)(len >> 16), (unsigned char)(len >> 24) };

	buf_add(b, head, sizeof head);
	buf_add(b, payload, len);
}
#endif

/* Skippable frames (metadata, seekable indexes) are passed over, even as
 * the only content of the file. */
static void check_skippable_frames(int ci)
{
#if defined(HAVE_ZSTD) || defined(HAVE_LZ4)
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf a, b, fa, fb, file = { 0 }, want;

	if (!c || !k->skippable)
		return;
	a = gen_text(3000, 91);
	b = gen_text(9000, 92);
	fa = write_output(c, a.p, a.n, k->dflt);
	fb = write_output(c, b.p, b.n, k->dflt);
	add_skippable(&file, 0, "");
	expect_data(c, &file, "", 0, 1);
	add_skippable(&file, 0xf, "rowd test metadata");
	buf_add(&file, fa.p, fa.n);
	add_skippable(&file, 3, "between");
	buf_add(&file, fb.p, fb.n);
	add_skippable(&file, 7, "and after");
	want = concat(&a, &b);
	expect_data(c, &file, want.p, want.n, 1);
	/* Cut inside the last skippable frame: truncated. */
	expect_codec_error_free(c, file.p, file.n - 3, "truncated");
	buf_free(&want);
	buf_free(&file);
	buf_free(&fa);
	buf_free(&fb);
	buf_free(&a);
	buf_free(&b);
#endif
}

/* Stream boundaries around the reader's chunk edge. */
static void check_stream_at_chunk_edge(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf filler, tail, ftail;

	if (!c || !k->concat)
		return;
	/* Incompressible enough that the stream's size follows the input's. */
	filler = buf_sized(CODEC_CHUNK + 8192);
	for (uint32_t x = 12345; filler.n < filler.cap; filler.n++) {
		x = x * 1103515245u + 12345u;
		filler.p[filler.n] = (unsigned char)(x >> 23);
	}
	tail = gen_text(3000, 10);
	ftail = write_output(c, tail.p, tail.n, k->dflt);
	for (int d = -9; d <= 9; d += 9) {
		size_t n = CODEC_CHUNK - 64 + (size_t)(d + 9) * 5;
		struct buf m = write_output(c, filler.p, n, k->min);
		struct buf file, want = { 0 };

		/* Aim the first stream's end at the chunk edge: shrink the
		 * input by the overshoot (a few tries converge). */
		for (int tries = 0; tries < 6 && m.n != (size_t)(CODEC_CHUNK + d); tries++) {
			n -= m.n - (size_t)(CODEC_CHUNK + d);
			buf_free(&m);
			m = write_output(c, filler.p, n, k->min);
		}
		file = concat(&m, &ftail);
		buf_add(&want, filler.p, n);
		buf_add(&want, tail.p, tail.n);
		expect_data(c, &file, want.p, want.n, 0);
		buf_free(&file);
		buf_free(&want);
		buf_free(&m);
	}
	buf_free(&ftail);
	buf_free(&tail);
	buf_free(&filler);
}

/* ---- hostile input ---------------------------------------------------------- */

/* The offsets a hostile-input loop visits in an n-byte stream, from lo:
 * every one in the first and last PROBE_EDGE bytes (headers, trailers,
 * check values) and PROBE_SPREAD more across the middle. Each visit opens
 * a decoder (zstd's costs ~3 ms under ASan), hence not all of them. */
#define PROBE_EDGE   48
#define PROBE_SPREAD 32
#define PROBE_MAX    (2 * PROBE_EDGE + PROBE_SPREAD)

static size_t probes(size_t lo, size_t n, size_t out[PROBE_MAX])
{
	size_t k = 0;

	if (n - lo <= PROBE_MAX) {
		for (size_t at = lo; at < n; at++)
			out[k++] = at;
		return k;
	}
	for (size_t at = lo; at < lo + PROBE_EDGE; at++)
		out[k++] = at;
	for (size_t i = 0; i < PROBE_SPREAD; i++)
		out[k++] = lo + PROBE_EDGE + (n - lo - 2 * PROBE_EDGE) * i / PROBE_SPREAD;
	for (size_t at = n - PROBE_EDGE; at < n; at++)
		out[k++] = at;
	return k;
}

/* 0 bytes is an empty file (no data, no error); every other cut is an
 * error, never a short success. Minimum level: small decoder state. */
static void check_truncated_cuts(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f, empty = { 0 };
	size_t cuts[PROBE_MAX], n, truncated = 0;

	if (!c)
		return;
	text = gen_text(6000, 12);
	f = write_output(c, text.p, text.n, k->min);
	expect_data(c, &empty, "", 0, 1);
	n = probes(1, f.n, cuts);
	for (size_t i = 0; i < n; i++) {
		struct result r = expect_codec_error(c, f.p, cuts[i], NULL);

		if (strstr(r.err.message, "truncated stream"))
			truncated++;
		else
			ck_assert_msg(strstr(r.err.message, "corrupt data: "), "cut %zu: %s", cuts[i],
			              r.err.message);
		result_free(&r);
	}
	/* Only legacy .lzma may see a cut as damage rather than an end. */
	if (strcmp(c->name, "lzma") != 0)
		ck_assert_uint_eq(truncated, n);
	else
		ck_assert_uint_ge(truncated, n / 2);
	buf_free(&f);
	buf_free(&text);
}

/* Spread cuts of a multi-block stream, and every cut around the end of
 * the first of two streams (where the cut itself is a valid file) and
 * near the end of the second. */
static void check_truncated_large(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf big, fbig, a, b, fa, fb, file;

	if (!c)
		return;
	big = gen_text(300000, 20);
	fbig = write_output(c, big.p, big.n, k->dflt);
	for (size_t i = 1; i < 16; i++)
		expect_codec_error_free(c, fbig.p, fbig.n * i / 16, NULL);
	expect_codec_error_free(c, fbig.p, fbig.n - 1, "truncated");
	a = gen_text(4000, 21);
	b = gen_text(2500, 22);
	fa = write_output(c, a.p, a.n, k->dflt);
	fb = write_output(c, b.p, b.n, k->dflt);
	file = concat(&fa, &fb);
	for (size_t cut = fa.n - 8; cut < file.n; cut = cut == fa.n + 8 ? file.n - 8 : cut + 1) {
		if (cut == fa.n)
			expect_data(c, &(struct buf){ .p = file.p, .n = cut }, a.p, a.n, 0);
		else
			expect_codec_error_free(c, file.p, cut, NULL);
	}
	buf_free(&file);
	buf_free(&fa);
	buf_free(&fb);
	buf_free(&a);
	buf_free(&b);
	buf_free(&fbig);
	buf_free(&big);
}

/* A flipped byte must fail or read the same bytes, never different data,
 * where the format has a check value; lzma and brotli have none, so there
 * only the decoder's survival and most flips failing are asserted. A flip
 * may also make a header ask for a window beyond the limit: ELIMIT. */
static void check_flipped_bytes(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f;
	size_t at[PROBE_MAX], n, errors = 0;

	if (!c)
		return;
	text = gen_text(6000, 31);
	f = write_output(c, text.p, text.n, k->min);
	n = probes(0, f.n, at);
	for (size_t i = 0; i < n; i++) {
		struct result r;

		f.p[at[i]] ^= 0xff;
		r = read_direct(c, f.p, f.n, 4096);
		f.p[at[i]] ^= 0xff;
		if (r.rc == 0) {
			ck_assert_msg(!k->checked || buf_eq(&r.out, text.p, text.n),
			              "%s: flip at %zu of %zu read wrong data", c->name, at[i], f.n);
		} else {
			ck_assert_msg(r.err.code == ROWD_ECODEC || r.err.code == ROWD_ELIMIT,
			              "%s: flip at %zu: %s", c->name, at[i], r.err.message);
			ck_assert_int_le(r.err.offset, (int64_t)f.n);
			errors++;
		}
		result_free(&r);
	}
	ck_assert_msg(errors >= n / 2, "%s: %zu of %zu flips detected", c->name, errors, n);
	buf_free(&f);
	buf_free(&text);
}

static void check_corrupt_offset(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f;
	struct result r;

	if (!c)
		return;
	text = gen_text(1000000, 51);
	f = write_output(c, text.p, text.n, k->min);
	/* Garbage in the middle: the error names a compressed offset in the
	 * damaged block (zstd and lz4 name its start; no block of ours is
	 * over 256 KiB compressed), not the start or end of the file. */
	memset(f.p + f.n / 2, 0x55, 64);
	r = read_input(c, f.p, f.n);
	ck_assert_msg(r.rc == -1, "%s: damaged file read as success", c->name);
	ck_assert_int_eq(r.err.code, ROWD_ECODEC);
	ck_assert_msg(strstr(r.err.message, ": corrupt data: "), "%s", r.err.message);
	ck_assert_int_gt(r.err.offset, (int64_t)(f.n / 2) - CODEC_CHUNK);
	ck_assert_int_gt(r.err.offset, 0);
	ck_assert_int_le(r.err.offset, (int64_t)f.n);
	ck_assert_uint_gt(r.out.n, 0);
	ck_assert(memcmp(r.out.p, text.p, r.out.n < text.n ? r.out.n : text.n) == 0 ||
	          !cases[ci].checked);
	result_free(&r);
	buf_free(&f);
	buf_free(&text);
}

static void check_not_this_format(int ci)
{
	static const unsigned char zeros[100];
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f, g;

	if (!c)
		return;
	expect_codec_error_free(c, "id,name\n1,Anna\n", 15, NULL);
	expect_codec_error_free(c, zeros, sizeof zeros, NULL);
	/* Garbage after a valid stream: an error at (or just past) its end. */
	text = gen_text(1000, 41);
	f = write_output(c, text.p, text.n, k->dflt);
	g = f;
	g.p = NULL;
	g.n = g.cap = 0;
	buf_add(&g, f.p, f.n);
	buf_add(&g, "garbage\n", 8);
	{
		struct result r = expect_codec_error(c, g.p, g.n, NULL);

		ck_assert_int_ge(r.err.offset, (int64_t)f.n);
		ck_assert(buf_eq(&r.out, text.p, text.n));
		result_free(&r);
	}
	buf_free(&g);
	buf_free(&f);
	buf_free(&text);
}

/* ---- I/O errors, writer states ------------------------------------------------ */

static void check_read_eio(int ci)
{
	const struct codec_ops *c = codec_of(ci);
	struct rawin in = { .fd = -1, .pos = 0, .size = 0 };
	struct rowd_error err;
	unsigned char b[16];
	void *st = NULL;

	if (!c)
		return;
	rowd_error_clear(&err);
	ck_assert_int_eq(c->rd_open(&in, NULL, &st, &err), 0);
	ck_assert_int_eq(c->rd_read(st, b, sizeof b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EIO);
	/* EIO consumed nothing: a retry asks the file again. */
	ck_assert_int_eq(c->rd_read(st, b, sizeof b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EIO);
	ck_assert_int_eq(c->rd_read(st, b, 0, &err), 0);
	c->rd_close(st);
}

static void check_write_eio(int ci)
{
	const struct codec_ops *c = codec_of(ci);
	struct rawout out = { .fd = -1, .written = 0 };
	struct rowd_error err;
	struct buf text;
	struct opts1 o;
	void *st = NULL;
	int rc = 0;

	if (!c)
		return;
	text = gen_text(4u * 1024 * 1024, 61);
	rowd_error_clear(&err);
	ck_assert_int_eq(c->wr_open(&out, opts1(&o, "level", mp_int(cases[ci].min)), &st, &err), 0);
	for (size_t off = 0; off < text.n && rc == 0; off += 65536)
		rc = c->wr_write(st, text.p + off, 65536, &err);
	if (rc == 0)
		rc = c->wr_finish(st, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err.code, ROWD_EIO);
	/* Broken stays broken. */
	ck_assert_int_eq(c->wr_write(st, "x", 1, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EIO);
	ck_assert_int_eq(c->wr_finish(st, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EIO);
	c->wr_close(st);
	buf_free(&text);
}

static void check_write_abandon_and_finish_twice(int ci)
{
	const struct codec_ops *c = codec_of(ci);
	struct buf text;
	int fd;

	if (!c)
		return;
	text = gen_text(200000, 71);
	fd = memfd_of("", 0);
	{
		struct rawout out = { .fd = fd, .written = 0 };
		struct rowd_error err;
		void *st = NULL;

		rowd_error_clear(&err);
		ck_assert_int_eq(c->wr_open(&out, NULL, &st, &err), 0);
		ck_assert_int_eq(c->wr_write(st, text.p, text.n, &err), 0);
		ck_assert_int_eq(c->wr_write(st, text.p, 0, &err), 0);
		c->wr_close(st);      /* no finish: nothing leaks */
		ck_assert_int_eq(c->wr_open(&out, NULL, &st, &err), 0);
		ck_assert_int_eq(c->wr_finish(st, &err), 0);
		ck_assert_int_eq(c->wr_write(st, "x", 1, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		ck_assert_int_eq(c->wr_finish(st, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		c->wr_close(st);
	}
	close(fd);
	buf_free(&text);
}

/* ---- options, rewind, detection ---------------------------------------------- */

static int try_wr_open(const struct codec_ops *c, const msgpack_object *opts,
                       struct rowd_error *err)
{
	struct rawout out = { .fd = -1, .written = 0 };
	void *st = NULL;
	int rc;

	rowd_error_clear(err);
	rc = c->wr_open(&out, opts, &st, err);
	if (rc == 0)
		c->wr_close(st);
	return rc;
}

static int try_rd_open(const struct codec_ops *c, const msgpack_object *opts,
                       struct rowd_error *err)
{
	struct rawin in = { .fd = -1, .pos = 0, .size = 0 };
	void *st = NULL;
	int rc;

	rowd_error_clear(err);
	rc = c->rd_open(&in, opts, &st, err);
	if (rc == 0)
		c->rd_close(st);
	return rc;
}

static void check_options(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	const int64_t bad[] = { k->min - 1, k->max + 1, -100, 1000 };
	msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };
	struct rowd_error err;
	struct opts1 o;

	if (!c)
		return;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_int_eq(try_wr_open(c, opts1(&o, "level", mp_int(bad[i])), &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.message, "level"));
	}
	ck_assert_int_eq(try_wr_open(c, opts1(&o, "level", mp_str("9")), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(try_wr_open(c, opts1(&o, "speed", mp_int(1)), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "speed"));
	ck_assert_int_eq(try_wr_open(c, &(msgpack_object){ .type = MSGPACK_OBJECT_POSITIVE_INTEGER,
	                                                   .via.u64 = 3 }, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(try_wr_open(c, &nil, &err), 0);
	ck_assert_int_eq(try_wr_open(c, NULL, &err), 0);
	/* The maximum is accepted too: the round trips write at it. */
	ck_assert_int_eq(try_wr_open(c, opts1(&o, "level", mp_int(k->min)), &err), 0);
	/* The reader takes no options at all. */
	ck_assert_int_eq(try_rd_open(c, opts1(&o, "level", mp_int(k->dflt)), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(try_rd_open(c, NULL, &err), 0);
	ck_assert_int_eq(try_rd_open(c, &nil, &err), 0);
}

static void check_rewind(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_of(ci);
	struct buf a, b, fa, fb, file, want;
	struct rowd_error err;
	struct input in;
	struct buf first, all, again;
	int fd;

	if (!c)
		return;
	a = gen_text(700000, 81);
	b = gen_text(1000, 82);
	fa = write_output(c, a.p, a.n, k->min);
	fb = write_output(c, b.p, b.n, k->dflt);
	/* Concatenated where the format allows it. */
	file = k->concat ? concat(&fa, &fb) : concat(&fa, &(struct buf){ 0 });
	want = k->concat ? concat(&a, &b) : concat(&a, &(struct buf){ 0 });
	fd = memfd_of(file.p, file.n);
	rowd_error_clear(&err);
	ck_assert_int_eq(input_open(&in, fd, c, NULL, 1 << 20, &err), 0);
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
	buf_free(&file);
	buf_free(&want);
	buf_free(&fa);
	buf_free(&fb);
	buf_free(&a);
	buf_free(&b);
}

static void check_detection(int ci)
{
	const struct ccase *k = &cases[ci];
	const struct codec_ops *c = codec_find(k->name, strlen(k->name));
	const struct codec_ops *none = codec_find("none", 4);
	char name[64];
	struct buf text, f;

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, k->name);
	/* By extension, in any case, with the stub too. */
	for (size_t i = 0; i < 3 && k->exts[i]; i++) {
		snprintf(name, sizeof name, "dir.d/x.csv.%s", k->exts[i]);
		ck_assert_ptr_eq(codec_by_extension(name), c);
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		ck_assert_ptr_eq(codec_by_extension(name), c);
	}
	snprintf(name, sizeof name, "x.%s/data.csv", k->exts[0]);
	ck_assert_ptr_null(codec_by_extension(name));
	ck_assert_int_eq(c->magic != NULL, k->magic);
	if (c->unavailable)
		return;
	/* By content: our own output, from the 16 bytes detect reads. */
	text = gen_text(5000, 99);
	f = write_output(c, text.p, text.n, k->dflt);
	ck_assert_ptr_eq(codec_by_magic(f.p, f.n < 16 ? f.n : 16), k->magic ? c : none);
	if (k->magic) {
		ck_assert_ptr_eq(codec_by_magic(f.p, 3), none);
		ck_assert(!c->magic(f.p, 3));
	}
	buf_free(&f);
	buf_free(&text);
	ck_assert_ptr_eq(codec_by_magic((const unsigned char *)"id,name\n", 8), none);
}

/* No magic collides, and the strong bzip2 check turns away look-alikes. */
START_TEST(test_magic_table)
{
	static const unsigned char bz[] = { 'B', 'Z', 'h', '9', 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const unsigned char bz_empty[] = { 'B', 'Z', 'h', '1', 0x17, 0x72, 0x45, 0x38,
	                                          0x50, 0x90, 0, 0, 0, 0 };
	static const unsigned char xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0, 0, 4 };
	static const unsigned char zs[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x24 };
	static const unsigned char l4[] = { 0x04, 0x22, 0x4d, 0x18, 0x64 };
	static const unsigned char lzma_alone[] = { 0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff,
	                                            0xff, 0xff, 0xff, 0xff, 0 };
	const struct codec_ops *none = codec_find("none", 4);
	const struct codec_ops *const *list = codec_list();
	const struct {
		const unsigned char *p;
		size_t n;
		const char *want;
	} heads[] = {
		{ bz, sizeof bz, "bzip2" },
		{ bz, 4, "bzip2" },
		{ bz_empty, sizeof bz_empty, "bzip2" },
		{ (const unsigned char *)"BZh9 is not a block", 19, "none" },
		{ (const unsigned char *)"BZh0\x31\x41\x59\x26\x53\x59", 10, "none" },
		{ (const unsigned char *)"BZhello", 7, "none" },
		{ xz, sizeof xz, "xz" },
		{ xz, 5, "none" },
		{ zs, sizeof zs, "zstd" },
		{ l4, sizeof l4, "lz4" },
		{ lzma_alone, sizeof lzma_alone, "none" },
	};

	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
		const struct codec_ops *want = codec_find(heads[i].want, strlen(heads[i].want));
		const struct codec_ops *got;

		ck_assert_ptr_nonnull(want);
		if (want != none && want->unavailable)
			continue;
		got = codec_by_magic(heads[i].p, heads[i].n);
		ck_assert_msg(got == want, "head %zu: %s, want %s", i, got->name, want->name);
		/* Exactly one codec claims it. */
		for (size_t j = 0; list[j]; j++)
			if (list[j] != want && list[j]->magic)
				ck_assert_msg(!list[j]->magic(heads[i].p, heads[i].n),
				              "head %zu also claimed by %s", i, list[j]->name);
	}
	ck_assert_ptr_eq(codec_by_magic(NULL, 0), none);
}
END_TEST

/* Each codec's checks run in a few forked tests rather than one test
 * each: under ASan, a forked test's exit (LeakSanitizer's scan) costs
 * ~0.25 s, more than most checks. Failures still name codec and line. */
typedef void (*codec_check)(int ci);

static void run_checks(const codec_check *checks, size_t n, int ci)
{
	for (size_t i = 0; i < n; i++)
		checks[i](ci);
}

#define RUN_CHECKS(ci, ...)                                                         \
	run_checks((const codec_check[]){ __VA_ARGS__ },                             \
	           sizeof((const codec_check[]){ __VA_ARGS__ }) / sizeof(codec_check), ci)

START_TEST(test_api)
{
	RUN_CHECKS(_i, check_options, check_detection, check_read_eio, check_write_eio,
	           check_write_abandon_and_finish_twice, check_levels_and_default, check_rewind);
}
END_TEST

START_TEST(test_streams)
{
	RUN_CHECKS(_i, check_conformance_fixture, check_library_streams, check_concatenated,
	           check_skippable_frames, check_not_this_format, check_corrupt_offset);
}
END_TEST

START_TEST(test_roundtrip)
{
	RUN_CHECKS(_i, check_roundtrip_levels);
}
END_TEST

START_TEST(test_boundaries)
{
	RUN_CHECKS(_i, check_small_steps, check_many_streams, check_stream_at_chunk_edge);
}
END_TEST

START_TEST(test_hostile)
{
	RUN_CHECKS(_i, check_truncated_cuts, check_truncated_large, check_flipped_bytes);
}
END_TEST

static Suite *codecs_suite(void)
{
	Suite *s = suite_create("codecs");
	TCase *basic = tcase_create("basic");
	TCase *heavy = tcase_create("heavy");

	tcase_add_loop_test(basic, test_api, 0, N_CASES);
	tcase_add_loop_test(basic, test_streams, 0, N_CASES);
	tcase_add_test(basic, test_brotli_jsonl_fixture);
	tcase_add_test(basic, test_magic_table);
	suite_add_tcase(s, basic);

	/* Big inputs and exhaustive loops: generous under sanitizers. */
	tcase_set_timeout(heavy, 300);
	tcase_add_loop_test(heavy, test_roundtrip, 0, N_CASES);
	tcase_add_loop_test(heavy, test_boundaries, 0, N_CASES);
	tcase_add_loop_test(heavy, test_hostile, 0, N_CASES);
	suite_add_tcase(s, heavy);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codecs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
