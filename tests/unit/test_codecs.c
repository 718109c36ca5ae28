/* Codec tests for the library codecs: bzip2, xz, lzma, zstd, lz4, brotli,
 * zip.
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
 *
 * zip is an archive, not a stream: level 0 stores, nothing may follow the
 * end record, and a member's CRC comes at its end, so the stream checks
 * that assume otherwise skip it (ccase.archive) and the check_zip_*
 * functions test what is its own: member choice, empty archives, damaged
 * headers, and archives written by us read by libzip and Python's
 * zipfile (zipwrite.c's multi-member and ZIP64 output too).
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
#ifdef HAVE_LIBZIP
#include <sys/wait.h>
#include <zip.h>
#include "codecs/zipwrite.h"
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

/* Writes data through output.h into a file called name (NULL: unknown)
 * with codec options opts. */
static struct buf write_output_to(const struct codec_ops *c, const char *name,
                                  const msgpack_object *opts, const void *p, size_t n)
{
	const unsigned char *q = p;
	struct rowd_error err;
	struct output out;
	struct buf b;
	int fd = memfd_of("", 0);

	rowd_error_clear(&err);
	ck_assert_msg(output_open_named(&out, fd, name, c, opts, &err) == 0,
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

/* Writes data through output.h at a level (-1: no codec_options). */
static struct buf write_output(const struct codec_ops *c, const void *p, size_t n, int level)
{
	struct opts1 o;

	return write_output_to(c, NULL, level < 0 ? NULL : opts1(&o, "level", mp_int(level)), p, n);
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

#ifdef HAVE_LIBZIP
/* The archive an in-memory libzip source holds (after zip_close). */
static struct buf zip_source_bytes(zip_source_t *src)
{
	zip_stat_t st;
	struct buf b;

	zip_stat_init(&st);
	ck_assert_int_eq(zip_source_stat(src, &st), 0);
	ck_assert_int_eq(zip_source_open(src), 0);
	b = buf_sized(st.size);
	ck_assert_int_eq(zip_source_read(src, b.p, st.size), (zip_int64_t)st.size);
	b.n = st.size;
	zip_source_close(src);
	zip_source_free(src);
	return b;
}

/* libzip's archives: deflate at its levels, stored (variant % 4 == 3),
 * bzip2 where this libzip has it (variant % 6 == 5); variant 7 puts the
 * member in a directory beside a __MACOSX resource fork. */
static struct buf lib_zip(const void *p, size_t n, int variant)
{
	zip_int32_t method = variant % 4 == 3 ? ZIP_CM_STORE : ZIP_CM_DEFLATE;
	zip_source_t *src, *data;
	zip_error_t ze;
	zip_int64_t idx;
	zip_t *za;

	if (variant % 6 == 5 && zip_compression_method_supported(ZIP_CM_BZIP2, 1))
		method = ZIP_CM_BZIP2;
	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	ck_assert_ptr_nonnull(src);
	zip_source_keep(src);
	za = zip_open_from_source(src, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	ck_assert_msg(za != NULL, "libzip: %s", zip_error_strerror(&ze));
	if (variant == 7) {
		ck_assert_int_ge(zip_dir_add(za, "d", 0), 0);
		data = zip_source_buffer(za, "mac", 3, 0);
		ck_assert_int_ge(zip_file_add(za, "__MACOSX/d/._data.csv", data, 0), 0);
	}
	data = zip_source_buffer(za, p, n, 0);
	idx = zip_file_add(za, variant == 7 ? "d/data.csv" : "data.csv", data, 0);
	ck_assert_int_ge(idx, 0);
	ck_assert_int_eq(zip_set_file_compression(za, (zip_uint64_t)idx, method,
	                                          (zip_uint32_t)(variant % 10)), 0);
	ck_assert_msg(zip_close(za) == 0, "libzip: %s", zip_error_strerror(zip_get_error(za)));
	zip_error_fini(&ze);
	return zip_source_bytes(src);
}
#else
#define lib_zip NULL
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
	bool archive;           /* zip: see the top of the file */
};

static const struct ccase cases[] = {
	{ "bzip2", 1, 9, 9, 1, SLOW_TEXT, true, true, false, true, { "bz2" }, "bz2", lib_bzip2, false },
	{ "xz", 0, 6, 9, 0, SLOW_TEXT, true, true, false, true, { "xz" }, "xz", lib_xz, false },
	/* xz's encoder again: a quarter of the slow round trips' text. */
	{ "lzma", 0, 6, 9, 0, SLOW_TEXT / 4, false, false, false, false, { "lzma" }, NULL, lib_lzma, false },
	{ "zstd", 1, 3, 19, 3, SLOW_TEXT, true, true, true, true, { "zst", "zstd" }, "zst", lib_zstd, false },
	{ "lz4", 0, 0, 12, 0, SLOW_TEXT, true, true, true, true, { "lz4" }, "lz4", lib_lz4, false },
	{ "brotli", 0, 6, 11, 0, SLOW_TEXT, false, false, false, false, { "br" }, "br", lib_brotli, false },
	{ "zip", 0, 6, 9, 6, SLOW_TEXT, true, false, false, true, { "zip" }, "zip", lib_zip, true },
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

	/* lz4's fast levels keep ~64% of this text; every other codec < 50%
	 * (zip's level 0 stores). */
	f = write_output(c, text->p, big, level);
	ck_assert_msg(f.n < big / 3 * 2 || (k->archive && level == 0), "%s level %d: %zu -> %zu",
	              c->name, level, big, f.n);
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

	/* Archives: check_zip_hostile. */
	if (!c || k->archive)
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

	/* zip's CRC comes at the member's end: check_zip_hostile. */
	if (!c || k->archive)
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
	/* An archive fails before its first byte: check_zip_hostile. */
	if (k->archive)
		return;
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

/* ---- zip: what an archive has that a stream has not -------------------------- */

#ifdef HAVE_LIBZIP
/* The member time our archives get (main sets SOURCE_DATE_EPOCH to it). */
#define ZIP_EPOCH 1700000000
#define PYTHON "/usr/bin/python3"

static int buf_sink(void *ctx, const void *p, size_t n, struct rowd_error *err)
{
	(void)err;
	buf_add(ctx, p, n);
	return 0;
}

/* An archive of k members written by zipwrite.c, each in uneven pieces. */
static struct buf zip_make(const char *const *names, const struct buf *data, size_t k, int level,
                           bool force64)
{
	struct rowd_error err;
	struct buf b = { 0 };
	struct zipw *w;

	rowd_error_clear(&err);
	w = zipw_open(buf_sink, &b, &err);
	ck_assert_ptr_nonnull(w);
	if (force64)
		zipw_force_zip64(w);
	for (size_t i = 0; i < k; i++) {
		/* A third, one byte, the rest. */
		size_t cut[4] = { 0, data[i].n / 3, data[i].n / 3 + 1, data[i].n };

		if (cut[2] > data[i].n)
			cut[1] = cut[2] = data[i].n;
		ck_assert_msg(zipw_member_begin(w, names[i], level, ZIP_EPOCH, &err) == 0, "%s",
		              err.message);
		for (int j = 0; j < 3; j++)
			if (cut[j + 1] > cut[j])
				ck_assert_int_eq(zipw_member_write(w, data[i].p + cut[j],
				                                   cut[j + 1] - cut[j], &err), 0);
		ck_assert_int_eq(zipw_member_end(w, &err), 0);
	}
	ck_assert_msg(zipw_finish(w, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(zipw_offset(w), b.n);
	zipw_free(w);
	return b;
}

/* libzip, checking consistency, finds exactly these members and bytes. */
static void verify_libzip(const struct buf *f, const char *const *names, const struct buf *data,
                          size_t k)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;

	zip_error_init(&ze);
	src = zip_source_buffer_create(f->p, f->n, 0, &ze);
	ck_assert_ptr_nonnull(src);
	za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	ck_assert_msg(za != NULL, "libzip rejects the archive: %s", zip_error_strerror(&ze));
	ck_assert_int_eq(zip_get_num_entries(za, 0), (zip_int64_t)k);
	for (size_t i = 0; i < k; i++) {
		static unsigned char chunk[65536];
		struct buf got = { 0 };
		zip_stat_t st;
		zip_file_t *zf;
		zip_int64_t r;

		ck_assert_str_eq(zip_get_name(za, i, 0), names[i]);
		zip_stat_init(&st);
		ck_assert_int_eq(zip_stat_index(za, i, 0, &st), 0);
		ck_assert_uint_eq(st.size, data[i].n);
		ck_assert_int_eq(st.comp_method, ZIP_CM_DEFLATE);
		zf = zip_fopen_index(za, i, 0);
		ck_assert_ptr_nonnull(zf);
		while ((r = zip_fread(zf, chunk, sizeof chunk)) > 0)
			buf_add(&got, chunk, (size_t)r);
		ck_assert_msg(r == 0, "libzip reading %s: %s", names[i],
		              zip_error_strerror(zip_file_get_error(zf)));
		ck_assert_msg(buf_eq(&got, data[i].p, data[i].n), "libzip: %s differs", names[i]);
		zip_fclose(zf);
		buf_free(&got);
	}
	zip_discard(za);
	zip_error_fini(&ze);
}

/* Python's zipfile: testzip (every CRC), the names in order, the DOS
 * time of ZIP_EPOCH, deflate, and each member's bytes. */
static const char py_verify[] =
	"import sys, time, zipfile\n"
	"path, epoch, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]\n"
	"z = zipfile.ZipFile(path)\n"
	"assert z.testzip() is None\n"
	"assert z.namelist() == pairs[0::2], (z.namelist(), pairs[0::2])\n"
	"t = time.localtime(epoch)\n"
	"want = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec // 2 * 2)\n"
	"for name, f in zip(pairs[0::2], pairs[1::2]):\n"
	"    i = z.getinfo(name)\n"
	"    assert i.date_time == want, (i.date_time, want)\n"
	"    assert i.compress_type == zipfile.ZIP_DEFLATED\n"
	"    with open(f, 'rb') as fh:\n"
	"        assert z.read(name) == fh.read(), name\n";

static void put_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(n ? fwrite(p, 1, n, f) : 0, n);
	ck_assert_int_eq(fclose(f), 0);
}

static void verify_python(const struct buf *f, const char *const *names, const struct buf *data,
                          size_t k)
{
	char dir[] = "/tmp/rowd-zip-test-XXXXXX", paths[9][64], epoch[24];
	char *argv[6 + 2 * 8];
	size_t a = 0;
	int status;
	pid_t pid;

	ck_assert_uint_le(k, 8);
	if (access(PYTHON, X_OK) != 0) {
		fprintf(stderr, "no %s: archives not checked by Python's zipfile\n", PYTHON);
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(paths[0], sizeof paths[0], "%s/a.zip", dir);
	put_file(paths[0], f->p, f->n);
	snprintf(epoch, sizeof epoch, "%d", ZIP_EPOCH);
	argv[a++] = "python3";
	argv[a++] = "-c";
	argv[a++] = (char *)py_verify;
	argv[a++] = paths[0];
	argv[a++] = epoch;
	for (size_t i = 0; i < k; i++) {
		snprintf(paths[i + 1], sizeof paths[i + 1], "%s/m%zu", dir, i);
		put_file(paths[i + 1], data[i].p, data[i].n);
		argv[a++] = (char *)names[i];
		argv[a++] = paths[i + 1];
	}
	argv[a] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execv(PYTHON, argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Only the files made above: never a recursive removal. */
	for (size_t i = 0; i <= k; i++)
		ck_assert_int_eq(unlink(paths[i]), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "Python's zipfile rejects the archive (status %d)", status);
}

/* Reads f through rd_read with codec options; name gets what rd_name
 * says once reading began ("" if nothing), and it must say nothing
 * before. */
static struct result read_opts(const struct codec_ops *c, const struct buf *f,
                               const msgpack_object *opts, char *name, size_t cap)
{
	struct result r = { 0 };
	struct rawin in = { .fd = memfd_of(f->p, f->n), .pos = 0, .size = f->n };
	static unsigned char tmp[4093];
	void *st = NULL;

	rowd_error_clear(&r.err);
	name[0] = '\0';
	r.rc = c->rd_open(&in, opts, &st, &r.err);
	if (r.rc == 0)
		ck_assert_ptr_null(c->rd_name(st));
	while (r.rc == 0) {
		ssize_t got = c->rd_read(st, tmp, sizeof tmp, &r.err);
		const char *nm = c->rd_name(st);

		if (nm && !name[0])
			snprintf(name, cap, "%s", nm);
		if (got < 0) {
			r.rc = -1;
			break;
		}
		if (got == 0)
			break;
		buf_add(&r.out, tmp, (size_t)got);
	}
	if (st)
		c->rd_close(st);
	close(in.fd);
	return r;
}

/* f with opts fails with code and what in the message. */
static void expect_zip_refused(const struct codec_ops *c, const struct buf *f,
                               const msgpack_object *opts, enum rowd_err code, const char *what)
{
	char name[128];
	struct result r = read_opts(c, f, opts, name, sizeof name);

	ck_assert_msg(r.rc == -1, "zip: read as success, want '%s'", what);
	ck_assert_msg(r.err.code == code, "zip: code %d (%s), want %d", r.err.code, r.err.message,
	              code);
	ck_assert_msg(strstr(r.err.message, what), "zip: message '%s' lacks '%s'", r.err.message,
	              what);
	ck_assert_uint_eq(r.out.n, 0);
	result_free(&r);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

/* Offsets in a one-member archive of ours (no ZIP64, no comment). */
struct zip_layout {
	size_t data, data_end, central;
};

static struct zip_layout zip_layout(const struct buf *f)
{
	struct zip_layout z;

	ck_assert_uint_ge(f->n, 22);
	ck_assert(memcmp(f->p + f->n - 22, "PK\x05\x06", 4) == 0);
	z.central = get_le32(f->p + f->n - 22 + 16);
	ck_assert(memcmp(f->p + z.central, "PK\x01\x02", 4) == 0);
	/* Local header 30 + name + extra; the descriptor is 16 bytes. */
	z.data = 30 + (f->p[26] | (size_t)f->p[27] << 8) + (f->p[28] | (size_t)f->p[29] << 8);
	z.data_end = z.central - 16;
	ck_assert(memcmp(f->p + z.data_end, "PK\x07\x08", 4) == 0);
	return z;
}

static struct buf buf_copy(const struct buf *f)
{
	struct buf g = { 0 };

	buf_add(&g, f->p, f->n);
	return g;
}

/* An archive libzip makes holding only a directory. */
static struct buf lib_zip_dir_only(void)
{
	zip_source_t *src;
	zip_error_t ze;
	zip_t *za;

	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	ck_assert_ptr_nonnull(src);
	zip_source_keep(src);
	za = zip_open_from_source(src, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	ck_assert_ptr_nonnull(za);
	ck_assert_int_ge(zip_dir_add(za, "only", 0), 0);
	ck_assert_int_eq(zip_close(za), 0);
	zip_error_fini(&ze);
	return zip_source_bytes(src);
}
#endif

/* codec_options.member, the only data member, the first of several,
 * unknown members, directories, __MACOSX, rd_name. */
static void check_zip_members(int ci)
{
#ifdef HAVE_LIBZIP
	static const char *const names[] = { "a.csv", "dir/b.jsonl", "c.txt" };
	const struct codec_ops *c = codec_of(ci);
	struct buf data[3], f, lib, text;
	char name[128], many[40][24];
	const char *many_names[40];
	struct buf many_data[40];
	struct result r;
	struct opts1 o;

	if (!c || !cases[ci].archive)
		return;
	data[0] = gen_text(1000, 1);
	data[1] = gen_text(200000, 2);
	data[2] = (struct buf){ 0 };
	f = zip_make(names, data, 3, 6, false);
	verify_libzip(&f, names, data, 3);

	/* Several and no choice: the first data member (DESIGN). */
	r = read_opts(c, &f, NULL, name, sizeof name);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert(buf_eq(&r.out, data[0].p, data[0].n));
	ck_assert_str_eq(name, "a.csv");
	result_free(&r);
	for (int i = 0; i < 3; i++) {
		r = read_opts(c, &f, opts1(&o, "member", mp_str(names[i])), name, sizeof name);
		ck_assert_msg(r.rc == 0, "member %s: %s", names[i], r.err.message);
		ck_assert(buf_eq(&r.out, data[i].p, data[i].n));
		ck_assert_str_eq(name, names[i]);
		result_free(&r);
	}
	expect_zip_refused(c, &f, opts1(&o, "member", mp_str("nope.csv")), ROWD_EINVAL,
	                   "no member 'nope.csv' in the archive (members: 'a.csv', 'dir/b.jsonl'");
	expect_zip_refused(c, &f, opts1(&o, "member", mp_str("b.jsonl")), ROWD_EINVAL, "no member");
	expect_zip_refused(c, &f, opts1(&o, "member", mp_str("")), ROWD_EINVAL, "no member ''");
	r = read_opts(c, &f, opts1(&o, "member", mp_int(1)), name, sizeof name);
	ck_assert_int_eq(r.err.code, ROWD_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.message, "member"));
	result_free(&r);
	{
		/* As the daemon reads: through input.h, options and all. */
		struct rowd_error err;
		struct input in;
		struct buf all;
		int fd = memfd_of(f.p, f.n);

		rowd_error_clear(&err);
		ck_assert_int_eq(input_open(&in, fd, c, opts1(&o, "member", mp_str("dir/b.jsonl")),
		                            1 << 20, &err), 0);
		all = input_take(&in, SIZE_MAX);
		ck_assert(buf_eq(&all, data[1].p, data[1].n));
		ck_assert_int_eq(input_rewind(&in, &err), 0);
		buf_free(&all);
		all = input_take(&in, 5);
		ck_assert(buf_eq(&all, data[1].p, 5));
		input_close(&in);
		close(fd);
		buf_free(&all);
	}
	buf_free(&f);

	/* The list of names in a message is bounded. */
	for (int i = 0; i < 40; i++) {
		snprintf(many[i], sizeof many[i], "member-%02d.csv", i);
		many_names[i] = many[i];
		many_data[i] = data[0];
	}
	f = zip_make(many_names, many_data, 40, 1, false);
	r = read_opts(c, &f, opts1(&o, "member", mp_str("nope.csv")), name, sizeof name);
	ck_assert_int_eq(r.err.code, ROWD_EINVAL);
	ck_assert_msg(strstr(r.err.message, "'member-00.csv'") && strstr(r.err.message, ", ...") &&
	              strlen(r.err.message) < ROWD_ERRMSG_MAX - 1, "%s", r.err.message);
	result_free(&r);
	buf_free(&f);

	/* Directories and macOS' resource forks are not data members. */
	text = gen_text(5000, 3);
	lib = lib_zip(text.p, text.n, 7);
	r = read_opts(c, &lib, NULL, name, sizeof name);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert(buf_eq(&r.out, text.p, text.n));
	ck_assert_str_eq(name, "d/data.csv");
	result_free(&r);
	expect_zip_refused(c, &lib, opts1(&o, "member", mp_str("d/")), ROWD_EINVAL, "is a directory");
	r = read_opts(c, &lib, opts1(&o, "member", mp_str("__MACOSX/d/._data.csv")), name, sizeof name);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert(buf_eq(&r.out, "mac", 3));
	result_free(&r);
	buf_free(&lib);
	buf_free(&text);
	for (int i = 0; i < 3; i++)
		buf_free(&data[i]);
#else
	(void)ci;
#endif
}

/* An archive without data members reads as an empty stream. */
static void check_zip_empty(int ci)
{
#ifdef HAVE_LIBZIP
	static const unsigned char eocd[22] = { 'P', 'K', 5, 6 };
	const struct buf empty = { .p = (unsigned char *)eocd, .n = sizeof eocd };
	const struct codec_ops *c = codec_of(ci);
	struct buf f, dir;
	struct opts1 o;
	char name[64];
	struct result r;

	if (!c || !cases[ci].archive)
		return;
	expect_data(c, &empty, "", 0, 1);
	ck_assert_ptr_eq(codec_by_magic(eocd, sizeof eocd), c);
	/* What zipwrite makes of no members is that record, which libzip
	 * and Python read as an empty archive. */
	f = zip_make(NULL, NULL, 0, 6, false);
	ck_assert(buf_eq(&f, eocd, sizeof eocd));
	verify_libzip(&f, NULL, NULL, 0);
	verify_python(&f, NULL, NULL, 0);
	buf_free(&f);
	r = read_opts(c, &empty, NULL, name, sizeof name);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(name, "");
	result_free(&r);
	expect_zip_refused(c, &empty, opts1(&o, "member", mp_str("x.csv")), ROWD_EINVAL,
	                   "no member 'x.csv' in the archive (members: none)");
	dir = lib_zip_dir_only();
	expect_data(c, &dir, "", 0, 1);
	expect_zip_refused(c, &dir, opts1(&o, "member", mp_str("only/")), ROWD_EINVAL,
	                   "is a directory");
	buf_free(&dir);
#else
	(void)ci;
#endif
}

/* The member is named after the target without ".zip", or as told;
 * names that would unpack elsewhere are refused. */
static void check_zip_naming(int ci)
{
#ifdef HAVE_LIBZIP
	static const struct {
		const char *target, *member;
	} named[] = {
		{ "out.csv.zip", "out.csv" }, { "X.JSONL.ZIP", "X.JSONL" },
		{ "dir.d/rows.tsv.zip", "rows.tsv" }, { "plain", "plain" }, { NULL, "data" },
	};
	static const char *const bad[] = { "../evil.csv", "/etc/x.csv", "", "d/", "a/../b.csv",
	                                   "\xff.csv" };
	const struct codec_ops *c = codec_of(ci);
	struct rowd_error err;
	struct opts1 o;
	char name[64];

	if (!c || !cases[ci].archive)
		return;
	for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
		struct buf f = write_output_to(c, named[i].target, NULL, "a\n", 2);
		struct result r = read_opts(c, &f, NULL, name, sizeof name);

		ck_assert_msg(r.rc == 0, "%s", r.err.message);
		ck_assert_str_eq(name, named[i].member);
		result_free(&r);
		buf_free(&f);
	}
	{
		struct buf f = write_output_to(c, "out.zip", opts1(&o, "member", mp_str("in/data.csv")),
		                               "a\n", 2);
		struct result r = read_opts(c, &f, NULL, name, sizeof name);

		ck_assert_str_eq(name, "in/data.csv");
		result_free(&r);
		buf_free(&f);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_int_eq(try_wr_open(c, opts1(&o, "member", mp_str(bad[i])), &err), -1);
		ck_assert_msg(err.code == ROWD_EINVAL && strstr(err.message, "zip: "), "%s: %s", bad[i],
		              err.message);
	}
	ck_assert_int_eq(try_wr_open(c, opts1(&o, "member", mp_int(7)), &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "member"));
#else
	(void)ci;
#endif
}

/* Our archives at several levels, read by libzip and Python's zipfile. */
static void check_zip_verified(int ci)
{
#ifdef HAVE_LIBZIP
	static const int levels[] = { 0, 1, 6, 9 };
	static const char *const names[] = { "out.csv" };
	const struct codec_ops *c = codec_of(ci);
	struct buf text, part, f;
	struct opts1 o;

	if (!c || !cases[ci].archive)
		return;
	text = gen_text(3u * 1024 * 1024, 9);
	for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
		part = text;
		part.n = levels[i] == 9 ? 300000 : text.n;
		f = write_output_to(c, "out.csv.zip", opts1(&o, "level", mp_int(levels[i])), part.p,
		                    part.n);
		verify_libzip(&f, names, &part, 1);
		verify_python(&f, names, &part, 1);
		buf_free(&f);
	}
	part = (struct buf){ 0 };
	f = write_output_to(c, "out.csv.zip", NULL, NULL, 0);
	verify_libzip(&f, names, &part, 1);
	verify_python(&f, names, &part, 1);
	buf_free(&f);
	buf_free(&text);
#else
	(void)ci;
#endif
}

/* Damage where the stream checks do not look: headers, the CRC at the
 * member's end, bytes after the end record, encryption, methods, sizes. */
static void check_zip_hostile(int ci)
{
#ifdef HAVE_LIBZIP
	const struct codec_ops *c = codec_of(ci);
	struct buf text, f, g, small, stored;
	struct zip_layout z;
	struct result r;

	if (!c || !cases[ci].archive)
		return;
	r = expect_codec_error(c, "id,name\n1,Anna\n", 15, "not a zip archive");
	ck_assert_int_eq(r.err.offset, 0);
	result_free(&r);

	text = gen_text(300000, 5);
	f = write_output(c, text.p, text.n, 6);
	z = zip_layout(&f);

	/* Cut short: the end record is missing; the offset is the file's end. */
	r = expect_codec_error(c, f.p, f.n / 2, "truncated stream");
	ck_assert_int_eq(r.err.offset, (int64_t)(f.n / 2));
	result_free(&r);

	/* Wrong signatures: local header, central header, end record. */
	g = buf_copy(&f);
	g.p[0] = 'X';
	expect_codec_error_free(c, g.p, g.n, "corrupt data: ");
	ck_assert_ptr_eq(codec_by_magic(g.p, 16), codec_find("none", 4));
	memcpy(g.p, f.p, 4);
	g.p[z.central + 1] = 'X';
	expect_codec_error_free(c, g.p, g.n, NULL);
	memcpy(g.p + z.central, f.p + z.central, 4);
	g.p[g.n - 22 + 2] = 0x55;
	expect_codec_error_free(c, g.p, g.n, NULL);
	buf_free(&g);

	/* Flipped bytes in the deflate data: an error near the flip (the
	 * chunk being decoded) or the CRC at the end, never other data. */
	for (size_t i = 0; i < 12; i++) {
		size_t at = z.data + 50 + (z.data_end - z.data - 100) * i / 11;

		f.p[at] ^= 0x55;
		r = expect_codec_error(c, f.p, f.n, "corrupt data: ");
		f.p[at] ^= 0x55;
		ck_assert_msg(r.err.offset + 65536 >= (int64_t)at && r.err.offset <= (int64_t)z.data_end,
		              "flip at %zu: offset %lld (%s)", at, (long long)r.err.offset,
		              r.err.message);
		result_free(&r);
	}

	/* Stored data: only the CRC-32 can tell, at the member's end. */
	small = gen_text(5000, 6);
	stored = write_output(c, small.p, small.n, 0);
	z = zip_layout(&stored);
	stored.p[z.data + 2500] ^= 1;
	r = expect_codec_error(c, stored.p, stored.n, "CRC-32 mismatch in member 'data'");
	ck_assert_int_eq(r.err.offset, (int64_t)z.data_end);
	result_free(&r);
	stored.p[z.data + 2500] ^= 1;

	/* Bytes after the end record; two archives end to end. */
	g = buf_copy(&stored);
	buf_add(&g, "garbage\n", 8);
	r = expect_codec_error(c, g.p, g.n, "trailing garbage: 8 bytes after the end of central");
	ck_assert_int_eq(r.err.offset, (int64_t)stored.n);
	result_free(&r);
	buf_free(&g);
	g = concat(&stored, &stored);
	r = expect_codec_error(c, g.p, g.n, "archives joined end to end");
	ck_assert_int_eq(r.err.offset, (int64_t)stored.n - 22);
	result_free(&r);
	buf_free(&g);
	/* An entry count past the limit: ELIMIT before libzip allocates. */
	{
		static const char *const one[] = { "a.csv" };
		struct buf big = zip_make(one, &small, 1, 1, true);
		unsigned char *end64 = big.p + big.n - 22 - 20 - 56;

		end64[24 + 2] = end64[32 + 2] = 0x10;     /* 1 + 2^20 entries */
		expect_zip_refused(c, &big, NULL, ROWD_ELIMIT, "more than the limit of 262144");
		buf_free(&big);
	}

	/* Encrypted (flag bit 0 in both headers), a method libzip lacks, a
	 * method nobody defined. */
	g = buf_copy(&stored);
	g.p[6] |= 1;
	g.p[z.central + 8] |= 1;
	expect_zip_refused(c, &g, NULL, ROWD_ENOTSUP, "member 'data' is encrypted");
	memcpy(g.p, stored.p, g.n);
	put_le16(g.p + 8, 98);
	put_le16(g.p + z.central + 10, 98);
	expect_zip_refused(c, &g, NULL, ROWD_ENOTSUP, "compression method 98 (ppmd)");
	put_le16(g.p + 8, 200);
	put_le16(g.p + z.central + 10, 200);
	expect_codec_error_free(c, g.p, g.n, "unknown compression method 200");

	/* A central directory whose size disagrees with the data: never a
	 * short read taken for the end. */
	memcpy(g.p, stored.p, g.n);
	g.p[z.central + 24] += 1;
	expect_codec_error_free(c, g.p, g.n, "corrupt data: ");
	g.p[z.central + 24] -= 2;
	expect_codec_error_free(c, g.p, g.n, "corrupt data: ");
	buf_free(&g);

	buf_free(&stored);
	buf_free(&small);
	buf_free(&f);
	buf_free(&text);
#else
	(void)ci;
#endif
}

#ifdef HAVE_LIBZIP
struct failing_sink {
	size_t budget;
};

static int failing_sink(void *ctx, const void *p, size_t n, struct rowd_error *err)
{
	struct failing_sink *s = ctx;

	(void)p;
	if (n > s->budget)
		return rowd_error_set(err, ROWD_EIO, "write failed: No space left on device");
	s->budget -= n;
	return 0;
}

/* zipwrite.c as the XLSX writer will use it: several members, UTF-8 and
 * directory names, empty and multi-MB members, ZIP64 records; out of
 * order calls and a failing sink. */
START_TEST(test_zipwrite)
{
	static const char *const names[] = { "a.csv", "empty.txt",
	                                     "dir/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9.jsonl", "big.csv" };
	const struct codec_ops *c = codec_find("zip", 3);
	struct buf data[4];
	struct rowd_error err;
	struct zipw *w;
	struct buf sunk = { 0 };

	data[0] = gen_text(1000, 1);
	data[1] = (struct buf){ 0 };
	data[2] = gen_text(100000, 2);
	data[3] = gen_text(2u * 1024 * 1024, 3);
	for (int force = 0; force < 2; force++) {
		struct buf f = zip_make(names, data, 4, 6, force);
		const unsigned char *end64 = f.p + f.n - 22 - 20 - 56;
		struct opts1 o;
		struct result r;
		char name[128];

		verify_libzip(&f, names, data, 4);
		verify_python(&f, names, data, 4);
		ck_assert_int_eq(memcmp(end64, "PK\x06\x06", 4) == 0, force);
		ck_assert_int_eq(memcmp(end64 + 56, "PK\x06\x07", 4) == 0, force);
		r = read_opts(c, &f, opts1(&o, "member", mp_str(names[3])), name, sizeof name);
		ck_assert_msg(r.rc == 0, "%s", r.err.message);
		ck_assert(buf_eq(&r.out, data[3].p, data[3].n));
		result_free(&r);
		r = read_opts(c, &f, opts1(&o, "member", mp_str(names[2])), name, sizeof name);
		ck_assert(buf_eq(&r.out, data[2].p, data[2].n));
		ck_assert_str_eq(name, names[2]);
		result_free(&r);
		buf_free(&f);
	}

	/* Out of order. */
	rowd_error_clear(&err);
	w = zipw_open(buf_sink, &sunk, &err);
	ck_assert_int_eq(zipw_member_write(w, "x", 1, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(zipw_member_end(w, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(zipw_member_begin(w, "a", 10, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "level 10"));
	ck_assert_int_eq(zipw_member_begin(w, "a", 1, 0, &err), 0);
	ck_assert_int_eq(zipw_member_begin(w, "b", 1, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "member 'a' is still open"));
	ck_assert_int_eq(zipw_member_end(w, &err), 0);
	ck_assert_int_eq(zipw_member_begin(w, "a", 1, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "already in the archive"));
	/* Times before 1980 (DOS dates start there) are written as 1980. */
	ck_assert_int_eq(zipw_member_begin(w, "b", 1, 0, &err), 0);
	ck_assert_int_eq(zipw_finish(w, &err), 0);       /* ends "b" */
	ck_assert_int_eq(zipw_finish(w, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_int_eq(zipw_member_begin(w, "c", 1, 0, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_uint_eq(zipw_offset(w), sunk.n);
	zipw_free(w);
	verify_libzip(&sunk, (const char *const[]){ "a", "b" },
	              (const struct buf[]){ { 0 }, { 0 } }, 2);
	buf_free(&sunk);

	/* A sink that fails: EIO, and broken stays broken. */
	{
		struct failing_sink fs = { .budget = 100000 };

		w = zipw_open(failing_sink, &fs, &err);
		ck_assert_int_eq(zipw_member_begin(w, "big.csv", 0, ZIP_EPOCH, &err), 0);
		ck_assert_int_eq(zipw_member_write(w, data[3].p, data[3].n, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		ck_assert_ptr_nonnull(strstr(err.message, "No space"));
		ck_assert_int_eq(zipw_member_write(w, "x", 1, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.message, "broken"));
		ck_assert_int_eq(zipw_member_end(w, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		ck_assert_int_eq(zipw_finish(w, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EIO);
		zipw_free(w);
	}
	/* Abandoned with a member open: zipw_free frees it all. */
	w = zipw_open(buf_sink, &sunk, &err);
	ck_assert_int_eq(zipw_member_begin(w, "a", 9, ZIP_EPOCH, &err), 0);
	ck_assert_int_eq(zipw_member_write(w, data[2].p, data[2].n, &err), 0);
	zipw_free(w);
	buf_free(&sunk);
	for (int i = 0; i < 4; i++)
		buf_free(&data[i]);
}
END_TEST
#endif

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
		{ (const unsigned char *)"PK\x03\x04\x14\0\x08\0", 8, "zip" },
		{ (const unsigned char *)"PK\x05\x06\0\0\0\0", 8, "zip" },
		{ (const unsigned char *)"PK\x07\x08\0\0\0\0", 8, "none" },
		{ (const unsigned char *)"PK\x03", 3, "none" },
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
	           check_write_abandon_and_finish_twice, check_levels_and_default, check_rewind,
	           check_zip_members, check_zip_empty, check_zip_naming);
}
END_TEST

START_TEST(test_streams)
{
	RUN_CHECKS(_i, check_conformance_fixture, check_library_streams, check_concatenated,
	           check_skippable_frames, check_not_this_format, check_corrupt_offset,
	           check_zip_hostile);
}
END_TEST

START_TEST(test_roundtrip)
{
	RUN_CHECKS(_i, check_roundtrip_levels, check_zip_verified);
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
#ifdef HAVE_LIBZIP
	tcase_add_test(basic, test_zipwrite);
#endif
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
	SRunner *sr;
	int failed;

	/* zip members carry a time: the same bytes must make the same file. */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	sr = srunner_create(codecs_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
