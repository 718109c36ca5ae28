/* Buffered output for format writers: bytes before the codec.
 *
 * Writers append to out->buf (an mpbuf used as a plain byte buffer) and
 * call output_flush_if_full() once per row; output_finish() drains, ends
 * the codec stream and leaves the fd ready for fsync.
 */
#ifndef ROWD_OUTPUT_H
#define ROWD_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "mpbuf.h"

#define OUTPUT_CHUNK (256 * 1024)

struct output {
	const struct codec_ops *codec;
	void *codec_state;
	struct rawout raw;
	struct mpbuf buf;
	uint64_t bytes_in;       /* uncompressed bytes written */
};

int output_open(struct output *out, int fd, const struct codec_ops *codec,
                const msgpack_object *codec_options, struct rowd_error *err);
/* The same for a file called name (its last component; the codec may
 * record it: zip's member is named after it). name must outlive out. */
int output_open_named(struct output *out, int fd, const char *name,
                      const struct codec_ops *codec, const msgpack_object *codec_options,
                      struct rowd_error *err);
int output_flush(struct output *out, struct rowd_error *err);
static inline int output_flush_if_full(struct output *out, struct rowd_error *err)
{
	return out->buf.len >= OUTPUT_CHUNK ? output_flush(out, err) : 0;
}
/* Flushes and writes the codec trailer. */
int output_finish(struct output *out, struct rowd_error *err);
void output_close(struct output *out);

#endif
