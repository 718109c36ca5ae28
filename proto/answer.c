/* Answer encoding: msgpack maps whose size is patched in when closed. */
#include "rowd_proto.h"

#include <string.h>

/* A map32/array32 header with a zero count: 5 bytes, patched on close.
 * The fixed width costs 4 bytes per answer and lets handlers add fields
 * as they learn them. */
static size_t open_hdr(struct mpbuf *b, uint8_t tag)
{
	size_t at = b->len;

	if (mpbuf_reserve(b, 5) < 0)
		return PROTO_POS_NONE;
	mp_put_u8(b, tag);
	mp_put_be32(b, 0);
	return at;
}

static void close_hdr(struct mpbuf *b, size_t at, uint32_t count)
{
	unsigned char *p;

	if (at == PROTO_POS_NONE || at > b->len || b->len - at < 5)
		return;
	p = (unsigned char *)b->data + at + 1;
	p[0] = (unsigned char)(count >> 24);
	p[1] = (unsigned char)(count >> 16);
	p[2] = (unsigned char)(count >> 8);
	p[3] = (unsigned char)count;
}

size_t proto_map_open(struct mpbuf *b)
{
	return open_hdr(b, 0xdf);
}

void proto_map_close(struct mpbuf *b, size_t at, uint32_t count)
{
	close_hdr(b, at, count);
}

size_t proto_array_open(struct mpbuf *b)
{
	return open_hdr(b, 0xdd);
}

void proto_array_close(struct mpbuf *b, size_t at, uint32_t count)
{
	close_hdr(b, at, count);
}

size_t proto_answer_begin(struct mpbuf *b, const char *id_raw, size_t id_len,
                          bool ok, uint32_t *count)
{
	/* map header, "id", the id (nil when absent), "ok", the bool */
	size_t at;

	if (mpbuf_reserve(b, 5 + 3 + (id_len ? id_len : 1) + 3 + 1) < 0)
		return PROTO_POS_NONE;
	at = open_hdr(b, 0xdf);
	mp_put_str(b, "id", 2);
	if (id_len) {
		memcpy(b->data + b->len, id_raw, id_len);
		b->len += id_len;
	} else {
		mp_put_u8(b, 0xc0);
	}
	mp_put_str(b, "ok", 2);
	mp_put_u8(b, ok ? 0xc3 : 0xc2);
	*count = 2;
	return at;
}

static int put_position(struct mpbuf *b, const char *key, int64_t v)
{
	if (v < 0)
		return 0;
	if (mpbuf_cstr(b, key) < 0 || mpbuf_int(b, v) < 0)
		return -1;
	return 0;
}

static int put_error_map(struct mpbuf *b, const struct rowd_error *err, const char *path,
                         size_t path_len)
{
	uint32_t n = 2 + (err->line >= 0) + (err->row >= 0) + (err->offset >= 0) + (path != NULL);

	if (mpbuf_map_hdr(b, n) < 0 ||
	    mpbuf_cstr(b, "code") < 0 || mpbuf_cstr(b, rowd_err_name(err->code)) < 0 ||
	    mpbuf_cstr(b, "message") < 0 ||
	    mpbuf_str(b, err->message, strnlen(err->message, sizeof err->message)) < 0)
		return -1;
	if (put_position(b, "line", err->line) < 0 ||
	    put_position(b, "row", err->row) < 0 ||
	    put_position(b, "offset", err->offset) < 0)
		return -1;
	if (path && (mpbuf_cstr(b, "path") < 0 || mpbuf_str(b, path, path_len) < 0))
		return -1;
	return 0;
}

int proto_answer_error(struct mpbuf *b, const char *id_raw, size_t id_len,
                       const struct rowd_error *err)
{
	return proto_answer_error_path(b, id_raw, id_len, err, NULL, 0);
}

int proto_answer_error_path(struct mpbuf *b, const char *id_raw, size_t id_len,
                            const struct rowd_error *err, const char *path, size_t path_len)
{
	size_t start = b->len;
	uint32_t count;
	size_t at = proto_answer_begin(b, id_raw, id_len, false, &count);

	if (at == PROTO_POS_NONE || mpbuf_cstr(b, "error") < 0 ||
	    put_error_map(b, err, path, path_len) < 0) {
		b->len = start;     /* no half answer reaches the wire */
		return -1;
	}
	proto_map_close(b, at, count + 1);
	return 0;
}
