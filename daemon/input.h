/* Buffered, decoded input for format readers: the bytes after the codec.
 *
 * A reader scans in->buf[in->start .. in->end). When a record does not end
 * inside that window and !in->eof, it calls input_fill(), which moves the
 * unread bytes to the front and reads more (growing the buffer up to
 * max_buf, past which a record is too large: ELIMIT).
 */
#ifndef ROWD_INPUT_H
#define ROWD_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "transcode.h"

struct input {
	const struct codec_ops *codec;
	void *codec_state;
	struct rawin raw;
	const msgpack_object *codec_options;

	char *buf;
	size_t start, end, cap;
	size_t max_buf;          /* largest window: row_bytes limit + chunk */
	bool eof;                /* codec reported end of stream */
	uint64_t consumed;       /* decoded bytes before buf[start] */
	struct transcode *tc;    /* non-NULL: the text is converted to UTF-8 */
};

/* Opens the codec over fd (position 0). */
int input_open(struct input *in, int fd, const struct codec_ops *codec,
               const msgpack_object *codec_options, size_t max_buf,
               struct rowd_error *err);
/* Reads more decoded bytes. Returns the number added, 0 at end of stream
 * (in->eof set), -1 on error (ECODEC/EIO, or ELIMIT when the window is
 * already max_buf and nothing was consumed). */
ssize_t input_fill(struct input *in, struct rowd_error *err);
/* Marks n bytes at buf[start] consumed. */
static inline void input_consume(struct input *in, size_t n)
{
	in->start += n;
	in->consumed += n;
}
static inline size_t input_avail(const struct input *in) { return in->end - in->start; }
static inline const char *input_ptr(const struct input *in) { return in->buf + in->start; }
/* Back to the first byte (codec reopened at file position 0). */
int input_rewind(struct input *in, struct rowd_error *err);
void input_close(struct input *in);

#endif
