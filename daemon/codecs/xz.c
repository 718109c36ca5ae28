/* The xz and lzma codecs (liblzma): two codecs, one decoder loop.
 *
 * xz: the .xz container. Reading uses liblzma's stream decoder with
 * LZMA_CONCATENATED, so concatenated files (`cat a.xz b.xz`, and the
 * stream padding the format allows between them) read fully; every block
 * is checked against its CRC32/CRC64/SHA-256 and the index. Writing is
 * lzma_easy_encoder at preset `level` 0..9 (default 6, as xz(1)) with a
 * CRC64 check. Presets 7..9 need 186..674 MiB of encoder memory (xz(1)
 * says so too); the decoder of their files 33..65 MiB.
 *
 * lzma: the legacy .lzma ("LZMA_Alone") format of LZMA Utils. It has no
 * magic number (it starts with a properties byte, usually 5d, and a
 * dictionary size), no integrity check and no concatenation, so:
 *  - it is detected by the .lzma extension (or codec "lzma") only: a 5d 00
 *    00 prefix is too weak to claim arbitrary files by content, and xz(1)
 *    itself only guesses it as a last resort;
 *  - corrupt data is caught only when it breaks the LZMA structure: a
 *    damaged file can decode to wrong bytes without an error;
 *  - bytes after the end of the stream are ECODEC "trailing garbage".
 * Writing uses lzma_alone_encoder with lzma_lzma_preset(level), 0..9,
 * default 6; the size is left unknown and an end marker closes the stream.
 *
 * Edges, for both, because a row stream must never end early without
 * saying so:
 *  - a 0-byte file is an empty stream: no data, no error;
 *  - end of file inside a stream: ECODEC "truncated stream";
 *  - anything the decoder rejects: ECODEC "corrupt data: <reason>"
 *    ("not in xz format" when the first header is wrong);
 *  - a stream whose dictionary needs more than XZ_MEMLIMIT to decode:
 *    ELIMIT, so that a hostile header cannot make us allocate 1.5 GiB.
 * Errors carry offset = the compressed byte position where decoding
 * stopped (the raw read position minus the bytes not yet consumed).
 */
#include "config.h"

#include <lzma.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Compressed bytes read per rawin_read, and compressed output per write. */
#define XZ_IN_CHUNK  (256 * 1024)
#define XZ_OUT_CHUNK (256 * 1024)

/* Decoder memory ceiling: 4x what xz -9 files need. */
#define XZ_MEMLIMIT  ((uint64_t)256 << 20)

#define XZ_LEVEL_MIN     0
#define XZ_LEVEL_MAX     9
#define XZ_LEVEL_DEFAULT 6

/* ---- reader ------------------------------------------------------------ */

enum xz_phase {
	XZ_HEAD,     /* before the stream (xz: all of the concatenated ones) */
	XZ_BODY,     /* inside it, from its first byte */
	XZ_END,
	XZ_FAILED,   /* corrupt data seen: every later read fails too */
};

struct xz_rd {
	struct rawin *in;
	const char *name;    /* "xz" or "lzma", for messages */
	bool alone;          /* legacy .lzma */
	lzma_stream z;
	enum xz_phase phase;
	bool seen_stream;
	bool raw_eof;        /* rawin_read returned 0 */
	/* Compressed window: buf[start..end) is read but not yet consumed. */
	size_t start, end;
	unsigned char buf[XZ_IN_CHUNK];
};

static size_t xz_avail(const struct xz_rd *s)
{
	return s->end - s->start;
}

/* The compressed offset of buf[start]: where decoding stands. */
static int64_t xz_offset(const struct xz_rd *s)
{
	return (int64_t)(s->in->pos - xz_avail(s));
}

static int xz_fail(struct xz_rd *s, struct rowd_error *err, const char *what)
{
	rowd_error_set(err, ROWD_ECODEC, "%s: %s", s->name, what);
	err->offset = xz_offset(s);
	return -1;
}

/* Reads the next chunk into the (empty) window; raw_eof at end of file. */
static int xz_refill(struct xz_rd *s, struct rowd_error *err)
{
	ssize_t r = rawin_read(s->in, s->buf, sizeof s->buf, err);

	if (r < 0)
		return -1;
	s->start = 0;
	s->end = (size_t)r;
	if (r == 0)
		s->raw_eof = true;
	return 0;
}

static int xz_decoder_error(struct xz_rd *s, lzma_ret rc, struct rowd_error *err)
{
	char what[96];

	switch (rc) {
	case LZMA_MEM_ERROR:
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", s->name);
	case LZMA_MEMLIMIT_ERROR:
		rowd_error_set(err, ROWD_ELIMIT,
		               "%s: the stream needs %llu MiB to decode, more than the %llu MiB limit",
		               s->name, (unsigned long long)(lzma_memusage(&s->z) >> 20),
		               (unsigned long long)(XZ_MEMLIMIT >> 20));
		err->offset = xz_offset(s);
		return -1;
	case LZMA_FORMAT_ERROR:
		snprintf(what, sizeof what, "not in %s format", s->name);
		return xz_fail(s, err, what);
	case LZMA_OPTIONS_ERROR:
		return xz_fail(s, err, "corrupt data: unsupported options in the header");
	case LZMA_DATA_ERROR:
		return xz_fail(s, err, "corrupt data: compressed data is corrupt");
	case LZMA_BUF_ERROR:
		/* Two calls without progress: only asked at the end of file. */
		return xz_fail(s, err, "truncated stream");
	default:
		snprintf(what, sizeof what, "corrupt data: liblzma error %d", (int)rc);
		return xz_fail(s, err, what);
	}
}

static int xz_decoder_start(struct xz_rd *s, struct rowd_error *err)
{
	lzma_ret rc;

	s->z = (lzma_stream)LZMA_STREAM_INIT;
	/* No TELL_* flags: an unsupported check type would be a warning we
	 * could not act on, and Debian's liblzma supports all three. */
	rc = s->alone ? lzma_alone_decoder(&s->z, XZ_MEMLIMIT)
	              : lzma_stream_decoder(&s->z, XZ_MEMLIMIT, LZMA_CONCATENATED);
	if (rc == LZMA_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", s->name);
	if (rc != LZMA_OK)
		return rowd_error_set(err, ROWD_ECODEC, "%s: decoder init failed (%d)", s->name,
		                      (int)rc);
	return 0;
}

/* Before the stream: the file is empty, or a stream starts. After it
 * (lzma only: xz's decoder eats concatenated streams and padding itself),
 * any byte is trailing garbage. */
static int xz_head(struct xz_rd *s, struct rowd_error *err)
{
	if (xz_avail(s) == 0 && !s->raw_eof && xz_refill(s, err) < 0)
		return -1;
	if (xz_avail(s) == 0) {
		s->phase = XZ_END;
		return 0;
	}
	if (s->seen_stream)
		return xz_fail(s, err, "trailing garbage after the end of the stream");
	s->seen_stream = true;
	s->phase = XZ_BODY;
	return 0;
}

enum xz_step { XZ_STEP_MORE = 0, XZ_STEP_STREAM_END = 1 };

/* Decodes buf[start..end) into out; *produced is set even on error. */
static int xz_step(struct xz_rd *s, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	size_t avail = xz_avail(s);
	lzma_ret rc;

	s->z.next_in = s->buf + s->start;
	s->z.avail_in = avail;
	s->z.next_out = out;
	s->z.avail_out = n;
	/* LZMA_FINISH once the window holds the rest of the file: the
	 * concatenated decoder can only tell the end from it. */
	rc = lzma_code(&s->z, s->raw_eof ? LZMA_FINISH : LZMA_RUN);
	s->start += avail - s->z.avail_in;
	*produced = n - s->z.avail_out;
	if (rc == LZMA_OK)
		return XZ_STEP_MORE;
	if (rc == LZMA_STREAM_END)
		return XZ_STEP_STREAM_END;
	if (rc == LZMA_BUF_ERROR && !s->raw_eof)
		return xz_fail(s, err, "corrupt data: decoder made no progress");
	return xz_decoder_error(s, rc, err);
}

/* Decodes until some output, the end of the stream, or an error.
 * Returns the bytes produced (0 only at the end), -1 on error. */
static ssize_t xz_body(struct xz_rd *s, unsigned char *out, size_t n, struct rowd_error *err)
{
	for (;;) {
		size_t before, produced = 0;
		int rc;

		if (xz_avail(s) == 0 && !s->raw_eof && xz_refill(s, err) < 0)
			return -1;
		before = xz_avail(s);
		rc = xz_step(s, out, n, &produced, err);
		if (rc < 0)
			return -1;
		if (rc == XZ_STEP_STREAM_END) {
			s->phase = XZ_HEAD;
			return (ssize_t)produced;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (xz_avail(s) < before)
			continue;
		/* No progress: the stream needs bytes the file does not have. */
		if (s->raw_eof)
			return xz_fail(s, err, "truncated stream");
		/* Input and room both offered, nothing moved: never loop on it. */
		return xz_fail(s, err, "corrupt data: decoder made no progress");
	}
}

static ssize_t xz_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct xz_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	for (;;) {
		ssize_t r = 0;

		switch (s->phase) {
		case XZ_HEAD:
			r = xz_head(s, err);
			break;
		case XZ_BODY:
			r = xz_body(s, buf, n, err);
			if (r > 0)
				return r;
			break;
		case XZ_END:
			return 0;
		case XZ_FAILED:
			return xz_fail(s, err, "stream broken by an earlier error");
		}
		if (r < 0) {
			/* A failed read (EIO) consumed nothing and may be retried;
			 * the decoder's state after bad data is undefined. */
			if (err->code != ROWD_EIO)
				s->phase = XZ_FAILED;
			return -1;
		}
	}
}

static void xz_rd_close(void *state)
{
	struct xz_rd *s = state;

	if (!s)
		return;
	lzma_end(&s->z);
	free(s);
}

static int xz_rd_open_as(struct rawin *in, const msgpack_object *copts, bool alone,
                         void **state, struct rowd_error *err)
{
	const char *name = alone ? "lzma" : "xz";
	struct xz_rd *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", name);
	memset(s, 0, offsetof(struct xz_rd, buf));
	s->in = in;
	s->name = name;
	s->alone = alone;
	s->phase = XZ_HEAD;
	if (xz_decoder_start(s, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int xz_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	return xz_rd_open_as(in, copts, false, state, err);
}

static int lzma_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                        struct rowd_error *err)
{
	return xz_rd_open_as(in, copts, true, state, err);
}

/* ---- writer ------------------------------------------------------------ */

struct xz_wr {
	struct rawout *out;
	const char *name;
	lzma_stream z;
	bool broken;     /* an error left the encoder and the file out of step */
	bool finished;
	size_t used;     /* compressed bytes waiting in buf */
	unsigned char buf[XZ_OUT_CHUNK];
};

static int xz_wr_broken(struct xz_wr *s, struct rowd_error *err, const char *what, int rc)
{
	s->broken = true;
	if (rc == LZMA_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", s->name);
	return rowd_error_set(err, ROWD_EIO, "%s: %s (%d)", s->name, what, rc);
}

/* Writes the compressed bytes buffered so far. */
static int xz_wr_drain(struct xz_wr *s, struct rowd_error *err)
{
	if (s->used > 0 && rawout_write(s->out, s->buf, s->used, err) < 0) {
		s->broken = true;
		return -1;
	}
	s->used = 0;
	return 0;
}

/* Compresses all of p[0..n) into buf (draining it when full); with
 * finish, also ends the stream. */
static int xz_wr_run(struct xz_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	s->z.next_in = p;
	s->z.avail_in = n;
	for (;;) {
		size_t in_before = s->z.avail_in, out_before = s->used;
		lzma_ret rc;

		s->z.next_out = s->buf + s->used;
		s->z.avail_out = sizeof s->buf - s->used;
		rc = lzma_code(&s->z, finish ? LZMA_FINISH : LZMA_RUN);
		s->used = sizeof s->buf - s->z.avail_out;
		if (rc != LZMA_OK && rc != LZMA_STREAM_END)
			return xz_wr_broken(s, err, "lzma_code failed", rc);
		if (finish ? rc == LZMA_STREAM_END : s->z.avail_in == 0)
			return 0;
		if (s->used == sizeof s->buf) {
			if (xz_wr_drain(s, err) < 0)
				return -1;
		} else if (s->z.avail_in == in_before && s->used == out_before) {
			return xz_wr_broken(s, err, "lzma_code made no progress", rc);
		}
	}
}

static int xz_wr_usable(struct xz_wr *s, struct rowd_error *err)
{
	if (s->broken)
		return rowd_error_set(err, ROWD_EIO, "%s: stream broken by an earlier error",
		                      s->name);
	if (s->finished)
		return rowd_error_set(err, ROWD_EINVAL, "%s: stream already finished", s->name);
	return 0;
}

static int xz_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct xz_wr *s = state;

	if (xz_wr_usable(s, err) < 0)
		return -1;
	return n == 0 ? 0 : xz_wr_run(s, buf, n, false, err);
}

static int xz_wr_finish(void *state, struct rowd_error *err)
{
	struct xz_wr *s = state;

	if (xz_wr_usable(s, err) < 0)
		return -1;
	if (xz_wr_run(s, NULL, 0, true, err) < 0 || xz_wr_drain(s, err) < 0)
		return -1;
	s->finished = true;
	return 0;
}

/* After finish, or to abandon: the partial stream is simply dropped. */
static void xz_wr_close(void *state)
{
	struct xz_wr *s = state;

	if (!s)
		return;
	lzma_end(&s->z);
	free(s);
}

static int xz_encoder_start(struct xz_wr *s, bool alone, int level, struct rowd_error *err)
{
	lzma_options_lzma opt;
	lzma_ret rc;

	s->z = (lzma_stream)LZMA_STREAM_INIT;
	if (!alone) {
		rc = lzma_easy_encoder(&s->z, (uint32_t)level, LZMA_CHECK_CRC64);
	} else {
		if (lzma_lzma_preset(&opt, (uint32_t)level))
			return rowd_error_set(err, ROWD_EINVAL, "lzma: unsupported preset %d", level);
		rc = lzma_alone_encoder(&s->z, &opt);
	}
	if (rc == LZMA_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", s->name);
	if (rc != LZMA_OK)
		return rowd_error_set(err, ROWD_EIO, "%s: encoder init failed (%d)", s->name, (int)rc);
	return 0;
}

static int xz_wr_open_as(struct rawout *out, const msgpack_object *copts, bool alone,
                         void **state, struct rowd_error *err)
{
	const char *name = alone ? "lzma" : "xz";
	struct xz_wr *s;
	int level;

	if (codec_options_level(copts, XZ_LEVEL_MIN, XZ_LEVEL_MAX, XZ_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", name);
	memset(s, 0, offsetof(struct xz_wr, buf));
	s->out = out;
	s->name = name;
	if (xz_encoder_start(s, alone, level, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int xz_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	return xz_wr_open_as(out, copts, false, state, err);
}

static int lzma_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                        struct rowd_error *err)
{
	return xz_wr_open_as(out, copts, true, state, err);
}

/* ---- the codecs -------------------------------------------------------- */

/* The stream header magic: fd '7' 'z' 'X' 'Z' 00. */
static bool xz_magic(const unsigned char *head, size_t n)
{
	static const unsigned char magic[6] = { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 };

	return n >= sizeof magic && memcmp(head, magic, sizeof magic) == 0;
}

const struct codec_ops codec_xz = {
	.name = "xz",
	.extensions = (const char *const[]){ "xz", NULL },
	.magic = xz_magic,
	.rd_open = xz_rd_open,
	.rd_read = xz_rd_read,
	.rd_close = xz_rd_close,
	.wr_open = xz_wr_open,
	.wr_write = xz_wr_write,
	.wr_finish = xz_wr_finish,
	.wr_close = xz_wr_close,
};

/* No magic: see the top. */
const struct codec_ops codec_lzma = {
	.name = "lzma",
	.extensions = (const char *const[]){ "lzma", NULL },
	.magic = NULL,
	.rd_open = lzma_rd_open,
	.rd_read = xz_rd_read,
	.rd_close = xz_rd_close,
	.wr_open = lzma_wr_open,
	.wr_write = xz_wr_write,
	.wr_finish = xz_wr_finish,
	.wr_close = xz_wr_close,
};
