/* Resumable msgpack frame scanner.
 *
 * msgpack-c trusts headers: an array32 header alone makes it allocate
 * count * sizeof(msgpack_object). The scanner walks the token headers of
 * one object, without allocating and without looking at payload bytes,
 * and refuses a frame as soon as a header proves it breaks a limit. Only
 * a frame it accepted is handed to the unpacker.
 *
 * State between calls: s->pos is the start of the first token not yet
 * accepted, s->left[d] the items still due at level d (level 0 is the
 * frame itself, one item), s->depth the innermost open level. A token that
 * is not complete in p[0..n) is not accepted, so the next call restarts
 * at its first byte.
 */
#include "rowd_proto.h"

#include <inttypes.h>

enum tok_kind { TK_SCALAR, TK_BLOB, TK_ARRAY, TK_MAP };

struct tok {
	enum tok_kind kind;
	const char *what;   /* for messages: "str", "bin", "ext" */
	unsigned hs;        /* header bytes, payload excluded */
	uint64_t len;       /* payload bytes (scalars, blobs) or entries (containers) */
};

static uint64_t be_read(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Header size of the token starting with byte b, and where its length
 * field sits (lsize bytes at offset 1; 0 = none). 0 for the reserved
 * byte. */
static unsigned head_size(uint8_t b, unsigned *lsize)
{
	*lsize = 0;
	if (b <= 0xbf || b >= 0xe0)
		return 1;                       /* fixint, fixmap, fixarray, fixstr */
	switch (b) {
	case 0xc0: case 0xc2: case 0xc3:
		return 1;
	case 0xc1:
		return 0;
	case 0xc4: case 0xd9:               /* bin8, str8 */
		*lsize = 1;
		return 2;
	case 0xc5: case 0xda: case 0xdc: case 0xde:
		*lsize = 2;
		return 3;
	case 0xc6: case 0xdb: case 0xdd: case 0xdf:
		*lsize = 4;
		return 5;
	case 0xc7:                          /* ext8: len, type */
		*lsize = 1;
		return 3;
	case 0xc8:
		*lsize = 2;
		return 4;
	case 0xc9:
		*lsize = 4;
		return 6;
	case 0xca: return 5;
	case 0xcb: return 9;
	case 0xcc: case 0xd0: return 2;
	case 0xcd: case 0xd1: return 3;
	case 0xce: case 0xd2: return 5;
	case 0xcf: case 0xd3: return 9;
	case 0xd4: return 3;                /* fixext1..16: type + data */
	case 0xd5: return 4;
	case 0xd6: return 6;
	case 0xd7: return 10;
	default:   return 18;               /* 0xd8 fixext16 */
	}
}

/* Decodes a token whose header bytes h[0..hs) are all present. */
static void tok_decode(const uint8_t *h, unsigned hs, unsigned lsize, struct tok *t)
{
	uint8_t b = h[0];
	uint64_t len = lsize ? be_read(h + 1, lsize) : 0;

	t->hs = hs;
	t->len = 0;
	t->kind = TK_SCALAR;
	t->what = "str";
	if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
		t->kind = TK_MAP;
		t->len = (b & 0xf0) == 0x80 ? (uint64_t)(b & 0x0f) : len;
	} else if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
		t->kind = TK_ARRAY;
		t->len = (b & 0xf0) == 0x90 ? (uint64_t)(b & 0x0f) : len;
	} else if ((b & 0xe0) == 0xa0) {
		t->kind = TK_BLOB;
		t->len = b & 0x1f;
	} else if (lsize) {
		t->kind = TK_BLOB;
		t->len = len;
		if (b >= 0xc4 && b <= 0xc6)
			t->what = "bin";
		else if (b >= 0xc7 && b <= 0xc9)
			t->what = "ext";
	}
}

/* Positions the error at the refused token. */
static int refused_at(struct rowd_error *err, size_t at)
{
	err->offset = (int64_t)at;
	return -1;
}

static int frame_too_big(struct rowd_error *err, size_t at, const struct rowd_limits *lim)
{
	rowd_error_set(err, ROWD_ELIMIT, "frame exceeds frame_bytes limit (%zu)",
	               lim->frame_bytes);
	return refused_at(err, at);
}

/* Checks a complete token header against the limits that its header
 * alone decides. */
static int tok_check(size_t start, const struct tok *t,
                     const struct rowd_limits *lim, struct rowd_error *err)
{
	size_t room = lim->frame_bytes - start;

	if (t->kind == TK_BLOB && t->len > lim->str_bytes) {
		rowd_error_set(err, ROWD_ELIMIT,
		               "%s of %" PRIu64 " bytes exceeds the str_bytes limit (%zu)",
		               t->what, t->len, lim->str_bytes);
		return refused_at(err, start);
	}
	if ((t->kind == TK_ARRAY || t->kind == TK_MAP) && t->len > lim->elements) {
		rowd_error_set(err, ROWD_ELIMIT,
		               "%s of %" PRIu64 " %s exceeds the elements limit (%zu)",
		               t->kind == TK_MAP ? "map" : "array", t->len,
		               t->kind == TK_MAP ? "entries" : "elements", lim->elements);
		return refused_at(err, start);
	}
	if (t->hs > room)
		return frame_too_big(err, start, lim);
	if ((t->kind == TK_SCALAR || t->kind == TK_BLOB) && t->len > room - t->hs)
		return frame_too_big(err, start, lim);
	return 0;
}

/* Every item still due takes at least one byte: a header that promises
 * more items than the frame can hold is refused before they arrive. */
static bool items_fit(const struct proto_scanner *s, uint64_t items, size_t room)
{
	for (unsigned d = 0; d <= s->depth; d++)
		items += s->left[d];      /* at most 65 * 2^33: no overflow */
	return items <= room;
}

static int push(struct proto_scanner *s, const struct tok *t, size_t start,
                const struct rowd_limits *lim, struct rowd_error *err)
{
	size_t max_depth = lim->depth < PROTO_SCAN_MAX_DEPTH ? lim->depth : PROTO_SCAN_MAX_DEPTH;
	uint64_t items = t->kind == TK_MAP ? 2 * t->len : t->len;

	if (s->depth + 1 > max_depth) {
		rowd_error_set(err, ROWD_ELIMIT, "nesting deeper than the depth limit (%zu)",
		               max_depth);
		return refused_at(err, start);
	}
	if (!items_fit(s, items, lim->frame_bytes - start - t->hs))
		return frame_too_big(err, start, lim);
	s->left[++s->depth] = items;
	return 0;
}

void proto_scanner_init(struct proto_scanner *s)
{
	s->pos = 0;
	s->depth = 0;
	s->left[0] = 1;
}

int proto_scan(struct proto_scanner *s, const char *p, size_t n,
               const struct rowd_limits *lim, size_t *frame_len,
               struct rowd_error *err)
{
	const uint8_t *u = (const uint8_t *)p;

	for (;;) {
		unsigned lsize, hs;
		struct tok t;
		size_t start = s->pos;

		if (start >= lim->frame_bytes)
			return frame_too_big(err, start, lim);
		if (start >= n)
			return 0;
		hs = head_size(u[start], &lsize);
		if (hs == 0) {
			rowd_error_set(err, ROWD_EPROTO, "reserved byte 0xc1 at offset %zu",
			               start);
			return refused_at(err, start);
		}
		if (hs > lim->frame_bytes - start)
			return frame_too_big(err, start, lim);
		if (hs > n - start)
			return 0;
		tok_decode(u + start, hs, lsize, &t);
		if (tok_check(start, &t, lim, err) < 0)
			return -1;
		if ((t.kind == TK_SCALAR || t.kind == TK_BLOB) && t.len > n - start - hs)
			return 0;

		/* The token is complete: account for it. */
		s->left[s->depth]--;
		if (t.kind == TK_SCALAR || t.kind == TK_BLOB)
			s->pos = start + hs + (size_t)t.len;
		else if (push(s, &t, start, lim, err) < 0)
			return -1;
		else
			s->pos = start + hs;
		while (s->depth > 0 && s->left[s->depth] == 0)
			s->depth--;
		if (s->depth == 0 && s->left[0] == 0) {
			*frame_len = s->pos;
			/* Ready for the next frame, which starts at p[*frame_len]
			 * until the caller drops this one. */
			proto_scanner_init(s);
			return 1;
		}
	}
}
