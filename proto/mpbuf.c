/* Growable buffer and checked msgpack writers (see mpbuf.h). */
#include "mpbuf.h"

#include <stdlib.h>

void mpbuf_init(struct mpbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void mpbuf_free(struct mpbuf *b)
{
	free(b->data);
	mpbuf_init(b);
}

char *mpbuf_steal(struct mpbuf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	mpbuf_init(b);
	return p;
}

int mpbuf_grow(struct mpbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need > SIZE_MAX / 2 - b->len)
		return -1;
	while (cap - b->len < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int mpbuf_packer_write(void *data, const char *buf, size_t len)
{
	return mpbuf_append(data, buf, len);
}

int mpbuf_str(struct mpbuf *b, const char *s, size_t n)
{
	if (n > UINT32_MAX || mpbuf_reserve(b, n + MP_STR_HDR_MAX) < 0)
		return -1;
	mp_put_str(b, s, n);
	return 0;
}

int mpbuf_cstr(struct mpbuf *b, const char *s)
{
	return mpbuf_str(b, s, strlen(s));
}

int mpbuf_nil(struct mpbuf *b)
{
	if (mpbuf_reserve(b, 1) < 0)
		return -1;
	mp_put_u8(b, 0xc0);
	return 0;
}

int mpbuf_bool(struct mpbuf *b, bool v)
{
	if (mpbuf_reserve(b, 1) < 0)
		return -1;
	mp_put_u8(b, v ? 0xc3 : 0xc2);
	return 0;
}

int mpbuf_uint(struct mpbuf *b, uint64_t v)
{
	if (mpbuf_reserve(b, 9) < 0)
		return -1;
	if (v < 128) {
		mp_put_u8(b, (uint8_t)v);
	} else if (v < 256) {
		mp_put_u8(b, 0xcc);
		mp_put_u8(b, (uint8_t)v);
	} else if (v < 65536) {
		mp_put_u8(b, 0xcd);
		mp_put_be16(b, (uint16_t)v);
	} else if (v <= UINT32_MAX) {
		mp_put_u8(b, 0xce);
		mp_put_be32(b, (uint32_t)v);
	} else {
		mp_put_u8(b, 0xcf);
		mp_put_be32(b, (uint32_t)(v >> 32));
		mp_put_be32(b, (uint32_t)v);
	}
	return 0;
}

int mpbuf_int(struct mpbuf *b, int64_t v)
{
	if (v >= 0)
		return mpbuf_uint(b, (uint64_t)v);
	if (mpbuf_reserve(b, 9) < 0)
		return -1;
	if (v >= -32) {
		mp_put_u8(b, (uint8_t)(int8_t)v);
	} else if (v >= INT8_MIN) {
		mp_put_u8(b, 0xd0);
		mp_put_u8(b, (uint8_t)(int8_t)v);
	} else if (v >= INT16_MIN) {
		mp_put_u8(b, 0xd1);
		mp_put_be16(b, (uint16_t)(int16_t)v);
	} else if (v >= INT32_MIN) {
		mp_put_u8(b, 0xd2);
		mp_put_be32(b, (uint32_t)(int32_t)v);
	} else {
		uint64_t u = (uint64_t)v;

		mp_put_u8(b, 0xd3);
		mp_put_be32(b, (uint32_t)(u >> 32));
		mp_put_be32(b, (uint32_t)u);
	}
	return 0;
}

int mpbuf_double(struct mpbuf *b, double v)
{
	uint64_t u;

	if (mpbuf_reserve(b, 9) < 0)
		return -1;
	memcpy(&u, &v, sizeof u);
	mp_put_u8(b, 0xcb);
	mp_put_be32(b, (uint32_t)(u >> 32));
	mp_put_be32(b, (uint32_t)u);
	return 0;
}

int mpbuf_map_hdr(struct mpbuf *b, uint32_t n)
{
	if (mpbuf_reserve(b, 5) < 0)
		return -1;
	mp_put_map_hdr(b, n);
	return 0;
}

int mpbuf_array_hdr(struct mpbuf *b, uint32_t n)
{
	if (mpbuf_reserve(b, 5) < 0)
		return -1;
	mp_put_array_hdr(b, n);
	return 0;
}
