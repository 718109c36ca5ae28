/* The gzip codec.
 *
 * Reading inflates member after member, so concatenated files (`cat a.gz
 * b.gz`, pigz, bgzip) read fully. The inflater is ISA-L's igzip when
 * configure found it (several times faster than zlib on our benchmark
 * CSV), zlib otherwise; both parse the gzip header and check CRC-32 and
 * ISIZE of every member. Writing deflates at `level` 1..9 (default 6)
 * with zlib, except level 1 which goes to igzip's level 1 when ISA-L is
 * built in (a little smaller on our benchmark CSV, and about 3x faster).
 *
 * Edges, stricter than gzip(1) where it only warns, because a row stream
 * must never end early without saying so:
 *  - a 0-byte file is an empty stream: no data, no error;
 *  - a non-empty file that does not start with 1f 8b: ECODEC "not in gzip
 *    format";
 *  - end of file inside a member (header, data or trailer): ECODEC
 *    "truncated stream";
 *  - a bad block, CRC or length: ECODEC "corrupt data: ...";
 *  - after the last member, zero bytes (block padding left by tape and
 *    some writers) are skipped like gzip does; anything else is ECODEC
 *    "trailing garbage" (gzip warns and succeeds).
 * Errors carry offset = the compressed byte position where decoding
 * stopped (the raw read position minus the bytes not yet consumed).
 *
 * Test hook: ROWD_GZIP_ZLIB=1 in the environment when a reader or writer
 * opens forces zlib in an ISA-L build, so that the unit tests can check
 * that both give the same bytes (and benchmarks can compare them).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "codec.h"

/* Compressed bytes read per rawin_read, and deflate output per write. */
#define GZ_IN_CHUNK  (256 * 1024)
#define GZ_OUT_CHUNK (256 * 1024)
/* zlib and ISA-L count buffer sizes in 32-bit fields. */
#define GZ_MAX_STEP  ((size_t)1 << 30)

#define GZ_LEVEL_MIN     1
#define GZ_LEVEL_MAX     9
#define GZ_LEVEL_DEFAULT 6

#ifdef HAVE_ISAL
/* The test hook (see the top), read at each open: zlib both ways. */
static bool gz_force_zlib(void)
{
	const char *v = getenv("ROWD_GZIP_ZLIB");

	return v && strcmp(v, "1") == 0;
}
#endif

/* ---- reader ------------------------------------------------------------ */

enum gz_phase {
	GZ_HEAD,     /* before a member: a header, zero padding or the end */
	GZ_BODY,     /* inside a member, from its first header byte */
	GZ_PADDING,  /* zero bytes after the last member */
	GZ_END,
	GZ_FAILED,   /* corrupt data seen: every later read fails too */
};

/* What one inflater step reports (errors are -1 with err filled). */
enum gz_step { GZ_MORE = 0, GZ_MEMBER_END = 1 };

struct gz_rd;

/* An inflater: ISA-L or zlib behind the same steps. */
struct gz_inflater {
	int (*init)(struct gz_rd *s, struct rowd_error *err);
	/* Prepares for a member whose first byte is at buf[start]. */
	int (*begin_member)(struct gz_rd *s, struct rowd_error *err);
	/* Inflates buf[start..end) into out, advancing start; *produced is
	 * set even on error. */
	int (*step)(struct gz_rd *s, unsigned char *out, size_t n, size_t *produced,
	            struct rowd_error *err);
	void (*fini)(struct gz_rd *s);
};

struct gz_rd {
	struct rawin *in;
	const struct gz_inflater *inflater;
	z_stream z;
#ifdef HAVE_ISAL
	struct inflate_state *isal;   /* 85 KiB, allocated apart */
#endif
	enum gz_phase phase;
	bool seen_member;             /* padding is only legal after one */
	bool raw_eof;                 /* rawin_read returned 0 */
	/* Compressed window: buf[start..end) is read but not yet consumed. */
	size_t start, end;
	unsigned char buf[GZ_IN_CHUNK];
};

static size_t gz_avail(const struct gz_rd *s)
{
	return s->end - s->start;
}

/* The compressed offset of buf[start]: where decoding stands. */
static int64_t gz_offset(const struct gz_rd *s)
{
	return (int64_t)(s->in->pos - gz_avail(s));
}

static int gz_fail(struct gz_rd *s, struct rowd_error *err, const char *what)
{
	rowd_error_set(err, ROWD_ECODEC, "gzip: %s", what);
	err->offset = gz_offset(s);
	return -1;
}

/* Moves the unconsumed bytes to the front and reads more behind them.
 * Returns the bytes added, 0 at end of file (raw_eof set), -1 on EIO. */
static ssize_t gz_refill(struct gz_rd *s, struct rowd_error *err)
{
	ssize_t r;

	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, gz_avail(s));
		s->end -= s->start;
		s->start = 0;
	}
	/* Both inflaters buffer partial headers themselves, so a full window
	 * that yields no progress means a decoder that will never move. */
	if (s->end == sizeof s->buf)
		return gz_fail(s, err, "corrupt data: decoder made no progress");
	r = rawin_read(s->in, s->buf + s->end, sizeof s->buf - s->end, err);
	if (r < 0)
		return -1;
	if (r == 0)
		s->raw_eof = true;
	s->end += (size_t)r;
	return r;
}

/* ---- ISA-L inflater ---------------------------------------------------- */

#ifdef HAVE_ISAL
static const char *isal_strerror(int rc)
{
	switch (rc) {
	case ISAL_INVALID_BLOCK:      return "invalid deflate block";
	case ISAL_INVALID_SYMBOL:     return "invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK:   return "invalid back-reference distance";
	case ISAL_INVALID_WRAPPER:    return "invalid gzip header";
	case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM: return "CRC or length check failed";
	case ISAL_NEED_DICT:          return "preset dictionary required";
	default:                      return "igzip error";
	}
}

static int isal_init(struct gz_rd *s, struct rowd_error *err)
{
	s->isal = malloc(sizeof *s->isal);
	if (!s->isal)
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	isal_inflate_init(s->isal);
	return 0;
}

static int isal_begin_member(struct gz_rd *s, struct rowd_error *err)
{
	isal_inflate_reset(s->isal);
	/* ISAL_GZIP: igzip parses the header and verifies CRC-32 and ISIZE;
	 * at the end of the trailer next_in points just past it (the bits it
	 * buffered all belong to the 8-byte trailer), so the next member
	 * starts at buf[start]. */
	s->isal->crc_flag = ISAL_GZIP;
	return 0;
}

static int isal_step(struct gz_rd *s, unsigned char *out, size_t n, size_t *produced,
                     struct rowd_error *err)
{
	struct inflate_state *st = s->isal;
	size_t avail = gz_avail(s);
	int rc;

	st->next_in = s->buf + s->start;
	st->avail_in = (uint32_t)avail;
	st->next_out = out;
	st->avail_out = (uint32_t)n;
	rc = isal_inflate(st);
	/* On an error igzip hands back the bytes still in its bit buffer,
	 * some read by an earlier call: avail_in may then exceed what it was
	 * given (the offset wrapped below zero). Nothing was consumed then. */
	if (st->avail_in <= avail)
		s->start += avail - st->avail_in;
	*produced = n - st->avail_out;
	if (rc != ISAL_DECOMP_OK) {
		char what[96];

		snprintf(what, sizeof what, "corrupt data: %s (%d)", isal_strerror(rc), rc);
		return gz_fail(s, err, what);
	}
	return st->block_state == ISAL_BLOCK_FINISH ? GZ_MEMBER_END : GZ_MORE;
}

static void isal_fini(struct gz_rd *s)
{
	free(s->isal);
	s->isal = NULL;
}

static const struct gz_inflater gz_isal = {
	.init = isal_init,
	.begin_member = isal_begin_member,
	.step = isal_step,
	.fini = isal_fini,
};
#endif

/* ---- zlib inflater ----------------------------------------------------- */

static int zlib_init(struct gz_rd *s, struct rowd_error *err)
{
	int rc;

	/* 16 + MAX_WBITS: gzip wrapper only (no zlib/raw auto-detection). */
	rc = inflateInit2(&s->z, 16 + MAX_WBITS);
	if (rc == Z_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	if (rc != Z_OK)
		return rowd_error_set(err, ROWD_ECODEC, "gzip: zlib inflateInit2 failed (%d)", rc);
	return 0;
}

static int zlib_begin_member(struct gz_rd *s, struct rowd_error *err)
{
	int rc = inflateReset(&s->z);

	if (rc != Z_OK)
		return rowd_error_set(err, ROWD_ECODEC, "gzip: zlib inflateReset failed (%d)", rc);
	return 0;
}

static int zlib_step(struct gz_rd *s, unsigned char *out, size_t n, size_t *produced,
                     struct rowd_error *err)
{
	size_t avail = gz_avail(s);
	char what[96];
	int rc;

	s->z.next_in = s->buf + s->start;
	s->z.avail_in = (uInt)avail;
	s->z.next_out = out;
	s->z.avail_out = (uInt)n;
	rc = inflate(&s->z, Z_NO_FLUSH);
	s->start += avail - s->z.avail_in;
	*produced = n - s->z.avail_out;
	switch (rc) {
	case Z_OK:
	case Z_BUF_ERROR:     /* no progress: the caller reads more or ends */
		return GZ_MORE;
	case Z_STREAM_END:
		return GZ_MEMBER_END;
	case Z_MEM_ERROR:
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	case Z_DATA_ERROR:
		snprintf(what, sizeof what, "corrupt data: %s", s->z.msg ? s->z.msg : "invalid data");
		return gz_fail(s, err, what);
	default:              /* Z_NEED_DICT cannot be asked by a gzip header */
		snprintf(what, sizeof what, "corrupt data: zlib error %d", rc);
		return gz_fail(s, err, what);
	}
}

static void zlib_fini(struct gz_rd *s)
{
	inflateEnd(&s->z);   /* only fails on a stream it does not know */
}

static const struct gz_inflater gz_zlib = {
	.init = zlib_init,
	.begin_member = zlib_begin_member,
	.step = zlib_step,
	.fini = zlib_fini,
};

static const struct gz_inflater *gz_choose_inflater(void)
{
#ifdef HAVE_ISAL
	if (!gz_force_zlib())
		return &gz_isal;
#endif
	return &gz_zlib;
}

/* ---- reader state machine ---------------------------------------------- */

/* Between members: decides from the next two bytes whether a member
 * follows, the file ends, or only padding is left. */
static int gz_head(struct gz_rd *s, struct rowd_error *err)
{
	const unsigned char *p;

	while (gz_avail(s) < 2 && !s->raw_eof)
		if (gz_refill(s, err) < 0)
			return -1;
	if (gz_avail(s) == 0) {
		s->phase = GZ_END;
		return 0;
	}
	p = s->buf + s->start;
	/* A lone 1f at the end is a truncated header: the inflater says so. */
	if (p[0] == 0x1f && (gz_avail(s) == 1 || p[1] == 0x8b)) {
		if (s->inflater->begin_member(s, err) < 0)
			return -1;
		s->seen_member = true;
		s->phase = GZ_BODY;
		return 0;
	}
	if (s->seen_member && p[0] == 0) {
		s->phase = GZ_PADDING;
		return 0;
	}
	return gz_fail(s, err, s->seen_member ? "trailing garbage after the last member"
	                                      : "not in gzip format");
}

/* Skips zero bytes to the end of the file; anything else is garbage. */
static int gz_padding(struct gz_rd *s, struct rowd_error *err)
{
	for (;;) {
		while (s->start < s->end && s->buf[s->start] == 0)
			s->start++;
		if (s->start < s->end)
			return gz_fail(s, err, "trailing garbage after the last member");
		if (s->raw_eof) {
			s->phase = GZ_END;
			return 0;
		}
		if (gz_refill(s, err) < 0)
			return -1;
	}
}

/* Inflates until some output, the end of the member, or an error.
 * Returns the bytes produced (0 only at a member end), -1 on error. */
static ssize_t gz_body(struct gz_rd *s, unsigned char *out, size_t n, struct rowd_error *err)
{
	for (;;) {
		size_t before, produced = 0;
		int rc;

		if (gz_avail(s) == 0 && !s->raw_eof && gz_refill(s, err) < 0)
			return -1;
		before = gz_avail(s);
		rc = s->inflater->step(s, out, n, &produced, err);
		if (rc < 0)
			return -1;
		if (rc == GZ_MEMBER_END) {
			s->phase = GZ_HEAD;
			return (ssize_t)produced;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (gz_avail(s) < before)
			continue;
		/* No progress: the member needs bytes the file does not have. */
		if (s->raw_eof)
			return gz_fail(s, err, "truncated stream");
		if (gz_refill(s, err) < 0)
			return -1;
	}
}

static ssize_t gz_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct gz_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched (input_fill
	 * always offers room, so this is not mistaken for the end). */
	if (n == 0)
		return 0;
	if (n > GZ_MAX_STEP)
		n = GZ_MAX_STEP;
	for (;;) {
		ssize_t r = 0;

		switch (s->phase) {
		case GZ_HEAD:
			r = gz_head(s, err);
			break;
		case GZ_BODY:
			r = gz_body(s, buf, n, err);
			if (r > 0)
				return r;
			break;
		case GZ_PADDING:
			r = gz_padding(s, err);
			break;
		case GZ_END:
			return 0;
		case GZ_FAILED:
			return gz_fail(s, err, "stream broken by an earlier error");
		}
		if (r < 0) {
			/* A failed read (EIO) consumed nothing and may be retried;
			 * the inflater's state after bad data is undefined. */
			if (err->code != ROWD_EIO)
				s->phase = GZ_FAILED;
			return -1;
		}
	}
}

static void gz_rd_close(void *state)
{
	struct gz_rd *s = state;

	if (!s)
		return;
	s->inflater->fini(s);
	free(s);
}

static int gz_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct gz_rd *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	memset(s, 0, offsetof(struct gz_rd, buf));
	s->in = in;
	s->phase = GZ_HEAD;
	s->inflater = gz_choose_inflater();
	if (s->inflater->init(s, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

struct gz_wr;

/* A deflater: zlib, or ISA-L at level 1, behind one step. */
struct gz_deflater {
	int (*init)(struct gz_wr *s, int level, struct rowd_error *err);
	/* Compresses all of p[0..n) into s->buf (draining it when full);
	 * with finish, also ends the stream and writes the trailer. */
	int (*run)(struct gz_wr *s, const unsigned char *p, size_t n, bool finish,
	           struct rowd_error *err);
	void (*fini)(struct gz_wr *s);
};

struct gz_wr {
	struct rawout *out;
	const struct gz_deflater *deflater;
	z_stream z;
#ifdef HAVE_ISAL
	struct isal_zstream *isal;    /* with its level buffer, allocated apart */
	unsigned char *isal_level_buf;
#endif
	bool broken;     /* an error left the deflater and the file out of step */
	bool finished;
	size_t used;     /* compressed bytes waiting in buf */
	unsigned char buf[GZ_OUT_CHUNK];
};

static int gz_wr_broken(struct gz_wr *s, struct rowd_error *err, enum rowd_err code,
                        const char *what, int rc)
{
	s->broken = true;
	return rowd_error_set(err, code, "gzip: %s (%d)", what, rc);
}

/* Writes the compressed bytes buffered so far. */
static int gz_wr_drain(struct gz_wr *s, struct rowd_error *err)
{
	if (s->used > 0 && rawout_write(s->out, s->buf, s->used, err) < 0) {
		s->broken = true;
		return -1;
	}
	s->used = 0;
	return 0;
}

/* ---- zlib deflater ------------------------------------------------------ */

static int zdef_init(struct gz_wr *s, int level, struct rowd_error *err)
{
	/* 16 + MAX_WBITS: a gzip wrapper with mtime 0 and no name, so the
	 * same rows always give the same file. */
	int rc = deflateInit2(&s->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);

	if (rc == Z_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	if (rc != Z_OK)
		return rowd_error_set(err, ROWD_EIO, "gzip: zlib deflateInit2 failed (%d)", rc);
	return 0;
}

static int zdef_run(struct gz_wr *s, const unsigned char *p, size_t n, bool finish,
                    struct rowd_error *err)
{
	/* zlib reads next_in through a non-const pointer but never writes. */
	s->z.next_in = (Bytef *)(uintptr_t)p;
	s->z.avail_in = (uInt)n;
	for (;;) {
		int rc;

		s->z.next_out = s->buf + s->used;
		s->z.avail_out = (uInt)(sizeof s->buf - s->used);
		rc = deflate(&s->z, finish ? Z_FINISH : Z_NO_FLUSH);
		s->used = sizeof s->buf - s->z.avail_out;
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return gz_wr_broken(s, err, ROWD_EIO, "zlib deflate failed", rc);
		/* Z_BUF_ERROR with room left means deflate cannot move at all. */
		if (rc == Z_BUF_ERROR && s->z.avail_out > 0)
			return gz_wr_broken(s, err, ROWD_EIO, "zlib deflate made no progress", rc);
		if (s->used == sizeof s->buf && gz_wr_drain(s, err) < 0)
			return -1;
		if (finish ? rc == Z_STREAM_END : s->z.avail_in == 0)
			return 0;
	}
}

static void zdef_fini(struct gz_wr *s)
{
	deflateEnd(&s->z);   /* Z_DATA_ERROR on an abandoned stream is expected */
}

static const struct gz_deflater gz_zdef = {
	.init = zdef_init,
	.run = zdef_run,
	.fini = zdef_fini,
};

/* ---- ISA-L deflater (level 1) -------------------------------------------- */

#ifdef HAVE_ISAL
/* igzip's level 1 compresses about as well as zlib's and several times
 * faster; its levels 2-3 do not line up with zlib's scale, so every other
 * level stays with zlib. */
static int idef_init(struct gz_wr *s, int level, struct rowd_error *err)
{
	s->isal = malloc(sizeof *s->isal);
	s->isal_level_buf = malloc(ISAL_DEF_LVL1_DEFAULT);
	if (!s->isal || !s->isal_level_buf) {
		free(s->isal);
		free(s->isal_level_buf);
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	}
	isal_deflate_init(s->isal);
	s->isal->level = 1;
	s->isal->level_buf = s->isal_level_buf;
	s->isal->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
	s->isal->gzip_flag = IGZIP_GZIP;   /* generic header: mtime 0, no name */
	s->isal->flush = NO_FLUSH;
	return 0;
}

static int idef_run(struct gz_wr *s, const unsigned char *p, size_t n, bool finish,
                    struct rowd_error *err)
{
	struct isal_zstream *z = s->isal;

	/* igzip reads next_in through a non-const pointer but never writes. */
	z->next_in = (uint8_t *)(uintptr_t)p;
	z->avail_in = (uint32_t)n;
	z->end_of_stream = finish;
	for (;;) {
		uint32_t in_before = z->avail_in;
		int rc;

		z->next_out = s->buf + s->used;
		z->avail_out = (uint32_t)(sizeof s->buf - s->used);
		rc = isal_deflate(z);
		s->used = sizeof s->buf - z->avail_out;
		if (rc != COMP_OK)
			return gz_wr_broken(s, err, ROWD_EIO, "igzip deflate failed", rc);
		if (finish ? z->internal_state.state == ZSTATE_END : z->avail_in == 0)
			return 0;
		if (s->used == sizeof s->buf) {
			if (gz_wr_drain(s, err) < 0)
				return -1;
		} else if (z->avail_in == in_before && !finish) {
			return gz_wr_broken(s, err, ROWD_EIO, "igzip deflate made no progress", rc);
		}
	}
}

static void idef_fini(struct gz_wr *s)
{
	free(s->isal_level_buf);
	free(s->isal);
}

static const struct gz_deflater gz_idef = {
	.init = idef_init,
	.run = idef_run,
	.fini = idef_fini,
};
#endif

static const struct gz_deflater *gz_choose_deflater(int level)
{
#ifdef HAVE_ISAL
	if (level == 1 && !gz_force_zlib())
		return &gz_idef;
#endif
	return &gz_zdef;
}

/* ---- writer ops ------------------------------------------------------- */

static int gz_wr_usable(struct gz_wr *s, struct rowd_error *err)
{
	if (s->broken)
		return rowd_error_set(err, ROWD_EIO, "gzip: stream broken by an earlier error");
	if (s->finished)
		return rowd_error_set(err, ROWD_EINVAL, "gzip: stream already finished");
	return 0;
}

static int gz_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct gz_wr *s = state;
	const unsigned char *p = buf;

	if (gz_wr_usable(s, err) < 0)
		return -1;
	while (n > 0) {
		size_t step = n < GZ_MAX_STEP ? n : GZ_MAX_STEP;

		if (s->deflater->run(s, p, step, false, err) < 0)
			return -1;
		p += step;
		n -= step;
	}
	return 0;
}

static int gz_wr_finish(void *state, struct rowd_error *err)
{
	struct gz_wr *s = state;

	if (gz_wr_usable(s, err) < 0)
		return -1;
	if (s->deflater->run(s, NULL, 0, true, err) < 0 || gz_wr_drain(s, err) < 0)
		return -1;
	s->finished = true;
	return 0;
}

/* After finish, or to abandon: the partial stream is simply dropped. */
static void gz_wr_close(void *state)
{
	struct gz_wr *s = state;

	if (!s)
		return;
	s->deflater->fini(s);
	free(s);
}

static int gz_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct gz_wr *s;
	int level;

	if (codec_options_level(copts, GZ_LEVEL_MIN, GZ_LEVEL_MAX, GZ_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "gzip: out of memory");
	memset(s, 0, offsetof(struct gz_wr, buf));
	s->out = out;
	s->deflater = gz_choose_deflater(level);
	if (s->deflater->init(s, level, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* ---- the codec --------------------------------------------------------- */

static bool gz_magic(const unsigned char *head, size_t n)
{
	return n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

const struct codec_ops codec_gzip = {
	.name = "gzip",
	.extensions = (const char *const[]){ "gz", "gzip", NULL },
	.magic = gz_magic,
	.rd_open = gz_rd_open,
	.rd_read = gz_rd_read,
	.rd_close = gz_rd_close,
	.wr_open = gz_wr_open,
	.wr_write = gz_wr_write,
	.wr_finish = gz_wr_finish,
	.wr_close = gz_wr_close,
};
