/* Buffered output into a codec (see output.h). */
#include "config.h"

#include <string.h>

#include "output.h"

int output_open(struct output *out, int fd, const struct codec_ops *codec,
                const msgpack_object *codec_options, struct rowd_error *err)
{
	return output_open_named(out, fd, NULL, codec, codec_options, err);
}

int output_open_named(struct output *out, int fd, const char *name,
                      const struct codec_ops *codec, const msgpack_object *codec_options,
                      struct rowd_error *err)
{
	memset(out, 0, sizeof *out);
	out->codec = codec;
	out->raw.fd = fd;
	out->raw.name = name;
	mpbuf_init(&out->buf);
	if (!codec->wr_open)
		return rowd_error_set(err, ROWD_ENOTSUP, "codec %s cannot write", codec->name);
	if (mpbuf_reserve(&out->buf, OUTPUT_CHUNK + 4096) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the output buffer");
	return codec->wr_open(&out->raw, codec_options, &out->codec_state, err);
}

int output_flush(struct output *out, struct rowd_error *err)
{
	if (out->buf.len == 0)
		return 0;
	if (out->codec->wr_write(out->codec_state, out->buf.data, out->buf.len, err) < 0)
		return -1;
	out->bytes_in += out->buf.len;
	out->buf.len = 0;
	return 0;
}

int output_finish(struct output *out, struct rowd_error *err)
{
	if (output_flush(out, err) < 0)
		return -1;
	return out->codec->wr_finish(out->codec_state, err);
}

void output_close(struct output *out)
{
	if (out->codec && out->codec_state)
		out->codec->wr_close(out->codec_state);
	out->codec_state = NULL;
	mpbuf_free(&out->buf);
}
