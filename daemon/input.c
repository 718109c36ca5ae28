/* Buffered decoded input (see input.h). */
#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "input.h"

#define INPUT_CHUNK (256 * 1024)

int input_open(struct input *in, int fd, const struct codec_ops *codec,
               const msgpack_object *codec_options, size_t max_buf,
               struct rowd_error *err)
{
	struct stat st;

	memset(in, 0, sizeof *in);
	in->codec = codec;
	in->codec_options = codec_options;
	in->raw.fd = fd;
	in->raw.pos = 0;
	if (fstat(fd, &st) == 0)
		in->raw.size = (uint64_t)st.st_size;
	in->max_buf = max_buf + INPUT_CHUNK;
	return codec->rd_open(&in->raw, codec_options, &in->codec_state, err);
}

/* Makes room for at least one chunk after end: compacts, then grows. */
static int input_make_room(struct input *in, struct rowd_error *err)
{
	size_t avail = in->end - in->start;
	size_t cap;
	char *p;

	if (in->start > 0 && (in->cap - in->end < INPUT_CHUNK)) {
		memmove(in->buf, in->buf + in->start, avail);
		in->start = 0;
		in->end = avail;
	}
	if (in->cap - in->end >= INPUT_CHUNK / 2)
		return 0;
	if (in->cap >= in->max_buf)
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "record exceeds the row_bytes limit (%zu)",
		                      in->max_buf - INPUT_CHUNK);
	cap = in->cap ? in->cap * 2 : INPUT_CHUNK;
	if (cap > in->max_buf)
		cap = in->max_buf;
	p = realloc(in->buf, cap);
	if (!p)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the input buffer");
	in->buf = p;
	in->cap = cap;
	return 0;
}

ssize_t input_fill(struct input *in, struct rowd_error *err)
{
	ssize_t r;

	if (in->eof)
		return 0;
	if (input_make_room(in, err) < 0)
		return -1;
	if (in->tc)
		r = transcode_read(in, in->buf + in->end, in->cap - in->end, err);
	else
		r = in->codec->rd_read(in->codec_state, in->buf + in->end, in->cap - in->end, err);
	if (r < 0)
		return -1;
	if (r == 0)
		in->eof = true;
	in->end += (size_t)r;
	return r;
}

int input_rewind(struct input *in, struct rowd_error *err)
{
	in->codec->rd_close(in->codec_state);
	in->codec_state = NULL;
	in->raw.pos = 0;
	in->start = in->end = 0;
	in->eof = false;
	in->consumed = 0;
	if (in->tc)
		transcode_rewind(in->tc);
	return in->codec->rd_open(&in->raw, in->codec_options, &in->codec_state, err);
}

void input_close(struct input *in)
{
	if (in->codec && in->codec_state)
		in->codec->rd_close(in->codec_state);
	in->codec_state = NULL;
	transcode_free(in->tc);
	in->tc = NULL;
	free(in->buf);
	in->buf = NULL;
	in->cap = in->start = in->end = 0;
}
