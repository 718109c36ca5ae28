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
 * Writing is BrotliEncoderCompressStream at quality `level` 0..11
 * (default 6: about gzip -9's ratio at several times its speed; 11, the
 * library's and brotli(1)'s default, is slow: ~1 MB/s).
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

/* Compressed bytes read per rawin_read, and compressed output per write. */
#define BR_IN_CHUNK  (256 * 1024)
#define BR_OUT_CHUNK (256 * 1024)

#define BR_LEVEL_MIN     BROTLI_MIN_QUALITY
#define BR_LEVEL_MAX     BROTLI_MAX_QUALITY
#define BR_LEVEL_DEFAULT 6

/* ---- reader ------------------------------------------------------------ */

enum br_phase {
	BR_HEAD,     /* before the stream: its first byte or the end */
	BR_BODY,     /* inside the stream */
	BR_END,
	BR_FAILED,   /* corrupt data seen: every later read fails too */
};

struct br_rd {
	struct rawin *in;
	BrotliDecoderState *dec;
	enum br_phase phase;
	bool seen_stream;
	bool raw_eof;        /* rawin_read returned 0 */
	/* Compressed window: buf[start..end) is read but not yet consumed. */
	size_t start, end;
	unsigned char buf[BR_IN_CHUNK];
};

static size_t br_avail(const struct br_rd *s)
{
	return s->end - s->start;
}

/* The compressed offset of buf[start]: where decoding stands. */
static int64_t br_offset(const struct br_rd *s)
{
	return (int64_t)(s->in->pos - br_avail(s));
}

static int br_fail(struct br_rd *s, struct rowd_error *err, const char *what)
{
	rowd_error_set(err, ROWD_ECODEC, "brotli: %s", what);
	err->offset = br_offset(s);
	return -1;
}

/* Reads the next chunk into the (empty) window; raw_eof at end of file. */
static int br_refill(struct br_rd *s, struct rowd_error *err)
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

/* Before the stream: the file is empty, or the stream starts. After it,
 * any byte is trailing garbage. */
static int br_head(struct br_rd *s, struct rowd_error *err)
{
	if (br_avail(s) == 0 && !s->raw_eof && br_refill(s, err) < 0)
		return -1;
	if (br_avail(s) == 0) {
		s->phase = BR_END;
		return 0;
	}
	if (s->seen_stream)
		return br_fail(s, err, "trailing garbage after the end of the stream");
	s->seen_stream = true;
	s->phase = BR_BODY;
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
	return br_fail(s, err, what);
}

enum br_step { BR_STEP_MORE = 0, BR_STEP_STREAM_END = 1 };

/* Decodes buf[start..end) into out; *produced is set even on error. */
static int br_step(struct br_rd *s, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	size_t avail_in = br_avail(s), avail_out = n;
	const uint8_t *next_in = s->buf + s->start;
	uint8_t *next_out = out;
	BrotliDecoderResult rc;

	rc = BrotliDecoderDecompressStream(s->dec, &avail_in, &next_in, &avail_out, &next_out,
	                                   NULL);
	s->start = (size_t)(next_in - s->buf);
	*produced = n - avail_out;
	switch (rc) {
	case BROTLI_DECODER_RESULT_SUCCESS:
		return BR_STEP_STREAM_END;
	case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
	case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
		return BR_STEP_MORE;
	case BROTLI_DECODER_RESULT_ERROR:
	default:
		return br_decoder_error(s, err);
	}
}

/* Decodes until some output, the end of the stream, or an error.
 * Returns the bytes produced (0 only at the end), -1 on error. */
static ssize_t br_body(struct br_rd *s, unsigned char *out, size_t n, struct rowd_error *err)
{
	for (;;) {
		size_t before, produced = 0;
		int rc;

		if (br_avail(s) == 0 && !s->raw_eof && br_refill(s, err) < 0)
			return -1;
		before = br_avail(s);
		rc = br_step(s, out, n, &produced, err);
		if (rc < 0)
			return -1;
		if (rc == BR_STEP_STREAM_END) {
			s->phase = BR_HEAD;
			return (ssize_t)produced;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (br_avail(s) < before)
			continue;
		/* No progress: the stream needs bytes the file does not have. */
		if (s->raw_eof)
			return br_fail(s, err, "truncated stream");
		/* Input and room both offered, nothing moved: never loop on it. */
		return br_fail(s, err, "corrupt data: decoder made no progress");
	}
}

static ssize_t br_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct br_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	for (;;) {
		ssize_t r = 0;

		switch (s->phase) {
		case BR_HEAD:
			r = br_head(s, err);
			break;
		case BR_BODY:
			r = br_body(s, buf, n, err);
			if (r > 0)
				return r;
			break;
		case BR_END:
			return 0;
		case BR_FAILED:
			return br_fail(s, err, "stream broken by an earlier error");
		}
		if (r < 0) {
			/* A failed read (EIO) consumed nothing and may be retried;
			 * the decoder's state after bad data is undefined. */
			if (err->code != ROWD_EIO)
				s->phase = BR_FAILED;
			return -1;
		}
	}
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
	memset(s, 0, offsetof(struct br_rd, buf));
	s->in = in;
	s->phase = BR_HEAD;
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
	struct rawout *out;
	BrotliEncoderState *enc;
	bool broken;     /* an error left the encoder and the file out of step */
	bool finished;
	size_t used;     /* compressed bytes waiting in buf */
	unsigned char buf[BR_OUT_CHUNK];
};

static int br_wr_broken(struct br_wr *s, struct rowd_error *err, const char *what)
{
	s->broken = true;
	/* The encoder's only runtime failure is an allocation. */
	return rowd_error_set(err, ROWD_ENOMEM, "brotli: %s", what);
}

/* Writes the compressed bytes buffered so far. */
static int br_wr_drain(struct br_wr *s, struct rowd_error *err)
{
	if (s->used > 0 && rawout_write(s->out, s->buf, s->used, err) < 0) {
		s->broken = true;
		return -1;
	}
	s->used = 0;
	return 0;
}

/* Done when the input is taken and nothing waits inside the encoder;
 * with finish, when the last meta-block is out. */
static bool br_wr_done(struct br_wr *s, size_t avail_in, bool finish)
{
	if (finish)
		return BrotliEncoderIsFinished(s->enc);
	return avail_in == 0 && !BrotliEncoderHasMoreOutput(s->enc);
}

/* Compresses all of p[0..n) into buf (draining it when full); with
 * finish, also ends the stream. */
static int br_wr_run(struct br_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	const uint8_t *next_in = p;
	size_t avail_in = n;

	for (;;) {
		size_t in_before = avail_in, out_before = s->used;
		size_t avail_out = sizeof s->buf - s->used;
		uint8_t *next_out = s->buf + s->used;

		if (!BrotliEncoderCompressStream(s->enc, finish ? BROTLI_OPERATION_FINISH
		                                                : BROTLI_OPERATION_PROCESS,
		                                 &avail_in, &next_in, &avail_out, &next_out, NULL))
			return br_wr_broken(s, err, "encoder failed (out of memory)");
		s->used = sizeof s->buf - avail_out;
		if (br_wr_done(s, avail_in, finish))
			return 0;
		if (s->used == sizeof s->buf) {
			if (br_wr_drain(s, err) < 0)
				return -1;
		} else if (avail_in == in_before && s->used == out_before) {
			s->broken = true;
			return rowd_error_set(err, ROWD_EIO, "brotli: encoder made no progress");
		}
	}
}

static int br_wr_usable(struct br_wr *s, struct rowd_error *err)
{
	if (s->broken)
		return rowd_error_set(err, ROWD_EIO, "brotli: stream broken by an earlier error");
	if (s->finished)
		return rowd_error_set(err, ROWD_EINVAL, "brotli: stream already finished");
	return 0;
}

static int br_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct br_wr *s = state;

	if (br_wr_usable(s, err) < 0)
		return -1;
	return n == 0 ? 0 : br_wr_run(s, buf, n, false, err);
}

static int br_wr_finish(void *state, struct rowd_error *err)
{
	struct br_wr *s = state;

	if (br_wr_usable(s, err) < 0)
		return -1;
	if (br_wr_run(s, NULL, 0, true, err) < 0 || br_wr_drain(s, err) < 0)
		return -1;
	s->finished = true;
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
	s->out = out;
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
