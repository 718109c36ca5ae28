/* The zstd codec (libzstd).
 *
 * Reading runs ZSTD_decompressStream over the whole file, which decodes
 * frame after frame: concatenated files (`cat a.zst b.zst`, zstd -T with
 * --rsyncable, seekable-format writers) read fully, and skippable frames
 * (metadata, the seekable format's index) are passed over. Each frame's
 * XXH64 checksum is verified when the frame carries one. Frames whose
 * window exceeds 2^ZS_WINDOWLOG_MAX (128 MiB, libzstd's and zstd(1)'s
 * default; --long=31 files need more) are refused with ELIMIT, so a
 * hostile header cannot make us allocate 2 GiB.
 * Writing is ZSTD_compressStream2 at `level` 1..19 (default 3, as
 * zstd(1)), with a checksum in the frame (zstd(1) writes one too).
 *
 * Edges, because a row stream must never end early without saying so:
 *  - a 0-byte file is an empty stream: no data, no error;
 *  - end of file inside a frame: ECODEC "truncated stream";
 *  - anything libzstd rejects, including bytes after the last frame that
 *    do not start another one: ECODEC "corrupt data: <libzstd's reason>"
 *    (a non-zstd file says "Unknown frame descriptor").
 * Files that start with a skippable frame have no zstd magic at offset 0:
 * they are found by extension (or codec "zstd") only.
 * Errors carry offset = the compressed byte position where decoding
 * stopped: the start of the damaged block (see zs_step), or of the data
 * libzstd had not yet consumed.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"
#include "stream.h"

/* The largest window a frame may ask of the decoder: 128 MiB. */
#define ZS_WINDOWLOG_MAX 27

#define ZS_LEVEL_MIN     1
#define ZS_LEVEL_MAX     19
#define ZS_LEVEL_DEFAULT 3

/* ---- reader ------------------------------------------------------------ */

struct zs_rd {
	ZSTD_DCtx *dctx;
	/* libzstd's last hint: the input bytes that complete the next block
	 * (0: unknown, at a frame start). See zs_step. */
	size_t hint;
	struct cstream_in win;   /* last: its buffer is not cleared */
};

static int zs_decoder_error(struct zs_rd *s, size_t rc, struct rowd_error *err)
{
	char what[128];

	switch (ZSTD_getErrorCode(rc)) {
	case ZSTD_error_memory_allocation:
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	case ZSTD_error_frameParameter_windowTooLarge:
		rowd_error_set(err, ROWD_ELIMIT,
		               "zstd: the frame's window is larger than the %u MiB limit",
		               1u << (ZS_WINDOWLOG_MAX - 20));
		err->offset = cstream_in_offset(&s->win);
		return -1;
	default:
		snprintf(what, sizeof what, "corrupt data: %s", ZSTD_getErrorName(rc));
		return cstream_fail(&s->win, err, "zstd", "%s", what);
	}
}

/* Decodes from buf[start..end) into out; *produced is set even on error.
 * The input offered is cut at libzstd's hint, so one call decodes at most
 * one block: on an error libzstd reports nothing consumed, and the offset
 * then names the damaged block's start rather than the window's. libzstd
 * still decodes straight from our buffer when it holds the whole block. */
static int zs_step(void *state, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	struct zs_rd *s = state;
	size_t avail = cstream_in_avail(&s->win);
	size_t give = s->hint && s->hint < avail ? s->hint : avail;
	ZSTD_inBuffer zin = { s->win.buf + s->win.start, give, 0 };
	ZSTD_outBuffer zout = { out, n, 0 };
	size_t rc = ZSTD_decompressStream(s->dctx, &zout, &zin);

	s->win.start += zin.pos;
	*produced = zout.pos;
	if (ZSTD_isError(rc))
		return zs_decoder_error(s, rc, err);
	s->hint = rc;
	/* 0: a frame is complete and fully flushed; libzstd stops there. */
	return rc == 0 ? CSTREAM_STEP_END : CSTREAM_STEP_MORE;
}

/* Between frames, any byte starts a frame (or a skippable frame):
 * libzstd checks its magic. */
static const struct cstream_decoder zs_decoder = { .head = NULL, .step = zs_step };

static ssize_t zs_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct zs_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	return cstream_read(&s->win, &zs_decoder, s, "zstd", buf, n, err);
}

static void zs_rd_close(void *state)
{
	struct zs_rd *s = state;

	if (!s)
		return;
	ZSTD_freeDCtx(s->dctx);   /* fails only on a context in use elsewhere */
	free(s);
}

static int zs_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct zs_rd *s;
	size_t rc;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	memset(s, 0, offsetof(struct zs_rd, win));
	cstream_in_init(&s->win, in);
	s->dctx = ZSTD_createDCtx();
	if (!s->dctx) {
		free(s);
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	}
	/* Said explicitly: libzstd's default is the same today, but the
	 * ELIMIT message names this value. */
	rc = ZSTD_DCtx_setParameter(s->dctx, ZSTD_d_windowLogMax, ZS_WINDOWLOG_MAX);
	if (ZSTD_isError(rc)) {
		ZSTD_freeDCtx(s->dctx);
		free(s);
		return rowd_error_set(err, ROWD_ECODEC, "zstd: cannot set the window limit: %s",
		                      ZSTD_getErrorName(rc));
	}
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

struct zs_wr {
	ZSTD_CCtx *cctx;
	struct cstream_out w;
	unsigned char buf[CSTREAM_CHUNK];
};

static int zs_wr_broken(struct zs_wr *s, struct rowd_error *err, const char *what, size_t rc)
{
	s->w.broken = true;
	if (ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation)
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	return rowd_error_set(err, ROWD_EIO, "zstd: %s: %s", what, ZSTD_getErrorName(rc));
}

/* Compresses all of p[0..n) into buf (flushing it when full); with
 * finish, also ends the frame. */
static int zs_wr_run(struct zs_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	ZSTD_inBuffer zin = { p, n, 0 };

	for (;;) {
		ZSTD_outBuffer zout = { s->w.buf, s->w.cap, s->w.used };
		size_t in_before = zin.pos, out_before = s->w.used, rc;

		rc = ZSTD_compressStream2(s->cctx, &zout, &zin, finish ? ZSTD_e_end : ZSTD_e_continue);
		s->w.used = zout.pos;
		if (ZSTD_isError(rc))
			return zs_wr_broken(s, err, "ZSTD_compressStream2 failed", rc);
		/* With e_end, rc is what is left to flush: 0 when done. */
		if (finish ? rc == 0 : zin.pos == zin.size)
			return 0;
		if (s->w.used == s->w.cap) {
			if (cstream_out_flush(&s->w, err) < 0)
				return -1;
		} else if (zin.pos == in_before && s->w.used == out_before) {
			/* Input and room both offered, nothing moved. */
			return zs_wr_broken(s, err, "ZSTD_compressStream2 made no progress", 0);
		}
	}
}

static int zs_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct zs_wr *s = state;

	if (cstream_out_usable(&s->w, "zstd", err) < 0)
		return -1;
	return n == 0 ? 0 : zs_wr_run(s, buf, n, false, err);
}

static int zs_wr_finish(void *state, struct rowd_error *err)
{
	struct zs_wr *s = state;

	if (cstream_out_usable(&s->w, "zstd", err) < 0)
		return -1;
	if (zs_wr_run(s, NULL, 0, true, err) < 0 || cstream_out_flush(&s->w, err) < 0)
		return -1;
	s->w.finished = true;
	return 0;
}

/* After finish, or to abandon: the partial frame is simply dropped. */
static void zs_wr_close(void *state)
{
	struct zs_wr *s = state;

	if (!s)
		return;
	ZSTD_freeCCtx(s->cctx);   /* fails only on a context in use elsewhere */
	free(s);
}

static int zs_encoder_start(struct zs_wr *s, int level, struct rowd_error *err)
{
	size_t rc;

	s->cctx = ZSTD_createCCtx();
	if (!s->cctx)
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	rc = ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(rc)) {
		ZSTD_freeCCtx(s->cctx);
		return rowd_error_set(err, ROWD_EIO, "zstd: cannot set level %d: %s", level,
		                      ZSTD_getErrorName(rc));
	}
	return 0;
}

static int zs_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct zs_wr *s;
	int level;

	if (codec_options_level(copts, ZS_LEVEL_MIN, ZS_LEVEL_MAX, ZS_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "zstd: out of memory");
	memset(s, 0, offsetof(struct zs_wr, buf));
	cstream_out_init(&s->w, out, s->buf, sizeof s->buf);
	if (zs_encoder_start(s, level, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* ---- the codec --------------------------------------------------------- */

/* ZSTD_MAGICNUMBER, little-endian. */
static bool zs_magic(const unsigned char *head, size_t n)
{
	return n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd;
}

const struct codec_ops codec_zstd = {
	.name = "zstd",
	.extensions = (const char *const[]){ "zst", "zstd", NULL },
	.magic = zs_magic,
	.rd_open = zs_rd_open,
	.rd_read = zs_rd_read,
	.rd_close = zs_rd_close,
	.wr_open = zs_wr_open,
	.wr_write = zs_wr_write,
	.wr_finish = zs_wr_finish,
	.wr_close = zs_wr_close,
};
