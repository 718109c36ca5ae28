/* Scaffolding shared by the streaming codecs (bzip2, xz/lzma, zstd, lz4,
 * brotli): the compressed input window with its sticky reader phases, and
 * the compressed output buffer with the writer's broken/finished flags.
 *
 * Each codec keeps what is its library's own: the decode step (what one
 * call consumes and produces, how a frame or stream ends), what may stand
 * between streams, and the mapping of library errors to rowd errors.
 */
#ifndef ROWD_CODECS_STREAM_H
#define ROWD_CODECS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"

/* Compressed bytes read per rawin_read, and compressed output per write. */
#define CSTREAM_CHUNK (256 * 1024)

/* ---- reader ------------------------------------------------------------ */

enum cstream_phase {
	CSTREAM_HEAD,     /* between streams (or frames): another one or the end */
	CSTREAM_BODY,     /* inside one, from its first byte */
	CSTREAM_END,
	CSTREAM_FAILED,   /* corrupt data seen: every later read fails too */
};

/* The compressed window: buf[start..end) is read but not yet consumed.
 * Keep it last in a codec's state: buf need not be cleared, so a state is
 * malloc'ed and zeroed up to offsetof(..., <member>.buf). */
struct cstream_in {
	struct rawin *in;
	enum cstream_phase phase;
	bool raw_eof;        /* rawin_read returned 0 */
	size_t start, end;
	unsigned char buf[CSTREAM_CHUNK];
};

/* What a codec's decode step returns when it does not fail. */
enum cstream_step { CSTREAM_STEP_MORE = 0, CSTREAM_STEP_END = 1 };

struct cstream_decoder {
	/* Called in CSTREAM_HEAD when at least one byte follows: 0 starts the
	 * body there, -1 fails. NULL: a body starts whenever a byte follows
	 * (the library checks its magic). */
	int (*head)(void *state, struct rowd_error *err);
	/* Decodes from buf[start..end) into out, advancing start; sets
	 * *produced even on error. Returns a cstream_step or -1. */
	int (*step)(void *state, unsigned char *out, size_t n, size_t *produced,
	            struct rowd_error *err);
};

/* Zeroes everything but buf; phase CSTREAM_HEAD. */
void cstream_in_init(struct cstream_in *w, struct rawin *in);
size_t cstream_in_avail(const struct cstream_in *w);
/* The compressed offset of buf[start]: where decoding stands. */
int64_t cstream_in_offset(const struct cstream_in *w);
/* Reads the next chunk into the (empty) window; raw_eof at end of file. */
int cstream_in_refill(struct cstream_in *w, struct rowd_error *err);
/* Refills when the window is empty and the file is not at its end. */
int cstream_in_fill(struct cstream_in *w, struct rowd_error *err);

/* ECODEC "<codec>: <message>" at the window's offset; returns -1. */
int cstream_fail(const struct cstream_in *w, struct rowd_error *err, const char *codec,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The rd_read loop: heads and bodies until some output, the end, or an
 * error. n > 0; a failure other than EIO makes the stream fail for good. */
ssize_t cstream_read(struct cstream_in *w, const struct cstream_decoder *dec, void *state,
                     const char *codec, unsigned char *out, size_t n, struct rowd_error *err);

/* ---- writer ------------------------------------------------------------ */

/* Compressed bytes wait in buf[0..used) (cap bytes, owned by the codec)
 * until cstream_out_flush writes them. */
struct cstream_out {
	struct rawout *out;
	bool broken;     /* an error left the encoder and the file out of step */
	bool finished;
	size_t used, cap;
	unsigned char *buf;
};

void cstream_out_init(struct cstream_out *o, struct rawout *out, unsigned char *buf,
                      size_t cap);
/* Writes the compressed bytes buffered so far; broken on failure. */
int cstream_out_flush(struct cstream_out *o, struct rowd_error *err);
/* EIO when broken, EINVAL when finished; else 0. */
int cstream_out_usable(const struct cstream_out *o, const char *codec, struct rowd_error *err);

#endif
