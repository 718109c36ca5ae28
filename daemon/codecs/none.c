/* The identity codec: plain files. */
#include "config.h"

#include <stdlib.h>

#include "codec.h"

struct none_rd { struct rawin *in; };
struct none_wr { struct rawout *out; };

static int none_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                        struct rowd_error *err)
{
	struct none_rd *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	s->in = in;
	*state = s;
	return 0;
}

static ssize_t none_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct none_rd *s = state;

	return rawin_read(s->in, buf, n, err);
}

static int none_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                        struct rowd_error *err)
{
	struct none_wr *s;

	if (codec_options_level(copts, 0, 0, 0, NULL, err) < 0)
		return -1;
	s = malloc(sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	s->out = out;
	*state = s;
	return 0;
}

static int none_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	struct none_wr *s = state;

	return rawout_write(s->out, buf, n, err);
}

static int none_wr_finish(void *state, struct rowd_error *err)
{
	return 0;
}

const struct codec_ops codec_none = {
	.name = "none",
	.extensions = (const char *const[]){ NULL },
	.magic = NULL,
	.rd_open = none_rd_open,
	.rd_read = none_rd_read,
	.rd_close = free,
	.wr_open = none_wr_open,
	.wr_write = none_wr_write,
	.wr_finish = none_wr_finish,
	.wr_close = free,
};
