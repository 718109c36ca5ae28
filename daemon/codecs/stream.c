/* Scaffolding shared by the streaming codecs: see stream.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stream.h"

/* ---- reader ------------------------------------------------------------ */

void cstream_in_init(struct cstream_in *w, struct rawin *in)
{
	memset(w, 0, offsetof(struct cstream_in, buf));
	w->in = in;
	w->phase = CSTREAM_HEAD;
}

size_t cstream_in_avail(const struct cstream_in *w)
{
	return w->end - w->start;
}

int64_t cstream_in_offset(const struct cstream_in *w)
{
	return (int64_t)(w->in->pos - cstream_in_avail(w));
}

int cstream_in_refill(struct cstream_in *w, struct rowd_error *err)
{
	ssize_t r = rawin_read(w->in, w->buf, sizeof w->buf, err);

	if (r < 0)
		return -1;
	w->start = 0;
	w->end = (size_t)r;
	if (r == 0)
		w->raw_eof = true;
	return 0;
}

int cstream_in_fill(struct cstream_in *w, struct rowd_error *err)
{
	if (cstream_in_avail(w) == 0 && !w->raw_eof)
		return cstream_in_refill(w, err);
	return 0;
}

int cstream_fail(const struct cstream_in *w, struct rowd_error *err, const char *codec,
                 const char *fmt, ...)
{
	char what[ROWD_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	rowd_error_set(err, ROWD_ECODEC, "%s: %s", codec, what);
	err->offset = cstream_in_offset(w);
	return -1;
}

/* Between streams: the end if no byte follows, else the codec's say. */
static int cstream_head(struct cstream_in *w, const struct cstream_decoder *dec, void *state,
                        struct rowd_error *err)
{
	if (cstream_in_fill(w, err) < 0)
		return -1;
	if (cstream_in_avail(w) == 0) {
		w->phase = CSTREAM_END;
		return 0;
	}
	if (dec->head && dec->head(state, err) < 0)
		return -1;
	w->phase = CSTREAM_BODY;
	return 0;
}

/* Decodes until some output, the end of the stream, or an error.
 * Returns the bytes produced (0 only at a stream end), -1 on error. */
static ssize_t cstream_body(struct cstream_in *w, const struct cstream_decoder *dec,
                            void *state, const char *codec, unsigned char *out, size_t n,
                            struct rowd_error *err)
{
	for (;;) {
		size_t before, produced = 0;
		int rc;

		if (cstream_in_fill(w, err) < 0)
			return -1;
		before = cstream_in_avail(w);
		rc = dec->step(state, out, n, &produced, err);
		if (rc < 0)
			return -1;
		if (rc == CSTREAM_STEP_END) {
			w->phase = CSTREAM_HEAD;
			return (ssize_t)produced;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (cstream_in_avail(w) < before)
			continue;
		/* No progress: the stream needs bytes the file does not have. */
		if (w->raw_eof)
			return cstream_fail(w, err, codec, "truncated stream");
		/* Input and room both offered, nothing moved: never loop on it. */
		return cstream_fail(w, err, codec, "corrupt data: decoder made no progress");
	}
}

ssize_t cstream_read(struct cstream_in *w, const struct cstream_decoder *dec, void *state,
                     const char *codec, unsigned char *out, size_t n, struct rowd_error *err)
{
	for (;;) {
		ssize_t r = 0;

		switch (w->phase) {
		case CSTREAM_HEAD:
			r = cstream_head(w, dec, state, err);
			break;
		case CSTREAM_BODY:
			r = cstream_body(w, dec, state, codec, out, n, err);
			if (r > 0)
				return r;
			break;
		case CSTREAM_END:
			return 0;
		case CSTREAM_FAILED:
			return cstream_fail(w, err, codec, "stream broken by an earlier error");
		}
		if (r < 0) {
			/* A failed read (EIO) consumed nothing and may be retried;
			 * the decoder's state after bad data is undefined. */
			if (err->code != ROWD_EIO)
				w->phase = CSTREAM_FAILED;
			return -1;
		}
	}
}

/* ---- writer ------------------------------------------------------------ */

void cstream_out_init(struct cstream_out *o, struct rawout *out, unsigned char *buf,
                      size_t cap)
{
	o->out = out;
	o->broken = false;
	o->finished = false;
	o->used = 0;
	o->cap = cap;
	o->buf = buf;
}

int cstream_out_flush(struct cstream_out *o, struct rowd_error *err)
{
	if (o->used > 0 && rawout_write(o->out, o->buf, o->used, err) < 0) {
		o->broken = true;
		return -1;
	}
	o->used = 0;
	return 0;
}

int cstream_out_usable(const struct cstream_out *o, const char *codec, struct rowd_error *err)
{
	if (o->broken)
		return rowd_error_set(err, ROWD_EIO, "%s: stream broken by an earlier error", codec);
	if (o->finished)
		return rowd_error_set(err, ROWD_EINVAL, "%s: stream already finished", codec);
	return 0;
}
