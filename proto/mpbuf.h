/* A growable byte buffer with direct msgpack writers.
 *
 * The hot path (formats packing rows) reserves room once per row or field
 * and then uses the mp_put_* functions, which never check capacity. The
 * mpbuf_* functions check and grow. Growth failure returns -1 (ENOMEM).
 */
#ifndef ROWD_MPBUF_H
#define ROWD_MPBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct mpbuf {
	char *data;
	size_t len;
	size_t cap;
};

void mpbuf_init(struct mpbuf *b);
void mpbuf_free(struct mpbuf *b);
/* Hands the storage to the caller (who frees it with free()) and resets b. */
char *mpbuf_steal(struct mpbuf *b, size_t *len);
/* Slow path of mpbuf_reserve. */
int mpbuf_grow(struct mpbuf *b, size_t need);

/* Ensures at least n more bytes fit. */
static inline int mpbuf_reserve(struct mpbuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	return mpbuf_grow(b, n);
}

static inline int mpbuf_append(struct mpbuf *b, const void *p, size_t n)
{
	if (mpbuf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* msgpack-c's msgpack_packer write callback (data = struct mpbuf *). */
int mpbuf_packer_write(void *data, const char *buf, size_t len);

/* ---- unchecked writers: caller reserved room ------------------------ */

static inline void mp_put_u8(struct mpbuf *b, uint8_t v) { b->data[b->len++] = (char)v; }

static inline void mp_put_be16(struct mpbuf *b, uint16_t v)
{
	b->data[b->len++] = (char)(v >> 8);
	b->data[b->len++] = (char)v;
}

static inline void mp_put_be32(struct mpbuf *b, uint32_t v)
{
	b->data[b->len++] = (char)(v >> 24);
	b->data[b->len++] = (char)(v >> 16);
	b->data[b->len++] = (char)(v >> 8);
	b->data[b->len++] = (char)v;
}

/* Worst-case bytes of a str header. */
#define MP_STR_HDR_MAX 5

static inline void mp_put_str_hdr(struct mpbuf *b, size_t n)
{
	if (n < 32) {
		mp_put_u8(b, (uint8_t)(0xa0 | n));
	} else if (n < 256) {
		mp_put_u8(b, 0xd9);
		mp_put_u8(b, (uint8_t)n);
	} else if (n < 65536) {
		mp_put_u8(b, 0xda);
		mp_put_be16(b, (uint16_t)n);
	} else {
		mp_put_u8(b, 0xdb);
		mp_put_be32(b, (uint32_t)n);
	}
}

static inline void mp_put_str(struct mpbuf *b, const char *s, size_t n)
{
	mp_put_str_hdr(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static inline void mp_put_map_hdr(struct mpbuf *b, uint32_t n)
{
	if (n < 16) {
		mp_put_u8(b, (uint8_t)(0x80 | n));
	} else if (n < 65536) {
		mp_put_u8(b, 0xde);
		mp_put_be16(b, (uint16_t)n);
	} else {
		mp_put_u8(b, 0xdf);
		mp_put_be32(b, n);
	}
}

static inline void mp_put_array_hdr(struct mpbuf *b, uint32_t n)
{
	if (n < 16) {
		mp_put_u8(b, (uint8_t)(0x90 | n));
	} else if (n < 65536) {
		mp_put_u8(b, 0xdc);
		mp_put_be16(b, (uint16_t)n);
	} else {
		mp_put_u8(b, 0xdd);
		mp_put_be32(b, n);
	}
}

/* ---- checked writers ------------------------------------------------- */

int mpbuf_str(struct mpbuf *b, const char *s, size_t n);
int mpbuf_cstr(struct mpbuf *b, const char *s);
int mpbuf_nil(struct mpbuf *b);
int mpbuf_bool(struct mpbuf *b, bool v);
int mpbuf_int(struct mpbuf *b, int64_t v);
int mpbuf_uint(struct mpbuf *b, uint64_t v);
int mpbuf_double(struct mpbuf *b, double v);
int mpbuf_map_hdr(struct mpbuf *b, uint32_t n);
int mpbuf_array_hdr(struct mpbuf *b, uint32_t n);

#endif
