/* The lz4 codec: the LZ4 frame format (liblz4's LZ4F_* API).
 *
 * Reading decodes frame after frame with one context (LZ4F_decompress
 * stops exactly at a frame's end and starts the next on the next call), so
 * concatenated files (`cat a.lz4 b.lz4`) read fully and skippable frames
 * are passed over. Block and content checksums are verified when the frame
 * carries them. The legacy format of `lz4 -l` (magic 02 21 4c 18) is not
 * read: LZ4F rejects it as an unknown frame type.
 * Writing produces one frame at `level` 0..12: 0..2 are the fast
 * compressor (liblz4 treats them alike; 0 is the default, as lz4(1)'s -1),
 * 3..12 LZ4HC (LZ4HC_CLEVEL_MIN = 3).
 * Blocks are 256 KiB and linked, and the frame ends with a content
 * checksum (lz4(1) writes one too), so damaged data is detected.
 *
 * Edges, stricter than lz4(1) where it only warns, because a row stream
 * must never end early without saying so:
 *  - a 0-byte file is an empty stream: no data, no error;
 *  - end of file inside a frame: ECODEC "truncated stream";
 *  - anything liblz4 rejects, including bytes after the last frame that
 *    do not start another one: ECODEC "corrupt data: <liblz4's reason>".
 * Files that start with a skippable frame have no lz4 magic at offset 0:
 * they are found by extension (or codec "lz4") only.
 * Errors carry offset = the compressed byte position where decoding
 * stopped: the start of the damaged block (see l4_step), or of the data
 * liblz4 had not yet consumed.
 */
#include "config.h"

#include <lz4frame.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "stream.h"

/* Uncompressed bytes per LZ4F_compressUpdate: the output buffer is sized
 * for the worst case of one such step (LZ4F_compressBound). */
#define L4_WR_STEP   (256 * 1024)

#define L4_LEVEL_MIN     0
#define L4_LEVEL_MAX     12
#define L4_LEVEL_DEFAULT 0

/* LZ4F_getErrorCode is outside liblz4's stable API; its names are not. */
static bool l4_is_enomem(size_t rc)
{
	return strcmp(LZ4F_getErrorName(rc), "ERROR_allocation_failed") == 0;
}

/* ---- reader ------------------------------------------------------------ */

struct l4_rd {
	LZ4F_dctx *dctx;
	/* liblz4's last hint: the input bytes that complete the current block
	 * and the next header (0: unknown, at a frame start). See l4_step. */
	size_t hint;
	struct cstream_in win;   /* last: its buffer is not cleared */
};

/* Decodes from buf[start..end) into out; *produced is set even on error.
 * The input offered is cut at liblz4's hint, so one call decodes at most
 * one block: on an error liblz4 reports nothing consumed, and the offset
 * then names the damaged block's start rather than the window's. Following
 * the hint also lets liblz4 skip its staging buffers. */
static int l4_step(void *state, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	struct l4_rd *s = state;
	size_t avail = cstream_in_avail(&s->win);
	size_t in_n = s->hint && s->hint < avail ? s->hint : avail, out_n = n;
	size_t rc = LZ4F_decompress(s->dctx, out, &out_n, s->win.buf + s->win.start, &in_n, NULL);

	s->win.start += in_n;
	*produced = out_n;
	if (LZ4F_isError(rc)) {
		char what[96];

		if (l4_is_enomem(rc))
			return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
		snprintf(what, sizeof what, "corrupt data: %s", LZ4F_getErrorName(rc));
		return cstream_fail(&s->win, err, "lz4", "%s", what);
	}
	s->hint = rc;
	/* 0: the frame is complete and fully flushed. */
	return rc == 0 ? CSTREAM_STEP_END : CSTREAM_STEP_MORE;
}

/* Between frames, any byte starts a frame: liblz4 checks its magic. */
static const struct cstream_decoder l4_decoder = { .head = NULL, .step = l4_step };

static ssize_t l4_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct l4_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	return cstream_read(&s->win, &l4_decoder, s, "lz4", buf, n, err);
}

static void l4_rd_close(void *state)
{
	struct l4_rd *s = state;

	if (!s)
		return;
	/* Its result only says whether a frame was left unfinished. */
	LZ4F_freeDecompressionContext(s->dctx);
	free(s);
}

static int l4_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct l4_rd *s;
	size_t rc;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	memset(s, 0, offsetof(struct l4_rd, win));
	cstream_in_init(&s->win, in);
	rc = LZ4F_createDecompressionContext(&s->dctx, LZ4F_VERSION);
	if (LZ4F_isError(rc)) {
		free(s);
		if (l4_is_enomem(rc))
			return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
		return rowd_error_set(err, ROWD_ECODEC, "lz4: cannot create a decoder: %s",
		                      LZ4F_getErrorName(rc));
	}
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

struct l4_wr {
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	size_t step_bound;   /* worst-case output of one L4_WR_STEP update */
	struct cstream_out w;    /* its buf is malloc'ed, cap bytes */
};

static int l4_wr_broken(struct l4_wr *s, struct rowd_error *err, const char *what, size_t rc)
{
	s->w.broken = true;
	if (l4_is_enomem(rc))
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	return rowd_error_set(err, ROWD_EIO, "lz4: %s: %s", what, LZ4F_getErrorName(rc));
}

/* LZ4F never stops half-way: it needs its worst case free before a call. */
static int l4_wr_room(struct l4_wr *s, size_t need, struct rowd_error *err)
{
	return s->w.cap - s->w.used < need ? cstream_out_flush(&s->w, err) : 0;
}

static int l4_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct l4_wr *s = state;
	const unsigned char *p = buf;

	if (cstream_out_usable(&s->w, "lz4", err) < 0)
		return -1;
	while (n > 0) {
		size_t step = n < L4_WR_STEP ? n : L4_WR_STEP, rc;

		if (l4_wr_room(s, s->step_bound, err) < 0)
			return -1;
		rc = LZ4F_compressUpdate(s->cctx, s->w.buf + s->w.used, s->w.cap - s->w.used, p, step,
		                         NULL);
		if (LZ4F_isError(rc))
			return l4_wr_broken(s, err, "LZ4F_compressUpdate failed", rc);
		s->w.used += rc;
		p += step;
		n -= step;
	}
	return 0;
}

static int l4_wr_finish(void *state, struct rowd_error *err)
{
	struct l4_wr *s = state;
	size_t rc;

	if (cstream_out_usable(&s->w, "lz4", err) < 0)
		return -1;
	if (l4_wr_room(s, LZ4F_compressBound(0, &s->prefs), err) < 0)
		return -1;
	rc = LZ4F_compressEnd(s->cctx, s->w.buf + s->w.used, s->w.cap - s->w.used, NULL);
	if (LZ4F_isError(rc))
		return l4_wr_broken(s, err, "LZ4F_compressEnd failed", rc);
	s->w.used += rc;
	if (cstream_out_flush(&s->w, err) < 0)
		return -1;
	s->w.finished = true;
	return 0;
}

/* After finish, or to abandon: the partial frame is simply dropped. */
static void l4_wr_close(void *state)
{
	struct l4_wr *s = state;

	if (!s)
		return;
	LZ4F_freeCompressionContext(s->cctx);
	free(s->w.buf);
	free(s);
}

/* Context, buffer and the frame header (into the buffer: nothing reaches
 * the file before the first flush). */
static int l4_encoder_start(struct l4_wr *s, int level, struct rowd_error *err)
{
	size_t rc;

	s->prefs.compressionLevel = level;
	s->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
	s->prefs.frameInfo.blockMode = LZ4F_blockLinked;
	s->prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	s->step_bound = LZ4F_compressBound(L4_WR_STEP, &s->prefs);
	s->w.cap = s->step_bound + LZ4F_HEADER_SIZE_MAX;
	s->w.buf = malloc(s->w.cap);
	if (!s->w.buf)
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	rc = LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION);
	if (!LZ4F_isError(rc))
		rc = LZ4F_compressBegin(s->cctx, s->w.buf, s->w.cap, &s->prefs);
	if (LZ4F_isError(rc)) {
		LZ4F_freeCompressionContext(s->cctx);   /* accepts NULL */
		free(s->w.buf);
		if (l4_is_enomem(rc))
			return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
		return rowd_error_set(err, ROWD_EIO, "lz4: cannot start a frame: %s",
		                      LZ4F_getErrorName(rc));
	}
	s->w.used = rc;
	return 0;
}

static int l4_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct l4_wr *s;
	int level;

	if (codec_options_level(copts, L4_LEVEL_MIN, L4_LEVEL_MAX, L4_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = calloc(1, sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	cstream_out_init(&s->w, out, NULL, 0);
	if (l4_encoder_start(s, level, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* ---- the codec --------------------------------------------------------- */

/* LZ4F_MAGICNUMBER (0x184D2204), little-endian. */
static bool l4_magic(const unsigned char *head, size_t n)
{
	return n >= 4 && head[0] == 0x04 && head[1] == 0x22 && head[2] == 0x4d && head[3] == 0x18;
}

const struct codec_ops codec_lz4 = {
	.name = "lz4",
	.extensions = (const char *const[]){ "lz4", NULL },
	.magic = l4_magic,
	.rd_open = l4_rd_open,
	.rd_read = l4_rd_read,
	.rd_close = l4_rd_close,
	.wr_open = l4_wr_open,
	.wr_write = l4_wr_write,
	.wr_finish = l4_wr_finish,
	.wr_close = l4_wr_close,
};
