/* msgpack (.msgpack, .mp): concatenated maps, one per row.
 *
 * Reader. The file is already in the wire encoding of rows, so a row is
 * copied, never decoded and re-encoded. proto_scan finds where each object
 * ends, enforcing the depth/elements/str_bytes limits from the headers
 * alone and refusing an object over row_bytes before its bytes are read
 * (msgpack-c would trust a header and allocate). An accepted object is
 * then walked once, token by token, to check what the scanner does not:
 * that it is a map, that its keys are strings and that every string is
 * UTF-8 (clients decode rows as text). Only then is it copied.
 *
 * A bad object that is still well-formed (not a map, a non-string key,
 * invalid UTF-8) has a known end, so on_error "skip" can step over it. A
 * reserved byte, a broken limit or a truncated tail leaves no way to find
 * the next object: those end the read even when skipping.
 *
 * Writer: each row re-packed with msgpack-c's packer (the row arrives
 * decoded), floats keep their width.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "options.h"

static const char *const mp_rd_known[] = { "on_error", NULL };
static const char *const mp_wr_known[] = { NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* ---- token walk -------------------------------------------------------- */

/* One msgpack token: its header bytes, the payload after them (str, bin,
 * ext data) and, for containers, how many items follow. */
struct mp_tok {
	size_t hs;
	uint64_t len;
	uint64_t items;
	bool str;
	bool map;
};

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Decodes the token at p. The object was accepted by proto_scan, so the
 * header is complete and not the reserved byte. */
static void tok_read(const uint8_t *p, struct mp_tok *t)
{
	uint8_t b = p[0];

	memset(t, 0, sizeof *t);
	t->hs = 1;
	if (b <= 0x7f || b >= 0xe0)
		return;                                 /* fixint */
	if (b <= 0x8f) {
		t->map = true;
		t->items = 2u * (b & 0x0fu);
		return;
	}
	if (b <= 0x9f) {
		t->items = b & 0x0fu;
		return;
	}
	if (b <= 0xbf) {
		t->str = true;
		t->len = b & 0x1fu;
		return;
	}
	switch (b) {
	case 0xd9: case 0xda: case 0xdb:            /* str 8/16/32 */
		t->str = true;
		/* fall through */
	case 0xc4: case 0xc5: case 0xc6: {          /* bin 8/16/32 */
		unsigned k = (b == 0xc4 || b == 0xd9) ? 1 : (b == 0xc5 || b == 0xda) ? 2 : 4;

		t->hs = 1 + k;
		t->len = be(p + 1, k);
		return;
	}
	case 0xc7: case 0xc8: case 0xc9: {          /* ext 8/16/32: len, type */
		unsigned k = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;

		t->hs = 2 + k;
		t->len = be(p + 1, k);
		return;
	}
	case 0xdc: case 0xdd:
		t->hs = b == 0xdc ? 3 : 5;
		t->items = be(p + 1, b == 0xdc ? 2 : 4);
		return;
	case 0xde: case 0xdf:
		t->map = true;
		t->hs = b == 0xde ? 3 : 5;
		t->items = 2 * be(p + 1, b == 0xde ? 2 : 4);
		return;
	case 0xca: t->hs = 5; return;
	case 0xcb: t->hs = 9; return;
	case 0xcc: case 0xd0: t->hs = 2; return;
	case 0xcd: case 0xd1: t->hs = 3; return;
	case 0xce: case 0xd2: t->hs = 5; return;
	case 0xcf: case 0xd3: t->hs = 9; return;
	case 0xd4: t->hs = 3; return;               /* fixext 1..16: type + data */
	case 0xd5: t->hs = 4; return;
	case 0xd6: t->hs = 6; return;
	case 0xd7: t->hs = 10; return;
	case 0xd8: t->hs = 18; return;
	default: return;                            /* nil, false, true */
	}
}

static bool is_map_byte(uint8_t b)
{
	return (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf;
}

static const char *kind_of(uint8_t b)
{
	if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
		return "an integer";
	if (b <= 0x8f || b == 0xde || b == 0xdf)
		return "a map";
	if (b <= 0x9f || b == 0xdc || b == 0xdd)
		return "an array";
	if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
		return "a string";
	switch (b) {
	case 0xc0: return "nil";
	case 0xc2: case 0xc3: return "a boolean";
	case 0xc4: case 0xc5: case 0xc6: return "binary data";
	case 0xca: case 0xcb: return "a float";
	default: return "an ext value";
	}
}

/* What makes an object accepted by proto_scan unfit as a row: returns
 * NULL when it is a row, else the reason, with *at the offset of the
 * offending token in p. */
static const char *row_problem(const uint8_t *p, size_t len, size_t *at)
{
	uint64_t left[PROTO_SCAN_MAX_DEPTH + 1];
	unsigned depth = 0;
	size_t pos = 0;

	*at = 0;
	if (!is_map_byte(p[0]))
		return kind_of(p[0]);
	left[0] = 1;
	while (depth > 0 || left[0] > 0) {
		/* At depth 1 the items alternate key, value, key, ... and an
		 * even count left means a key is next. */
		bool key = depth == 1 && left[1] % 2 == 0;
		struct mp_tok t;

		if (pos >= len)
			return "a truncated object";    /* not after proto_scan */
		tok_read(p + pos, &t);
		*at = pos;
		if (t.hs > len - pos || t.len > len - pos - t.hs)
			return "a truncated object";
		if (key && !t.str)
			return "a key that is not a string";
		if (t.str && !proto_utf8_valid(p + pos + t.hs, (size_t)t.len))
			return "a string that is not valid UTF-8";
		left[depth]--;
		pos += t.hs + (size_t)t.len;
		if (t.items) {
			if (depth + 1 > PROTO_SCAN_MAX_DEPTH)
				return "nesting deeper than the scanner allows";
			left[++depth] = t.items;
		}
		while (depth > 0 && left[depth] == 0)
			depth--;
	}
	return NULL;
}

/* ---- reader ------------------------------------------------------------ */

struct mp_rd {
	struct input *in;
	struct rowd_limits lim;     /* the caller's, frame_bytes = row_bytes */
	bool skip_bad;
	uint64_t row;               /* objects seen so far, good or bad */
	int state;                  /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;      /* a failed reader stays failed */
};

static int mp_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct mp_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, mp_rd_known, "format msgpack", err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the msgpack reader");
	r->in = a->in;
	r->lim = *a->limits;
	/* proto_scan's frame is our row: refused from its header on. */
	r->lim.frame_bytes = a->limits->row_bytes;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	*state = r;
	return 0;
}

/* Turns the scanner's refusal of the object at file offset start into the
 * reader's error: positions in the file, the row named. */
static int scan_error(const struct mp_rd *r, uint64_t start, const struct rowd_error *e,
                      struct rowd_error *err)
{
	uint64_t at = start + (uint64_t)(e->offset > 0 ? e->offset : 0);
	unsigned long long row = (unsigned long long)r->row + 1;

	err->line = -1;
	err->row = (int64_t)row;
	err->offset = (int64_t)at;
	if (e->code == ROWD_EPROTO)             /* the only one: reserved 0xc1 */
		return rowd_error_set(err, ROWD_EFORMAT,
		                      "row %llu: reserved byte 0xc1 at offset %" PRIu64
		                      " (not msgpack)", row, at);
	/* The scanner words its frame limit for requests; here it is row_bytes,
	 * and the row as a whole is at fault, not the token that crossed it. */
	if (strncmp(e->message, "frame exceeds", 13) == 0) {
		err->offset = (int64_t)start;
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "row %llu at offset %" PRIu64
		                      ": larger than the row_bytes limit (%zu)",
		                      row, start, r->lim.row_bytes);
	}
	return rowd_error_set(err, e->code, "row %llu: %s at offset %" PRIu64, row, e->message,
	                      at);
}

static int truncated(const struct mp_rd *r, uint64_t start, struct rowd_error *err)
{
	err->line = -1;
	err->row = (int64_t)r->row + 1;
	err->offset = (int64_t)start;
	return rowd_error_set(err, ROWD_EFORMAT,
	                      "truncated msgpack at offset %" PRIu64 ": row %llu ends early "
	                      "(the data stops at offset %" PRIu64 ")",
	                      start, (unsigned long long)r->row + 1,
	                      start + input_avail(r->in));
}

/* Finds the end of the next object, which then starts at input_ptr().
 * Returns 1 with *len, 0 at a clean end of the data, -1 on error. The
 * scanner resumes where it stopped after each refill (its positions are
 * relative to the object, which refills move but keep whole). */
static int next_object(struct mp_rd *r, size_t *len, struct rowd_error *err)
{
	struct input *in = r->in;
	struct proto_scanner sc;

	proto_scanner_init(&sc);
	for (;;) {
		size_t avail = input_avail(in);
		uint64_t start = in->consumed;

		if (avail > 0) {
			struct rowd_error e;
			int rc;

			rowd_error_clear(&e);
			rc = proto_scan(&sc, input_ptr(in), avail, &r->lim, len, &e);
			if (rc > 0)
				return 1;
			if (rc < 0)
				return scan_error(r, start, &e, err);
			if (in->eof)
				return truncated(r, start, err);
		} else if (in->eof) {
			return 0;
		}
		if (input_fill(in, err) < 0)
			return -1;
	}
}

static int bad_row(const struct mp_rd *r, uint64_t start, size_t at, const char *why,
                   struct rowd_error *err)
{
	err->line = -1;
	err->row = (int64_t)r->row;
	err->offset = (int64_t)(start + at);
	if (at == 0)
		return rowd_error_set(err, ROWD_EFORMAT,
		                      "row %llu at offset %" PRIu64 ": expected a map, got %s",
		                      (unsigned long long)r->row, start, why);
	return rowd_error_set(err, ROWD_EFORMAT,
	                      "row %llu at offset %" PRIu64 ": %s at offset %" PRIu64,
	                      (unsigned long long)r->row, start, why, start + at);
}

static int mp_fail(struct mp_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int mp_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                      uint64_t *skipped, struct rowd_error *err)
{
	struct mp_rd *r = state;
	struct input *in = r->in;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	while (r->state == 0 && n < max) {
		uint64_t start = in->consumed;
		const char *why;
		size_t len = 0, at;
		int rc = next_object(r, &len, err);

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc < 0) {
			*nrows = n;
			return mp_fail(r, err);
		}
		r->row++;
		why = row_problem((const uint8_t *)input_ptr(in), len, &at);
		if (why) {
			if (r->skip_bad) {
				input_consume(in, len);
				++*skipped;
				continue;
			}
			bad_row(r, start, at, why, err);
			*nrows = n;
			return mp_fail(r, err);
		}
		if (mpbuf_append(out, input_ptr(in), len) < 0) {
			rowd_error_set(err, ROWD_ENOMEM, "out of memory for rows");
			*nrows = n;
			return mp_fail(r, err);
		}
		input_consume(in, len);
		n++;
	}
	*nrows = n;
	return r->state;
}

static void mp_rd_close(void *state)
{
	free(state);
}

/* ---- writer ------------------------------------------------------------ */

struct mp_wr {
	struct output *out;
	msgpack_packer pk;
	uint64_t row;
};

static int mp_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct mp_wr *w;

	if (opts_check_known(a->options, mp_wr_known, "writing format msgpack", err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the msgpack writer");
	w->out = a->out;
	msgpack_packer_init(&w->pk, &w->out->buf, mpbuf_packer_write);
	*state = w;
	return 0;
}

/* Whether every string in o is UTF-8: what the reader demands, so that
 * the file written reads back. Depth is bounded by the request limits. */
static bool strings_valid(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return proto_utf8_valid(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!strings_valid(&o->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!strings_valid(&o->via.map.ptr[i].key) ||
			    !strings_valid(&o->via.map.ptr[i].val))
				return false;
		return true;
	default:
		return true;
	}
}

static int check_row(const struct mp_wr *w, const msgpack_object *row, struct rowd_error *err)
{
	unsigned long long n = (unsigned long long)w->row;

	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a row must be a map", n);
	for (uint32_t i = 0; i < row->via.map.size; i++)
		if (row->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings", n);
	if (!strings_valid(row))
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a string is not valid UTF-8", n);
	return 0;
}

static int mp_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct mp_wr *w = state;
	size_t start = w->out->buf.len;

	w->row++;
	if (check_row(w, row, err) < 0)
		return -1;
	if (msgpack_pack_object(&w->pk, *row) != 0) {
		w->out->buf.len = start;
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing row %llu",
		                      (unsigned long long)w->row);
	}
	return output_flush_if_full(w->out, err);
}

static int mp_wr_finish(void *state, struct rowd_error *err)
{
	(void)state;
	(void)err;
	return 0;
}

static void mp_wr_close(void *state)
{
	free(state);
}

/* ---- detection --------------------------------------------------------- */

/* msgpack when the head starts with a map and every object that ends in
 * it is a row (the last one may be cut by the head's end). Checking them
 * all keeps text that merely starts with a byte in 0x80..0x8f (0x80 is
 * the euro sign in windows-1252: an empty fixmap) or a BSON document
 * (its length byte can look like a fixmap; its keys are not strings)
 * from scoring. */
static int mp_probe(const char *head, size_t n)
{
	struct rowd_limits lim;
	size_t off = 0, rows = 0;

	if (n == 0 || !is_map_byte((uint8_t)head[0]))
		return 0;
	rowd_limits_default(&lim);
	while (off < n) {
		struct proto_scanner sc;
		struct rowd_error e;
		size_t len = 0, at;
		int rc;

		proto_scanner_init(&sc);
		rc = proto_scan(&sc, head + off, n - off, &lim, &len, &e);
		if (rc < 0)
			return 0;
		if (rc == 0)
			break;
		if (row_problem((const uint8_t *)head + off, len, &at))
			return 0;
		rows++;
		off += len;
	}
	return rows > 0 ? 70 : 0;
}

static const char *const mp_extensions[] = { "msgpack", "mp", NULL };

const struct format_ops format_msgpack = {
	.name = "msgpack",
	.extensions = mp_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_NESTED |
	        FMT_CAP_STREAM | FMT_CAP_BINARY,
	.probe = mp_probe,
	.rd_open = mp_rd_open,
	.rd_next = mp_rd_next,
	.rd_columns = NULL,
	.rd_close = mp_rd_close,
	.wr_open = mp_wr_open,
	.wr_row = mp_wr_row,
	.wr_finish = mp_wr_finish,
	.wr_close = mp_wr_close,
};
