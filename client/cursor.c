/* The zero-allocation cursor over packed rows (see rowd/rowd.h).
 *
 * Every length read from the bytes is checked against what is left of
 * the buffer before it is used, so hostile bytes end in -1, never in a
 * read outside the buffer. Nested values are skipped iteratively with one
 * counter of items still due (no recursion, so no depth limit is needed);
 * the counter may never exceed the bytes left, as every item takes at
 * least one byte, which refuses a header claiming 2^32 entries at once.
 */
#include "rowd/rowd.h"

#include <string.h>

static inline uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static inline size_t left(const struct rowd_cursor *c)
{
	return (size_t)(c->end - c->p);
}

static int broken(struct rowd_cursor *c)
{
	c->broken = true;
	return -1;
}

/* The shape of the object at p: hl header bytes, then body bytes of
 * payload (scalars, str, bin, ext) or kids items (array: n, map: 2n).
 * -1 when the header or payload does not fit in avail, or for 0xc1. */
struct shape {
	size_t hl;
	size_t body;
	uint64_t kids;
};

static int fixed(struct shape *s, size_t hl, size_t body)
{
	s->hl = hl;
	s->body = body;
	return 0;
}

/* str, bin and ext carry their length in 1, 2 or 4 bytes after the type
 * byte; ext adds one byte of ext type before the payload. */
static int sized(const unsigned char *p, size_t avail, unsigned lenbytes, unsigned extra,
                 struct shape *s)
{
	s->hl = 1 + lenbytes + extra;
	if (avail < s->hl)
		return -1;
	s->body = lenbytes == 1 ? p[1] : lenbytes == 2 ? be16(p + 1) : be32(p + 1);
	return 0;
}

static int container(const unsigned char *p, size_t avail, unsigned lenbytes, unsigned per,
                     struct shape *s)
{
	s->hl = 1 + lenbytes;
	if (avail < s->hl)
		return -1;
	s->kids = (uint64_t)per * (lenbytes == 2 ? be16(p + 1) : be32(p + 1));
	return 0;
}

static int shape_of_typed(const unsigned char *p, size_t avail, struct shape *s)
{
	switch (p[0]) {
	case 0xc0: case 0xc2: case 0xc3: return fixed(s, 1, 0);
	case 0xc4: return sized(p, avail, 1, 0, s);
	case 0xc5: return sized(p, avail, 2, 0, s);
	case 0xc6: return sized(p, avail, 4, 0, s);
	case 0xc7: return sized(p, avail, 1, 1, s);
	case 0xc8: return sized(p, avail, 2, 1, s);
	case 0xc9: return sized(p, avail, 4, 1, s);
	case 0xca: return fixed(s, 1, 4);
	case 0xcb: return fixed(s, 1, 8);
	case 0xcc: case 0xd0: return fixed(s, 1, 1);
	case 0xcd: case 0xd1: return fixed(s, 1, 2);
	case 0xce: case 0xd2: return fixed(s, 1, 4);
	case 0xcf: case 0xd3: return fixed(s, 1, 8);
	case 0xd4: return fixed(s, 2, 1);
	case 0xd5: return fixed(s, 2, 2);
	case 0xd6: return fixed(s, 2, 4);
	case 0xd7: return fixed(s, 2, 8);
	case 0xd8: return fixed(s, 2, 16);
	case 0xd9: return sized(p, avail, 1, 0, s);
	case 0xda: return sized(p, avail, 2, 0, s);
	case 0xdb: return sized(p, avail, 4, 0, s);
	case 0xdc: return container(p, avail, 2, 1, s);
	case 0xdd: return container(p, avail, 4, 1, s);
	case 0xde: return container(p, avail, 2, 2, s);
	case 0xdf: return container(p, avail, 4, 2, s);
	default: return -1;   /* 0xc1: never used */
	}
}

static int shape_of(const unsigned char *p, size_t avail, struct shape *s)
{
	unsigned b;

	if (avail == 0)
		return -1;
	b = p[0];
	s->body = 0;
	s->kids = 0;
	if (b <= 0x7f || b >= 0xe0) {
		fixed(s, 1, 0);
	} else if (b <= 0x8f) {
		fixed(s, 1, 0);
		s->kids = 2u * (b & 0x0f);
	} else if (b <= 0x9f) {
		fixed(s, 1, 0);
		s->kids = b & 0x0f;
	} else if (b <= 0xbf) {
		fixed(s, 1, b & 0x1f);
	} else if (shape_of_typed(p, avail, s) < 0) {
		return -1;
	}
	return s->hl <= avail && s->body <= avail - s->hl ? 0 : -1;
}

/* Moves past n whole objects. Short strings (most keys and CSV values)
 * take a fast path, with the position kept in a local: skipping the rows
 * of a message is on the hot path. */
static int skip_objects(struct rowd_cursor *c, uint64_t n)
{
	const unsigned char *p = c->p, *end = c->end;

	while (n > 0) {
		struct shape s;
		unsigned b;

		if (n > (size_t)(end - p))
			return -1;
		b = p[0];
		if ((b & 0xe0) == 0xa0) {
			if ((b & 0x1f) >= (size_t)(end - p))
				return -1;
			p += 1 + (b & 0x1f);
			n--;
			continue;
		}
		if (shape_of(p, (size_t)(end - p), &s) < 0)
			return -1;
		p += s.hl + s.body;
		n = n - 1 + s.kids;   /* n <= bytes left and kids < 2^33: no overflow */
	}
	c->p = p;
	return 0;
}

void rowd_cursor_init(struct rowd_cursor *cur, const void *buf, size_t len)
{
	struct shape s;

	cur->p = buf;
	cur->end = cur->p + len;
	cur->rows_left = UINT64_MAX;
	cur->fields_left = 0;
	cur->broken = false;
	if (len == 0)
		return;
	/* An array: its maps are the rows. Anything else: maps back to back,
	 * checked one by one by next_row. */
	if ((cur->p[0] & 0xf0) == 0x90 || cur->p[0] == 0xdc || cur->p[0] == 0xdd) {
		if (shape_of(cur->p, len, &s) < 0 || s.kids > len - s.hl) {
			cur->broken = true;
			return;
		}
		cur->p += s.hl;
		cur->rows_left = s.kids;
	}
}

int rowd_cursor_next_row(struct rowd_cursor *cur, uint32_t *nfields)
{
	struct shape s;
	unsigned b;

	if (cur->broken)
		return -1;
	if (cur->fields_left > 0 && skip_objects(cur, 2 * (uint64_t)cur->fields_left) < 0)
		return broken(cur);
	cur->fields_left = 0;
	if (cur->rows_left == 0 || (cur->rows_left == UINT64_MAX && cur->p == cur->end))
		return 0;
	if (cur->p == cur->end)
		return broken(cur);   /* the array promised more rows */
	b = cur->p[0];
	if (!((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf))
		return broken(cur);   /* a row is a map */
	if (shape_of(cur->p, left(cur), &s) < 0 || s.kids > left(cur) - s.hl)
		return broken(cur);
	cur->p += s.hl;
	if (cur->rows_left != UINT64_MAX)
		cur->rows_left--;
	cur->fields_left = (uint32_t)(s.kids / 2);
	if (nfields)
		*nfields = cur->fields_left;
	return 1;
}

static int read_str(struct rowd_cursor *c, const char **ptr, size_t *len)
{
	struct shape s;
	unsigned b;

	if (c->p == c->end)
		return -1;
	b = c->p[0];
	if ((b & 0xe0) == 0xa0) {   /* fixstr: nearly every key */
		if ((b & 0x1f) >= left(c))
			return -1;
		*ptr = (const char *)c->p + 1;
		*len = b & 0x1f;
		c->p += 1 + *len;
		return 0;
	}
	if (!(b == 0xd9 || b == 0xda || b == 0xdb) ||
	    shape_of(c->p, left(c), &s) < 0)
		return -1;
	*ptr = (const char *)c->p + s.hl;
	*len = s.body;
	c->p += s.hl + s.body;
	return 0;
}

static int read_nested(struct rowd_cursor *c, struct rowd_value *v)
{
	const unsigned char *start = c->p;

	if (skip_objects(c, 1) < 0)
		return -1;
	v->type = ROWD_NESTED;
	v->via.str.ptr = (const char *)start;
	v->via.str.len = (size_t)(c->p - start);
	return 0;
}

static void read_number(const unsigned char *p, const struct shape *s, struct rowd_value *v)
{
	const unsigned char *q = p + s->hl;
	unsigned b = p[0];

	if (b == 0xca) {
		uint32_t u = be32(q);
		float f;

		memcpy(&f, &u, sizeof f);
		v->type = ROWD_DOUBLE;
		v->via.f64 = f;
	} else if (b == 0xcb) {
		uint64_t u = be64(q);

		v->type = ROWD_DOUBLE;
		memcpy(&v->via.f64, &u, sizeof v->via.f64);
	} else if (b >= 0xcc && b <= 0xcf) {
		uint64_t u = b == 0xcc ? q[0] : b == 0xcd ? be16(q) : b == 0xce ? be32(q) : be64(q);

		v->type = u > INT64_MAX ? ROWD_UINT : ROWD_INT;
		if (u > INT64_MAX)
			v->via.u64 = u;
		else
			v->via.i64 = (int64_t)u;
	} else {
		v->type = ROWD_INT;
		v->via.i64 = b == 0xd0 ? (int8_t)q[0] : b == 0xd1 ? (int16_t)be16(q) :
		             b == 0xd2 ? (int32_t)be32(q) : (int64_t)be64(q);
	}
}

/* Everything but the fixstr/fixint fast paths of read_value. */
static int read_typed(struct rowd_cursor *c, struct rowd_value *v)
{
	const unsigned char *p = c->p;
	unsigned b = p[0];
	struct shape s;

	if ((b >= 0x80 && b <= 0x9f) || (b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8) ||
	    b >= 0xdc)
		return read_nested(c, v);
	if (shape_of(p, left(c), &s) < 0)
		return -1;
	if (b == 0xc0) {
		v->type = ROWD_NIL;
	} else if (b == 0xc2 || b == 0xc3) {
		v->type = ROWD_BOOL;
		v->via.boolean = b == 0xc3;
	} else if ((b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb)) {
		v->type = b <= 0xc6 ? ROWD_BIN : ROWD_STR;
		v->via.str.ptr = (const char *)p + s.hl;
		v->via.str.len = s.body;
	} else {
		read_number(p, &s, v);
	}
	c->p += s.hl + s.body;
	return 0;
}

static int read_value(struct rowd_cursor *c, struct rowd_value *v)
{
	unsigned b;

	if (c->p == c->end)
		return -1;
	b = c->p[0];
	if ((b & 0xe0) == 0xa0) {   /* fixstr: most CSV values */
		size_t n = b & 0x1f;

		if (n > left(c) - 1)
			return -1;
		v->type = ROWD_STR;
		v->via.str.ptr = (const char *)c->p + 1;
		v->via.str.len = n;
		c->p += 1 + n;
		return 0;
	}
	if (b <= 0x7f || b >= 0xe0) {
		v->type = ROWD_INT;
		v->via.i64 = (int8_t)b;   /* 0x00-0x7f stay positive */
		c->p++;
		return 0;
	}
	return read_typed(c, v);
}

int rowd_cursor_next_field(struct rowd_cursor *cur, const char **key, size_t *keylen,
                           struct rowd_value *val)
{
	if (cur->broken)
		return -1;
	if (cur->fields_left == 0)
		return 0;
	if (read_str(cur, key, keylen) < 0 || read_value(cur, val) < 0)
		return broken(cur);
	cur->fields_left--;
	return 1;
}
