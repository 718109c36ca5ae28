/* JSON <-> msgpack.
 *
 * JSON to msgpack runs yajl's event parser and packs each event straight
 * into the output buffer: no document tree. msgpack to JSON is a
 * hand-written walk (over raw bytes, or over a decoded msgpack_object)
 * that allocates nothing on the common path, since text mode converts
 * every batch it sends.
 *
 * Numbers are parsed and printed in the C locale whatever the process
 * locale says: a client linking librowd may well call setlocale().
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* strtod_l */
#endif

#include "rowd_proto.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>    /* isfinite, signbit: macros, no libm */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* msgpack nested deeper than this is refused when printed as JSON; the
 * recursion below is bounded by it. Requests and rows are held to
 * lim->depth (at most PROTO_SCAN_MAX_DEPTH) long before, and answers add
 * a few levels around rows. */
#define JSON_OUT_MAX_DEPTH 256

/* ---- C locale numbers ---------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

/* Made once, kept for the life of the process (glibc hands out its
 * static C locale object for this request). If it cannot be made, the
 * process locale is used: right unless the program changed LC_NUMERIC. */
static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale;
}

static double c_strtod(const char *s)
{
	locale_t loc = get_c_locale();

	return loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
}

/* ======================================================================= */
/* JSON -> msgpack                                                          */
/* ======================================================================= */

struct jlevel {
	size_t at;          /* offset of the 5-byte placeholder header */
	uint64_t count;     /* elements, or entries of a map */
	bool map;
};

struct jctx {
	struct mpbuf *out;
	const struct rowd_limits *lim;
	struct rowd_error *err;
	size_t max_depth;
	unsigned depth;
	struct jlevel stack[PROTO_SCAN_MAX_DEPTH];
};

static int j_nomem(struct jctx *c)
{
	rowd_error_set(c->err, ROWD_ENOMEM, "out of memory converting JSON");
	return 0;
}

/* Counts one more item in the enclosing container (keys count for maps,
 * values for arrays). Returns 0 to stop the parse. */
static int j_count(struct jctx *c, bool is_key)
{
	struct jlevel *l;
	uint64_t max;

	if (c->depth == 0)
		return 1;
	l = &c->stack[c->depth - 1];
	if (l->map != is_key)
		return 1;
	max = c->lim->elements < UINT32_MAX ? c->lim->elements : UINT32_MAX;
	if (++l->count > max) {
		rowd_error_set(c->err, ROWD_ELIMIT, "%s of more than %" PRIu64
		               " %s exceeds the elements limit (%zu)",
		               l->map ? "object" : "array", max,
		               l->map ? "entries" : "elements", c->lim->elements);
		return 0;
	}
	return 1;
}

static int j_null(void *ctx)
{
	struct jctx *c = ctx;

	if (!j_count(c, false))
		return 0;
	return mpbuf_nil(c->out) < 0 ? j_nomem(c) : 1;
}

static int j_boolean(void *ctx, int v)
{
	struct jctx *c = ctx;

	if (!j_count(c, false))
		return 0;
	return mpbuf_bool(c->out, v != 0) < 0 ? j_nomem(c) : 1;
}

/* Integers that fit int64/uint64 stay integers; anything else (fraction,
 * exponent, or too many digits) becomes a double. A magnitude beyond the
 * double range gives +-inf, which prints back as null. yajl has already
 * checked the number grammar. Returns 1 when packed as an integer, 0 when
 * it is not one, -1 on ENOMEM. */
static int j_pack_int(struct mpbuf *out, const char *s, size_t n)
{
	bool neg = s[0] == '-';
	uint64_t v = 0;

	for (size_t i = neg; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (!neg)
		return mpbuf_uint(out, v) < 0 ? -1 : 1;
	if (v > (uint64_t)INT64_MAX + 1)
		return 0;
	if (v == 0)
		return mpbuf_uint(out, 0) < 0 ? -1 : 1;
	return mpbuf_int(out, (int64_t)(0 - v)) < 0 ? -1 : 1;
}

static int j_pack_double(struct mpbuf *out, const char *s, size_t n)
{
	char small[64];
	char *buf = n < sizeof small ? small : malloc(n + 1);
	int r;

	if (!buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	r = mpbuf_double(out, c_strtod(buf));
	if (buf != small)
		free(buf);
	return r;
}

static int j_number(void *ctx, const char *s, size_t n)
{
	struct jctx *c = ctx;
	int r;

	if (!j_count(c, false))
		return 0;
	r = j_pack_int(c->out, s, n);
	if (r == 0)
		r = j_pack_double(c->out, s, n) < 0 ? -1 : 1;
	return r < 0 ? j_nomem(c) : 1;
}

static int j_str(struct jctx *c, const unsigned char *s, size_t n)
{
	if (n > c->lim->str_bytes) {
		rowd_error_set(c->err, ROWD_ELIMIT,
		               "string of %zu bytes exceeds the str_bytes limit (%zu)",
		               n, c->lim->str_bytes);
		return 0;
	}
	if (!proto_utf8_valid(s, n)) {
		rowd_error_set(c->err, ROWD_EFORMAT, "invalid JSON: string is not valid UTF-8");
		return 0;
	}
	return mpbuf_str(c->out, (const char *)s, n) < 0 ? j_nomem(c) : 1;
}

static int j_string(void *ctx, const unsigned char *s, size_t n)
{
	struct jctx *c = ctx;

	return j_count(c, false) ? j_str(c, s, n) : 0;
}

static int j_map_key(void *ctx, const unsigned char *s, size_t n)
{
	struct jctx *c = ctx;

	return j_count(c, true) ? j_str(c, s, n) : 0;
}

static int j_open(struct jctx *c, bool map)
{
	struct jlevel *l;

	if (!j_count(c, false))
		return 0;
	if (c->depth >= c->max_depth) {
		rowd_error_set(c->err, ROWD_ELIMIT, "nesting deeper than the depth limit (%zu)",
		               c->max_depth);
		return 0;
	}
	l = &c->stack[c->depth++];
	l->map = map;
	l->count = 0;
	l->at = c->out->len;
	if (mpbuf_reserve(c->out, 5) < 0)
		return j_nomem(c);
	c->out->len += 5;
	return 1;
}

/* Writes the real header over the placeholder, in its smallest form, so
 * the output is the same canonical msgpack the other writers produce. The
 * shift costs a memmove of the container's bytes, bounded by depth. */
static int j_close(void *ctx)
{
	struct jctx *c = ctx;
	struct jlevel *l = &c->stack[--c->depth];
	size_t body = l->at + 5, hs = l->count < 16 ? 1 : l->count < 65536 ? 3 : 5;
	struct mpbuf hdr = { .data = c->out->data, .len = l->at, .cap = c->out->cap };

	if (hs < 5)
		memmove(c->out->data + l->at + hs, c->out->data + body, c->out->len - body);
	if (l->map)
		mp_put_map_hdr(&hdr, (uint32_t)l->count);
	else
		mp_put_array_hdr(&hdr, (uint32_t)l->count);
	c->out->len -= 5 - hs;
	return 1;
}

static int j_start_map(void *ctx)
{
	return j_open(ctx, true);
}

static int j_start_array(void *ctx)
{
	return j_open(ctx, false);
}

static const yajl_callbacks j_callbacks = {
	.yajl_null = j_null,
	.yajl_boolean = j_boolean,
	.yajl_number = j_number,
	.yajl_string = j_string,
	.yajl_start_map = j_start_map,
	.yajl_map_key = j_map_key,
	.yajl_end_map = j_close,
	.yajl_start_array = j_start_array,
	.yajl_end_array = j_close,
};

static int j_parse_error(yajl_handle h, const char *p, size_t n, size_t offset,
                         struct rowd_error *err)
{
	unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)p, n);
	size_t len = msg ? strlen((char *)msg) : 0;

	/* yajl ends its message with a newline */
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	rowd_error_set(err, ROWD_EFORMAT, "invalid JSON: %.*s", (int)len,
	               msg ? (char *)msg : "parse error");
	if (msg)
		yajl_free_error(h, msg);
	err->offset = (int64_t)offset;
	return -1;
}

static bool all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	}
	return true;
}

/* yajl takes form feed and vertical tab for whitespace; JSON does not,
 * and inside a string they would have to be escaped. */
static int bad_space(const char *p, size_t n, struct rowd_error *err)
{
	const char *ff = memchr(p, '\f', n), *vt = memchr(p, '\v', n);
	const char *bad = !ff ? vt : !vt ? ff : ff < vt ? ff : vt;

	if (!bad)
		return 0;
	rowd_error_set(err, ROWD_EFORMAT, "invalid JSON: control character 0x%02x",
	               (unsigned)(unsigned char)*bad);
	err->offset = (int64_t)(bad - p);
	return -1;
}

static int j_run(yajl_handle h, struct jctx *c, const char *p, size_t n)
{
	yajl_status st = yajl_parse(h, (const unsigned char *)p, n);
	size_t offset = yajl_get_bytes_consumed(h);

	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		offset = n;     /* what complete_parse finds wrong is at the end */
	}
	if (st == yajl_status_client_canceled) {
		c->err->offset = (int64_t)offset;
		return -1;
	}
	if (st != yajl_status_ok)
		return j_parse_error(h, p, n, offset, c->err);
	return 0;
}

int proto_json_to_msgpack(const char *p, size_t n, const struct rowd_limits *lim,
                          struct mpbuf *out, struct rowd_error *err)
{
	struct jctx c = { .out = out, .lim = lim, .err = err };
	size_t start = out->len;
	yajl_handle h;
	int r;

	if (all_space(p, n)) {
		rowd_error_set(err, ROWD_EFORMAT, "invalid JSON: empty text");
		err->offset = (int64_t)n;
		return -1;
	}
	if (bad_space(p, n, err) < 0)
		return -1;
	c.max_depth = lim->depth < PROTO_SCAN_MAX_DEPTH ? lim->depth : PROTO_SCAN_MAX_DEPTH;
	h = yajl_alloc(&j_callbacks, NULL, &c);
	if (!h)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory converting JSON");
	/* One value, nothing after it, no comments. Strings are checked by
	 * j_str, more strictly than yajl would. */
	yajl_config(h, yajl_allow_comments, 0);
	yajl_config(h, yajl_dont_validate_strings, 1);
	yajl_config(h, yajl_allow_trailing_garbage, 0);
	yajl_config(h, yajl_allow_multiple_values, 0);
	r = j_run(h, &c, p, n);
	yajl_free(h);
	if (r < 0)
		out->len = start;
	return r;
}

/* ======================================================================= */
/* msgpack -> JSON                                                          */
/* ======================================================================= */

/* Per byte: 0 copied as is, 1 escaped, 2 starts a UTF-8 sequence (or is
 * invalid). */
static const uint8_t str_class[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 2,
};

static int put_escape(struct mpbuf *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 0 };
	size_t n = 2;

	switch (c) {
	case '"':  e[1] = '"'; break;
	case '\\': e[1] = '\\'; break;
	case '\b': e[1] = 'b'; break;
	case '\f': e[1] = 'f'; break;
	case '\n': e[1] = 'n'; break;
	case '\r': e[1] = 'r'; break;
	case '\t': e[1] = 't'; break;
	default:
		memcpy(e + 1, "u00", 3);
		e[4] = hex[c >> 4];
		e[5] = hex[c & 15];
		n = 6;
	}
	return mpbuf_append(out, e, n);
}

/* A JSON string of bytes s[0..n). Bytes that are not valid UTF-8 become
 * U+FFFD, one per byte: the output must stay valid JSON whatever a file
 * held. */
static int put_str(struct mpbuf *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	/* msgpack-c gives an empty str a NULL pointer: no arithmetic on it. */
	if (n == 0)
		return mpbuf_append(out, "\"\"", 2);
	if (mpbuf_reserve(out, n + 2) < 0)
		return -1;
	mp_put_u8(out, '"');
	while (i < n) {
		uint8_t cls = str_class[s[i]];
		size_t k;

		if (cls == 0) {
			i++;
			continue;
		}
		if (cls == 2 && (k = proto_utf8_seq_len(s + i, n - i)) != 0) {
			i += k;
			continue;
		}
		if (mpbuf_append(out, s + run, i - run) < 0)
			return -1;
		if (cls == 2 ? mpbuf_append(out, "\\ufffd", 6) < 0 : put_escape(out, s[i]) < 0)
			return -1;
		run = ++i;
	}
	if (mpbuf_append(out, s + run, i - run) < 0)
		return -1;
	return mpbuf_append(out, "\"", 1);
}

static int put_lit(struct mpbuf *out, const char *s)
{
	return mpbuf_append(out, s, strlen(s));
}

static int put_u64(struct mpbuf *out, uint64_t v, bool neg)
{
	char buf[21];
	char *p = buf + sizeof buf;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		*--p = '-';
	return mpbuf_append(out, p, (size_t)(buf + sizeof buf - p));
}

static int put_i64(struct mpbuf *out, int64_t v)
{
	return v < 0 ? put_u64(out, 0 - (uint64_t)v, true) : put_u64(out, (uint64_t)v, false);
}

/* A float printed so that it reads back as a float: "1.0", not "1". */
static int put_float_text(struct mpbuf *out, const char *buf)
{
	if (mpbuf_append(out, buf, strlen(buf)) < 0)
		return -1;
	if (strpbrk(buf, ".eE"))
		return 0;
	return mpbuf_append(out, ".0", 2);
}

/* Shortest of %.15g..%.17g (resp. %.6g..%.9g for float32) that reads back
 * to the same value. */
static int put_real(struct mpbuf *out, double v, bool single)
{
	locale_t loc = get_c_locale();
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	char buf[320];      /* room for any %g gcc can imagine; real output < 32 */
	int prec = single ? 6 : 15, last = single ? 9 : 17;

	for (; prec < last; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			break;
	}
	if (prec == last)
		snprintf(buf, sizeof buf, "%.*g", prec, v);
	if (loc)
		uselocale(old);
	return put_float_text(out, buf);
}

static int put_double(struct mpbuf *out, double v, bool single)
{
	if (!isfinite(v))
		return put_lit(out, "null");
	/* Whole numbers are the common case in data: no printf. (No trunc()
	 * either: the library does not link libm.) */
	if (v > -1e15 && v < 1e15 && (double)(int64_t)v == v) {
		if (v == 0 && signbit(v))
			return put_lit(out, "-0.0");
		if (put_i64(out, (int64_t)v) < 0)
			return -1;
		return mpbuf_append(out, ".0", 2);
	}
	return put_real(out, v, single);
}

/* ---- from a decoded object ------------------------------------------------ */

static int obj_json(const msgpack_object *o, struct mpbuf *out, unsigned depth);

/* JSON keys are strings: any other key is printed as JSON and that text
 * becomes the key. Escaping that text again at every level of keys inside
 * keys would double it each time (a few hundred bytes of msgpack made
 * gigabytes; found by fuzz_proto), so such a key keeps only the first
 * JSON_KEY_MAX bytes of its text: no one reads a longer name, and the
 * output stays valid (a cut UTF-8 sequence prints as U+FFFD). */
#define JSON_KEY_MAX 4096

static int obj_key(const msgpack_object *k, struct mpbuf *out, unsigned depth)
{
	struct mpbuf tmp;
	int r;

	if (k->type == MSGPACK_OBJECT_STR)
		return put_str(out, k->via.str.ptr, k->via.str.size);
	if (k->type == MSGPACK_OBJECT_BIN)
		return put_str(out, k->via.bin.ptr, k->via.bin.size);
	mpbuf_init(&tmp);
	r = obj_json(k, &tmp, depth);
	if (tmp.len > JSON_KEY_MAX)
		tmp.len = JSON_KEY_MAX;
	if (r == 0)
		r = put_str(out, tmp.data, tmp.len);
	mpbuf_free(&tmp);
	return r;
}

static int obj_map(const msgpack_object_map *m, struct mpbuf *out, unsigned depth)
{
	if (mpbuf_append(out, "{", 1) < 0)
		return -1;
	for (uint32_t i = 0; i < m->size; i++) {
		if (i && mpbuf_append(out, ",", 1) < 0)
			return -1;
		if (obj_key(&m->ptr[i].key, out, depth + 1) < 0 ||
		    mpbuf_append(out, ":", 1) < 0 ||
		    obj_json(&m->ptr[i].val, out, depth + 1) < 0)
			return -1;
	}
	return mpbuf_append(out, "}", 1);
}

static int obj_array(const msgpack_object_array *a, struct mpbuf *out, unsigned depth)
{
	if (mpbuf_append(out, "[", 1) < 0)
		return -1;
	for (uint32_t i = 0; i < a->size; i++) {
		if (i && mpbuf_append(out, ",", 1) < 0)
			return -1;
		if (obj_json(&a->ptr[i], out, depth + 1) < 0)
			return -1;
	}
	return mpbuf_append(out, "]", 1);
}

static int obj_json(const msgpack_object *o, struct mpbuf *out, unsigned depth)
{
	if (depth > JSON_OUT_MAX_DEPTH)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return put_lit(out, "null");
	case MSGPACK_OBJECT_BOOLEAN:
		return put_lit(out, o->via.boolean ? "true" : "false");
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return put_u64(out, o->via.u64, false);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return put_i64(out, o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
		return put_double(out, o->via.f64, true);
	case MSGPACK_OBJECT_FLOAT64:
		return put_double(out, o->via.f64, false);
	case MSGPACK_OBJECT_STR:
		return put_str(out, o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return put_str(out, o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_ARRAY:
		return obj_array(&o->via.array, out, depth);
	case MSGPACK_OBJECT_MAP:
		return obj_map(&o->via.map, out, depth);
	default:
		return put_lit(out, "null");   /* ext: no JSON form */
	}
}

int proto_object_to_json(const msgpack_object *o, struct mpbuf *out)
{
	size_t start = out->len;

	if (obj_json(o, out, 0) < 0) {
		out->len = start;
		return -1;
	}
	return 0;
}

/* ---- from raw msgpack bytes ---------------------------------------------- */

/* A read cursor over untrusted bytes: every read is bounds-checked. */
struct cur {
	const uint8_t *p;
	size_t n;
	size_t pos;
	struct rowd_error *err;
};

static int cur_fail(struct cur *c, enum rowd_err code, const char *what)
{
	rowd_error_set(c->err, code, "%s", what);
	if (code != ROWD_ENOMEM)
		c->err->offset = (int64_t)c->pos;
	return -1;
}

static int nomem(struct cur *c)
{
	return cur_fail(c, ROWD_ENOMEM, "out of memory converting msgpack to JSON");
}

/* Takes k bytes, or fails on a truncated object. */
static const uint8_t *take(struct cur *c, uint64_t k)
{
	const uint8_t *q = c->p + c->pos;

	if (k > c->n - c->pos) {
		cur_fail(c, ROWD_EFORMAT, "truncated msgpack object");
		return NULL;
	}
	c->pos += (size_t)k;
	return q;
}

static int take_be(struct cur *c, unsigned k, uint64_t *v)
{
	const uint8_t *q = take(c, k);

	if (!q)
		return -1;
	*v = 0;
	for (unsigned i = 0; i < k; i++)
		*v = *v << 8 | q[i];
	return 0;
}

static int raw_value(struct cur *c, struct mpbuf *out, unsigned depth);

static int raw_blob(struct cur *c, struct mpbuf *out, unsigned lsize, uint64_t len)
{
	const uint8_t *q;

	if (lsize && take_be(c, lsize, &len) < 0)
		return -1;
	if (!(q = take(c, len)))
		return -1;
	return put_str(out, (const char *)q, (size_t)len) < 0 ? nomem(c) : 0;
}

/* ext payloads have no JSON form: skipped, printed as null. */
static int raw_ext(struct cur *c, struct mpbuf *out, unsigned lsize, uint64_t len)
{
	if (lsize && take_be(c, lsize, &len) < 0)
		return -1;
	if (!take(c, 1 + len))
		return -1;
	return put_lit(out, "null") < 0 ? nomem(c) : 0;
}

static int raw_key(struct cur *c, struct mpbuf *out, unsigned depth)
{
	uint8_t b = c->p[c->pos];   /* caller checked pos < n */
	struct mpbuf tmp;
	int r;

	if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb ||
	    b == 0xc4 || b == 0xc5 || b == 0xc6)
		return raw_value(c, out, depth);
	mpbuf_init(&tmp);
	r = raw_value(c, &tmp, depth);
	if (tmp.len > JSON_KEY_MAX)      /* see obj_key */
		tmp.len = JSON_KEY_MAX;
	if (r == 0 && put_str(out, tmp.data, tmp.len) < 0)
		r = nomem(c);
	mpbuf_free(&tmp);
	return r;
}

static int raw_container(struct cur *c, struct mpbuf *out, bool map,
                         unsigned lsize, uint64_t count, unsigned depth)
{
	if (lsize && take_be(c, lsize, &count) < 0)
		return -1;
	if (depth >= JSON_OUT_MAX_DEPTH)
		return cur_fail(c, ROWD_EFORMAT, "msgpack object nested too deeply");
	if (mpbuf_append(out, map ? "{" : "[", 1) < 0)
		return nomem(c);
	for (uint64_t i = 0; i < count; i++) {
		if (i && mpbuf_append(out, ",", 1) < 0)
			return nomem(c);
		if (c->pos >= c->n)
			return cur_fail(c, ROWD_EFORMAT, "truncated msgpack object");
		if (map && raw_key(c, out, depth + 1) < 0)
			return -1;
		if (map && mpbuf_append(out, ":", 1) < 0)
			return nomem(c);
		if (raw_value(c, out, depth + 1) < 0)
			return -1;
	}
	return mpbuf_append(out, map ? "}" : "]", 1) < 0 ? nomem(c) : 0;
}

static int raw_int(struct cur *c, struct mpbuf *out, unsigned size, bool is_signed)
{
	uint64_t v;
	int r;

	if (take_be(c, size, &v) < 0)
		return -1;
	if (!is_signed) {
		r = put_u64(out, v, false);
	} else {
		/* sign-extend from size bytes */
		unsigned shift = 64 - 8 * size;
		int64_t s = (int64_t)(v << shift) >> shift;

		r = put_i64(out, s);
	}
	return r < 0 ? nomem(c) : 0;
}

static int raw_float(struct cur *c, struct mpbuf *out, unsigned size)
{
	uint64_t v;
	double d;
	int r;

	if (take_be(c, size, &v) < 0)
		return -1;
	if (size == 4) {
		uint32_t u = (uint32_t)v;
		float f;

		memcpy(&f, &u, sizeof f);
		r = put_double(out, f, true);
	} else {
		memcpy(&d, &v, sizeof d);
		r = put_double(out, d, false);
	}
	return r < 0 ? nomem(c) : 0;
}

/* Tokens with a first-byte type beyond the fix ranges. */
static int raw_typed(struct cur *c, struct mpbuf *out, uint8_t b, unsigned depth)
{
	switch (b) {
	case 0xc0: return put_lit(out, "null") < 0 ? nomem(c) : 0;
	case 0xc2: return put_lit(out, "false") < 0 ? nomem(c) : 0;
	case 0xc3: return put_lit(out, "true") < 0 ? nomem(c) : 0;
	case 0xc4: case 0xd9: return raw_blob(c, out, 1, 0);
	case 0xc5: case 0xda: return raw_blob(c, out, 2, 0);
	case 0xc6: case 0xdb: return raw_blob(c, out, 4, 0);
	case 0xc7: return raw_ext(c, out, 1, 0);
	case 0xc8: return raw_ext(c, out, 2, 0);
	case 0xc9: return raw_ext(c, out, 4, 0);
	case 0xca: return raw_float(c, out, 4);
	case 0xcb: return raw_float(c, out, 8);
	case 0xcc: return raw_int(c, out, 1, false);
	case 0xcd: return raw_int(c, out, 2, false);
	case 0xce: return raw_int(c, out, 4, false);
	case 0xcf: return raw_int(c, out, 8, false);
	case 0xd0: return raw_int(c, out, 1, true);
	case 0xd1: return raw_int(c, out, 2, true);
	case 0xd2: return raw_int(c, out, 4, true);
	case 0xd3: return raw_int(c, out, 8, true);
	case 0xd4: return raw_ext(c, out, 0, 1);
	case 0xd5: return raw_ext(c, out, 0, 2);
	case 0xd6: return raw_ext(c, out, 0, 4);
	case 0xd7: return raw_ext(c, out, 0, 8);
	case 0xd8: return raw_ext(c, out, 0, 16);
	case 0xdc: return raw_container(c, out, false, 2, 0, depth);
	case 0xdd: return raw_container(c, out, false, 4, 0, depth);
	case 0xde: return raw_container(c, out, true, 2, 0, depth);
	case 0xdf: return raw_container(c, out, true, 4, 0, depth);
	default:
		c->pos--;
		return cur_fail(c, ROWD_EFORMAT, "reserved msgpack byte 0xc1");
	}
}

static int raw_value(struct cur *c, struct mpbuf *out, unsigned depth)
{
	const uint8_t *q = take(c, 1);
	uint8_t b;

	if (!q)
		return -1;
	b = *q;
	if (b <= 0x7f)
		return put_u64(out, b, false) < 0 ? nomem(c) : 0;
	if (b >= 0xe0)
		return put_i64(out, (int8_t)b) < 0 ? nomem(c) : 0;
	if (b <= 0x8f)
		return raw_container(c, out, true, 0, b & 0x0f, depth);
	if (b <= 0x9f)
		return raw_container(c, out, false, 0, b & 0x0f, depth);
	if (b <= 0xbf)
		return raw_blob(c, out, 0, b & 0x1f);
	return raw_typed(c, out, b, depth);
}

/* Converts every object in p[0..n) (normally one answer), one line each. */
int proto_msgpack_to_json(const char *p, size_t n, struct mpbuf *out,
                          struct rowd_error *err)
{
	struct cur c = { .p = (const uint8_t *)p, .n = n, .pos = 0, .err = err };
	size_t start = out->len;

	if (n == 0) {
		rowd_error_set(err, ROWD_EFORMAT, "no msgpack object to convert");
		err->offset = 0;
		return -1;
	}
	while (c.pos < n) {
		int r = raw_value(&c, out, 0);

		if (r == 0 && mpbuf_append(out, "\n", 1) < 0)
			r = nomem(&c);
		if (r < 0) {
			out->len = start;
			return -1;
		}
	}
	return 0;
}
