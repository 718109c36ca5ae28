/* Avro binary decoding: one datum of a block into msgpack.
 *
 * Decoded straight into the answer buffer (no intermediate objects). The
 * data is untrusted: every length is checked against the bytes left
 * before it is used, every count against the elements limit and against
 * the fewest bytes its items could take, nesting against the depth limit
 * (recursive types end there), and the packed row against row_bytes as
 * it grows (an array of nulls costs nothing in Avro and a byte each in
 * msgpack).
 *
 * Values:
 *  - null, boolean, int, long, float (float32), double: the msgpack kind;
 *  - bytes, fixed: bin; string: str (UTF-8 checked); enum: its symbol;
 *  - union: the branch's value alone (no type tag);
 *  - array: array; map: map; record: map of its fields in schema order;
 *  - logical types as text: date "YYYY-MM-DD"; time-millis/-micros
 *    "HH:MM:SS.mmm" / ".uuuuuu"; timestamp-millis/-micros ISO 8601 in UTC
 *    with "Z" ("2024-01-02T03:04:05.123Z", always 3 or 6 fraction
 *    digits); local-timestamp-* the same without "Z"; years outside
 *    0000..9999 get a sign ("+10000-01-01"); decimal the exact digits of
 *    unscaled / 10^scale ("-12.30" for -1230 at scale 2); uuid the
 *    string itself, or 8-4-4-4-12 lowercase hex for fixed(16). Other
 *    logical types (duration, ...) are their base type.
 *
 * Varints longer than 10 bytes (long) or 5 (int), or whose value does
 * not fit, are EFORMAT; non-minimal encodings of a value are accepted, as
 * the reference implementations do.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "formats/avro.h"
#include "formats/civil.h"
#include "formats/mpbin.h"

int avro_read_long(const uint8_t *p, const uint8_t *end, int64_t *v, size_t *used)
{
	uint64_t u = 0;

	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;

		if (p + i >= end)
			return 0;
		b = p[i];
		/* The tenth byte holds bit 63 alone. */
		if (i == 9 && b > 1)
			return -1;
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*used = i + 1;
			*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return 1;
		}
	}
	return -1;
}

/* ---- errors ------------------------------------------------------------- */

static int fail(struct avro_dec *d, const uint8_t *at, enum rowd_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct avro_dec *d, const uint8_t *at, enum rowd_err code, const char *fmt, ...)
{
	va_list ap;

	d->code = code;
	d->at = (size_t)(at - d->base);
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct avro_dec *d)
{
	return fail(d, d->p, ROWD_ENOMEM, "out of memory for rows");
}

static int get_long(struct avro_dec *d, int64_t *v, const char *what)
{
	size_t used = 0;
	int rc = avro_read_long(d->p, d->end, v, &used);

	if (rc == 0)
		return fail(d, d->p, ROWD_EFORMAT, "%s runs past the end of the block", what);
	if (rc < 0)
		return fail(d, d->p, ROWD_EFORMAT, "%s is an overlong varint", what);
	d->p += used;
	return 0;
}

static int get_int(struct avro_dec *d, int64_t *v, const char *what)
{
	const uint8_t *start = d->p;

	if (get_long(d, v, what) < 0)
		return -1;
	if (d->p - start > 5 || *v < INT32_MIN || *v > INT32_MAX)
		return fail(d, start, ROWD_EFORMAT, "%s is an overlong varint for an int", what);
	return 0;
}

/* A length (string, bytes, map key) that must fit in the bytes left. */
static int get_len(struct avro_dec *d, size_t *n, const char *what)
{
	const uint8_t *start = d->p;
	int64_t v;

	if (get_long(d, &v, what) < 0)
		return -1;
	if (v < 0)
		return fail(d, start, ROWD_EFORMAT, "%s has a negative length (%" PRId64 ")", what, v);
	if ((uint64_t)v > (uint64_t)(d->end - d->p))
		return fail(d, start, ROWD_EFORMAT,
		            "%s of %" PRId64 " bytes runs past the end of the block (%zu left)", what,
		            v, (size_t)(d->end - d->p));
	if ((uint64_t)v > d->max_str)
		return fail(d, start, ROWD_ELIMIT, "%s of %" PRId64 " bytes exceeds the str_bytes limit (%zu)",
		            what, v, d->max_str);
	*n = (size_t)v;
	return 0;
}

static int row_size(struct avro_dec *d)
{
	if (d->out->len - d->row_start > d->max_row)
		return fail(d, d->p, ROWD_ELIMIT, "the row exceeds the row_bytes limit (%zu)",
		            d->max_row);
	return 0;
}

/* ---- msgpack writers ------------------------------------------------------ */

static int put_str(struct avro_dec *d, const void *s, size_t n)
{
	return mpbuf_str(d->out, s, n) < 0 ? nomem(d) : 0;
}

static int put_bin(struct avro_dec *d, const uint8_t *s, size_t n)
{
	return mpbin_put(d->out, s, n) < 0 ? nomem(d) : 0;
}

/* Arrays and maps: the count is known only after the last block, so a
 * 5-byte header is reserved and shrunk to the smallest form at the end. */
static int hdr_open(struct avro_dec *d, size_t *at)
{
	if (mpbuf_reserve(d->out, 5) < 0)
		return nomem(d);
	*at = d->out->len;
	d->out->len += 5;
	return 0;
}

static void hdr_close(struct avro_dec *d, size_t at, uint64_t n, bool map)
{
	struct mpbuf *b = d->out;
	size_t body = b->len - at - 5, hs = n < 16 ? 1 : n < 65536 ? 3 : 5;
	size_t len;

	if (hs < 5)
		memmove(b->data + at + hs, b->data + at + 5, body);
	len = b->len;
	b->len = at;
	if (map)
		mp_put_map_hdr(b, (uint32_t)n);
	else
		mp_put_array_hdr(b, (uint32_t)n);
	b->len = len - (5 - hs);
}

/* ---- logical types ------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

size_t avro_fmt_date(int64_t days, char *buf, size_t cap)
{
	int64_t y;
	unsigned m, dd;
	int n;

	civil_from_days(days, &y, &m, &dd);
	if (y >= 0 && y <= 9999)
		n = snprintf(buf, cap, "%04" PRId64 "-%02u-%02u", y, m, dd);
	else
		n = snprintf(buf, cap, "%+05" PRId64 "-%02u-%02u", y, m, dd);
	return n < 0 ? 0 : (size_t)n;
}

/* t units of 10^-digits seconds since midnight, 0 <= t < one day. */
size_t avro_fmt_time(int64_t t, int digits, char *buf, size_t cap)
{
	int64_t unit = digits == 3 ? 1000 : 1000000;
	int64_t s = t / unit;
	int n = snprintf(buf, cap, "%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%0*" PRId64,
	                 s / 3600, s / 60 % 60, s % 60, digits, t % unit);

	return n < 0 ? 0 : (size_t)n;
}

size_t avro_fmt_timestamp(int64_t t, int digits, bool utc, char *buf, size_t cap)
{
	int64_t per_day = digits == 3 ? 86400000LL : 86400000000LL;
	int64_t days = floor_div(t, per_day);
	size_t n = avro_fmt_date(days, buf, cap);

	if (n + 1 >= cap)
		return n;
	buf[n++] = 'T';
	/* The remainder, not t - days * per_day: near INT64_MIN that product
	 * overflows (UBSan). */
	n += avro_fmt_time(t % per_day + (t % per_day < 0 ? per_day : 0), digits, buf + n, cap - n);
	if (utc && n + 1 < cap) {
		buf[n++] = 'Z';
		buf[n] = 0;
	}
	return n;
}

size_t avro_decimal_cap(size_t n, int32_t scale)
{
	/* 8 bits < 2.41 digits; sign, "0.", NUL. */
	return n * 3 + (size_t)(scale > 0 ? scale : 0) + 6;
}

size_t avro_fmt_decimal(const uint8_t *b, size_t n, int32_t scale, char *buf, size_t cap)
{
	/* Magnitude as big-endian 32-bit words, divided by 10^9 repeatedly. */
	uint32_t w[AVRO_DECIMAL_MAX_PRECISION / 2 / 4 + 2];
	char digits[AVRO_DECIMAL_MAX_PRECISION * 2 + 16];
	size_t nw = (n + 3) / 4, nd = 0, pos = 0;
	bool neg = n > 0 && (b[0] & 0x80);
	uint32_t carry = 1;

	if (nw > sizeof w / sizeof w[0] || cap < avro_decimal_cap(n, scale))
		return 0;
	/* Sign-extend to whole words, then negate a negative value. */
	for (size_t i = 0; i < nw * 4; i++) {
		size_t src = i + n - nw * 4;     /* wraps for the padding bytes */
		uint8_t byte = i < nw * 4 - n ? (neg ? 0xff : 0) : b[src];

		if (i % 4 == 0)
			w[i / 4] = 0;
		w[i / 4] = w[i / 4] << 8 | byte;
	}
	if (neg)
		for (size_t i = nw; i-- > 0;) {
			uint64_t v = (uint64_t)(uint32_t)~w[i] + carry;

			w[i] = (uint32_t)v;
			carry = (uint32_t)(v >> 32);
		}
	for (size_t first = 0; first < nw;) {
		uint64_t rem = 0;

		for (size_t i = first; i < nw; i++) {
			uint64_t cur = rem << 32 | w[i];

			w[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		while (first < nw && w[first] == 0)
			first++;
		/* Nine digits per round, least significant first. */
		for (int k = 0; k < 9 && (first < nw || rem); k++) {
			digits[nd++] = (char)('0' + rem % 10);
			rem /= 10;
		}
	}
	if (nd == 0)
		digits[nd++] = '0';
	if (neg)
		buf[pos++] = '-';
	if ((size_t)scale >= nd) {
		buf[pos++] = '0';
		if (scale > 0)
			buf[pos++] = '.';
		for (size_t i = nd; i < (size_t)scale; i++)
			buf[pos++] = '0';
		while (nd > 0)
			buf[pos++] = digits[--nd];
	} else {
		while (nd > 0) {
			if (nd == (size_t)scale)
				buf[pos++] = '.';
			buf[pos++] = digits[--nd];
		}
	}
	buf[pos] = 0;
	return pos;
}

/* Writes a logical value's text straight into the answer. */
static int put_text(struct avro_dec *d, size_t cap, size_t (*fmt)(struct avro_dec *, char *, size_t, const void *),
                    const void *arg)
{
	struct mpbuf *b = d->out;
	size_t hs = cap < 32 ? 1 : cap < 256 ? 2 : cap < 65536 ? 3 : 5, n, at;

	if (mpbuf_reserve(b, cap + hs) < 0)
		return nomem(d);
	at = b->len;
	n = fmt(d, b->data + at + hs, cap, arg);
	/* The header goes before text of a length known only now. */
	b->len = at;
	mp_put_str_hdr(b, n);
	if (b->len - at != hs)
		memmove(b->data + b->len, b->data + at + hs, n);
	b->len += n;
	return 0;
}

struct lt_val {
	const struct avro_node *nd;
	int64_t v;
	const uint8_t *bytes;
	size_t n;
};

static size_t lt_fmt(struct avro_dec *d, char *buf, size_t cap, const void *arg)
{
	const struct lt_val *lv = arg;

	(void)d;
	switch (lv->nd->logical) {
	case AVRO_LT_DATE:
		return avro_fmt_date(lv->v, buf, cap);
	case AVRO_LT_TIME_MILLIS:
		return avro_fmt_time(lv->v, 3, buf, cap);
	case AVRO_LT_TIME_MICROS:
		return avro_fmt_time(lv->v, 6, buf, cap);
	case AVRO_LT_TS_MILLIS:
		return avro_fmt_timestamp(lv->v, 3, true, buf, cap);
	case AVRO_LT_TS_MICROS:
		return avro_fmt_timestamp(lv->v, 6, true, buf, cap);
	case AVRO_LT_LOCAL_TS_MILLIS:
		return avro_fmt_timestamp(lv->v, 3, false, buf, cap);
	case AVRO_LT_LOCAL_TS_MICROS:
		return avro_fmt_timestamp(lv->v, 6, false, buf, cap);
	case AVRO_LT_DECIMAL:
		return avro_fmt_decimal(lv->bytes, lv->n, lv->nd->scale, buf, cap);
	case AVRO_LT_UUID: {
		const uint8_t *u = lv->bytes;
		size_t k = 0;

		for (int i = 0; i < 16; i++) {
			if (i == 4 || i == 6 || i == 8 || i == 10)
				buf[k++] = '-';
			buf[k++] = "0123456789abcdef"[u[i] >> 4];
			buf[k++] = "0123456789abcdef"[u[i] & 15];
		}
		buf[k] = 0;
		return k;
	}
	default:
		return 0;
	}
}

static int put_int_logical(struct avro_dec *d, const struct avro_node *nd, int64_t v,
                           const uint8_t *at)
{
	struct lt_val lv = { .nd = nd, .v = v };

	switch (nd->logical) {
	case AVRO_LT_TIME_MILLIS:
	case AVRO_LT_TIME_MICROS:
		if (v < 0 || v >= (nd->logical == AVRO_LT_TIME_MILLIS ? 86400000LL : 86400000000LL))
			return fail(d, at, ROWD_EFORMAT, "time of day %" PRId64 " is outside one day", v);
		return put_text(d, 24, lt_fmt, &lv);
	case AVRO_LT_DATE:
	case AVRO_LT_TS_MILLIS:
	case AVRO_LT_TS_MICROS:
	case AVRO_LT_LOCAL_TS_MILLIS:
	case AVRO_LT_LOCAL_TS_MICROS:
		return put_text(d, 48, lt_fmt, &lv);
	default:
		return mpbuf_int(d->out, v) < 0 ? nomem(d) : 0;
	}
}

static int put_decimal(struct avro_dec *d, const struct avro_node *nd, const uint8_t *p,
                       size_t n)
{
	struct lt_val lv = { .nd = nd, .bytes = p, .n = n };

	/* A value longer than its precision allows is corrupt (and would
	 * cost quadratic time): p digits need under p * log2(10) / 8 + 1
	 * bytes. Fixed sizes were bounded with the schema. */
	if (nd->type == AVRO_BYTES && n > (size_t)nd->precision * 3322 / 8000 + 2)
		return fail(d, p, ROWD_EFORMAT,
		            "a decimal of %zu bytes is longer than precision %" PRId32 " allows", n,
		            nd->precision);
	return put_text(d, avro_decimal_cap(n, nd->scale), lt_fmt, &lv);
}

/* ---- the decoder ---------------------------------------------------------- */

static int decode(struct avro_dec *d, uint32_t idx, size_t depth);

static int deeper(struct avro_dec *d, size_t depth)
{
	if (depth > d->max_depth)
		return fail(d, d->p, ROWD_ELIMIT, "nested deeper than the depth limit (%zu)",
		            d->max_depth);
	return 0;
}

/* Array and map blocks: count, and with a negative count a byte size. */
static int blocks(struct avro_dec *d, const struct avro_node *nd, size_t depth)
{
	const struct avro_node *item = &d->s->nodes[nd->kids[0]];
	bool map = nd->type == AVRO_MAP;
	size_t min = map ? item->min_size + 1 : item->min_size;
	uint64_t total = 0;
	size_t hdr = 0;

	if (deeper(d, depth) < 0 || hdr_open(d, &hdr) < 0)
		return -1;
	for (;;) {
		const uint8_t *start = d->p, *body;
		int64_t count, size = -1;

		if (get_long(d, &count, map ? "a map block count" : "an array block count") < 0)
			return -1;
		if (count == 0)
			break;
		if (count < 0) {
			if (count == INT64_MIN)
				return fail(d, start, ROWD_EFORMAT, "a block count of -2^63");
			count = -count;
			if (get_long(d, &size, "a block byte size") < 0)
				return -1;
			if (size < 0 || (uint64_t)size > (uint64_t)(d->end - d->p))
				return fail(d, start, ROWD_EFORMAT,
				            "a block byte size of %" PRId64 " does not fit the %zu bytes left",
				            size, (size_t)(d->end - d->p));
		}
		if ((uint64_t)count > d->max_elements - total || total + (uint64_t)count > UINT32_MAX)
			return fail(d, start, ROWD_ELIMIT,
			            "%s of more than %zu entries exceeds the elements limit",
			            map ? "a map" : "an array", d->max_elements);
		if (min > 0 && (uint64_t)count > (uint64_t)(d->end - d->p) / min)
			return fail(d, start, ROWD_EFORMAT,
			            "a block of %" PRId64 " entries cannot fit in the %zu bytes left",
			            count, (size_t)(d->end - d->p));
		body = d->p;
		for (int64_t i = 0; i < count; i++) {
			if (map) {
				const uint8_t *kat = d->p;
				size_t n;

				if (get_len(d, &n, "a map key") < 0)
					return -1;
				if (!proto_utf8_valid(d->p, n))
					return fail(d, kat, ROWD_EFORMAT, "a map key is not valid UTF-8");
				if (put_str(d, d->p, n) < 0)
					return -1;
				d->p += n;
			}
			if (decode(d, nd->kids[0], depth + 1) < 0 || row_size(d) < 0)
				return -1;
		}
		if (size >= 0 && d->p - body != size)
			return fail(d, start, ROWD_EFORMAT,
			            "a block said %" PRId64 " bytes and its entries took %zu", size,
			            (size_t)(d->p - body));
		total += (uint64_t)count;
	}
	hdr_close(d, hdr, total, map);
	return 0;
}

static int record(struct avro_dec *d, const struct avro_node *nd, size_t depth)
{
	if (deeper(d, depth) < 0)
		return -1;
	if (mpbuf_map_hdr(d->out, nd->n) < 0)
		return nomem(d);
	for (uint32_t i = 0; i < nd->n; i++) {
		size_t kl = nd->key_offs[i + 1] - nd->key_offs[i];

		if (mpbuf_append(d->out, nd->packed_keys + nd->key_offs[i], kl) < 0)
			return nomem(d);
		if (decode(d, nd->kids[i], depth + 1) < 0 || row_size(d) < 0)
			return -1;
	}
	return 0;
}

static int need(struct avro_dec *d, size_t n, const char *what)
{
	if ((size_t)(d->end - d->p) < n)
		return fail(d, d->p, ROWD_EFORMAT, "%s runs past the end of the block", what);
	return 0;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static int decode(struct avro_dec *d, uint32_t idx, size_t depth)
{
	const struct avro_node *nd = &d->s->nodes[idx];
	const uint8_t *at = d->p;
	int64_t v;
	size_t n;

	switch (nd->type) {
	case AVRO_NULL:
		return mpbuf_nil(d->out) < 0 ? nomem(d) : 0;
	case AVRO_BOOLEAN:
		if (need(d, 1, "a boolean") < 0)
			return -1;
		if (*d->p > 1)
			return fail(d, at, ROWD_EFORMAT, "a boolean byte is %u, not 0 or 1", *d->p);
		return mpbuf_bool(d->out, *d->p++ == 1) < 0 ? nomem(d) : 0;
	case AVRO_INT:
		if (get_int(d, &v, "an int") < 0)
			return -1;
		return put_int_logical(d, nd, v, at);
	case AVRO_LONG:
		if (get_long(d, &v, "a long") < 0)
			return -1;
		return put_int_logical(d, nd, v, at);
	case AVRO_FLOAT:
		if (need(d, 4, "a float") < 0)
			return -1;
		if (mpbuf_reserve(d->out, 5) < 0)
			return nomem(d);
		mp_put_u8(d->out, 0xca);
		mp_put_be32(d->out, (uint32_t)le(d->p, 4));
		d->p += 4;
		return 0;
	case AVRO_DOUBLE:
		if (need(d, 8, "a double") < 0)
			return -1;
		if (mpbuf_reserve(d->out, 9) < 0)
			return nomem(d);
		v = (int64_t)le(d->p, 8);
		mp_put_u8(d->out, 0xcb);
		mp_put_be32(d->out, (uint32_t)((uint64_t)v >> 32));
		mp_put_be32(d->out, (uint32_t)v);
		d->p += 8;
		return 0;
	case AVRO_BYTES:
	case AVRO_STRING:
		if (get_len(d, &n, nd->type == AVRO_BYTES ? "bytes" : "a string") < 0)
			return -1;
		break;
	case AVRO_FIXED:
		if (need(d, nd->n, "a fixed value") < 0)
			return -1;
		if (nd->n > d->max_str)
			return fail(d, at, ROWD_ELIMIT, "a fixed value of %" PRIu32
			            " bytes exceeds the str_bytes limit (%zu)", nd->n, d->max_str);
		n = nd->n;
		break;
	case AVRO_ENUM:
		if (get_int(d, &v, "an enum index") < 0)
			return -1;
		if (v < 0 || v >= nd->n)
			return fail(d, at, ROWD_EFORMAT, "enum index %" PRId64 " out of range (%" PRIu32
			            " symbols in %s)", v, nd->n, nd->fullname);
		return put_str(d, nd->names[v], nd->name_lens[v]);
	case AVRO_UNION:
		if (get_long(d, &v, "a union index") < 0)
			return -1;
		if (v < 0 || v >= nd->n)
			return fail(d, at, ROWD_EFORMAT, "union index %" PRId64 " out of range (%" PRIu32
			            " branches)", v, nd->n);
		return decode(d, nd->kids[v], depth);
	case AVRO_RECORD:
		return record(d, nd, depth);
	case AVRO_ARRAY:
	case AVRO_MAP:
		return blocks(d, nd, depth);
	default:
		return fail(d, at, ROWD_EFORMAT, "unknown schema node");
	}
	/* bytes, string, fixed: n bytes at d->p. */
	{
		const uint8_t *p = d->p;

		d->p += n;
		if (nd->logical == AVRO_LT_DECIMAL)
			return put_decimal(d, nd, p, n);
		if (nd->type == AVRO_FIXED && nd->logical == AVRO_LT_UUID) {
			struct lt_val lv = { .nd = nd, .bytes = p, .n = n };

			return put_text(d, 40, lt_fmt, &lv);
		}
		if (nd->type != AVRO_STRING)
			return put_bin(d, p, n);
		if ((n = proto_utf8_prefix(p, n)) != (size_t)(d->p - p))
			return fail(d, p + n, ROWD_EFORMAT, "a string is not valid UTF-8");
		return put_str(d, p, n);
	}
}

int avro_decode_row(struct avro_dec *d)
{
	const struct avro_node *root = &d->s->nodes[d->s->root];
	int rc;

	d->row_start = d->out->len;
	if (root->type == AVRO_RECORD) {
		rc = record(d, root, 1);
	} else {
		static const char key[] = "\xa5value";

		rc = mpbuf_reserve(d->out, 1 + sizeof key) < 0 ? nomem(d) : 0;
		if (rc == 0) {
			mp_put_u8(d->out, 0x81);
			memcpy(d->out->data + d->out->len, key, sizeof key - 1);
			d->out->len += sizeof key - 1;
			rc = decode(d, d->s->root, 2);
		}
	}
	if (rc == 0)
		rc = row_size(d);
	if (rc < 0)
		d->out->len = d->row_start;
	return rc;
}
