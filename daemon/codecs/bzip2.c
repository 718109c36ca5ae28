/* The bzip2 codec (libbz2).
 *
 * Reading decodes stream after stream, so concatenated files (`cat a.bz2
 * b.bz2`, pbzip2 and lbzip2 output, which are many small streams) read
 * fully; libbz2 checks every block's CRC and each stream's combined CRC.
 * Writing compresses with a block size of `level` x 100 kB, 1..9 (default
 * 9, as bzip2(1)); one stream per file.
 *
 * Edges, stricter than bzip2(1) where it only warns, because a row stream
 * must never end early without saying so:
 *  - a 0-byte file is an empty stream: no data, no error;
 *  - a non-empty file that does not start with "BZh1".."BZh9": ECODEC
 *    "not in bzip2 format";
 *  - end of file inside a stream: ECODEC "truncated stream";
 *  - a bad block or CRC: ECODEC "corrupt data: ...";
 *  - bytes after the last stream that do not start another one: ECODEC
 *    "trailing garbage after the last stream" (bzip2 warns and succeeds).
 * Errors carry offset = the compressed byte position where decoding
 * stopped (the raw read position minus the bytes not yet consumed; libbz2
 * consumes whole input buffers, so within a block this is approximate).
 */
#include "config.h"

#include <bzlib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "stream.h"

/* libbz2 counts buffer sizes in unsigned int. */
#define BZ_MAX_STEP  ((size_t)1 << 30)

#define BZ_LEVEL_MIN     1
#define BZ_LEVEL_MAX     9
#define BZ_LEVEL_DEFAULT 9

/* ---- reader ------------------------------------------------------------ */

struct bz_rd {
	bz_stream bz;
	bool bz_live;        /* bz holds an initialised decoder */
	unsigned streams;    /* streams begun so far */
	struct cstream_in win;   /* last: its buffer is not cleared */
};

static int bz_fail(struct bz_rd *s, struct rowd_error *err, const char *what)
{
	return cstream_fail(&s->win, err, "bzip2", "%s", what);
}

/* A fresh decoder for each stream: libbz2 cannot be reset in place. */
static int bz_decoder_start(struct bz_rd *s, struct rowd_error *err)
{
	int rc;

	if (s->bz_live) {
		BZ2_bzDecompressEnd(&s->bz);   /* BZ_OK on a live stream */
		s->bz_live = false;
	}
	memset(&s->bz, 0, sizeof s->bz);
	/* small = 0: the fast decoder (up to 3.6 MB at 900k blocks). */
	rc = BZ2_bzDecompressInit(&s->bz, 0, 0);
	if (rc == BZ_MEM_ERROR)
		return rowd_error_set(err, ROWD_ENOMEM, "bzip2: out of memory");
	if (rc != BZ_OK)
		return rowd_error_set(err, ROWD_ECODEC, "bzip2: BZ2_bzDecompressInit failed (%d)", rc);
	s->bz_live = true;
	return 0;
}

/* Between streams, with a byte to come: it must start another stream
 * (the decoder then checks the rest of its magic). */
static int bz_head(void *state, struct rowd_error *err)
{
	struct bz_rd *s = state;

	/* The decoder would say so too, but one byte later: name the offset
	 * of the first foreign byte. */
	if (s->win.buf[s->win.start] != 'B')
		return bz_fail(s, err, s->streams > 0 ? "trailing garbage after the last stream"
		                                      : "not in bzip2 format");
	if (s->streams > 0 && bz_decoder_start(s, err) < 0)
		return -1;
	s->streams++;
	return 0;
}

/* Decodes buf[start..end) into out; *produced is set even on error. */
static int bz_step(void *state, unsigned char *out, size_t n, size_t *produced,
                   struct rowd_error *err)
{
	struct bz_rd *s = state;
	size_t avail = cstream_in_avail(&s->win);
	int rc;

	/* libbz2 reads next_in through a non-const pointer but never writes. */
	s->bz.next_in = (char *)(s->win.buf + s->win.start);
	s->bz.avail_in = (unsigned)avail;
	s->bz.next_out = (char *)out;
	s->bz.avail_out = (unsigned)n;
	rc = BZ2_bzDecompress(&s->bz);
	s->win.start += avail - s->bz.avail_in;
	*produced = n - s->bz.avail_out;
	switch (rc) {
	case BZ_OK:
		return CSTREAM_STEP_MORE;
	case BZ_STREAM_END:
		return CSTREAM_STEP_END;
	case BZ_MEM_ERROR:
		return rowd_error_set(err, ROWD_ENOMEM, "bzip2: out of memory");
	case BZ_DATA_ERROR_MAGIC:
		/* Checked byte by byte: start is just past the bad one. */
		return bz_fail(s, err, s->streams > 1 ? "trailing garbage after the last stream"
		                                      : "not in bzip2 format");
	case BZ_DATA_ERROR:
		return bz_fail(s, err, "corrupt data: bad block or CRC mismatch");
	default:
		return cstream_fail(&s->win, err, "bzip2", "corrupt data: libbz2 error %d", rc);
	}
}

static const struct cstream_decoder bz_decoder = { .head = bz_head, .step = bz_step };

static ssize_t bz_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct bz_rd *s = state;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	if (n > BZ_MAX_STEP)
		n = BZ_MAX_STEP;
	return cstream_read(&s->win, &bz_decoder, s, "bzip2", buf, n, err);
}

static void bz_rd_close(void *state)
{
	struct bz_rd *s = state;

	if (!s)
		return;
	if (s->bz_live)
		BZ2_bzDecompressEnd(&s->bz);   /* fails only on a stream it does not know */
	free(s);
}

static int bz_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct bz_rd *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	/* Not calloc: the window needs no clearing. */
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "bzip2: out of memory");
	memset(s, 0, offsetof(struct bz_rd, win));
	cstream_in_init(&s->win, in);
	if (bz_decoder_start(s, err) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

struct bz_wr {
	bz_stream bz;
	struct cstream_out w;
	unsigned char buf[CSTREAM_CHUNK];
};

static int bz_wr_broken(struct bz_wr *s, struct rowd_error *err, const char *what, int rc)
{
	s->w.broken = true;
	return rowd_error_set(err, ROWD_EIO, "bzip2: %s (%d)", what, rc);
}

/* Compresses all of p[0..n) into buf (flushing it when full); with
 * finish, also ends the stream. */
static int bz_wr_run(struct bz_wr *s, const unsigned char *p, size_t n, bool finish,
                     struct rowd_error *err)
{
	s->bz.next_in = (char *)(uintptr_t)p;
	s->bz.avail_in = (unsigned)n;
	for (;;) {
		unsigned in_before = s->bz.avail_in;
		size_t out_before = s->w.used;
		int rc;

		s->bz.next_out = (char *)(s->w.buf + s->w.used);
		s->bz.avail_out = (unsigned)(s->w.cap - s->w.used);
		rc = BZ2_bzCompress(&s->bz, finish ? BZ_FINISH : BZ_RUN);
		s->w.used = s->w.cap - s->bz.avail_out;
		if (rc != (finish ? BZ_FINISH_OK : BZ_RUN_OK) && rc != BZ_STREAM_END)
			return bz_wr_broken(s, err, "BZ2_bzCompress failed", rc);
		if (finish ? rc == BZ_STREAM_END : s->bz.avail_in == 0)
			return 0;
		if (s->w.used == s->w.cap) {
			if (cstream_out_flush(&s->w, err) < 0)
				return -1;
		} else if (s->bz.avail_in == in_before && s->w.used == out_before) {
			return bz_wr_broken(s, err, "BZ2_bzCompress made no progress", rc);
		}
	}
}

static int bz_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct bz_wr *s = state;
	const unsigned char *p = buf;

	if (cstream_out_usable(&s->w, "bzip2", err) < 0)
		return -1;
	while (n > 0) {
		size_t step = n < BZ_MAX_STEP ? n : BZ_MAX_STEP;

		if (bz_wr_run(s, p, step, false, err) < 0)
			return -1;
		p += step;
		n -= step;
	}
	return 0;
}

static int bz_wr_finish(void *state, struct rowd_error *err)
{
	struct bz_wr *s = state;

	if (cstream_out_usable(&s->w, "bzip2", err) < 0)
		return -1;
	if (bz_wr_run(s, NULL, 0, true, err) < 0 || cstream_out_flush(&s->w, err) < 0)
		return -1;
	s->w.finished = true;
	return 0;
}

/* After finish, or to abandon: the partial stream is simply dropped. */
static void bz_wr_close(void *state)
{
	struct bz_wr *s = state;

	if (!s)
		return;
	BZ2_bzCompressEnd(&s->bz);   /* fails only on a stream it does not know */
	free(s);
}

static int bz_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	struct bz_wr *s;
	int level, rc;

	if (codec_options_level(copts, BZ_LEVEL_MIN, BZ_LEVEL_MAX, BZ_LEVEL_DEFAULT,
	                        &level, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "bzip2: out of memory");
	memset(s, 0, offsetof(struct bz_wr, buf));
	cstream_out_init(&s->w, out, s->buf, sizeof s->buf);
	/* workFactor 0: libbz2's default (30), as bzip2(1). */
	rc = BZ2_bzCompressInit(&s->bz, level, 0, 0);
	if (rc != BZ_OK) {
		free(s);
		if (rc == BZ_MEM_ERROR)
			return rowd_error_set(err, ROWD_ENOMEM, "bzip2: out of memory");
		return rowd_error_set(err, ROWD_EIO, "bzip2: BZ2_bzCompressInit failed (%d)", rc);
	}
	*state = s;
	return 0;
}

/* ---- the codec --------------------------------------------------------- */

/* "BZh" and a block size digit, then (when the head is long enough) the
 * 48-bit magic of the first block (pi) or of the end of an empty stream
 * (sqrt(pi)): a text file that merely starts with "BZh1" is not taken. */
static bool bz_magic(const unsigned char *head, size_t n)
{
	static const unsigned char block[6] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const unsigned char eos[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

	if (n < 4 || memcmp(head, "BZh", 3) != 0 || head[3] < '1' || head[3] > '9')
		return false;
	if (n < 10)
		return true;
	return memcmp(head + 4, block, 6) == 0 || memcmp(head + 4, eos, 6) == 0;
}

const struct codec_ops codec_bzip2 = {
	.name = "bzip2",
	.extensions = (const char *const[]){ "bz2", NULL },
	.magic = bz_magic,
	.rd_open = bz_rd_open,
	.rd_read = bz_rd_read,
	.rd_close = bz_rd_close,
	.wr_open = bz_wr_open,
	.wr_write = bz_wr_write,
	.wr_finish = bz_wr_finish,
	.wr_close = bz_wr_close,
};
