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

/* Compressed bytes read per rawin_read. */
#define L4_IN_CHUNK  (256 * 1024)
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

enum l4_phase {
	L4_HEAD,     /* between frames: another frame or the end */
	L4_BODY,     /* inside a frame, from its first byte */
	L4_END,
	L4_FAILED,   /* corrupt data seen: every later read fails too */
};

struct l4_rd {
	struct rawin *in;
	LZ4F_dctx *dctx;
	enum l4_phase phase;
	bool raw_eof;        /* rawin_read returned 0 */
	/* liblz4's last hint: the input bytes that complete the current block
	 * and the next header (0: unknown, at a frame start). See l4_step. */
	size_t hint;
	/* Compressed window: buf[start..end) is read but not yet consumed. */
	size_t start, end;
	unsigned char buf[L4_IN_CHUNK];
};

static size_t l4_avail(const struct l4_rd *s)
{
	return s->end - s->start;
}

/* The compressed offset of buf[start]: where decoding stands. */
static int64_t l4_offset(const struct l4_rd *s)
{
	return (int64_t)(s->in->pos - l4_avail(s));
}

static int l4_fail(struct l4_rd *s, struct rowd_error *err, const char *what)
{
	rowd_error_set(err, ROWD_ECODEC, "lz4: %s", what);
	err->offset = l4_offset(s);
	return -1;
}

/* Reads the next chunk into the (empty) window; raw_eof at end of file. */
static int l4_refill(struct l4_rd *s, struct rowd_error *err)
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

/* Between frames: a frame follows if any byte does; liblz4 checks its
 * magic. */
static int l4_head(struct l4_rd *s, struct rowd_error *err)
{
	if (l4_avail(s) == 0 && !s->raw_eof && l4_refill(s, err) < 0)
		return -1;
	s->phase = l4_avail(s) == 0 ? L4_END : L4_BODY;
	return 0;
}

enum l4_step { L4_STEP_MORE = 0, L4_STEP_FRAME_END = 1 };

/* Decodes from buf[start..end) into out; *produced is set even on error.
 * The input offered is cut at liblz4's hint, so one call decodes at most
 * one block: on an error liblz4 reports nothing consumed, and the offset
 * then names the damaged block's start rather than the window's. Following
 * the hint also lets liblz4 skip its staging buffers. */
static int l4_step(struct l4_rd *s, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	size_t in_n = s->hint && s->hint < l4_avail(s) ? s->hint : l4_avail(s), out_n = n;
	size_t rc = LZ4F_decompress(s->dctx, out, &out_n, s->buf + s->start, &in_n, NULL);
	char what[96];

	s->start += in_n;
	*produced = out_n;
	if (LZ4F_isError(rc)) {
		if (l4_is_enomem(rc))
			return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
		snprintf(what, sizeof what, "corrupt data: %s", LZ4F_getErrorName(rc));
		return l4_fail(s, err, what);
	}
	s->hint = rc;
	/* 0: the frame is complete and fully flushed. */
	return rc == 0 ? L4_STEP_FRAME_END : L4_STEP_MORE;
}

/* Decodes until some output, the end of the frame, or an error.
 * Returns the bytes produced (0 only at a frame end), -1 on error. */
static ssize_t l4_body(struct l4_rd *s, unsigned char *out, size_t n, struct rowd_error *err)
{
	for (;;) {
		size_t before, produced = 0;
		int rc;

		if (l4_avail(s) == 0 && !s->raw_eof && l4_refill(s, err) < 0)
			return -1;
		before = l4_avail(s);
		rc = l4_step(s, out, n, &produced, err);
		if (rc < 0)
			return -1;
		if (rc == L4_STEP_FRAME_END) {
			s->phase = L4_HEAD;
			return (ssize_t)produced;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (l4_avail(s) < before)
			continue;
		/* No progress: the frame needs bytes the file does not have. */
		if (s->raw_eof)
			return l4_fail(s, err, "truncated stream");
		/* Input and room both offered, nothing moved: never loop on it. */
		return l4_fail(s, err, "corrupt data: decoder made no progress");
	}
}

static ssize_t l4_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct l4_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	for (;;) {
		ssize_t r = 0;

		switch (s->phase) {
		case L4_HEAD:
			r = l4_head(s, err);
			break;
		case L4_BODY:
			r = l4_body(s, buf, n, err);
			if (r > 0)
				return r;
			break;
		case L4_END:
			return 0;
		case L4_FAILED:
			return l4_fail(s, err, "stream broken by an earlier error");
		}
		if (r < 0) {
			/* A failed read (EIO) consumed nothing and may be retried;
			 * the decoder's state after bad data is undefined. */
			if (err->code != ROWD_EIO)
				s->phase = L4_FAILED;
			return -1;
		}
	}
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
	memset(s, 0, offsetof(struct l4_rd, buf));
	s->in = in;
	s->phase = L4_HEAD;
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
	struct rawout *out;
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	bool broken;     /* an error left the encoder and the file out of step */
	bool finished;
	size_t step_bound;   /* worst-case output of one L4_WR_STEP update */
	size_t used, cap;    /* compressed bytes waiting in buf, its size */
	unsigned char *buf;
};

static int l4_wr_broken(struct l4_wr *s, struct rowd_error *err, const char *what, size_t rc)
{
	s->broken = true;
	if (l4_is_enomem(rc))
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	return rowd_error_set(err, ROWD_EIO, "lz4: %s: %s", what, LZ4F_getErrorName(rc));
}

/* Writes the compressed bytes buffered so far. */
static int l4_wr_drain(struct l4_wr *s, struct rowd_error *err)
{
	if (s->used > 0 && rawout_write(s->out, s->buf, s->used, err) < 0) {
		s->broken = true;
		return -1;
	}
	s->used = 0;
	return 0;
}

/* LZ4F never stops half-way: it needs its worst case free before a call. */
static int l4_wr_room(struct l4_wr *s, size_t need, struct rowd_error *err)
{
	return s->cap - s->used < need ? l4_wr_drain(s, err) : 0;
}

static int l4_wr_usable(struct l4_wr *s, struct rowd_error *err)
{
	if (s->broken)
		return rowd_error_set(err, ROWD_EIO, "lz4: stream broken by an earlier error");
	if (s->finished)
		return rowd_error_set(err, ROWD_EINVAL, "lz4: stream already finished");
	return 0;
}

static int l4_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct l4_wr *s = state;
	const unsigned char *p = buf;

	if (l4_wr_usable(s, err) < 0)
		return -1;
	while (n > 0) {
		size_t step = n < L4_WR_STEP ? n : L4_WR_STEP, rc;

		if (l4_wr_room(s, s->step_bound, err) < 0)
			return -1;
		rc = LZ4F_compressUpdate(s->cctx, s->buf + s->used, s->cap - s->used, p, step, NULL);
		if (LZ4F_isError(rc))
			return l4_wr_broken(s, err, "LZ4F_compressUpdate failed", rc);
		s->used += rc;
		p += step;
		n -= step;
	}
	return 0;
}

static int l4_wr_finish(void *state, struct rowd_error *err)
{
	struct l4_wr *s = state;
	size_t rc;

	if (l4_wr_usable(s, err) < 0)
		return -1;
	if (l4_wr_room(s, LZ4F_compressBound(0, &s->prefs), err) < 0)
		return -1;
	rc = LZ4F_compressEnd(s->cctx, s->buf + s->used, s->cap - s->used, NULL);
	if (LZ4F_isError(rc))
		return l4_wr_broken(s, err, "LZ4F_compressEnd failed", rc);
	s->used += rc;
	if (l4_wr_drain(s, err) < 0)
		return -1;
	s->finished = true;
	return 0;
}

/* After finish, or to abandon: the partial frame is simply dropped. */
static void l4_wr_close(void *state)
{
	struct l4_wr *s = state;

	if (!s)
		return;
	LZ4F_freeCompressionContext(s->cctx);
	free(s->buf);
	free(s);
}

/* Context, buffer and the frame header (into the buffer: nothing reaches
 * the file before the first drain). */
static int l4_encoder_start(struct l4_wr *s, int level, struct rowd_error *err)
{
	size_t rc;

	s->prefs.compressionLevel = level;
	s->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
	s->prefs.frameInfo.blockMode = LZ4F_blockLinked;
	s->prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	s->step_bound = LZ4F_compressBound(L4_WR_STEP, &s->prefs);
	s->cap = s->step_bound + LZ4F_HEADER_SIZE_MAX;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return rowd_error_set(err, ROWD_ENOMEM, "lz4: out of memory");
	rc = LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION);
	if (!LZ4F_isError(rc))
		rc = LZ4F_compressBegin(s->cctx, s->buf, s->cap, &s->prefs);
	if (LZ4F_isError(rc)) {
		l4_wr_broken(s, err, "cannot start a frame", rc);
		LZ4F_freeCompressionContext(s->cctx);   /* accepts NULL */
		free(s->buf);
		return -1;
	}
	s->used = rc;
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
	s->out = out;
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
