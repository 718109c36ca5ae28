/* The brotli codec (libbrotlidec, libbrotlienc).
 *
 * A brotli stream (RFC 7932) has no magic number, no checksum and no
 * framing for concatenation, so:
 *  - it is detected by the .br extension (or codec "brotli") only;
 *  - damage is caught only where it breaks the stream's structure: a
 *    flipped byte can decode to wrong data without an error (there is no
 *    check value to compare against);
 *  - bytes after the end of the stream, another brotli stream included,
 *    are ECODEC "trailing garbage", as brotli(1) answers "corrupt input".
 * Reading is BrotliDecoderDecompressStream (regular 16 MiB windows at
 * most; the large-window extension is not enabled, so its streams fail).
 * Writing is BrotliEncoderCompressStream at quality `level` 0..11.
 * The default is 6, not the library's and brotli(1)'s 11: on our 81 MB
 * benchmark CSV, 6 writes 16 MB/s and a file 11% smaller than gzip -6's;
 * 11 runs at about 0.5 MB/s, too slow for a write path.
 *
 * Edges, because a row stream must never end early without saying so:
 *  - a 0-byte file is an empty stream: no data, no error (a brotli
 *    encoder never writes one: its empty stream is 1 byte);
 *  - end of file inside the stream: ECODEC "truncated stream";
 *  - a stream the decoder rejects: ECODEC "corrupt data: <reason>".
 * Errors carry offset = the compressed byte position where decoding
 * stopped (the raw read position minus the bytes not yet consumed).
 */
#include "config.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "stream.h"

#define BR_LEVEL_MIN     BROTLI_MIN_QUALITY
#define BR_LEVEL_MAX     BROTLI_MAX_QUALITY
#define BR_LEVEL_DEFAULT 6

/* ---- reader ------------------------------------------------------------ */

struct br_rd {
	BrotliDecoderState *dec;
	bool seen_stream;
	struct cstream_in win;   /* last: its buffer is not cleared */
};

/* A byte follows: before the stream, the stream starts. After it, any
 * byte is trailing garbage. */
static int br_head(void *state, struct rowd_error *err)
{
	struct br_rd *s = state;

	if (s->seen_stream)
		return cstream_fail(&s->win, err, "brotli",
		                    "trailing garbage after the end of the stream");
	s->seen_stream = true;
	return 0;
}

static int br_decoder_error(struct br_rd *s, struct rowd_error *err)
{
	BrotliDecoderErrorCode code = BrotliDecoderGetErrorCode(s->dec);
	char what[96];

	/* The _ERROR_ALLOC_ codes, -21..-30. */
	if (code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
	    code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES)
		return rowd_error_set(err, ROWD_ENOMEM, "brotli: out of memory");
	/* BrotliDecoderErrorString gives "_ERROR_FORMAT_PADDING_1" and the like. */
	snprintf(what, sizeof what, "corrupt data: %s (%d)", BrotliDecoderErrorString(code),
	         (int)code);
	return cstream_fail(&s->win, err, "brotli", "%s", what);
}

/* Decodes buf[start..end) into out; *produced is set even on error. */
static int br_step(void *state, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	struct br_rd *s = state;
	size_t avail_in = cstream_in_avail(&s->win), avail_out = n;
	const uint8_t *next_in = s->win.buf + s->win.start;
	uint8_t *next_out = out;
	BrotliDecoderResult rc;

	rc = BrotliDecoderDecompressStream(s->dec, &avail_in, &next_in, &avail_out, &next_out,
	                                   NULL);
	s->win.start = (size_t)(next_in - s->win.buf);
	*produced = n - avail_out;
	switch (rc) {
	case BROTLI_DECODER_RESULT_SUCCESS:
		return CSTREAM_STEP_END;
	case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
	case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
		return CSTREAM_STEP_MORE;
	case BROTLI_DECODER_RESULT_ERROR:
	default:
		return br_decoder_error(s, err);
	}
}

static const struct cstream_decoder br_decoder = { .head = br_head, .step = br_step };

static ssize_t br_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct br_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	return cstream_read(&s->win, &br_decoder, s, "brotli", buf, n, err);
}

static void br_rd_close(void *state)
{
	struct br_rd *s = state;

	if (!s)
		return;
	BrotliDecoderDestroyInstance(s->dec);
	free(s);
}

static int br_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct br_rd *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "brotli: out of memory");
	memset(s, 0, offsetof(struct br_rd, win));
	cstream_in_init(&s->win, in);
	s->dec = BrotliDecoderCreateInstance(NULL, NULL, NULL);
	if (!s->dec) {
		free(s);
		return rowd_error_set(err, ROWD_ENOMEM, "brotli: out of memory");
	}
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

struct br_wr {
	BrotliEncoderState *enc;
	struct cstream_out w;
	unsigned char buf[CSTREAM_CHUNK];
};

static int br_wr_broken(struct br_wr *s, struct rowd_error *err, const char *what)
{
	s->w.broken = true;
	/* The encoder's only runtime failure is an allocation. */
	return rowd_error_set(err, ROWD_ENOMEM, "brotli: %s", what);
}

/* Done when the input is taken and nothing waits inside the encoder;
 * with finish, when the last meta-block is out. */
static bool br_wr_done(struct br_wr *s, size_t avail_in, bool finish)
{
	if (finish)
		return BrotliEncoderIsFinished(s->enc);
	return avail_in == 0 && !BrotliEncoderHasMoreOutput(s->enc);
}

/* Compresses all of p[0..n) into buf (flushing it when full); with
 * finish, also ends the stream. */
static int br_wr_run(struct br_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	const uint8_t *next_in = p;
	size_t avail_in = n;

	for (;;) {
		size_t in_before = avail_in, out_before = s->w.used;
		size_t avail_out = s->w.cap - s->w.used;
		uint8_t *next_out = s->w.buf + s->w.used;

		if (!BrotliEncoderCompressStream(s->enc, finish ? BROTLI_OPERATION_FINISH
		                                                : BROTLI_OPERATION_PROCESS,
		                                 &avail_in, &next_in, &avail_out, &next_out, NULL))
			return br_wr_broken(s, err, "encoder failed (out of memory)");
		s->w.used = s->w.cap - avail_out;
		if (br_wr_done(s, avail_in, finish))
			return 0;
		if (s->w.used == s->w.cap) {
			if (cstream_out_flush(&s->w, err) < 0)
				return -1;
		} else if (avail_in == in_before && s->w.used == out_before) {
			s->w.broken = true;
			return rowd_error_set(err, ROWD_EIO, "brotli: encoder made no progress");
		}
	}
}

static int br_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct br_wr *s = state;

	if (cstream_out_usable(&s->w, "brotli", err) < 0)
		return -1;
	return n == 0 ? 0 : br_wr_run(s, buf, n, false, err);
}

static int br_wr_finish(void *state, struct rowd_error *err)
{
	struct br_wr *s = state;

	if (cstream_out_usable(&s->w, "brotli", err) < 0)
		return -1;
	if (br_wr_run(s, NULL, 0, true, err) < 0 || cstream_out_flush(&s->w, err) < 0)
		return -1;
	s->w.finished = true;
	return 0;
}

/* After finish, or to abandon: the partial stream is simply dropped. */
static void br_wr_close(void *state)
{
	struct br_wr *s = state;

	if (!s)
		return;
	BrotliEncoderDestroyInstance(s->enc);
	free(s);
}

static int br_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct br_wr *s;
	int level;

	if (codec_options_level(copts, BR_LEVEL_MIN, BR_LEVEL_MAX, BR_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "brotli: out of memory");
	memset(s, 0, offsetof(struct br_wr, buf));
	cstream_out_init(&s->w, out, s->buf, sizeof s->buf);
	s->enc = BrotliEncoderCreateInstance(NULL, NULL, NULL);
	if (!s->enc) {
		free(s);
		return rowd_error_set(err, ROWD_ENOMEM, "brotli: out of memory");
	}
	/* The window stays at the default (BROTLI_DEFAULT_WINDOW, 4 MiB). */
	if (!BrotliEncoderSetParameter(s->enc, BROTLI_PARAM_QUALITY, (uint32_t)level)) {
		BrotliEncoderDestroyInstance(s->enc);
		free(s);
		return rowd_error_set(err, ROWD_EIO, "brotli: cannot set quality %d", level);
	}
	*state = s;
	return 0;
}

/* ---- the codec --------------------------------------------------------- */

/* No magic: see the top. */
const struct codec_ops codec_brotli = {
	.name = "brotli",
	.extensions = (const char *const[]){ "br", NULL },
	.magic = NULL,
	.rd_open = br_rd_open,
	.rd_read = br_rd_read,
	.rd_close = br_rd_close,
	.wr_open = br_wr_open,
	.wr_write = br_wr_write,
	.wr_finish = br_wr_finish,
	.wr_close = br_wr_close,
};
