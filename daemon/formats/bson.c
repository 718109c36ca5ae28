/* BSON (.bson, bsonspec.org 1.1): concatenated documents, one per row, as
 * mongodump and bsondump write them.
 *
 * Written here rather than on libbson: libbson is not packaged on every
 * machine we build on (our build machines cannot install it), and BSON is
 * small. A reader of our own also packs each row straight into the answer
 * buffer, with the limits and error positions the other formats give,
 * where libbson would build a bson_t and then be walked again.
 *
 * Reader. A document's int32 length is checked against row_bytes before
 * its bytes are buffered (ELIMIT), then the whole document is in the input
 * window and is walked once per level: the first pass over a level checks
 * every element's framing (type byte, NUL-terminated key, value lengths
 * inside the document, the 0x00 terminator exactly where the length says)
 * and counts the elements for the msgpack map header; the second packs
 * them, descending into embedded documents the same way. Strings and keys
 * must be UTF-8, booleans 0 or 1; nesting is bounded by the depth limit,
 * entries by the elements limit and strings by str_bytes (ELIMIT).
 *
 * BSON to msgpack:
 *   double -> float64; string, JavaScript code, symbol -> str;
 *   document -> map; array -> array (in element order: the keys "0",
 *   "1", ... are not checked, as pymongo and libbson do not check them);
 *   binary -> bin, any subtype (subtype 2, the old binary, without its
 *   redundant inner length, which must agree); undefined, null -> nil;
 *   ObjectId -> 24 lowercase hex digits; bool -> bool;
 *   UTC datetime -> ISO 8601 text with milliseconds and Z,
 *   "2024-01-31T12:00:00.000Z" (what JSON output and a person expect; see
 *   bson_value.h for years past 9999); regex -> "/pattern/flags";
 *   int32, int64 -> int; timestamp -> {"t": seconds, "i": increment}
 *   (mongoexport's reading; the raw uint64 means nothing to a reader);
 *   decimal128 -> str, exactly as the BSON decimal128 spec prints it;
 *   min key, max key -> "MinKey", "MaxKey";
 *   the deprecated DBPointer -> {"$ref": namespace, "$id": hex id} and
 *   code with scope -> {"$code": code, "$scope": {...}}, as extended JSON
 *   names their parts.
 *
 * Errors. Bad bytes are EFORMAT naming the document (row) number, the
 * document's offset and the offset of the fault, in decoded bytes. A
 * document whose length is intact (at least 5, within row_bytes, all its
 * bytes there and its last byte 0x00) has a known end, so on_error "skip"
 * steps over a fault inside it. A length below 5, a missing terminator
 * (the length lies), a limit or a truncated tail end the read even when
 * skipping: a stream cut inside a document is EFORMAT, never a quiet EOF.
 *
 * Writer: each row (a map) becomes a document. str -> string, integers ->
 * int32 when they fit, else int64; a uint64 above INT64_MAX is EINVAL
 * naming the field (a double would change the number silently). float32
 * and float64 -> double, bool, nil -> null, bin -> binary subtype 0, map
 * -> document, array -> array keyed "0", "1", ...; ext values have no BSON
 * type: EINVAL. Keys must be UTF-8 strings without NUL, strings UTF-8. A
 * document over 16 MiB, the size MongoDB and the drivers accept, is
 * ELIMIT: the file stays readable by them.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bson_value.h"
#include "format.h"
#include "mpbin.h"
#include "options.h"

#define BSON_MAX_DOC (16u << 20)
/* MongoDB refuses documents nested deeper than 100; so does the writer. */
#define BSON_WR_MAX_DEPTH 100

static const char *const bs_rd_known[] = { "on_error", NULL };
static const char *const bs_wr_known[] = { NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* ---- one document to msgpack ------------------------------------------- */

/* A document being converted. Offsets are from the document's first
 * byte; a fault records where and why. */
struct bs_doc {
	const uint8_t *p;
	struct mpbuf *out;
	const struct rowd_limits *lim;
	size_t max_depth;
	enum rowd_err code;
	size_t at;
	char why[160];
};

__attribute__((format(printf, 4, 5)))
static int fault(struct bs_doc *d, enum rowd_err code, size_t at, const char *fmt, ...)
{
	va_list ap;

	d->code = code;
	d->at = at;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct bs_doc *d)
{
	return fault(d, ROWD_ENOMEM, 0, "out of memory for rows");
}

/* Whether n bytes from v stay before end (the enclosing terminator). */
static int need(struct bs_doc *d, size_t v, size_t n, size_t end, const char *what)
{
	if (n <= end - v)
		return 0;
	return fault(d, ROWD_EFORMAT, v, "%s runs past the end of its document", what);
}

/* A string value (int32 length counting the NUL, bytes, NUL) at v. */
static int string_size(struct bs_doc *d, size_t v, size_t end, const char *what, size_t *size)
{
	int32_t n;

	if (need(d, v, 4, end, what) < 0)
		return -1;
	n = bson_i32(d->p + v);
	if (n < 1)
		return fault(d, ROWD_EFORMAT, v, "%s length %" PRId32 " is below 1 (it counts the "
		             "trailing NUL)", what, n);
	if (need(d, v, 4 + (size_t)n, end, what) < 0)
		return -1;
	if (d->p[v + 4 + (size_t)n - 1] != 0)
		return fault(d, ROWD_EFORMAT, v + 4 + (size_t)n - 1, "%s does not end with NUL", what);
	*size = 4 + (size_t)n;
	return 0;
}

/* An embedded document (int32 length, elements, 0x00) at v. */
static int doc_size(struct bs_doc *d, size_t v, size_t end, const char *what, size_t *size)
{
	int32_t n;

	if (need(d, v, 4, end, what) < 0)
		return -1;
	n = bson_i32(d->p + v);
	if (n < 5)
		return fault(d, ROWD_EFORMAT, v, "%s length %" PRId32 " is below BSON's minimum of 5",
		             what, n);
	if (need(d, v, (size_t)n, end, what) < 0)
		return -1;
	if (d->p[v + (size_t)n - 1] != 0)
		return fault(d, ROWD_EFORMAT, v + (size_t)n - 1,
		             "%s does not end with 0x00 where its length says", what);
	*size = (size_t)n;
	return 0;
}

/* A NUL-terminated cstring at v, before end: its length without NUL. */
static int cstring_len(struct bs_doc *d, size_t v, size_t end, const char *what, size_t *len)
{
	const uint8_t *z = v < end ? memchr(d->p + v, 0, end - v) : NULL;

	if (!z)
		return fault(d, ROWD_EFORMAT, v, "%s is not NUL-terminated inside its document", what);
	*len = (size_t)(z - (d->p + v));
	return 0;
}

/* The bytes the value of type t at v takes, checked to end before end. */
static int value_size(struct bs_doc *d, uint8_t t, size_t v, size_t end, size_t *size)
{
	size_t a = 0, b = 0;
	int32_t n;

	switch (t) {
	case 0x01: case 0x09: case 0x11: case 0x12:
		*size = 8;
		return need(d, v, 8, end, "an 8-byte value");
	case 0x07:
		*size = 12;
		return need(d, v, 12, end, "an ObjectId");
	case 0x08:
		*size = 1;
		return need(d, v, 1, end, "a boolean");
	case 0x10:
		*size = 4;
		return need(d, v, 4, end, "an int32");
	case 0x13:
		*size = 16;
		return need(d, v, 16, end, "a decimal128");
	case 0x06: case 0x0a: case 0x7f: case 0xff:
		*size = 0;
		return 0;
	case 0x02: case 0x0d: case 0x0e:
		return string_size(d, v, end, "a string", size);
	case 0x03:
		return doc_size(d, v, end, "an embedded document", size);
	case 0x04:
		return doc_size(d, v, end, "an array", size);
	case 0x05:
		if (need(d, v, 5, end, "a binary") < 0)
			return -1;
		n = bson_i32(d->p + v);
		if (n < 0)
			return fault(d, ROWD_EFORMAT, v, "binary length %" PRId32 " is negative", n);
		if (need(d, v, 5 + (size_t)n, end, "a binary") < 0)
			return -1;
		/* Subtype 2 repeats the length inside: the two must agree. */
		if (d->p[v + 4] == 0x02 && (n < 4 || bson_i32(d->p + v + 5) != n - 4))
			return fault(d, ROWD_EFORMAT, v, "old binary (subtype 2): inner length "
			             "disagrees with the outer %" PRId32, n);
		*size = 5 + (size_t)n;
		return 0;
	case 0x0b:
		if (cstring_len(d, v, end, "a regex pattern", &a) < 0 ||
		    cstring_len(d, v + a + 1, end, "regex options", &b) < 0)
			return -1;
		*size = a + 1 + b + 1;
		return 0;
	case 0x0c:
		if (string_size(d, v, end, "a DBPointer namespace", &a) < 0 ||
		    need(d, v + a, 12, end, "a DBPointer id") < 0)
			return -1;
		*size = a + 12;
		return 0;
	case 0x0f:
		if (need(d, v, 4, end, "code with scope") < 0)
			return -1;
		n = bson_i32(d->p + v);
		if (n < 14)
			return fault(d, ROWD_EFORMAT, v, "code with scope length %" PRId32
			             " is below its minimum of 14", n);
		if (need(d, v, (size_t)n, end, "code with scope") < 0 ||
		    string_size(d, v + 4, v + (size_t)n, "its code", &a) < 0 ||
		    doc_size(d, v + 4 + a, v + (size_t)n, "its scope", &b) < 0)
			return -1;
		if (4 + a + b != (size_t)n)
			return fault(d, ROWD_EFORMAT, v, "code with scope length %" PRId32
			             " disagrees with its parts (%zu bytes)", n, 4 + a + b);
		*size = (size_t)n;
		return 0;
	default:
		/* scan_level refused every other type before. */
		return fault(d, ROWD_EFORMAT, v, "unknown element type 0x%02x", t);
	}
}

static bool known_type(uint8_t t)
{
	return (t >= 0x01 && t <= 0x13) || t == 0x7f || t == 0xff;
}

/* Walks the elements of the document at off (length checked, ends with
 * 0x00): every one framed right, ending exactly at the terminator.
 * Counts them. */
static int scan_level(struct bs_doc *d, size_t off, size_t len, uint32_t *count)
{
	size_t end = off + len - 1, e = off + 4;
	uint64_t n = 0;

	while (e < end) {
		uint8_t t = d->p[e];
		size_t klen = 0, size = 0;

		if (t == 0)
			return fault(d, ROWD_EFORMAT, e,
			             "0x00 (end of document) before the end its length says");
		if (!known_type(t))
			return fault(d, ROWD_EFORMAT, e, "unknown element type 0x%02x", t);
		if (cstring_len(d, e + 1, end, "a key", &klen) < 0 ||
		    value_size(d, t, e + 1 + klen + 1, end, &size) < 0)
			return -1;
		if (++n > d->lim->elements)
			return fault(d, ROWD_ELIMIT, e, "a document has more entries than the "
			             "elements limit (%zu)", d->lim->elements);
		e += 1 + klen + 1 + size;
	}
	*count = (uint32_t)n;
	return 0;
}

static int put_str(struct bs_doc *d, const char *what, size_t at, const uint8_t *s, size_t n)
{
	size_t ok;

	if (n > d->lim->str_bytes)
		return fault(d, ROWD_ELIMIT, at, "%s is longer than the str_bytes limit (%zu)", what,
		             d->lim->str_bytes);
	ok = proto_utf8_prefix(s, n);
	if (ok < n)
		return fault(d, ROWD_EFORMAT, at + ok, "%s is not valid UTF-8", what);
	return mpbuf_str(d->out, (const char *)s, n) < 0 ? nomem(d) : 0;
}

static int put_key(struct bs_doc *d, const char *k)
{
	return mpbuf_cstr(d->out, k) < 0 ? nomem(d) : 0;
}

static int put_bin(struct bs_doc *d, size_t at, const uint8_t *s, size_t n)
{
	if (n > d->lim->str_bytes)
		return fault(d, ROWD_ELIMIT, at, "a binary is longer than the str_bytes limit (%zu)",
		             d->lim->str_bytes);
	return mpbin_put(d->out, s, n) < 0 ? nomem(d) : 0;
}

static int put_text(struct bs_doc *d, const char *s, size_t n)
{
	return mpbuf_str(d->out, s, n) < 0 ? nomem(d) : 0;
}

static int emit_doc(struct bs_doc *d, size_t off, size_t len, bool array, size_t depth);

/* A map of the given entries opened at depth: the container checks. */
static int open_map(struct bs_doc *d, size_t at, uint32_t n, size_t depth)
{
	if (depth > d->max_depth)
		return fault(d, ROWD_ELIMIT, at, "nested deeper than the depth limit (%zu)",
		             d->max_depth);
	return mpbuf_map_hdr(d->out, n) < 0 ? nomem(d) : 0;
}

/* Packs the value of type t at v (framing checked by value_size); depth
 * is that of the container holding it. */
static int emit_value(struct bs_doc *d, uint8_t t, size_t v, size_t size, size_t depth)
{
	const uint8_t *p = d->p + v;
	char text[BSON_DEC128_TEXT > BSON_DATE_TEXT ? BSON_DEC128_TEXT : BSON_DATE_TEXT];
	size_t a, b;
	int rc;

	switch (t) {
	case 0x01:
		rc = mpbuf_double(d->out, bson_double(p));
		break;
	case 0x02: case 0x0d: case 0x0e:
		return put_str(d, "a string", v + 4, p + 4, size - 5);
	case 0x03: case 0x04:
		return emit_doc(d, v, size, t == 0x04, depth + 1);
	case 0x05:
		a = bson_u32(p);
		if (p[4] == 0x02)
			return put_bin(d, v, p + 9, a - 4);
		return put_bin(d, v, p + 5, a);
	case 0x06: case 0x0a:
		rc = mpbuf_nil(d->out);
		break;
	case 0x07:
		return put_text(d, text, bson_oid_text(p, text));
	case 0x08:
		if (p[0] > 1)
			return fault(d, ROWD_EFORMAT, v, "boolean byte 0x%02x is neither 0 nor 1", p[0]);
		rc = mpbuf_bool(d->out, p[0] == 1);
		break;
	case 0x09:
		return put_text(d, text, bson_datetime_text(bson_i64(p), text));
	case 0x0b: {
		size_t plen = strlen((const char *)p), flen = strlen((const char *)p + plen + 1);
		size_t m = 1 + plen + 1 + flen;
		char *s;

		if (plen + 1 + flen > d->lim->str_bytes)
			return fault(d, ROWD_ELIMIT, v, "a regex is longer than the str_bytes limit (%zu)",
			             d->lim->str_bytes);
		if (proto_utf8_prefix(p, plen) < plen || proto_utf8_prefix(p + plen + 1, flen) < flen)
			return fault(d, ROWD_EFORMAT, v, "a regex is not valid UTF-8");
		/* "/pattern/flags", written in place after a str header. */
		if (mpbuf_reserve(d->out, MP_STR_HDR_MAX + m) < 0)
			return nomem(d);
		mp_put_str_hdr(d->out, m);
		s = d->out->data + d->out->len;
		s[0] = '/';
		memcpy(s + 1, p, plen);
		s[1 + plen] = '/';
		memcpy(s + 2 + plen, p + plen + 1, flen);
		d->out->len += m;
		return 0;
	}
	case 0x0c:
		a = 4 + bson_u32(p);              /* the namespace string */
		if (open_map(d, v, 2, depth + 1) < 0 || put_key(d, "$ref") < 0 ||
		    put_str(d, "a DBPointer namespace", v + 4, p + 4, a - 5) < 0 ||
		    put_key(d, "$id") < 0)
			return -1;
		return put_text(d, text, bson_oid_text(p + a, text));
	case 0x0f:
		a = 4 + bson_u32(p + 4);          /* the code string */
		b = size - 4 - a;                 /* the scope document */
		if (open_map(d, v, 2, depth + 1) < 0 || put_key(d, "$code") < 0 ||
		    put_str(d, "code", v + 8, p + 8, a - 5) < 0 || put_key(d, "$scope") < 0)
			return -1;
		return emit_doc(d, v + 4 + a, b, false, depth + 2);
	case 0x10:
		rc = mpbuf_int(d->out, bson_i32(p));
		break;
	case 0x11:
		if (open_map(d, v, 2, depth + 1) < 0)
			return -1;
		/* Little-endian: the increment first, then the seconds. */
		rc = mpbuf_cstr(d->out, "t") < 0 || mpbuf_uint(d->out, bson_u32(p + 4)) < 0 ||
		     mpbuf_cstr(d->out, "i") < 0 || mpbuf_uint(d->out, bson_u32(p)) < 0 ? -1 : 0;
		break;
	case 0x12:
		rc = mpbuf_int(d->out, bson_i64(p));
		break;
	case 0x13:
		return put_text(d, text, bson_decimal128_text(p, text));
	case 0x7f:
		return put_text(d, "MaxKey", 6);
	case 0xff:
		return put_text(d, "MinKey", 6);
	default:
		/* scan_level refused every other type. */
		return fault(d, ROWD_EFORMAT, v, "unknown element type 0x%02x", t);
	}
	return rc < 0 ? nomem(d) : 0;
}

/* Packs the document at off (length checked, ends with 0x00) as a map, or
 * as an array of its values, at the given depth (the row is depth 1). */
static int emit_doc(struct bs_doc *d, size_t off, size_t len, bool array, size_t depth)
{
	size_t end = off + len - 1, e = off + 4;
	uint32_t count = 0;

	if (depth > d->max_depth)
		return fault(d, ROWD_ELIMIT, off, "nested deeper than the depth limit (%zu)",
		             d->max_depth);
	if (scan_level(d, off, len, &count) < 0)
		return -1;
	if ((array ? mpbuf_array_hdr(d->out, count) : mpbuf_map_hdr(d->out, count)) < 0)
		return nomem(d);
	while (e < end) {
		uint8_t t = d->p[e];
		size_t klen = strlen((const char *)d->p + e + 1), v = e + 1 + klen + 1, size = 0;

		/* Framing was checked by scan_level: this cannot fail. */
		if (value_size(d, t, v, end, &size) < 0)
			return -1;
		if (!array && put_str(d, "a key", e + 1, d->p + e + 1, klen) < 0)
			return -1;
		if (emit_value(d, t, v, size, depth) < 0)
			return -1;
		e = v + size;
	}
	return 0;
}

/* ---- reader ------------------------------------------------------------ */

struct bs_rd {
	struct input *in;
	struct rowd_limits lim;
	bool skip_bad;
	uint64_t row;               /* documents seen so far, good or bad */
	int state;                  /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;      /* a failed reader stays failed */
};

static size_t max_depth_of(const struct rowd_limits *lim)
{
	/* Rows are read by msgpack decoders bounded like proto's scanner. */
	return lim->depth < PROTO_SCAN_MAX_DEPTH ? lim->depth : PROTO_SCAN_MAX_DEPTH;
}

static int bs_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct bs_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, bs_rd_known, "format bson", err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the bson reader");
	r->in = a->in;
	r->lim = *a->limits;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	*state = r;
	return 0;
}

static int doc_error(const struct bs_rd *r, uint64_t row, uint64_t start, uint64_t at,
                     enum rowd_err code, const char *why, struct rowd_error *err)
{
	err->line = -1;
	err->row = (int64_t)row;
	err->offset = (int64_t)at;
	return rowd_error_set(err, code, "document %" PRIu64 " at offset %" PRIu64
	                      ": %s at offset %" PRIu64, row, start, why, at);
}

/* Makes the next document whole in the input window. Returns 1 with *len,
 * 0 at a clean end of the data, -1 on error. */
static int next_document(struct bs_rd *r, size_t *len, struct rowd_error *err)
{
	struct input *in = r->in;
	uint64_t row = r->row + 1;

	for (;;) {
		size_t avail = input_avail(in);
		uint64_t start = in->consumed;

		if (avail >= 4) {
			const uint8_t *p = (const uint8_t *)input_ptr(in);
			int32_t n = bson_i32(p);

			err->line = -1;
			err->row = (int64_t)row;
			err->offset = (int64_t)start;
			if (n < 5)
				return rowd_error_set(err, ROWD_EFORMAT, "document %" PRIu64 " at offset %"
				                      PRIu64 ": length %" PRId32 " is below BSON's minimum "
				                      "of 5", row, start, n);
			if ((size_t)n > r->lim.row_bytes)
				return rowd_error_set(err, ROWD_ELIMIT, "document %" PRIu64 " at offset %"
				                      PRIu64 ": its length, %" PRId32 " bytes, is above the "
				                      "row_bytes limit (%zu)", row, start, n,
				                      r->lim.row_bytes);
			if (avail >= (size_t)n) {
				if (p[n - 1] != 0)
					return doc_error(r, row, start, start + (uint64_t)n - 1, ROWD_EFORMAT,
					                 "no 0x00 where its length says it ends (a wrong "
					                 "length?)", err);
				*len = (size_t)n;
				return 1;
			}
		}
		if (in->eof) {
			if (avail == 0)
				return 0;
			err->line = -1;
			err->row = (int64_t)row;
			err->offset = (int64_t)start;
			if (avail < 4)
				return rowd_error_set(err, ROWD_EFORMAT, "truncated BSON at offset %" PRIu64
				                      ": document %" PRIu64 " is cut inside its length "
				                      "(%zu of 4 bytes)", start, row, avail);
			return rowd_error_set(err, ROWD_EFORMAT, "truncated BSON at offset %" PRIu64
			                      ": document %" PRIu64 " ends early (its length says %"
			                      PRId32 " bytes, the data stops at offset %" PRIu64 ")",
			                      start, row, bson_i32((const uint8_t *)input_ptr(in)),
			                      start + avail);
		}
		if (input_fill(in, err) < 0)
			return -1;
	}
}

static int bs_fail(struct bs_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int bs_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                      uint64_t *skipped, struct rowd_error *err)
{
	struct bs_rd *r = state;
	struct input *in = r->in;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	while (r->state == 0 && n < max) {
		uint64_t start = in->consumed;
		size_t len = 0, mark = out->len;
		struct bs_doc d = { .out = out, .lim = &r->lim, .max_depth = max_depth_of(&r->lim) };
		int rc = next_document(r, &len, err);

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc < 0) {
			*nrows = n;
			return bs_fail(r, err);
		}
		r->row++;
		d.p = (const uint8_t *)input_ptr(in);
		if (emit_doc(&d, 0, len, false, 1) < 0) {
			out->len = mark;
			if (d.code == ROWD_EFORMAT && r->skip_bad) {
				input_consume(in, len);
				++*skipped;
				continue;
			}
			if (d.code == ROWD_ENOMEM)
				rowd_error_set(err, ROWD_ENOMEM, "%s", d.why);
			else
				doc_error(r, r->row, start, start + d.at, d.code, d.why, err);
			*nrows = n;
			return bs_fail(r, err);
		}
		input_consume(in, len);
		n++;
	}
	*nrows = n;
	return r->state;
}

static void bs_rd_close(void *state)
{
	free(state);
}

/* ---- writer ------------------------------------------------------------ */

struct bs_wr {
	struct output *out;
	uint64_t row;
};

static int bs_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct bs_wr *w;

	if (opts_check_known(a->options, bs_wr_known, "writing format bson", err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the bson writer");
	w->out = a->out;
	*state = w;
	return 0;
}

static int wr_nomem(const struct bs_wr *w, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing row %" PRIu64, w->row);
}

static int wr_too_big(const struct bs_wr *w, size_t n, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ELIMIT, "row %" PRIu64 ": the document would be at least "
	                      "%zu bytes, above BSON's 16 MiB maximum (%u bytes)", w->row, n,
	                      BSON_MAX_DOC);
}

/* An element header: type byte and key (checked: UTF-8, no NUL). */
static int put_elem_head(const struct bs_wr *w, uint8_t t, const char *k, size_t klen,
                         struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;

	/* An empty key comes with a NULL pointer from msgpack-c. */
	if (klen && memchr(k, 0, klen))
		return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": key '%.60s' holds a NUL "
		                      "byte, which BSON keys cannot", w->row, k);
	if (!proto_utf8_valid(k, klen))
		return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": a key is not valid UTF-8",
		                      w->row);
	if (klen > BSON_MAX_DOC)
		return wr_too_big(w, klen, err);
	if (mpbuf_reserve(b, klen + 2) < 0)
		return wr_nomem(w, err);
	mp_put_u8(b, t);
	if (klen)
		memcpy(b->data + b->len, k, klen);
	b->len += klen;
	mp_put_u8(b, 0);
	return 0;
}

static int put_le(const struct bs_wr *w, uint64_t v, unsigned n, struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;

	if (mpbuf_reserve(b, 8) < 0)
		return wr_nomem(w, err);
	bson_put_u64((uint8_t *)b->data + b->len, v);
	b->len += n;
	return 0;
}

static int put_bytes(const struct bs_wr *w, const void *p, size_t n, struct rowd_error *err)
{
	if (n > BSON_MAX_DOC)
		return wr_too_big(w, n, err);
	return mpbuf_append(&w->out->buf, p, n) < 0 ? wr_nomem(w, err) : 0;
}

static int put_doc(const struct bs_wr *w, const msgpack_object *o, unsigned depth,
                   struct rowd_error *err);

/* One element: key k, value o. */
static int put_elem(const struct bs_wr *w, const char *k, size_t klen, const msgpack_object *o,
                    unsigned depth, struct rowd_error *err)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return put_elem_head(w, 0x0a, k, klen, err);
	case MSGPACK_OBJECT_BOOLEAN:
		if (put_elem_head(w, 0x08, k, klen, err) < 0)
			return -1;
		return put_le(w, o->via.boolean ? 1 : 0, 1, err);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": field '%.*s': %" PRIu64
			                      " is above BSON's largest integer (int64)", w->row,
			                      (int)(klen > 60 ? 60 : klen), k, o->via.u64);
		/* It fits int64: written as the negative ones are. */
		/* fall through */
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 >= INT32_MIN && o->via.i64 <= INT32_MAX)
			return put_elem_head(w, 0x10, k, klen, err) < 0 ? -1 :
			       put_le(w, (uint32_t)(int32_t)o->via.i64, 4, err);
		return put_elem_head(w, 0x12, k, klen, err) < 0 ? -1 :
		       put_le(w, (uint64_t)o->via.i64, 8, err);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: {
		uint64_t u;

		memcpy(&u, &o->via.f64, sizeof u);
		return put_elem_head(w, 0x01, k, klen, err) < 0 ? -1 : put_le(w, u, 8, err);
	}
	case MSGPACK_OBJECT_STR:
		if (!proto_utf8_valid(o->via.str.ptr, o->via.str.size))
			return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": field '%.*s': the "
			                      "string is not valid UTF-8", w->row,
			                      (int)(klen > 60 ? 60 : klen), k);
		if (o->via.str.size >= BSON_MAX_DOC)
			return wr_too_big(w, o->via.str.size, err);
		return put_elem_head(w, 0x02, k, klen, err) < 0 ||
		       put_le(w, o->via.str.size + 1, 4, err) < 0 ||
		       put_bytes(w, o->via.str.ptr, o->via.str.size, err) < 0 ||
		       put_bytes(w, "", 1, err) < 0 ? -1 : 0;
	case MSGPACK_OBJECT_BIN:
		if (o->via.bin.size >= BSON_MAX_DOC)
			return wr_too_big(w, o->via.bin.size, err);
		return put_elem_head(w, 0x05, k, klen, err) < 0 ||
		       put_le(w, o->via.bin.size, 4, err) < 0 ||
		       put_bytes(w, "", 1, err) < 0 ||          /* subtype 0, generic */
		       put_bytes(w, o->via.bin.ptr, o->via.bin.size, err) < 0 ? -1 : 0;
	case MSGPACK_OBJECT_MAP:
	case MSGPACK_OBJECT_ARRAY:
		if (put_elem_head(w, o->type == MSGPACK_OBJECT_MAP ? 0x03 : 0x04, k, klen, err) < 0)
			return -1;
		return put_doc(w, o, depth + 1, err);
	default:
		return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": field '%.*s': a msgpack "
		                      "ext value has no BSON type", w->row,
		                      (int)(klen > 60 ? 60 : klen), k);
	}
}

/* A map as a document, an array as one keyed "0", "1", ... */
static int put_doc(const struct bs_wr *w, const msgpack_object *o, unsigned depth,
                   struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;
	size_t at = b->len, size;

	if (depth > BSON_WR_MAX_DEPTH)
		return rowd_error_set(err, ROWD_ELIMIT, "row %" PRIu64 ": nested deeper than BSON "
		                      "allows (%d levels)", w->row, BSON_WR_MAX_DEPTH);
	if (put_le(w, 0, 4, err) < 0)             /* the length, patched below */
		return -1;
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (k->type != MSGPACK_OBJECT_STR)
				return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": keys must be "
				                      "strings", w->row);
			if (put_elem(w, k->via.str.ptr, k->via.str.size, &o->via.map.ptr[i].val,
			             depth, err) < 0)
				return -1;
			if (b->len - at > BSON_MAX_DOC)
				return wr_too_big(w, b->len - at, err);
		}
	} else {
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			char k[12];
			int kn = snprintf(k, sizeof k, "%" PRIu32, i);

			if (put_elem(w, k, (size_t)kn, &o->via.array.ptr[i], depth, err) < 0)
				return -1;
			if (b->len - at > BSON_MAX_DOC)
				return wr_too_big(w, b->len - at, err);
		}
	}
	if (put_bytes(w, "", 1, err) < 0)
		return -1;
	size = b->len - at;
	if (size > BSON_MAX_DOC)
		return wr_too_big(w, size, err);
	bson_put_u32((uint8_t *)b->data + at, (uint32_t)size);
	return 0;
}

static int bs_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct bs_wr *w = state;
	size_t start = w->out->buf.len;

	w->row++;
	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": a row must be a map", w->row);
	if (put_doc(w, row, 1, err) < 0) {
		w->out->buf.len = start;             /* nothing of a bad row */
		return -1;
	}
	return output_flush_if_full(w->out, err);
}

static int bs_wr_finish(void *state, struct rowd_error *err)
{
	(void)state;
	(void)err;
	return 0;
}

static void bs_wr_close(void *state)
{
	free(state);
}

/* ---- detection --------------------------------------------------------- */

/* BSON when the head starts with a plausible document: a length from 5 to
 * 16 MiB (text cannot give that: its fourth byte would be 0x00 or 0x01),
 * and every document whole in the head converts cleanly. A document
 * longer than the head needs a known first element type and a
 * NUL-terminated UTF-8 key. Either scores above JSON's 80: a length of
 * 91 starts with '[', and text never has those NUL bytes. */
static int bs_probe(const char *head, size_t n)
{
	const uint8_t *p = (const uint8_t *)head;
	struct rowd_limits lim;
	struct mpbuf scratch;
	size_t off = 0, docs = 0;
	int score = 95;

	if (n < 5)
		return 0;
	rowd_limits_default(&lim);
	mpbuf_init(&scratch);
	while (n - off >= 5) {
		int32_t len = bson_i32(p + off);
		struct bs_doc d = { .p = p + off, .out = &scratch, .lim = &lim,
		                    .max_depth = max_depth_of(&lim) };

		if (len < 5 || (uint32_t)len > BSON_MAX_DOC) {
			score = 0;
			break;
		}
		if ((size_t)len > n - off) {
			/* Cut by the head's end: the first element must look right. */
			if (docs == 0) {
				const uint8_t *z = memchr(p + 5, 0, n - 5);
				uint8_t t = p[4];

				if (!known_type(t) || !z ||
				    !proto_utf8_valid(p + 5, (size_t)(z - (p + 5))))
					score = 0;
				else
					score = 85;
			}
			break;
		}
		scratch.len = 0;
		if (p[off + (size_t)len - 1] != 0 || emit_doc(&d, 0, (size_t)len, false, 1) < 0) {
			score = 0;
			break;
		}
		docs++;
		off += (size_t)len;
	}
	mpbuf_free(&scratch);
	if (docs == 0 && score == 95)
		return 0;                 /* fewer than 5 bytes left, none whole */
	return score;
}

static const char *const bs_extensions[] = { "bson", NULL };

const struct format_ops format_bson = {
	.name = "bson",
	.extensions = bs_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_NESTED |
	        FMT_CAP_STREAM | FMT_CAP_BINARY,
	.probe = bs_probe,
	.rd_open = bs_rd_open,
	.rd_next = bs_rd_next,
	.rd_columns = NULL,
	.rd_close = bs_rd_close,
	.wr_open = bs_wr_open,
	.wr_row = bs_wr_row,
	.wr_finish = bs_wr_finish,
	.wr_close = bs_wr_close,
};
