/* CSV, TSV and PSV: RFC 4180 records in, msgpack maps out, and back.
 *
 * Reader. A record is scanned in place in the input window: each field
 * becomes a span (offset from the record start, length) and nothing is
 * copied until the row is packed. Spans are offsets, not pointers, because
 * input_fill() moves the window when a record does not end inside it; the
 * scan then resumes at the field it was in. Outside quotes it works from
 * a bit mask of the bytes that matter (delimiter, quote, CR, LF) per 64
 * bytes, so an unquoted field costs one count-trailing-zeros; inside quotes
 * it searches for the quote and line ends 16 bytes at a time. On the way it
 * notes whether any byte was >= 0x80: only such records pay for UTF-8
 * validation.
 *
 * Packing is the hot spot (see STYLE.md), so the column names are encoded
 * once as msgpack str (header included), and each row takes one capacity
 * check for its worst case, then unchecked writes: the key, a 1-5 byte str
 * header and the value per field, copied in 16-byte moves. A quoted field with
 * doubled quotes (or text after its closing quote) knows its final length
 * from the scan, so it is unescaped straight into the output after its
 * header.
 *
 * Parsing follows RFC 4180 and is lenient where Python's csv module is: a
 * quote inside an unquoted field is kept as is, text after a closing quote
 * is appended ("ab"c -> abc). A record ends at \n, \r\n or a lone \r
 * outside quotes; blank lines are skipped; a leading UTF-8 BOM is dropped.
 *
 * Writer. Minimal quoting like Python's QUOTE_MINIMAL: a field is quoted
 * when it holds the delimiter, the quote or a line end, and a lone empty
 * field is written "" so that the line does not read back as blank.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "csv_sniff.h"
#include "format.h"
#include "options.h"
#include "textline.h"

/* ---- byte search ------------------------------------------------------- */

/* Finds the first of three bytes. *hi collects the top bits of the bytes
 * looked at (and possibly a few after): zero means all were ASCII. */
struct finder {
#ifdef __SSE2__
	__m128i va, vb, vc;
#endif
	char a, b, c;
};

static struct finder finder_make(char a, char b, char c)
{
	struct finder f = { .a = a, .b = b, .c = c };

#ifdef __SSE2__
	f.va = _mm_set1_epi8(a);
	f.vb = _mm_set1_epi8(b);
	f.vc = _mm_set1_epi8(c);
#endif
	return f;
}

static inline const char *find3(const struct finder *f, const char *p, const char *end,
                                unsigned *hi)
{
#ifdef __SSE2__
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, f->va),
		                                      _mm_cmpeq_epi8(x, f->vb)),
		                         _mm_cmpeq_epi8(x, f->vc));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		*hi |= (unsigned)_mm_movemask_epi8(x);
		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	for (; p < end; p++) {
		char ch = *p;

		*hi |= (unsigned char)ch & 0x80u;
		if (ch == f->a || ch == f->b || ch == f->c)
			return p;
	}
	return end;
}

/* The bytes that end or start something outside quotes (delimiter, quote,
 * \r, \n), as a bit mask per 64 bytes: an unquoted field then costs one
 * count-trailing-zeros instead of a search of its own. */
struct blockfinder {
#ifdef __SSE2__
	__m128i vd, vq, vr, vn;
#endif
	char d, q;
};

static struct blockfinder blockfinder_make(char delim, char quote)
{
	struct blockfinder f = { .d = delim, .q = quote };

#ifdef __SSE2__
	f.vd = _mm_set1_epi8(delim);
	f.vq = _mm_set1_epi8(quote);
	f.vr = _mm_set1_epi8('\r');
	f.vn = _mm_set1_epi8('\n');
#endif
	return f;
}

#ifdef __SSE2__
static inline uint64_t mask16(const struct blockfinder *f, __m128i x)
{
	__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, f->vd), _mm_cmpeq_epi8(x, f->vq)),
	                         _mm_or_si128(_mm_cmpeq_epi8(x, f->vr), _mm_cmpeq_epi8(x, f->vn)));

	return (uint64_t)(unsigned)_mm_movemask_epi8(m);
}
#endif

/* Bit i set when p[i] is special, for 64 readable bytes at p. */
static inline uint64_t mask64(const struct blockfinder *f, const char *p, unsigned *hi)
{
#ifdef __SSE2__
	__m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
	__m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
	__m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));

	*hi |= (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(x0, x1), _mm_or_si128(x2, x3)));
	return mask16(f, x0) | mask16(f, x1) << 16 | mask16(f, x2) << 32 | mask16(f, x3) << 48;
#else
	uint64_t m = 0;

	for (int i = 0; i < 64; i++) {
		char c = p[i];

		*hi |= (unsigned char)c & 0x80u;
		if (c == f->d || c == f->q || c == '\r' || c == '\n')
			m |= (uint64_t)1 << i;
	}
	return m;
#endif
}

/* The specials of [blk, blk + 64) not yet passed. */
struct specials {
	const char *blk;
	uint64_t bits;
};

/* The mask of the last bytes of the window: copied out, so that nothing
 * past the window is read, the rest zero. */
static uint64_t tail_bits(const struct blockfinder *f, const char *p, const char *end,
                          unsigned *hi)
{
	char tail[64];

	memset(tail, 0, sizeof tail);         /* NUL is never special */
	memcpy(tail, p, (size_t)(end - p));
	return mask64(f, tail, hi);
}

static inline uint64_t block_bits(const struct blockfinder *f, const char *p, const char *end,
                                  unsigned *hi)
{
	if (__builtin_expect(end - p >= 64, 1))
		return mask64(f, p, hi);
	return tail_bits(f, p, end, hi);
}

static inline void specials_at(struct specials *sp, const struct blockfinder *f,
                               const char *p, const char *end, unsigned *hi)
{
	sp->blk = p;
	sp->bits = p < end ? block_bits(f, p, end, hi) : 0;
}

/* The first special byte not yet passed, or end. */
static inline const char *next_special(struct specials *sp, const struct blockfinder *f,
                                       const char *end, unsigned *hi)
{
	while (!sp->bits) {
		if (end - sp->blk <= 64)
			return end;
		sp->blk += 64;
		sp->bits = block_bits(f, sp->blk, end, hi);
	}
	return sp->blk + __builtin_ctzll(sp->bits);
}


/* ---- options shared by reader and writer ------------------------------ */

static const char *const encodings[] = { "utf-8", "utf8", "utf-8-sig", NULL };

/* A one-byte option (delimiter, quotechar). */
static int opt_char(const msgpack_object *o, const char *key, char *c, struct rowd_error *err)
{
	const char *s;
	size_t n;
	int rc = opts_str(o, key, &s, &n, err);

	if (rc <= 0)
		return rc;
	if (n != 1 || (unsigned char)s[0] >= 0x80 || s[0] == '\n' || s[0] == '\r' || s[0] == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option '%s' must be one ASCII character, not a line end", key);
	*c = s[0];
	return 1;
}

/* Options both directions take. *bom is set for "utf-8-sig"; bom NULL
 * (a reader) leaves `encoding` to textline_input_encoding. */
static int opt_common(const msgpack_object *o, char *delim, char *quote, bool *bom,
                      struct rowd_error *err)
{
	const char *s;
	size_t n;
	int rc;

	if (opt_char(o, "delimiter", delim, err) < 0 || opt_char(o, "quotechar", quote, err) < 0)
		return -1;
	if (*delim == *quote)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "options 'delimiter' and 'quotechar' must differ");
	if (!bom)
		return 0;
	*bom = false;
	rc = opts_str(o, "encoding", &s, &n, err);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		size_t i;

		for (i = 0; encodings[i]; i++)
			if (strlen(encodings[i]) == n && strncasecmp(encodings[i], s, n) == 0)
				break;
		if (!encodings[i])
			return rowd_error_set(err, ROWD_ENOTSUP,
			                      "encoding '%.*s' is not supported for writing: rowd writes UTF-8",
			                      (int)(n > 40 ? 40 : n), s);
		*bom = i == 2;
	}
	return 0;
}

static char default_delim(const struct format_ops *f)
{
	if (strcmp(f->name, "tsv") == 0)
		return '\t';
	if (strcmp(f->name, "psv") == 0)
		return '|';
	return ',';
}

/* Puts "line N: " in front of err's message (for errors from below). */
static void err_at_line(struct rowd_error *err, uint64_t line)
{
	char msg[ROWD_ERRMSG_MAX];

	memcpy(msg, err->message, sizeof msg);
	msg[sizeof msg - 1] = 0;
	rowd_error_set(err, err->code, "line %llu: %s", (unsigned long long)line, msg);
	err->line = (int64_t)line;
}

/* ---- reader state ------------------------------------------------------ */

/* One field of the record being scanned. */
struct field {
	size_t off;        /* from the record start: the value, or the opening
	                    * quote when escaped */
	size_t len;        /* value bytes, after unescaping */
	bool escaped;      /* doubled quotes or text after the closing quote */
};

/* Progress through one record; survives input_fill() (offsets only). */
struct scan {
	size_t pos;        /* start of the field being scanned */
	size_t nf;         /* fields completed (may exceed what is stored) */
	size_t len;        /* bytes of the complete record, line end included */
	uint64_t lines;    /* line ends inside quoted fields */
	bool hi;           /* saw a byte >= 0x80: validate UTF-8 */
	bool cr;           /* ended by \r: a \n right after belongs to it */
};

struct csv_reader {
	struct input *in;
	const struct rowd_limits *limits;
	char delim, quote;
	bool header, infer, skip_bad;
	uint64_t skip_rows;
	const msgpack_object *fieldnames;   /* valid during rd_open only */
	bool from_header;          /* column names came from the header line */

	/* Columns. nfields is the field count every record must have; the
	 * packed map has nemit entries (fewer when names repeat: the last
	 * value wins, at the first name's place, as in a Python dict). */
	bool have_cols;
	size_t nfields;
	uint32_t nemit;
	struct mpbuf keys;         /* the emitted keys, msgpack-encoded */
	size_t *key_off;           /* nemit + 1 offsets into keys */
	size_t *src;               /* field index of each emitted key */

	struct field *fields;
	size_t fields_cap;

	struct scan s;
	uint64_t line;             /* physical line where the next record starts */
	uint64_t row;              /* data records seen (good or bad) */
	bool after_cr;             /* previous record ended with \r */
	bool done;
	bool failed;               /* broken readers stay broken */
	struct rowd_error fail;
};

/* Makes room for field index i when the record may grow the array (the
 * header, or the first record of a header-less file). */
static int fields_grow(struct csv_reader *r, size_t i, struct rowd_error *err)
{
	size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
	struct field *f;

	if (i >= r->limits->elements) {
		rowd_error_set(err, ROWD_ELIMIT, "more than %zu fields (the elements limit)",
		               r->limits->elements);
		err_at_line(err, r->line);
		return -1;
	}
	if (cap > r->limits->elements)
		cap = r->limits->elements;
	f = realloc(r->fields, cap * sizeof *f);
	if (!f)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for CSV fields");
	r->fields = f;
	r->fields_cap = cap;
	return 0;
}

/* Scans a quoted field; p is at its opening quote. Returns 1 with *f and
 * *next (the byte after the field), 0 when the window ends first, -1 when
 * the data ends inside the quotes. */
static int scan_quoted(const struct csv_reader *r, const struct finder *fq,
                       const struct finder *fu, const char *base, const char *p,
                       const char *end, bool eof, struct field *f, const char **next,
                       uint64_t *lines, unsigned *hi)
{
	const char *c = p + 1, *close, *after;
	size_t removed = 0;
	uint64_t nl = 0;

	for (;;) {
		const char *q = find3(fq, c, end, hi);

		if (q == end)
			return eof ? -1 : 0;
		if (*q == r->quote) {
			if (q + 1 == end && !eof)
				return 0;          /* could be a doubled quote */
			if (q + 1 < end && q[1] == r->quote) {
				removed++;
				c = q + 2;
				continue;
			}
			close = q;
			break;
		}
		if (*q == '\r') {
			if (q + 1 == end && !eof)
				return 0;
			nl += q + 1 == end || q[1] != '\n';
		} else {
			nl++;
		}
		c = q + 1;
	}
	after = close + 1;
	f->len = (size_t)(close - p - 1) - removed;
	f->escaped = removed > 0;
	if (after < end && *after != r->delim && *after != '\n' && *after != '\r') {
		/* Text after the closing quote: kept literally, up to the
		 * field's end, as Python's csv does. */
		const char *q = find3(fu, after, end, hi);

		if (q == end && !eof)
			return 0;
		f->len += (size_t)(q - after);
		f->escaped = true;
		after = q;
	}
	f->off = (size_t)((f->escaped ? p : p + 1) - base);
	*next = after;
	*lines += nl;
	return 1;
}

/* Scans the record at the window start from s->pos on. Stores up to cap
 * fields (more when grow). Returns 1 when complete, 0 when the window ends
 * first (call again after input_fill), -1 on error. */
static int scan_record(struct csv_reader *r, struct scan *s, size_t cap, bool grow,
                       struct rowd_error *err)
{
	const char *base = input_ptr(r->in);
	const char *end = base + input_avail(r->in);
	const char *p = base + s->pos;
	const bool eof = r->in->eof;
	const char delim = r->delim, quote = r->quote;
	const struct finder fu = finder_make(delim, '\n', '\r');
	const struct finder fq = finder_make(quote, '\n', '\r');
	const struct blockfinder bf = blockfinder_make(delim, quote);
	struct specials sp;
	struct field *fields = r->fields;
	size_t nf = s->nf;
	unsigned hi = 0;
	int rc = 1;

	specials_at(&sp, &bf, p, end, &hi);
	for (;;) {
		struct field f;
		const char *q;

		if (p < end && *p == quote) {
			int qrc = scan_quoted(r, &fq, &fu, base, p, end, eof, &f, &q, &s->lines, &hi);

			if (qrc == 0) {
				rc = 0;
				break;
			}
			if (qrc < 0) {
				rc = rowd_error_set(err, ROWD_EFORMAT,
				                    "line %llu: unterminated quoted field (field %zu)",
				                    (unsigned long long)r->line, nf + 1);
				err->line = (int64_t)r->line;
				break;
			}
			specials_at(&sp, &bf, q, end, &hi);
		} else {
			q = next_special(&sp, &bf, end, &hi);
			while (q < end && *q == quote) {
				/* Inside an unquoted field a quote is just a byte. */
				sp.bits &= sp.bits - 1;
				q = next_special(&sp, &bf, end, &hi);
			}
			if (q == end && !eof) {
				rc = 0;
				break;
			}
			f.off = (size_t)(p - base);
			f.len = (size_t)(q - p);
			f.escaped = false;
		}
		if (nf >= cap && grow) {
			if (fields_grow(r, nf, err) < 0) {
				rc = -1;
				break;
			}
			fields = r->fields;
			cap = r->fields_cap;
		}
		if (nf < cap)
			fields[nf] = f;
		nf++;
		if (q < end && *q == delim) {
			sp.bits &= sp.bits - 1;      /* q is the lowest bit left */
			p = q + 1;
			continue;
		}
		/* A line end, or the end of the data. */
		s->len = (size_t)(q - base) + (q < end);
		s->cr = q < end && *q == '\r';
		break;
	}
	/* Where to resume: the start of the field that did not end. */
	s->pos = (size_t)(p - base);
	s->nf = nf;
	s->hi |= hi != 0;
	return rc;
}

/* Positions the window at the next record, skipping blank lines, and scans
 * it completely into r->s. Returns 1 with a record, 0 at the end of the
 * data, -1 on error. The record is consumed by finish_record(). */
static int next_record(struct csv_reader *r, size_t cap, bool grow, struct rowd_error *err)
{
	struct input *in = r->in;
	int rc;

	for (;;) {
		char c;

		if (input_avail(in) == 0) {
			if (in->eof)
				return 0;
			if (input_fill(in, err) < 0)
				return -1;
			continue;
		}
		c = *input_ptr(in);
		if (r->after_cr && c == '\n') {
			input_consume(in, 1);
			r->after_cr = false;
			continue;
		}
		r->after_cr = false;
		if (c != '\n' && c != '\r')
			break;
		input_consume(in, 1);         /* a blank line */
		r->line++;
		r->after_cr = c == '\r';
	}
	memset(&r->s, 0, sizeof r->s);
	while ((rc = scan_record(r, &r->s, cap, grow, err)) == 0) {
		if (input_fill(in, err) < 0) {
			if (err->code == ROWD_ELIMIT)
				err_at_line(err, r->line);
			return -1;
		}
	}
	return rc;
}

static void finish_record(struct csv_reader *r)
{
	input_consume(r->in, r->s.len);
	r->line += 1 + r->s.lines;
	r->after_cr = r->s.cr;
}

/* Copies a field's value (f->len bytes) to dst and returns its end.
 * Escaped fields start at their opening quote: copy up to each quote; a
 * doubled quote gives one, the closing quote switches to copying the rest
 * as is. */
static char *unescape(char *dst, const char *base, const struct field *f, char quote)
{
	const char *src = base + f->off;
	size_t left = f->len;

	if (!f->escaped) {
		memcpy(dst, src, left);
		return dst + left;
	}
	src++;
	while (left) {
		/* The next quote is within left + 1 bytes: at most left value
		 * bytes precede it. */
		const char *q = memchr(src, quote, left + 1);
		size_t k = (size_t)(q - src);

		memcpy(dst, src, k);
		dst += k;
		left -= k;
		if (left && q[1] == quote) {
			*dst++ = quote;
			left--;
			src = q + 2;
		} else {
			memcpy(dst, q + 1, left);
			dst += left;
			left = 0;
		}
	}
	return dst;
}

static inline void put_value_str(struct mpbuf *out, const char *base, const struct field *f,
                                 char quote)
{
	mp_put_str_hdr(out, f->len);
	out->len = (size_t)(unescape(out->data + out->len, base, f, quote) - out->data);
}

/* A decimal number as text: its digits as an integer and a power of ten. */
struct decimal {
	uint64_t mant;     /* the digits, when there are at most 19 */
	int digits;        /* significant digits, leading zeros not counted */
	int exp10;         /* value = mant * 10^exp10 */
	bool is_float;     /* has a fraction or an exponent */
};

/* Reads [-]int[.frac][(e|E)[+|-]exp] with no "+5", ".5", "1.", "007":
 * only text that reads back the same. Returns false for anything else. */
static bool parse_decimal(const char *p, size_t n, struct decimal *d)
{
	size_t i = p[0] == '-', i0 = i;
	int frac = 0, e = 0;
	bool eneg = false;

	d->mant = 0;
	d->digits = 0;
	d->is_float = false;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (d->digits < 19)
			d->mant = d->mant * 10 + (uint64_t)(p[i] - '0');
		d->digits += d->digits || p[i] != '0';
	}
	if (i == i0 || (i - i0 > 1 && p[i0] == '0'))
		return false;
	if (i < n && p[i] == '.') {
		size_t f0 = ++i;

		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, frac++) {
			if (d->digits < 19)
				d->mant = d->mant * 10 + (uint64_t)(p[i] - '0');
			else
				frac--;        /* digit dropped: keep the scale */
			d->digits += d->digits || p[i] != '0';
		}
		if (i == f0)
			return false;
		d->is_float = true;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t e0;

		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		for (e0 = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			if (e < 100000)
				e = e * 10 + (p[i] - '0');
		if (i == e0)
			return false;
		d->is_float = true;
	}
	d->exp10 = (eneg ? -e : e) - frac;
	return i == n;
}

/* The double nearest to the decimal. With at most 2^53 as digits and
 * |exp10| <= 22 both operands are exact doubles and one IEEE operation
 * rounds correctly (Clinger's fast path): the common case, where strtod
 * would cost more than the rest of the row. */
static double decimal_to_double(const struct decimal *d, const char *p, size_t n)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	char buf[64];
	double v;

	if (d->digits <= 19 && d->mant <= (UINT64_C(1) << 53) && d->exp10 >= -22 && d->exp10 <= 22) {
		v = (double)d->mant;
		v = d->exp10 < 0 ? v / pow10[-d->exp10] : v * pow10[d->exp10];
		return p[0] == '-' ? -v : v;
	}
	memcpy(buf, p, n);                 /* n < sizeof buf: checked by the caller */
	buf[n] = 0;
	return strtod(buf, NULL);
}

/* types: "infer": true/false, integers that fit int64, finite decimals;
 * everything else stays a string. */
static bool put_inferred(struct mpbuf *out, const char *p, size_t n)
{
	struct decimal d;

	if (n == 0 || n >= 64)
		return false;
	if (p[0] == 't' || p[0] == 'f') {
		if (n == 4 && memcmp(p, "true", 4) == 0)
			mp_put_u8(out, 0xc3);
		else if (n == 5 && memcmp(p, "false", 5) == 0)
			mp_put_u8(out, 0xc2);
		else
			return false;
		return true;
	}
	if (!((p[0] >= '0' && p[0] <= '9') || p[0] == '-') || !parse_decimal(p, n, &d))
		return false;
	if (d.is_float) {
		double v = decimal_to_double(&d, p, n);

		if (!isfinite(v))
			return false;          /* "1e999" stays text */
		mpbuf_double(out, v);        /* room reserved: cannot fail */
		return true;
	}
	if (p[0] == '-') {
		if (d.mant == 0 || d.digits > 19 || d.mant > (uint64_t)INT64_MAX + 1)
			return false;          /* "-0" would read back as "0" */
		mpbuf_int(out, d.mant == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)d.mant);
	} else {
		if (d.digits > 19 || d.mant > (uint64_t)INT64_MAX)
			return false;          /* too large: stays text */
		mpbuf_int(out, (int64_t)d.mant);
	}
	return true;
}

/* Copies n bytes in 16-byte moves, which compile to two instructions
 * where memcpy of a variable length is a call: fields and keys are short.
 * Up to COPY_SLACK - 1 bytes past src + n are read and past dst + n
 * written; callers make sure both lie inside their buffers (the bytes
 * written there are overwritten next or lie past the buffer's len). */
#define COPY_SLACK 16

static inline char *copy_chunks(char *dst, const char *src, size_t n)
{
	for (size_t k = 0; k < n; k += 16)
		memcpy(dst + k, src + k, 16);
	return dst + n;
}

static inline char *put_str_hdr(char *d, size_t n)
{
	if (n < 32) {
		*d++ = (char)(0xa0 | n);
	} else if (n < 256) {
		*d++ = (char)0xd9;
		*d++ = (char)n;
	} else if (n < 65536) {
		*d++ = (char)0xda;
		*d++ = (char)(n >> 8);
		*d++ = (char)n;
	} else {
		*d++ = (char)0xdb;
		*d++ = (char)(n >> 24);
		*d++ = (char)(n >> 16);
		*d++ = (char)(n >> 8);
		*d++ = (char)n;
	}
	return d;
}

/* Packs the scanned record as one map. */
static int pack_row(struct csv_reader *r, struct mpbuf *out, struct rowd_error *err)
{
	const char *base = input_ptr(r->in);
	const char *keys = r->keys.data;
	const size_t *key_off = r->key_off, *src = r->src;
	const struct field *fields = r->fields;
	size_t start = out->len;
	/* Worst case: map header, keys, per value a 5-byte str header or a
	 * 9-byte number, and at most the record's bytes of values. */
	size_t need = 5 + r->keys.len + (size_t)r->nemit * 9 + r->s.len + COPY_SLACK;
	/* The record's values may be copied in chunks when the window has
	 * slack after the record (all but the window's last record). */
	bool chunks = (size_t)(r->in->buf + r->in->cap - base) >= r->s.len + COPY_SLACK;
	char *d;

	if (mpbuf_reserve(out, need) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for rows");
	mp_put_map_hdr(out, r->nemit);
	d = out->data + out->len;
	for (uint32_t j = 0; j < r->nemit; j++) {
		const struct field *f = &fields[src[j]];

		d = copy_chunks(d, keys + key_off[j], key_off[j + 1] - key_off[j]);
		if (f->escaped || r->infer) {
			out->len = (size_t)(d - out->data);
			if (!(r->infer && !f->escaped && put_inferred(out, base + f->off, f->len)))
				put_value_str(out, base, f, r->quote);
			d = out->data + out->len;
			continue;
		}
		d = put_str_hdr(d, f->len);
		if (chunks) {
			d = copy_chunks(d, base + f->off, f->len);
		} else {
			memcpy(d, base + f->off, f->len);
			d += f->len;
		}
	}
	out->len = (size_t)(d - out->data);
	if (out->len - start > r->limits->row_bytes) {
		rowd_error_set(err, ROWD_ELIMIT,
		               "line %llu: row of %zu bytes exceeds the row_bytes limit (%zu)",
		               (unsigned long long)r->line, out->len - start, r->limits->row_bytes);
		out->len = start;
		return -1;
	}
	return 0;
}

/* Which field holds byte off of the record (for messages). */
static size_t field_at(const struct csv_reader *r, size_t off)
{
	size_t i = 0;

	while (i + 1 < r->s.nf && i + 1 < r->fields_cap && r->fields[i + 1].off <= off)
		i++;
	return i + 1;
}

/* Checks the field count and the UTF-8 of a data record. Returns 0 or -1
 * with EFORMAT. */
static int check_record(struct csv_reader *r, struct rowd_error *err)
{
	size_t bad;

	if (r->s.nf != r->nfields) {
		rowd_error_set(err, ROWD_EFORMAT, "line %llu: %zu fields, %s %zu",
		               (unsigned long long)r->line, r->s.nf,
		               r->from_header ? "header has" : "expected", r->nfields);
		return -1;
	}
	if (!r->s.hi)
		return 0;
	bad = proto_utf8_prefix(input_ptr(r->in), r->s.len);
	if (bad == r->s.len)
		return 0;
	rowd_error_set(err, ROWD_EFORMAT, "line %llu: invalid UTF-8 in field %zu",
	               (unsigned long long)r->line, field_at(r, bad));
	return -1;
}

/* ---- columns ----------------------------------------------------------- */

struct name {
	const char *p;
	size_t len;
	size_t idx;
};

static int name_cmp(const void *a, const void *b)
{
	const struct name *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sets the columns from n names: encodes the keys once, resolves repeated
 * names (the last value wins, at the first name's place) and sizes the
 * field array. */
static int set_columns(struct csv_reader *r, const struct name *names, size_t n,
                       struct rowd_error *err)
{
	struct name *sorted;
	size_t *src_of;                 /* per name: the field it takes, or SIZE_MAX */
	int rc = -1;

	if (n > r->limits->elements || n > UINT32_MAX)
		return rowd_error_set(err, ROWD_ELIMIT, "%zu columns exceed the elements limit (%zu)",
		                      n, r->limits->elements);
	sorted = malloc(n * sizeof *sorted);
	src_of = malloc(n * sizeof *src_of);
	r->key_off = malloc((n + 1) * sizeof *r->key_off);
	r->src = malloc(n * sizeof *r->src);
	if (!sorted || !src_of || !r->key_off || !r->src)
		goto nomem;
	if (n > r->fields_cap) {
		struct field *f = realloc(r->fields, n * sizeof *f);

		if (!f)
			goto nomem;
		r->fields = f;
		r->fields_cap = n;
	}
	memcpy(sorted, names, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, name_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && sorted[j + 1].len == sorted[i].len &&
		       memcmp(sorted[j + 1].p, sorted[i].p, sorted[i].len) == 0)
			j++;
		src_of[sorted[i].idx] = sorted[j].idx;
		for (size_t k = i + 1; k <= j; k++)
			src_of[sorted[k].idx] = SIZE_MAX;
		i = j + 1;
	}
	r->keys.len = 0;
	r->nemit = 0;
	for (size_t i = 0; i < n; i++) {
		if (src_of[i] == SIZE_MAX)
			continue;
		r->key_off[r->nemit] = r->keys.len;
		r->src[r->nemit++] = src_of[i];
		if (mpbuf_str(&r->keys, names[i].p, names[i].len) < 0)
			goto nomem;
	}
	r->key_off[r->nemit] = r->keys.len;
	/* pack_row copies keys in chunks: pad them. */
	if (mpbuf_reserve(&r->keys, COPY_SLACK) < 0)
		goto nomem;
	memset(r->keys.data + r->keys.len, 0, COPY_SLACK);
	r->nfields = n;
	r->have_cols = true;
	rc = 0;
	goto out;
nomem:
	rowd_error_set(err, ROWD_ENOMEM, "out of memory for CSV columns");
out:
	free(sorted);
	free(src_of);
	return rc;
}

/* Columns from the header record just scanned, its names unescaped into
 * a scratch buffer. */
static int columns_from_header(struct csv_reader *r, struct rowd_error *err)
{
	const char *base = input_ptr(r->in);
	struct name *names = malloc(r->s.nf * sizeof *names);
	char *text = malloc(r->s.len + 1);
	char *at = text;
	int rc;

	if (!names || !text) {
		free(names);
		free(text);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the CSV header");
	}
	for (size_t i = 0; i < r->s.nf; i++) {
		names[i].p = at;
		names[i].len = r->fields[i].len;
		names[i].idx = i;
		at = unescape(at, base, &r->fields[i], r->quote);
	}
	rc = set_columns(r, names, r->s.nf, err);
	free(names);
	free(text);
	return rc;
}

static int columns_from_fieldnames(struct csv_reader *r, struct rowd_error *err)
{
	const msgpack_object_array *a = &r->fieldnames->via.array;
	struct name *names = malloc(a->size * sizeof *names);
	int rc;

	if (!names)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for CSV columns");
	for (uint32_t i = 0; i < a->size; i++) {
		names[i].p = a->ptr[i].via.str.ptr;
		names[i].len = a->ptr[i].via.str.size;
		names[i].idx = i;
	}
	rc = set_columns(r, names, a->size, err);
	free(names);
	return rc;
}

/* Header-less file without fieldnames: the keys are the 1-based column
 * numbers as strings ("1", "2", ...), the count taken from the first
 * record, which stays in the window to be read as data. */
static int columns_numbered(struct csv_reader *r, size_t n, struct rowd_error *err)
{
	struct name *names = malloc((n ? n : 1) * sizeof *names);
	char *text = malloc((n ? n : 1) * 21);
	int rc;

	if (!names || !text) {
		free(names);
		free(text);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for CSV columns");
	}
	for (size_t i = 0; i < n; i++) {
		names[i].p = text + i * 21;
		names[i].len = (size_t)snprintf(text + i * 21, 21, "%zu", i + 1);
		names[i].idx = i;
	}
	rc = set_columns(r, names, n, err);
	free(names);
	free(text);
	return rc;
}

/* ---- reader ------------------------------------------------------------ */

static const char *const rd_known[] = {
	"delimiter", "quotechar", "header", "fieldnames", "encoding", "skip_rows",
	"types", "on_error", "crlf", NULL
};

#define SNIFF_BYTES (64 * 1024)

/* A .csv that does not name its delimiter may still use ';' or TAB. */
static int sniff_delim(struct csv_reader *r, const struct fmt_args *a, struct rowd_error *err)
{
	struct input *in = a->in;
	char d;

	while (input_avail(in) < SNIFF_BYTES && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	d = csv_sniff_delimiter(input_ptr(in), input_avail(in));
	if (d)
		r->delim = d;
	return 0;
}

static int rd_options(struct csv_reader *r, const struct fmt_args *a, struct rowd_error *err)
{
	static const char *const types[] = { "strings", "infer", NULL };
	static const char *const on_error[] = { "raise", "skip", NULL };
	const msgpack_object *o = a->options;
	char what[32];
	int64_t skip = 0;
	int t = 0, oe = 0;

	snprintf(what, sizeof what, "format %s", a->fmt->name);
	if (opts_check_known(o, rd_known, what, err) < 0)
		return -1;
	if (opts_get(o, "crlf"))
		return rowd_error_set(err, ROWD_EINVAL, "option 'crlf' applies to writing only");
	r->delim = default_delim(a->fmt);
	r->quote = '"';
	r->header = true;
	/* Sniffing reads the head: after the conversion to UTF-8 is set. */
	if (textline_input_encoding(a->in, o, err) < 0)
		return -1;
	if (strcmp(a->fmt->name, "csv") == 0 && !opts_get(o, "delimiter") && sniff_delim(r, a, err) < 0)
		return -1;
	if (opt_common(o, &r->delim, &r->quote, NULL, err) < 0 ||
	    opts_bool(o, "header", &r->header, err) < 0 ||
	    opts_str_array(o, "fieldnames", &r->fieldnames, err) < 0 ||
	    opts_int(o, "skip_rows", 0, INT64_MAX, &skip, err) < 0 ||
	    opts_choice(o, "types", types, &t, err) < 0 ||
	    opts_choice(o, "on_error", on_error, &oe, err) < 0)
		return -1;
	if (r->fieldnames && r->fieldnames->via.array.size == 0)
		return rowd_error_set(err, ROWD_EINVAL, "option 'fieldnames' must not be empty");
	r->skip_rows = (uint64_t)skip;
	r->infer = t == 1;
	r->skip_bad = oe == 1;
	return 0;                       /* a BOM is dropped with or without utf-8-sig */
}

/* Drops a leading UTF-8 BOM. */
static int drop_bom(struct input *in, struct rowd_error *err)
{
	while (input_avail(in) < 3 && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	if (input_avail(in) >= 3 && memcmp(input_ptr(in), "\xef\xbb\xbf", 3) == 0)
		input_consume(in, 3);
	return 0;
}

/* Skips one record of the preamble (skip_rows). Unlike data, a blank line
 * counts as one: skip_rows counts what a person sees at the top of the
 * file. Returns 1, 0 at the end of the data, -1 on error. */
static int skip_record(struct csv_reader *r, struct rowd_error *err)
{
	struct input *in = r->in;

	for (;;) {
		char c;

		if (input_avail(in) == 0) {
			if (in->eof)
				return 0;
			if (input_fill(in, err) < 0)
				return -1;
			continue;
		}
		c = *input_ptr(in);
		if (r->after_cr && c == '\n') {
			input_consume(in, 1);
			r->after_cr = false;
			continue;
		}
		if (c == '\n' || c == '\r') {
			input_consume(in, 1);
			r->line++;
			r->after_cr = c == '\r';
			return 1;
		}
		break;
	}
	if (next_record(r, 0, false, err) < 0)
		return -1;
	finish_record(r);
	return 1;
}

/* Reads skip_rows records and the header, or learns the column count. */
static int rd_start(struct csv_reader *r, struct rowd_error *err)
{
	int rc;

	if (drop_bom(r->in, err) < 0)
		return -1;
	for (uint64_t i = 0; i < r->skip_rows; i++) {
		rc = skip_record(r, err);
		if (rc <= 0) {
			r->done = rc == 0;
			return rc;
		}
	}
	if (r->header) {
		rc = next_record(r, r->fields_cap, true, err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			r->done = true;
			return r->fieldnames ? columns_from_fieldnames(r, err) : 0;
		}
		if (r->s.hi && !proto_utf8_valid(input_ptr(r->in), r->s.len)) {
			rowd_error_set(err, ROWD_EFORMAT, "line %llu: invalid UTF-8 in the header",
			               (unsigned long long)r->line);
			err->line = (int64_t)r->line;
			return -1;
		}
		if (r->fieldnames && r->fieldnames->via.array.size != r->s.nf) {
			return rowd_error_set(err, ROWD_EINVAL,
			                      "option 'fieldnames' has %u names, the header has %zu fields "
			                      "(to replace the header, give header: false, skip_rows: 1)",
			                      r->fieldnames->via.array.size, r->s.nf);
		}
		r->from_header = !r->fieldnames;
		rc = r->fieldnames ? columns_from_fieldnames(r, err) : columns_from_header(r, err);
		if (rc == 0)
			finish_record(r);
		return rc;
	}
	if (r->fieldnames)
		return columns_from_fieldnames(r, err);
	/* Peek at the first record for its field count; rd_next reads it again. */
	rc = next_record(r, r->fields_cap, true, err);
	if (rc <= 0) {
		r->done = rc == 0;
		return rc;
	}
	return columns_numbered(r, r->s.nf, err);
}

static void csv_rd_close(void *state)
{
	struct csv_reader *r = state;

	if (!r)
		return;
	mpbuf_free(&r->keys);
	free(r->key_off);
	free(r->src);
	free(r->fields);
	free(r);
}

static int csv_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct csv_reader *r = calloc(1, sizeof *r);

	*state = NULL;
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	r->in = a->in;
	r->limits = a->limits;
	r->line = 1;
	mpbuf_init(&r->keys);
	if (rd_options(r, a, err) < 0 || rd_start(r, err) < 0) {
		csv_rd_close(r);
		return -1;
	}
	r->fieldnames = NULL;
	*state = r;
	return 0;
}

/* True when nothing but blank lines is left in the window and the data
 * has ended: lets the last batch say so. */
static bool at_end(struct csv_reader *r)
{
	struct input *in = r->in;

	while (input_avail(in)) {
		char c = *input_ptr(in);

		if (c != '\n' && c != '\r')
			return false;
		if (!(r->after_cr && c == '\n'))
			r->line++;
		r->after_cr = c == '\r';
		input_consume(in, 1);
	}
	return in->eof;
}

static int csv_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                       uint64_t *skipped, struct rowd_error *err)
{
	struct csv_reader *r = state;

	*nrows = 0;
	if (r->failed) {
		*err = r->fail;
		return -1;
	}
	if (r->done)
		return 1;
	while (*nrows < max) {
		int rc = next_record(r, r->nfields, false, err);

		if (rc == 0) {
			r->done = true;
			return 1;
		}
		r->row++;
		if (rc < 0)
			goto fail;
		if (check_record(r, err) < 0) {
			if (r->skip_bad) {
				(*skipped)++;
				finish_record(r);
				continue;
			}
			goto fail;
		}
		if (pack_row(r, out, err) < 0)
			goto fail;
		finish_record(r);
		(*nrows)++;
	}
	if (at_end(r)) {
		r->done = true;
		return 1;
	}
	return 0;
fail:
	/* Bad input and oversized records name the line the record starts
	 * on and its data row number; I/O and codec errors keep their own. */
	if (err->code == ROWD_EFORMAT || err->code == ROWD_ELIMIT) {
		err->line = (int64_t)r->line;
		err->row = (int64_t)r->row;
	}
	r->failed = true;
	r->fail = *err;
	return -1;
}

static int csv_rd_columns(void *state, struct mpbuf *out)
{
	struct csv_reader *r = state;

	if (!r->have_cols || mpbuf_reserve(out, 5 + r->keys.len) < 0)
		return 0;
	mp_put_array_hdr(out, r->nemit);
	memcpy(out->data + out->len, r->keys.data, r->keys.len);
	out->len += r->keys.len;
	return 1;
}

/* Content detection: the same non-zero count of delimiters (outside
 * quotes) on every complete line of the head. */
static int probe_delim(const char *head, size_t n, char delim)
{
	size_t lines = 0, first = 0, count = 0, i = 0;
	bool inq = false, same = true;

	while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
		i++;
	if (i < n && (head[i] == '{' || head[i] == '['))
		return 0;                  /* JSON's, even with commas */
	for (; i < n && lines < 20; i++) {
		char c = head[i];

		if (c == 0)
			return 0;              /* binary */
		if (c == '"')
			inq = !inq;
		else if (c == delim && !inq)
			count++;
		else if (c == '\n' && !inq) {
			if (lines++ == 0)
				first = count;
			else if (count != first)
				same = false;
			count = 0;
		}
	}
	if (lines == 0)
		return count > 0 ? 20 : 0;
	if (first == 0)
		return 0;
	if (!same)
		return 10;
	return lines >= 2 ? 60 : 30;
}

static int csv_probe(const char *head, size_t n) { return probe_delim(head, n, ','); }

/* detect: the delimiter and whether the first line is a header. */
static int csv_describe(const struct format_ops *f, const char *head, size_t n,
                        struct mpbuf *b, uint32_t *count)
{
	char d = strcmp(f->name, "csv") == 0 ? csv_sniff_delimiter(head, n) : 0;
	int hdr;

	if (!d)
		d = default_delim(f);
	hdr = csv_sniff_header(head, n, d);
	if (mpbuf_cstr(b, "delimiter") < 0 || mpbuf_str(b, &d, 1) < 0 ||
	    mpbuf_cstr(b, "header") < 0 || (hdr < 0 ? mpbuf_nil(b) : mpbuf_bool(b, hdr == 1)) < 0)
		return -1;
	*count += 2;
	return 0;
}
static int tsv_probe(const char *head, size_t n) { return probe_delim(head, n, '\t'); }
static int psv_probe(const char *head, size_t n) { return probe_delim(head, n, '|'); }

/* ---- writer ------------------------------------------------------------ */

struct csv_writer {
	struct output *out;
	char delim, quote;
	bool header, crlf, bom;
	bool started;              /* header (or BOM) written */
	bool have_cols;
	uint32_t ncols;
	char *names;               /* the column names, back to back */
	size_t *name_off;          /* ncols + 1 offsets into names */
	const msgpack_object **vals;   /* the current row, by column */
	uint64_t row;
	unsigned char special[256];    /* bytes that force quoting */
	struct mpbuf scratch;          /* JSON text of nested values */
};

static const char *const wr_known[] = {
	"delimiter", "quotechar", "header", "fieldnames", "encoding", "crlf",
	"skip_rows", "types", "on_error", NULL
};

/* Appends one field, quoted when it must be. */
static int put_field(struct csv_writer *w, const char *p, size_t n, struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;
	bool quote = n == 0 && w->ncols == 1;    /* else the line reads back blank */
	char *d;

	for (size_t i = 0; i < n && !quote; i++)
		quote = w->special[(unsigned char)p[i]];
	if (!quote)
		return mpbuf_append(b, p, n) < 0 ?
		       rowd_error_set(err, ROWD_ENOMEM, "out of memory") : 0;
	if (n > (SIZE_MAX - 2) / 2 || mpbuf_reserve(b, 2 * n + 2) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	d = b->data + b->len;
	*d++ = w->quote;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == w->quote)
			*d++ = w->quote;
		*d++ = p[i];
	}
	*d++ = w->quote;
	b->len = (size_t)(d - b->data);
	return 0;
}

static int put_sep(struct csv_writer *w, bool last, struct rowd_error *err)
{
	const char *s = last ? (w->crlf ? "\r\n" : "\n") : &w->delim;
	size_t n = last ? (w->crlf ? 2 : 1) : 1;

	return mpbuf_append(&w->out->buf, s, n) < 0 ?
	       rowd_error_set(err, ROWD_ENOMEM, "out of memory") : 0;
}

/* Shortest text that reads back as the same double (as Python's repr),
 * with ".0" kept on whole numbers so that they stay floats. */
static size_t format_double(char *buf, size_t cap, double v, bool single)
{
	int lo = single ? 6 : 15, hi = single ? 9 : 17;
	size_t n = 0;

	if (isnan(v))
		return (size_t)snprintf(buf, cap, "nan");
	if (isinf(v))
		return (size_t)snprintf(buf, cap, v < 0 ? "-inf" : "inf");
	for (int prec = lo; prec <= hi; prec++) {
		n = (size_t)snprintf(buf, cap, "%.*g", prec, v);
		if (single ? (float)strtod(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".e") && n + 2 < cap) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}

/* Appends one value as field text. */
static int put_value(struct csv_writer *w, const msgpack_object *v, struct rowd_error *err)
{
	char num[40];
	size_t n;

	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		return put_field(w, "", 0, err);
	case MSGPACK_OBJECT_BOOLEAN:
		return v->via.boolean ? put_field(w, "true", 4, err) : put_field(w, "false", 5, err);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		n = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->via.u64);
		return put_field(w, num, n, err);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->via.i64);
		return put_field(w, num, n, err);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		n = format_double(num, sizeof num, v->via.f64, v->type == MSGPACK_OBJECT_FLOAT32);
		return put_field(w, num, n, err);
	case MSGPACK_OBJECT_STR:
		return put_field(w, v->via.str.ptr, v->via.str.size, err);
	case MSGPACK_OBJECT_BIN:
		return put_field(w, v->via.bin.ptr, v->via.bin.size, err);
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		w->scratch.len = 0;
		if (proto_object_to_json(v, &w->scratch) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		n = w->scratch.len;
		while (n && w->scratch.data[n - 1] == '\n')
			n--;
		return put_field(w, w->scratch.data, n, err);
	default:
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: msgpack ext values cannot be written as CSV",
		                      (unsigned long long)w->row);
	}
}

/* Column names are copied: the options object may not outlive wr_open. */
static int set_names(struct csv_writer *w, const msgpack_object *const *strs, uint32_t n,
                     struct rowd_error *err)
{
	size_t total = 0, at = 0;

	for (uint32_t i = 0; i < n; i++)
		if (!proto_utf8_valid(strs[i]->via.str.ptr, strs[i]->via.str.size))
			return rowd_error_set(err, ROWD_EINVAL, "column name %u is not UTF-8 text", i + 1);
	for (uint32_t i = 0; i < n; i++)
		total += strs[i]->via.str.size;
	w->names = malloc(total ? total : 1);
	w->name_off = malloc((n + 1) * sizeof *w->name_off);
	w->vals = calloc(n ? n : 1, sizeof *w->vals);
	if (!w->names || !w->name_off || !w->vals)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for CSV columns");
	for (uint32_t i = 0; i < n; i++) {
		w->name_off[i] = at;
		if (strs[i]->via.str.size)      /* else the pointer may be NULL */
			memcpy(w->names + at, strs[i]->via.str.ptr, strs[i]->via.str.size);
		at += strs[i]->via.str.size;
	}
	w->name_off[n] = at;
	w->ncols = n;
	w->have_cols = true;
	return 0;
}

/* Column index of key k, or -1. Rows usually list their keys in column
 * order, so position hint is tried first. */
static int64_t column_of(const struct csv_writer *w, const msgpack_object *k, uint32_t hint)
{
	size_t n = k->via.str.size;

	/* n == 0: msgpack-c's empty str has a NULL pointer, not for memcmp. */
	if (hint < w->ncols && w->name_off[hint + 1] - w->name_off[hint] == n &&
	    (n == 0 || memcmp(w->names + w->name_off[hint], k->via.str.ptr, n) == 0))
		return hint;
	for (uint32_t i = 0; i < w->ncols; i++)
		if (w->name_off[i + 1] - w->name_off[i] == n &&
		    (n == 0 || memcmp(w->names + w->name_off[i], k->via.str.ptr, n) == 0))
			return i;
	return -1;
}

static int unknown_key(const struct csv_writer *w, const msgpack_object *k, struct rowd_error *err)
{
	char cols[160];
	size_t at = 0;

	cols[0] = 0;
	for (uint32_t i = 0; i < w->ncols && at < sizeof cols; i++) {
		int m = snprintf(cols + at, sizeof cols - at, "%s%.*s", i ? ", " : "",
		                 (int)(w->name_off[i + 1] - w->name_off[i]), w->names + w->name_off[i]);

		at += m > 0 ? (size_t)m : 0;
	}
	if (at >= sizeof cols)
		memcpy(cols + sizeof cols - 4, "...", 4);
	return rowd_error_set(err, ROWD_EINVAL, "row %llu: key '%.*s' is not a column (columns: %s)",
	                      (unsigned long long)w->row,
	                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr,
	                      cols);
}

/* Columns from the first row's keys, in order, each name once. */
static int names_from_row(struct csv_writer *w, const msgpack_object *row, struct rowd_error *err)
{
	const msgpack_object_map *m = &row->via.map;
	const msgpack_object **keys = malloc((m->size ? m->size : 1) * sizeof *keys);
	uint32_t n = 0;
	int rc;

	if (!keys)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		bool dup = false;

		if (k->type != MSGPACK_OBJECT_STR) {
			free(keys);
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
			                      (unsigned long long)w->row);
		}
		for (uint32_t j = 0; j < n && !dup; j++)
			dup = keys[j]->via.str.size == k->via.str.size &&
			      (k->via.str.size == 0 ||
			       memcmp(keys[j]->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0);
		if (!dup)
			keys[n++] = k;
	}
	if (n == 0) {
		free(keys);
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: an empty row gives no columns; pass options.fieldnames",
		                      (unsigned long long)w->row);
	}
	rc = set_names(w, keys, n, err);
	free(keys);
	return rc;
}

/* The BOM and the header line, once, before the first row. */
static int wr_start(struct csv_writer *w, struct rowd_error *err)
{
	w->started = true;
	if (w->bom && mpbuf_append(&w->out->buf, "\xef\xbb\xbf", 3) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	if (!w->header)
		return 0;
	for (uint32_t i = 0; i < w->ncols; i++)
		if (put_field(w, w->names + w->name_off[i], w->name_off[i + 1] - w->name_off[i], err) < 0 ||
		    put_sep(w, i + 1 == w->ncols, err) < 0)
			return -1;
	return 0;
}

static void csv_wr_close(void *state)
{
	struct csv_writer *w = state;

	if (!w)
		return;
	free(w->names);
	free(w->name_off);
	free(w->vals);
	mpbuf_free(&w->scratch);
	free(w);
}

static int wr_options(struct csv_writer *w, const struct fmt_args *a, struct rowd_error *err)
{
	const msgpack_object *o = a->options, *fn = NULL;
	const char *const *reading = (const char *const[]){ "skip_rows", "types", "on_error", NULL };
	char what[32];

	snprintf(what, sizeof what, "format %s", a->fmt->name);
	if (opts_check_known(o, wr_known, what, err) < 0)
		return -1;
	for (; *reading; reading++)
		if (opts_get(o, *reading))
			return rowd_error_set(err, ROWD_EINVAL, "option '%s' applies to reading only",
			                      *reading);
	w->delim = default_delim(a->fmt);
	w->quote = '"';
	w->header = true;
	if (opt_common(o, &w->delim, &w->quote, &w->bom, err) < 0 ||
	    opts_bool(o, "header", &w->header, err) < 0 ||
	    opts_bool(o, "crlf", &w->crlf, err) < 0 ||
	    opts_str_array(o, "fieldnames", &fn, err) < 0)
		return -1;
	if (fn) {
		const msgpack_object_array *arr = &fn->via.array;
		const msgpack_object **strs;
		int rc;

		if (arr->size == 0)
			return rowd_error_set(err, ROWD_EINVAL, "option 'fieldnames' must not be empty");
		strs = malloc(arr->size * sizeof *strs);
		if (!strs)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		for (uint32_t i = 0; i < arr->size; i++)
			strs[i] = &arr->ptr[i];
		rc = set_names(w, strs, arr->size, err);
		free(strs);
		if (rc < 0)
			return -1;
		for (uint32_t i = 0; i < w->ncols; i++) {
			const msgpack_object *k = &arr->ptr[i];

			/* Without a hint the first column of that name is found. */
			if (column_of(w, k, UINT32_MAX) != (int64_t)i)
				return rowd_error_set(err, ROWD_EINVAL,
				                      "option 'fieldnames' names '%.*s' twice",
				                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
				                      k->via.str.ptr);
		}
	}
	w->special[(unsigned char)w->delim] = 1;
	w->special[(unsigned char)w->quote] = 1;
	w->special['\n'] = 1;
	w->special['\r'] = 1;
	return 0;
}

static int csv_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct csv_writer *w = calloc(1, sizeof *w);

	*state = NULL;
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	w->out = a->out;
	mpbuf_init(&w->scratch);
	if (wr_options(w, a, err) < 0) {
		csv_wr_close(w);
		return -1;
	}
	*state = w;
	return 0;
}

/* Values with no CSV text: a row holding one is refused before any of it
 * goes out (a client may go on writing after the refusal). */
static int check_value(const struct csv_writer *w, const msgpack_object *k,
                       const msgpack_object *v, struct rowd_error *err)
{
	const char *why = NULL;

	if (v->type == MSGPACK_OBJECT_EXT)
		why = "a msgpack ext value, which has no CSV form";
	else if ((v->type == MSGPACK_OBJECT_STR || v->type == MSGPACK_OBJECT_BIN) &&
	         !proto_utf8_valid(v->via.str.ptr, v->via.str.size))
		why = "not UTF-8 text";
	if (!why)
		return 0;
	return rowd_error_set(err, ROWD_EINVAL, "row %llu: the value of '%.*s' is %s",
	                      (unsigned long long)w->row,
	                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr, why);
}

static int csv_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct csv_writer *w = state;
	const msgpack_object_map *m;
	size_t start;

	w->row++;
	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a row must be a map",
		                      (unsigned long long)w->row);
	m = &row->via.map;
	if (!w->have_cols && names_from_row(w, row, err) < 0)
		return -1;
	for (uint32_t i = 0; i < w->ncols; i++)
		w->vals[i] = NULL;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		int64_t c;

		if (k->type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
			                      (unsigned long long)w->row);
		c = column_of(w, k, i);
		if (c < 0)
			return unknown_key(w, k, err);
		if (check_value(w, k, &m->ptr[i].val, err) < 0)
			return -1;
		w->vals[c] = &m->ptr[i].val;
	}
	/* The row is checked: only now may bytes go out. */
	if (!w->started && wr_start(w, err) < 0)
		return -1;
	start = w->out->buf.len;
	for (uint32_t i = 0; i < w->ncols; i++) {
		static const msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };

		if (put_value(w, w->vals[i] ? w->vals[i] : &nil, err) < 0 ||
		    put_sep(w, i + 1 == w->ncols, err) < 0) {
			w->out->buf.len = start;        /* no half row */
			return -1;
		}
	}
	return output_flush_if_full(w->out, err);
}

static int csv_wr_finish(void *state, struct rowd_error *err)
{
	struct csv_writer *w = state;

	if (!w->started && w->have_cols)
		return wr_start(w, err);
	return 0;
}

/* ---- the three formats ------------------------------------------------- */

#define CSV_OPS(NAME, PROBE, ...) {                                        \
	.name = NAME,                                                      \
	.extensions = (const char *const[]){ __VA_ARGS__, NULL },          \
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_STREAM, \
	.probe = PROBE,                                                    \
	.describe = csv_describe,                                          \
	.rd_open = csv_rd_open,                                            \
	.rd_next = csv_rd_next,                                            \
	.rd_columns = csv_rd_columns,                                      \
	.rd_close = csv_rd_close,                                          \
	.wr_open = csv_wr_open,                                            \
	.wr_row = csv_wr_row,                                              \
	.wr_finish = csv_wr_finish,                                        \
	.wr_close = csv_wr_close,                                          \
}

const struct format_ops format_csv = CSV_OPS("csv", csv_probe, "csv");
const struct format_ops format_tsv = CSV_OPS("tsv", tsv_probe, "tsv", "tab");
const struct format_ops format_psv = CSV_OPS("psv", psv_probe, "psv");
