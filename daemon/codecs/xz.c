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
#include "stream.h"

/* Decoder memory ceiling: 4x what xz -9 files need. */
#define XZ_MEMLIMIT  ((uint64_t)256 << 20)

#define XZ_LEVEL_MIN     0
#define XZ_LEVEL_MAX     9
#define XZ_LEVEL_DEFAULT 6

/* ---- reader ------------------------------------------------------------ */

struct xz_rd {
	const char *name;    /* "xz" or "lzma", for messages */
	bool alone;          /* legacy .lzma */
	lzma_stream z;
	bool seen_stream;
	struct cstream_in win;   /* last: its buffer is not cleared */
};

static int xz_fail(struct xz_rd *s, struct rowd_error *err, const char *what)
{
	return cstream_fail(&s->win, err, s->name, "%s", what);
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
		err->offset = cstream_in_offset(&s->win);
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

/* A byte follows: before the stream, the stream starts. After it (lzma
 * only: xz's decoder eats concatenated streams and padding itself), any
 * byte is trailing garbage. */
static int xz_head(void *state, struct rowd_error *err)
{
	struct xz_rd *s = state;

	if (s->seen_stream)
		return xz_fail(s, err, "trailing garbage after the end of the stream");
	s->seen_stream = true;
	return 0;
}

/* Decodes buf[start..end) into out; *produced is set even on error. */
static int xz_step(void *state, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	struct xz_rd *s = state;
	size_t avail = cstream_in_avail(&s->win);
	lzma_ret rc;

	s->z.next_in = s->win.buf + s->win.start;
	s->z.avail_in = avail;
	s->z.next_out = out;
	s->z.avail_out = n;
	/* LZMA_FINISH once the window holds the rest of the file: the
	 * concatenated decoder can only tell the end from it. */
	rc = lzma_code(&s->z, s->win.raw_eof ? LZMA_FINISH : LZMA_RUN);
	s->win.start += avail - s->z.avail_in;
	*produced = n - s->z.avail_out;
	if (rc == LZMA_OK)
		return CSTREAM_STEP_MORE;
	if (rc == LZMA_STREAM_END)
		return CSTREAM_STEP_END;
	if (rc == LZMA_BUF_ERROR && !s->win.raw_eof)
		return xz_fail(s, err, "corrupt data: decoder made no progress");
	return xz_decoder_error(s, rc, err);
}

static const struct cstream_decoder xz_decoder = { .head = xz_head, .step = xz_step };

static ssize_t xz_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct xz_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	return cstream_read(&s->win, &xz_decoder, s, s->name, buf, n, err);
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
	memset(s, 0, offsetof(struct xz_rd, win));
	cstream_in_init(&s->win, in);
	s->name = name;
	s->alone = alone;
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
	const char *name;
	lzma_stream z;
	struct cstream_out w;
	unsigned char buf[CSTREAM_CHUNK];
};

static int xz_wr_broken(struct xz_wr *s, struct rowd_error *err, const char *what, int rc)
{
	s->w.broken = true;
	if (rc == LZMA_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "%s: out of memory", s->name);
	return rowd_error_set(err, ROWD_EIO, "%s: %s (%d)", s->name, what, rc);
}

/* Compresses all of p[0..n) into buf (flushing it when full); with
 * finish, also ends the stream. */
static int xz_wr_run(struct xz_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	s->z.next_in = p;
	s->z.avail_in = n;
	for (;;) {
		size_t in_before = s->z.avail_in, out_before = s->w.used;
		lzma_ret rc;

		s->z.next_out = s->w.buf + s->w.used;
		s->z.avail_out = s->w.cap - s->w.used;
		rc = lzma_code(&s->z, finish ? LZMA_FINISH : LZMA_RUN);
		s->w.used = s->w.cap - s->z.avail_out;
		if (rc != LZMA_OK && rc != LZMA_STREAM_END)
			return xz_wr_broken(s, err, "lzma_code failed", rc);
		if (finish ? rc == LZMA_STREAM_END : s->z.avail_in == 0)
			return 0;
		if (s->w.used == s->w.cap) {
			if (cstream_out_flush(&s->w, err) < 0)
				return -1;
		} else if (s->z.avail_in == in_before && s->w.used == out_before) {
			return xz_wr_broken(s, err, "lzma_code made no progress", rc);
		}
	}
}

static int xz_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct xz_wr *s = state;

	if (cstream_out_usable(&s->w, s->name, err) < 0)
		return -1;
	return n == 0 ? 0 : xz_wr_run(s, buf, n, false, err);
}

static int xz_wr_finish(void *state, struct rowd_error *err)
{
	struct xz_wr *s = state;

	if (cstream_out_usable(&s->w, s->name, err) < 0)
		return -1;
	if (xz_wr_run(s, NULL, 0, true, err) < 0 || cstream_out_flush(&s->w, err) < 0)
		return -1;
	s->w.finished = true;
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
	cstream_out_init(&s->w, out, s->buf, sizeof s->buf);
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
