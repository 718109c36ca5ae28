/* JSON documents (.json): the rows are the objects of one array, either
 * the top-level value or the array under the key named by option tagname
 * ({"persons": [...]}).
 *
 * Reader: streaming. The input is fed to yajl's callback parser in slices
 * and every row is packed by the callbacks straight into msgpack, so a
 * multi-GB file never sits in memory; values beside the rows array are
 * skipped as they stream past. yajl cannot pause inside a slice (a
 * callback that says stop ends the parse for good), so the rows that
 * complete after the caller's batch is full are packed into a carry-over
 * buffer (pend) and handed out first on the next call. While the batch
 * still has room, rows are packed directly into the caller's buffer.
 *
 * Writer: "[\n" row ",\n" row ... "\n]\n", or {"tagname": [...]}.
 */
#include "config.h"   /* first: _GNU_SOURCE, for strtod_l */

#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

#include "format.h"
#include "options.h"

/* Bytes given to yajl per call: bounds the carry-over buffer to the rows
 * of one slice beyond the batch. */
#define JSON_SLICE (64 * 1024)
/* Bytes of a map32/array32 header, patched when the container closes. */
#define HDR32 5

static const char *const json_rd_known[] = { "tagname", "on_error", "encoding", NULL };
static const char *const json_wr_known[] = { "tagname", "encoding", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* Where the parser is in the document. */
enum json_phase {
	PH_TOP,       /* before the top-level value */
	PH_TOPKEYS,   /* tagname: in the top-level object, between members */
	PH_TAGVAL,    /* tagname: the value under the key is next */
	PH_ROWS,      /* in the rows array, between elements */
	PH_ROW,       /* packing a row */
	PH_SKIP,      /* skipping a value (another key, or a bad element) */
	PH_DONE,      /* the top-level value ended */
};

/* An open map or array of the row being packed. `at` is relative to the
 * row's start so that the carry-over buffer can be compacted under it. */
struct json_ctr {
	size_t at;
	uint32_t count;
	bool is_map;
};

struct json_rd {
	struct input *in;
	const struct rowd_limits *lim;
	yajl_handle yh;
	char *tag;                /* tagname option (copied), or NULL */
	size_t tag_len;
	bool skip_bad;            /* on_error: "skip" */
	bool started;             /* leading BOM handled */
	bool nonblank;            /* a non-space byte was fed */
	bool tag_found;

	enum json_phase phase;
	enum json_phase skip_ret; /* phase after PH_SKIP */
	uint64_t skip_depth;      /* open containers of the skipped value */

	/* The row being packed: into the caller's buffer while its batch has
	 * room, else into pend. */
	struct mpbuf *dst;
	size_t row_start;
	struct json_ctr *stack;   /* max_depth entries */
	size_t depth, max_depth;  /* lim->depth, capped as for any JSON */
	uint32_t max_elements;    /* lim->elements, capped to msgpack's */
	uint64_t row_no;          /* elements of the rows array seen */

	/* The current rd_next call. */
	struct mpbuf *out;
	size_t room;              /* rows the batch still takes */
	size_t got;               /* rows packed into out by the callbacks */
	uint64_t *skipped;

	/* Complete rows beyond the batch: pend[pend_head .. ends[nends-1]),
	 * row i ending at ends[i]; then possibly the start of the next row. */
	struct mpbuf pend;
	size_t pend_head;
	size_t *ends;
	size_t nends, ends_head, ends_cap;

	uint64_t lines;           /* '\n' in the bytes fed before this slice */
	uint64_t events;          /* callbacks so far */
	size_t quiet;             /* bytes fed since the last callback */
	int state;                /* 0 parsing, 1 exhausted, -1 failed (err) */
	struct rowd_error err;
};

struct json_wr {
	struct output *out;
	char *tag;
	size_t tag_len;
	uint64_t rows;
};

/* ---- options ------------------------------------------------------------- */

/* UTF-8 only: another encoding is refused rather than ignored. */
static int check_encoding(const msgpack_object *opts, struct rowd_error *err)
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
	                      "encoding '%.*s' is not supported by format json: it is UTF-8 only",
	                      (int)(n > 64 ? 64 : n), s);
}

/* Copies the tagname option (the options object does not outlive open). */
static int get_tag(const msgpack_object *opts, char **tag, size_t *len,
                   struct rowd_error *err)
{
	const char *s;
	int rc = opts_str(opts, "tagname", &s, len, err);

	*tag = NULL;
	if (rc <= 0)
		return rc;
	*tag = malloc(*len + 1);
	if (!*tag)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the tagname");
	memcpy(*tag, s, *len);
	(*tag)[*len] = '\0';
	return 0;
}

/* ---- errors from callbacks -------------------------------------------- */

/* Records why the parse stops and drops the partial row. Returns 0, which
 * tells yajl to stop (the parser cannot go on after that). */
static int cb_fail(struct json_rd *r, enum rowd_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cb_fail(struct json_rd *r, enum rowd_err code, const char *fmt, ...)
{
	va_list ap;

	if (r->phase == PH_ROW)
		r->dst->len = r->row_start;
	r->err.code = code;
	va_start(ap, fmt);
	vsnprintf(r->err.message, sizeof r->err.message, fmt, ap);
	va_end(ap);
	return 0;
}

static int cb_nomem(struct json_rd *r)
{
	return cb_fail(r, ROWD_ENOMEM, "out of memory packing row %llu",
	               (unsigned long long)r->row_no);
}

static const char *tag_shown(const struct json_rd *r)
{
	return r->tag_len > 64 ? "(tagname)" : r->tag;
}

/* ---- values ------------------------------------------------------------ */

/* Strings are checked with proto_utf8_valid rather than by yajl, whose
 * check lets overlong forms and encoded surrogates through and ignores
 * what \u escapes decode to. */

/* Numbers are read in the C locale whatever the process locale says. */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static double c_strtod(const char *s)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale ? strtod_l(s, NULL, c_locale) : strtod(s, NULL);
}

/* Decimals like 123.456 (no exponent, at most 19 digits, a mantissa below
 * 2^53, at most 22 fraction digits) are m / 10^k with both operands exact
 * doubles, so one correctly rounded division gives the correctly rounded
 * value (Clinger's fast path): data is full of them, and strtod is slow. */
static bool fast_decimal(const char *s, size_t n, double *out)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	bool neg = s[0] == '-';
	uint64_t m = 0;
	size_t digits = 0, frac = 0;
	bool dot = false;
	double d;

	for (size_t i = neg; i < n; i++) {
		if (s[i] == '.') {
			dot = true;
		} else if (s[i] >= '0' && s[i] <= '9' && ++digits <= 19) {
			m = m * 10 + (uint64_t)(s[i] - '0');
			frac += dot;
		} else {
			return false;
		}
	}
	if (m > (1ull << 53) || frac >= sizeof pow10 / sizeof pow10[0])
		return false;
	d = (double)m / pow10[frac];
	*out = neg ? -d : d;
	return true;
}

/* Integers that fit stay integers (uint64 for large positive ones, -0 is
 * 0); everything else becomes a float64, as proto_json_to_msgpack does for
 * JSON Lines. yajl has checked the syntax. */
static int pack_number(struct mpbuf *b, const char *s, size_t n)
{
	bool neg = n > 0 && s[0] == '-';
	size_t i = neg ? 1 : 0;
	uint64_t v = 0;
	char small[64], *tmp = small;
	double d;

	for (; i < n; i++) {
		unsigned dig = (unsigned)(unsigned char)s[i] - '0';

		if (dig > 9 || v > (UINT64_MAX - dig) / 10)
			break;
		v = v * 10 + dig;
	}
	if (i == n && (!neg || v == 0))
		return mpbuf_uint(b, v);
	if (i == n && v <= (uint64_t)INT64_MAX + 1)
		return mpbuf_int(b, (int64_t)(0 - v));
	if (fast_decimal(s, n, &d))
		return mpbuf_double(b, d);
	if (n >= sizeof small && !(tmp = malloc(n + 1)))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	d = c_strtod(tmp);
	if (tmp != small)
		free(tmp);
	return mpbuf_double(b, d);
}

/* ---- packing a row ------------------------------------------------------ */

/* A value or key was written to the row: enforce the row size. */
static int row_put(struct json_rd *r, int rc)
{
	if (rc < 0)
		return cb_nomem(r);
	if (r->dst->len - r->row_start > r->lim->row_bytes) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_ELIMIT, "row %llu: packs to more than the row_bytes limit (%zu)",
		               (unsigned long long)r->row_no, r->lim->row_bytes);
	}
	return 1;
}

/* Counts one more entry of the innermost container (arrays count values,
 * maps count keys). */
static int row_count(struct json_rd *r, bool key)
{
	struct json_ctr *c = &r->stack[r->depth - 1];

	if (c->is_map != key)
		return 1;
	if (++c->count > r->max_elements) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_ELIMIT, "row %llu: a %s has more than the elements limit (%zu)",
		               (unsigned long long)r->row_no, key ? "map" : "array",
		               r->lim->elements);
	}
	return 1;
}

static int row_str(struct json_rd *r, const unsigned char *s, size_t n, bool key)
{
	if (!row_count(r, key))
		return 0;
	if (n > r->lim->str_bytes) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_ELIMIT, "row %llu: a string is longer than the str_bytes limit (%zu)",
		               (unsigned long long)r->row_no, r->lim->str_bytes);
	}
	if (!proto_utf8_valid(s, n)) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_EFORMAT, "row %llu: a string is not valid UTF-8",
		               (unsigned long long)r->row_no);
	}
	return row_put(r, mpbuf_str(r->dst, (const char *)s, n));
}

/* Opens a map or array with a 32-bit placeholder header. */
static int row_open(struct json_rd *r, bool is_map)
{
	struct mpbuf *b = r->dst;

	if (r->depth >= r->max_depth) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_ELIMIT, "row %llu: nested deeper than the depth limit (%zu)",
		               (unsigned long long)r->row_no, r->max_depth);
	}
	if (mpbuf_reserve(b, HDR32) < 0)
		return cb_nomem(r);
	r->stack[r->depth++] = (struct json_ctr){ .at = b->len - r->row_start, .is_map = is_map };
	b->data[b->len] = (char)(is_map ? 0xdf : 0xdd);
	b->len += HDR32;
	return row_put(r, 0);
}

/* Writes the final header of a closed container, moving its body down
 * when a shorter header fits: rows come out as compact as from any other
 * packer. The move costs one pass over the body per nesting level. */
static void patch_hdr(struct mpbuf *b, size_t at, uint32_t count, bool is_map)
{
	unsigned char *h = (unsigned char *)b->data + at;
	size_t body = b->len - at - HDR32;
	size_t hdr;

	if (count < 16) {
		h[0] = (unsigned char)((is_map ? 0x80 : 0x90) | count);
		hdr = 1;
	} else if (count < 65536) {
		h[0] = is_map ? 0xde : 0xdc;
		h[1] = (unsigned char)(count >> 8);
		h[2] = (unsigned char)count;
		hdr = 3;
	} else {
		h[1] = (unsigned char)(count >> 24);
		h[2] = (unsigned char)(count >> 16);
		h[3] = (unsigned char)(count >> 8);
		h[4] = (unsigned char)count;
		return;
	}
	memmove(h + hdr, h + HDR32, body);
	b->len -= HDR32 - hdr;
}

static int push_end(struct json_rd *r, size_t end)
{
	if (r->nends == r->ends_cap) {
		size_t cap = r->ends_cap ? r->ends_cap * 2 : 256;
		size_t *p = realloc(r->ends, cap * sizeof *p);

		if (!p)
			return -1;
		r->ends = p;
		r->ends_cap = cap;
	}
	r->ends[r->nends++] = end;
	return 0;
}

/* The row map closed: hand the row to the batch, or queue it. */
static int row_done(struct json_rd *r)
{
	r->phase = PH_ROWS;
	if (r->dst == r->out) {
		r->got++;
		r->room--;
		return 1;
	}
	if (r->room > 0) {
		/* A row carried over from the previous call: pend holds nothing
		 * else (it was drained before feeding). */
		size_t len = r->pend.len - r->row_start;

		if (mpbuf_append(r->out, r->pend.data + r->row_start, len) < 0)
			return cb_nomem(r);
		r->pend.len = r->row_start;
		r->got++;
		r->room--;
		return 1;
	}
	if (push_end(r, r->pend.len) < 0)
		return cb_nomem(r);
	return 1;
}

static int row_close(struct json_rd *r)
{
	struct json_ctr *c = &r->stack[--r->depth];

	patch_hdr(r->dst, r->row_start + c->at, c->count, c->is_map);
	return r->depth == 0 ? row_done(r) : 1;
}

static int row_begin(struct json_rd *r)
{
	r->phase = PH_ROW;
	r->dst = r->room > 0 ? r->out : &r->pend;
	r->row_start = r->dst->len;
	r->depth = 0;
	return row_open(r, true);
}

/* ---- the document around the rows ------------------------------------ */

static void skip_start(struct json_rd *r, enum json_phase ret, uint64_t depth)
{
	r->phase = PH_SKIP;
	r->skip_ret = ret;
	r->skip_depth = depth;
}

/* An element of the rows array that is not an object. */
static int bad_row(struct json_rd *r, const char *kind, bool container)
{
	r->row_no++;
	if (!r->skip_bad) {
		r->err.row = (int64_t)r->row_no;
		return cb_fail(r, ROWD_EFORMAT, "row %llu: expected an object, got %s",
		               (unsigned long long)r->row_no, kind);
	}
	++*r->skipped;
	if (container)
		skip_start(r, PH_ROWS, 1);
	return 1;
}

static int doc_scalar(struct json_rd *r, const char *kind)
{
	switch (r->phase) {
	case PH_SKIP:
		if (r->skip_depth == 0)
			r->phase = r->skip_ret;
		return 1;
	case PH_ROWS:
		return bad_row(r, kind, false);
	case PH_TAGVAL:
		return cb_fail(r, ROWD_EFORMAT, "key '%s' must hold an array of objects, not %s",
		               tag_shown(r), kind);
	default:
		if (r->tag)
			return cb_fail(r, ROWD_EFORMAT,
			               "expected a top-level object with key '%s', got %s",
			               tag_shown(r), kind);
		return cb_fail(r, ROWD_EFORMAT,
		               "expected a top-level array of objects (or set tagname), got %s", kind);
	}
}

static int doc_open(struct json_rd *r, bool is_map)
{
	const char *kind = is_map ? "an object" : "an array";

	switch (r->phase) {
	case PH_TOP:
		if (!r->tag && !is_map) {
			r->phase = PH_ROWS;
			return 1;
		}
		if (r->tag && is_map) {
			r->phase = PH_TOPKEYS;
			return 1;
		}
		return doc_scalar(r, kind);
	case PH_TAGVAL:
		if (!is_map) {
			r->phase = PH_ROWS;
			return 1;
		}
		return doc_scalar(r, kind);
	case PH_ROWS:
		if (!is_map)
			return bad_row(r, kind, true);
		r->row_no++;
		return row_begin(r);
	case PH_SKIP:
		/* Bounds yajl's own stack too, which grows with the nesting. */
		if (++r->skip_depth > r->max_depth)
			return cb_fail(r, ROWD_ELIMIT, "JSON nested deeper than the depth limit (%zu)",
			               r->max_depth);
		return 1;
	default:
		return doc_scalar(r, kind);
	}
}

static int doc_close(struct json_rd *r)
{
	switch (r->phase) {
	case PH_SKIP:
		if (--r->skip_depth == 0)
			r->phase = r->skip_ret;
		return 1;
	case PH_ROWS:
		r->phase = r->tag ? PH_TOPKEYS : PH_DONE;
		return 1;
	case PH_TOPKEYS:
		r->phase = PH_DONE;
		if (!r->tag_found)
			return cb_fail(r, ROWD_EFORMAT, "no key '%s' at the top level", tag_shown(r));
		return 1;
	default:
		return 1;
	}
}

/* Skipped values are held to the same rule as rows: the text is UTF-8. */
static int doc_bad_utf8(struct json_rd *r)
{
	return cb_fail(r, ROWD_EFORMAT, "a string is not valid UTF-8");
}

static int doc_key(struct json_rd *r, const unsigned char *k, size_t n)
{
	if (r->phase != PH_TOPKEYS)
		return 1;       /* a key inside a skipped value */
	if (!r->tag_found && n == r->tag_len && memcmp(k, r->tag, n) == 0) {
		r->tag_found = true;
		r->phase = PH_TAGVAL;
	} else {
		skip_start(r, PH_TOPKEYS, 0);
	}
	return 1;
}

/* ---- yajl callbacks ---------------------------------------------------- */

static int cb_null(void *ctx)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return doc_scalar(r, "null");
	return row_count(r, false) && row_put(r, mpbuf_nil(r->dst));
}

static int cb_boolean(void *ctx, int v)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return doc_scalar(r, "a boolean");
	return row_count(r, false) && row_put(r, mpbuf_bool(r->dst, v != 0));
}

static int cb_number(void *ctx, const char *s, size_t n)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return doc_scalar(r, "a number");
	return row_count(r, false) && row_put(r, pack_number(r->dst, s, n));
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return proto_utf8_valid(s, n) ? doc_scalar(r, "a string") : doc_bad_utf8(r);
	return row_str(r, s, n, false);
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return proto_utf8_valid(s, n) ? doc_key(r, s, n) : doc_bad_utf8(r);
	return row_str(r, s, n, true);
}

static int cb_start(struct json_rd *r, bool is_map)
{
	r->events++;
	if (r->phase != PH_ROW)
		return doc_open(r, is_map);
	return row_count(r, false) && row_open(r, is_map);
}

static int cb_start_map(void *ctx)
{
	return cb_start(ctx, true);
}

static int cb_start_array(void *ctx)
{
	return cb_start(ctx, false);
}

static int cb_end(void *ctx)
{
	struct json_rd *r = ctx;

	r->events++;
	if (r->phase != PH_ROW)
		return doc_close(r);
	return row_close(r);
}

static const yajl_callbacks json_callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,   /* raw text: keeps 64-bit integers exact */
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end,
};

/* ---- feeding the parser ---------------------------------------------- */

static uint64_t count_nl(const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n;
	uint64_t k = 0;

	if (n == 0)
		return 0;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

static bool has_nonblank(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return true;
	return false;
}

/* Stops for good at byte `at` of the slice p (p NULL: at the end of the
 * input): drops the partial row and records where. Rows queued before the
 * failure are still handed out, then the error. */
static void rd_failed(struct json_rd *r, const unsigned char *p, size_t at)
{
	uint64_t line = r->lines + (p ? count_nl(p, at) : 0) + 1;

	if (r->phase == PH_ROW) {
		r->dst->len = r->row_start;
		if (r->err.row < 0 && r->err.code == ROWD_EFORMAT)
			r->err.row = (int64_t)r->row_no;
	}
	r->err.offset = (int64_t)(r->in->consumed + at);
	r->err.line = (int64_t)line;
	r->state = -1;
}

/* A syntax error: yajl's short message, with the line. */
static void syntax_error(struct json_rd *r, const unsigned char *p, size_t at, const char *what)
{
	r->err.code = ROWD_EFORMAT;
	snprintf(r->err.message, sizeof r->err.message, "invalid JSON at line %llu: %s",
	         (unsigned long long)(r->lines + (p ? count_nl(p, at) : 0) + 1), what);
	rd_failed(r, p, at);
}

/* yajl stopped in p[0..n) (p NULL: in yajl_complete_parse): a callback
 * refused (r->err set) or the text is not JSON. */
static void parse_failed(struct json_rd *r, yajl_status st, const unsigned char *p, size_t n)
{
	size_t at = p ? yajl_get_bytes_consumed(r->yh) : 0;
	unsigned char *msg;
	char what[128];

	if (at > n)
		at = n;
	if (st == yajl_status_client_canceled) {
		rd_failed(r, p, at);
		return;
	}
	msg = yajl_get_error(r->yh, 0, NULL, 0);
	snprintf(what, sizeof what, "%.*s", msg ? (int)strcspn((const char *)msg, "\n") : 11,
	         msg ? (const char *)msg : "parse error");
	if (msg)
		yajl_free_error(r->yh, msg);
	syntax_error(r, p, at, what);
}

/* yajl takes form feed and vertical tab for whitespace; JSON does not,
 * and inside a string they would have to be escaped: anywhere in the
 * text they are an error. Returns the offset of the first one, or n. */
static size_t bad_space(const unsigned char *p, size_t n)
{
	const unsigned char *ff = memchr(p, '\f', n);
	const unsigned char *vt = memchr(p, '\v', ff ? (size_t)(ff - p) : n);

	return vt ? (size_t)(vt - p) : ff ? (size_t)(ff - p) : n;
}

/* A value that never produces a callback is a token yajl buffers whole:
 * bound it (a \u-escaped string takes up to 6 bytes per byte). */
static bool token_too_long(const struct json_rd *r)
{
	size_t lim = r->lim->str_bytes > r->lim->row_bytes ? r->lim->str_bytes : r->lim->row_bytes;

	return r->quiet > 6 * lim + JSON_SLICE;
}

static void parse_slice(struct json_rd *r, size_t n)
{
	const unsigned char *p = (const unsigned char *)input_ptr(r->in);
	size_t good = bad_space(p, n);
	uint64_t events = r->events;
	yajl_status st;

	if (!r->nonblank)
		r->nonblank = has_nonblank(p, n);
	st = good ? yajl_parse(r->yh, p, good) : yajl_status_ok;
	if (st != yajl_status_ok) {
		parse_failed(r, st, p, good);
		return;
	}
	if (good < n) {
		char what[64];

		snprintf(what, sizeof what, "control character 0x%02x", p[good]);
		syntax_error(r, p, good, what);
		return;
	}
	r->quiet = r->events != events ? 0 : r->quiet + n;
	r->lines += count_nl(p, n);
	input_consume(r->in, n);
	if (token_too_long(r)) {
		r->err.code = ROWD_ELIMIT;
		snprintf(r->err.message, sizeof r->err.message,
		         "a JSON token is longer than the str_bytes limit (%zu)", r->lim->str_bytes);
		rd_failed(r, NULL, 0);
	}
}

/* The input ended: the document must be complete. An empty (or blank)
 * file holds no rows rather than being an error. */
static void parse_end(struct json_rd *r)
{
	yajl_status st;

	if (r->phase == PH_TOP && !r->nonblank) {
		r->state = 1;
		return;
	}
	st = yajl_complete_parse(r->yh);
	if (st != yajl_status_ok) {
		parse_failed(r, st, NULL, 0);
	} else if (r->phase != PH_DONE) {
		syntax_error(r, NULL, 0, "unexpected end of the document");
	} else {
		r->state = 1;
	}
}

/* The codec or the file failed: its error as it is, at the read position. */
static void input_failed(struct json_rd *r, const struct rowd_error *e)
{
	int64_t line = e->line, offset = e->offset;

	r->err = *e;
	rd_failed(r, NULL, 0);
	r->err.line = line;
	r->err.offset = offset;
}

/* Drops a UTF-8 byte order mark (yajl would reject it). */
static void drop_bom(struct json_rd *r)
{
	struct input *in = r->in;
	struct rowd_error e;

	rowd_error_clear(&e);
	r->started = true;
	while (input_avail(in) < 3 && !in->eof)
		if (input_fill(in, &e) < 0) {
			input_failed(r, &e);
			return;
		}
	if (input_avail(in) >= 3 && memcmp(input_ptr(in), "\xef\xbb\xbf", 3) == 0)
		input_consume(in, 3);
}

/* Parses until the batch is full, the document ends or it fails. */
static void feed(struct json_rd *r)
{
	struct input *in = r->in;
	struct rowd_error e;

	rowd_error_clear(&e);
	if (!r->started)
		drop_bom(r);
	while (r->room > 0 && r->state == 0) {
		size_t avail = input_avail(in);

		if (avail > 0)
			parse_slice(r, avail < JSON_SLICE ? avail : JSON_SLICE);
		else if (in->eof)
			parse_end(r);
		else if (input_fill(in, &e) < 0)
			input_failed(r, &e);
	}
}

/* Moves up to max queued rows to out (one copy); resets the queue once
 * empty, keeping a partial row at the front. */
static int drain(struct json_rd *r, struct mpbuf *out, size_t max, size_t *n)
{
	size_t k = r->nends - r->ends_head;
	size_t keep;

	if (k > max)
		k = max;
	if (k > 0) {
		size_t end = r->ends[r->ends_head + k - 1];

		if (mpbuf_append(out, r->pend.data + r->pend_head, end - r->pend_head) < 0)
			return -1;
		r->pend_head = end;
		r->ends_head += k;
	}
	*n = k;
	if (r->ends_head < r->nends)
		return 0;
	keep = r->pend.len - r->pend_head;
	if (keep > 0 && r->pend_head > 0)
		memmove(r->pend.data, r->pend.data + r->pend_head, keep);
	if (r->phase == PH_ROW && r->dst == &r->pend)
		r->row_start -= r->pend_head;
	r->pend.len = keep;
	r->pend_head = 0;
	r->nends = r->ends_head = 0;
	return 0;
}

/* ---- reader vtable ------------------------------------------------------ */

static void json_rd_close(void *state)
{
	struct json_rd *r = state;

	if (!r)
		return;
	if (r->yh)
		yajl_free(r->yh);
	free(r->tag);
	free(r->stack);
	free(r->ends);
	mpbuf_free(&r->pend);
	free(r);
}

static int json_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct json_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, json_rd_known, "format json", err) < 0 ||
	    check_encoding(a->options, err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the json reader");
	r->in = a->in;
	r->lim = a->limits;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	mpbuf_init(&r->pend);
	if (get_tag(a->options, &r->tag, &r->tag_len, err) < 0) {
		json_rd_close(r);
		return -1;
	}
	/* The same caps as proto_json_to_msgpack: rows of both JSON formats
	 * obey one rule. */
	r->max_depth = a->limits->depth < PROTO_SCAN_MAX_DEPTH ? a->limits->depth : PROTO_SCAN_MAX_DEPTH;
	r->max_elements = a->limits->elements < UINT32_MAX ? (uint32_t)a->limits->elements : UINT32_MAX;
	r->stack = calloc(r->max_depth ? r->max_depth : 1, sizeof *r->stack);
	r->yh = yajl_alloc(&json_callbacks, NULL, r);
	if (!r->stack || !r->yh) {
		json_rd_close(r);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the json reader");
	}
	/* One value, nothing after it, no comments; strings are checked by
	 * proto_utf8_valid(), more strictly than yajl would. */
	yajl_config(r->yh, yajl_allow_comments, 0);
	yajl_config(r->yh, yajl_dont_validate_strings, 1);
	yajl_config(r->yh, yajl_allow_trailing_garbage, 0);
	yajl_config(r->yh, yajl_allow_multiple_values, 0);
	*state = r;
	return 0;
}

static int json_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                        uint64_t *skipped, struct rowd_error *err)
{
	struct json_rd *r = state;
	size_t n = 0;

	*nrows = 0;
	if (drain(r, out, max, &n) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the rows");
	if (n < max && r->state == 0) {
		r->out = out;
		r->room = max - n;
		r->got = 0;
		r->skipped = skipped;
		feed(r);
		n += r->got;
		r->out = NULL;
		r->room = 0;
		r->skipped = NULL;
	}
	*nrows = n;
	if (r->ends_head < r->nends)
		return 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	return r->state;
}

/* ---- writer ---------------------------------------------------------------- */

static int json_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct json_wr *w;

	if (opts_check_known(a->options, json_wr_known, "format json", err) < 0 ||
	    check_encoding(a->options, err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the json writer");
	if (get_tag(a->options, &w->tag, &w->tag_len, err) < 0) {
		free(w);
		return -1;
	}
	w->out = a->out;
	*state = w;
	return 0;
}

/* Writes what comes before the first row: `[` or `{"tag": [`. */
static int wr_head(struct json_wr *w)
{
	struct mpbuf *b = &w->out->buf;
	msgpack_object key = { .type = MSGPACK_OBJECT_STR };

	if (!w->tag)
		return mpbuf_append(b, "[", 1);
	key.via.str.ptr = w->tag;
	key.via.str.size = (uint32_t)w->tag_len;
	if (mpbuf_append(b, "{", 1) < 0 || proto_object_to_json(&key, b) < 0)
		return -1;
	return mpbuf_append(b, ": [", 3);
}

static int json_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct json_wr *w = state;
	struct mpbuf *b = &w->out->buf;
	size_t start = b->len;

	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "a row must be a map");
	if ((w->rows == 0 && wr_head(w) < 0) ||
	    mpbuf_append(b, w->rows == 0 ? "\n" : ",\n", w->rows == 0 ? 1 : 2) < 0 ||
	    proto_object_to_json(row, b) < 0) {
		b->len = start;
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing a row");
	}
	w->rows++;
	return output_flush_if_full(w->out, err);
}

static int json_wr_finish(void *state, struct rowd_error *err)
{
	struct json_wr *w = state;
	struct mpbuf *b = &w->out->buf;
	int rc;

	if (w->rows == 0)
		rc = wr_head(w) < 0 ? -1 : mpbuf_append(b, w->tag ? "]}\n" : "]\n", w->tag ? 3 : 2);
	else
		rc = mpbuf_append(b, w->tag ? "\n]}\n" : "\n]\n", w->tag ? 4 : 3);
	if (rc < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing the end of the document");
	return 0;
}

static void json_wr_close(void *state)
{
	struct json_wr *w = state;

	if (!w)
		return;
	free(w->tag);
	free(w);
}

/* An array at the top is a JSON document of rows; a top-level object may
 * be one too (tagname) but JSON Lines claims it more surely when its first
 * line is a whole object. */
static int json_probe(const char *head, size_t n)
{
	size_t i = 0;

	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
		i++;
	if (i == n)
		return 0;
	return head[i] == '[' ? 80 : head[i] == '{' ? 50 : 0;
}

static const char *const json_extensions[] = { "json", NULL };

const struct format_ops format_json = {
	.name = "json",
	.extensions = json_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_NESTED | FMT_CAP_STREAM,
	.probe = json_probe,
	.rd_open = json_rd_open,
	.rd_next = json_rd_next,
	.rd_columns = NULL,
	.rd_close = json_rd_close,
	.wr_open = json_wr_open,
	.wr_row = json_wr_row,
	.wr_finish = json_wr_finish,
	.wr_close = json_wr_close,
};
