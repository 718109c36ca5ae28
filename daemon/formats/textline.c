/* Shared pieces of the line-oriented text formats (see textline.h). */
#include "config.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "textline.h"
#include "charset.h"
#include "options.h"

/* How much of the head the encoding is guessed from. */
#define ENCODING_HEAD (64 * 1024)

void textline_init(struct textline_reader *lr, struct input *in, size_t max)
{
	memset(lr, 0, sizeof *lr);
	lr->in = in;
	lr->max = max;
}

/* Drops a UTF-8 byte order mark at the start of the stream. */
static int drop_bom(struct textline_reader *lr, struct rowd_error *err)
{
	struct input *in = lr->in;

	while (input_avail(in) < 3 && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	if (input_avail(in) >= 3 && memcmp(input_ptr(in), "\xef\xbb\xbf", 3) == 0)
		input_consume(in, 3);
	lr->started = true;
	return 0;
}

static int line_too_long(const struct textline_reader *lr, struct rowd_error *err)
{
	textline_locate(err, lr->line + 1, 0, lr->in->consumed);
	return rowd_error_set(err, ROWD_ELIMIT, "line %llu: longer than the row_bytes limit (%zu)",
	                      (unsigned long long)lr->line + 1, lr->max);
}

int textline_next(struct textline_reader *lr, const char **line, size_t *len,
                  uint64_t *off, struct rowd_error *err)
{
	struct input *in = lr->in;

	if (!lr->started && drop_bom(lr, err) < 0)
		return -1;
	for (;;) {
		const char *p = input_ptr(in);
		size_t avail = input_avail(in);
		const char *nl = memchr(p + lr->scanned, '\n', avail - lr->scanned);
		size_t n = nl ? (size_t)(nl - p) : avail;

		if (n > lr->max)
			return line_too_long(lr, err);
		if (nl || (in->eof && avail)) {
			*line = p;
			*off = in->consumed;
			input_consume(in, n + (nl ? 1 : 0));
			*len = n && p[n - 1] == '\r' ? n - 1 : n;
			lr->scanned = 0;
			lr->line++;
			return 1;
		}
		if (in->eof)
			return 0;
		/* A long line costs one scan, not one per refill. */
		lr->scanned = avail;
		if (input_fill(in, err) < 0)
			return err->code == ROWD_ELIMIT ? line_too_long(lr, err) : -1;
	}
}

int textline_value(const msgpack_object *v, struct mpbuf *scratch, const char **p,
                   size_t *n, struct rowd_error *err)
{
	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		*p = "";
		*n = 0;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		*p = v->via.boolean ? "true" : "false";
		*n = strlen(*p);
		return 0;
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		/* Readers refuse what is not UTF-8: never write it. */
		if (!proto_utf8_valid(v->via.str.ptr, v->via.str.size))
			return rowd_error_set(err, ROWD_EINVAL, "a value is not UTF-8 text");
		*p = v->via.str.ptr;
		*n = v->via.str.size;
		return 0;
	case MSGPACK_OBJECT_EXT:
		return rowd_error_set(err, ROWD_EINVAL, "msgpack ext values have no text form");
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON says null for these; as text, Python's spelling keeps them. */
		if (isnan(v->via.f64) || isinf(v->via.f64)) {
			*p = isnan(v->via.f64) ? "nan" : v->via.f64 < 0 ? "-inf" : "inf";
			*n = strlen(*p);
			return 0;
		}
		break;
	default:
		break;
	}
	/* Numbers, arrays and maps: their JSON text is also the text a reader
	 * expects (integers exact, floats shortest with ".0" kept). */
	scratch->len = 0;
	if (proto_object_to_json(v, scratch) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory formatting a value");
	*p = scratch->data;
	*n = scratch->len;
	return 0;
}

int textline_check_encoding(const msgpack_object *opts, const char *fmt_name,
                            struct rowd_error *err)
{
	const char *s;
	size_t n;
	int rc = opts_str(opts, "encoding", &s, &n, err);

	if (rc <= 0)
		return rc;
	if ((n == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
	    (n == 4 && strncasecmp(s, "utf8", 4) == 0))
		return 0;
	return rowd_error_set(err, ROWD_ENOTSUP,
	                      "encoding '%.*s' is not supported by format %s: it is UTF-8 only",
	                      (int)(n > 64 ? 64 : n), s, fmt_name);
}

int textline_input_encoding(struct input *in, const msgpack_object *opts,
                            struct rowd_error *err)
{
	char name[32];
	const char *s;
	size_t n;
	int rc = opts_str(opts, "encoding", &s, &n, err);

	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (charset_is_utf8(s, n))
			return 0;
		if (n >= sizeof name || memchr(s, 0, n))
			return rowd_error_set(err, ROWD_EINVAL, "unknown encoding '%.*s' (option 'encoding')",
			                      (int)(n > 40 ? 40 : n), s);
		memcpy(name, s, n);
		name[n] = 0;
		return input_set_encoding(in, name, err);
	}
	while (input_avail(in) < ENCODING_HEAD && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	s = charset_detect((const unsigned char *)input_ptr(in), input_avail(in), !in->eof);
	if (strncmp(s, "utf-8", 5) == 0)
		return 0;
	s = charset_iconv_name(s, (const unsigned char *)input_ptr(in), input_avail(in));
	return input_set_encoding(in, s, err);
}
